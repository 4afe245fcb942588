"""Segmentations: load a label map (NIfTI/NRRD/MHA or DICOM SEG) and place it on an image grid.

DICOM SEG is read with highdicom.  Every kind becomes ONE integer label map whose
values are the SEG's segment numbers, with a :class:`LabelTable` named from
``SegmentLabel`` and coloured from ``RecommendedDisplayCIELabValue`` (default
palette when absent):

* ``BINARY``: each segment's frames are its mask;
* ``FRACTIONAL``: a voxel belongs to a segment when its fraction is >= 0.5;
* ``LABELMAP`` (DICOM 2024 label-map SEG): the stored values are the segment numbers;
* overlapping segments: :func:`load_segmentation` lets the HIGHEST segment number win
  where segments overlap and records a warning (``metadata.warnings``);
  :func:`load_segmentation_groups` instead returns one label map per group of
  mutually non-overlapping segments, so nothing is lost.

:func:`place_on_grid` puts a label map on an image's voxel grid by physical
geometry (never by array shape): the same grid shares the array; a grid whose
voxel centres are a subset/permutation/flip of the image's is re-indexed exactly;
any other grid is resampled by nearest neighbour with SimpleITK.

NIfTI/NRRD/MetaImage label maps take their names and colours from a 3D Slicer
``.seg.nrrd`` header, a NIfTI label-table extension (TotalSegmentator) or a
sidecar file (see :mod:`interval.io.label_tables`), else ``"Label N"``; a
multi-layer ``.seg.nrrd`` (overlapping segments) is refused by
:func:`load_segmentation` and split into one label map per layer by
:func:`load_segmentation_groups`.  Log messages never name the file (it may
carry patient data); error messages shown to the user do.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from interval.core.errors import IntervalError, UnreadableFile, UnsupportedData
from interval.core.labels import LabelInfo, LabelTable, default_color
from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume
from interval.io.image_files import image_extension, is_image_file, read_image
from interval.io.label_tables import (
    MalformedLabelTable,
    describe_labels,
    has_slicer_segments,
    merge_with_present,
    read_nrrd_header,
    segments_table,
    slicer_layers,
    slicer_segments,
)
from interval.io.sitk_bridge import from_sitk, to_sitk

log = logging.getLogger(__name__)

SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.7"
FRACTION_THRESHOLD = 0.5
_TOL_MM = 1e-3  # voxel centres closer than this are the same point


class GeometryMismatch(IntervalError):
    """A segmentation and an image do not share a patient space (or do not overlap)."""


# --- loading --------------------------------------------------------------------------------
def load_segmentation(path: str | Path, *, segments: Sequence[int] | None = None) -> Volume:
    """Load a segmentation file as one label map (a :class:`Volume` with ``labels``).

    NIfTI/NRRD/MetaImage files must hold whole numbers; DICOM SEG segments become
    label values equal to their segment numbers (``segments`` keeps only those).
    Overlapping SEG segments: the highest segment number wins, with a warning.
    Raises :class:`UnreadableFile` / :class:`UnsupportedData` with a readable reason.
    """
    path = Path(path)
    if is_image_file(path):
        header, notes = _nrrd_header(path)
        if header is not None and has_slicer_segments(header) and slicer_layers(header) > 1:
            raise UnsupportedData(
                f"this 3D Slicer segmentation keeps its segments in {slicer_layers(header)} "
                "overlapping layers, so it cannot be shown as one label map; open it as "
                "separate layers (one label layer per Slicer layer)", path=path,
            )
        vol = _with_description(read_image(path, as_labels=True), path, header, notes)
        if segments is not None:
            keep = np.isin(vol.array, np.asarray(list(segments)))
            array = np.where(keep, vol.array, 0).astype(vol.array.dtype)
            table = LabelTable([i for i in vol.labels or [] if i.value in set(segments)])
            vol = vol.with_array(array, labels=table)
        return vol
    seg = _read_seg(path)
    table = _label_table(seg, segments)
    if seg.SegmentationType == "LABELMAP":
        hv = _get_volume(seg, path, combine_segments=True, relabel=False)
        array = np.asarray(hv.array)
        if segments is not None:
            array = np.where(np.isin(array, list(segments)), array, 0)
        array = array.astype(_label_dtype(table), copy=False)
        return _to_volume(hv, array, table, seg, path, ())
    numbers = [i.value for i in table]
    if seg.SegmentationType == "BINARY":
        combined = _combined_if_disjoint(seg, path, numbers)
        if combined is not None:
            hv = combined
            array = np.asarray(hv.array).astype(_label_dtype(table), copy=False)
            return _to_volume(hv, array, table, seg, path, ())
    ref = None
    merged: np.ndarray | None = None
    overlaps: list[tuple[int, int]] = []
    for number, mask, hv in _segment_masks(seg, path, numbers):
        if merged is None:
            ref, merged = hv, np.zeros(mask.shape, _label_dtype(table))
        _check_same_geometry(ref, hv, path)
        under = merged[mask]
        overlaps += [(int(o), number) for o in np.unique(under[under != 0])]
        merged[mask] = number  # ascending numbers: the highest wins
    if merged is None or ref is None:
        raise UnsupportedData("the segmentation has no segments", path=path)
    notes = ()
    if overlaps:
        pairs = ", ".join(f"{a}/{b}" for a, b in overlaps[:10])
        notes = (
            f"segments overlap ({pairs}); where they do, the highest segment number is shown "
            "(open the segmentation as separate groups to see every segment)",
        )
        log.warning("segmentation loaded with overlapping segments: %s", notes[0])
    return _to_volume(ref, merged, table, seg, path, notes)


def load_segmentation_groups(path: str | Path) -> list[Volume]:
    """Load a DICOM SEG as label maps, one per group of mutually non-overlapping segments.

    Segments are assigned greedily in segment-number order to the first group they do
    not overlap.  Non-SEG files (and SEGs without overlap) give a single label map.
    """
    path = Path(path)
    if is_image_file(path):
        header, notes = _nrrd_header(path)
        if header is not None and has_slicer_segments(header) and slicer_layers(header) > 1:
            return _slicer_layers(path, header, notes)
        return [load_segmentation(path)]
    seg = _read_seg(path)
    if seg.SegmentationType == "LABELMAP":
        return [load_segmentation(path)]
    table = _label_table(seg, None)
    ref = None
    groups: list[tuple[np.ndarray, list[int]]] = []
    for number, mask, hv in _segment_masks(seg, path, [i.value for i in table]):
        ref = ref or hv
        _check_same_geometry(ref, hv, path)
        for array, members in groups:
            if not array[mask].any():
                array[mask] = number
                members.append(number)
                break
        else:
            array = np.zeros(mask.shape, _label_dtype(table))
            array[mask] = number
            groups.append((array, [number]))
    if ref is None:
        raise UnsupportedData("the segmentation has no segments", path=path)
    return [
        _to_volume(ref, array, LabelTable([table[n] for n in members]), seg, path, ())
        for array, members in groups
    ]


def _nrrd_header(path: Path) -> tuple[dict[str, str] | None, list[str]]:
    """The NRRD header of ``path`` (None for other formats) and a note if it is unreadable."""
    if image_extension(path) not in (".nrrd", ".nhdr"):
        return None, []
    try:
        return read_nrrd_header(path), []
    except MalformedLabelTable as exc:
        return None, [f"the header of {path.name} could not be read ({exc.message})"]


def _with_description(vol: Volume, path: Path, header: dict[str, str] | None,
                      notes: list[str]) -> Volume:
    """``vol`` (a label map read from ``path``) named and coloured from its description."""
    present = [i.value for i in vol.labels or []]
    described = describe_labels(path, present, header if header is not None else {})
    vol = vol.with_array(vol.array, labels=described.table)
    more = tuple(notes) + described.warnings
    return vol.with_metadata(warnings=vol.metadata.warnings + more) if more else vol


def _slicer_layers(path: Path, header: dict[str, str], notes: list[str]) -> list[Volume]:
    """One label map per layer of a multi-layer 3D Slicer ``.seg.nrrd``."""
    try:
        segs, seg_notes = slicer_segments(header)
    except MalformedLabelTable as exc:
        raise UnsupportedData(f"the segments of this 3D Slicer segmentation could not be read "
                              f"({exc.message})", path=path) from exc
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise UnreadableFile("the segmentation file could not be read: " + _first_line(exc),
                             path=path) from exc
    if image.GetNumberOfComponentsPerPixel() != slicer_layers(header):
        raise UnsupportedData("the layers of this 3D Slicer segmentation do not match its "
                              "header", path=path)
    out = []
    for layer in range(image.GetNumberOfComponentsPerPixel()):
        part = from_sitk(sitk.VectorIndexSelectionCast(image, layer))
        array = part.array
        if array.dtype.kind not in "iu":
            raise UnsupportedData("a label map must hold whole numbers", path=path)
        layer_notes = list(notes) + seg_notes if layer == 0 else []
        present = [int(v) for v in np.unique(array) if v != 0]
        table = merge_with_present(segments_table(segs, layer), present, keep_all=True,
                                   source_name=path.name, notes=layer_notes)
        if not len(table):
            continue  # an empty layer without segments
        metadata = VolumeMetadata(
            series_description=f"{path.name} layer {layer + 1}", source=str(path),
            warnings=tuple(layer_notes),
        )
        out.append(Volume(array, part.spacing, part.origin, part.direction, metadata, table))
    if not out:
        raise UnsupportedData("the segmentation has no segments", path=path)
    return out


def _read_seg(path: Path):  # -> highdicom.seg.Segmentation
    import highdicom as hd  # noqa: PLC0415  (heavy import, only when a SEG is opened)

    if not path.is_file():
        raise UnreadableFile("the file does not exist or is not a file", path=path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seg = hd.seg.segread(str(path))
    except (AttributeError, ValueError, TypeError, KeyError) as exc:
        raise UnsupportedData(
            "this file is not a DICOM segmentation (SEG) that can be read: " + _first_line(exc),
            path=path,
        ) from exc
    except Exception as exc:  # pydicom's InvalidDicomError, OSError...
        raise UnreadableFile("the file could not be read as DICOM: " + _first_line(exc),
                             path=path) from exc
    return seg


def _get_volume(seg, path: Path, **kwargs):  # -> highdicom.Volume
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            hv = seg.get_volume(**kwargs)
        except Exception as exc:
            detail = _first_line(exc)
            if "overlap" in detail.lower():
                raise UnsupportedData("the segments overlap: " + detail, path=path) from exc
            log.debug("DICOM SEG get_volume failed: %s", detail)
            raise UnsupportedData(
                "the segmentation's frames do not form a 3-D volume in patient space "
                "(for example a projection X-ray or a slide)",
                path=path,
            ) from exc
    system = str(getattr(hv, "coordinate_system", "PATIENT"))
    if "PATIENT" not in system.upper():
        raise UnsupportedData(
            "the segmentation is defined on a slide (microscopy), not in patient space; "
            "it cannot be shown over a CT or MR", path=path,
        )
    return hv


def _combined_if_disjoint(seg, path: Path, numbers: list[int]):  # -> highdicom.Volume | None
    """All segments in one label array (one highdicom pass), or None when segments overlap."""
    try:
        return _get_volume(seg, path, segment_numbers=numbers, combine_segments=True,
                           relabel=False)
    except UnsupportedData as exc:
        if "overlap" in str(exc).lower():
            return None
        raise


def _segment_masks(seg, path: Path, numbers: list[int]):
    """Yield ``(number, bool mask, highdicom volume)`` per segment, ascending numbers."""
    fractional = seg.SegmentationType == "FRACTIONAL"
    for number in sorted(numbers):
        hv = _get_volume(
            seg, path, segment_numbers=[number], combine_segments=False, rescale_fractional=True
        )
        values = np.asarray(hv.array)[..., 0]
        mask = values >= FRACTION_THRESHOLD if fractional else values > 0
        yield number, mask, hv


def _check_same_geometry(ref, hv, path: Path) -> None:
    if ref is hv:
        return
    if tuple(ref.spatial_shape) != tuple(hv.spatial_shape) or not np.allclose(
        ref.affine, hv.affine, atol=1e-4
    ):
        raise UnsupportedData(
            "the segments of this segmentation are stored on different grids", path=path
        )


def _label_table(seg, segments: Sequence[int] | None) -> LabelTable:
    infos = []
    for item in seg.SegmentSequence:
        number = int(item.SegmentNumber)
        if number <= 0 or (segments is not None and number not in segments):
            continue  # 0: a label-map SEG's background
        name = str(getattr(item, "SegmentLabel", "") or f"Segment {number}")
        infos.append(LabelInfo(number, name, _segment_color(item, number)))
    if segments is not None:
        missing = sorted(set(segments) - {i.value for i in infos})
        if missing:
            raise UnsupportedData(f"the segmentation has no segment numbered {missing}")
    if not infos:
        raise UnsupportedData("the segmentation has no segments")
    return LabelTable(infos)


def _segment_color(item, number: int) -> tuple[int, int, int]:
    """RGB from RecommendedDisplayCIELabValue (DICOM-scaled CIELab), else the palette."""
    lab = getattr(item, "RecommendedDisplayCIELabValue", None)
    if lab is not None and len(lab) == 3:
        try:
            from highdicom.color import CIELabColor  # noqa: PLC0415

            rgb = CIELabColor.from_dicom_value(tuple(int(v) for v in lab)).to_rgb()
            return tuple(int(np.clip(c, 0, 255)) for c in rgb)  # type: ignore[return-value]
        except (ValueError, TypeError):
            pass
    return default_color(number)


def _label_dtype(table: LabelTable) -> np.dtype:
    top = max((i.value for i in table), default=1)
    return np.dtype(np.uint8 if top <= 255 else np.uint16)


def _to_volume(hv, array: np.ndarray, table: LabelTable, seg, path: Path,
               notes: tuple[str, ...]) -> Volume:
    """Our Volume from a highdicom volume: its array axes (p, q, r) are our (k, j, i)."""
    affine = np.asarray(hv.affine, dtype=np.float64)
    cols = affine[:3, [2, 1, 0]]  # our i, j, k axes
    spacing = np.linalg.norm(cols, axis=0)
    metadata = VolumeMetadata(
        modality="SEG",
        series_instance_uid=str(getattr(seg, "SeriesInstanceUID", "")),
        series_description=str(getattr(seg, "SeriesDescription", "") or path.name),
        study_instance_uid=str(getattr(seg, "StudyInstanceUID", "")),
        frame_of_reference_uid=str(getattr(seg, "FrameOfReferenceUID", "")),
        sop_class_uid=str(getattr(seg, "SOPClassUID", "")),
        source=str(path),
        warnings=notes,
    )
    return Volume(np.ascontiguousarray(array), tuple(spacing), tuple(affine[:3, 3]),
                  cols / spacing[None, :], metadata, table)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


# --- placement ------------------------------------------------------------------------------
def place_on_grid(labels: Volume, image: Volume) -> Volume:
    """``labels`` resampled onto ``image``'s voxel grid by physical (LPS) position.

    * the same grid: the returned Volume shares ``labels.array`` (no copy);
    * voxel centres that coincide up to an axis permutation/flip/offset (e.g. a NIfTI
      with flipped rows, or a SEG covering a few of the slices): exact re-indexing;
    * otherwise nearest-neighbour resampling (SimpleITK); voxels outside are 0.

    Raises :class:`GeometryMismatch` when both carry a Frame of Reference UID and they
    differ, or when the two volumes do not overlap in space.
    """
    if labels.labels is None:
        raise ValueError("place_on_grid needs a label map (a Volume with labels)")
    for_l = labels.metadata.frame_of_reference_uid
    for_i = image.metadata.frame_of_reference_uid
    if for_l and for_i and for_l != for_i:
        raise GeometryMismatch(
            "the segmentation was made on a different scan (its frame of reference differs "
            "from the image's), so it cannot be placed on this image"
        )
    if not _overlaps(labels, image):
        raise GeometryMismatch(
            "the segmentation lies outside the image in patient space (they do not overlap), "
            "so it cannot be placed on this image"
        )
    table = labels.labels
    if image.same_grid(labels):
        return _on_image(image, labels.array, table, labels)
    mapped = _integer_index_map(labels, image)
    if mapped is not None:
        return _on_image(image, mapped, table, labels)
    resampler = sitk.ResampleImageFilter()
    resampler.SetReferenceImage(_reference(image))
    resampler.SetInterpolator(sitk.sitkNearestNeighbor)
    resampler.SetDefaultPixelValue(0)
    out = resampler.Execute(to_sitk(labels))
    array = from_sitk(out).array.astype(labels.dtype, copy=False)
    return _on_image(image, np.ascontiguousarray(array), table, labels)


def _reference(image: Volume) -> sitk.Image:
    """An empty SimpleITK image with ``image``'s grid (no voxel copy)."""
    ref = sitk.Image([int(n) for n in image.size_ijk], sitk.sitkUInt8)
    ref.SetSpacing(image.spacing)
    ref.SetOrigin(image.origin)
    ref.SetDirection(tuple(float(d) for d in image.direction.reshape(9)))
    return ref


