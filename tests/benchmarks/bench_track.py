"""Benchmark the tracking pipeline: three timepoints of a 512x512x300 CT, label maps given.

What runs: :func:`interval.longitudinal.pipeline.run_tracking` on a synthetic patient
(three CT scans of 512 x 512 x 300 voxels written as DICOM by the generator, with its
ground-truth label maps given as ``--labels`` would give them), in a fresh process,
reports included.  It prints the seconds of every phase (read, segment = placing the
given label maps, extract, register, map, match, RECIST, report, write) and the peak
resident memory above the process's baseline, as a multiple of one CT volume (int16), of this
process alone (RSS) and, as proportional set size (PSS), together with the model processes
it starts (SEG/SR writer, forecast).
The growth forecast (issue 11; its analyzer runs in a model process of its own) is
printed as a phase of its own and is not part of issue 10's "everything else".

Targets (issue 10, on the 2-core reference machine): registration at most 5 s per
follow-up (rigid + affine); everything else together under 3 s; peak memory under 3x
one CT volume.  The patient is written once under ``/tmp/interval-bench/track`` and reused.

    python tests/benchmarks/bench_track.py [--repeat N] [--registration rigid|affine]
                                           [--no-forecast]

``--no-forecast`` leaves the growth forecast out (issue 10's pipeline alone: the memory
"with its model processes" is then this process and the SEG/SR writer only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
from tests.benchmarks._bench_child import run_script_child  # noqa: E402

SHAPE = (300, 512, 512)
FOLDER = Path("/tmp/interval-bench/track")
OTHER = ("read", "segment", "extract", "map", "match", "recist", "report", "write")


def _patient(folder: Path) -> Path:
    from interval.io.synthetic.patient import generate_patient, is_complete

    if not is_complete(folder, seed=11, shape=SHAPE, n_timepoints=3):
        t0 = time.perf_counter()
        generate_patient(folder, 11, 3, SHAPE, keep_arrays=False)
        print(f"wrote the 3-timepoint 512x512x300 patient in {time.perf_counter() - t0:.0f} s")
    return folder


def _peak_sampler(stop: threading.Event, out: list[int]) -> None:
    """out[0]: peak resident memory (RSS) of this process, sampled every 5 ms; out[1]: peak
    proportional set size (PSS: shared pages, e.g. libraries and the shared-memory arrays
    handed to a child, counted once) of this process plus the model processes it starts
    (the SEG/SR writer, the forecast's model process: spawned), sampled every 50 ms.  The
    DICOM index's helper pool (forkserver workers kept for the viewer's next folder) is
    left out: it is not part of the tracking."""
    import psutil

    proc = psutil.Process()
    base_pss = proc.memory_full_info().pss  # out[2]: the RSS baseline; out[1] - out[2] is
    # the growth of the PSS sum
    n = 0
    kind: dict[int, bool] = {}
    while not stop.is_set():
        own = proc.memory_info().rss
        out[0] = max(out[0], own)
        if n % 10 == 0:
            total = proc.memory_full_info().pss
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):  # ended meanwhile
                    if child.pid not in kind:
                        kind[child.pid] = "spawn_main" in " ".join(child.cmdline())
                    if kind[child.pid]:
                        total += child.memory_full_info().pss
            out[1] = max(out[1], out[2] + total - base_pss)
        n += 1
        time.sleep(0.005)


def child(folder: Path, result: Path, registration: str) -> None:
    import tempfile

    import psutil

    from interval.io.synthetic.patient import read_synthetic_patient
    from interval.longitudinal.pipeline import TrackingOptions, run_tracking
    from interval.longitudinal.segmentation_source import FileLabels
    from interval.longitudinal.timeline import build_timeline

    patient = read_synthetic_patient(folder)
    labels = FileLabels([tp.labels_path for tp in patient.timepoints])
    baseline = psutil.Process().memory_info().rss
    peak = [baseline, baseline, baseline]
    stop = threading.Event()
    sampler = threading.Thread(target=_peak_sampler, args=(stop, peak), daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        selection = build_timeline([patient.dicom_dir])
        t_index = time.perf_counter() - t0
        outcome = run_tracking(selection, labels, Path(tmp) / "out",
                               TrackingOptions(registration=registration.partition("+")[0],
                                               forecast="+noforecast" not in registration))
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    ct_bytes = SHAPE[0] * SHAPE[1] * SHAPE[2] * 2
    timings = dict(outcome.report.timings)
    timings["index"] = t_index
    result.write_text(json.dumps({
        "timings": timings, "wall": wall,
        "registrations": [r.seconds for r in outcome.report.registrations[1:]],
        "statuses": [r.status for r in outcome.report.registrations],
        "peak_x_ct": (peak[0] - baseline) / ct_bytes,
        "peak_all_x_ct": (peak[1] - baseline) / ct_bytes,
        "lesions": len(outcome.report.tracks),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--registration", default="affine", choices=("rigid", "affine"))
    parser.add_argument("--no-forecast", action="store_true",
                        help="leave the growth forecast out")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "FOLDER", "RESULT"))
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[1]), Path(args.child[2]), args.child[0])
        return
    print(f"load average {os.getloadavg()}; {os.cpu_count()} CPUs")
    folder = _patient(FOLDER)
    runs = []
    for i in range(args.repeat):
        mode = args.registration + ("+noforecast" if args.no_forecast else "")
        res = run_script_child(__file__, mode, folder, timeout=1200)
        if "error" in res:
            print(f"run {i + 1}: {res['error']}")
            sys.exit(1)
        runs.append(res)
        reg = res["registrations"]
        other = sum(res["timings"].get(k, 0.0) for k in OTHER)
        print(f"run {i + 1}: registration per follow-up {', '.join(f'{s:.2f}' for s in reg)} s; "
              f"everything else {other:.2f} s; peak {res['peak_x_ct']:.2f}x one CT "
              f"({res['peak_all_x_ct']:.2f}x PSS with its model processes); "
              f"statuses {res['statuses']}; {res['lesions']} lesions")
    med = lambda key: statistics.median(r["timings"].get(key, 0.0) for r in runs)  # noqa: E731
    print("\nmedian seconds per phase:")
    for key in ("index", *OTHER[:3], "register", *OTHER[3:], "forecast", "total"):
        print(f"  {key:<9} {med(key):7.2f}")
    reg = statistics.median(s for r in runs for s in r["registrations"])
    other = statistics.median(sum(r["timings"].get(k, 0.0) for k in OTHER) for r in runs)
    peak = statistics.median(r["peak_x_ct"] for r in runs)
    peak_all = statistics.median(r["peak_all_x_ct"] for r in runs)
    wall = statistics.median(r["wall"] for r in runs)
    print(f"\nregistration per follow-up: {reg:.2f} s (target <= 5 s: {reg / 5:.2f}x of the budget)")
    print(f"everything else together:   {other:.2f} s (target < 3 s: {other / 3:.2f}x of the budget)")
    print(f"peak memory:                {peak:.2f}x one CT volume (target < 3x); as PSS with "
          f"the model processes it starts (SEG/SR writer, forecast) {peak_all:.2f}x")
    print(f"wall time, index to report.json: {wall:.2f} s")


if __name__ == "__main__":
    main()
