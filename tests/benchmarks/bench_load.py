"""Load benchmark: a 512x512x400 CT series, Interval against SimpleITK, pydicom and dcm2niix.

Run: ``python tests/benchmarks/bench_load.py [--slices 400] [--size 512] [--repeat 3] [--keep]``

Writes a synthetic CT series (uncompressed explicit VR little endian, stored
``uint16`` 12-bit, RescaleIntercept -1024, random file names written in
random order) under ``--root`` (default ``/tmp/interval-bench``; reused when
already there), reads every file once so all contenders run on a warm OS page
cache, then runs each contender ``--repeat`` times, every run in its own
fresh Python process, and prints the median time and the peak resident
memory above that process's baseline (interpreter + the contender's imports).

Contenders: ``interval`` (``index_folder`` + ``load_stack``, i.e.
``load_dicom``), ``sitk`` (``GetGDCMSeriesFileNames`` + ``ImageSeriesReader``),
``pydicom`` (naive: ``dcmread`` every file, sort, ``np.stack`` of
``pixel_array * slope + intercept``), ``interval-index`` vs
``pydicom-headers`` (header-only indexing), ``raw`` (floor: pixel bytes read
into a preallocated array, no parsing) and ``dcm2niix`` when installed.

Targets: SimpleITK time / Interval time >= 2; Interval peak memory / raw
volume size <= 1.3; pydicom header loop time / Interval index time >= 1.5.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _bench_series import ensure_series, series_files  # noqa: E402

ALL = ["raw", "interval", "sitk", "pydicom", "interval-index", "pydicom-headers", "dcm2niix"]
MIB = 2**20


def run_once(name: str, folder: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, str(HERE / "_bench_contenders.py"), name, str(folder)],
        capture_output=True,
        text=True,
        cwd=HERE.parents[1],
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}


def warm_cache(folder: Path) -> float:
    t0 = time.perf_counter()
    for path in series_files(folder):
        with open(path, "rb") as fp:
            while fp.read(1 << 20):
                pass
    return time.perf_counter() - t0


def summarise(runs: list[dict]) -> dict:
    ok = [r for r in runs if "time" in r]
    if not ok:
        return runs[0]
    out = dict(ok[0])
    out["time"] = statistics.median(r["time"] for r in ok)
    out["min_time"] = min(r["time"] for r in ok)
    out["peak"] = statistics.median(r["peak"] for r in ok)
    if "phases" in ok[0]:
        out["phases"] = {k: statistics.median(r["phases"][k] for r in ok) for k in ok[0]["phases"]}
    out["runs"] = len(ok)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=400)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the series folder for the next run")
    ap.add_argument("--root", type=Path, default=Path("/tmp/interval-bench"))
    ap.add_argument("--only", nargs="*", choices=ALL, help="run only these contenders")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    folder, reused = ensure_series(args.root, args.slices, args.size)
    how = "reused" if reused else f"written in {time.perf_counter() - t0:.1f} s"
    raw_bytes = args.slices * args.size * args.size * 2
    print(
        f"series: {folder} ({args.slices} x {args.size}x{args.size}, {how}); "
        f"raw int16 volume {raw_bytes / MIB:.0f} MiB"
    )
    cores = os.cpu_count() or 1
    print(
        f"machine: {cores} CPU core(s), load average {os.getloadavg()[0]:.1f} at start "
        "(timings are noisy when other work is running)"
    )
    warm = warm_cache(folder)
    print(f"warm-up: read every file once ({warm:.2f} s) so all runs hit the OS page cache")
    print(
        f"each contender: {args.repeat} run(s), each in a fresh Python process; times exclude "
        "interpreter start and imports; memory = peak RSS above the process after imports\n"
    )

    results: dict[str, dict] = {}
    for name in args.only or ALL:
        runs = [run_once(name, folder) for _ in range(args.repeat)]
        results[name] = summarise(runs)
        r = results[name]
        if "time" in r:
            print(
                f"  {name:16s} {r['time']:7.3f} s  (runs: "
                + ", ".join(f"{x['time']:.3f}" for x in runs if "time" in x)
                + ")",
                flush=True,
            )
        else:
            print(f"  {name:16s} {r.get('skip') or r.get('error')}", flush=True)

    print()
    header = (
        f"{'contender':16s} {'median s':>9s} {'min s':>7s} {'peak MiB':>9s} {'x raw':>6s}  notes"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        if "time" not in r:
            print(
                f"{name:16s} {'-':>9s} {'-':>7s} {'-':>9s} {'-':>6s}  {r.get('skip') or r.get('error')}"
            )
            continue
        note = r.get("note", "")
        if "phases" in r:
            note += " [" + ", ".join(f"{k} {v:.3f} s" for k, v in r["phases"].items()) + "]"
        if r.get("workers_peak"):
            note += f" [largest index worker peak RSS {r['workers_peak'] / MIB:.0f} MiB]"
        print(
            f"{name:16s} {r['time']:9.3f} {r['min_time']:7.3f} {r['peak'] / MIB:9.0f} "
            f"{r['peak'] / raw_bytes:6.2f}  {note}"
        )

    print("\nvalues (HU) per contender:")
    for name, r in results.items():
        check = r.get("check")
        if check:
            print(
                f"  {name:16s} shape {tuple(check['shape'])} {check['dtype']:>16s} "
                f"sum {check['sum']:.6g} min {check['min']:.0f} max {check['max']:.0f}"
            )
    sums = {n: r["check"]["sum"] for n, r in results.items() if r.get("check")}
    if len(sums) > 1:
        agree = max(sums.values()) - min(sums.values()) <= 1e-6 * max(
            1.0, max(map(abs, sums.values()))
        )
        print(f"  all contenders read the same values: {'yes' if agree else 'NO'}")

    print("\nratios (target):")

    def ratio(label: str, num: str, den: str, target: float) -> None:
        x, y = results.get(num, {}).get("time"), results.get(den, {}).get("time")
        if x is None or not y:
            print(f"  {label}: n/a")
            return
        value = x / y
        print(
            f"  {label}: {value:.2f} (target >= {target}) {'OK' if value >= target else 'MISSED'}"
        )

    ratio("SimpleITK time / Interval time", "sitk", "interval", 2.0)
    ratio("naive pydicom time / Interval time", "pydicom", "interval", 1.0)
    if "interval" in results and "peak" in results["interval"]:
        value = results["interval"]["peak"] / raw_bytes
        print(
            f"  Interval peak memory / raw volume: {value:.2f} (target <= 1.3) "
            f"{'OK' if value <= 1.3 else 'MISSED'}"
        )
    ratio("pydicom header loop / Interval index", "pydicom-headers", "interval-index", 1.5)
    interval, raw = results.get("interval", {}), results.get("raw", {})
    if "phases" in interval and "time" in raw:
        print(
            f"  Interval pixel phase (load_stack) / raw reads: "
            f"{interval['phases']['pixels'] / raw['time']:.2f} (1.0 = as fast as raw byte reads)"
        )

    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"\nremoved {folder} (use --keep to reuse it next time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