def _on_image(image: Volume, array: np.ndarray, table: LabelTable, labels: Volume) -> Volume:
    return Volume(array, image.spacing, image.origin, image.direction.copy(),
                  labels.metadata, table)


def _extent(vol: Volume) -> np.ndarray:
    """The 8 corners (LPS) of the volume's voxel boxes (centres +- half a voxel)."""
    n = np.asarray(vol.size_ijk, dtype=np.float64)
    idx = np.array([[a, b, c] for a in (-0.5, n[0] - 0.5) for b in (-0.5, n[1] - 0.5)
                    for c in (-0.5, n[2] - 0.5)])
    return vol.index_to_lps(idx)


def _overlaps(labels: Volume, image: Volume) -> bool:
    """Whether the label grid's box intersects the image's box (in image index space)."""
    idx = image.lps_to_index(_extent(labels))
    n = np.asarray(image.size_ijk, dtype=np.float64)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    return bool(np.all(hi > -0.5 + 1e-6) and np.all(lo < n - 0.5 - 1e-6))


def _integer_index_map(labels: Volume, image: Volume) -> np.ndarray | None:
    """Exact re-indexing when each label voxel centre IS an image voxel centre, else None."""
    t = np.linalg.inv(image.affine) @ labels.affine  # label index -> image index
    m = t[:3, :3]
    if not np.allclose(m, np.round(m), atol=1e-5) or not np.allclose(
        t[:3, 3], np.round(t[:3, 3]), atol=_TOL_MM / max(min(image.spacing), 1e-6)
    ):
        return None
    mi = np.round(m).astype(int)
    if sorted(np.abs(mi).sum(axis=0).tolist()) != [1, 1, 1] or abs(round(np.linalg.det(mi))) != 1:
        return None
    off = np.round(t[:3, 3]).astype(int)
    # Reorder/flip the label array so its (i, j, k) axes run along the image's (i, j, k).
    src = labels.array  # [k, j, i]
    perm = [int(np.nonzero(mi[row])[0][0]) for row in range(3)]  # image axis r <- label axis
    signs = [int(mi[row, perm[row]]) for row in range(3)]
    # numpy axis of label index axis a is 2 - a
    arr = np.transpose(src, [2 - perm[2], 2 - perm[1], 2 - perm[0]])  # -> [k', j', i']
    n_lab = labels.size_ijk
    start = np.empty(3, int)  # image index of the first element along each image axis
    for row in range(3):
        if signs[row] < 0:
            arr = np.flip(arr, axis=2 - row)
            start[row] = off[row] - (n_lab[perm[row]] - 1)
        else:
            start[row] = off[row]
    out = np.zeros(image.shape, dtype=labels.dtype)
    n_img = image.size_ijk
    dst, srcs = [], []
    for row in (2, 1, 0):  # numpy order k, j, i
        a0 = max(start[row], 0)
        a1 = min(start[row] + arr.shape[2 - row], n_img[row])
        if a1 <= a0:
            return out
        dst.append(slice(a0, a1))
        srcs.append(slice(a0 - start[row], a1 - start[row]))
    out[tuple(dst)] = arr[tuple(srcs)]
    return out
