"""Plain-text pieces shared by the HTML and PDF reports (each writer escapes them itself)."""

from __future__ import annotations

from interval.longitudinal.model import (
    LongitudinalReport,
    RecistTimepoint,
    RegistrationResult,
    TimepointInfo,
)
from interval.longitudinal.report_common import timepoint_info


def patient_lines(report: LongitudinalReport) -> list[str]:
    """Who and what: patient, birth date and sex, number of timepoints and their span."""
    tl = report.timeline
    who = f"Patient: {tl.patient_name or '(no name)'}, ID {tl.patient_id or '(none)'}"
    details = []
    if tl.patient_birth_date:
        details.append(f"born {tl.patient_birth_date.isoformat()}")
    if tl.patient_sex:
        details.append(f"sex {tl.patient_sex}")
    if details:
        who += " (" + ", ".join(details) + ")"
    lines = [who]
    dates = [tp.study_date for tp in tl.timepoints if tp.study_date]
    span = f", {dates[0].isoformat()} to {dates[-1].isoformat()}" if len(dates) > 1 else ""
    lines.append(f"{len(tl.timepoints)} examinations{span}")
    return lines


def model_notice(report: LongitudinalReport) -> str:
    """The "not for clinical use" line when any segmentation came from a model ("" if none)."""
    models = [s for s in report.segmentations if s.kind == "model"]
    if not models:
        return ""
    names = sorted({s.description or s.model or "a model" for s in models})
    return ("Not for clinical use: the lesions were segmented automatically by "
            + "; ".join(names) + ". Check every lesion before relying on these results.")


NEW_COUNTED = "counted"  # counted here as a new lesion (PD)
NEW_CONFIRMED = "confirmed"  # counted here, confirming an earlier equivocal finding
NEW_EQUIVOCAL = "equivocal"  # held equivocal here (score below the threshold): no PD

SCORE_NOTE = ("Confidence: the segmentation's score of the lesion (0-1; - when the "
              "segmentation gave none). A new lesion scored below the model's calibrated "
              "threshold is equivocal: it makes no progression until a later scan confirms it "
              "(RECIST 1.1, 4.3.2).")


def score_text(value: float | None) -> str:
    """A segmentation score for people: ``"0.87"``; ``"-"`` when unknown."""
    return "-" if value is None or value != value else f"{value:.2f}"


def new_lesion_state(report: LongitudinalReport, lesion_id: str, timepoint: int) -> str:
    """What RECIST made of ``lesion_id`` as a new lesion at ``timepoint``:
    :data:`NEW_COUNTED`, :data:`NEW_CONFIRMED`, :data:`NEW_EQUIVOCAL` or ""."""
    for r in report.recist:
        if r.timepoint != timepoint:
            continue
        if lesion_id in r.equivocal_new_lesions:
            return NEW_EQUIVOCAL
        if lesion_id in r.confirmed_new_lesions:
            return NEW_CONFIRMED
        if lesion_id in r.new_lesions:
            return NEW_COUNTED
    return ""


def new_lesions_text(report: LongitudinalReport, r: RecistTimepoint) -> str:
    """The counted new lesions of a RECIST row, a confirmed one with the scan it dates
    from: ``"L7 (confirmed, first seen follow-up 1)"``; ``"none"``."""
    parts = []
    for lid in r.new_lesions:
        first = r.confirmed_new_lesions.get(lid)
        if first is None:
            parts.append(lid)
            continue
        tp = timepoint_info(report, first)
        parts.append(f"{lid} (confirmed, first seen {tp.label if tp else f'timepoint {first}'})")
    return ", ".join(parts) or "none"


def equivocal_text(r: RecistTimepoint) -> str:
    """The equivocal new lesions of a RECIST row: ``"L7, L9"``; ``"none"``."""
    return ", ".join(r.equivocal_new_lesions) or "none"


def series_text(tp: TimepointInfo) -> str:
    s = tp.series
    number = f"#{s.series_number} " if s.series_number is not None else ""
    dims = "x".join(str(d) for d in s.dimensions)
    spacing = " x ".join(f"{v:g}" for v in s.spacing)
    desc = f" \"{s.description}\"" if s.description else ""
    return f"{number}{s.modality}{desc}, {s.orientation}, {dims}, {spacing} mm"


def registration_text(reg: RegistrationResult) -> str:
    if reg.status == "identity":
        return "reference (baseline)"
    bits = [f"{reg.method} to timepoint {reg.reference}: {reg.status}"]
    if reg.message:
        bits.append(reg.message)
    said = reg.message.lower()
    if reg.body_overlap is not None and "overlap" not in said:
        bits.append(f"body overlap {reg.body_overlap:.2f}")
    if reg.metric is not None and "metric" not in said:
        bits.append(f"metric {reg.metric:.3f}")
    if reg.translation_mm is not None:
        t = ", ".join(f"{v:.1f}" for v in reg.translation_mm)
        bits.append(f"shift ({t}) mm")
    if reg.rotation_deg is not None:
        bits.append(f"rotation {reg.rotation_deg:.1f} deg")
    return "; ".join(bits)


