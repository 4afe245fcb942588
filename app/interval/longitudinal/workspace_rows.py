"""The workspace's lesion table and RECIST header row as plain dataclasses (for a Qt model).

One :class:`LesionRow` per tracked lesion (excluded ones kept, flagged), with one
:class:`LesionCell` per timepoint; one :class:`ResponseRow` per timepoint (the baseline's
responses read "baseline").  Values come from :func:`~.report_common.lesion_at`, so the
table shows the numbers the reports show.

Change of a lesion (its RECIST diameter: short axis of a node, else long axis; the sum of
the parts of a split lesion): against its baseline value (the first timepoint where it was
seen: the baseline, or the visit where a new lesion appeared) and against its nadir (the
smallest value at an earlier timepoint, baseline included).  A lesion gone after it was
seen counts 0 mm there; a merged one has no value of its own (``None``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from interval.longitudinal.model import (
    ROLE_EXCLUDED,
    ROLE_NEW,
    ROLE_NON_TARGET,
    ROLE_TARGET,
    Axis,
    LongitudinalReport,
    Track,
    Vec3,
)
from interval.longitudinal.report_common import (
    STATUS_ABSENT,
    STATUS_MERGED,
    lesion_at,
    timepoint_info,
)


@dataclass(frozen=True)
class LesionCell:
    """One lesion at one timepoint (``None``: no value there)."""

    timepoint: int
    status: str  # present / absent / new / split / merged (report_common's words)
    components: tuple[int, ...]
    long_axis_mm: float | None
    short_axis_mm: float | None
    recist_diameter_mm: float | None
    volume_ml: float | None
    change_from_baseline_pct: float | None  # of the RECIST diameter
    change_from_nadir_pct: float | None
    volume_change_from_baseline_pct: float | None
    merged_into: str
    centroid_lps: Vec3 | None  # this timepoint's own space: where to jump (main component)
    long_axis: Axis | None  # of the main component (longest long axis): to draw
    short_axis: Axis | None
    reader_changed: frozenset[str]  # "long_axis", "short_axis", "tracking"


@dataclass(frozen=True)
class LesionRow:
    """One tracked lesion across the timeline."""

    lesion_id: str
    tracking_uid: str
    name: str
    organ: str
    is_lymph_node: bool
    role: str
    role_reason: str
    role_source: str
    first_seen: int
    cells: tuple[LesionCell, ...]
    reader_changed: frozenset[str]  # "name", "role"

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
        return next((c for c in self.cells if c.timepoint == timepoint), None)


@dataclass(frozen=True)
class ResponseRow:
    """RECIST 1.1 at one timepoint (the lesion table's header row)."""

    timepoint: int
    label: str
    study_date: dt.date | None
    days_from_baseline: int | None
    sum_mm: float | None
    nadir_mm: float | None
    change_from_baseline_pct: float | None
    change_from_nadir_pct: float | None
    target_response: str
    non_target_response: str
    new_lesions: tuple[str, ...]
    overall_response: str
    reason: str
    total_volume_ml: float | None
    volume_change_pct: float | None


def _pct(value: float | None, ref: float | None) -> float | None:
    if value is None or ref is None or ref <= 0:
        return None
    return 100.0 * (value - ref) / ref


def lesion_rows(report: LongitudinalReport,
                cell_changes: Mapping[tuple[str, int], frozenset[str]] | None = None,
                row_changes: Mapping[str, frozenset[str]] | None = None) -> list[LesionRow]:
    """The lesion table of ``report`` (tracks in report order)."""
    cell_changes = cell_changes or {}
    row_changes = row_changes or {}
    times = [tp.index for tp in report.timeline.timepoints]
    return [_row(report, track, times, cell_changes, row_changes) for track in report.tracks]


def _row(report: LongitudinalReport, track: Track, times: list[int],
         cell_changes: Mapping[tuple[str, int], frozenset[str]],
         row_changes: Mapping[str, frozenset[str]]) -> LesionRow:
    cells = []
    first_value: float | None = None
    earlier: list[float] = []
    first_volume: float | None = None
    for t in times:
        item = lesion_at(report, track, t)
        diameter = item.recist_diameter_mm
        volume = item.volume_ml
        if item.status == STATUS_ABSENT and t > track.first_seen:
            diameter, volume = 0.0, 0.0  # gone
        if item.status == STATUS_MERGED:
            diameter = volume = None
        if first_value is None and diameter is not None and t >= track.first_seen:
            first_value, first_volume = diameter, volume
        nadir = min(earlier) if earlier else None
        main = item.main if item.status != STATUS_MERGED else None
        cells.append(LesionCell(
            timepoint=t, status=item.status, components=item.components,
            long_axis_mm=item.long_axis_mm, short_axis_mm=item.short_axis_mm,
            recist_diameter_mm=item.recist_diameter_mm, volume_ml=item.volume_ml,
            change_from_baseline_pct=_pct(diameter, first_value) if earlier else None,
            change_from_nadir_pct=_pct(diameter, nadir),
            volume_change_from_baseline_pct=_pct(volume, first_volume) if earlier else None,
            merged_into=item.merged_into,
            centroid_lps=main.centroid_lps if main is not None else None,
            long_axis=main.long_axis if main is not None else None,
            short_axis=main.short_axis if main is not None else None,
            reader_changed=cell_changes.get((track.lesion_id, t), frozenset()),
        ))
        if diameter is not None and t >= track.first_seen:
            earlier.append(diameter)
    return LesionRow(
        lesion_id=track.lesion_id, tracking_uid=track.tracking_uid, name=track.name,
        organ=track.organ, is_lymph_node=track.is_lymph_node, role=track.role,
        role_reason=track.role_reason, role_source=track.role_source,
        first_seen=track.first_seen, cells=tuple(cells),
        reader_changed=row_changes.get(track.lesion_id, frozenset()))


def response_rows(report: LongitudinalReport) -> list[ResponseRow]:
    """RECIST per timepoint, in timeline order."""
    out = []
    for r in sorted(report.recist, key=lambda r: r.timepoint):
        tp = timepoint_info(report, r.timepoint)
        out.append(ResponseRow(
            timepoint=r.timepoint, label=tp.label if tp else f"timepoint {r.timepoint}",
            study_date=tp.study_date if tp else None,
            days_from_baseline=tp.days_from_baseline if tp else None,
            sum_mm=r.sum_mm, nadir_mm=r.nadir_mm,
            change_from_baseline_pct=r.change_from_baseline_pct,
            change_from_nadir_pct=r.change_from_nadir_pct,
            target_response=r.target_response, non_target_response=r.non_target_response,
            new_lesions=tuple(r.new_lesions), overall_response=r.overall_response,
            reason=r.reason, total_volume_ml=r.total_volume_ml,
            volume_change_pct=r.volume_change_pct))
    return out
