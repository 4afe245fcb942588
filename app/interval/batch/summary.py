"""``summary.csv``: one row per case, written atomically at the end of every run.

Columns: the case (``case_id``, ``status``, ``reason``, ``tasks``, ``model``,
``this_run`` (``yes``, or ``earlier`` for a case finished by an earlier run),
``seconds``, ``started``, ``worker``), its timeline (``timepoints``, ``first_date``,
``last_date``), lesion counts (``lesions``, ``target_lesions``, ``non_target_lesions``,
``new_lesions``), RECIST 1.1 at the baseline and the last follow-up
(``baseline_sum_mm``, ``baseline_volume_ml``, ``last_response``, ``last_sum_mm``,
``last_change_from_baseline_pct``, ``last_volume_ml``), the growth forecast
(``forecast_date``, ``forecasts_ok``, ``forecast_target_sum_mm``: the sum of the target
lesions' forecast medians, a model estimate), the ``segment`` task's
``label_volumes_ml``, ``warnings`` and the case's ``report`` (path relative to OUT); then
per follow-up k (as many as the longest case has): ``fu<k>_date``, ``fu<k>_response``,
``fu<k>_sum_mm``, ``fu<k>_change_pct``, ``fu<k>_volume_ml``.  Empty cells: unknown or
not applicable.  Free text is guarded against spreadsheet formulas.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from interval.batch.out_folder import CASES_DIR, SUMMARY_CSV
from interval.core.measurements import safe_csv_text, write_csv

COLUMNS = (
    "case_id", "status", "reason", "tasks", "model", "this_run", "seconds", "started", "worker",
    "timepoints", "first_date", "last_date", "lesions", "target_lesions",
    "non_target_lesions", "new_lesions", "baseline_sum_mm", "baseline_volume_ml",
    "last_response", "last_sum_mm", "last_change_from_baseline_pct", "last_volume_ml",
    "forecast_date", "forecasts_ok", "forecast_target_sum_mm", "label_volumes_ml", "warnings",
    "report",
)
FOLLOW_UP_FIELDS = (("date", "date"), ("response", "overall_response"), ("sum_mm", "sum_mm"),
                    ("change_pct", "change_from_baseline_pct"),
                    ("volume_ml", "total_volume_ml"))


def summary_rows(records: Sequence[dict[str, Any]], skipped: Sequence[str] = ()
                 ) -> tuple[list[str], list[dict[str, str]]]:
    """The columns and one row of text per case record."""
    n_fu = max((max(len(_recist(r)) - 1, 0) for r in records), default=0)
    columns = list(COLUMNS) + [f"fu{k}_{name}" for k in range(1, n_fu + 1)
                               for name, _key in FOLLOW_UP_FIELDS]
    earlier = set(skipped)
    return columns, [_row(r, n_fu, r.get("case_id") in earlier) for r in records]


def write_summary(records: Sequence[dict[str, Any]], out: str | Path,
                  skipped: Sequence[str] = ()) -> Path:
    """Write ``OUT/summary.csv`` atomically; returns its path."""
    columns, rows = summary_rows(records, skipped)
    return write_csv(rows, Path(out) / SUMMARY_CSV, columns)


def _row(record: dict[str, Any], n_fu: int, earlier: bool) -> dict[str, str]:
    numbers = record.get("numbers") or {}
    recist = _recist(record)
    base = recist[0] if recist else {}
    last = recist[-1] if len(recist) > 1 else {}
    forecasts = numbers.get("forecasts") or []
    outputs = record.get("outputs") or {}
    report = outputs.get("report_json")
    row = {
        "case_id": _text(record.get("case_id")),
        "status": _text(record.get("status")),
        "reason": _text(record.get("reason")),
        "tasks": ",".join(record.get("tasks") or []),
        "model": _text(record.get("model")),
        "this_run": "earlier" if earlier else ("yes" if record.get("status") in ("ok", "failed")
                                               else ""),
        "seconds": _num(record.get("seconds"), 1),
        "started": _text(record.get("started")),
        "worker": _text(record.get("worker")),
        "timepoints": _int(numbers.get("timepoints")),
        "first_date": _text(numbers.get("first_date")),
        "last_date": _text(numbers.get("last_date")),
        "lesions": _int(numbers.get("lesions")),
        "target_lesions": _int(numbers.get("target_lesions")),
        "non_target_lesions": _int(numbers.get("non_target_lesions")),
        "new_lesions": _int(numbers.get("new_lesions")),
        "baseline_sum_mm": _num(base.get("sum_mm"), 1),
        "baseline_volume_ml": _num(base.get("total_volume_ml"), 2),
        "last_response": _text(last.get("overall_response")),
        "last_sum_mm": _num(last.get("sum_mm"), 1),
        "last_change_from_baseline_pct": _num(last.get("change_from_baseline_pct"), 1),
        "last_volume_ml": _num(last.get("total_volume_ml"), 2),
        "forecast_date": _text(numbers.get("forecast_date")),
        "forecasts_ok": str(sum(1 for f in forecasts if f.get("status") == "ok"))
        if forecasts else "",
        "forecast_target_sum_mm": _num(numbers.get("forecast_target_sum_mm"), 1),
        "label_volumes_ml": _text(label_volume_text(numbers.get("label_volumes_ml"))),
        "warnings": str(len(record.get("warnings") or [])),
        "report": f"{CASES_DIR}/{record.get('case_id')}/{report}" if report else "",
    }
    for k in range(1, n_fu + 1):
        fu = recist[k] if k < len(recist) else {}
        for name, key in FOLLOW_UP_FIELDS:
            value = fu.get(key)
            row[f"fu{k}_{name}"] = (_num(value, 2 if "volume" in key else 1)
                                    if isinstance(value, int | float) else _text(value))
    return row


def label_volume_text(rows: Any) -> str:
    """``tp1: liver 1234.5, spleen 210.0; tp2: ...`` (mL) from ``label_volumes_ml``."""
    parts = []
    for row in rows or []:
        volumes = row.get("volumes_ml") or {}
        text = ", ".join(f"{name} {float(ml):.1f}" for name, ml in volumes.items())
        parts.append(f"tp{row.get('timepoint')}: {text or 'nothing'}")
    return "; ".join(parts)


def _recist(record: dict[str, Any]) -> list[dict[str, Any]]:
    return list((record.get("numbers") or {}).get("recist") or [])


def _text(value: Any) -> str:
    return "" if value is None else safe_csv_text(str(value))


def _int(value: Any) -> str:
    return "" if value is None or isinstance(value, bool) else str(int(value))


def _num(value: Any, digits: int) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f"{float(value):.{digits}f}"
