"""Write a label map as a DICOM Segmentation (SEG) that references its source series.

The label :class:`Volume` must lie on the source series' voxel grid (what the
segmentation engine returns): each source image is matched to a label slice by its
ImagePositionPatient, and the SEG frames reference those SOP instances, so PACS,
OHIF and 3D Slicer show the segmentation over the right images.  The source files
are read header-only (``stop_before_pixels``), read-only.

Each label of the :class:`LabelTable` becomes one segment (numbered 1..N in value
order, as DICOM requires consecutive segment numbers) with its name, its colour as
the recommended display CIELab value, a property type looked up by name (liver,
lesion, ...; "Tissue" otherwise) and, for model output, the algorithm's name and
version (family "Artificial Intelligence", type AUTOMATIC).  The file is written
atomically (:mod:`interval.core.atomic`).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interval.core.atomic import atomic_path
from interval.core.errors import IntervalError, UnreadableFile, UnsupportedData
from interval.core.labels import LabelTable
from interval.core.volume import Volume

log = logging.getLogger(__name__)

_POS_TOL_VOXEL = 0.05  # a source slice this close (in voxels) to a label slice is that slice
_ABNORMAL = {"lesion", "tumor", "tumour", "neoplasm", "mass", "nodule", "metastasis", "cyst"}


@dataclass(frozen=True)
class AlgorithmInfo:
    """The model that produced a segmentation (None for a manual one)."""

    name: str
    version: str
    source: str = ""  # e.g. the plugin id
    family: str = "Artificial Intelligence"
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SegWritten:
    """What :func:`write_dicom_seg` wrote."""

    path: Path
    series_instance_uid: str
    sop_instance_uid: str
    segment_numbers: dict[int, int]  # label value -> segment number
    referenced_sop_instance_uids: tuple[str, ...]


def write_dicom_seg(
    labels: Volume,
    path: str | Path,
    sources: Sequence[str | Path | Any],
    *,
    algorithm: AlgorithmInfo | None = None,
    series_description: str = "Segmentation",
    series_number: int = 999,
    content_label: str = "SEGMENTATION",
    segmentation_type: str = "BINARY",
) -> SegWritten:
    """Save ``labels`` as a DICOM SEG referencing ``sources`` (its series' files or datasets).

    ``sources`` are the DICOM images the label map was made on (paths, read header-only,
    or pydicom datasets); they must all belong to one series and share the label map's
    grid.  ``segmentation_type`` is ``"BINARY"`` (most widely read) or ``"LABELMAP"``.
    Raises :class:`UnsupportedData` when the geometry does not match, and
    :class:`IntervalError` when the file cannot be written.
    """
    if labels.labels is None:
        raise ValueError("write_dicom_seg needs a label map (a Volume with labels)")
    datasets = _source_datasets(sources)
    slices = _match_slices(labels, datasets)
    _check_covered(labels.array, slices)
    frames = labels.array[np.asarray(slices)]  # the source images' slices only
    return _write(frames, labels.labels, datasets, Path(path), algorithm=algorithm,
                  series_description=series_description, series_number=series_number,
                  content_label=content_label, segmentation_type=segmentation_type)


def write_dicom_seg_slices(
    grid: Volume,
    slices: Mapping[int, np.ndarray],
    table: LabelTable,
    path: str | Path,
    sources: Sequence[str | Path | Any],
    *,
    algorithm: AlgorithmInfo | None = None,
    series_description: str = "Segmentation",
    series_number: int = 999,
    content_label: str = "SEGMENTATION",
    segmentation_type: str = "BINARY",
) -> SegWritten:
    """Like :func:`write_dicom_seg` for a label map given only where it holds labels.

    ``grid`` gives the geometry (its array is not read); ``slices`` maps a slice index k
    of ``grid`` to that slice's labels (rows x columns); every other slice is empty.
    ``sources`` need only be the images of those slices (an image of another slice gets
    an empty frame, which is left out).  No array of the whole grid's size is made.
    """
    datasets = _source_datasets(sources)
    ks = _match_slices(grid, datasets)
    covered = set(ks)
    uncovered = [k for k, a in slices.items() if k not in covered and np.any(a)]
    if uncovered:
        raise UnsupportedData(
            f"{len(uncovered)} labelled slice(s) have no source image; give their images too")
    nj, ni = grid.shape[1], grid.shape[2]
    dtypes = [np.asarray(a).dtype for a in slices.values()]
    dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.uint8)
    frames = np.zeros((len(ks), nj, ni), dtype=dtype)
    for n, k in enumerate(ks):
        if k in slices:
            frame = np.asarray(slices[k])
            if frame.shape != (nj, ni):
                raise ValueError(f"slice {k} is {frame.shape}, not the grid's {(nj, ni)}")
            frames[n] = frame
    return _write(frames, table, datasets, Path(path), algorithm=algorithm,
                  series_description=series_description, series_number=series_number,
                  content_label=content_label, segmentation_type=segmentation_type)


def _source_datasets(sources: Sequence[str | Path | Any]) -> list[Any]:
    datasets = [read_source_header(s) for s in sources]
    if not datasets:
        raise UnsupportedData("no source images were given for the DICOM segmentation")
    _check_one_series(datasets)
    return datasets


def _write(frames: np.ndarray, table: LabelTable, datasets: list[Any], path: Path, *,
           algorithm: AlgorithmInfo | None, series_description: str, series_number: int,
           content_label: str, segmentation_type: str) -> SegWritten:
    """Write ``frames`` (one label slice per source dataset, in their order) as a SEG."""
    import highdicom as hd  # noqa: PLC0415 - heavy, only when saving a SEG

    import interval

    table, numbers = _segment_table(table, frames)
    lut = np.zeros(int(max(numbers, default=0)) + 1,
                   dtype=np.uint8 if len(numbers) <= 255 else np.uint16)
    for value, number in numbers.items():
        lut[value] = number
    frames = lut[frames]  # (source image order, rows, columns)
    descriptions = [
        _description(hd, number, info.name, info.color, algorithm)
        for number, info in enumerate(table, start=1)
    ]
    if not descriptions:
        raise UnsupportedData("the label map has no labels to save")
    software = f"Interval {interval.__version__}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # highdicom's deprecation notes are not for users
        seg = _build(
            hd,
            source_images=datasets,
            pixel_array=frames,
            segmentation_type=segmentation_type,
            segment_descriptions=descriptions,
            series_instance_uid=hd.UID(),
            series_number=int(series_number),
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="Interval",
            manufacturer_model_name="Interval",
            software_versions=software,
            device_serial_number="0",
            content_label=_code_string(content_label),
            content_description=(f"{algorithm.name} {algorithm.version}" if algorithm
                                 else "Segmentation")[:64],
            omit_empty_frames=True,
        )
        seg.SeriesDescription = series_description[:64]
        # UTF-8: segment labels in any language survive (the source's Latin-1 would not)
        seg.SpecificCharacterSet = "ISO_IR 192"
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise IntervalError(f"the folder {folder} does not exist", path=path)
        try:
            with atomic_path(path, suffix=".dcm") as tmp:
                seg.save_as(tmp, enforce_file_format=True)
        except OSError as exc:
            raise IntervalError(f"could not write the file ({exc.strerror or exc})",
                                path=path) from exc
    return SegWritten(
        path=path,
        series_instance_uid=str(seg.SeriesInstanceUID),
        sop_instance_uid=str(seg.SOPInstanceUID),
        segment_numbers=numbers,
        referenced_sop_instance_uids=tuple(str(d.SOPInstanceUID) for d in datasets),
    )


def _build(hd: Any, **kwargs: Any) -> Any:
    """highdicom's Segmentation; its complaints about the sources become a typed error."""
    try:
        return hd.seg.Segmentation(**kwargs)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.debug("highdicom refused the segmentation: %r", exc)
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UnsupportedData(
            f"a DICOM segmentation cannot be made for these source images ({detail})"
        ) from exc


def read_source_header(source: str | Path | Any) -> Any:
    """A pydicom dataset: given, or read header-only (read-only) from a path (with the
    SOP class filled in when a file lacks it)."""
    if not isinstance(source, (str, Path)):
        return source
    from pydicom import dcmread  # noqa: PLC0415

    try:
        ds = dcmread(str(source), stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - InvalidDicomError, OSError...
        raise UnreadableFile("a source image could not be read as DICOM", path=source) from exc
    _fill_sop_class(ds)
    return ds


_STORAGE_BY_MODALITY = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
}


def _fill_sop_class(ds: Any) -> None:
    """Empty SOP Class / Instance UIDs (seen in real exports) taken from the file meta
    (or, for the class, the modality).  Only the in-memory copy changes; the source file
    is never written."""
    meta = getattr(ds, "file_meta", None)
    if not str(getattr(ds, "SOPClassUID", "") or "").strip():
        uid = str(getattr(meta, "MediaStorageSOPClassUID", "") or "").strip() if meta else ""
        uid = uid or _STORAGE_BY_MODALITY.get(str(getattr(ds, "Modality", "")).upper(), "")
        if uid:
            ds.SOPClassUID = uid
    if not str(getattr(ds, "SOPInstanceUID", "") or "").strip():
        uid = str(getattr(meta, "MediaStorageSOPInstanceUID", "") or "").strip() if meta else ""
        if uid:
            ds.SOPInstanceUID = uid


def _check_one_series(datasets: list[Any]) -> None:
    uids = [str(getattr(d, "SOPInstanceUID", "") or "").strip() for d in datasets]
    if not all(uids):
        raise UnsupportedData(
            "some source images have no SOP Instance UID, so a DICOM segmentation cannot "
            "reference them; save it as NIfTI instead"
        )
    if len(set(uids)) != len(uids):
        raise UnsupportedData("the same source image was given twice")
    series = {str(getattr(d, "SeriesInstanceUID", "")) for d in datasets}
    if len(series) != 1:
        raise UnsupportedData(
            "the source images belong to several series; a DICOM segmentation references one"
        )
    for d in datasets:
        if int(getattr(d, "NumberOfFrames", 1) or 1) != 1:
            raise UnsupportedData(
                "saving a DICOM segmentation of a multi-frame (enhanced) image is not supported "
                "yet; save it as NIfTI instead"
            )


def _match_slices(labels: Volume, datasets: list[Any]) -> list[int]:
    """For each source image, the index k of the slice of ``labels``' grid it is (by
    position; the array is not read)."""
    ni, nj, nk = labels.size_ijk
    found: dict[int, int] = {}
    out = []
    for n, ds in enumerate(datasets):
        try:
            ipp = np.asarray([float(v) for v in ds.ImagePositionPatient])
            iop = np.asarray([float(v) for v in ds.ImageOrientationPatient])
            rows, cols = int(ds.Rows), int(ds.Columns)
        except (AttributeError, TypeError, ValueError) as exc:
            raise UnsupportedData(
                "a source image has no usable position or orientation; it cannot be referenced"
            ) from exc
        if (rows, cols) != (nj, ni):
            raise UnsupportedData(
                f"the label map ({ni} x {nj}) is not on the source images' grid "
                f"({cols} x {rows}); segmentations must be saved on the series they were made on"
            )
        direction = labels.direction
        if not (np.allclose(iop[:3], direction[:, 0], atol=1e-3)
                and np.allclose(iop[3:], direction[:, 1], atol=1e-3)):
            raise UnsupportedData("the label map's orientation differs from the source images'")
        ijk = labels.lps_to_index(ipp)
        k = int(round(float(ijk[2])))
        if (abs(ijk[0]) > _POS_TOL_VOXEL or abs(ijk[1]) > _POS_TOL_VOXEL
                or abs(ijk[2] - k) > _POS_TOL_VOXEL or not 0 <= k < nk):
            raise UnsupportedData(
                "a source image does not lie on a slice of the label map; the label map must be "
                "on the source series' grid"
            )
        if k in found:
            raise UnsupportedData(
                "two source images lie at the same position (several acquisitions in one "
                "series?); choose one stack"
            )
        found[k] = n
        out.append(k)
    return out


def _check_covered(array: np.ndarray, slices: Sequence[int]) -> None:
    """Every labelled slice of ``array`` has a source image (one slice at a time: no copy)."""
    covered = set(slices)
    missing = sum(1 for k in range(array.shape[0]) if k not in covered and np.any(array[k]))
    if missing:
        raise UnsupportedData(
            f"{missing} labelled slice(s) have no source image; give the whole series"
        )


def _segment_table(table: LabelTable | None,
                   frames: np.ndarray) -> tuple[LabelTable, dict[int, int]]:
    """The labels to write (every named label, and any value in ``frames`` no label
    names) and label value -> segment number."""
    table = table or LabelTable()
    if frames.dtype.kind not in "ui":
        raise UnsupportedData("a label map must hold whole numbers to be saved as DICOM SEG")
    top = int(frames.max()) if frames.size else 0
    if frames.size and int(frames.min()) < 0:
        raise UnsupportedData("a label map cannot hold negative values")
    named = {i.value for i in table}
    unnamed: list[int] = []
    if any(v not in named for v in range(1, top + 1)):  # only then look at every voxel
        unnamed = sorted({int(v) for v in np.unique(frames) if v != 0} - named)
    if unnamed:
        extra = LabelTable.for_values(unnamed)
        table = LabelTable(list(table) + list(extra))
    numbers = {info.value: n for n, info in enumerate(table, start=1)}
    return table, numbers


def _description(hd: Any, number: int, name: str, color: tuple[int, int, int],
                 algorithm: AlgorithmInfo | None) -> Any:
    from pydicom.sr.codedict import codes  # noqa: PLC0415

    category, prop = _property_codes(name)
    ident = None
    if algorithm is not None:
        ident = hd.AlgorithmIdentificationSequence(
            name=algorithm.name[:64],
            family=(codes.cid7162.ArtificialIntelligence
                    if algorithm.family == "Artificial Intelligence"
                    else hd.sr.CodedConcept("123109", "DCM", algorithm.family[:64])),
            version=algorithm.version[:64],
            source=algorithm.source[:64] or None,
            parameters=dict(algorithm.parameters) or None,
        )
    rgb = tuple(int(np.clip(c, 0, 255)) for c in color)
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=name[:64] or f"Segment {number}",
        segmented_property_category=category,
        segmented_property_type=prop,
        algorithm_type="AUTOMATIC" if algorithm is not None else "MANUAL",
        algorithm_identification=ident,
        tracking_uid=hd.UID(),
        tracking_id=name[:64] or f"Segment {number}",
        display_color=hd.color.CIELabColor.from_rgb(*rgb),
    )


