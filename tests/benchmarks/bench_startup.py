"""Start-up benchmark: time to create and show the main window in a fresh process.

Run: ``python tests/benchmarks/bench_startup.py [--repeat 5]``
(headless by default; under a real X server: ``xvfb-run -a python tests/benchmarks/bench_startup.py --platform xcb``)

Each run is a fresh Python process that imports the viewer, creates the
QApplication and :class:`interval.ui.main_window.MainWindow` (as ``interval view``
does, through :func:`interval.ui.app.create_window`), shows it and processes events
until it is visible and painted.  When the main window does not exist (early in
the milestone) a ViewLayout, else three SliceViews in a window, stands in.

Two figures: ``process`` = from launching the interpreter to the window shown (what a
user waits, interpreter start included), ``in-process`` = from the first line of the
script.  Target: shown in under 2 s.  It also checks that ``torch`` was never
imported, nor even looked for (an import hook records every attempt).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_S = 2.0


class _TorchWatch:
    """A meta-path finder that only records attempts to import torch."""

    attempts: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "torch" or name.startswith("torch."):
            self.attempts.append(name)
        return None


def child(out: str) -> None:
    t0 = time.perf_counter()
    sys.meta_path.insert(0, _TorchWatch())
    from interval.ui import app as app_module

    app = app_module.application()
    what = "MainWindow"
    try:
        window = app_module.create_window()
    except ImportError:
        window, what = _stand_in()
    t_created = time.perf_counter()
    deadline = time.perf_counter() + 30
    while not window.isVisible() and time.perf_counter() < deadline:
        app.processEvents()
    for _ in range(3):  # layout, first paint
        app.processEvents()
    t_shown = time.perf_counter()
    result = {
        "in_process": t_shown - t0,
        "create": t_created - t0,
        "what": what,
        "platform": app.platformName(),
        "visible": bool(window.isVisible()),
        "torch_imported": "torch" in sys.modules,
        "torch_attempts": sorted(set(_TorchWatch.attempts)),
        "t_shown_epoch": time.time(),
    }
    Path(out).write_text(json.dumps(result))
    os._exit(0)


def _stand_in():  # -> (widget, description)
    from PySide6.QtWidgets import QHBoxLayout, QWidget

    from interval.core.viewer_state import ViewerState

    state = ViewerState()
    try:
        from interval.ui.view_layout import ViewLayout

        window = ViewLayout(state)
        what = "ViewLayout"
    except ImportError:
        from interval.ui.slice_view import SliceView
        from interval.ui.vtk_widget import VtkWidget

        window = QWidget()
        box = QHBoxLayout(window)
        window._views = []  # type: ignore[attr-defined]
        for orientation in ("axial", "coronal", "sagittal"):
            w = VtkWidget(window)
            box.addWidget(w)
            window._views.append(SliceView(w.add_renderer(), orientation))  # type: ignore[attr-defined]
        what = "3 SliceViews"
    window.resize(1280, 800)
    window.show()
    return window, what


def run_once(platform: str | None) -> dict:
    env = dict(os.environ)
    if platform:
        env["QT_QPA_PLATFORM"] = platform
    elif not env.get("DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env["XDG_CONFIG_HOME"] = tmp  # fresh settings, the user's are not touched
        start = time.time()
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(out)],
            env=env,
            cwd=HERE.parents[1],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
            return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
        result = json.loads(out.read_text())
        result["process"] = result["t_shown_epoch"] - start
        return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--platform", help="QT_QPA_PLATFORM for the child (default: offscreen without a display)"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return 0
    runs = [run_once(args.platform) for _ in range(args.repeat)]
    bad = [r["error"] for r in runs if "error" in r]
    if bad:
        print(f"FAILED: {bad[0]}")
        return 1
    proc = statistics.median(r["process"] for r in runs)
    inproc = statistics.median(r["in_process"] for r in runs)
    create = statistics.median(r["create"] for r in runs)
    first = runs[0]
    print(
        f"{first['what']} on Qt platform '{first['platform']}', {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}, {len(runs)} fresh processes"
    )
    each = ", ".join(f"{r['process']:.2f}" for r in runs)
    print(
        f"window shown: median {proc:.2f} s from process launch (runs {each}), "
        f"{inproc:.2f} s in-process (imports + create {create:.2f} s); target < {TARGET_S:.0f} s"
    )
    torch = any(r["torch_imported"] or r["torch_attempts"] for r in runs)
    print(f"torch imported: {'YES ' + str(first['torch_attempts']) if torch else 'never'}")
    if not all(r["visible"] for r in runs):
        print("window was NOT visible in some runs")
        return 1
    return 1 if torch else 0


if __name__ == "__main__":
    sys.exit(main())
