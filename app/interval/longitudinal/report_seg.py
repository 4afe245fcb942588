"""The DICOM SEG of one timepoint's tracked lesions: one segment per lesion, named after it.

The component map of the timepoint becomes label slices on the source series' grid (only
the slices holding a lesion) in which every component carries the value of the lesion
(track) it belongs to; each lesion
present there becomes one segment named ``"<name> lesion"`` (so the segment's property
type is "Lesion", not the organ it sits in), written with
:func:`interval.io.seg_writer.write_dicom_seg_slices`, referencing the
source images of those slices.  A component shared by several tracks (a
merge) belongs to the first track that is not marked as merged into another; a track
whose components all belong to others has no segment at that timepoint.

Excluded lesions (the reader marked them as false positives) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interval.core.labels import LabelInfo, LabelTable, default_color
from interval.core.volume import Volume
from interval.io.seg_writer import AlgorithmInfo, SegWritten, write_dicom_seg_slices
from interval.longitudinal.model import LongitudinalReport
from interval.longitudinal.report_common import (
    ReportError,
    as_component_volume,
    component_ids,
    lesion_at,
    lesion_title,
    shown_tracks,
)

SEG_SERIES_NUMBER = 901
_LESION_WORDS = re.compile(r"(?i)\b(lesion|tumou?r|neoplasm|mass|nodule|metastas[ie]s)\b")


@dataclass(frozen=True)
class TimepointSeg:
    """What :func:`write_timepoint_seg` wrote for one timepoint."""

    timepoint: int
    written: SegWritten
    segment_of: dict[str, int]  # lesion_id -> segment number
    sources: tuple[Any, ...]  # the source image headers it references (pydicom datasets)

    @property
    def path(self) -> Path:
        return self.written.path


def segment_label(name: str) -> str:
    """The segment's name: the lesion's name, with " lesion" added unless it says so."""
    return name if _LESION_WORDS.search(name) else f"{name} lesion"


def lesion_slices(report: LongitudinalReport, timepoint: int, components: Volume,
                  image: Volume) -> tuple[dict[int, np.ndarray], dict[str, int], LabelTable]:
    """The tracked lesions of ``timepoint`` on ``image``'s grid, given only where they are.

    Returns slice index k -> that slice's label values (rows x columns, only the slices
    holding a lesion, in order), lesion_id -> label value (1..n in the order of the shown
    tracks) and the label table naming the values.  Only the lesions' bounding boxes (or,
    without them, the slices holding lesion voxels) of the component map are read, and
    no array of the whole grid is made (except when the map must first be resampled onto
    ``image``'s grid)."""
    comps = components
    regions = None
    if comps.same_grid(image):
        regions = _bbox_regions(report, timepoint, image.shape)
    else:
        if comps.labels is None:
            comps = as_component_volume(comps, None, component_ids(report, timepoint))
        from interval.io.segmentation import place_on_grid  # noqa: PLC0415 - SimpleITK

        comps = place_on_grid(comps, image)  # type: ignore[arg-type]  # resampled copy
    array = comps.array
    nk, nj, ni = array.shape
    if regions is None:  # one slice (a view) at a time: no copy of the whole map
        regions = [(slice(k, k + 1),) for k in range(nk) if np.any(array[k])]
    top = max((int(np.max(array[r])) for r in regions), default=0)
    lut = np.zeros(top + 1, dtype=np.uint16)
    owner: dict[int, str] = {}
    values: dict[str, int] = {}
    infos = []
    for track in shown_tracks(report):
        item = lesion_at(report, track, timepoint)
        if not item.seen:
            continue
        mine = [c for c in item.components if 0 < c <= top and c not in owner]
        if not mine:
            continue
        value = len(values) + 1  # consecutive: the SEG writer need not scan for others
        for c in mine:
            owner[c] = track.lesion_id
            lut[c] = value
        values[track.lesion_id] = value
        infos.append(LabelInfo(value, segment_label(lesion_title(track))[:64],
                               default_color(value)))
    lut = lut.astype(np.uint8) if len(values) < 256 else lut
    frames: dict[int, np.ndarray] = {}
    for r in regions:  # a voxel gets the same value from every box that holds it
        box = lut[np.asarray(array[r])]
        for n, k in enumerate(range(*r[0].indices(nk))):
            if k not in frames:
                frames[k] = np.zeros((nj, ni), dtype=lut.dtype)
            frames[k][r[1:]] = box[n]
    used = {k: frames[k] for k in sorted(frames) if frames[k].any()}
    return used, values, LabelTable(infos)


def _bbox_regions(report: LongitudinalReport, timepoint: int,
                  shape: tuple[int, ...]) -> list[tuple[slice, ...]] | None:
    """The measured components' bounding boxes, so a large map need not be scanned; None
    when a box is missing or outside the grid."""
    regions = []
    for m in report.measurements:
        if m.timepoint != timepoint:
            continue
        if any(hi <= lo or lo < 0 or hi > n
               for lo, hi, n in zip(m.bbox_lo, m.bbox_hi, shape, strict=True)):
            return None
        regions.append(tuple(slice(lo, hi)
                             for lo, hi in zip(m.bbox_lo, m.bbox_hi, strict=True)))
    return regions


def algorithm_for(report: LongitudinalReport, timepoint: int) -> AlgorithmInfo | None:
    """The model that segmented ``timepoint`` (None for a label file given by the user)."""
    for s in report.segmentations:
        if s.timepoint == timepoint and s.kind == "model":
            return AlgorithmInfo(name=(s.model or s.description or "model")[:64],
                                 version=(s.model_version or "unknown")[:64],
                                 source=(s.plugin_id or "")[:64])
    return None


def source_headers(files: Sequence[str | Path | Any], image: Volume,
                   slices: Sequence[int]) -> list[Any]:
    """Headers (read-only, no pixels) of the source images of ``slices``.

    When the files are in slice order, or in reverse slice order (checked against the
    image's SOP Instance UIDs), only those files are read; otherwise every file is read and
    the slices are found by UID, or, without UIDs, all headers are returned (the SEG
    writer then matches them by position).
    """
    from interval.io.seg_writer import read_source_header  # noqa: PLC0415 - same fix-ups as the SEG

    uids = image.metadata.sop_instance_uids
    nk = image.shape[0]
    if len(files) == len(uids) == nk and slices:
        for order in (list(files), list(files)[::-1]):
            first = read_source_header(order[slices[0]])
            if str(getattr(first, "SOPInstanceUID", "")) != uids[slices[0]]:
                continue
            picked = [first] + [read_source_header(order[k]) for k in slices[1:]]
            if all(str(getattr(d, "SOPInstanceUID", "")) == uids[k]
                   for d, k in zip(picked, slices, strict=True)):
                return picked
    every = [read_source_header(f) for f in files]
    if len(uids) == nk and slices:
        by_uid = {str(getattr(d, "SOPInstanceUID", "")): d for d in every}
        picked = [by_uid.get(uids[k]) for k in slices]
        if all(d is not None for d in picked):
            return picked
    return every


def write_timepoint_seg(report: LongitudinalReport, timepoint: int, components: Volume,
                        image: Volume, files: Sequence[str | Path | Any], path: str | Path,
                        ) -> TimepointSeg | None:
    """Write the SEG of ``timepoint`` (None when no tracked lesion is present there).

    ``files`` are the source series' files (any order) or their pydicom datasets; the SEG
    references the images of the slices that hold a lesion.
    """
    frames, values, table = lesion_slices(report, timepoint, components, image)
    return write_seg_of_slices(report, timepoint, frames, values, table, image, files, path)


def write_seg_of_slices(report: LongitudinalReport, timepoint: int,
                        frames: dict[int, np.ndarray], values: dict[str, int],
                        table: LabelTable, grid: Volume, files: Sequence[str | Path | Any],
                        path: str | Path) -> TimepointSeg | None:
    """:func:`write_timepoint_seg` from what :func:`lesion_slices` returned (``grid`` gives
    the geometry and SOP Instance UIDs of the image; its array is not read)."""
    if not values or not frames:
        return None
    if not files:
        raise ReportError("the DICOM files of this timepoint are not known, so no DICOM "
                          "segmentation can reference them")
    sources = source_headers(files, grid, list(frames))
    written = write_dicom_seg_slices(
        grid, frames, table, path, sources, algorithm=algorithm_for(report, timepoint),
        series_description=f"Interval tracked lesions ({_label(report, timepoint)})"[:64],
        series_number=SEG_SERIES_NUMBER, content_label="LESIONS",
    )
    segment_of = {lid: written.segment_numbers[v] for lid, v in values.items()}
    return TimepointSeg(timepoint, written, segment_of, tuple(sources))


def _label(report: LongitudinalReport, timepoint: int) -> str:
    for tp in report.timeline.timepoints:
        if tp.index == timepoint:
            return tp.label
    return f"timepoint {timepoint}"
