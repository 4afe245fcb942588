"""DICOM RT Structure Sets: read ROI contours and rasterise them onto an image grid.

An RTSTRUCT holds, per ROI, closed planar polygons in patient space (LPS mm), one or
more per image plane (``ROIContourSequence > ContourSequence > ContourData``), named
and coloured in ``StructureSetROISequence`` (``ROIName``) and ``ROIContourSequence``
(``ROIDisplayColor``).

:func:`rtstruct_label_maps` turns them into label maps on an image's voxel grid:

* each polygon is mapped into the image's index space and filled on the slice it lies
  on; a voxel is inside when its centre is (even-odd rule, :func:`fill_polygon`);
* several polygons of one ROI on one slice are combined by exclusive or, so a polygon
  inside another is a hole (the convention of most planning systems and of
  plastimatch / rt-utils);
* polygons that do not lie in a slice of the grid (e.g. drawn on another plane) are
  skipped with a warning; open contours and points are ignored;
* ROIs that overlap (an organ inside BODY) go to separate label maps, so nothing is
  lost: each label map holds ROIs that do not overlap, label value = ROI number.

No Qt here: safe to run in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from interval.core.errors import UnreadableFile, UnsupportedData
from interval.core.labels import LabelInfo, LabelTable, default_color
from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume

RTSTRUCT_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.481.3"
SLICE_TOLERANCE = 0.25  # a polygon may stray this far (in slices) from its slice's centre


@dataclass
class RoiContours:
    """One ROI: number, name, display colour and its closed polygons (each ``(n, 3)`` LPS mm)."""

    number: int
    name: str
    color: tuple[int, int, int]
    polygons: list[np.ndarray] = field(default_factory=list)


@dataclass
class StructureSet:
    """What an RTSTRUCT file holds."""

    label: str
    frame_of_reference_uid: str
    rois: list[RoiContours]
    series_instance_uid: str = ""
    study_instance_uid: str = ""


# --- reading ----------------------------------------------------------------------------
def read_rtstruct(path: str | Path) -> StructureSet:
    """Read the ROIs and their closed planar contours from an RTSTRUCT file."""
    path = Path(path)
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure is "unreadable"
        raise UnreadableFile(f"{path.name} cannot be read as DICOM: {_first_line(exc)}") from exc
    if str(getattr(ds, "SOPClassUID", "")) != RTSTRUCT_SOP_CLASS_UID and getattr(
        ds, "Modality", ""
    ) != "RTSTRUCT":
        raise UnsupportedData(f"{path.name} is not an RT Structure Set")
    names: dict[int, str] = {}
    frame_of_ref = ""
    for item in ds.get("StructureSetROISequence", None) or []:
        number = _int(item.get("ROINumber", None))
        if number is not None:
            names[number] = str(item.get("ROIName", "") or "").strip() or f"ROI {number}"
            frame_of_ref = frame_of_ref or str(item.get("ReferencedFrameOfReferenceUID", "") or "")
    rois: dict[int, RoiContours] = {}
    for item in ds.get("ROIContourSequence", None) or []:
        number = _int(item.get("ReferencedROINumber", None))
        if number is None or number <= 0:
            continue
        roi = rois.setdefault(
            number,
            RoiContours(number, names.get(number, f"ROI {number}"), _color(item, number)),
        )
        for contour in item.get("ContourSequence", None) or []:
            kind = str(contour.get("ContourGeometricType", "CLOSED_PLANAR") or "").upper()
            if kind != "CLOSED_PLANAR":
                continue
            data = contour.get("ContourData", None)
            if data is None:
                continue
            points = np.asarray([float(v) for v in data], dtype=np.float64)
            if points.size < 9 or points.size % 3:
                continue
            roi.polygons.append(points.reshape(-1, 3))
    for number, name in names.items():  # ROIs named but without contours stay listed
        rois.setdefault(number, RoiContours(number, name, default_color(number)))
    if not frame_of_ref:
        refs = ds.get("ReferencedFrameOfReferenceSequence", None) or []
        frame_of_ref = str(refs[0].get("FrameOfReferenceUID", "") or "") if refs else ""
    return StructureSet(
        label=str(ds.get("StructureSetLabel", "") or "").strip(),
        frame_of_reference_uid=frame_of_ref,
        rois=[rois[n] for n in sorted(rois)],
        series_instance_uid=str(ds.get("SeriesInstanceUID", "") or ""),
        study_instance_uid=str(ds.get("StudyInstanceUID", "") or ""),
    )


def _color(item: pydicom.Dataset, number: int) -> tuple[int, int, int]:
    value = item.get("ROIDisplayColor", None)
    try:
        rgb = tuple(max(0, min(255, int(float(v)))) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        rgb = ()
    return rgb if len(rgb) == 3 else default_color(number)  # type: ignore[return-value]


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


# --- rasterising --------------------------------------------------------------------------
def fill_polygon(shape: tuple[int, int], xy: np.ndarray) -> np.ndarray:
    """Boolean ``(rows, cols)`` mask of the pixels whose centre lies inside a polygon.

    ``xy`` is ``(n, 2)``: column (x) and row (y) index of each vertex, pixel centres at
    whole numbers.  Even-odd rule, scanline per row; a centre exactly on a left or top
    edge is inside, on a right or bottom edge outside (so polygons sharing an edge
    never both claim a pixel).
    """
    rows, cols = shape
    mask = np.zeros(shape, dtype=bool)
    xy = np.asarray(xy, dtype=np.float64)
    if len(xy) < 3 or not np.all(np.isfinite(xy)):
        return mask
    x0, y0 = xy[:, 0], xy[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    r0 = max(int(np.ceil(y0.min())), 0)
    r1 = min(int(np.floor(y0.max())), rows - 1)
    if r1 < r0:
        return mask
    y = np.arange(r0, r1 + 1, dtype=np.float64)[:, None]  # (R, 1)
    crosses = ((y0 <= y) & (y < y1)) | ((y1 <= y) & (y < y0))  # half-open in y
    with np.errstate(divide="ignore", invalid="ignore"):
        x = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    x = np.where(crosses, x, np.nan)
    x.sort(axis=1)  # NaNs last; every row has an even number of crossings
    n_pairs = x.shape[1] // 2
    starts = np.ceil(x[:, 0 : 2 * n_pairs : 2])
    ends = np.ceil(x[:, 1 : 2 * n_pairs : 2])  # centre < end: the pixel before ceil(end)
    valid = np.isfinite(starts) & np.isfinite(ends)
    row_idx = np.broadcast_to(np.arange(len(y))[:, None], starts.shape)[valid]
    a = np.clip(starts[valid], 0, cols).astype(np.int64)
    b = np.clip(ends[valid], 0, cols).astype(np.int64)
    diff = np.zeros((len(y), cols + 1), dtype=np.int32)
    np.add.at(diff, (row_idx, a), 1)
    np.add.at(diff, (row_idx, b), -1)
    mask[r0 : r1 + 1] = np.cumsum(diff[:, :cols], axis=1) > 0
    return mask


def roi_mask(roi: RoiContours, image: Volume) -> tuple[np.ndarray, int]:
    """The ROI on ``image``'s grid (``[k, j, i]`` booleans) and how many polygons were
    skipped because they do not lie in one of its slices."""
    nk, nj, ni = image.shape
    mask = np.zeros((nk, nj, ni), dtype=bool)
    skipped = 0
    for polygon in roi.polygons:
        ijk = image.lps_to_index(polygon)
        k = float(np.median(ijk[:, 2]))
        slice_k = int(np.rint(k))
        if np.abs(ijk[:, 2] - slice_k).max() > SLICE_TOLERANCE + 0.5 or not 0 <= slice_k < nk:
            skipped += 1
            continue
        mask[slice_k] ^= fill_polygon((nj, ni), ijk[:, :2])
    return mask, skipped


def rtstruct_label_maps(path: str | Path, image: Volume) -> list[Volume]:
    """The ROIs of an RTSTRUCT as label maps on ``image``'s grid (see the module notes).

    Label values are ROI numbers, named and coloured from the file.  Raises
    :class:`UnsupportedData` when the structure set was drawn on another scan (another
    frame of reference) or none of its contours lies on the image.
    """
    path = Path(path)
    structure = read_rtstruct(path)
    for_image = image.metadata.frame_of_reference_uid
    if structure.frame_of_reference_uid and for_image and structure.frame_of_reference_uid != for_image:
        raise UnsupportedData(
            f"{path.name} was drawn on another scan (its frame of reference differs from "
            "the image's), so it cannot be placed on this image"
        )
    groups: list[tuple[np.ndarray, list[RoiContours]]] = []  # label array, its ROIs
    dtype = np.uint8 if max((r.number for r in structure.rois), default=1) <= 255 else np.uint16
    skipped = 0
    missing: list[str] = []
    for roi in structure.rois:
        mask, n_skipped = roi_mask(roi, image)
        skipped += n_skipped
        if not mask.any():
            missing.append(roi.name)
            continue
        group = next((g for g in groups if not g[0][mask].any()), None)
        if group is None:
            group = (np.zeros(image.shape, dtype=dtype), [])
            groups.append(group)
        array, members = group
        array[mask] = roi.number
        members.append(roi)
    if not groups:
        raise UnsupportedData(f"none of the contours of {path.name} lies on this image")
    notes: list[str] = []
    if skipped:
        notes.append(f"{skipped} contour(s) of {path.name} do not lie in a slice of this image "
                     "and were left out.")
    if missing:
        notes.append(f"{path.name}: no contour on this image for " + ", ".join(missing) + ".")
    return [_label_map(array, members, image, structure, path, tuple(notes))
            for array, members in groups]


def _label_map(array: np.ndarray, rois: list[RoiContours], image: Volume,
               structure: StructureSet, path: Path, notes: tuple[str, ...]) -> Volume:
    table = LabelTable([LabelInfo(r.number, r.name, r.color) for r in rois])
    metadata = VolumeMetadata(
        modality="RTSTRUCT",
        series_instance_uid=structure.series_instance_uid,
        series_description=structure.label or path.name,
        study_instance_uid=structure.study_instance_uid,
        frame_of_reference_uid=structure.frame_of_reference_uid,
        sop_class_uid=RTSTRUCT_SOP_CLASS_UID,
        source=str(path),
        warnings=notes,
    )
    return Volume(array, image.spacing, image.origin, image.direction.copy(), metadata, table)
