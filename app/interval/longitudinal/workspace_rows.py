"""The workspace's RECIST rows: one :class:`ResponseRow` per timepoint (the baseline's
responses read "baseline").  The lesion rows are :mod:`.lesion_rows`' (one rule set for
the table and the workspace)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from interval.longitudinal.model import LongitudinalReport
from interval.longitudinal.report_common import timepoint_info

__all__ = ["ResponseRow", "response_rows"]


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
    equivocal_new_lesions: tuple[str, ...] = ()  # held equivocal here: no PD until confirmed
    confirmed_new_lesions: dict[str, int] = field(default_factory=dict)  # id -> first seen


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
            volume_change_pct=r.volume_change_pct,
            equivocal_new_lesions=tuple(r.equivocal_new_lesions),
            confirmed_new_lesions=dict(r.confirmed_new_lesions)))
    return out
