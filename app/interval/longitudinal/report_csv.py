"""``lesions.csv``: one row per lesion (track) and timepoint, for spreadsheets and scripts.

Columns (UTF-8, comma separated, a header row; blank = not applicable or unknown):

``lesion_id``, ``name``, ``organ``, ``lymph_node`` (yes/no), ``role`` (target,
non-target, new, excluded), ``timepoint`` (0 = baseline), ``timepoint_label``, ``date``
(ISO), ``days`` (from the baseline), ``status`` (present, absent, new, merged, split: see
:mod:`.report_common`), ``components`` (component ids in that timepoint's component map,
``;``-separated), ``merged_into`` (lesion id), ``volume_ml``, ``long_axis_mm``,
``short_axis_mm``, ``recist_diameter_mm`` (short axis for a lymph node, else long axis;
the value the RECIST table counted for a target), ``max_diameter_3d_mm``,
``centroid_x_mm``, ``centroid_y_mm``, ``centroid_z_mm`` (LPS, in baseline space),
``mean_intensity``, ``sd_intensity``, ``intensity_unit`` (HU for CT), ``score`` (the
segmentation's confidence in the lesion there, 0-1, voxel-weighted over its components;
blank when the segmentation gave none), ``recist_new_lesion`` (what RECIST made of it as
a new lesion there: ``counted``, ``confirmed`` (counted, confirming an earlier equivocal
finding: progression dates from that scan), ``equivocal`` (score below the model's
calibrated threshold: no progression yet), blank otherwise).

``forecasts.csv`` (written when the growth-forecast plugin gave forecasts; every value a
model estimate, never a measurement): one row per lesion and forecasting method, the
default (network) method first: ``lesion_id``, ``method`` (e.g. gru, carry_forward,
gompertz), ``method_label``, ``kind`` (network, classical), ``default`` (yes/no),
``last_day`` (day of the lesion's last observed visit, from the baseline),
``target_day``, ``target_date`` (ISO), ``horizon_days``, ``median_mm`` (the forecast
RECIST diameter), ``lower_mm`` and ``upper_mm`` (the central band), ``interval`` (its
probability, 0.8 = 80 %), ``quantiles_mm`` (``level=mm`` pairs, ``;``-separated),
``status`` (ok, widened, refused), ``message`` (why widened or refused),
``model_estimate`` (always yes). ``interval forecast -o FILE`` writes the same columns.

Text fields starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are prefixed
with ``'`` so a spreadsheet never runs them as formulas (the same rule as the viewer's
measurement export); numbers are written by Interval and stay numbers.
"""

from __future__ import annotations

from pathlib import Path

from interval.core.measurements import safe_csv_text as safe_text
from interval.core.measurements import write_csv
from interval.longitudinal.model import LesionForecast, LongitudinalReport
from interval.longitudinal.report_common import (
    LesionAtTimepoint,
    ReportError,
    lesion_table,
    timepoint_info,
)
from interval.longitudinal.report_text import new_lesion_state

LESIONS_CSV = "lesions.csv"
COLUMNS = (
    "lesion_id", "name", "organ", "lymph_node", "role", "timepoint", "timepoint_label",
    "date", "days", "status", "components", "merged_into", "volume_ml", "long_axis_mm",
    "short_axis_mm", "recist_diameter_mm", "max_diameter_3d_mm", "centroid_x_mm",
    "centroid_y_mm", "centroid_z_mm", "mean_intensity", "sd_intensity", "intensity_unit",
    "score", "recist_new_lesion",
)

FORECASTS_CSV = "forecasts.csv"
FORECAST_COLUMNS = (
    "lesion_id", "method", "method_label", "kind", "default", "last_day", "target_day",
    "target_date", "horizon_days", "median_mm", "lower_mm", "upper_mm", "interval",
    "quantiles_mm", "status", "message", "model_estimate",
)


def lesion_rows(report: LongitudinalReport) -> list[dict[str, str]]:
    """The CSV rows as text (escaped), in track then timepoint order."""
    return [_row(report, item) for item in lesion_table(report)]


