"""Child-side wrapper of :func:`interval.ai.engine_child.segment_arrays` for plugin code.

A "plugin" network's code may live in the plugin's own folder
(``SegmentationModelEntry.code_path``), which must be importable in the child
process only: this wrapper puts it on ``sys.path`` there, then runs the engine, and
adds ``timings["engine_other"]``: the engine's wall time outside its named phases.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

TARGET = "interval.ai.child_segment:segment_arrays"


def segment_arrays(arrays: dict[str, np.ndarray], *, code_path: str | None = None,
                   **kwargs: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(In the child) ``code_path`` on ``sys.path``, then the engine's ``segment_arrays``."""
    if code_path and code_path not in sys.path:
        sys.path.insert(0, code_path)
    from interval.ai.engine_child import segment_arrays as engine_segment_arrays

    t0 = time.perf_counter()
    outputs, info = engine_segment_arrays(arrays, **kwargs)
    wall = time.perf_counter() - t0
    timings = {str(k): float(v) for k, v in dict(info.get("timings", {})).items()}
    timings["engine_other"] = max(wall - sum(v for k, v in timings.items() if k != "total"), 0.0)
    return outputs, {**info, "timings": timings}
