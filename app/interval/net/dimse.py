"""The DIMSE backend: C-ECHO, C-FIND, C-GET / C-MOVE and C-STORE with pynetdicom.

:class:`DimseClient` implements :class:`~interval.net.model.PacsClient`.  Every call
opens its own association (calling AE ``profile.calling_ae``, called AE
``profile.called_ae``, time limits ``profile.timeout_s``) and ends it before returning,
so no pynetdicom thread or listening socket outlives a call; :meth:`close` has nothing
to release.  A ``basic`` profile sends its user name and password (a ``token`` profile
its token) by user identity negotiation.  A ``tls`` profile talks over TLS (not the
C-MOVE storage service, which the PACS reaches in plain TCP; see :mod:`dimse_connection`).

The pieces: :mod:`dimse_connection` (associations and their failures),
:mod:`dimse_query` (identifiers and hits), :mod:`dimse_find`, :mod:`dimse_retrieve`,
:mod:`dimse_move_service` (the C-MOVE storage service and time limit),
:mod:`dimse_storage` (writing received instances), :mod:`dimse_send` (C-STORE SCU),
:mod:`dimse_errors` (sentences) and :mod:`dimse_log` (pynetdicom's logging).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from pynetdicom.sop_class import Verification

from interval.core.jobs import CancelFn, ProgressFn
from interval.net import dimse_errors as err
from interval.net.dimse_connection import association, check_profile, identity_items, new_ae
from interval.net.dimse_find import FIND_MODEL, run_find
from interval.net.dimse_log import quiet_pynetdicom_logging
from interval.net.dimse_query import (
    series_hit,
    series_identifier,
    series_order,
    study_hit,
    study_identifier,
)
from interval.net.dimse_retrieve import retrieve_series
from interval.net.dimse_send import store_files
from interval.net.model import (
    RetrieveResult,
    SeriesHit,
    ServerProfile,
    StudyHit,
    StudyQuery,
)
from interval.net.tls import check_tls_files, warn_if_unverified


class DimseClient:
    """A PACS reached by DIMSE (see the module docstring)."""

    def __init__(self, profile: ServerProfile, secret: str | None = None) -> None:
        check_profile(profile)
        if profile.tls:
            check_tls_files(profile)
        warn_if_unverified(profile)
        quiet_pynetdicom_logging()
        self.profile = profile
        self._secret = secret

    def __repr__(self) -> str:
        return f"DimseClient({self.profile.name!r}, {self.profile.address()!r})"

    def _identity(self) -> list:
        return identity_items(self.profile, self._secret)

    def echo(self) -> None:
        """C-ECHO: raise unless the PACS answers with success."""
        ae = new_ae(self.profile)
        ae.add_requested_context(Verification)
        during = "the connection test (C-ECHO)"
        with association(ae, self.profile, during, self._identity()) as assoc:
            start = time.monotonic()
            status = assoc.send_c_echo()
            if "Status" not in status:
                raise err.no_answer(self.profile, time.monotonic() - start, during)
            if int(status.Status) != 0:
                raise err.refused(self.profile, during, int(status.Status), "echo")

    def _find(self, identifier, during: str, limit: int = 0) -> list:
        ae = new_ae(self.profile)
        ae.add_requested_context(FIND_MODEL)
        with association(ae, self.profile, "study search (C-FIND)",
                         self._identity()) as assoc:
            return run_find(assoc, self.profile, identifier, during, limit)

    def find_studies(self, query: StudyQuery) -> list[StudyHit]:
        """Studies matching ``query`` (STUDY level, at most ``query.limit``)."""
        matches = self._find(study_identifier(query), "the study search",
                             max(0, query.limit))
        hits = [study_hit(ds) for ds in matches]
        return [h for h in hits if h is not None]

    def find_series(self, study_uid: str) -> list[SeriesHit]:
        """The series of one study (SERIES level), by series number."""
        matches = self._find(series_identifier(study_uid), "the series search")
        hits = [series_hit(ds, study_uid) for ds in matches]
        return sorted((h for h in hits if h is not None), key=series_order)

    def retrieve_series(
        self,
        study_uid: str,
        series_uid: str,
        dest: Path,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> RetrieveResult:
        """C-GET or C-MOVE (``profile.retrieve``) every instance of a series into ``dest``."""
        return retrieve_series(self.profile, self._secret, study_uid, series_uid,
                               Path(dest), progress, cancel)

    def store(
        self,
        files: Sequence[Path],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> int:
        """C-STORE ``files``; how many the PACS accepted."""
        return store_files(self.profile, self._secret, files, progress, cancel)

    def close(self) -> None:
        """Nothing to do: every call ends its own association."""
