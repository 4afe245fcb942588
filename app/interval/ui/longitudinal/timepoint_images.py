"""What the side-by-side timepoint views show, without Qt: scans, label maps, lesion points.

* :func:`default_timepoints` - the columns opened first: the baseline and up to two of the
  latest follow-ups;
* :class:`ScanLoader` - one timepoint's CT (read again from the timeline's ``source`` with
  the report's stack uid; a folder shared by several timepoints is indexed once) and its
  label map (``labels_tpN`` in the outputs, else the ``--labels`` file it came from), both
  run on a worker thread with progress and cancel; the scan can arrive progressively
  (:class:`PartialImages`), the slice a view will show first;
* :func:`lesion_focus` - where a lesion is at a timepoint: its own centroid there, else the
  point mapped from the nearest timepoint where it is seen;
* :func:`axis_marks` - the RECIST long and short axes of the lesions at one timepoint.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from interval.core.errors import IntervalError
from interval.core.labels import LabelInfo, LabelTable
from interval.core.volume import Volume
from interval.longitudinal.model import LongitudinalReport, Vec3

if TYPE_CHECKING:
    from interval.longitudinal.lesion_rows import LesionRow

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]
PhaseFn = Callable[[str], None]


def default_timepoints(report: LongitudinalReport) -> list[int]:
    """The baseline and up to two of the latest follow-ups (timeline order)."""
    indices = sorted(tp.index for tp in report.timeline.timepoints)
    if len(indices) <= 3:
        return indices
    return [indices[0], *indices[-2:]]


def timepoint_label(report: LongitudinalReport, timepoint: int) -> str:
    """``"follow-up 1"``: the timeline's name of one timepoint."""
    tp = next((t for t in report.timeline.timepoints if t.index == timepoint), None)
    return tp.label if tp is not None else f"timepoint {timepoint + 1}"


def timepoint_title(report: LongitudinalReport, timepoint: int) -> str:
    """``"follow-up 1 · 2023-05-30"`` (label and study date) of one timepoint."""
    tp = next((t for t in report.timeline.timepoints if t.index == timepoint), None)
    if tp is None:
        return f"timepoint {timepoint + 1}"
    date = tp.study_date.isoformat() if tp.study_date else "date unknown"
    return f"{tp.label} · {date}"


def label_map_path(report: LongitudinalReport, out_dir: Path, timepoint: int) -> Path | None:
    """The label map of ``timepoint``: the one the pipeline saved, else the file it read."""
    rel = report.outputs.get(f"labels_tp{timepoint + 1}")
    if rel and (out_dir / rel).is_file():
        return out_dir / rel
    for s in report.segmentations:
        if s.timepoint == timepoint and s.path and Path(s.path).is_file():
            return Path(s.path)
    return None


def lesion_outline_table(table: LabelTable) -> LabelTable:
    """``table`` with only the lesion labels visible (organs stay hidden); all of them when
    no name means a lesion."""
    from interval.longitudinal.lesion_labels import lesion_label_values  # noqa: PLC0415

    lesions = lesion_label_values(table)
    if not lesions:
        return table
    return LabelTable([LabelInfo(i.value, i.name, i.color, i.value in lesions) for i in table])


@dataclass(frozen=True)
class TimepointImages:
    """One timepoint's scan, its label map (None when there is none) and why not."""

    volume: Volume
    labels: Volume | None
    note: str = ""


@dataclass(frozen=True)
class PartialImages:
    """A scan still being read: ``images.volume``'s array is filled in place, and
    ``filled[k]`` says whether slice ``k`` holds its final values yet."""

    images: TimepointImages
    filled: np.ndarray

    @property
    def complete(self) -> bool:
        return bool(self.filled.all())


PartialFn = Callable[[PartialImages], None]
PointFn = Callable[[], "Vec3 | None"]


