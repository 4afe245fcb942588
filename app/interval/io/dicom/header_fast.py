"""A fast header reader for the common case, with the full parser as fallback.

:func:`read_header_fast` walks the data elements of a Part-10 file with
``struct`` (one open, one buffered read), keeps the raw bytes of only the
attributes that :func:`~interval.io.dicom.header.header_from_dataset` uses and
skips everything else, sequences included, without decoding it.  The kept
values are converted to what pydicom would give and handed to
``header_from_dataset``, so both paths build the header with the same code.

Implicit and explicit VR little endian, explicit big endian and every
encapsulated (compressed) syntax are read.  Whenever anything is unusual
(deflated syntax, no file meta, a VR that differs from the dictionary, a
sequence whose content the header needs such as enhanced multi-frame
functional groups or SEG/SR references, non-ASCII text in a character set it
does not decode, an odd value...) it returns ``None`` and the caller uses
:func:`~interval.io.dicom.header.read_header`.  The tests check that both
paths give equal headers on every test file we have, and that header.py asks
for no attribute this module does not keep: when ``header_from_dataset``
starts reading a new top-level attribute, add its keyword to
``_VALUE_KEYWORDS`` (or ``_SEQUENCE_KEYWORDS`` for a sequence).

It also tells non-DICOM files apart cheaply (README.txt, .nii, .json...) by
their first bytes, and notices headers cut short (an element running past the
end of the file), raising :class:`UnreadableFile` with a reason.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from interval.core.errors import NotAnImage, UnreadableFile
from interval.io.dicom.header import header_from_dataset, unreadable_from_os_error
from interval.io.dicom.records import DicomHeader
from interval.io.dicom.transfer_syntax import EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
DICOMDIR_REASON = "DICOMDIR: the table of contents of a DICOM disc or folder, not an image itself"
TRUNCATED_HEADER_REASON = "truncated: the file ends inside its header"

_CHUNK = 16384
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_DELIM = 0xFFFEE00D
_SEQ_DELIM = 0xFFFEE0DD
_PIXEL_TAGS = {0x7FE00010: False, 0x7FE00008: True, 0x7FE00009: True}  # tag -> is float
_MAX_DEPTH = 24

_LONG_VRS = frozenset(
    vr.encode() for vr in ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV")
)
_SHORT_VRS = frozenset(
    vr.encode()
    for vr in (
        "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT",
        "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US",
    )
)

# Attributes header_from_dataset reads at the top level of a dataset.
_VALUE_KEYWORDS = (
    "SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "Modality",
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientPosition",
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyDescription", "AccessionNumber",
    "SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "ProtocolName", "SeriesDate",
    "FrameOfReferenceUID", "BodyPartExamined", "Manufacturer", "InstanceNumber",
    "AcquisitionNumber", "Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored",
    "HighBit", "PixelRepresentation", "PhotometricInterpretation", "PlanarConfiguration",
    "NumberOfFrames", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
    "SliceThickness", "RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth",
    "EchoTime", "EchoNumbers", "TemporalPositionIdentifier", "TriggerTime", "AcquisitionTime",
    "DiffusionBValue", "DiffusionGradientOrientation", "DiffusionDirectionality",
    "ImageType", "StructureSetLabel",
    "ImagerPixelSpacing", "EstimatedRadiographicMagnificationFactor", "VOILUTFunction",
    "PresentationLUTShape",
)
# Sequences whose content header_from_dataset reads: their presence means "use pydicom".
_SEQUENCE_KEYWORDS = (
    "PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence",
    "ReferencedSeriesSequence", "ReferencedFrameOfReferenceSequence",
    "CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence",
    "SegmentSequence", "ConceptNameCodeSequence", "MRDiffusionSequence",
    "VOILUTSequence",
)
# string keywords that may hold several values (header.py reads them as lists)
_MULTI_OK = frozenset({"ImageType", "SpecificCharacterSet"})
_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})
KNOWN_KEYWORDS = frozenset(_VALUE_KEYWORDS + _SEQUENCE_KEYWORDS)
"""Every top-level keyword this reader can answer for (tests check header.py asks no other)."""


def _tag_table() -> dict[int, tuple[str, str]]:
    table: dict[int, tuple[str, str]] = {}
    for kw in _VALUE_KEYWORDS + _SEQUENCE_KEYWORDS:
        tag = tag_for_keyword(kw)
        if tag is None:  # pragma: no cover - pydicom dictionary changed
            raise RuntimeError(f"unknown DICOM keyword {kw}")
        table[tag] = (kw, str(dictionary_VR(tag)))
    return table


_WANTED = _tag_table()
_SEQUENCE_TAGS = frozenset(tag for tag, (kw, _vr) in _WANTED.items() if kw in _SEQUENCE_KEYWORDS)
_META_TS = 0x00020010
_META_SOP_CLASS = 0x00020002
_CHARSET_TAG = 0x00080005
_CHARSETS = {"": "latin_1", "ISO_IR 6": "latin_1", "ISO_IR 100": "latin_1", "ISO_IR 192": "utf-8"}
_DATASET_TS = {IMPLICIT_LE: True, EXPLICIT_LE: False}  # value: implicit VR?
_PLAUSIBLE_GROUPS = frozenset({0x0000, 0x0002, 0x0004, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028})

_unpack_tag_len = struct.Struct("<HHI").unpack_from
_unpack_explicit = struct.Struct("<HH2sH").unpack_from
_unpack_u32 = struct.Struct("<I").unpack_from
# (tag+length, tag+VR+length, 32-bit length) unpackers per byte order: little endian first
_UNPACK = {
    True: (_unpack_tag_len, _unpack_explicit, _unpack_u32),
    False: (
        struct.Struct(">HHI").unpack_from,
        struct.Struct(">HH2sH").unpack_from,
        struct.Struct(">I").unpack_from,
    ),
}


class _Fallback(Exception):
    """This file needs the full parser."""


class _Truncated(Exception):
    """An element of the header runs past the end of the file."""


class _Values(dict):
    """keyword -> value as pydicom would give it, plus ``file_meta``: a stand-in Dataset."""

    file_meta: dict[str, Any]


class _Reader:
    """Random access to a file through one buffered window."""

    __slots__ = ("f", "data", "base", "size")

    def __init__(self, f: Any, size: int) -> None:
        self.f = f
        self.size = size
        self.base = 0
        self.data = f.read(_CHUNK)

    def get(self, pos: int, n: int) -> bytes:
        """``n`` bytes at file offset ``pos`` (moves the window when needed)."""
        off = pos - self.base
        data = self.data
        if off >= 0 and off + n <= len(data):
            return data[off : off + n]
        if pos + n > self.size:
            raise _Truncated()
        self.f.seek(pos)
        self.data = data = self.f.read(max(n, _CHUNK))
        self.base = pos
        if len(data) < n:
            raise _Truncated()
        return data[:n]


def sniff_not_dicom(head: bytes, size: int) -> str | None:
    """Why a file without the ``DICM`` marker is certainly not DICOM, or ``None`` if it may be.

    ``head`` is the start of the file.  Old ACR-NEMA style files begin with a
    data element of a low group (0008, 0010...); text, JSON, NIfTI, gzip,
    PNG, JPEG, ZIP, NRRD and PDF files never do.
    """
    if size == 0:
        return "empty file"
    if len(head) < 8:
        return "not a DICOM file (too small)"
    group_le = head[0] | (head[1] << 8)
    group_be = (head[0] << 8) | head[1]
    if group_le in _PLAUSIBLE_GROUPS or group_be in _PLAUSIBLE_GROUPS:
        return None
    return "not a DICOM file"


def read_header_fast(path: str | Path, *, force: bool = True) -> DicomHeader | None:
    """Parse ``path`` like :func:`~interval.io.dicom.header.read_header`, or return ``None``.

    ``None`` means "use the full parser".  Raises :class:`UnreadableFile`
    (with a reason) for files that are certainly not DICOM or cannot be
    opened, and :class:`NotAnImage` for a DICOMDIR.
    """
    spath = str(path)
    try:
        with open(spath, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            reader = _Reader(f, size)
            head = reader.data[:132]
            if len(head) < 132 or head[128:132] != b"DICM":
                reason = sniff_not_dicom(head, size)
                if reason is not None:
                    raise UnreadableFile(reason, path=spath)
                if not force:
                    raise UnreadableFile("not a DICOM file (no DICOM file marker)", path=spath)
                return None
            try:
                return _parse(reader, spath)
            except _Fallback:
                return None
            except _Truncated:
                raise UnreadableFile(TRUNCATED_HEADER_REASON, path=spath) from None
    except (UnreadableFile, NotAnImage):
        raise
    except OSError as exc:
        raise unreadable_from_os_error(exc, spath) from exc
    except Exception:  # noqa: BLE001 - anything odd: let the full parser judge the file
        return None


def _parse(reader: _Reader, path: str, values_class: type[_Values] = _Values) -> DicomHeader:
    meta_raw, pos = _read_meta(reader)
    ts = _ui_text(meta_raw[_META_TS])
    sop_class = _ui_text(meta_raw.get(_META_SOP_CLASS, b""))
    if sop_class == DICOMDIR_SOP_CLASS:
        raise NotAnImage(DICOMDIR_REASON, path=path)
    little = True
    if ts in _DATASET_TS:
        implicit = _DATASET_TS[ts]
    elif ts == EXPLICIT_BE:
        implicit, little = False, False
    elif _is_encapsulated(ts):
        implicit = False  # compressed syntaxes encode the dataset as explicit VR LE
    else:
        raise _Fallback("transfer syntax")
    raw, pixel = _walk(reader, pos, implicit, little)
    if not raw and pixel is None:
        raise _Fallback("empty dataset")
    ds = values_class(_convert(raw, little))
    ds.file_meta = {"TransferSyntaxUID": ts}
    if _META_SOP_CLASS in meta_raw:
        ds.file_meta["MediaStorageSOPClassUID"] = sop_class
    return header_from_dataset(ds, path, pixel)  # type: ignore[arg-type]


def _read_meta(reader: _Reader) -> tuple[dict[int, bytes], int]:
    """Group 0002 (always explicit VR little endian): transfer syntax and SOP class."""
    pos = 132
    out: dict[int, bytes] = {}
    while pos + 8 <= reader.size:
        group, elem, vr, length = _unpack_explicit(reader.get(pos, 8))
        if group != 0x0002:
            break
        if vr in _LONG_VRS:
            length = _unpack_u32(reader.get(pos + 8, 4))[0]
            vpos = pos + 12
        elif vr in _SHORT_VRS:
            vpos = pos + 8
        else:
            raise _Fallback("meta VR")
        if length == _UNDEFINED:
            raise _Fallback("meta undefined length")
        tag = (group << 16) | elem
        if tag in (_META_TS, _META_SOP_CLASS):
            out[tag] = reader.get(vpos, length)
        pos = vpos + length
    if pos > reader.size or (_META_TS not in out and pos + 8 > reader.size):
        raise _Truncated()  # the file ends inside (or right after) its file meta
    if _META_TS not in out:
        raise _Fallback("no transfer syntax")
    return out, pos


def _walk(
    reader: _Reader, pos: int, implicit: bool, little: bool = True
) -> tuple[dict[int, tuple[str | None, bytes]], tuple[int, int | None, bool] | None]:
    """Top-level elements up to the pixel data: wanted raw values and the pixel location."""
    raw: dict[int, tuple[str | None, bytes]] = {}
    unpack_tag_len, unpack_explicit, unpack_u32 = _UNPACK[little]
    size = reader.size
    wanted = _WANTED
    short_vrs = _SHORT_VRS
    long_vrs = _LONG_VRS
    if implicit and pos + 8 <= size:
        hdr = reader.get(pos, 8)
        if 0x40 < hdr[4] < 0x5B and 0x40 < hdr[5] < 0x5B:
            raise _Fallback("explicit VR in an implicit dataset")
    data = reader.data
    base = reader.base
    while pos + 8 <= size:
        off = pos - base
        if off < 0 or off + 12 > len(data):
            reader.get(pos, min(12, size - pos))  # moves the window if needed
            data = reader.data
            base = reader.base
            off = pos - base
        vr: bytes | None
        if implicit:
            group, elem, length = unpack_tag_len(data, off)
            vr = None
            vpos = pos + 8
        else:
            group, elem, vr, length = unpack_explicit(data, off)
            if vr in short_vrs:
                vpos = pos + 8
            elif vr in long_vrs:
                if off + 12 > len(data):
                    raise _Truncated()
                length = unpack_u32(data, off + 8)[0]
                vpos = pos + 12
            else:
                raise _Fallback("unknown VR")
        tag = (group << 16) | elem
        if tag in wanted:
            if tag in _SEQUENCE_TAGS or length == _UNDEFINED:
                raise _Fallback("needed sequence")
            voff = vpos - base
            if voff + length <= len(data):
                value = data[voff : voff + length]
            else:
                value = reader.get(vpos, length)
                data = reader.data
                base = reader.base
            raw[tag] = (None if vr is None else vr.decode(), value)
            pos = vpos + length
        elif tag in _PIXEL_TAGS:
            return raw, (vpos, None if length == _UNDEFINED else length, _PIXEL_TAGS[tag])
        elif length == _UNDEFINED:
            if group == 0xFFFE or (vr is not None and vr != b"SQ"):
                raise _Fallback("undefined length")
            pos = _skip_sequence(reader, vpos, implicit, little, 1)
            data = reader.data
            base = reader.base
        elif group == 0xFFFE:
            raise _Fallback("delimiter at top level")
        else:
            pos = vpos + length
            if pos > size:
                raise _Truncated()
    return raw, None


def _skip_sequence(reader: _Reader, pos: int, implicit: bool, little: bool, depth: int) -> int:
    """Offset just after an undefined-length sequence whose first item starts at ``pos``."""
    if depth > _MAX_DEPTH:
        raise _Fallback("nesting")
    unpack_tag_len = _UNPACK[little][0]
    while True:
        group, elem, length = unpack_tag_len(reader.get(pos, 8))
        tag = (group << 16) | elem
        pos += 8
        if tag == _SEQ_DELIM:
            return pos
        if tag != _ITEM:
            raise _Fallback("bad item")
        if length != _UNDEFINED:
            pos += length
            continue
        pos = _skip_item(reader, pos, implicit, little, depth + 1)


def _skip_item(reader: _Reader, pos: int, implicit: bool, little: bool, depth: int) -> int:
    """Offset just after the delimiter of an undefined-length item starting at ``pos``."""
    unpack_tag_len, unpack_explicit, unpack_u32 = _UNPACK[little]
    while True:
        hdr = reader.get(pos, 8)
        if implicit:
            group, elem, length = unpack_tag_len(hdr)
            vpos = pos + 8
            is_sq = True
        else:
            group, elem, vr, length = unpack_explicit(hdr)
            if ((group << 16) | elem) == _ITEM_DELIM:
                return pos + 8
            if vr in _SHORT_VRS:
                vpos = pos + 8
            elif vr in _LONG_VRS:
                length = unpack_u32(reader.get(pos + 8, 4))[0]
                vpos = pos + 12
            else:
                raise _Fallback("unknown VR in item")
            is_sq = vr == b"SQ"
        if ((group << 16) | elem) == _ITEM_DELIM:
            return pos + 8
        if length == _UNDEFINED:
            if not is_sq or group == 0xFFFE:
                raise _Fallback("undefined length in item")
            pos = _skip_sequence(reader, vpos, implicit, little, depth + 1)
        else:
            pos = vpos + length


# --- value conversion: what pydicom would give, as header.py consumes it ---------------


_ENCAPSULATED: dict[str, bool] = {}


def _is_encapsulated(ts: str) -> bool:
    known = _ENCAPSULATED.get(ts)
    if known is None:
        from pydicom.uid import UID

        try:
            uid = UID(ts)
            known = bool(
                uid.is_transfer_syntax
                and uid.is_encapsulated
                and uid.is_little_endian
                and not uid.is_deflated
            )
        except Exception:  # noqa: BLE001 - private or malformed UID
            known = False
        _ENCAPSULATED[ts] = known
    return known


def _ui_text(data: bytes) -> str:
    return data.decode("latin_1").rstrip("\x00 ")


def _convert(raw: dict[int, tuple[str | None, bytes]], little: bool = True) -> dict[str, Any]:
    encoding = "latin_1"
    strict_ascii = False
    charset = raw.get(_CHARSET_TAG)
    if charset is not None:
        names = [p.strip() for p in _ui_text(charset[1]).split("\\")]
        names = [n for n in names if n] or [""]
        if len(names) == 1 and names[0] in _CHARSETS:
            encoding = _CHARSETS[names[0]]
        else:
            strict_ascii = True  # other character sets: only plain ASCII text is safe
    out: dict[str, Any] = {}
    wanted = _WANTED
    converters = _CONVERTERS
    for tag, (file_vr, data) in raw.items():
        keyword, vr = wanted[tag]
        if file_vr is not None and file_vr != vr:
            raise _Fallback("VR differs from the dictionary")
        if not data:
            continue  # empty: header.py treats absent and empty alike
        if vr in _TEXT_VRS:
            out[keyword] = _text(keyword, vr, data, encoding, strict_ascii)
        else:
            value = converters[vr](keyword, data) if little else _binary_be(keyword, vr, data)
            if value is not None:
                out[keyword] = value
    return out


def _text(keyword: str, vr: str, data: bytes, encoding: str, strict_ascii: bool) -> Any:
    if vr == "PN" and b"=" in data:
        raise _Fallback("person name with ideographic or phonetic groups")
    if strict_ascii and (max(data) > 0x7F or 0x1B in data):
        raise _Fallback("non-ASCII text in a character set this reader does not decode")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _Fallback("undecodable text") from exc
    return _split(keyword, text)


def _split(keyword: str, text: str) -> Any:
    if text.endswith((" ", "\x00")):
        text = text[:-1]
    if "\\" not in text:
        return text
    if keyword not in _MULTI_OK:
        raise _Fallback("several values where one is expected")
    return text.split("\\")


def _conv_string(keyword: str, data: bytes) -> Any:
    return _split(keyword, data.decode("latin_1"))


def _conv_ui(keyword: str, data: bytes) -> Any:
    text = _ui_text(data)
    if "\\" in text:
        raise _Fallback("several UIDs")
    return text


def _conv_us(keyword: str, data: bytes) -> Any:
    if len(data) == 2:
        return data[0] | (data[1] << 8)
    if len(data) % 2:
        raise _Fallback("odd US length")
    return list(struct.unpack(f"<{len(data) // 2}H", data))


def _binary_be(keyword: str, vr: str, data: bytes) -> Any:
    """Big endian data set: binary numbers swap, strings do not."""
    if vr == "US":
        if len(data) % 2:
            raise _Fallback("odd US length")
        vals = struct.unpack(f">{len(data) // 2}H", data)
        return vals[0] if len(vals) == 1 else list(vals)
    if vr == "FD":
        if len(data) % 8:
            raise _Fallback("odd FD length")
        vals_f = struct.unpack(f">{len(data) // 8}d", data)
        return vals_f[0] if len(vals_f) == 1 else list(vals_f)
    return _CONVERTERS[vr](keyword, data)


def _conv_fd(keyword: str, data: bytes) -> Any:
    if len(data) % 8:
        raise _Fallback("odd FD length")
    vals = struct.unpack(f"<{len(data) // 8}d", data)
    return vals[0] if len(vals) == 1 else list(vals)


def _number_text(data: bytes) -> str | None:
    text = data.decode("latin_1")
    if text.endswith((" ", "\x00")):
        text = text[:-1]
    return text if text.strip(" ") else None


def _conv_ds(keyword: str, data: bytes) -> Any:
    """DS as float (one value) or list of floats; header.py takes the first or all."""
    text = _number_text(data)
    if text is None:
        return None
    if "\\" not in text:
        return _ds(text)
    return [_ds(p) for p in text.split("\\")]


def _conv_is(keyword: str, data: bytes) -> Any:
    text = _number_text(data)
    if text is None:
        return None
    if "\\" not in text:
        return _is(text)
    return [_is(p) for p in text.split("\\")]


def _ds(text: str) -> float:
    text = text.strip(" ")
    if not text or "\x00" in text:
        raise _Fallback("empty DS component")
    try:
        return float(text)
    except ValueError as exc:
        raise _Fallback("bad DS") from exc


def _is(text: str) -> int:
    text = text.strip(" ")
    if not text or "\x00" in text:
        raise _Fallback("empty IS component")
    try:
        return int(text)
    except ValueError:
        try:
            f = float(text)
        except ValueError as exc:
            raise _Fallback("bad IS") from exc
        if not f.is_integer():
            raise _Fallback("non-integer IS") from None
        return int(f)


_CONVERTERS = {
    "US": _conv_us, "FD": _conv_fd, "UI": _conv_ui, "DS": _conv_ds, "IS": _conv_is,
    "CS": _conv_string, "DA": _conv_string, "TM": _conv_string, "DT": _conv_string,
    "AS": _conv_string, "AE": _conv_string,
}
_unconvertible = [
    kw for kw, vr in _WANTED.values()
    if kw in _VALUE_KEYWORDS and vr not in _CONVERTERS and vr not in _TEXT_VRS
]
if _unconvertible:  # pragma: no cover - a keyword with a VR this module cannot convert
    raise RuntimeError(f"no converter for {_unconvertible}")
