"""UI-thread stalls caused by the 3-D view on the 512x512x400 CT (headless, llvmpipe).

Run: ``python tests/benchmarks/bench_ui_stall.py [--slices 400] [--size 512] [--repeat 1]``

Builds the real :class:`~interval.ui.main_window.MainWindow` (1280x800, shown,
``QT_QPA_PLATFORM=offscreen``: VTK through EGL on Mesa llvmpipe when there is no GPU),
with a CT volume built directly with numpy (int16 HU phantom: body, lungs, spine, bone
ring; the same kind of data as ``_bench_series.py`` without the DICOM round trip) and a
uint8 label map (bone > 300 HU = 1, a box in the body = 2).  A ``QTimer`` firing every
5 ms records the gaps between its ticks: the longest gap is the longest time the event
loop (the UI) could not respond.  Scenarios, each in a fresh process:

``layout``  CT + label map open in 1x3; switch the layout to 2x2 (the 3-D view appears).
``labels``  CT open in 2x2 with the 3-D volume shown; add the label map (as opening a
            segmentation does once it is loaded in the background).
``open``    2x2 shown, empty; add the CT (as the end of loading a series does).

For each: the longest stall, the number of stalls over 100 ms, and the time until the
3-D view shows what it should (volume rendered / surfaces present).  Target: longest
stall < 250 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIMIT_S = 60.0


def _phantom(nz: int, size: int):  # -> Volume
    import numpy as np

    from interval.core.metadata import VolumeMetadata
    from interval.core.volume import Volume

    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    c = size / 2
    base = np.full((size, size), -1000, np.int16)
    body = ((x - c) / (0.42 * size)) ** 2 + ((y - c) / (0.32 * size)) ** 2 <= 1
    base[body] = 40
    ring = body & ~(((x - c) / (0.39 * size)) ** 2 + ((y - c) / (0.29 * size)) ** 2 <= 1)
    base[ring] = 600  # ribs-like bone shell
    for side in (-1, 1):
        lung = ((x - c - side * 0.18 * size) / (0.12 * size)) ** 2 + (
            (y - c + 0.02 * size) / (0.2 * size)
        ) ** 2 <= 1
        base[lung] = -850
    spine = (x - c) ** 2 + (y - c - 0.22 * size) ** 2 <= (0.05 * size) ** 2
    base[spine] = 700
    rng = np.random.default_rng(0)
    a = np.empty((nz, size, size), np.int16)
    noise = rng.normal(0, 12, size=(8, size, size)).astype(np.int16)
    for k in range(nz):
        np.add(base, noise[k % 8], out=a[k])
    meta = VolumeMetadata(modality="CT")
    return Volume(a, spacing=(0.7, 0.7, 1.25), origin=(-179.2, -179.2, 0.0), metadata=meta)


def _labels(ct):  # -> Volume
    import numpy as np

    from interval.core.labels import LabelTable

    a = np.zeros(ct.shape, np.uint8)
    np.greater(ct.array, 300, out=a.view(np.bool_))
    nz, ny, nx = a.shape
    a[nz // 4 : nz // 2, ny // 3 : ny // 2, nx // 3 : nx // 2] = 2
    return ct.with_array(a, labels=LabelTable.for_values([1, 2]))


def _shown(view3d, what: str) -> bool:
    """Whether the 3-D view shows ``what`` ("volume" or "surfaces")."""
    if what == "surfaces":
        if hasattr(view3d, "surfaces_ready"):
            return bool(view3d.surfaces_ready())
        return any(s.built and s.actors for s in view3d._surfaces.values())
    if hasattr(view3d, "volume_ready"):
        return bool(view3d.volume_ready()) and view3d.render_mode != "none"
    return view3d.render_mode != "none"


def child(scenario: str, slices: int, size: int, view3d_file: str = "") -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if view3d_file:  # another version of interval/ui/view_3d.py, to compare with
        import importlib.util

        import interval.ui  # noqa: F401

        spec = importlib.util.spec_from_file_location("interval.ui.view_3d", view3d_file)
        module = importlib.util.module_from_spec(spec)
        sys.modules["interval.ui.view_3d"] = module
        spec.loader.exec_module(module)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import interval.ui  # noqa: F401
    from interval.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    tmp = tempfile.mkdtemp()
    win = MainWindow(settings_path=Path(tmp) / "settings.json")
    state = win.state
    state.set_layout("2x2" if scenario in ("labels", "open") else "1x3")
    win.show()
    for _ in range(20):
        app.processEvents()
    ct = _phantom(slices, size)
    labels = _labels(ct)
    if scenario == "layout":
        state.add_volume(ct)
        state.add_volume(labels)
    elif scenario == "labels":
        state.add_volume(ct)
    t_end = time.perf_counter() + LIMIT_S
    view3d = win.views.view_3d
    if scenario == "labels":  # wait for the volume to be up before the measured action
        while not _shown(view3d, "volume") and time.perf_counter() < t_end:
            app.processEvents()
            time.sleep(0.005)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)

    renders: list[float] = []  # durations of the 3-D view's renders (UI thread)
    rw = view3d.vtk.GetRenderWindow()
    started: list[float] = []
    rw.AddObserver("StartEvent", lambda *_: started.append(time.perf_counter()))
    rw.AddObserver("EndEvent", lambda *_: renders.append(time.perf_counter() - started[-1]))
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    t0 = time.perf_counter()
    ticks.append(t0)
    if scenario == "layout":
        state.set_layout("2x2")
        want = "volume"
    elif scenario == "labels":
        state.add_volume(labels)
        want = "surfaces"
    else:
        state.add_volume(ct)
        want = "volume"
    action = time.perf_counter() - t0
    shown_at = None
    t_end = time.perf_counter() + LIMIT_S
    while time.perf_counter() < t_end:
        app.processEvents()
        if shown_at is None and _shown(view3d, want):
            shown_at = time.perf_counter() - t0
            t_end = min(t_end, time.perf_counter() + 1.0)  # a second more of stall watching
        time.sleep(0.001)
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    win.shutdown() if hasattr(win, "shutdown") else None
    return {
        "scenario": scenario,
        "action": action,
        "max_stall": max(gaps) if gaps else float("nan"),
        "stalls_100ms": sum(g > 0.1 for g in gaps),
        "shown": shown_at,
        "render_mode": view3d.render_mode,
        "renders_3d": sorted(renders, reverse=True)[:4],
    }


def run_child(scenario: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        proc = subprocess.run(
            [sys.executable, __file__, "--child", scenario, str(out),
             "--slices", str(args.slices), "--size", str(args.size),
             "--view3d", args.view3d],
            capture_output=True, text=True, cwd=HERE.parents[1], timeout=600,
        )
        if out.exists():
            return json.loads(out.read_text())
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-800:]}"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=400)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=["layout", "labels", "open"])
    ap.add_argument("--view3d", default="", help="run another view_3d.py (e.g. an older "
                    "version, to compare under the same machine load)")
    ap.add_argument("--child", nargs=2, metavar=("SCENARIO", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        scenario, out = args.child
        Path(out).write_text(json.dumps(child(scenario, args.slices, args.size, args.view3d)))
        sys.stdout.flush()
        os._exit(0)
    print(
        f"CT {args.size}x{args.size}x{args.slices} int16, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}" + (f", view_3d from {args.view3d}" if args.view3d else "")
    )
    for scenario in args.only:
        for _ in range(args.repeat):
            r = run_child(scenario, args)
            if "error" in r:
                print(f"{scenario}: FAILED {r['error']}")
                return 1
            shown = "never" if r["shown"] is None else f"{r['shown']:.2f} s"
            print(
                f"{scenario:7s} longest UI stall {1000 * r['max_stall']:.0f} ms "
                f"({r['stalls_100ms']} stalls > 100 ms; the action itself {1000 * r['action']:.0f}"
                f" ms); 3-D shows it after {shown} ({r['render_mode']}); longest 3-D renders "
                + ", ".join(f"{1000 * t:.0f}" for t in r["renders_3d"]) + " ms"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