class ScanLoader:
    """Loads timepoints of one report; safe to call from several worker threads."""

    def __init__(self, report: LongitudinalReport, out_dir: Path) -> None:
        self.report = report
        self.out_dir = Path(out_dir)
        self._lock = threading.Lock()
        self._folder_locks: dict[Path, threading.Lock] = {}
        self._indices: dict[Path, object] = {}  # source -> DicomIndex

    def source_problem(self, timepoint: int) -> str:
        """Why the scan of ``timepoint`` cannot be read, found without reading it ("" if
        it may be)."""
        tp = next((t for t in self.report.timeline.timepoints if t.index == timepoint), None)
        if tp is None:
            return f"The report has no timepoint {timepoint + 1}."
        if not tp.source:
            return f"The report does not say where the scan of {tp.label} was read from."
        if not Path(tp.source).exists():
            return (f"The scan of {tp.label} is not found where it was read from "
                    f"({tp.source}).")
        return ""

    def load(self, timepoint: int, *, progress: ProgressFn | None = None,
             cancel: CancelFn | None = None, phase: PhaseFn | None = None,
             on_partial: PartialFn | None = None,
             first_point: PointFn | None = None) -> TimepointImages:
        """Read the label map and the scan of ``timepoint``.  Raises
        :class:`IntervalError` (with a sentence for the reader) when the scan cannot be
        read; a label map that cannot be read only leaves a ``note``.

        ``on_partial`` makes the scan's read progressive (:func:`interval.io.dicom.load.
        load_stack`): it gets a :class:`PartialImages` (without the label map, read after
        the scan) once the first slice is read, then as more are; that slice is the one
        holding ``first_point()`` (asked once the scan's geometry is known; None or no
        function: the middle slice)."""
        from interval.io.dicom.load import choose_stack, load_stack  # noqa: PLC0415
        from interval.io.dicom.policy import DEFAULT_POLICY  # noqa: PLC0415

        problem = self.source_problem(timepoint)
        if problem:
            raise IntervalError(problem)
        tp = next(t for t in self.report.timeline.timepoints if t.index == timepoint)
        source = Path(tp.source)
        if phase:
            phase("Reading the scan's headers")
        index = self._index(source, progress, cancel)
        stack = choose_stack(index, tp.series.stack_uid or tp.series.series_instance_uid,
                             source)
        if phase:
            phase("Loading the scan")
        partial = None
        if on_partial is not None:
            def partial(volume: Volume, filled: np.ndarray) -> None:
                on_partial(PartialImages(TimepointImages(volume, None), filled))
        volume = load_stack(stack, DEFAULT_POLICY, progress=progress, cancel=cancel,
                            on_partial=partial, first_point=first_point)
        if phase:
            phase("Loading the label map")
        labels, note = self._labels(timepoint, tp.label)
        return TimepointImages(volume, labels, note)

    def _index(self, source: Path, progress: ProgressFn | None, cancel: CancelFn | None):
        from interval.io.dicom.index import index_files, index_folder  # noqa: PLC0415
        from interval.io.dicom.policy import DEFAULT_POLICY  # noqa: PLC0415

        key = source.resolve()
        with self._lock:
            folder_lock = self._folder_locks.setdefault(key, threading.Lock())
        with folder_lock:  # a second column of the same folder waits, then reuses it
            index = self._indices.get(key)
            if index is None:
                if source.is_dir():
                    index = index_folder(source, DEFAULT_POLICY, progress=progress,
                                         cancel=cancel)
                else:
                    index = index_files([source], root=source.parent, policy=DEFAULT_POLICY,
                                        progress=progress, cancel=cancel)
                self._indices[key] = index
        return index

    def _labels(self, timepoint: int, label: str) -> tuple[Volume | None, str]:
        from interval.io.segmentation import load_segmentation  # noqa: PLC0415

        path = label_map_path(self.report, self.out_dir, timepoint)
        if path is None:
            return None, f"No label map of {label} is found: outlines are not drawn."
        try:
            return load_segmentation(path), ""
        except IntervalError as exc:
            return None, f"The label map of {label} cannot be read ({exc}): outlines are " \
                         "not drawn."


# --- lesions ------------------------------------------------------------------------------

MapFn = Callable[[int, Sequence[float], int], Vec3]  # (to, point, from) -> point


def lesion_focus(row: LesionRow, timepoint: int, point_in: MapFn) -> tuple[Vec3, bool] | None:
    """Where ``row``'s lesion is at ``timepoint`` and whether it is seen there: its centroid
    there, else the centroid of the nearest timepoint where it is seen (earlier first),
    mapped; None when it is seen nowhere or cannot be mapped."""
    cell = row.cell(timepoint)
    if cell is not None and cell.centroid_lps is not None:
        return tuple(float(x) for x in cell.centroid_lps), True  # type: ignore[return-value]
    seen = [c for c in row.cells if c.centroid_lps is not None]
    for c in sorted(seen, key=lambda c: (abs(c.timepoint - timepoint), c.timepoint)):
        try:
            return point_in(timepoint, c.centroid_lps, c.timepoint), False  # type: ignore[arg-type]
        except IntervalError:
            continue
    return None


@dataclass(frozen=True)
class AxisMark:
    """One RECIST axis to draw: ``which`` "long" or "short", measured on array slice
    ``slice_index`` of a lesion spanning slices ``k_lo`` to ``k_hi`` (exclusive)."""

    lesion_id: str
    which: str
    start_lps: Vec3
    end_lps: Vec3
    slice_index: int
    length_mm: float
    k_lo: int
    k_hi: int


def axis_marks(report: LongitudinalReport, rows: Sequence[LesionRow],
               timepoint: int) -> list[AxisMark]:
    """The long and short axes of every lesion seen at ``timepoint`` (excluded ones too:
    the reader may take the exclusion back)."""
    out = []
    for row in rows:
        cell = row.cell(timepoint)
        if cell is None or cell.long_axis is None:
            continue
        main = next((m for m in report.measurements if m.timepoint == timepoint
                     and m.component in cell.components and m.long_axis == cell.long_axis),
                    None)
        k = int(cell.long_axis.slice_index)
        lo, hi = (main.bbox_lo[0], main.bbox_hi[0]) if main is not None else (k, k + 1)
        for which, axis in (("long", cell.long_axis), ("short", cell.short_axis)):
            if axis is not None and axis.length_mm > 0:
                out.append(AxisMark(row.lesion_id, which, axis.start_lps, axis.end_lps,
                                    int(axis.slice_index), float(axis.length_mm),
                                    int(min(lo, axis.slice_index)),
                                    int(max(hi, axis.slice_index + 1))))
    return out
