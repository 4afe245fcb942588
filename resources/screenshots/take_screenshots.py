"""Re-make the README screenshots: the main window on the demo patient, under a real X server.

    interval demo --out /tmp/demo1          # once
    xvfb-run -a -s "-screen 0 1600x1000x24" python resources/screenshots/take_screenshots.py

Opens the first study of the demo patient, loads its ground-truth label map as a
segmentation, and saves ``viewer-2x2.png`` (2x2 layout) and ``viewer-3d.png`` (the
3-D view maximised) with the window's own layout screenshot.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAX_BYTES = 480_000  # README images stay under 500 KB


def shrink(path: Path) -> None:
    """Re-save ``path`` as a 256-colour PNG when it is too big (max-coverage palette:
    every pixel within ~17/255 of its colour, legend swatches kept)."""
    if path.stat().st_size <= MAX_BYTES:
        return
    try:
        from PIL import Image
    except ImportError:
        print(f"{path.name}: {path.stat().st_size} bytes; install Pillow to shrink it")
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MAXCOVERAGE)
    small.save(path, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=Path("/tmp/demo1"))
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()

    from interval.ui import app as app_module

    app = app_module.application()
    win = app_module.create_window()
    win.resize(1560, 940)
    win.move(0, 0)

    def wait(cond: Callable[[], bool], timeout: float = 120.0) -> None:
        start = time.time()
        while not cond():
            app.processEvents()
            time.sleep(0.02)
            if time.time() - start > timeout:
                raise SystemExit("timed out waiting for the viewer")
        for _ in range(20):
            app.processEvents()

    study = sorted((args.demo / "DICOM").iterdir())[0]
    win.open_path(study)
    wait(lambda: win.state.active_volume is not None)
    win.open_segmentation(args.demo / "ground_truth" / "tp1_labels.nii.gz")
    wait(lambda: len(win.state.layers) >= 2)

    win.state.set_layout("2x2")
    win.views.view_3d.rotate(25, 12)
    wait(win.views.view_3d.is_ready)  # volume and surfaces prepared in the background
    shrink(win.save_layout_screenshot(args.out / "viewer-2x2.png"))
    win.state.set_layout("1x1", "3d")
    wait(win.views.view_3d.is_ready)
    shrink(win.save_layout_screenshot(args.out / "viewer-3d.png"))
    os._exit(0)  # skip teardown of the background workers


if __name__ == "__main__":
    main()
