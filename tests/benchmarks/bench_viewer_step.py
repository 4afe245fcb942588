"""Median time of one slice step in a 512x512 MprView (ViewerState-driven) with one overlay.

Headless (QT_QPA_PLATFORM=offscreen: VTK through EGL, Mesa llvmpipe on a CPU-only
machine).  A "step" is ``state.step_slice("axial", ±1)`` (the crosshair moves, every
observing view updates its plane, crosshair lines and corner text) + a synchronous
render of the axial view; the last line renders all three MPR views of a 1x3 layout.
Compare with ``bench_slice_step.py`` (SliceView alone).  Target: 20 ms per step.
Run: ``python tests/benchmarks/bench_viewer_step.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from interval.core.labels import LabelTable  # noqa: E402
from interval.core.metadata import VolumeMetadata, WindowLevel  # noqa: E402
from interval.core.viewer_state import ViewerState  # noqa: E402
from interval.core.volume import Volume  # noqa: E402
from interval.ui.mpr_view import MprView  # noqa: E402

SIZE = 512
N_SLICES = 120
STEPS = 100
TARGET_MS = 20.0


def _volumes() -> tuple[Volume, Volume]:
    rng = np.random.default_rng(0)
    a = rng.normal(40, 200, size=(N_SLICES, SIZE, SIZE)).astype(np.int16)
    md = VolumeMetadata(modality="CT", units="HU", default_window=WindowLevel(40, 400))
    vol = Volume(a, spacing=(0.7, 0.7, 2.5), origin=(-180.0, -180.0, -150.0), metadata=md)
    zz, yy, xx = np.ogrid[:N_SLICES, :SIZE, :SIZE]
    lab = ((xx - 256) ** 2 + (yy - 256) ** 2 < (150 - zz) ** 2).astype(np.uint8)
    lab[:, 200:260, 200:260] = 2
    return vol, vol.with_array(lab, labels=LabelTable.for_values([1, 2]))


def _time_steps(state: ViewerState, views: list[MprView], *, readback: bool) -> tuple[list, list]:
    wall, cpu = [], []
    direction = 1
    for _ in range(STEPS):
        if state.slice_index("axial") in (0, state.slice_count("axial") - 1):
            direction = -direction
        t0, c0 = time.perf_counter(), time.process_time()
        state.step_slice("axial", direction)
        for view in views:
            if readback:
                view.capture()
            else:
                view.render_now()
        wall.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
    return wall, cpu


def _report(what: str, wall: list, cpu: list) -> None:
    print(
        f"slice step, {what}: median {statistics.median(wall):6.2f} ms wall "
        f"(p90 {np.percentile(wall, 90):6.2f}), {statistics.median(cpu):6.2f} ms CPU"
    )


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    state = ViewerState()
    views = [MprView(state, k) for k in ("axial", "coronal", "sagittal")]
    for view in views:
        view.resize(SIZE, SIZE)
        view.show()
    app.processEvents()
    vol, lab = _volumes()
    state.add_volume(vol)
    state.add_volume(lab)
    for view in views:
        view.capture()  # warm-up: GL context, shaders, textures
    axial = views[0]
    rw = axial.vtk.GetRenderWindow()
    print(
        f"{rw.GetClassName()} {rw.GetSize()}, volume {vol.size_ijk} int16 + uint8 labels, "
        f"{axial.slice_view.mm_per_pixel:.3f} mm/pixel, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    for readback in (False, True):
        wall, cpu = _time_steps(state, [axial], readback=readback)
        _report("axial, render + readback" if readback else "axial, render           ", wall, cpu)
    wall, cpu = _time_steps(state, views, readback=False)
    _report("3 views, render         ", wall, cpu)
    print(f"target: {TARGET_MS:.0f} ms (one view)")
    for view in views:
        view.close_view()
    return 0


if __name__ == "__main__":
    sys.exit(main())
