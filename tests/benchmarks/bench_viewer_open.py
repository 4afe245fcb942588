"""Viewer benchmarks on the 512x512x400 CT: time to the first frame, and peak memory.

Run: ``python tests/benchmarks/bench_viewer_open.py [--repeat 3] [--slices 400] [--size 512]``

Uses the synthetic series of ``_bench_series.py`` under ``/tmp/interval-bench``
(written once, then reused).  Every measurement runs in its own fresh Python process,
on a warm OS page cache, headless (``QT_QPA_PLATFORM=offscreen``: VTK through EGL,
Mesa llvmpipe on a CPU-only machine).

1. **Open to first frame.**  ``loader``: ``index_folder`` + ``load_stack`` alone (no
   Qt).  ``viewer``: a 512x512 :class:`SliceView` window is already shown (as in the
   application); the clock starts at "open series" and stops when the first frame
   with the CT has been rendered and read back: ``index_folder`` + ``load_stack`` +
   ``ViewerState.add_volume`` + ``SliceView.set_volume`` + render.  The ratio
   ``viewer / loader`` is printed per run (same process: open time over its own
   loader phases) and over the medians of the separate processes.  Target <= 1.5.
2. **Peak memory** with the CT and one uint8 label map of the same grid open in a
   ``ViewerState`` and shown in three SliceViews (axial, coronal, sagittal) with the
   overlay, each rendered: peak resident memory (``VmHWM``) above the baseline taken
   after the window is up.  Target <= 2x the raw CT (int16: 200 MiB).  The
   ``memory+3d`` run adds the :class:`View3D` (volume rendering + label surface),
   waiting for its background preparation (reduced volume, surfaces) to finish; on
   llvmpipe the "GPU" 3-D texture lives in host memory and counts here.
   Index worker processes are separate processes and are not counted.

Showing a first image before the whole series is loaded (not done; ``io/`` unchanged):
after ``index_folder`` the stack's frames and their positions are known, so the
loader could (a) ``read_pixels([middle frame])`` (one uncompressed 512x512 frame reads
in about a millisecond) and hand it to the axial view as a one-slice Volume with
the stack's geometry while the rest loads in the worker, or better (b) let
``load_stack`` preallocate the volume, fill it from the middle slice outwards and
report filled slabs through its progress callback; the views already wrap the
array without a copy (``vtk_image.mark_modified`` makes VTK see new slices), so the
slice under the crosshair appears first and the others fill in.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _bench_child import run_script_child  # noqa: E402
from _bench_series import ensure_series, series_files  # noqa: E402

MIB = 2**20
TARGET_RATIO = 1.5
TARGET_MEMORY = 2.0
VIEW_SIZE = 512


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as fp:
        for line in fp:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _rss() -> int:
    return _status_bytes("VmRSS")


def _peak() -> int:
    return _status_bytes("VmHWM")


def _reset_peak() -> None:
    """Make VmHWM restart from the current RSS (Linux >= 4.0); harmless elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as fp:
            fp.write("5")
    except OSError:
        pass


def _load(folder: str):  # -> Volume, phases
    from interval.io.dicom.index import index_folder
    from interval.io.dicom.load import choose_stack, load_stack

    t0 = time.perf_counter()
    idx = index_folder(folder)
    t1 = time.perf_counter()
    volume = load_stack(choose_stack(idx, None, folder))
    t2 = time.perf_counter()
    return volume, {"index": t1 - t0, "load": t2 - t1}


def _shutdown_workers() -> None:
    try:
        from interval.io.dicom.index import shutdown_workers

        shutdown_workers()
    except ImportError:
        pass


def _window(n_views: int):  # -> app, widgets, views
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from interval.ui.slice_view import SliceView
    from interval.ui.vtk_widget import VtkWidget

    app = QApplication.instance() or QApplication(sys.argv)
    widgets, views = [], []
    for orientation in ("axial", "coronal", "sagittal")[:n_views]:
        w = VtkWidget()
        w.resize(VIEW_SIZE, VIEW_SIZE)
        w.show()
        widgets.append(w)
        views.append(SliceView(w.add_renderer(), orientation))
    app.processEvents()
    for w in widgets:
        w.capture()  # GL context up, as in a window that is already on screen
    return app, widgets, views


# --- child processes -------------------------------------------------------------------------
def child_loader(folder: str) -> dict:
    import interval.io.dicom.load  # noqa: F401

    volume, phases = _load(folder)
    _shutdown_workers()
    return {"time": sum(phases.values()), "phases": phases, "shape": list(volume.shape)}


