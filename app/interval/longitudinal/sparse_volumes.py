"""Keep only what later steps read of a timepoint's arrays, so memory stays near one scan.

The pipeline works through the timepoints one at a time; what it keeps of each scan for
the end (the matching and the key images) is small: the lesion components, and the image
around the places the key images show.  These helpers build such *sparse* arrays: a
zero array of the full shape (``np.zeros`` reserves address space, but the operating
system backs only the pages that are written) with the kept boxes copied in, so every
later step indexes them exactly like the full arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from interval.core.volume import Volume
from interval.longitudinal.model import LesionMeasurement, LongitudinalReport

Box = tuple[tuple[int, int, int], tuple[int, int, int]]  # (k, j, i) lo inclusive, hi exclusive


def sparse_zeros(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """``np.zeros`` whose untouched pages cost nothing: numpy asks the kernel for 2 MiB
    huge pages on large arrays, which would make every touched box cost 2 MiB pages;
    a sparse array is allocated without that request."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # pragma: no cover - another numpy layout: plain zeros
        return np.zeros(shape, dtype=dtype)
    previous = _set_madvise_hugepage(False)
    try:
        return np.zeros(shape, dtype=dtype)
    finally:
        _set_madvise_hugepage(previous)


def grid_only(volume: Volume) -> Volume:
    """A Volume with ``volume``'s grid and metadata whose array holds no memory (all zero,
    read-only): for steps that need the geometry only."""
    empty = np.broadcast_to(np.zeros((), dtype=volume.dtype), volume.shape)
    return Volume(empty, volume.spacing, volume.origin, volume.direction, volume.metadata,
                  volume.labels)


def sparse_copy(array: np.ndarray, boxes: Iterable[Box], dtype: np.dtype | None = None) -> np.ndarray:
    """Zeros of ``array``'s shape with ``array``'s values inside ``boxes``."""
    out = sparse_zeros(array.shape, dtype or array.dtype)
    for lo, hi in boxes:
        region = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        out[region] = array[region]
    return out


def smallest_label_dtype(n_labels: int) -> np.dtype:
    """uint8 / uint16 / int32, the smallest type holding ids 0..n_labels."""
    if n_labels < 2**8:
        return np.dtype(np.uint8)
    if n_labels < 2**16:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


def lesion_boxes(measurements: Sequence[LesionMeasurement], shape: tuple[int, int, int],
                 margin: int = 1) -> list[Box]:
    """The bounding box of every lesion component, grown by ``margin`` voxels."""
    out = []
    for m in measurements:
        lo = tuple(max(int(v) - margin, 0) for v in m.bbox_lo)
        hi = tuple(min(int(v) + margin, n) for v, n in zip(m.bbox_hi, shape, strict=True))
        out.append((lo, hi))
    return out  # type: ignore[return-value]


def components_in_reference(registration: object, components: np.ndarray, moving: Volume,
                            measurements: Sequence[LesionMeasurement],
                            reference: Volume) -> np.ndarray:
    """The component map of a follow-up resampled onto the reference (baseline) grid, one
    lesion box at a time (nearest neighbour): the result costs memory only where lesions are."""
    dtype = smallest_label_dtype(int(components.max()) if components.size else 0)
    out = sparse_zeros(reference.shape, dtype)
    ref_size = np.array(reference.size_ijk)
    for lo, hi in lesion_boxes(measurements, components.shape, margin=2):
        crop = np.ascontiguousarray(components[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]],
                                    dtype=dtype)
        origin = moving.index_to_lps((lo[2], lo[1], lo[0]))
        crop_volume = Volume(crop, moving.spacing, tuple(origin), moving.direction)
        corners = np.array([[i, j, k] for i in (lo[2] - 0.5, hi[2] - 0.5)
                            for j in (lo[1] - 0.5, hi[1] - 0.5)
                            for k in (lo[0] - 0.5, hi[0] - 0.5)], dtype=np.float64)
        in_ref = reference.lps_to_index(registration.to_reference(moving.index_to_lps(corners)))
        start = np.clip(np.floor(in_ref.min(axis=0)).astype(int) - 2, 0, ref_size)
        stop = np.clip(np.ceil(in_ref.max(axis=0)).astype(int) + 3, 0, ref_size)
        if np.any(stop <= start):
            continue  # the lesion maps outside the baseline scan
        size = tuple(int(v) for v in stop - start)
        sub = Volume(np.broadcast_to(np.zeros((), dtype), (size[2], size[1], size[0])),
                     reference.spacing, tuple(reference.index_to_lps(start.astype(float))),
                     reference.direction)
        resampled = registration.resample_labels(crop_volume, sub)
        region = out[start[2]:stop[2], start[1]:stop[1], start[0]:stop[0]]
        np.copyto(region, resampled.astype(dtype, copy=False), where=resampled > 0)
    return out


def key_image_boxes(report: LongitudinalReport, timepoint: int, image: Volume,
                    slab: int = 2) -> list[Box]:
    """Boxes of ``image`` (timepoint ``timepoint``) that the key images will read: for every
    shown lesion, a slab of slices around the lesion (or where it would be) as wide as its
    tiles' field of view."""
    from interval.longitudinal.key_images import _mapped_position, field_of_view_mm
    from interval.longitudinal.report_common import lesion_at, shown_tracks

    boxes: list[Box] = []
    size = np.array(image.size_ijk)
    for track in shown_tracks(report):
        items = [lesion_at(report, track, tp.index) for tp in report.timeline.timepoints]
        half_mm = field_of_view_mm(items) / 2.0 + 10.0
        item = items[timepoint]
        if item.seen and item.main is not None:
            ends = np.asarray([item.main.long_axis.start_lps, item.main.long_axis.end_lps])
            centre = ends.mean(axis=0)
        else:
            centre = _mapped_position(report, item)
            if centre is None:
                continue
        c = image.lps_to_index(centre)
        half = np.array([half_mm / image.spacing[0], half_mm / image.spacing[1], slab])
        lo = np.clip(np.floor(c - half).astype(int), 0, size)
        hi = np.clip(np.ceil(c + half).astype(int) + 1, 0, size)
        if np.all(hi > lo):
            boxes.append(((int(lo[2]), int(lo[1]), int(lo[0])),
                          (int(hi[2]), int(hi[1]), int(hi[0]))))
    return boxes
