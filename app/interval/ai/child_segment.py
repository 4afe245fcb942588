"""Child-side wrapper of :func:`interval.ai.engine_child.segment_arrays` for plugin code.

A "plugin" network's code lives in the plugin's own folder
(``SegmentationModelEntry.code_path``) and is imported in the child process only: this
wrapper hands that folder to the engine, whose plugin-code loader
(:mod:`interval.ai.networks.plugin_code`) imports the network's module from there alone,
after checking its file, and appends the folder to ``sys.path`` only then (never in
front of installed packages).  It adds ``timings["engine_other"]``: the engine's wall
time outside its named phases.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

TARGET = "interval.ai.child_segment:segment_arrays"


def segment_arrays(arrays: dict[str, np.ndarray], *, code_path: str | None = None,
                   **kwargs: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(In the child) the engine's ``segment_arrays``, which loads a "plugin" network's
    code from ``code_path`` only."""
    from interval.ai.engine_child import segment_arrays as engine_segment_arrays

    t0 = time.perf_counter()
    outputs, info = engine_segment_arrays(arrays, code_path=code_path, **kwargs)
    wall = time.perf_counter() - t0
    timings = {str(k): float(v) for k, v in dict(info.get("timings", {})).items()}
    timings["engine_other"] = max(wall - sum(v for k, v in timings.items() if k != "total"), 0.0)
    return outputs, {**info, "timings": timings}
