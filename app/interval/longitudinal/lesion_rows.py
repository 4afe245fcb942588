"""The rows of the viewer's lesion table, built from a :class:`LongitudinalReport` (no Qt).

One :class:`LesionRow` per tracked lesion (every track, excluded ones too, in report
order) with one :class:`LesionCell` per timepoint, and one :class:`TimepointHeader` per
timepoint carrying the RECIST 1.1 result of that timepoint.  The values come from
:func:`~interval.longitudinal.report_common.lesion_at`, so the table shows the numbers the
reports show; only the per-lesion changes are computed here:

* ``change_from_baseline_pct``: the lesion's RECIST diameter against its diameter at the
  baseline (timepoint 0); ``None`` at the baseline itself, for a lesion not measured there
  (e.g. new) and where either value is unknown or the baseline value is 0;
* ``change_from_nadir_pct``: against the smallest known RECIST diameter of the lesion at
  the timepoints *before* this one (baseline included), as RECIST defines the nadir of the
  sum; ``None`` when there is none or it is 0.

* ``volume_change_from_baseline_pct``: the lesion's volume against its baseline volume,
  with the same rules (a vanished target that RECIST counted as 0 mm has 0 mL).

* ``score``: the segmentation's confidence in the lesion there (0-1,
  :meth:`~interval.longitudinal.model.LongitudinalReport.score_of`; ``None`` when unknown
  or not seen), and ``new_lesion``: what RECIST made of it as a new lesion there
  (:func:`~interval.longitudinal.report_text.new_lesion_state`: "counted", "confirmed",
  "equivocal" or "").  A row is ``equivocal`` when RECIST held the lesion equivocal and
  never counted it.

This is the one rule set of the viewer: the lesion table and
:meth:`~interval.longitudinal.workspace.LongitudinalWorkspace.rows` both use it, RECIST-consistent.  A lesion absent at a timepoint
has the value the RECIST table counted (0 mm for a vanished target) and no value when
RECIST did not count it (non-target, new, excluded); a lesion new after the baseline has
no change vs baseline; a merged one has the value RECIST gave it, if any.  A vanished
target lesion that RECIST counted as 0 mm therefore shows -100 % from its baseline.
:func:`build_lesion_rows` is the entry point; ``cell_changes`` / ``row_changes`` mark the
values the reader changed (the workspace passes them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from interval.longitudinal.model import (
    ROLE_EXCLUDED,
    ROLE_NEW,
    ROLE_NON_TARGET,
    ROLE_TARGET,
    Axis,
    LongitudinalReport,
    RecistTimepoint,
    Track,
    Vec3,
)
from interval.longitudinal.report_common import STATUS_MERGED, lesion_at, timepoint_title
from interval.longitudinal.report_text import NEW_EQUIVOCAL, new_lesion_state

CellChanges = Mapping[tuple[str, int], frozenset[str]]
RowChanges = Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class LesionCell:
    """One lesion at one timepoint (``None``: not measured / not applicable)."""

    timepoint: int
    status: str  # report_common STATUS_* ("present", "absent", "new", "split", "merged")
    long_axis_mm: float | None
    short_axis_mm: float | None
    recist_diameter_mm: float | None  # the short axis of a lymph node, else the long axis
    volume_ml: float | None
    change_from_baseline_pct: float | None  # of the RECIST diameter
    change_from_nadir_pct: float | None  # of the RECIST diameter
    merged_into: str = ""  # the lesion it merged into here
    components: tuple[int, ...] = ()  # its regions (component ids) at this timepoint
    volume_change_from_baseline_pct: float | None = None
    centroid_lps: Vec3 | None = None  # this timepoint's own space (main component): to jump
    long_axis: Axis | None = None  # of the main component (longest long axis): to draw
    short_axis: Axis | None = None
    reader_changed: frozenset[str] = frozenset()  # "long_axis", "short_axis", "tracking"
    score: float | None = None  # the segmentation's confidence, 0..1 (None: unknown)
    new_lesion: str = ""  # "counted", "confirmed", "equivocal" (report_text NEW_*) or ""


@dataclass(frozen=True)
class LesionRow:
    """One tracked lesion across the timeline."""

    lesion_id: str
    name: str  # as the reader sees (and may have renamed) it
    organ: str
    is_lymph_node: bool
    role: str  # ROLE_TARGET / ROLE_NON_TARGET / ROLE_NEW / ROLE_EXCLUDED
    role_reason: str
    role_source: str  # "auto" or "reader"
    first_seen: int
    cells: tuple[LesionCell, ...]  # in timepoint order, one per timepoint
    tracking_uid: str = ""
    reader_changed: frozenset[str] = frozenset()  # "name", "role"
    equivocal: bool = False  # a new lesion RECIST held equivocal and never counted

    @property
    def is_target(self) -> bool:
        return self.role == ROLE_TARGET

    @property
    def is_non_target(self) -> bool:
        return self.role == ROLE_NON_TARGET

    @property
    def is_new(self) -> bool:
        return self.role == ROLE_NEW

    @property
    def is_excluded(self) -> bool:
        return self.role == ROLE_EXCLUDED

    def cell(self, timepoint: int) -> LesionCell | None:
        for c in self.cells:
            if c.timepoint == timepoint:
                return c
        return None


@dataclass(frozen=True)
class TimepointHeader:
    """One timepoint's column group and its RECIST 1.1 result (``None``: not assessed)."""

    timepoint: int
    label: str  # "baseline", "follow-up 1"
    title: str  # "follow-up 1 (2023-06-27, day 92)"
    sum_mm: float | None  # sum of target diameters
    sum_change_from_baseline_pct: float | None
    sum_change_from_nadir_pct: float | None
    target_response: str
    non_target_response: str
    new_lesions: tuple[str, ...]
    overall_response: str  # "baseline" at the baseline, "" when RECIST was not assessed
    reason: str
    equivocal_new_lesions: tuple[str, ...] = ()  # held equivocal here: no PD (yet)
    confirmed_new_lesions: tuple[str, ...] = ()  # of new_lesions, confirming an equivocal one

    @property
    def is_baseline(self) -> bool:
        return self.timepoint == 0


