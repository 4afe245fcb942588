"""Server profiles, study queries, query results and the client protocol (no I/O here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal, Protocol

from interval.core.jobs import CancelFn, ProgressFn

Protocol_ = Literal["dicomweb", "dimse"]
AuthKind = Literal["none", "token", "basic"]
RetrieveKind = Literal["get", "move"]

DEFAULT_CALLING_AE = "INTERVAL"


@dataclass(frozen=True)
class ServerProfile:
    """How to reach one PACS.  Holds no secret: tokens and passwords live in the keyring.

    ``protocol`` "dicomweb": ``url`` is the DICOMweb root (e.g.
    ``http://pacs:8042/dicom-web``).  "dimse": ``host``, ``port`` and ``called_ae`` (the
    PACS's AE title); ``calling_ae`` is ours.  ``retrieve`` picks C-GET (no open port
    needed here) or C-MOVE to our own storage service on ``move_port`` under
    ``calling_ae`` (the PACS must know that AE title).

    Secure connections: DICOMweb uses TLS when ``url`` starts with https://; DIMSE when
    ``tls`` is set (C-MOVE's incoming connections stay plain).  ``ca_file`` is a PEM file
    of the CA certificates to trust instead of the system's (empty: the system's);
    ``verify_tls`` False skips checking the server's certificate (unsafe: warned at each
    use); ``client_cert`` is a PEM file holding this computer's certificate and its
    unencrypted key, for servers that ask for one (mutual TLS).
    """

    name: str
    protocol: Protocol_ = "dicomweb"
    url: str = ""
    host: str = ""
    port: int = 104
    called_ae: str = ""
    calling_ae: str = DEFAULT_CALLING_AE
    auth: AuthKind = "none"
    username: str = ""
    retrieve: RetrieveKind = "get"
    move_port: int = 0
    timeout_s: float = 30.0
    tls: bool = False
    ca_file: str = ""
    verify_tls: bool = True
    client_cert: str = ""

    def address(self) -> str:
        """Where the server is, for messages: the URL or ``AE@host:port``."""
        if self.protocol == "dicomweb":
            return self.url
        return f"{self.called_ae}@{self.host}:{self.port}"

    def uses_tls(self) -> bool:
        """Whether connections to the server are encrypted (https URL or DIMSE ``tls``)."""
        if self.protocol == "dicomweb":
            return self.url.strip().lower().startswith("https://")
        return bool(self.tls)


@dataclass(frozen=True)
class StudyQuery:
    """What to look for.  Empty fields match anything; names take ``*`` and ``?``."""

    patient_id: str = ""
    patient_name: str = ""
    date_from: date | None = None
    date_to: date | None = None
    modality: str = ""
    accession_number: str = ""
    study_uid: str = ""
    limit: int = 200


@dataclass(frozen=True)
class StudyHit:
    """One study the server found (header text shown as plain text only)."""

    study_uid: str
    patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""  # YYYYMMDD as sent, "" when absent
    study_date: str = ""  # YYYYMMDD
    study_time: str = ""
    description: str = ""
    accession_number: str = ""
    modalities: tuple[str, ...] = ()
    n_series: int | None = None
    n_instances: int | None = None


@dataclass(frozen=True)
class SeriesHit:
    """One series of a study."""

    study_uid: str
    series_uid: str
    modality: str = ""
    number: int | None = None
    description: str = ""
    n_instances: int | None = None


@dataclass
class RetrieveResult:
    """Files written by a retrieval (every one complete) and what the server said."""

    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class PacsClient(Protocol):
    """What every backend does.  Each call raises a :class:`~interval.net.errors.PacsError`
    (a sentence a clinician understands) on failure, :class:`~interval.core.errors.Cancelled`
    when ``cancel()`` said so; none leaves a partial file behind in ``dest``."""

    profile: ServerProfile

    def echo(self) -> None:
        """Check that the server answers (C-ECHO; for DICOMweb a minimal QIDO query)."""

    def find_studies(self, query: StudyQuery) -> list[StudyHit]:
        """Studies matching ``query`` (at most ``query.limit``)."""

    def find_series(self, study_uid: str) -> list[SeriesHit]:
        """The series of one study."""

    def retrieve_series(
        self,
        study_uid: str,
        series_uid: str,
        dest: Path,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> RetrieveResult:
        """Write every instance of the series as a DICOM Part-10 file into the existing
        folder ``dest`` (named by SOP Instance UID + ``.dcm``)."""

    def store(
        self,
        files: Sequence[Path],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> int:
        """Send DICOM files (STOW-RS / C-STORE); returns how many the server accepted."""

    def close(self) -> None:
        """Release connections."""
