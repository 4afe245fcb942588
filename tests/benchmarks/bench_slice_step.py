"""Median time of one slice step in a 512x512 SliceView with one label overlay.

Headless (QT_QPA_PLATFORM=offscreen: VTK through EGL, Mesa llvmpipe on a CPU-only
machine).  A "step" is ``view.step(±1)`` + a synchronous render; the second line adds
reading the frame back (which also waits for the GL pipeline to finish).  Wall time
is what a user feels; process CPU time (all threads) shows the work when other jobs
share the machine.  Target: 20 ms per step.
Run: ``python tests/benchmarks/bench_slice_step.py``.
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
from interval.core.metadata import WindowLevel  # noqa: E402
from interval.core.volume import Volume  # noqa: E402
from interval.ui.slice_view import SliceView  # noqa: E402
from interval.ui.vtk_widget import VtkWidget  # noqa: E402

SIZE = 512
N_SLICES = 120
STEPS = 100
TARGET_MS = 20.0


def _volumes() -> tuple[Volume, Volume]:
    rng = np.random.default_rng(0)
    a = rng.normal(40, 200, size=(N_SLICES, SIZE, SIZE)).astype(np.int16)
    vol = Volume(a, spacing=(0.7, 0.7, 2.5), origin=(-180.0, -180.0, -150.0))
    zz, yy, xx = np.ogrid[:N_SLICES, :SIZE, :SIZE]
    lab = ((xx - 256) ** 2 + (yy - 256) ** 2 < (150 - zz) ** 2).astype(np.uint8)
    lab[:, 200:260, 200:260] = 2
    return vol, vol.with_array(lab, labels=LabelTable.for_values([1, 2]))


def _time_steps(widget: VtkWidget, view: SliceView, *, readback: bool) -> tuple[list, list]:
    wall, cpu = [], []
    direction = 1
    for _ in range(STEPS):
        if view.slice_index in (0, view.slice_count - 1):
            direction = -direction
        t0, c0 = time.perf_counter(), time.process_time()
        view.step(direction)
        if readback:
            widget.capture()
        else:
            view.render()
        wall.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
    return wall, cpu


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    widget = VtkWidget()
    widget.resize(SIZE, SIZE)
    widget.show()
    app.processEvents()
    vol, lab = _volumes()
    view = SliceView(widget.add_renderer())
    view.set_volume(vol, WindowLevel(40, 400))
    view.set_label_map(lab, opacity=0.5)
    widget.capture()  # warm-up: GL context, shaders, textures
    rw = widget.GetRenderWindow()
    print(
        f"{rw.GetClassName()} {rw.GetSize()}, volume {vol.size_ijk} int16 + uint8 labels, "
        f"{view.mm_per_pixel:.3f} mm/pixel, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    for readback in (False, True):
        wall, cpu = _time_steps(widget, view, readback=readback)
        what = "render + readback" if readback else "render           "
        print(
            f"slice step, {what}: median {statistics.median(wall):6.2f} ms wall "
            f"(p90 {np.percentile(wall, 90):6.2f}), {statistics.median(cpu):6.2f} ms CPU"
        )
    print(f"target: {TARGET_MS:.0f} ms")
    widget.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
