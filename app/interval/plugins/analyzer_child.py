"""The model-process side of :func:`interval.plugins.analyzer_process.run_analyzer_in_child`.

Runs in the spawned model process (:mod:`interval.ai.child`): rebuilds the timepoints from
plain data and shared-memory arrays, imports the plugin's analyzer there (never in the
viewer), runs it through :func:`interval.plugins.analyzer_runner.run_analyzer` (options
only to 1.1 analyzers, result checked) and hands back the result as plain data: the table,
summary and warnings as UTF-8 JSON bytes in one array (no size cap of the message pipe),
label maps as arrays.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from interval.core.jobs import CancelFn, ProgressFn

RESULT_KEY = "result_json"


def analyze_in_child(
    arrays: dict[str, np.ndarray],
    *,
    plugin_id: str,
    analyzer_id: str,
    name: str,
    entry: str,
    code_path: str | None,
    timepoints: list[dict[str, Any]],
    options: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run one analyzer on ``timepoints`` (plain dicts; images in ``arrays``)."""
    from interval.plugins.analyzer_runner import run_analyzer  # noqa: PLC0415
    from interval.plugins.api import LongitudinalAnalyzerEntry  # noqa: PLC0415
    from interval.plugins.registry import resolve_analyzer  # noqa: PLC0415

    plugin_entry = LongitudinalAnalyzerEntry(
        plugin_id, analyzer_id, name, entry,
        code_path=Path(code_path) if code_path else None)
    analyzer = resolve_analyzer(plugin_entry)
    tps = [_timepoint(t, arrays, i) for i, t in enumerate(timepoints)]
    result = run_analyzer(analyzer, tps, name=plugin_entry.qualified_id, options=options,
                          progress=progress, cancel=cancel)
    out: dict[str, np.ndarray] = {}
    for i, vol in enumerate(result.label_maps):
        if vol is not None:
            out[f"label_map{i}"] = np.ascontiguousarray(vol.array)
    plain = {"summary": result.summary, "table": result.table, "warnings": result.warnings}
    out[RESULT_KEY] = np.frombuffer(json.dumps(plain, allow_nan=False).encode("utf-8"),
                                    dtype=np.uint8).copy()
    return out, {"label_maps": [i for i, v in enumerate(result.label_maps) if v is not None]}


def _timepoint(data: dict[str, Any], arrays: dict[str, np.ndarray], i: int) -> Any:
    from interval.plugins.api import LesionObservation, Timepoint  # noqa: PLC0415

    lesions = tuple(LesionObservation(**obs) for obs in data.get("lesions", ()))
    return Timepoint(
        date=dt.date.fromisoformat(data["date"]),
        volume=_volume(arrays.get(f"volume{i}"), data.get("volume")),
        labels=_volume(arrays.get(f"labels{i}"), data.get("labels")),
        label=data.get("label", ""),
        lesions=lesions,
        day=data.get("day"),
    )


def _volume(array: np.ndarray | None, geometry: dict[str, Any] | None) -> Any:
    if array is None or geometry is None:
        return None
    from interval.core.labels import LabelTable  # noqa: PLC0415
    from interval.core.metadata import VolumeMetadata  # noqa: PLC0415
    from interval.core.volume import Volume  # noqa: PLC0415

    meta = VolumeMetadata(modality=str(geometry.get("modality") or ""),
                          units=str(geometry.get("units") or ""))
    return Volume(array, tuple(geometry["spacing"]), tuple(geometry["origin"]),
                  np.asarray(geometry["direction"], dtype=np.float64).reshape(3, 3), meta,
                  LabelTable.from_dict(table) if (table := geometry.get("label_table")) else None)
