"""Prepare a Dask worker process for Interval's cases (a Dask preload module).

``interval batch`` passes it to the workers of its own ``LocalCluster``; workers of a
cluster started by hand (or by ``dask-jobqueue``) get it with
``dask worker ... --preload interval.batch.worker_setup`` (see :mod:`interval.batch.cluster`).
In each worker process it:

* ignores Ctrl-C (SIGINT): the terminal's Ctrl-C reaches every process of the command's
  process group, and only the command itself handles it (it cancels the cases cleanly);
* lets the worker start child processes: Dask runs workers as *daemonic* processes, which
  Python forbids to have children, and every model (segmentation, forecast) runs in a
  child process of its own (:mod:`interval.ai.runner`);
* when the worker advertises the ``interval_case`` resource (it runs one case at a time),
  gives that case its threads: ``OMP_NUM_THREADS`` and friends for the model processes,
  ITK's thread count for the registration.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from typing import Any

RESOURCE = "interval_case"
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")


def dask_setup(worker: Any) -> None:
    """Dask's preload hook: called in the worker process when the worker starts."""
    threads = None
    resources = getattr(getattr(worker, "state", None), "total_resources", None)
    if resources is None:
        resources = getattr(worker, "total_resources", None) or {}
    if resources.get(RESOURCE):
        threads = getattr(getattr(worker, "state", None), "nthreads", None) \
            or getattr(worker, "nthreads", None)
    prepare_worker_process(threads)


def prepare_worker_process(threads: int | None = None) -> None:
    """Ignore Ctrl-C, allow child processes and (with ``threads``) set the thread count."""
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    allow_child_processes()
    if threads:
        set_threads(int(threads))


def allow_child_processes() -> None:
    """Let this (daemonic) worker process start model processes.

    Python's check is only an assertion about *this* process's daemon flag; the process
    that started the worker (Dask's nanny) keeps stopping it as before, and the model
    processes stop with it (they die with their parent, see :mod:`interval.ai.runner`).
    """
    process = multiprocessing.current_process()
    if process.daemon:
        with contextlib.suppress(AssertionError, AttributeError):
            process.daemon = False


def child_processes_allowed() -> bool:
    """Whether this process may start child processes (it is not daemonic)."""
    return not multiprocessing.current_process().daemon


def set_threads(threads: int) -> None:
    """CPU threads of the model processes started from now on, and of ITK here."""
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    sitk = sys.modules.get("SimpleITK")
    if sitk is not None:  # already imported: the variable is read only at its start
        with contextlib.suppress(Exception):
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
