"""The engine's entry point inside the model's child process (called by the runner).

``run_in_child("interval.ai.engine_child:segment_arrays", {"image": array}, kwargs)``
with plain JSON-able ``kwargs`` (see :func:`interval.ai.engine_bridge.child_kwargs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from interval.core.jobs import CancelFn, ProgressFn
from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume


def segment_arrays(
    arrays: dict[str, np.ndarray],
    *,
    model_dir: str,
    spacing: Sequence[float],
    origin: Sequence[float],
    direction: Sequence[float] | Sequence[Sequence[float]],
    modality: str = "",
    options: dict[str, Any] | None = None,
    code_path: str | None = None,
    n_priors: int = 0,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Segment ``arrays["image"]`` (z, y, x) on the given grid with the package ``model_dir``.

    Returns ``({"labels": labels}, {"timings": {...}, "device": str, "warnings": [...]})``;
    ``labels`` has the image's shape (uint8 or uint16).  A model with a confidence section
    also gives ``"confidence"``: uint8 0-255 of the image's shape.  ``code_path``: the code folder of
    the plugin declaring the model (``SegmentationModelEntry.code_path``), the only place
    a ``"plugin"`` network's code may come from; None for a model package on its own.
    ``n_priors``: a temporal model's earlier scans are ``arrays["prior0"]``... (same grid).
    """
    from interval.ai.engine import segment
    from interval.ai.model_package import load_model_spec
    from interval.ai.options import InferenceOptions

    image = arrays["image"]
    volume = Volume(
        image, tuple(spacing), tuple(origin),  # type: ignore[arg-type]
        np.asarray(direction, dtype=np.float64).reshape(3, 3),
        VolumeMetadata(modality=modality or ""),
    )
    spec = load_model_spec(model_dir, code_path=code_path)
    priors = []
    for n in range(int(n_priors)):
        prior = arrays.get(f"prior{n}")
        if prior is None or prior.shape != image.shape:
            raise ValueError(f"earlier scan {n + 1} is missing or not on the scan's grid")
        priors.append(volume.with_array(prior))
    result = segment(volume, spec, InferenceOptions.from_dict(options), progress=progress,
                     cancel=cancel, priors=priors)
    info = {"timings": dict(result.timings), "device": result.device,
            "warnings": list(result.warnings)}
    outputs = {"labels": result.labels.array}
    if result.confidence is not None:
        outputs["confidence"] = result.confidence.array
    return outputs, info
