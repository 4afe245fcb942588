"""Parse one DICOM file's header (no pixel data) into a :class:`DicomHeader`.

Robust by construction: every attribute is read defensively, so a malformed
value gives a default instead of an exception; a file that cannot be parsed
at all raises :class:`~interval.core.errors.UnreadableFile` with a reason.
Files are opened read-only.
"""

from __future__ import annotations

import struct
from datetime import date
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from interval.core.errors import UnreadableFile
from interval.core.uids import is_uid
from interval.io.dicom.header_voi import voi_lut_table
from interval.io.dicom.records import DicomHeader, FrameInfo, ObjectKind
from interval.io.dicom.transfer_syntax import DEFLATED_LE, EXPLICIT_BE, IMPLICIT_LE

_PIXEL_TAGS = {0x7FE00010: False, 0x7FE00008: True, 0x7FE00009: True}  # tag -> is float
_MAX_FRAMES = 5_000_000  # beyond this a NumberOfFrames value is damage, not data
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}

_SOP_KINDS: dict[str, ObjectKind] = {
    "1.2.840.10008.5.1.4.1.1.66.4": "seg",
    "1.2.840.10008.5.1.4.1.1.481.3": "rtstruct",
    "1.2.840.10008.5.1.4.1.1.66": "raw",
    "1.2.840.10008.5.1.4.1.1.104.1": "other",  # encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.104.2": "other",  # encapsulated CDA
}
_SOP_PREFIX_KINDS: tuple[tuple[str, ObjectKind], ...] = (
    ("1.2.840.10008.5.1.4.1.1.88.", "sr"),
    ("1.2.840.10008.5.1.4.1.1.11.", "pr"),
    ("1.2.840.10008.5.1.4.1.1.9.", "waveform"),
    ("1.2.840.10008.5.1.4.1.1.481.", "other"),  # RT plan/dose/... (dose is an image, see below)
)
_MODALITY_KINDS: dict[str, ObjectKind] = {
    "SEG": "seg", "RTSTRUCT": "rtstruct", "SR": "sr", "PR": "pr", "KO": "sr",
}
_RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"