def write_lesions_csv(report: LongitudinalReport, path: str | Path) -> Path:
    """Write ``lesions.csv`` atomically; returns the path."""
    try:
        return write_csv(lesion_rows(report), path, COLUMNS)
    except OSError as exc:
        raise ReportError(f"could not write the lesion table ({exc.strerror or exc})",
                          path=path) from exc


def _num(value: float | None, digits: int) -> str:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return ""
    return f"{value:.{digits}f}"


def _row(report: LongitudinalReport, item: LesionAtTimepoint) -> dict[str, str]:
    track = item.track
    tp = timepoint_info(report, item.timepoint)
    modality = tp.series.modality.upper() if tp is not None else ""
    centroid = item.centroid_baseline_lps or (None, None, None)
    text = {
        "lesion_id": track.lesion_id, "name": track.name, "organ": track.organ,
        "role": track.role, "timepoint_label": tp.label if tp else "",
        "status": item.status, "merged_into": item.merged_into,
    }
    row = {k: safe_text(str(v)) for k, v in text.items()}
    row.update(
        lymph_node="yes" if track.is_lymph_node else "no",
        timepoint=str(item.timepoint),
        date=tp.study_date.isoformat() if tp is not None and tp.study_date else "",
        days="" if tp is None or tp.days_from_baseline is None else str(tp.days_from_baseline),
        components=";".join(str(c) for c in item.components),
        volume_ml=_num(item.volume_ml, 4),
        long_axis_mm=_num(item.long_axis_mm, 2),
        short_axis_mm=_num(item.short_axis_mm, 2),
        recist_diameter_mm=_num(item.recist_diameter_mm, 2),
        max_diameter_3d_mm=_num(item.max_diameter_3d_mm, 2),
        centroid_x_mm=_num(centroid[0], 2), centroid_y_mm=_num(centroid[1], 2),
        centroid_z_mm=_num(centroid[2], 2),
        mean_intensity=_num(item.mean_intensity, 2), sd_intensity=_num(item.sd_intensity, 2),
        intensity_unit="HU" if modality == "CT" and item.mean_intensity is not None else "",
        score=_num(report.score_of(track, item.timepoint), 3),
        recist_new_lesion=new_lesion_state(report, track.lesion_id, item.timepoint),
    )
    return row


def forecast_rows(forecasts: list[LesionForecast]) -> list[dict[str, str]]:
    """``forecasts.csv`` rows as text (escaped), in the given order."""
    rows = []
    for f in forecasts:
        text = {"lesion_id": f.lesion_id, "method": f.method, "method_label": f.method_label,
                "kind": f.kind, "status": f.status, "message": f.message}
        row = {k: safe_text(str(v)) for k, v in text.items()}
        row.update(
            default="yes" if f.default else "no",
            last_day=_num(f.last_day, 1), target_day=_num(f.target_day, 1),
            target_date=f.target_date.isoformat() if f.target_date else "",
            horizon_days=_num(f.horizon_days, 1), median_mm=_num(f.median_mm, 2),
            lower_mm=_num(f.lower_mm, 2), upper_mm=_num(f.upper_mm, 2),
            interval=_num(f.interval, 2),
            quantiles_mm=";".join(f"{level}={_num(mm, 2)}" for level, mm in f.quantiles.items()),
            model_estimate="yes",
        )
        rows.append(row)
    return rows


def write_forecasts_csv(forecasts: list[LesionForecast], path: str | Path) -> Path:
    """Write ``forecasts.csv`` (or any path) atomically; returns the path."""
    try:
        return write_csv(forecast_rows(forecasts), path, FORECAST_COLUMNS)
    except OSError as exc:
        raise ReportError(f"could not write the forecast table ({exc.strerror or exc})",
                          path=path) from exc


def update_forecasts_csv(report: LongitudinalReport, out_dir: str | Path) -> str | None:
    """``OUT/forecasts.csv`` for the report's forecasts; returns its name, or None (and an
    earlier run's file is removed) when the report has none."""
    path = Path(out_dir) / FORECASTS_CSV
    if not report.forecasts:
        if path.is_file() and not path.is_symlink():
            path.unlink()
        return None
    write_forecasts_csv(report.forecasts, path)
    return FORECASTS_CSV
