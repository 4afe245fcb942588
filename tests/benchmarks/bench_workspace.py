"""The longitudinal workspace window on three timepoints of a 512x512x300 CT (issue 12).

Run: ``python tests/benchmarks/bench_workspace.py [--repeat 3] [--only open click stall]``

The patient is ``bench_track.py``'s (three 512 x 512 x 300 CT scans written as DICOM by
the synthetic generator under ``/tmp/interval-bench/track``, written once and reused),
tracked once with its ground-truth label maps (``FileLabels``, as ``bench_track.py``
does) into ``/tmp/interval-bench/workspace-out`` (reused when its ``report.json`` is
there).  Headless (``QT_QPA_PLATFORM=offscreen``: VTK through EGL on Mesa llvmpipe when
there is no GPU).  Every measurement runs in a fresh process; the modules are imported
and the ``QApplication`` exists before any clock starts (as when the reader opens the
results from a running viewer).

``open``   :func:`open_workspace_window` on the output folder -> every column's first
           frame: ``views.wait_first_frames()`` (label maps, then the three scans read
           again from DICOM on worker threads, the slice each column shows first; outlines,
           RECIST axes) and then each column's view rendered once.  The frames are checked
           to hold real pixels.  Target < 2 s.  The time until every scan is read whole is
           printed too; the same process then runs ``click`` on the whole scans.
``click``  a real mouse click (``QTest.mouseClick``) on each lesion's row of the table, one
           after the other (table -> ``lesionActivated`` -> ``window.show_lesion`` -> views
           and chart): the time until every column's render window has drawn a new frame
           (VTK ``EndEvent``; events processed meanwhile).  Median over all clicks of all
           runs; target < 100 ms.
``stall``  the window open and loaded; ``run_tracking`` of the same patient (label maps
           given, forecast included) into a fresh folder on a :class:`JobRunner` worker
           (as the viewer runs jobs: progress signals to the window's progress widget),
           while a ``QTimer`` ticks every 10 ms: the longest gap between two ticks is the
           longest time the UI could not respond (``bench_ui_stall.py``'s method).  The
           median of the runs' longest gaps; target < 300 ms.

Prints one table with the targets and PASS / FAIL and exits 1 when a target is missed.
The machine's load average is printed: timings taken while other work runs are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
from tests.benchmarks._bench_child import run_script_child  # noqa: E402
from tests.benchmarks.bench_track import FOLDER as PATIENT  # noqa: E402
from tests.benchmarks.bench_track import _patient  # noqa: E402

OUT = Path("/tmp/interval-bench/workspace-out")
TIMEOUT_S = 120.0
CLICK_TIMEOUT_S = 5.0
TICK_MS = 10
TARGETS = {"open": 2.0, "click": 0.100, "stall": 0.300}  # seconds


# --- setup (parent) ------------------------------------------------------------------------
def _tracked(patient: Path, out: Path) -> Path:
    """``out``: the patient tracked once with its truth label maps (reused when there)."""
    if (out / "report.json").is_file():
        return out
    from interval.longitudinal.pipeline import TrackingOptions, run_tracking

    t0 = time.perf_counter()
    outcome = run_tracking(*_inputs(patient), out, TrackingOptions(force=True))
    print(f"tracked the patient into {out} in {time.perf_counter() - t0:.0f} s "
          f"({len(outcome.report.tracks)} lesions)")
    return out


def _inputs(patient: Path):  # -> (TimelineSelection, FileLabels)
    from interval.io.synthetic.patient import read_synthetic_patient
    from interval.longitudinal.segmentation_source import FileLabels
    from interval.longitudinal.timeline import build_timeline

    p = read_synthetic_patient(patient)
    return build_timeline([p.dicom_dir]), FileLabels([tp.labels_path for tp in p.timepoints])


# --- child processes -----------------------------------------------------------------------
def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["INTERVAL_CONFIG_DIR"] = tempfile.mkdtemp(prefix="interval-bench-config-")
    from PySide6.QtWidgets import QApplication

    import interval.ui.longitudinal.growth_charts  # noqa: F401 - imports outside the clock
    import interval.ui.longitudinal.timepoint_views  # noqa: F401
    import interval.ui.longitudinal.workspace_window  # noqa: F401

    return QApplication.instance() or QApplication(sys.argv)


def _fresh_copy(out: Path) -> Path:
    """The results without the workspace's saved session (the window opens as the first
    time; the copy keeps every run alike and the shared folder untouched)."""
    import shutil

    tmp = Path(tempfile.mkdtemp(prefix="interval-bench-ws-")) / "out"
    shutil.copytree(out, tmp, ignore=shutil.ignore_patterns("workspace.json"))
    return tmp


def _columns(window) -> list:
    views = window.views
    return [views.view(t) for t in views.timepoints]


def child_open_click(out: str) -> dict:
    import numpy as np
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    from interval.ui.longitudinal.lesion_table import LESION_ID_ROLE
    from interval.ui.longitudinal.workspace_window import open_workspace_window

    app = _app()
    folder = _fresh_copy(Path(out))
    for _ in range(5):
        app.processEvents()

    t0 = time.perf_counter()
    window = open_workspace_window(folder)
    t_window = time.perf_counter() - t0
    shown = window.views.wait_first_frames(TIMEOUT_S)
    views = _columns(window)
    for view in views:
        if view is not None:
            view.render_now()
    t_first = time.perf_counter() - t0
    real = shown and all(v is not None and float(v.capture().std()) > 5.0 for v in views)
    real = real and window.views.wait_loaded(TIMEOUT_S)  # the clicks run on whole scans
    t_loaded = time.perf_counter() - t0
    views = _columns(window)

    # clicks: one per lesion row, each lesion once
    frames = [0] * len(views)
    stamps: list[float] = [0.0] * len(views)

    def observer(i: int):
        def on_end(*_args) -> None:
            frames[i] += 1
            stamps[i] = time.perf_counter()
        return on_end

    for i, view in enumerate(views):
        view.vtk.GetRenderWindow().AddObserver("EndEvent", observer(i))
    grid = window.table.table
    proxy = grid.model()
    ids = window.table.shown_order()
    selected = window.table.selected_lesion()
    if ids and ids[0] == selected:
        ids = ids[1:] + ids[:1]  # the first click goes to another lesion
    for _ in range(10):
        app.processEvents()
    clicks: list[float] = []
    handlers: list[float] = []  # the click's own handlers (table, chart, views' state)
    missed: list[str] = []
    for lesion_id in ids:
        row = next(r for r in range(proxy.rowCount())
                   if str(proxy.index(r, 0).data(LESION_ID_ROLE)) == lesion_id)
        index = proxy.index(row, 1)
        grid.scrollTo(index)
        app.processEvents()
        rect = grid.visualRect(index)
        before = list(frames)
        t0 = time.perf_counter()
        QTest.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier, QPoint(rect.center()))
        handlers.append(time.perf_counter() - t0)
        end = t0 + CLICK_TIMEOUT_S
        while any(f == b for f, b in zip(frames, before, strict=True)) and (
                time.perf_counter() < end):
            app.processEvents()
        if all(f > b for f, b in zip(frames, before, strict=True)):
            clicks.append(max(stamps) - t0)
        else:
            missed.append(lesion_id)
        if window.table.selected_lesion() != lesion_id:
            missed.append(f"{lesion_id} (not selected)")
        for _ in range(5):  # let late paints (table, chart) settle before the next click
            app.processEvents()
            time.sleep(0.01)
    result = {
        "window": t_window, "loaded": t_loaded, "first": t_first, "ok": bool(real),
        "columns": len(views), "clicks": clicks, "missed": missed,
        "lesions": len(ids), "handlers": handlers, "click_median": float(np.median(clicks)) if clicks else None,
    }
    window.views.close_views()
    window.runner.shutdown()
    return result


def child_stall(out: str) -> dict:
    import contextlib

    from PySide6.QtCore import QTimer

    from interval.longitudinal.pipeline import Reporter, TrackingOptions, run_tracking
    from interval.ui.longitudinal.workspace_window import open_workspace_window
    from interval.ui.workers import JobRunner

    app = _app()
    folder = _fresh_copy(Path(out))
    window = open_workspace_window(folder)
    loaded = window.views.wait_loaded(TIMEOUT_S)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    selection, labels = _inputs(PATIENT)
    target = Path(tempfile.mkdtemp(prefix="interval-bench-track-")) / "out"
    steps: list[tuple[float, str]] = []  # (seconds after the start, the step's label)

    def run(ctx) -> int:  # noqa: ANN001 - a JobContext, on the worker thread
        @contextlib.contextmanager
        def bar(label: str):
            ctx.emit(label)
            yield ctx.progress

        outcome = run_tracking(selection, labels, target, TrackingOptions(),
                               reporter=Reporter(bar=bar), cancel=ctx.cancelled)
        return len(outcome.report.tracks)

    runner = JobRunner(window, max_threads=1)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    t0 = time.perf_counter()
    ticks.append(t0)
    job = runner.submit("tracking", run,
                        on_partial=lambda label: steps.append((time.perf_counter() - t0,
                                                               str(label))),
                        progress_widget=window.progress, text="Tracking…")
    end = t0 + 600
    while not job.done.is_set() and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)
    for _ in range(50):  # the job's last signals
        app.processEvents()
        time.sleep(0.002)
    timer.stop()
    wall = time.perf_counter() - t0
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    worst = max(range(len(gaps)), key=gaps.__getitem__) if gaps else 0
    at = ticks[worst] - t0
    during = next((label for t, label in reversed(steps) if t <= at), "start")
    window.views.close_views()
    window.runner.shutdown()
    return {
        "loaded": bool(loaded), "state": job.state, "wall": wall, "steps": len(steps),
        "max_stall": max(gaps) if gaps else float("nan"),
        "stall_at": at, "stall_step": during,
        "stalls_100ms": sum(g > 0.1 for g in gaps),
        "ticks": len(ticks),
    }


def _shutdown_workers() -> None:
    """Stop the DICOM index worker processes (they would outlive ``os._exit``)."""
    from interval.io.dicom.index import shutdown_workers

    shutdown_workers()


# --- parent --------------------------------------------------------------------------------
def _row(name: str, value: float | None, target: float, unit: str, note: str) -> tuple:
    ok = value is not None and value < target
    scale = 1000.0 if unit == "ms" else 1.0
    shown = "n/a" if value is None else f"{value * scale:.0f} {unit}" if unit == "ms" else \
        f"{value:.2f} {unit}"
    limit = f"< {target * scale:.0f} {unit}" if unit == "ms" else f"< {target:.0f} {unit}"
    return name, shown, limit, "PASS" if ok else "FAIL", note


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=["open", "stall"],
                    help="open (includes the clicks) and/or stall")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, folder, result = args.child
        runners = {"open": child_open_click, "stall": child_stall}
        Path(result).write_text(json.dumps(runners[mode](folder)))
        _shutdown_workers()
        sys.stdout.flush()
        os._exit(0)  # skip Qt/VTK teardown

    print(f"load average {tuple(round(x, 2) for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    _patient(PATIENT)
    out = _tracked(PATIENT, OUT)
    _shutdown_workers()
    runs: dict[str, list[dict]] = {m: [] for m in args.only}
    for i in range(args.repeat):
        for mode in args.only:
            res = run_script_child(__file__, mode, out, timeout=900)
            if "error" in res:
                print(f"{mode} run {i + 1}: FAILED {res['error']}")
                return 1
            runs[mode].append(res)
            if mode == "open":
                clicks = res["clicks"]
                print(f"open run {i + 1}: window {res['window']:.2f} s, first frames "
                      f"{res['first']:.2f} s (real pixels: {'yes' if res['ok'] else 'NO'}), "
                      f"every scan read whole {res['loaded']:.2f} s; clicks on "
                      f"{res['lesions']} lesions: median "
                      + (f"{1000 * statistics.median(clicks):.0f}" if clicks else "n/a")
                      + f" ms, max {1000 * max(clicks, default=float('nan')):.0f} ms (the click's handlers "
                      f"{1000 * statistics.median(res['handlers'] or [float('nan')]):.0f} ms)"
                      + (f"; NOT repainted: {res['missed']}" if res["missed"] else ""))
            else:
                print(f"stall run {i + 1}: longest UI stall {1000 * res['max_stall']:.0f} ms "
                      f"at {res['stall_at']:.1f} s (last step reported: {res['stall_step']}); "
                      f"{res['stalls_100ms']} stalls > 100 ms; "
                      f"pipeline {res['wall']:.1f} s ({res['state']}, {res['steps']} steps)")
    print(f"load average now {tuple(round(x, 2) for x in os.getloadavg())}")

    rows = []
    if "open" in runs:
        rs = runs["open"]
        first = statistics.median(r["first"] for r in rs)
        bad = not all(r["ok"] for r in rs)
        rows.append(_row("open -> first frame of all columns", None if bad else first,
                         TARGETS["open"], "s", f"median of {len(rs)} runs"
                         + ("; a column showed no image" if bad else "")))
        clicks = [c for r in rs for c in r["clicks"]]
        missed = [m for r in rs for m in r["missed"]]
        rows.append(_row("click on a lesion row -> all repainted",
                         None if missed or not clicks else statistics.median(clicks),
                         TARGETS["click"], "ms",
                         f"median of {len(clicks)} clicks, max "
                         f"{1000 * max(clicks, default=float('nan')):.0f} ms"
                         + (f"; {len(missed)} not repainted" if missed else "")))
    if "stall" in runs:
        rs = runs["stall"]
        failed = [r["state"] for r in rs if r["state"] != "finished" or not r["loaded"]]
        stall = statistics.median(r["max_stall"] for r in rs)
        rows.append(_row("longest UI stall while tracking", None if failed else stall,
                         TARGETS["stall"], "ms", f"median of {len(rs)} runs' longest gap"
                         + (f"; pipeline {failed}" if failed else "")))
    header = ("measure", "value", "target", "result", "")
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(5)]
    print()
    for r in [header, *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)).rstrip())
    return 0 if all(r[3] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
