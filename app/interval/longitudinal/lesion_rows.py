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

A vanished target lesion that RECIST counted as 0 mm therefore shows -100 % from its
baseline.  :func:`build_lesion_rows` is the only entry point; anything that can produce a
:class:`LesionTableRows` (e.g. a workspace model holding reader corrections) can feed the
table instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from interval.longitudinal.model import (
    ROLE_EXCLUDED,
    ROLE_NEW,
    ROLE_NON_TARGET,
    ROLE_TARGET,
    LongitudinalReport,
    RecistTimepoint,
)
from interval.longitudinal.report_common import lesion_at, timepoint_title


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


def build_lesion_rows(report: LongitudinalReport) -> LesionTableRows:
    """The table's rows for ``report``: every track in report order, every timepoint."""
    tps = [tp.index for tp in report.timeline.timepoints]
    rows = []
    for track in report.tracks:
        at = [lesion_at(report, track, t) for t in tps]
        diameters = [a.recist_diameter_mm for a in at]
        base = diameters[0] if tps and tps[0] == 0 else None
        cells = []
        for n, a in enumerate(at):
            d = diameters[n]
            earlier = [v for v in diameters[:n] if _known(v)]
            nadir = min(earlier) if earlier else None
            cells.append(LesionCell(
                timepoint=a.timepoint, status=a.status, long_axis_mm=a.long_axis_mm,
                short_axis_mm=a.short_axis_mm, recist_diameter_mm=d, volume_ml=a.volume_ml,
                change_from_baseline_pct=None if n == 0 else _change(d, base),
                change_from_nadir_pct=_change(d, nadir), merged_into=a.merged_into,
            ))
        rows.append(LesionRow(
            lesion_id=track.lesion_id, name=track.name, organ=track.organ,
            is_lymph_node=track.is_lymph_node, role=track.role, role_reason=track.role_reason,
            role_source=track.role_source, first_seen=track.first_seen, cells=tuple(cells),
        ))
    recist = {r.timepoint: r for r in report.recist}
    headers = tuple(_header(report, t, recist.get(t)) for t in tps)
    return LesionTableRows(headers, tuple(rows))


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
    )


def _known(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _change(value: float | None, reference: float | None) -> float | None:
    """Percent change of ``value`` from ``reference`` (``None`` if either is unknown or the
    reference is 0)."""
    if not (_known(value) and _known(reference)) or reference == 0:
        return None
    return 100.0 * (value - reference) / reference
