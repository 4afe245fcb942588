"""Where the cases run: the local cluster's size, and an existing cluster (a ``dask
scheduler`` and two ``dask worker`` processes started on their own, as on a real cluster)
reached with ``--scheduler``."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from interval.batch import cluster as cluster_module
from interval.batch.cluster import plan_local
from interval.cli.main import EXIT_DATA, EXIT_OK, main
from tests.batch.conftest import alive, labels_of, read_csv, write_manifest


def test_local_plan_shares_the_cores_among_the_workers():
    big = 64 * 2**30
    assert plan_local(10, cores=2, available_bytes=big) == (2, 1)
    assert plan_local(1, cores=8, available_bytes=big) == (1, 8)  # one case: one worker
    assert plan_local(10, cores=8, available_bytes=7 * 2**30) == (2, 4)  # 3 GiB per worker
    assert plan_local(10, workers=3, cores=8, available_bytes=big) == (3, 2)
    assert plan_local(10, workers=1, threads=3, cores=8, available_bytes=big) == (1, 3)
    assert plan_local(0, cores=4, available_bytes=big) == (1, 4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(procs: list[subprocess.Popen]) -> set[int]:
    """SIGTERM the processes (workers first), wait, kill what is left; returns every
    process id of their trees as they were."""
    pids = set()
    for p in procs:
        with contextlib.suppress(psutil.Error):
            pids |= {p.pid} | {c.pid for c in psutil.Process(p.pid).children(recursive=True)}
    for p in reversed(procs):
        p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
    return pids


@pytest.fixture
def dask_cluster(tmp_path: Path):
    """``dask scheduler`` + two ``dask worker`` processes on loopback ports, with the
    options interval.batch.cluster documents."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(port), "--no-dashboard"],
        stdout=(logs / "scheduler.log").open("w"), stderr=subprocess.STDOUT)]
    for i in (1, 2):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
             "--resources", "interval_case=1", "--preload", "interval.batch.worker_setup",
             "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"],
            stdout=(logs / f"worker{i}.log").open("w"), stderr=subprocess.STDOUT))
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:  # the scheduler may not listen yet
            try:
                with Client(address, timeout=5, set_as_default=False) as client:
                    client.wait_for_workers(2, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address, procs
    finally:
        pids = _stop(procs)
        assert alive(pids) == set(), "a scheduler or worker process outlived its stop"


def test_cases_run_on_an_existing_cluster_given_by_its_scheduler(dask_cluster, patients,
                                                                 tmp_path):
    address, procs = dask_cluster
    p0, p1 = patients["p0"], patients["p1"]
    manifest = write_manifest(tmp_path / "cohort.csv", [
        {"case_id": "p0", "path": str(p0.dicom_dir), "labels": labels_of(p0)},
        {"case_id": "p1", "path": str(p1.dicom_dir), "labels": labels_of(p1)},
    ])
    out = tmp_path / "out"
    stream = io.StringIO()
    with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        code = main(["batch", str(manifest), "-o", str(out), "--scheduler", address,
                     "--tasks", "track", "--registration", "rigid", "--no-reports"])
    text = stream.getvalue()
    assert code == EXIT_OK, text
    assert f"Dask cluster at {address}: 2 worker(s) now, one case at a time per worker" in text
    assert "Dask dashboard" not in text  # the scheduler was started without one
    workers = set()
    for case_id in ("p0", "p1"):
        record = json.loads((out / "cases" / case_id / "case.json").read_text())
        assert record["status"] == "ok", record["reason"]
        workers.add(int(record["worker"].rsplit(":", 1)[1]))
    cluster_pids = {c.pid for p in procs[1:] for c in psutil.Process(p.pid).children(True)}
    assert workers <= cluster_pids  # the cases ran in the cluster's worker processes
    assert [r["status"] for r in read_csv(out / "summary.csv")] == ["ok", "ok"]


def test_an_unreachable_scheduler_is_a_sentence(tmp_path, patients, monkeypatch):
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 2.0)
    manifest = write_manifest(tmp_path / "m.csv", [
        {"case_id": "a", "path": str(patients["p0"].dicom_dir),
         "labels": labels_of(patients["p0"])}])
    stream = io.StringIO()
    with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        code = main(["batch", str(manifest), "-o", str(tmp_path / "out"), "--tasks", "track",
                     "--scheduler", f"tcp://127.0.0.1:{_free_port()}"])
    assert code == EXIT_DATA
    assert "cannot reach the Dask scheduler" in stream.getvalue()
    assert "Traceback" not in stream.getvalue()


def test_the_local_cluster_gives_its_dashboard_and_leaves_no_process(monkeypatch):
    from interval.batch.cluster import open_cluster
    from tests.batch.conftest import descendants

    monkeypatch.setattr(cluster_module, "_bokeh_here", lambda: True)  # as with Bokeh installed
    before = descendants()
    with open_cluster(workers=2, threads=1) as cluster:
        assert cluster.dashboard.startswith("http://127.0.0.1:")
        assert cluster.restrict and cluster.local
        info = cluster.client.scheduler_info()["workers"]
        assert sorted(w["resources"].get("interval_case") for w in info.values()) == [1, 1]
        started = descendants() - before
        assert len(started) == 2  # the two worker processes
        daemon = cluster.client.run(_daemonic)
        assert set(daemon.values()) == {False}  # they may start model processes
    assert alive(started) == set() and descendants() - before == set()


def _daemonic() -> bool:
    import multiprocessing

    return multiprocessing.current_process().daemon


class _Unpickled(Exception):
    pass


class _Payload:
    """An object whose unpickling would run code (here: raise in the reader)."""

    def __reduce__(self):
        return (_raise_unpickled, ())


def _raise_unpickled():
    raise _Unpickled("a worker's result was unpickled")


def _hostile_result() -> object:
    return _Payload()


def _plain_result() -> dict:
    return {"case": "p0", "status": "ok", "numbers": [1, 2.5, None]}


def test_results_from_workers_are_never_unpickled():
    from interval.batch.cluster import open_cluster

    with open_cluster(workers=1, threads=1) as cluster:
        assert cluster.client.submit(_plain_result, pure=False).result() == _plain_result()
        with pytest.raises(Exception) as caught:
            cluster.client.submit(_hostile_result, pure=False).result(timeout=60)
        assert not isinstance(caught.value, _Unpickled)
