"""Where the cases run: a Dask ``LocalCluster`` on this machine, or an existing cluster.

**On this machine** (the default), :func:`open_cluster` starts a ``LocalCluster`` of
worker *processes* (never threads: a case holds its scans in memory and its model runs in
a child process of the worker, one at a time).  Each worker runs one case at a time
(it advertises the resource ``interval_case=1`` and every case asks for it) and gives
that case ``threads`` CPU threads (its model process, the registration); by default as
many workers as there are cores (at most one per case, and one per 3 GiB of free
memory), and the cores shared out among them (:func:`plan_local`).  The scheduler and the
dashboard listen on 127.0.0.1 only.  Closing it (the end of the run, Ctrl-C, an error)
stops every worker process and every model process they started; anything still alive
afterwards is terminated and reported (:func:`leftover_processes`).

**On a cluster**, start a scheduler and workers yourself and give ``--scheduler
tcp://host:8786``.  Every worker needs the same Interval installation, the case folders
and ``OUT`` at the same paths (a shared file system), and Interval's preload::

    dask scheduler --port 8786
    DASK_DISTRIBUTED__WORKER__DAEMON=False \\
      dask worker tcp://scheduler-host:8786 --nworkers 1 --nthreads 4 \\
        --resources interval_case=1 --preload interval.batch.worker_setup

``--resources interval_case=1`` makes a worker run one case at a time with all its
``--nthreads`` (without it a worker runs ``--nthreads`` cases at once, one thread each);
the preload lets the worker start model processes and ignores Ctrl-C
(:mod:`interval.batch.worker_setup`).  Research clusters (Slurm, PBS, SGE, LSF) start
such workers as batch jobs with `dask-jobqueue <https://jobqueue.dask.org>`_
(``pip install dask-jobqueue``), e.g. for Slurm, in a Python session on the login node
that stays open while the batch runs::

    from dask_jobqueue import SLURMCluster   # PBSCluster for PBS/Torque, SGECluster, ...

    cluster = SLURMCluster(
        cores=4, processes=1, memory="16GB", walltime="04:00:00",
        job_script_prologue=["source /path/to/interval/.venv/bin/activate",
                             "export DASK_DISTRIBUTED__WORKER__DAEMON=False"],
        worker_extra_args=["--resources", "interval_case=1",
                           "--preload", "interval.batch.worker_setup"],
    )
    cluster.scale(jobs=10)                    # ten nodes, one worker (one case) each
    print(cluster.scheduler_address)          # give it to --scheduler
    input("Enter stops the workers")

then ``interval batch cohort.csv -o /shared/out --scheduler tcp://login-node:PORT``
(``--device cuda`` on GPU nodes: add ``job_extra_directives=["--gres=gpu:1"]``).  On Ctrl-C
the command cancels its cases (the workers stop them at the next step) and disconnects;
the cluster's workers stay, they are the cluster's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from interval.batch.worker_setup import RESOURCE
from interval.core.errors import IntervalError

WORKER_MEMORY_BYTES = 3 * 2**30  # a small model case: scans, label maps, the model process
PRELOAD = "interval.batch.worker_setup"
CONNECT_TIMEOUT_S = 15.0
CLOSE_TIMEOUT_S = 10.0
_LOCAL_CONFIG = {
    "distributed.worker.daemon": False,  # workers start model processes
    "distributed.scheduler.allowed-failures": 1,  # a case that kills its worker twice fails
    "distributed.worker.memory.spill": False,  # the tasks' results are small dicts
    "distributed.worker.memory.target": False,
}
log = logging.getLogger(__name__)


@dataclass
class BatchCluster:
    """The client, what it is connected to, and how cases are submitted to it.

    ``restrict``: submit every case with the resource ``interval_case=1`` (one case at a
    time per worker); ``dashboard``: the dashboard's address, or None when there is none
    (Bokeh not installed).
    """

    client: Any
    local: bool
    workers: int
    threads: int | None
    restrict: bool
    dashboard: str | None
    address: str

    def describe(self) -> str:
        """One line saying where the cases run."""
        if self.local:
            return (f"Local Dask cluster: {self.workers} worker process(es), {self.threads} "
                    f"thread(s) each, one case at a time per worker")
        how = ("one case at a time per worker" if self.restrict
               else "as many cases at a time as each worker has threads")
        return f"Dask cluster at {self.address}: {self.workers} worker(s) now, {how}"


def usable_cores() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def plan_local(n_cases: int, workers: int | None = None, threads: int | None = None, *,
               cores: int | None = None, available_bytes: int | None = None) -> tuple[int, int]:
    """(workers, threads per worker) for a local cluster: the given values, else one
    worker per core (at most one per case and per 3 GiB of free memory) and the cores
    shared out among them."""
    cores = cores or usable_cores()
    if workers is None:
        if available_bytes is None:
            import psutil

            available_bytes = int(psutil.virtual_memory().available)
        by_memory = max(1, available_bytes // WORKER_MEMORY_BYTES)
        workers = max(1, min(max(n_cases, 1), cores, by_memory))
    if workers < 1:
        raise IntervalError("--workers must be at least 1")
    if threads is None:
        threads = max(1, cores // workers)
    if threads < 1:
        raise IntervalError("--threads-per-worker must be at least 1")
    return int(workers), int(threads)


# What comes back from a worker is decoded as msgpack only (plain data: the case records
# are JSON-able dicts), never unpickled: a worker is a child process, and data never
# becomes code.  Tasks still travel to the workers pickled (this process made them).
PLAIN_RESULTS: dict[str, Any] = {"serializers": ["dask", "pickle", "msgpack"],
                                 "deserializers": ["msgpack", "error"]}


@contextlib.contextmanager
def open_cluster(*, scheduler: str | None = None, workers: int = 1, threads: int = 1,
                 debug: bool = False) -> Iterator[BatchCluster]:
    """A local cluster of ``workers`` processes with ``threads`` threads each, or a
    client of the cluster at ``scheduler``; closed (and checked) on the way out."""
    import dask

    before = _child_pids()
    # what goes wrong in a case is in its case.json and log.txt; Dask's own messages (e.g. a
    # busy worker's heartbeat failing while a cancelled run closes) only with --debug
    quiet = logging.INFO if debug else logging.CRITICAL
    if scheduler:
        with _dask_logs(quiet):
            client = _connect(scheduler)
            try:
                yield _remote(client, scheduler)
            finally:
                _close(client)
        return
    from distributed import Client, LocalCluster

    # the config holds for the whole run: the nanny reads it when it restarts a worker
    with _dask_logs(quiet), dask.config.set(_LOCAL_CONFIG):
        cluster = client = None
        try:
            with _children_ignore_ctrl_c():
                cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=threads, processes=True,
                    host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=quiet,
                    resources={RESOURCE: 1}, preload=[PRELOAD],
                )
                client = Client(cluster, **PLAIN_RESULTS)
            dashboard = cluster.dashboard_link if _bokeh_here() else None
            yield BatchCluster(client=client, local=True, workers=workers, threads=threads,
                               restrict=True, dashboard=dashboard,
                               address=str(cluster.scheduler_address))
        finally:
            _close(client, cluster)
            left = leftover_processes(before)
            if left:
                log.warning("%d process(es) of the local cluster were still running and were "
                            "stopped", len(left))


def leftover_processes(before: set[int], *, stop: bool = True,
                       wait_s: float = 5.0) -> list[int]:
    """This process's descendants that were not there in ``before``; with ``stop``,
    they are terminated (then killed) and reaped.  Returns their process ids."""
    import psutil

    try:
        me = psutil.Process()
        new = [p for p in me.children(recursive=True)
               if p.pid not in before and not _multiprocessing_helper(p)]
    except psutil.Error:
        return []
    if stop and new:
        for p in new:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _gone, alive = psutil.wait_procs(new, timeout=wait_s)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(alive, timeout=wait_s)
    return [p.pid for p in new]


# --- helpers -------------------------------------------------------------------------------


def _multiprocessing_helper(process: Any) -> bool:
    """Python's own helper of this process (multiprocessing's resource tracker or fork
    server): it ends with this process, and stopping it early would break later work."""
    import psutil

    try:
        text = " ".join(process.cmdline())
    except psutil.Error:
        return False
    return "multiprocessing.resource_tracker" in text or "multiprocessing.forkserver" in text


def _child_pids() -> set[int]:
    import psutil

    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


@contextlib.contextmanager
def _dask_logs(level: int) -> Iterator[None]:
    """Dask's own log messages (workers starting and closing...) only at ``level``."""
    logger = logging.getLogger("distributed")
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextlib.contextmanager
def _children_ignore_ctrl_c() -> Iterator[None]:
    """Processes started meanwhile inherit an ignored SIGINT (it survives exec), so the
    terminal's Ctrl-C cannot interrupt a worker while it starts (its preload then keeps
    it ignored).  Only the main thread may change signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _bokeh_here() -> bool:
    return importlib.util.find_spec("bokeh") is not None


def _connect(address: str) -> Any:
    from distributed import Client

    if "://" not in address:
        address = f"tcp://{address}"
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False,
                      **PLAIN_RESULTS)
    except (OSError, TimeoutError) as exc:
        raise IntervalError(f"cannot reach the Dask scheduler at {address} ({exc}); is it "
                            "running, and is the address right?") from None


def _remote(client: Any, address: str) -> BatchCluster:
    info = client.scheduler_info()
    workers = info.get("workers") or {}
    if not workers:  # a cluster that is still starting its workers (a batch queue)
        with contextlib.suppress(Exception):
            client.wait_for_workers(1, timeout=10)
        workers = client.scheduler_info().get("workers") or {}
    restrict = bool(workers) and all((w.get("resources") or {}).get(RESOURCE)
                                     for w in workers.values())
    dashboard = None
    if "dashboard" in (info.get("services") or {}):
        try:
            if client.run_on_scheduler(_bokeh_here):
                dashboard = str(client.dashboard_link)
        except Exception:  # noqa: BLE001 - no dashboard address then
            dashboard = None
    return BatchCluster(client=client, local=False, workers=len(workers), threads=None,
                        restrict=restrict, dashboard=dashboard, address=address)


def _close(client: Any, cluster: Any = None) -> None:
    for thing in (client, cluster):
        if thing is None:
            continue
        try:
            thing.close(timeout=CLOSE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - leftover_processes stops what is left
            log.debug("closing %s: %s", type(thing).__name__, exc)
