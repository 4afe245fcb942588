"""Torch-free glue between the viewer and :mod:`interval.ai.engine_child` (used by the runner).

:func:`child_kwargs` turns a Volume + model folder + options into the arrays and the
plain JSON-able keyword arguments of ``segment_arrays``; :func:`result_from_child`
turns the child's answer back into a :class:`SegmentationResult` on the input grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interval.ai.model_package import load_model_spec
from interval.ai.options import InferenceOptions, SegmentationResult
from interval.core.volume import Volume


def child_kwargs(volume: Volume, model_dir: str | Path,
                 options: InferenceOptions | dict[str, Any] | None = None,
                 priors: Sequence[Volume] = (),
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(arrays, kwargs)`` for ``run_in_child("interval.ai.engine_child:segment_arrays", ...)``.

    ``priors`` (a temporal model's earlier scans, on ``volume``'s grid, oldest first)
    travel as ``prior0``, ``prior1``, ...
    """
    if isinstance(options, InferenceOptions):
        opts = options.to_dict()
    else:
        opts = InferenceOptions.from_dict(options).to_dict()
    kwargs = {
        "model_dir": str(Path(model_dir).resolve()),
        "spacing": [float(s) for s in volume.spacing],
        "origin": [float(o) for o in volume.origin],
        "direction": np.asarray(volume.direction, dtype=float).reshape(-1).tolist(),
        "modality": volume.metadata.modality or "",
        "options": opts,
    }
    arrays = {"image": volume.array}
    for n, prior in enumerate(priors):
        if not prior.same_grid(volume):
            raise ValueError("an earlier scan for a temporal model must lie on the scan's grid")
        arrays[f"prior{n}"] = prior.array
    kwargs["n_priors"] = len(priors)
    return arrays, kwargs


def result_from_child(volume: Volume, model_dir: str | Path, outputs: dict[str, np.ndarray],
                      info: dict[str, Any]) -> SegmentationResult:
    """The child's ``({"labels": ..., "confidence": ...}, info)`` as Volumes on ``volume``'s
    grid (the confidence map only when the child sent one; checked by the caller)."""
    spec = load_model_spec(model_dir)
    labels = np.asarray(outputs["labels"])
    confidence = outputs.get("confidence")
    return SegmentationResult(
        labels=volume.with_array(labels, labels=spec.label_table),
        timings={str(k): float(v) for k, v in dict(info.get("timings", {})).items()},
        device=str(info.get("device", "cpu")),
        warnings=[str(w) for w in info.get("warnings", [])],
        confidence=None if confidence is None else volume.with_array(np.asarray(confidence)),
    )