def warnings_of(report: LongitudinalReport) -> list[str]:
    """Timeline warnings, failed or questionable registrations, then the report's warnings."""
    out = list(report.timeline.warnings)
    for reg in report.registrations:
        if reg.status in ("failed", "questionable"):
            out.append(f"Registration of timepoint {reg.timepoint} {reg.status}: {reg.message}")
    out += [w for w in report.warnings if w not in out]
    return out


def segmentation_rows(report: LongitudinalReport) -> list[tuple[str, str, str]]:
    """(timepoint label, kind, description) per segmentation source."""
    rows = []
    for s in report.segmentations:
        tp = timepoint_info(report, s.timepoint)
        rows.append((tp.label if tp else str(s.timepoint), s.kind, s.description or s.path))
    return rows


def correction_lines(report: LongitudinalReport) -> list[str]:
    """The reader's corrections as applied, one line each: ``"link: a=1, b=2"``."""
    lines = []
    for op in report.corrections:
        if not isinstance(op, dict):
            lines.append(str(op))
            continue
        rest = ", ".join(f"{k}={v}" for k, v in op.items() if k != "op")
        lines.append(f"{op.get('op', '?')}: {rest}" if rest else str(op.get("op", "?")))
    return lines


def sign_off_line(report: LongitudinalReport) -> str:
    """"Signed off by NAME on TIME", or "" when the reader has not signed the report off."""
    name = str(getattr(report, "signed_off_by", "") or "").strip()
    if not name:
        return ""
    when = str(getattr(report, "signed_off_at", "") or "").strip()
    return f"Signed off by {name}" + (f" on {when}" if when else "") + "."


READER_CHANGE_HEADER = ("Lesion", "Timepoint", "Value", "Interval found", "Reader set")


def reader_change_rows(report: LongitudinalReport) -> list[tuple[str, str, str, str, str]]:
    """The values the reader changed (workspace): lesion, timepoint, value, before, after."""
    rows = []
    for change in getattr(report, "reader_changes", None) or []:
        if not isinstance(change, dict):
            continue
        t = change.get("timepoint")
        info = timepoint_info(report, t) if isinstance(t, int) else None
        when = info.label if info is not None else ("all" if t is None else str(t))
        rows.append((str(change.get("lesion_id", "") or ""), when,
                     str(change.get("value", "") or ""), _plain(change.get("auto")),
                     _plain(change.get("reader"))))
    return rows


def _plain(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


FORECAST_HEADER = ("Lesion", "Method", "Forecast for", "Diameter (median)", "Band",
                   "Status")


def forecast_intro(report: LongitudinalReport) -> list[str]:
    """What the forecasts are and are not: the model-estimate notice, which analyzer made
    them, and its own statement of what it was trained on and is not validated for."""
    if not report.forecasts:
        return []
    lines = ["Growth forecasts are model estimates, not measurements: each lesion's RECIST "
             "diameter forecast from its measurements so far, with the central band the "
             "method gives (the network's default first). Do not use them for treatment "
             "decisions."]
    if report.forecast_source:
        lines.append(f"Made by {report.forecast_source}.")
    if report.forecast_note:
        lines.append(report.forecast_note)
    return lines


def forecast_rows(report: LongitudinalReport) -> list[tuple[str, str, str, str, str, str]]:
    """One row per lesion and method, in :data:`FORECAST_HEADER` order (plain text)."""
    from interval.longitudinal.report_common import fmt, lesion_title  # noqa: PLC0415

    rows = []
    for f in report.forecasts:
        track = report.track(f.lesion_id)
        name = lesion_title(track) if track is not None else f.lesion_id
        method = f.method_label + (" (default)" if f.default else "")
        when = ", ".join(x for x in (
            f.target_date.isoformat() if f.target_date else "",
            f"day {f.target_day:g}" if f.target_day is not None else "",
            f"+{f.horizon_days:g} d" if f.horizon_days is not None else "") if x) or "-"
        band = "-"
        if f.lower_mm is not None and f.upper_mm is not None:
            level = f" ({f.interval * 100:.0f} %)" if f.interval else ""
            band = f"{fmt(f.lower_mm)}-{fmt(f.upper_mm)} mm{level}"
        status = f.status + (f": {f.message}" if f.message else "")
        rows.append((name, method, when, fmt(f.median_mm, 1, "mm"), band, status))
    return rows
