"""A case's key numbers for the cohort tables, taken from its ``report.json`` (plain data).

:func:`tracking_numbers` reads the dict that ``report.json`` holds (RECIST per timepoint,
lesion counts, volumes, the default growth forecast of each lesion);
:func:`label_volumes` counts a label map's volume per label (the ``segment`` task).
Every value is a plain number, text, list or dict, ready for ``case.json``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

RESPONSE_KEYS = ("overall_response", "target_response", "non_target_response")


def tracking_numbers(report: dict[str, Any]) -> dict[str, Any]:
    """Timepoints, lesion counts, RECIST per follow-up and forecasts of one report."""
    timepoints = list((report.get("timeline") or {}).get("timepoints") or [])
    dates = {int(tp["index"]): tp.get("study_date") for tp in timepoints}
    days = {int(tp["index"]): tp.get("days_from_baseline") for tp in timepoints}
    tracks = list(report.get("tracks") or [])
    roles = [str(t.get("role", "")) for t in tracks]
    recist = sorted(report.get("recist") or [], key=lambda r: int(r.get("timepoint", 0)))
    rows = []
    for row in recist:
        i = int(row.get("timepoint", 0))
        rows.append({
            "timepoint": i + 1,
            "date": dates.get(i),
            "days": days.get(i),
            **{k: row.get(k) for k in RESPONSE_KEYS},
            "sum_mm": _number(row.get("sum_mm")),
            "change_from_baseline_pct": _number(row.get("change_from_baseline_pct")),
            "change_from_nadir_pct": _number(row.get("change_from_nadir_pct")),
            "total_volume_ml": _number(row.get("total_volume_ml")),
            "volume_change_pct": _number(row.get("volume_change_pct")),
            "new_lesions": len(row.get("new_lesions") or []),
        })
    forecasts = default_forecasts(report)
    return {
        "timepoints": len(timepoints),
        "first_date": dates.get(0),
        "last_date": dates.get(len(timepoints) - 1) if timepoints else None,
        "lesions": sum(1 for r in roles if r != "excluded"),
        "target_lesions": roles.count("target"),
        "non_target_lesions": roles.count("non-target"),
        "new_lesions": roles.count("new"),
        "registrations_failed": sum(1 for r in report.get("registrations") or []
                                    if r.get("status") == "failed"),
        "recist": rows,
        "forecasts": forecasts,
        "forecast_date": next((f["target_date"] for f in forecasts if f["target_date"]), None),
        "forecast_target_sum_mm": _forecast_target_sum(forecasts, tracks),
        "warnings": len(report.get("warnings") or []),
    }


def default_forecasts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each lesion's default forecast (the network's, else the first method shown)."""
    out: dict[str, dict[str, Any]] = {}
    for f in report.get("forecasts") or []:
        lesion = str(f.get("lesion_id", ""))
        if lesion in out and not f.get("default"):
            continue
        if lesion in out and out[lesion]["default"]:
            continue
        out[lesion] = {
            "lesion_id": lesion,
            "default": bool(f.get("default")),
            "method": str(f.get("method_label") or f.get("method") or ""),
            "status": str(f.get("status", "")),
            "target_date": f.get("target_date"),
            "median_mm": _number(f.get("median_mm")),
            "lower_mm": _number(f.get("lower_mm")),
            "upper_mm": _number(f.get("upper_mm")),
            "message": str(f.get("message") or ""),
        }
    return list(out.values())


def label_volumes(labels: Any) -> dict[str, float]:
    """Volume in mL of every label of a label :class:`~interval.core.volume.Volume`."""
    array = labels.array
    top = int(array.max()) if array.size else 0
    counts = np.zeros(top + 1, np.int64)
    for plane in array:  # slice by slice: no full-size int64 copy
        counts += np.bincount(plane.ravel(), minlength=top + 1)
    voxel_ml = float(labels.voxel_volume_mm3()) / 1000.0
    names = {info.value: info.name for info in (labels.labels or ())}
    return {names.get(v, f"label {v}"): round(float(counts[v]) * voxel_ml, 3)
            for v in range(1, top + 1) if counts[v] or v in names}


def _forecast_target_sum(forecasts: list[dict[str, Any]], tracks: list[dict]) -> float | None:
    """Sum of the target lesions' forecast medians, when every target lesion has one."""
    targets = [str(t.get("lesion_id")) for t in tracks if t.get("role") == "target"]
    by_lesion = {f["lesion_id"]: f for f in forecasts}
    medians = []
    for lesion in targets:
        f = by_lesion.get(lesion)
        if f is None or f["status"] != "ok" or f["median_mm"] is None:
            return None
        medians.append(f["median_mm"])
    return round(sum(medians), 2) if medians else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(float(value)) else None
