"""What DICOMweb puts on the wire, without any I/O to a server.

* QIDO-RS: the query string of a study search and the DICOM JSON answers turned into
  :class:`~interval.net.model.StudyHit` / :class:`~interval.net.model.SeriesHit`;
* WADO-RS: the one part of a ``multipart/related`` answer streamed into a file, and the
  Part-10 file meta added when a server sends a bare data set;
* STOW-RS: the ``multipart/related`` request body and the store answer
  (``ReferencedSOPSequence`` / ``FailedSOPSequence``) in words.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from pydicom.datadict import tag_for_keyword

from interval.net.model import SeriesHit, StudyHit, StudyQuery

PREAMBLE_LEN = 128
DICM = b"DICM"

STUDY_FIELDS = (
    "StudyInstanceUID", "PatientID", "PatientName", "PatientBirthDate", "StudyDate",
    "StudyTime", "StudyDescription", "AccessionNumber", "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
)
SERIES_FIELDS = (
    "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
    "NumberOfSeriesRelatedInstances",
)


def _key(keyword: str) -> str:
    """The DICOM JSON key of a keyword (``"0020000D"``)."""
    return f"{tag_for_keyword(keyword):08X}"


# -- QIDO-RS -------------------------------------------------------------------------


def study_query_string(query: StudyQuery) -> str:
    """The query string (without ``?``) of a QIDO-RS study search.

    ``*`` and ``?`` travel unescaped: Orthanc 1.10 (DICOMweb plugin 1.7) matches
    ``PatientName=DOE*`` but takes ``%2A`` for a literal character, so encoding them
    (as ``dicomweb-client`` does with ``quote_plus``) silently finds nothing.  The
    same server never matches a person name holding ``^`` over QIDO (even exact), so
    the name pattern sent has ``*`` for each ``^`` and :func:`name_matches` keeps
    the exact pattern on this side.
    """
    params: list[tuple[str, str]] = []
    if query.patient_id:
        params.append(("PatientID", query.patient_id))
    if query.patient_name:
        params.append(("PatientName", server_name_pattern(query.patient_name)))
    date_range = dicom_date_range(query)
    if date_range:
        params.append(("StudyDate", date_range))
    if query.modality:
        params.append(("ModalitiesInStudy", query.modality.strip().upper()))
    if query.accession_number:
        params.append(("AccessionNumber", query.accession_number))
    if query.study_uid:
        params.append(("StudyInstanceUID", query.study_uid))
    params.append(("fuzzymatching", "false"))
    if query.limit > 0:
        params.append(("limit", str(int(query.limit))))
    params.extend(("includefield", name) for name in STUDY_FIELDS)
    return "&".join(f"{k}={quote(v, safe='*?')}" for k, v in params)


def dicom_date_range(query: StudyQuery) -> str:
    """``YYYYMMDD-YYYYMMDD`` (either end may be open), one date, or ``""``."""
    lo = query.date_from.strftime("%Y%m%d") if query.date_from else ""
    hi = query.date_to.strftime("%Y%m%d") if query.date_to else ""
    if not lo and not hi:
        return ""
    if lo == hi:
        return lo
    return f"{lo}-{hi}"


def server_name_pattern(pattern: str) -> str:
    """The person-name pattern sent to the server: ``^`` widened to ``*``."""
    sent = pattern.strip().replace("^", "*")
    return re.sub(r"\*+", "*", sent)


def name_matches(pattern: str, name: str) -> bool:
    """DICOM wildcard match (``*``, ``?``), case-insensitive, trailing ``^`` ignored."""
    pattern = pattern.strip().rstrip("^")
    name = name.strip().rstrip("^")
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, flags=re.IGNORECASE | re.DOTALL) is not None


def _values(item: Mapping[str, Any], keyword: str) -> list[Any]:
    element = item.get(_key(keyword))
    if not isinstance(element, Mapping):
        return []
    values = element.get("Value")
    return list(values) if isinstance(values, list) else []


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):  # a PersonName: its Alphabetic group
        return str(value.get("Alphabetic", "") or "")
    return str(value).strip()


def text(item: Mapping[str, Any], keyword: str) -> str:
    """The first value of ``keyword`` as text; ``""`` when absent or empty."""
    values = _values(item, keyword)
    return _text(values[0]) if values else ""


def texts(item: Mapping[str, Any], keyword: str) -> tuple[str, ...]:
    """Every value of a multi-valued element (``ModalitiesInStudy``)."""
    out = []
    for value in _values(item, keyword):
        # Some servers send "CT\\PT" as one string instead of two values.
        out.extend(part.strip() for part in _text(value).split("\\") if part.strip())
    return tuple(out)


def integer(item: Mapping[str, Any], keyword: str) -> int | None:
    """The first value as an integer (IS comes as a number or a string); None if not one."""
    values = _values(item, keyword)
    if not values:
        return None
    try:
        return int(float(str(values[0]).strip()))
    except (TypeError, ValueError):
        return None


def dataset_list(payload: Any) -> list[Mapping[str, Any]] | None:
    """The data sets of a QIDO answer, or None when it is no DICOM JSON array."""
    if isinstance(payload, Mapping):  # some servers send a lone data set
        payload = [payload]
    if not isinstance(payload, list) or not all(isinstance(i, Mapping) for i in payload):
        return None
    return payload


def study_hit(item: Mapping[str, Any]) -> StudyHit | None:
    """A study of a QIDO answer; None when it has no Study Instance UID."""
    uid = text(item, "StudyInstanceUID")
    if not uid:
        return None
    return StudyHit(
        study_uid=uid,
        patient_id=text(item, "PatientID"),
        patient_name=text(item, "PatientName"),
        birth_date=text(item, "PatientBirthDate"),
        study_date=text(item, "StudyDate"),
        study_time=text(item, "StudyTime"),
        description=text(item, "StudyDescription"),
        accession_number=text(item, "AccessionNumber"),
        modalities=texts(item, "ModalitiesInStudy"),
        n_series=integer(item, "NumberOfStudyRelatedSeries"),
        n_instances=integer(item, "NumberOfStudyRelatedInstances"),
    )


def keep_study(hit: StudyHit, query: StudyQuery) -> bool:
    """What this side checks again after the server matched.

    The modality: a server may ignore ``ModalitiesInStudy`` (Orthanc 1.10 honours it,
    others do not), so a study listing its modalities without the one asked for is
    dropped; one listing none is kept (nothing to judge by).  The name: only when
    :func:`server_name_pattern` widened it.
    """
    modality = query.modality.strip().upper()
    if modality and hit.modalities and modality not in {m.upper() for m in hit.modalities}:
        return False
    pattern = query.patient_name
    if pattern and server_name_pattern(pattern) != pattern.strip():
        return name_matches(pattern, hit.patient_name)
    return True


def series_hit(study_uid: str, item: Mapping[str, Any]) -> SeriesHit | None:
    """A series of a QIDO answer; None when it has no Series Instance UID."""
    uid = text(item, "SeriesInstanceUID")
    if not uid:
        return None
    return SeriesHit(
        study_uid=study_uid,
        series_uid=uid,
        modality=text(item, "Modality"),
        number=integer(item, "SeriesNumber"),
        description=text(item, "SeriesDescription"),
        n_instances=integer(item, "NumberOfSeriesRelatedInstances"),
    )


def series_order(hit: SeriesHit) -> tuple:
    """Sort key: by series number (series without one last), then UID."""
    return (hit.number is None, hit.number or 0, hit.series_uid)


def instance_uids(items: Iterable[Mapping[str, Any]]) -> list[str]:
    """SOP Instance UIDs of a QIDO instance answer, by instance number, each once."""
    found: dict[str, int | None] = {}
    for item in items:
        uid = text(item, "SOPInstanceUID")
        if uid and uid not in found:
            found[uid] = integer(item, "InstanceNumber")
    return sorted(found, key=lambda u: (found[u] is None, found[u] or 0, u))


# -- media type parameters -------------------------------------------------------------


def media_type_params(content_type: str) -> tuple[str, dict[str, str]]:
    """``("multipart/related", {"boundary": ..., "type": ...})`` from a Content-Type."""
    media, *rest = [p.strip() for p in content_type.split(";")]
    params = {}
    for item in rest:
        name, _, value = item.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return media.lower(), params


def part_header(headers_text: str, name: str) -> str:
    """One header of a multipart part (``""`` when absent)."""
    for line in headers_text.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            return value.strip()
    return ""


# -- WADO-RS: one part streamed into a file ---------------------------------------------------


class Truncated(Exception):  # noqa: N818 (an internal signal, turned into TransferInterrupted)
    """The answer ended before its last boundary (the connection was cut)."""


_MAX_HEADER_BYTES = 64 * 1024


def write_first_part(chunks: Iterator[bytes], boundary: str, out: BinaryIO) -> str:
    """Stream the body of the first part of a multipart answer into ``out``.

    Holds at most one chunk in memory.  Returns the part's headers as text.  Raises
    :class:`Truncated` when the answer stops before the boundary that closes the part,
    or when the part says its Content-Length and the body is shorter or longer.
    """
    opening = b"--" + boundary.encode("latin-1")
    delimiter = b"\r\n" + opening
    buf = bytearray()
    while True:  # the opening boundary and the part headers
        start = buf.find(opening)
        end = buf.find(b"\r\n\r\n", start) if start >= 0 else -1
        if end >= 0:
            break
        if len(buf) > _MAX_HEADER_BYTES:
            raise ValueError("no multipart part header")
        chunk = next(chunks, None)
        if chunk is None:
            raise Truncated()
        buf += chunk
    headers = bytes(buf[start + len(opening):end]).decode("latin-1")
    del buf[:end + 4]
    written = 0
    keep = len(delimiter) - 1  # a delimiter may straddle two chunks
    while True:
        at = buf.find(delimiter)
        if at >= 0:
            out.write(buf[:at])
            written += at
            break
        if len(buf) > keep:
            out.write(buf[:len(buf) - keep])
            written += len(buf) - keep
            del buf[:len(buf) - keep]
        chunk = next(chunks, None)
        if chunk is None:
            raise Truncated()
        buf += chunk
    declared = part_header(headers, "Content-Length")
    if declared.isdigit() and int(declared) != written:
        raise Truncated()
    return headers


def has_file_meta(path: Path) -> bool:
    """Whether ``path`` starts like a Part-10 file (128-byte preamble + ``DICM``)."""
    with open(path, "rb") as f:
        head = f.read(PREAMBLE_LEN + 4)
    return len(head) == PREAMBLE_LEN + 4 and head[PREAMBLE_LEN:] == DICM


def add_file_meta(src: Path, dst: Path, transfer_syntax: str = "") -> None:
    """Write ``src`` (a data set sent without Part-10 header) as a Part-10 file ``dst``.

    A bare data set keeps its bytes: preamble, ``DICM`` and the file meta go in front.
    ``transfer_syntax`` is the one the server named; without it pydicom's guess
    (implicit or explicit VR, little or big endian) is used.  A data set that starts
    with a file meta group but no preamble is rewritten by pydicom.
    """
    import pydicom
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import UID

    ds = pydicom.dcmread(src, force=True)
    if "TransferSyntaxUID" in ds.file_meta:
        pydicom.dcmwrite(dst, ds, enforce_file_format=True)
        return
    if not transfer_syntax:
        implicit, little = ds.original_encoding
        transfer_syntax = ("1.2.840.10008.1.2" if implicit else
                           "1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
    meta = pydicom.dataset.FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "")
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "")
    meta.TransferSyntaxUID = UID(transfer_syntax)
    header = DicomBytesIO()
    write_file_meta_info(header, meta, enforce_standard=True)
    with open(dst, "wb") as out, open(src, "rb") as body:
        out.write(b"\0" * PREAMBLE_LEN + DICM + header.getvalue())
        while block := body.read(1 << 20):
            out.write(block)


# -- STOW-RS -------------------------------------------------------------------------


def multipart_body(parts: list[bytes]) -> tuple[bytes, str]:
    """A ``multipart/related; type="application/dicom"`` body and its Content-Type."""
    boundary = uuid.uuid4().hex
    while any(boundary.encode() in p for p in parts):
        boundary = uuid.uuid4().hex
    chunks = []
    for part in parts:
        chunks += [f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(),
                   part, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f'multipart/related; type="application/dicom"; boundary={boundary}'


_FAILURE_WORDS = {
    0x0110: "the server failed to process it",
    0x0122: "the server does not accept this kind of object (SOP class)",
    0x0124: "not allowed for this account",
    0xC122: "the server does not accept its transfer syntax (compression)",
}


def failure_words(code: int | None) -> str:
    """A STOW-RS Failure Reason (PS3.18 table 10.5.3-1) in words."""
    if code is None:
        return "no reason given"
    if code in _FAILURE_WORDS:
        return _FAILURE_WORDS[code]
    if 0xA700 <= code <= 0xA7FF:
        return "the server is out of resources (disk full?)"
    if 0xA900 <= code <= 0xA9FF:
        return "the data set does not match its SOP class"
    if 0xC000 <= code <= 0xCFFF:
        return "the server cannot understand the file"
    return f"failure status 0x{code:04X}"


@dataclass
class StoreAnswer:
    """What a STOW-RS answer says: how many stored, and why the others were not."""

    accepted: int | None = None  # None: the answer did not list them
    reasons: list[str] = field(default_factory=list)  # one per refused instance listed


def store_answer(payload: Any) -> StoreAnswer:
    """Read ``ReferencedSOPSequence`` and ``FailedSOPSequence`` of a STOW-RS answer."""
    items = dataset_list(payload) or []
    answer = StoreAnswer()
    for item in items:
        refs = _values(item, "ReferencedSOPSequence")
        if _key("ReferencedSOPSequence") in item:
            answer.accepted = (answer.accepted or 0) + len(refs)
        for failed in _values(item, "FailedSOPSequence"):
            code = integer(failed, "FailureReason") if isinstance(failed, Mapping) else None
            answer.reasons.append(failure_words(code))
    return answer
