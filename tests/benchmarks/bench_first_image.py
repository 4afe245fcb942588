"""First image before the whole series is loaded: time to the middle slice on screen.

Run: ``python tests/benchmarks/bench_first_image.py [--repeat 3] [--slices 400] [--size 512]``

Uses the synthetic 512x512x400 CT of ``_bench_series.py`` under ``/tmp/interval-bench``
(written once, then reused), warm OS page cache (``--cold``: the files are evicted from
the page cache before every run, so they are read from the disk), headless (``QT_QPA_PLATFORM=offscreen``:
VTK through EGL, Mesa llvmpipe on a CPU-only machine).  Every run is a fresh process.
The clock always starts at "open series", BEFORE indexing (index + load are both counted).

* ``loader``: ``index_folder`` + ``load_stack`` (not progressive), no Qt: the reference.
* ``blocking``: the path before progressive loading (as ``bench_viewer_open.py``'s
  ``viewer``): ``index_folder`` + ``load_stack``, then add, set on a shown 512x512 axial
  :class:`SliceView` and render + read back: the first frame comes after the whole load.
* ``viewer``: a 512x512 axial :class:`SliceView` is already on screen.  ``index_folder``,
  then ``load_stack(..., on_partial=...)`` in a background thread; at the first partial
  volume (only the middle slice read) the main thread adds it to a ``ViewerState``, sets
  it on the view and renders + reads back the frame.  ``first`` is that moment; the frame
  must show real pixels of the middle slice (the unread slices are 0: a uniform grey).
  ``complete`` is when ``load_stack`` returned (the views would then be refreshed once).
* ``window``: the whole application path: a shown :class:`MainWindow` (1x3 layout),
  ``open_path(folder)`` (index job, thumbnails job, load job, Qt signals), the event loop
  runs until the partial volume is in the state; then the axial view renders + reads back
  its frame (``first``); then until the load job has ended and the last refresh is done
  (``complete``, including the periodic refreshes of the three views while loading).

Printed: medians, ``first / loader`` (target: well below 1) and ``complete / loader``
(the cost of showing while loading; the issue's bound for open -> first frame is 1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _bench_child import run_script_child  # noqa: E402
from _bench_series import ensure_series, series_files  # noqa: E402

VIEW_SIZE = 512


def _shutdown_workers() -> None:
    try:
        from interval.io.dicom.index import shutdown_workers

        shutdown_workers()
    except ImportError:
        pass


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(sys.argv)


def _real_pixels(frame, volume, filled) -> bool:
    """The frame is not blank and the slice it shows was read (zeros would be uniform)."""
    mid = (volume.shape[0] - 1) // 2
    return bool(filled[mid]) and float(frame.std()) > 5.0 and bool(volume.array[mid].any())


# --- child processes -------------------------------------------------------------------------
def child_loader(folder: str) -> dict:
    from interval.io.dicom.index import index_folder
    from interval.io.dicom.load import choose_stack, load_stack

    t0 = time.perf_counter()
    idx = index_folder(folder)
    t1 = time.perf_counter()
    volume = load_stack(choose_stack(idx, None, folder))
    t2 = time.perf_counter()
    _shutdown_workers()
    return {"time": t2 - t0, "index": t1 - t0, "load": t2 - t1, "shape": list(volume.shape)}


def _view():  # -> widget, SliceView, shown and drawn once
    from interval.ui.slice_view import SliceView
    from interval.ui.vtk_widget import VtkWidget

    app = _app()
    widget = VtkWidget()
    widget.resize(VIEW_SIZE, VIEW_SIZE)
    widget.show()
    view = SliceView(widget.add_renderer(), "axial")
    app.processEvents()
    widget.capture()  # GL context up, as in a window already on screen
    return widget, view


def child_blocking(folder: str) -> dict:
    """The path before progressive loading: the first frame after the whole load."""
    from interval.core.viewer_state import ViewerState
    from interval.io.dicom.index import index_folder
    from interval.io.dicom.load import choose_stack, load_stack

    widget, view = _view()
    state = ViewerState()
    t0 = time.perf_counter()
    idx = index_folder(folder)
    t_index = time.perf_counter()
    volume = load_stack(choose_stack(idx, None, folder))
    t_loaded = time.perf_counter()
    vid = state.add_volume(volume)
    view.set_volume(volume, state.window(vid))
    view.set_slice_position(float(view.slice_position_of_index((volume.shape[0] - 1) // 2)))
    frame = widget.capture()
    t_first = time.perf_counter()
    _shutdown_workers()
    mid = (volume.shape[0] - 1) // 2
    return {
        "first": t_first - t0,
        "index": t_index - t0,
        "complete": t_loaded - t0,
        "filled": volume.shape[0],
        "real": float(frame.std()) > 5.0 and bool(volume.array[mid].any()),
        "same": True,
    }


def child_viewer(folder: str) -> dict:
    from interval.core.viewer_state import ViewerState
    from interval.io.dicom.index import index_folder
    from interval.io.dicom.load import choose_stack, load_stack

    widget, view = _view()
    state = ViewerState()

    first = threading.Event()
    got: dict = {}

    def on_partial(volume, filled) -> None:
        if not first.is_set():
            got["volume"], got["filled"], got["at"] = volume, filled, time.perf_counter()
            first.set()

    t0 = time.perf_counter()
    idx = index_folder(folder)
    t_index = time.perf_counter()
    stack = choose_stack(idx, None, folder)
    done: dict = {}

    def load() -> None:
        done["volume"] = load_stack(stack, on_partial=on_partial)
        done["at"] = time.perf_counter()

    thread = threading.Thread(target=load)
    thread.start()
    first.wait(120)
    volume = got["volume"]
    vid = state.add_volume(volume)
    view.set_volume(volume, state.window(vid))
    view.set_slice_position(float(view.slice_position_of_index((volume.shape[0] - 1) // 2)))
    frame = widget.capture()
    t_first = time.perf_counter()
    ok = _real_pixels(frame, volume, got["filled"])
    filled_then = int(got["filled"].sum())
    thread.join()
    _shutdown_workers()
    return {
        "first": t_first - t0,
        "index": t_index - t0,
        "partial": got["at"] - t_index,
        "complete": done["at"] - t0,
        "filled": filled_then,
        "real": ok,
        "same": done["volume"] is volume,
    }


def child_window(folder: str) -> dict:
    tmp = tempfile.mkdtemp(prefix="interval-bench-config-")
    os.environ["INTERVAL_CONFIG_DIR"] = tmp
    app = _app()
    from interval.ui.main_window import MainWindow

    w = MainWindow()
    w.resize(1500, 700)
    w.show()
    for _ in range(5):
        app.processEvents()
    axial = w.views.views["axial"]
    axial.capture()  # GL contexts up
    deadline = time.monotonic() + 300
    t0 = time.perf_counter()
    w.open_path(folder)
    while w.state.active_volume is None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.001)
    shown = w._progressive
    filled = shown.filled if shown is not None else -1
    frame = axial.capture()
    t_first = time.perf_counter()
    volume = w.state.active_volume
    real = float(frame.std()) > 5.0 and bool(volume.array[(volume.shape[0] - 1) // 2].any())
    job = w.load_job
    while (job.state in ("pending", "running") or w._progressive is not None) and (
        time.monotonic() < deadline
    ):
        app.processEvents()
        time.sleep(0.001)
    axial.capture()
    t_done = time.perf_counter()
    complete = w.state.active_volume is volume and bool(volume.array[0].any())
    w.shutdown()
    _shutdown_workers()
    return {
        "first": t_first - t0,
        "complete": t_done - t0,
        "filled": filled,
        "real": real,
        "same": complete,
        "state": job.state,
    }


# --- parent ------------------------------------------------------------------------------------
def evict(folder: Path) -> None:
    """Drop the series' pages from the OS page cache (``posix_fadvise`` DONTNEED, no root
    needed): the next read comes from the disk, as when a study is first opened."""
    for path in series_files(folder):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def run_child(mode: str, folder: Path, cold: bool = False) -> dict:
    """One measurement in a fresh process (:func:`_bench_child.run_script_child`)."""
    if cold:
        evict(folder)
    return run_script_child(__file__, mode, folder)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--slices", type=int, default=400)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--root", type=Path, default=Path("/tmp/interval-bench"))
    ap.add_argument("--skip-window", action="store_true", help="no MainWindow runs")
    ap.add_argument("--cold", action="store_true", help="evict the files from the page cache "
                    "before every run (reads from disk; default: warm cache)")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, folder, out = args.child
        runners = {
            "loader": child_loader,
            "blocking": child_blocking,
            "viewer": child_viewer,
            "window": child_window,
        }
        Path(out).write_text(json.dumps(runners[mode](folder)))
        sys.stdout.flush()
        os._exit(0)  # skip Qt/VTK teardown

    folder, reused = ensure_series(args.root, args.slices, args.size)
    for path in series_files(folder):  # warm page cache
        with open(path, "rb") as fp:
            while fp.read(1 << 20):
                pass
    print(
        f"series {folder} ({'reused' if reused else 'written'}), {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}, {'COLD (evicted before each run)' if args.cold else 'warm'}"
        " page cache"
    )
    modes = ["loader", "blocking", "viewer"] + ([] if args.skip_window else ["window"])
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(args.repeat):  # interleaved so all see the same machine state
        for mode in modes:
            runs[mode].append(run_child(mode, folder, args.cold))
    for mode, rs in runs.items():
        bad = [r["error"] for r in rs if "error" in r]
        if bad:
            print(f"{mode}: FAILED {bad[0]}")
            return 1

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[mode])

    lt = med("loader", "time")
    print(
        f"loader alone (index_folder + load_stack): median {lt:.3f} s "
        f"(index {med('loader', 'index'):.3f} + load {med('loader', 'load'):.3f}; runs "
        + ", ".join(f"{r['time']:.3f}" for r in runs["loader"]) + ")"
    )
    for mode in modes[1:]:
        first, complete = med(mode, "first"), med(mode, "complete")
        real = all(r["real"] for r in runs[mode])
        same = all(r["same"] for r in runs[mode])
        filled = statistics.median(r["filled"] for r in runs[mode])
        extra = ""
        if "index" in runs[mode][0]:
            after = statistics.median(r["first"] - r["index"] for r in runs[mode])
            extra += f" [{after:.3f} s after indexing]"
        if mode == "viewer":
            extra += (
                f" (index {med(mode, 'index'):.3f} + middle slice read "
                f"{med(mode, 'partial'):.3f} + add & first frame)"
            )
        print(
            f"{mode}: open -> first frame (middle slice) median {first:.3f} s{extra} = "
            f"{first / lt:.2f}x the loader; {filled:.0f} of {args.slices} slices read by then; "
            f"real pixels: {'yes' if real else 'NO'}"
        )
        times = ", ".join(f"{r['complete']:.3f}" for r in runs[mode])
        own = statistics.median(r["first"] / r["complete"] for r in runs[mode])
        print(f"{mode}: first frame / its own complete load, same run: median {own:.2f}")
        print(
            f"{mode}: open -> complete median {complete:.3f} s = {complete / lt:.2f}x the loader "
            f"(runs {times}); "
            f"final volume is the one shown: {'yes' if same else 'NO'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
