"""A plain-text summary of a longitudinal report for the terminal (CLI and demo)."""

from __future__ import annotations

from interval.longitudinal.model import ROLE_EXCLUDED, LongitudinalReport
from interval.longitudinal.report_text import NEW_EQUIVOCAL, new_lesion_state, score_text

_PHASES = (("read", "read"), ("priors", "earlier scans"), ("segment", "segment"),
           ("extract", "extract lesions"), ("register", "register"), ("map", "map to baseline"), ("match", "match"),
           ("recist", "RECIST"), ("forecast", "growth forecast"), ("report", "reports"),
           ("write", "write label maps"))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0f}%"


def _mm(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def recist_lines(report: LongitudinalReport) -> list[str]:
    """The RECIST table: one line per timepoint ("new": new lesions counted; "equiv":
    new lesions held equivocal, no progression until a later scan confirms them)."""
    dates = {tp.index: (tp.study_date.isoformat() if tp.study_date else "?")
             for tp in report.timeline.timepoints}
    out = ["RECIST 1.1",
           f"  {'tp':<3} {'date':<10} {'sum mm':>7} {'vs base':>8} {'vs nadir':>9} "
           f"{'target':<9} {'non-target':<14} {'new':<4} {'equiv':<5} overall"]
    for row in report.recist:
        out.append(
            f"  {row.timepoint + 1:<3} {dates.get(row.timepoint, '?'):<10} {_mm(row.sum_mm):>7} "
            f"{_pct(row.change_from_baseline_pct):>8} {_pct(row.change_from_nadir_pct):>9} "
            f"{row.target_response:<9} {row.non_target_response:<14} "
            f"{len(row.new_lesions) or '-'!s:<4} {len(row.equivocal_new_lesions) or '-'!s:<5} "
            f"{row.overall_response}"
        )
        if row.reason:
            out.append(f"      {row.reason}")
    return out


def lesion_lines(report: LongitudinalReport) -> list[str]:
    """One line per tracked lesion: role, organ, and volume / RECIST diameter / confidence
    per timepoint ("?" after it: an equivocal new lesion there)."""
    n = len(report.timeline.timepoints)
    out = ["Lesions (volume mL / RECIST diameter mm / confidence per timepoint; - = not seen "
           "or unknown; ? = equivocal new lesion)"]
    for track in report.tracks:
        if track.role == ROLE_EXCLUDED:
            continue
        cells = []
        for t in range(n):
            parts = report.measurements_of(track, t)
            if not parts:
                cells.append("-")
                continue
            volume = sum(m.volume_ml for m in parts)
            diameter = sum(m.recist_diameter_mm for m in parts)
            mark = "?" if new_lesion_state(report, track.lesion_id, t) == NEW_EQUIVOCAL else ""
            cells.append(f"{volume:.2f}/{diameter:.0f}/{score_text(report.score_of(track, t))}"
                         + mark)
        out.append(f"  {track.lesion_id:<4} {track.role:<10} {track.organ:<11} "
                   + "  ".join(f"{c:>16}" for c in cells))
    return out


def forecast_lines(report: LongitudinalReport) -> list[str]:
    """The default (network) forecast of each lesion, one line each, and what the model is
    (a model estimate; its training data and limits); empty without forecasts."""
    shown = [f for f in report.forecasts if f.default]
    if not shown:
        return []
    out = ["Growth forecast (model estimate, not a measurement; RECIST diameter mm)"]
    for f in shown:
        when = f.target_date.isoformat() if f.target_date else (
            f"day {f.target_day:g}" if f.target_day is not None else "?")
        if f.status == "refused" or f.median_mm is None:
            value = f"refused: {f.message or 'no reason given'}"
        else:
            band = (f" ({f.lower_mm:.1f}-{f.upper_mm:.1f}, {(f.interval or 0.8) * 100:.0f} %)"
                    if f.lower_mm is not None and f.upper_mm is not None else "")
            value = f"{f.median_mm:.1f}{band}" + (f"  [{f.status}: {f.message}]"
                                                   if f.status != "ok" else "")
        out.append(f"  {f.lesion_id:<4} {when:<10} {f.method_label}: {value}")
    if report.forecast_note:
        out.append(f"  {report.forecast_note}")
    return out


def summary_lines(report: LongitudinalReport) -> list[str]:
    """Warnings, the RECIST table, the lesion table and the growth forecasts."""
    out: list[str] = []
    if report.warnings:
        out += ["Warnings:"] + [f"  - {w}" for w in report.warnings] + [""]
    out += recist_lines(report) + [""] + lesion_lines(report)
    forecasts = forecast_lines(report)
    if forecasts:
        out += [""] + forecasts
    return out


def timing_table(timings: dict[str, float]) -> str:
    """``phase  seconds  share`` for the phases that ran, and the total."""
    total = float(timings.get("total", 0.0)) or sum(timings.values()) or 1.0
    lines = ["Time:"]
    for key, name in _PHASES:
        if key in timings:
            lines.append(f"  {name:<18} {timings[key]:7.2f} s  {timings[key] / total:5.1%}")
    lines.append(f"  {'total':<18} {total:7.2f} s")
    return "\n".join(lines)