def read_header(path: str | Path, *, force: bool = True) -> DicomHeader:
    """Parse ``path`` without its pixel data.

    Raises :class:`UnreadableFile` with a human-readable reason when the file
    is not DICOM, is truncated before the image attributes, or cannot be opened.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fp:
            try:
                ds = pydicom.dcmread(fp, stop_before_pixels=True, force=force)
            except InvalidDicomError as exc:
                raise UnreadableFile("not a DICOM file", path=path) from exc
            pixel = _pixel_element_at(fp, ds)
    except UnreadableFile:
        raise
    except OSError as exc:
        raise unreadable_from_os_error(exc, path) from exc
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on corrupt input
        raise UnreadableFile(f"damaged DICOM header ({_short(exc)})", path=path) from exc
    if not _looks_like_dicom(ds):
        raise UnreadableFile("not a DICOM file (no recognisable DICOM attributes)", path=path)
    try:
        return header_from_dataset(ds, str(path), pixel)
    except UnreadableFile:
        raise
    except Exception as exc:  # noqa: BLE001 - damaged values deep inside sequences
        raise UnreadableFile(f"damaged DICOM header ({_short(exc)})", path=path) from exc


def unreadable_from_os_error(exc: OSError, path: str | Path) -> UnreadableFile:
    """The reason, in words, why the operating system would not let us read ``path``."""
    if isinstance(exc, PermissionError):
        return UnreadableFile("no permission to read this file", path=path)
    if isinstance(exc, IsADirectoryError):
        return UnreadableFile("is a folder, not a file", path=path)
    if isinstance(exc, FileNotFoundError):
        return UnreadableFile("file not found (moved or deleted?)", path=path)
    return UnreadableFile(f"could not be read ({exc.strerror or exc})", path=path)


def header_from_dataset(
    ds: Dataset, path: str, pixel: tuple[int, int | None, bool] | None = None
) -> DicomHeader:
    """Build a header record from an already-parsed dataset.

    ``pixel`` is ``(value_offset, value_length or None if undefined, is_float)``
    of the pixel data element, or ``None`` when the file holds none.
    """
    meta = getattr(ds, "file_meta", None)
    ts = str(_get(meta, "TransferSyntaxUID", "") or "") if meta is not None else ""
    if not ts:
        ts = _guess_ts(ds)
    sop_class = str(_get(ds, "SOPClassUID", "") or _get(meta, "MediaStorageSOPClassUID", "") or "")
    modality = _str(ds, "Modality").upper()
    has_pixels = pixel is not None
    kind = _classify(sop_class, modality, has_pixels, _int(ds, "Rows", 0))
    offset = length = None
    is_float = False
    if pixel is not None:
        offset, length, is_float = pixel
        if length is None or ts == DEFLATED_LE:  # encapsulated or deflated: no direct read
            offset = length = None
    n_frames = max(1, _int(ds, "NumberOfFrames", 1))
    frames = _frames(ds, n_frames) if kind == "image" else ()
    ref_series, ref_sops = _references(ds)
    _check_identity(path, sop_class, modality, kind, ds)
    return DicomHeader(
        path=path,
        kind=kind,
        sop_class_uid=sop_class,
        sop_instance_uid=_str(ds, "SOPInstanceUID"),
        transfer_syntax_uid=ts,
        patient_name=_str(ds, "PatientName"),
        patient_id=_str(ds, "PatientID"),
        patient_birth_date=_date(ds, "PatientBirthDate"),
        patient_sex=_str(ds, "PatientSex"),
        patient_position=_str(ds, "PatientPosition"),
        study_instance_uid=_str(ds, "StudyInstanceUID"),
        study_date=_date(ds, "StudyDate"),
        study_time=_str(ds, "StudyTime"),
        study_description=_str(ds, "StudyDescription"),
        accession_number=_str(ds, "AccessionNumber"),
        series_instance_uid=_str(ds, "SeriesInstanceUID"),
        series_number=_int_or_none(ds, "SeriesNumber"),
        series_description=_str(ds, "SeriesDescription") or _str(ds, "ProtocolName"),
        series_date=_date(ds, "SeriesDate"),
        modality=modality,
        frame_of_reference_uid=_str(ds, "FrameOfReferenceUID"),
        body_part=_str(ds, "BodyPartExamined"),
        manufacturer=_str(ds, "Manufacturer"),
        instance_number=_int_or_none(ds, "InstanceNumber"),
        acquisition_number=_int_or_none(ds, "AcquisitionNumber"),
        rows=_int(ds, "Rows", 0),
        columns=_int(ds, "Columns", 0),
        samples_per_pixel=_int(ds, "SamplesPerPixel", 1),
        bits_allocated=_int(ds, "BitsAllocated", 0),
        bits_stored=_int(ds, "BitsStored", 0) or _int(ds, "BitsAllocated", 0),
        high_bit=_int(ds, "HighBit", 0),
        pixel_representation=_int(ds, "PixelRepresentation", 0),
        photometric_interpretation=_str(ds, "PhotometricInterpretation").upper(),
        planar_configuration=_int(ds, "PlanarConfiguration", 0),
        presentation_lut_shape=_str(ds, "PresentationLUTShape").upper(),
        voi_lut=voi_lut_table(ds) if kind == "image" else None,
        number_of_frames=n_frames,
        has_pixel_data=has_pixels,
        float_pixel_data=is_float,
        pixel_data_offset=offset,
        pixel_data_length=length,
        frames=frames,
        referenced_series_uids=ref_series,
        referenced_sop_uids=ref_sops,
        description=_describe(ds, kind),
    )


# --- sanity of the identifying attributes -----------------------------------------

def _check_identity(path: str, sop_class: str, modality: str, kind: ObjectKind, ds: Dataset) -> None:
    """Refuse headers whose identity is damaged (a file we could not describe honestly).

    A corrupted element length or VR makes pydicom swallow neighbouring bytes
    into a value, e.g. binary junk in the SOP Class UID, or leaves a data set
    with nothing identifying in it: such a file is reported as damaged rather
    than shown as an unnamed object.
    """
    if sop_class and not is_uid(sop_class):
        raise UnreadableFile("damaged DICOM header (its SOP Class UID is not a valid UID)", path=path)
    if kind == "other" and not (sop_class or modality or _str(ds, "SeriesInstanceUID")):
        raise UnreadableFile(
            "damaged DICOM header (no SOP class, modality or series: nothing identifies it)",
            path=path,
        )


# --- pixel data element location ---------------------------------------------------


def _pixel_element_at(fp: Any, ds: Dataset) -> tuple[int, int | None, bool] | None:
    """Read the element header where pydicom stopped (just before pixel data).

    Returns ``(value_offset, length or None when undefined, is_float)`` or
    ``None`` when no pixel data element follows.
    """
    start = fp.tell()
    meta = getattr(ds, "file_meta", None)
    ts = str(_get(meta, "TransferSyntaxUID", "") or "") if meta is not None else ""
    if ts == DEFLATED_LE:
        # the raw file position says nothing (pydicom inflated the stream): look inside
        return _deflated_pixel_element(fp)
    head = fp.read(12)
    if len(head) < 8:
        return None
    little = ts != EXPLICIT_BE
    implicit = ts == IMPLICIT_LE if ts else bool(getattr(ds, "is_implicit_VR", False))
    if not ts:  # no file meta: the encoding pydicom found
        little = bool(getattr(ds, "original_encoding", (None, True))[1] in (True, None))
    end = "<" if little else ">"
    group, elem = struct.unpack(end + "HH", head[:4])
    tag = (group << 16) | elem
    if tag not in _PIXEL_TAGS:
        return None
    if not implicit and not (0x40 < head[4] < 0x5B and 0x40 < head[5] < 0x5B):
        implicit = True  # no VR letters: written implicit although the meta says explicit (as pydicom)
    if implicit:
        (length,) = struct.unpack(end + "I", head[4:8])
        value_offset = start + 8
    else:
        vr = head[4:6]
        if vr in _LONG_VRS:
            if len(head) < 12:
                return None
            (length,) = struct.unpack(end + "I", head[8:12])
            value_offset = start + 12
        else:
            (length,) = struct.unpack(end + "H", head[6:8])
            value_offset = start + 8
    return (value_offset, None if length == 0xFFFFFFFF else length, _PIXEL_TAGS[tag])


def _deflated_pixel_element(fp: Any) -> tuple[int, int | None, bool] | None:
    """Pixel data presence in a deflated file: present, but at no raw file offset."""
    fp.seek(0)
    full = pydicom.dcmread(fp, force=True, specific_tags=list(_PIXEL_TAGS))
    for tag, is_float in _PIXEL_TAGS.items():
        if tag in full:
            return (0, None, is_float)
    return None


def _guess_ts(ds: Dataset) -> str:
    """Transfer syntax of a file without meta header (raw ACR-NEMA style)."""
    implicit = getattr(ds, "is_implicit_VR", True)
    little = getattr(ds, "is_little_endian", True)
    if implicit:
        return IMPLICIT_LE
    return "1.2.840.10008.1.2.1" if little else EXPLICIT_BE


# --- classification ---------------------------------------------------------------


def _classify(sop_class: str, modality: str, has_pixels: bool, rows: int) -> ObjectKind:
    if sop_class in _SOP_KINDS:
        return _SOP_KINDS[sop_class]
    if sop_class == _RT_DOSE:
        return "image" if has_pixels and rows else "other"
    for prefix, kind in _SOP_PREFIX_KINDS:
        if sop_class.startswith(prefix):
            return kind
    if modality in _MODALITY_KINDS and not (has_pixels and modality not in ("SEG",)):
        return _MODALITY_KINDS[modality]
    if modality == "SEG":
        return "seg"
    if has_pixels and rows > 0:
        return "image"
    return "other"


def _looks_like_dicom(ds: Dataset) -> bool:
    """With ``force=True`` any bytes parse; insist on some real attributes."""
    try:
        keys = [int(t) for t in ds.keys()]  # noqa: SIM118 - iterating a Dataset yields elements
    except Exception:  # noqa: BLE001
        return False
    if getattr(ds, "file_meta", None) is not None and len(ds.file_meta) > 0:
        return len(keys) > 0
    # no meta: need a few standard groups (0008 identifying, 0010 patient, 0020, 0028)
    groups = {k >> 16 for k in keys}
    return len(keys) >= 3 and bool(groups & {0x0008, 0x0020, 0x0028})


# --- frames -----------------------------------------------------------------------


def _frames(ds: Dataset, n_frames: int) -> tuple[FrameInfo, ...]:
    if n_frames > _MAX_FRAMES:
        raise ValueError(f"NumberOfFrames {n_frames} is not plausible")
    per_frame = _get(ds, "PerFrameFunctionalGroupsSequence", None)
    shared_seq = _get(ds, "SharedFunctionalGroupsSequence", None)
    if per_frame is not None or shared_seq is not None:
        shared = shared_seq[0] if shared_seq else Dataset()
        base = _single_frame(ds)
        if per_frame is None:  # nothing per frame: every frame is described alike
            return (_enhanced_frame(Dataset(), shared, base),) * n_frames
        if n_frames > len(per_frame):
            raise ValueError(f"NumberOfFrames is {n_frames} but only {len(per_frame)} frames are described")
        return tuple(_enhanced_frame(per_frame[i], shared, base) for i in range(n_frames))
    info = _single_frame(ds)
    if n_frames == 1:
        return (info,)
    # classic multi-frame (e.g. NM, US, or a 3-D stack with spacing between slices)
    return (info,) * n_frames


def _single_frame(ds: Dataset) -> FrameInfo:
    diff = _get(ds, "MRDiffusionSequence", None)  # classic MR may carry the diffusion macro
    diff = diff[0] if diff else None
    b_value = _float(ds, "DiffusionBValue")
    return FrameInfo(
        position=_floats(ds, "ImagePositionPatient", 3),  # type: ignore[arg-type]
        orientation=_floats(ds, "ImageOrientationPatient", 6),  # type: ignore[arg-type]
        pixel_spacing=_floats(ds, "PixelSpacing", 2),  # type: ignore[arg-type]
        slice_thickness=_float(ds, "SliceThickness"),
        rescale_slope=_float(ds, "RescaleSlope") or 1.0,
        rescale_intercept=_float(ds, "RescaleIntercept") or 0.0,
        window_center=_first_float(ds, "WindowCenter"),
        window_width=_first_float(ds, "WindowWidth"),
        echo_time=_float(ds, "EchoTime"),
        echo_number=_first_int(ds, "EchoNumbers"),
        temporal_position=_int_or_none(ds, "TemporalPositionIdentifier"),
        trigger_time=_float(ds, "TriggerTime"),
        acquisition_time=_str(ds, "AcquisitionTime"),
        b_value=b_value if b_value is not None or diff is None else _float(diff, "DiffusionBValue"),
        diffusion_direction=_floats(ds, "DiffusionGradientOrientation", 3) or _gradient(diff),  # type: ignore[arg-type]
        diffusion_directionality=(_str(ds, "DiffusionDirectionality") or _str(diff, "DiffusionDirectionality")).upper(),
        image_type=_multi_str(ds, "ImageType"),
        imager_pixel_spacing=_floats(ds, "ImagerPixelSpacing", 2),  # type: ignore[arg-type]
        magnification=_float(ds, "EstimatedRadiographicMagnificationFactor"),
        voi_function=_str(ds, "VOILUTFunction").upper(),
    )


def _enhanced_frame(item: Dataset, shared: Dataset, base: FrameInfo) -> FrameInfo:
    def seq(name: str) -> Dataset | None:
        for src in (item, shared):
            s = _get(src, name, None)
            if s:
                return s[0]
        return None

    pos = seq("PlanePositionSequence")
    ori = seq("PlaneOrientationSequence")
    meas = seq("PixelMeasuresSequence")
    pvt = seq("PixelValueTransformationSequence")
    voi = seq("FrameVOILUTSequence")
    echo = seq("MREchoSequence")
    content = seq("FrameContentSequence")
    diff = seq("MRDiffusionSequence")
    ftype = seq("MRImageFrameTypeSequence") or seq("CTImageFrameTypeSequence")
    ftype = ftype or seq("FrameTypeSequence") if ftype is None else ftype
    slope = _float(pvt, "RescaleSlope") if pvt is not None else None
    intercept = _float(pvt, "RescaleIntercept") if pvt is not None else None
    dim = _get(content, "DimensionIndexValues", None) if content is not None else None
    try:
        dim_t = tuple(int(v) for v in (dim if isinstance(dim, list | tuple) else [dim])) if dim is not None else ()
    except (TypeError, ValueError):
        dim_t = ()
    return FrameInfo(
        position=(_floats(pos, "ImagePositionPatient", 3) if pos is not None else None) or base.position,  # type: ignore[arg-type]
        orientation=(_floats(ori, "ImageOrientationPatient", 6) if ori is not None else None) or base.orientation,  # type: ignore[arg-type]
        pixel_spacing=(_floats(meas, "PixelSpacing", 2) if meas is not None else None) or base.pixel_spacing,  # type: ignore[arg-type]
        slice_thickness=(_float(meas, "SliceThickness") if meas is not None else None) or base.slice_thickness,
        rescale_slope=slope if slope is not None else base.rescale_slope,
        rescale_intercept=intercept if intercept is not None else base.rescale_intercept,
        window_center=(_first_float(voi, "WindowCenter") if voi is not None else None) or base.window_center,
        window_width=(_first_float(voi, "WindowWidth") if voi is not None else None) or base.window_width,
        echo_time=(_float(echo, "EffectiveEchoTime") if echo is not None else None) or base.echo_time,
        echo_number=base.echo_number,
        temporal_position=(_int_or_none(content, "TemporalPositionIndex") if content is not None else None) or base.temporal_position,
        trigger_time=base.trigger_time,
        acquisition_time=(_str(content, "FrameAcquisitionDateTime") if content is not None else "") or base.acquisition_time,
        b_value=(_float(diff, "DiffusionBValue") if diff is not None else None) if diff is not None else base.b_value,
        diffusion_direction=_gradient(diff) if diff is not None else base.diffusion_direction,
        diffusion_directionality=_str(diff, "DiffusionDirectionality").upper() if diff is not None else base.diffusion_directionality,
        stack_id=_str(content, "StackID") if content is not None else "",
        in_stack_position=_int_or_none(content, "InStackPositionNumber") if content is not None else None,
        dimension_index=dim_t,
        image_type=(_multi_str(ftype, "FrameType") if ftype is not None else "") or base.image_type,
        imager_pixel_spacing=base.imager_pixel_spacing,
        magnification=base.magnification,
        voi_function=(_str(voi, "VOILUTFunction").upper() if voi is not None else "") or base.voi_function,
    )


def _gradient(item: Any) -> tuple[float, float, float] | None:
    """DiffusionGradientOrientation of a diffusion macro item: in its
    DiffusionGradientDirectionSequence (the standard) or directly in the item."""
    if item is None:
        return None
    nested = _get(item, "DiffusionGradientDirectionSequence", None)
    if nested:
        found = _floats(nested[0], "DiffusionGradientOrientation", 3)
        if found is not None:
            return found  # type: ignore[return-value]
    return _floats(item, "DiffusionGradientOrientation", 3)  # type: ignore[return-value]


# --- references of non-image objects ---------------------------------------------


def _references(ds: Dataset) -> tuple[tuple[str, ...], tuple[str, ...]]:
    series: list[str] = []
    sops: list[str] = []
    for item in _get(ds, "ReferencedSeriesSequence", None) or []:
        uid = _str(item, "SeriesInstanceUID")
        if uid:
            series.append(uid)
        for inst in _get(item, "ReferencedInstanceSequence", None) or []:
            sops.append(_str(inst, "ReferencedSOPInstanceUID"))
    # RTSTRUCT: ReferencedFrameOfReferenceSequence > RTReferencedStudySequence > RTReferencedSeriesSequence
    for ref_for in _get(ds, "ReferencedFrameOfReferenceSequence", None) or []:
        for study in _get(ref_for, "RTReferencedStudySequence", None) or []:
            for se in _get(study, "RTReferencedSeriesSequence", None) or []:
                uid = _str(se, "SeriesInstanceUID")
                if uid:
                    series.append(uid)
    # SR / PR / KO: evidence and referenced series
    for name in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
        for study in _get(ds, name, None) or []:
            for se in _get(study, "ReferencedSeriesSequence", None) or []:
                uid = _str(se, "SeriesInstanceUID")
                if uid:
                    series.append(uid)
    return tuple(dict.fromkeys(series)), tuple(dict.fromkeys(s for s in sops if s))


def _describe(ds: Dataset, kind: ObjectKind) -> str:
    if kind == "seg":
        names = [_str(s, "SegmentLabel") for s in (_get(ds, "SegmentSequence", None) or [])]
        return ", ".join(n for n in names if n)
    if kind == "sr":
        concept = _get(ds, "ConceptNameCodeSequence", None)
        return _str(concept[0], "CodeMeaning") if concept else ""
    if kind == "rtstruct":
        return _str(ds, "StructureSetLabel")
    return ""


# --- defensive attribute access ------------------------------------------------------


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _get(ds: Any, keyword: str, default: Any) -> Any:
    if ds is None:
        return default
    try:
        value = ds.get(keyword, default)
    except Exception:  # noqa: BLE001 - malformed values raise on conversion
        return default
    return default if value is None else value


def _str(ds: Any, keyword: str) -> str:
    value = _get(ds, keyword, "")
    try:
        text = str(value)
    except Exception:  # noqa: BLE001
        return ""
    return text.replace("\x00", "").strip()


def _multi_str(ds: Any, keyword: str) -> str:
    value = _get(ds, keyword, "")
    if isinstance(value, str):
        return value.strip()
    try:
        return "\\".join(str(v).strip() for v in value)
    except TypeError:
        return str(value)


def _float(ds: Any, keyword: str) -> float | None:
    value = _get(ds, keyword, None)
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str | bytes | int | float):
            value = value[0]
        f = float(value)
    except (TypeError, ValueError, IndexError):
        return None
    return f if f == f and abs(f) != float("inf") else None


_first_float = _float


def _floats(ds: Any, keyword: str, n: int) -> tuple[float, ...] | None:
    value = _get(ds, keyword, None)
    if value is None:
        return None
    try:
        vals = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(vals) != n or any(v != v or abs(v) == float("inf") for v in vals):
        return None
    return vals


def _int(ds: Any, keyword: str, default: int) -> int:
    value = _int_or_none(ds, keyword)
    return default if value is None else value


def _int_or_none(ds: Any, keyword: str) -> int | None:
    value = _get(ds, keyword, None)
    if value is None or value == "":
        return None
    try:
        if isinstance(value, list | tuple) or hasattr(value, "__getitem__") and not isinstance(value, str | bytes):
            value = value[0]
        return int(float(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


_first_int = _int_or_none


def _date(ds: Any, keyword: str) -> date | None:
    text = _str(ds, keyword).replace(".", "").replace("-", "")
    if len(text) < 8 or not text[:8].isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None