def child_viewer(folder: str) -> dict:
    import interval.io.dicom.load  # noqa: F401
    from interval.core.viewer_state import ViewerState

    app, widgets, views = _window(1)
    state = ViewerState()
    t0 = time.perf_counter()
    volume, phases = _load(folder)  # "open series"
    vid = state.add_volume(volume)
    t1 = time.perf_counter()
    views[0].set_volume(volume, state.window(vid))
    views[0].set_slice_position(float(views[0].slice_position_of_index(views[0].slice_count // 2)))
    frame = widgets[0].capture()
    t2 = time.perf_counter()
    _shutdown_workers()
    assert frame.shape == (VIEW_SIZE, VIEW_SIZE, 3) and frame.std() > 5, "blank first frame"
    phases["state"] = t1 - t0 - phases["index"] - phases["load"]
    phases["first_frame"] = t2 - t1
    loader = phases["index"] + phases["load"]
    return {"time": t2 - t0, "phases": phases, "loader": loader, "ratio": (t2 - t0) / loader}


def child_memory(folder: str, with_3d: bool) -> dict:
    import numpy as np

    import interval.io.dicom.load  # noqa: F401
    from interval.core.labels import LabelTable
    from interval.core.viewer_state import ViewerState

    app, widgets, views = _window(3)
    view3d = None
    state = ViewerState()
    if with_3d:
        from interval.ui.view_3d import View3D

        view3d = View3D(state)
        view3d.resize(VIEW_SIZE, VIEW_SIZE)
        view3d.show()
        app.processEvents()
        view3d.capture()
    base = _rss()
    _reset_peak()
    volume, _ = _load(folder)
    _shutdown_workers()
    labels = np.zeros(volume.shape, np.uint8)
    np.greater(volume.array, 300, out=labels.view(np.bool_))  # bone = 1, no temporary
    label_volume = volume.with_array(labels, labels=LabelTable.for_values([1]))
    vid = state.add_volume(volume)
    lid = state.add_volume(label_volume)
    for w, v in zip(widgets, views, strict=True):
        v.set_volume(volume, state.window(vid))
        v.set_label_map(label_volume, state.layer(lid).labels, 0.5)
        w.capture()
    t0 = time.perf_counter()
    if view3d is not None:  # prepared in the background, then drawn on the UI thread
        view3d.render_now()
        while not view3d.is_ready() and time.perf_counter() - t0 < 120:
            app.processEvents()
            time.sleep(0.005)
        view3d.capture()
    render_3d = time.perf_counter() - t0
    peak = _peak() - base
    raw = volume.array.nbytes
    out = {
        "peak": peak,
        "raw": raw,
        "labels": labels.nbytes,
        "ratio": peak / raw,
        "baseline": base,
        "dtype": str(volume.dtype),
    }
    if view3d is not None:
        out["render_3d"] = render_3d
        out["render_mode"] = view3d.render_mode
        shown = view3d.shown_volume
        out["shown_3d"] = "x".join(str(n) for n in shown.shape[::-1]) if shown else "none"
    return out


# --- parent ------------------------------------------------------------------------------------
def run_child(mode: str, folder: Path) -> dict:
    """One measurement in a fresh process (:func:`_bench_child.run_script_child`)."""
    return run_script_child(__file__, mode, folder)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--slices", type=int, default=400)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--root", type=Path, default=Path("/tmp/interval-bench"))
    ap.add_argument("--skip-3d", action="store_true", help="no memory+3d run")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, folder, out = args.child
        runners = {
            "loader": lambda: child_loader(folder),
            "viewer": lambda: child_viewer(folder),
            "memory": lambda: child_memory(folder, False),
            "memory+3d": lambda: child_memory(folder, True),
        }
        Path(out).write_text(json.dumps(runners[mode]()))
        _shutdown_workers()
        sys.stdout.flush()
        os._exit(0)  # skip Qt/VTK teardown

    folder, reused = ensure_series(args.root, args.slices, args.size)
    for path in series_files(folder):  # warm page cache
        with open(path, "rb") as fp:
            while fp.read(1 << 20):
                pass
    print(
        f"series {folder} ({'reused' if reused else 'written'}), {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    loader, viewer = [], []
    for _ in range(args.repeat):  # interleaved so both see the same machine state
        loader.append(run_child("loader", folder))
        viewer.append(run_child("viewer", folder))
    for name, runs in (("loader", loader), ("viewer", viewer)):
        bad = [r["error"] for r in runs if "error" in r]
        if bad:
            print(f"{name}: FAILED {bad[0]}")
            return 1
    lt = statistics.median(r["time"] for r in loader)
    vt = statistics.median(r["time"] for r in viewer)
    ph = {k: statistics.median(r["phases"][k] for r in viewer) for k in viewer[0]["phases"]}
    in_run = statistics.median(r["ratio"] for r in viewer)
    runs = ", ".join(f"{r['time']:.2f}" for r in loader)
    print(f"loader alone (index_folder + load_stack): median {lt:.2f} s (runs {runs})")
    print(
        f"open -> first frame: median {vt:.2f} s (index {ph['index']:.2f} + load {ph['load']:.2f}"
        f" + state {ph['state']:.3f} + first frame {ph['first_frame']:.3f} s)"
    )
    print(
        f"ratio open->frame / loader: {vt / lt:.3f} (separate processes), "
        f"{in_run:.3f} (same process); target <= {TARGET_RATIO}"
    )
    modes = ["memory"] + ([] if args.skip_3d else ["memory+3d"])
    for mode in modes:
        m = run_child(mode, folder)
        if "error" in m:
            print(f"{mode}: FAILED {m['error']}")
            return 1
        extra = ""
        if "render_3d" in m:
            extra = (
                f"; 3-D ready and drawn after {m['render_3d']:.1f} s ({m['render_mode']}, "
                f"volume rendered from {m['shown_3d']})"
            )
        print(
            f"peak memory ({mode}: CT {m['dtype']} + uint8 label map, 3 slice views"
            f"{' + 3-D view' if mode == 'memory+3d' else ''}): {m['peak'] / MIB:.0f} MiB above "
            f"baseline = {m['ratio']:.2f}x the raw CT ({m['raw'] / MIB:.0f} MiB; labels "
            f"{m['labels'] / MIB:.0f} MiB){extra}; target <= {TARGET_MEMORY}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
