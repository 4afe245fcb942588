"""Run a plugin's longitudinal analyzer in a model process, never inside Interval's own.

The same isolation as a segmentation model (:mod:`interval.ai.runner`): the analyzer's code
(and what it imports, e.g. torch) lives in a spawned process with its own memory limit,
timeout and cancel; a crash, a hang, ``sys.exit`` or an out-of-memory there becomes an
:class:`~interval.plugins.analyzer_runner.AnalyzerRefused` with a sentence for the reader.
What comes back is plain data only: the result as JSON bytes (parsed here with
:func:`json.loads`, then checked again by
:func:`~interval.plugins.analyzer_runner.checked_result`) and label maps as arrays.  The
timepoints travel as plain data, their images through shared memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from interval.core.errors import Cancelled, IntervalError
from interval.core.jobs import CancelFn, ProgressFn
from interval.core.volume import Volume
from interval.plugins.analyzer_child import RESULT_KEY
from interval.plugins.analyzer_runner import AnalyzerRefused, checked_result
from interval.plugins.api import LongitudinalAnalyzerEntry, LongitudinalResult, Timepoint

CHILD_TARGET = "interval.plugins.analyzer_child:analyze_in_child"
DEFAULT_TIMEOUT_S = 600.0
MAX_RESULT_BYTES = 64 * 2**20


def run_analyzer_in_child(
    entry: LongitudinalAnalyzerEntry,
    timepoints: Sequence[Timepoint],
    *,
    options: Mapping[str, Any] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    memory_limit_bytes: int | None = None,
    preload: Sequence[str] = (),
) -> LongitudinalResult:
    """Run ``entry``'s analyzer on ``timepoints`` in a model process; a checked result.

    Raises :class:`AnalyzerRefused` for anything the analyzer or its process did wrong,
    :class:`~interval.core.errors.Cancelled` when ``cancel`` asked for it.  ``preload``:
    modules to import in the model process at its start (counted outside the memory limit,
    e.g. ``("torch",)``).
    """
    from interval.ai.runner import run_in_child  # noqa: PLC0415 - only when an analyzer runs

    name = entry.qualified_id
    arrays: dict[str, np.ndarray] = {}
    plain = [_plain_timepoint(tp, i, arrays) for i, tp in enumerate(timepoints)]
    kwargs = {
        "plugin_id": entry.plugin_id, "analyzer_id": entry.analyzer_id, "name": entry.name,
        "entry": entry.entry, "code_path": str(entry.code_path) if entry.code_path else None,
        "timepoints": plain, "options": json.loads(json.dumps(dict(options)))
        if options is not None else None,
    }
    try:
        outputs, info = run_in_child(CHILD_TARGET, arrays, kwargs, progress=progress,
                                     cancel=cancel, timeout=timeout,
                                     memory_limit_bytes=memory_limit_bytes, preload=preload)
    except Cancelled:
        raise
    except AnalyzerRefused:
        raise
    except IntervalError as exc:  # crashed, timed out, out of memory, refused, failed
        text = str(exc)
        raise AnalyzerRefused(text if name in text else f"{name}: {text}") from None
    return _result(outputs, info, timepoints, name)


def _plain_timepoint(tp: Timepoint, i: int, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "date": tp.date.isoformat(), "label": str(tp.label),
        "day": None if tp.day is None else float(tp.day),
        "lesions": [asdict(obs) for obs in tp.lesions],
        "volume": None, "labels": None,
    }
    for key, vol in (("volume", tp.volume), ("labels", tp.labels)):
        if vol is not None:
            arrays[f"{key}{i}"] = np.ascontiguousarray(vol.array)
            data[key] = _geometry(vol)
    return data


def _geometry(vol: Volume) -> dict[str, Any]:
    return {"spacing": [float(s) for s in vol.spacing], "origin": [float(o) for o in vol.origin],
            "direction": [float(v) for v in np.asarray(vol.direction).ravel()],
            "modality": vol.metadata.modality, "units": vol.metadata.units,
            "label_table": vol.labels.to_dict() if vol.labels is not None else None}


def _result(outputs: dict[str, np.ndarray], info: dict[str, Any],
            timepoints: Sequence[Timepoint], name: str) -> LongitudinalResult:
    raw = outputs.get(RESULT_KEY)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > MAX_RESULT_BYTES:
        raise AnalyzerRefused(f"{name} returned no readable result")
    try:
        plain = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise AnalyzerRefused(f"{name} returned a result that is not valid JSON") from None
    if not isinstance(plain, dict):
        raise AnalyzerRefused(f"{name} returned a result that is not a JSON object")
    label_maps: list[Volume | None] = []
    for i, tp in enumerate(timepoints):
        arr = outputs.get(f"label_map{i}")
        grid = tp.labels if tp.labels is not None else tp.volume
        if arr is None or grid is None:
            label_maps.append(None)
        elif arr.shape != grid.shape:
            raise AnalyzerRefused(f"{name} returned a label map of timepoint {i + 1} that "
                                  "does not fit its image")
        else:
            label_maps.append(grid.with_array(np.array(arr), labels=grid.labels))
    if not any(m is not None for m in label_maps):
        label_maps = []
    result = LongitudinalResult(summary=plain.get("summary"), table=plain.get("table"),
                                label_maps=label_maps, warnings=plain.get("warnings"))
    return checked_result(result, name=name, n_timepoints=len(timepoints))
