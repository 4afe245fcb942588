"""Re-make the README screenshots of the longitudinal workspace from the demo patient.

    interval demo --no-view --out /tmp/interval-ws-demo        # once (about 3 minutes on 2 cores)
    python resources/screenshots/take_workspace_screenshots.py --demo /tmp/interval-ws-demo

When ``DEMO/report.json`` is missing the script runs that ``interval demo`` command
itself.  Headless by default (``QT_QPA_PLATFORM=offscreen``; the VTK frames are read
back and painted into the window's image by :func:`interval.ui.screenshot.save_layout`).
The demo's output folder is copied first, so the screenshots' corrections and layout
never reach it.  Saves:

* ``workspace-side-by-side.png``: three timepoints side by side on a growing target
  lesion, the lesion table and that lesion's growth chart with the forecast band;
* ``workspace-sum-chart.png``: the same lesion renamed by the reader (a correction: the
  table marks it) and the chart dock on the sum of target diameters with the RECIST
  thresholds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from take_screenshots import shrink  # noqa: E402

SIZE = (1600, 950)


def ensure_demo(root: Path) -> Path:
    """``root`` holding the demo's tracking results (``interval demo`` is run when not)."""
    if (root / "report.json").is_file():
        return root
    interval = Path(sys.executable).with_name("interval")
    command = [str(interval) if interval.exists() else "interval", "demo", "--no-view",
               "--out", str(root)]
    print("running:", " ".join(command))
    subprocess.run(command, check=True)
    return root


def fresh_copy(root: Path) -> Path:
    """The results without a saved session or corrections (the window as first opened)."""
    out = Path(tempfile.mkdtemp(prefix="interval-shots-")) / root.name
    shutil.copytree(root, out, ignore=shutil.ignore_patterns(
        "workspace.json", "corrections.json", "DICOM", "dicom"))
    for name in ("DICOM", "dicom"):  # the scans: linked, not copied
        if (root / name).exists():
            (out / name).symlink_to((root / name).resolve())
    return out


def growing_target(window) -> str | None:  # noqa: ANN001 - LongitudinalWorkspaceWindow
    """The target lesion seen at every shown timepoint that grew most (else any lesion)."""
    shown = window.views.timepoints
    best, best_change = None, -1e9
    rows = window.workspace.rows()
    for row in rows:
        cells = [row.cell(t) for t in shown]
        if row.role != "target" or any(c is None or c.long_axis_mm is None for c in cells):
            continue
        change = cells[-1].change_from_baseline_pct or 0.0
        if change > best_change:
            best, best_change = row.lesion_id, change
    return best or (rows[0].lesion_id if rows else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=Path("/tmp/interval-ws-demo"))
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["INTERVAL_CONFIG_DIR"] = tempfile.mkdtemp(prefix="interval-shots-config-")
    folder = fresh_copy(ensure_demo(args.demo))

    from PySide6.QtCore import Qt

    from interval.ui import app as app_module
    from interval.ui.longitudinal.workspace_window import open_workspace_window
    from interval.ui.screenshot import save_layout

    app = app_module.application()

    def settle(cond: Callable[[], bool] = lambda: True, timeout: float = 120.0) -> None:
        start = time.time()
        while not cond():
            app.processEvents()
            time.sleep(0.02)
            if time.time() - start > timeout:
                raise SystemExit("timed out waiting for the workspace")
        for _ in range(30):
            app.processEvents()
            time.sleep(0.01)

    window = open_workspace_window(folder)
    window.resize(*SIZE)
    window.move(0, 0)
    if not window.views.wait_loaded(300):
        raise SystemExit("a timepoint could not be shown")
    window.splitter.setSizes([560, 390])
    window.resizeDocks([window.chart_dock], [560], Qt.Orientation.Horizontal)
    lesion = growing_target(window)
    if lesion is None:
        raise SystemExit("the demo report has no lesion")
    window.show_lesion(lesion)
    window.flush_chart()
    window.chart_tabs.setCurrentIndex(0)
    settle()
    shrink(save_layout(window, args.out / "workspace-side-by-side.png"))

    row = next(r for r in window.workspace.rows() if r.lesion_id == lesion)
    if not window.rename_lesion(lesion, f"{row.name} (checked)"):
        raise SystemExit(f"could not rename {lesion}: {window.last_message}")
    window.show_lesion(lesion)
    window.flush_chart()
    window.chart_tabs.setCurrentIndex(1)
    settle()
    shrink(save_layout(window, args.out / "workspace-sum-chart.png"))
    for name in ("workspace-side-by-side.png", "workspace-sum-chart.png"):
        path = args.out / name
        print(f"{path}: {path.stat().st_size // 1024} KiB")
    from interval.io.dicom.index import shutdown_workers

    shutdown_workers()  # the index worker processes would outlive os._exit
    sys.stdout.flush()
    os._exit(0)  # skip teardown of the background workers


if __name__ == "__main__":
    main()