@dataclass(frozen=True)
class LesionTableRows:
    """Everything the lesion table shows."""

    timepoints: tuple[TimepointHeader, ...]
    rows: tuple[LesionRow, ...]

    def row(self, lesion_id: str) -> LesionRow | None:
        for r in self.rows:
            if r.lesion_id == lesion_id:
                return r
        return None


def build_lesion_rows(report: LongitudinalReport, cell_changes: CellChanges | None = None,
                      row_changes: RowChanges | None = None) -> LesionTableRows:
    """The table's rows for ``report``: every track in report order, every timepoint.
    ``cell_changes`` ((lesion id, timepoint) -> values) and ``row_changes`` (lesion id ->
    values) mark what the reader changed."""
    tps = [tp.index for tp in report.timeline.timepoints]
    rows = tuple(_row(report, track, tps, cell_changes or {}, row_changes or {})
                 for track in report.tracks)
    return LesionTableRows(timepoint_headers(report), rows)


def timepoint_headers(report: LongitudinalReport) -> tuple[TimepointHeader, ...]:
    """One header per timepoint (timeline order) with its RECIST result."""
    recist = {r.timepoint: r for r in report.recist}
    return tuple(_header(report, tp.index, recist.get(tp.index))
                 for tp in report.timeline.timepoints)


def _row(report: LongitudinalReport, track: Track, tps: list[int], cell_changes: CellChanges,
         row_changes: RowChanges) -> LesionRow:
    at = [lesion_at(report, track, t) for t in tps]
    diameters = [a.recist_diameter_mm for a in at]
    # a vanished lesion that RECIST counted as 0 mm has no volume left either
    volumes = [0.0 if a.volume_ml is None and a.recist_diameter_mm == 0 else a.volume_ml
               for a in at]
    at_baseline = bool(tps) and tps[0] == 0
    base = diameters[0] if at_baseline else None
    base_volume = volumes[0] if at_baseline else None
    cells = []
    for n, a in enumerate(at):
        d = diameters[n]
        earlier = [v for v in diameters[:n] if _known(v)]
        nadir = min(earlier) if earlier else None
        main = a.main if a.status != STATUS_MERGED else None
        cells.append(LesionCell(
            timepoint=a.timepoint, status=a.status, long_axis_mm=a.long_axis_mm,
            short_axis_mm=a.short_axis_mm, recist_diameter_mm=d, volume_ml=a.volume_ml,
            change_from_baseline_pct=None if n == 0 else _change(d, base),
            change_from_nadir_pct=_change(d, nadir), merged_into=a.merged_into,
            components=a.components,
            volume_change_from_baseline_pct=None if n == 0 else _change(volumes[n],
                                                                        base_volume),
            centroid_lps=main.centroid_lps if main is not None else None,
            long_axis=main.long_axis if main is not None else None,
            short_axis=main.short_axis if main is not None else None,
            reader_changed=cell_changes.get((track.lesion_id, a.timepoint), frozenset()),
            score=report.score_of(track, a.timepoint) if a.seen else None,
            new_lesion=new_lesion_state(report, track.lesion_id, a.timepoint),
        ))
    states = {c.new_lesion for c in cells}
    return LesionRow(
        lesion_id=track.lesion_id, name=track.name, organ=track.organ,
        is_lymph_node=track.is_lymph_node, role=track.role, role_reason=track.role_reason,
        role_source=track.role_source, first_seen=track.first_seen, cells=tuple(cells),
        tracking_uid=track.tracking_uid,
        reader_changed=row_changes.get(track.lesion_id, frozenset()),
        equivocal=NEW_EQUIVOCAL in states and states <= {NEW_EQUIVOCAL, ""},
    )


def _header(report: LongitudinalReport, timepoint: int,
            r: RecistTimepoint | None) -> TimepointHeader:
    info = next(tp for tp in report.timeline.timepoints if tp.index == timepoint)
    title = timepoint_title(report, timepoint)
    if r is None:
        return TimepointHeader(timepoint, info.label, title, None, None, None, "", "", (), "",
                               "RECIST was not assessed at this timepoint")
    return TimepointHeader(
        timepoint=timepoint, label=info.label, title=title, sum_mm=r.sum_mm,
        sum_change_from_baseline_pct=r.change_from_baseline_pct,
        sum_change_from_nadir_pct=r.change_from_nadir_pct,
        target_response=r.target_response, non_target_response=r.non_target_response,
        new_lesions=tuple(r.new_lesions), overall_response=r.overall_response, reason=r.reason,
        equivocal_new_lesions=tuple(r.equivocal_new_lesions),
        confirmed_new_lesions=tuple(r.confirmed_new_lesions),
    )


def _known(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _change(value: float | None, reference: float | None) -> float | None:
    """Percent change of ``value`` from ``reference`` (``None`` if either is unknown or the
    reference is 0)."""
    if not (_known(value) and _known(reference)) or reference == 0:
        return None
    return 100.0 * (value - reference) / reference
