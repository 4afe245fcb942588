"""Benchmark cohort runs (``interval batch``): cases per minute on Dask, and the scheduler's cost.

What runs: the same cohort of generated patients (``--cases`` patients of ``--timepoints``
CT scans of ``--shape`` voxels at the U-Net's 2 x 2 x 2.5 mm grid, written once under
``/tmp/interval-bench/batch`` and reused), each case segmented by the first-party U-Net
and tracked, with the growth forecast and report.json (``--tasks``; the HTML/PDF/DICOM
reports are left out), through :mod:`interval.batch` exactly as ``interval batch`` runs it:

* ``local, 1 worker``: a ``LocalCluster`` of one worker process, first with half the cores'
  threads (what each of two workers gets), then with all the cores (what ``interval batch``
  gives a single worker: the model's threads then share the case's work);
* ``local, 2 workers``: two worker processes, the cores shared out (one thread each on a
  2-core machine);
* ``scheduler + 2 workers``: ``dask scheduler`` and two ``dask worker`` processes started
  as separate processes (``--nthreads`` cores / 2, ``--resources interval_case=1``,
  ``--preload interval.batch.worker_setup``), as a real cluster would be, reached with
  ``--scheduler``.

Columns: ``start s`` (cluster up, or connected), ``wall s`` (first case submitted to the last
record back), ``cases/min`` (cases / wall), ``case s`` (mean time a case took inside its
worker), ``overhead s/case`` = (wall x workers - the cases' summed time) / cases: worker
time not spent in a case (dispatch, result transfer, the run's tail when the cases do not
divide evenly), and ``no-op ms``: the median round trip of an empty task submitted the
same way (the scheduler's own cost per task).  Expectation: close to 2x cases per minute
with 2 workers against 1 worker of the same threads on a 2-core machine, the model's
network being most of the work (less against one worker given both cores: torch's own
threads already use the second core in part); the scheduler's overhead well under a second
per case.  No target is enforced (exit 0).

    python tests/benchmarks/bench_batch.py [--cases N] [--timepoints N] [--shape Z,Y,X]
                                           [--tasks segment,track,forecast]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

FOLDER = Path("/tmp/interval-bench/batch")
SPACING = (2.0, 2.0, 2.5)
NOOP_TASKS = 20


def _patients(n: int, timepoints: int, shape: tuple[int, int, int]) -> list[Path]:
    from interval.io.synthetic.patient import generate_patient, is_complete

    folders = []
    for seed in range(n):
        folder = FOLDER / f"{shape[0]}x{shape[1]}x{shape[2]}" / f"p{seed}"
        if not is_complete(folder, seed=seed, shape=shape, n_timepoints=timepoints):
            if folder.exists():
                shutil.rmtree(folder)
            generate_patient(folder, seed, timepoints, shape, SPACING, keep_arrays=False)
        folders.append(folder / "DICOM")
    return folders


def _noop() -> int:
    return 0


def _noop_ms(cluster: Any) -> float:
    """Median round trip of an empty task, submitted as the cases are."""
    from interval.batch.worker_setup import RESOURCE

    extra = {"resources": {RESOURCE: 1}} if cluster.restrict else {}
    times = []
    for _ in range(NOOP_TASKS):
        t0 = time.perf_counter()
        cluster.client.submit(_noop, pure=False, **extra).result()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _run(name: str, cases: list[Any], settings: Any, *, workers: int, threads: int,
         scheduler: str | None = None) -> dict[str, Any]:
    from interval.batch.cluster import open_cluster
    from interval.batch.out_folder import BatchFolder
    from interval.batch.runner import plan_run, run_cases

    out = BatchFolder(Path(tempfile.mkdtemp(prefix="bench-batch-")) / "out")
    out.prepare()
    plan = plan_run(cases, out, settings)
    for work in plan.works.values():
        work["threads"] = threads
    t0 = time.perf_counter()
    with open_cluster(scheduler=scheduler, workers=workers, threads=threads) as cluster:
        start = time.perf_counter() - t0
        t0 = time.perf_counter()
        outcome = run_cases(plan, out, cluster)
        wall = time.perf_counter() - t0
        noop = _noop_ms(cluster)
    shutil.rmtree(out.root.parent, ignore_errors=True)
    seconds = [float(r["seconds"]) for r in outcome.records if r.get("seconds") is not None]
    failed = [f"{r['case_id']}: {r['reason']}" for r in outcome.records if r["status"] != "ok"]
    n = len(outcome.records)
    return {"name": name, "workers": workers, "threads": threads, "cases": n, "start": start,
            "wall": wall, "per_min": 60.0 * n / wall, "case_s": statistics.mean(seconds),
            "overhead": (wall * workers - sum(seconds)) / n, "noop_ms": noop, "failed": failed}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _separate_cluster(workers: int, threads: int):
    """``dask scheduler`` and ``workers`` ``dask worker`` processes, stopped afterwards."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              **quiet)]
    for i in range(workers):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads",
             str(threads), "--resources", "interval_case=1", "--preload",
             "interval.batch.worker_setup", "--no-dashboard", "--host", "127.0.0.1",
             "--name", f"bench-{i}"], **quiet))
    try:
        from distributed import Client

        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(address, timeout=5, set_as_default=False) as client:
                    client.wait_for_workers(workers, timeout=120)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--timepoints", type=int, default=2)
    parser.add_argument("--shape", default="48,96,96", help="slices,rows,columns per scan")
    parser.add_argument("--tasks", default="segment,track,forecast")
    parser.add_argument("--model", default="phantom-unet")
    args = parser.parse_args()
    from interval.batch.cluster import usable_cores
    from interval.batch.manifest import Case, parse_tasks
    from interval.batch.settings import BatchSettings

    shape = tuple(int(v) for v in args.shape.split(","))
    cores = usable_cores()
    print(f"load average {os.getloadavg()}; {os.cpu_count()} CPUs ({cores} usable)")
    t0 = time.perf_counter()
    folders = _patients(args.cases, args.timepoints, shape)  # type: ignore[arg-type]
    print(f"{args.cases} patients of {args.timepoints} scans of {shape[2]}x{shape[1]}x{shape[0]} "
          f"voxels ready in {time.perf_counter() - t0:.1f} s; tasks {args.tasks}, model "
          f"{args.model}")
    cases = [Case(f"p{i}", "folder", paths=(str(f),)) for i, f in enumerate(folders)]
    settings = BatchSettings(tasks=parse_tasks(args.tasks), model=args.model, device="cpu",
                             reports=False)
    half = max(1, cores // 2)
    rows = [_run("local, 1 worker", cases, settings, workers=1, threads=half),
            _run("local, 1 worker", cases, settings, workers=1, threads=cores),
            _run("local, 2 workers", cases, settings, workers=2, threads=half)]
    with _separate_cluster(2, half) as address:
        rows.append(_run("scheduler + 2 workers", cases, settings, workers=2, threads=half,
                         scheduler=address))
    print()
    print(f"{'configuration':<24}{'workers':>8}{'threads':>8}{'cases':>6}{'start s':>9}"
          f"{'wall s':>8}{'cases/min':>10}{'case s':>8}{'overhead s/case':>16}{'no-op ms':>9}")
    for r in rows:
        print(f"{r['name']:<24}{r['workers']:>8}{r['threads']:>8}{r['cases']:>6}"
              f"{r['start']:>9.1f}{r['wall']:>8.1f}{r['per_min']:>10.2f}{r['case_s']:>8.1f}"
              f"{r['overhead']:>16.2f}{r['noop_ms']:>9.1f}")
    one, one_all, two, remote = rows
    print(f"\ncases per minute, 2 local workers / 1 worker with the same threads: "
          f"{two['per_min'] / one['per_min']:.2f}x; / 1 worker with all {cores} cores' threads: "
          f"{two['per_min'] / one_all['per_min']:.2f}x; separate scheduler + 2 workers / 1 "
          f"local worker with the same threads: {remote['per_min'] / one['per_min']:.2f}x")
    for r in rows:
        for line in r["failed"]:
            print(f"{r['name']}: FAILED {line}")


if __name__ == "__main__":
    main()