def _property_codes(name: str) -> tuple[Any, Any]:
    """(category, type): a SNOMED code for a known structure name, else Tissue/Tissue."""
    from pydicom.sr.codedict import codes  # noqa: PLC0415

    words = re.findall(r"[a-z]+", name.lower())
    key = "".join(w.capitalize() for w in words)
    # the whole name, then single words from the last (the head noun: "liver lesion")
    for candidate in (key, *(w.capitalize() for w in reversed(words))):
        if not candidate:
            continue
        try:
            code = getattr(codes.SCT, candidate)
        except AttributeError:
            continue
        abnormal = candidate.lower() in _ABNORMAL
        category = (codes.cid7150.MorphologicallyAbnormalStructure if abnormal
                    else codes.cid7150.AnatomicalStructure)
        return category, code
    return codes.cid7150.Tissue, codes.SCT.Tissue


def _code_string(text: str) -> str:
    """A DICOM CS value: upper case, A-Z 0-9 space underscore, at most 16 characters."""
    cleaned = re.sub(r"[^A-Z0-9 _]", "_", text.upper())[:16].strip()
    return cleaned or "SEGMENTATION"


def save_segmentation(
    labels: Volume,
    path: str | Path,
    *,
    sources: Sequence[str | Path | Any] = (),
    algorithm: AlgorithmInfo | None = None,
    series_description: str = "Segmentation",
) -> list[Path]:
    """Save a label map by the extension of ``path``; returns the files written.

    ``.dcm``: a DICOM SEG referencing ``sources`` (the series' files);
    ``.nii.gz``/``.nii``/``.nrrd``/``.mha``...: the label map, plus its names and colours
    in ``<stem>.labels.json`` beside it (read back by Interval, see
    :mod:`interval.io.label_tables`).
    """
    from interval.io.image_files import SUPPORTED_TEXT, image_extension, write_image

    path = Path(path)
    if path.suffix.lower() == ".dcm":
        if not sources:
            raise UnsupportedData(
                "a DICOM segmentation needs the DICOM images it was made on; this image was "
                "not loaded from DICOM, so save it as NIfTI instead"
            )
        write_dicom_seg(labels, path, sources, algorithm=algorithm,
                        series_description=series_description)
        return [path]
    if image_extension(path) is None:
        raise IntervalError(f"cannot tell the format of {path.name}; use {SUPPORTED_TEXT} "
                            "or DICOM SEG (.dcm)")
    written = [write_image(labels, path)]
    if labels.labels is not None:
        from interval.io.label_tables import json_sidecar_path, write_label_json

        written.append(write_label_json(labels.labels, json_sidecar_path(path)))
    return written
