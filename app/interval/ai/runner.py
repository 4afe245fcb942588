"""Run a model in a child process, so that nothing it does can take the viewer down.

:func:`run_in_child` starts a fresh interpreter (multiprocessing "spawn": safe with
Qt and threads, never imports Qt), passes the input arrays through shared memory
(one copy in, none out), relays progress, honours cancel, a timeout and a memory
limit, and turns every way a model can fail into a typed
:class:`~interval.core.errors.IntervalError`:

* the model raises             -> :class:`ModelFailed` (type + message; traceback at debug
  level); one of Interval's own errors (e.g. "this model needs a CT") as itself, a
  plugin's own IntervalError as :class:`ModelRefused` with its message
* it runs out of memory        -> :class:`ModelOutOfMemory` (MemoryError under the limit,
  the group's memory above the limit, or killed by the system with SIGKILL)
* it segfaults / aborts / exits -> :class:`ModelCrashed`
* it hangs past ``timeout``    -> :class:`ModelTimedOut` (terminated, then killed)
* cancel() returns True        -> :class:`~interval.core.errors.Cancelled` (asked to stop;
  terminated after a grace period)
* it breaks the protocol       -> :class:`ModelMisbehaved` (a :class:`ModelFailed`)

What is isolated.  The model's code runs only in the model process (and processes it
starts); the viewer exchanges nothing with it but checked JSON messages
(:mod:`interval.ai.child_protocol`) and numeric arrays in shared memory, so it never
unpickles or imports anything the model produced: a crash, a hang, an exhausted
memory, a crafted message or an exception class with hostile code cannot run code in
the viewer or end it.  The model process leads its own process group (its own session
on POSIX); stopping the model (timeout, cancel, crash, the end of a run, Ctrl-C or an
error in the caller) stops the whole group, and its descendants that left the group
(:mod:`interval.ai.process_group`).  On Linux it dies with the viewer even when stuck
in native code (``PR_SET_PDEATHSIG``), and a sentinel then stops what it started.
Memory: see :func:`run_in_child`.

What is NOT isolated.  The model process runs as the same user as the viewer, with the
same rights: it can read and write every file the user can (patient data included),
use the network, use all CPUs and GPUs, and it can signal (kill) the viewer by its
process id.  A process it starts that leaves the group AND the process tree (double
fork + setsid) escapes the stop and the memory watch.  Windows has no process groups
or parent-death signal here (descendants are stopped with psutil; a job object is a
TODO).  Treat a model plugin like any program you install: run only plugins you trust.

Shared-memory segments are created and unlinked by this (parent) process only, so none
is left behind whatever happens to the child; the child is always reaped (no zombies).

:class:`ModelProcess` starts the child ahead of the job (it imports torch and the
engine while the images are still being read); :func:`run_segmentation` runs the
segmentation engine this way.  A frozen (PyInstaller) build must call
``multiprocessing.freeze_support()`` first thing in its entry point.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from multiprocessing import spawn as mp_spawn
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import numpy as np

from interval.ai.child import child_main
from interval.ai.child_protocol import (
    MAX_CHILD_MESSAGE_BYTES,
    ProtocolError,
    encode,
    parse_from_child,
    plain_text,
)
from interval.ai.memory_limit import (
    NO_LIMIT,
    format_size,
    machine_memory_bytes,
    resolve_limit,
)
from interval.ai.process_group import ProcessTree
from interval.ai.runner_errors import (
    ModelCrashed,
    ModelError,
    ModelFailed,
    ModelMisbehaved,
    ModelOutOfMemory,
    ModelRefused,
    ModelTimedOut,
    error_from_child,
)
from interval.ai.shm import Segment, copy_in, owned_array
from interval.core.errors import Cancelled
from interval.core.jobs import CancelFn, ProgressFn

__all__ = [
    "Cancelled",
    "ModelCrashed",
    "ModelProcess",
    "ModelError",
    "ModelFailed",
    "ModelMisbehaved",
    "ModelOutOfMemory",
    "ModelRefused",
    "ModelTimedOut",
    "NO_LIMIT",
    "run_in_child",
    "run_segmentation",
    "start_segmentation_process",
]

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 5.0  # after cancel(): time the model gets to stop by itself
TERMINATE_GRACE_S = 2.0  # after SIGTERM: time before SIGKILL
MEMORY_CHECK_S = 0.5  # how often the group's resident memory is measured
_POLL_S = 0.05
_MAX_BATCH = 200  # messages handled before cancel/timeout/memory are looked at again
_KILL = getattr(signal, "SIGKILL", signal.SIGTERM)
_GPU_DRIVER_FILES = ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/kfd", "/dev/dxg")


class ModelProcess:
    """A child process for ONE model run, started ahead of time.

    Start it as early as possible (``preload`` imports e.g. torch and the engine while
    this process still reads the images), then :meth:`run` the job; the process ends
    with the job.  Use as a context manager, or call :meth:`close` (idempotent), so the
    child (and every process it started) is stopped and reaped even when :meth:`run`
    is never called.
    """

    def __init__(self, preload: Sequence[str] = ()) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(
            target=child_main,
            args=(child_conn, tuple(preload), logging.getLogger().getEffectiveLevel(),
                  os.getpid()),
            name="interval-model",
            daemon=True,
        )
        try:
            _launch(self._proc)
        except BaseException:
            self._conn.close()
            raise
        finally:
            child_conn.close()  # only the child holds its end now: EOF when it dies
        self._pid = int(self._proc.pid)
        self._tree = ProcessTree(self._pid)
        self._used = False
        self._closed = False

    @property
    def pid(self) -> int:
        """The model process's id (it also leads its process group on POSIX)."""
        return self._pid

    def run(
        self,
        target: str,
        arrays: Mapping[str, np.ndarray],
        kwargs: Mapping[str, Any] | None = None,
        *,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        timeout: float | None = None,
        memory_limit_bytes: int | None = None,
        cancel_grace_s: float = CANCEL_GRACE_S,
        output_headroom_bytes: int | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Run the job (see :func:`run_in_child`); the process is finished afterwards."""
        if self._used or self._closed:
            raise RuntimeError("a ModelProcess runs one job only")
        self._used = True
        segments: list[Segment] = []
        try:
            if cancel is not None and cancel():
                raise Cancelled()
            limit = resolve_limit(memory_limit_bytes)
            kwargs_data = _plain_kwargs(kwargs)
            inputs = []
            input_bytes = 0
            for key, array in arrays.items():
                seg = copy_in(np.asarray(array))
                segments.append(seg)
                input_bytes += seg.spec.nbytes
                inputs.append({"key": str(key), "array": seg.spec.to_dict()})
            headroom = (_default_headroom(input_bytes) if output_headroom_bytes is None
                        else max(int(output_headroom_bytes), 0))
            job = {"kind": "job", "target": str(target), "inputs": inputs, "kwargs": kwargs_data,
                   "memory": {"limit": limit, "headroom": headroom,
                              "address_space": _address_space_limit_works()}}
            started = time.monotonic()
            try:
                self._conn.send_bytes(encode(job))
            except (OSError, ValueError):  # the child is already gone
                self._wait_exit(TERMINATE_GRACE_S)
                raise self._death_error(limit) from None
            run = _Run(self, segments, progress=progress, cancel=cancel, timeout=timeout,
                       started=started, limit=limit, input_bytes=input_bytes, headroom=headroom,
                       cancel_grace_s=cancel_grace_s)
            return run.supervise()
        finally:
            for seg in segments:
                seg.unlink()
            self.close()

    def close(self) -> None:
        """Stop the child and every process it started, reap it, close the pipe."""
        if self._closed:
            return
        self._closed = True
        try:
            self._stop()
        finally:
            self._conn.close()

    def __enter__(self) -> ModelProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the process ------------------------------------------------------------------

    def _exited(self) -> bool:
        """Whether the child has ended, WITHOUT reaping it (its pid, and so its group id,
        stays ours until it is reaped)."""
        if hasattr(os, "waitid"):
            try:
                return os.waitid(os.P_PID, self.pid,
                                 os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
            except ChildProcessError:  # already reaped (multiprocessing's own cleanup)
                return True
            except OSError:
                pass
        try:
            return self._proc.exitcode is not None
        except ValueError:  # closed
            return True

    def _wait_exit(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the child to end (without reaping it)."""
        deadline = time.monotonic() + seconds
        while not self._exited():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:  # readable when the child ends (unless a process it forked holds it)
                wait([self._proc.sentinel], min(left, 0.02))
            except ValueError:  # closed
                time.sleep(min(left, 0.02))
        return True

    def _stop(self) -> None:
        """Terminate the group (SIGTERM), kill what is left (SIGKILL), reap the child.

        Every group member and descendant is signalled before the child is reaped, so
        the group id cannot have been reused by another process.
        """
        try:
            members = self._tree.members()
            if not self._exited():
                self._tree.signal(signal.SIGTERM, members)
                self._proc.terminate()
                if not self._wait_exit(TERMINATE_GRACE_S):
                    self._tree.signal(_KILL, members)
                    self._proc.kill()
                    self._wait_exit(TERMINATE_GRACE_S)
            # the child has ended (or will not): sweep what it started, then reap it
            self._tree.signal(_KILL, {**members, **self._tree.members()})
            # reap without relying on the sentinel pipe (a forked descendant may hold it)
            if not self._wait_exit(TERMINATE_GRACE_S) or self._proc.is_alive():
                log.warning("the model process %d did not stop", self.pid)  # pragma: no cover
                return
            self._proc.join(0)
            self._proc.close()
        except (ValueError, AssertionError):  # already closed / never started
            pass

    def _exit_code(self) -> int | None:
        """The child's exit code as multiprocessing gives it (-N: signal N), None while it
        runs; read without reaping it where the platform allows."""
        if hasattr(os, "waitid"):
            try:
                info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:  # already reaped: multiprocessing has the code
                info = None
            except OSError:
                info = None
            if info is not None:
                if info.si_code == os.CLD_EXITED:
                    return int(info.si_status)
                return -int(info.si_status)  # killed or dumped core
        try:
            return self._proc.exitcode
        except ValueError:  # closed
            return None

    def _death_error(self, limit: int) -> Exception:
        """The error for a child that died without reporting one (it is not reaped here:
        :meth:`close` stops what it started first)."""
        if not self._wait_exit(TERMINATE_GRACE_S):  # the pipe closed but it lingers
            self._stop()
        code = self._exit_code()
        if code is not None and code < 0:
            number = -code
            if number == getattr(signal, "SIGKILL", 9):
                return ModelOutOfMemory(
                    "It was stopped by the operating system, most likely because the computer "
                    "ran out of memory.", limit_bytes=limit or None,
                )
            return ModelCrashed(signal_number=number)
        crashed = ModelCrashed(exit_code=code if code is not None else -1)
        if limit:  # native code often exits when an allocation fails
            crashed.hint = (  # type: ignore[attr-defined]
                f"it may have run out of memory (it was limited to {format_size(limit)})"
            )
        return crashed


class _Run:
    """The parent's side of one job: relay messages, watch cancel/timeout/memory/death."""

    def __init__(self, process: ModelProcess, segments: list[Segment], *,
                 progress: ProgressFn | None, cancel: CancelFn | None, timeout: float | None,
                 started: float, limit: int, input_bytes: int, headroom: int,
                 cancel_grace_s: float) -> None:
        self.p = process
        self.segments = segments
        self.progress, self.cancel, self.timeout = progress, cancel, timeout
        self.started, self.limit, self.cancel_grace_s = started, limit, cancel_grace_s
        self.input_bytes, self.headroom = input_bytes, headroom
        self.state = "job"  # -> running (after ready) -> outputs (after alloc)
        self.outputs: dict[str, Segment] = {}
        self.cancel_deadline: float | None = None
        self.rss_threshold: int | None = None
        self.next_memory_check = 0.0
        self.pending_progress: tuple[int, int] | None = None

    def supervise(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        conn = self.p._conn
        while True:
            ready = wait([conn, self.p._proc.sentinel], timeout=_POLL_S)
            if conn in ready:
                result = self._handle_batch()
                if result is not None:
                    return result
            self._deliver_progress()
            if self.p._exited():
                result = self._handle_batch()  # what it said before it ended
                if result is not None:
                    return result
                raise self.p._death_error(self.limit)
            self._check_limits()

    def _handle_batch(self) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        conn = self.p._conn
        for _ in range(_MAX_BATCH):
            try:
                if not conn.poll():
                    return None
                data = conn.recv_bytes(MAX_CHILD_MESSAGE_BYTES)
            except EOFError:
                raise self.p._death_error(self.limit) from None
            except OSError as exc:  # "bad message length": larger than allowed
                largest = format_size(MAX_CHILD_MESSAGE_BYTES)
                raise self._misbehaved(f"a message larger than {largest} or unreadable "
                                       f"({exc})") from None
            try:
                message = parse_from_child(data)
            except ProtocolError as exc:
                raise self._misbehaved(f"it sent {exc}") from None
            result = self._handle(message)
            if result is not None:
                return result
        return None

    def _handle(self, message: dict[str, Any]) -> tuple[dict, dict] | None:
        kind = message["kind"]
        if kind == "error":
            log.debug("model process raised %s:\n%s", plain_text(message["type"], 200),
                      plain_text(message["traceback"], 20_000, keep_end=True))
            raise error_from_child(message, self.limit or None,
                                   cancelled=self.cancel_deadline is not None)
        if kind == "progress":
            if self.state == "job":
                raise self._misbehaved("progress before the job started")
            self.pending_progress = (message["done"], message["total"])
        elif kind == "ready" and self.state == "job":
            self.state = "running"
            for seg in self.segments:  # the child has mapped the inputs: drop their names
                seg.unlink()
            if self.limit:
                base = self.p._tree.rss_bytes()
                self.rss_threshold = base + self.limit + self.input_bytes + self.headroom
                log.debug("model process: %s resident at the start; stopped above %s",
                          format_size(base), format_size(self.rss_threshold))
            self._send({"kind": "go"})
        elif kind == "alloc" and self.state == "running":
            self.state = "outputs"
            self._send({"kind": "outputs", "outputs": self._allocate(message["outputs"])})
        elif kind == "done" and self.state == "outputs":
            self._deliver_progress()
            if self.cancel_deadline is not None:  # finished, but the user asked to stop
                raise Cancelled()
            result = {key: owned_array(seg) for key, seg in self.outputs.items()}
            log.debug("model process finished in %.2f s", time.monotonic() - self.started)
            return result, message["info"]
        else:
            raise self._misbehaved(f"an unexpected {kind!r} message")
        return None

    def _allocate(self, layout: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Segments for the outputs the child asks for, within what it may hand back."""
        keys = [entry["key"] for entry in layout]
        if len(set(keys)) != len(keys):
            raise self._misbehaved("two results with the same name")
        total = 0
        for entry in layout:
            dtype = np.dtype(entry["dtype"])
            total += int(np.prod(entry["shape"], dtype=object)) * dtype.itemsize
        cap = self.limit + self.headroom if self.limit else machine_memory_bytes()
        if total > cap:
            raise self._misbehaved(
                f"it asked for {format_size(total)} of results, more than it may use "
                f"({format_size(cap)})"
            )
        specs = []
        for entry in layout:
            seg = Segment.create(tuple(entry["shape"]), np.dtype(entry["dtype"]))
            self.segments.append(seg)
            self.outputs[entry["key"]] = seg
            specs.append(seg.spec.to_dict())
        return specs

    def _check_limits(self) -> None:
        now = time.monotonic()
        if self.cancel_deadline is None and self.cancel is not None and self.cancel():
            self._send({"kind": "cancel"})
            self.cancel_deadline = now + self.cancel_grace_s
            log.debug("cancel requested; the model has %.1f s to stop", self.cancel_grace_s)
        if self.cancel_deadline is not None and now >= self.cancel_deadline:
            log.debug("the model did not stop after cancel; terminating it")
            raise Cancelled()
        if self.timeout is not None and now - self.started >= self.timeout:
            raise ModelTimedOut(self.timeout)
        if now >= self.next_memory_check:  # also notes the processes the model started
            self.next_memory_check = now + MEMORY_CHECK_S
            used = self.p._tree.rss_bytes()
            if self.rss_threshold is not None and used > self.rss_threshold:
                self.p._tree.signal(_KILL)  # at once: it may be growing fast
                raise ModelOutOfMemory(
                    f"Together with the processes it started it used {format_size(used)}.",
                    limit_bytes=self.limit,
                )

    def _deliver_progress(self) -> None:
        if self.pending_progress is not None and self.progress is not None:
            done, total = self.pending_progress
            self.pending_progress = None
            self.progress(done, total)

    def _send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, ValueError):  # the child may be gone already
            self.p._conn.send_bytes(encode(message))

    def _misbehaved(self, reason: str) -> ModelMisbehaved:
        log.debug("the model process broke the protocol: %s", reason)
        return ModelMisbehaved(reason)


def run_in_child(
    target: str,
    arrays: Mapping[str, np.ndarray],
    kwargs: Mapping[str, Any] | None = None,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    timeout: float | None = None,
    memory_limit_bytes: int | None = None,
    cancel_grace_s: float = CANCEL_GRACE_S,
    process: ModelProcess | None = None,
    preload: Sequence[str] = (),
    output_headroom_bytes: int | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Call ``target(arrays, **kwargs, progress=..., cancel=...)`` in a spawned child process.

    ``target`` is ``"package.module:function"``, importable in a fresh interpreter (the
    child gets this process's ``sys.path``).  It returns a dict of arrays, or
    ``(arrays, info)`` with ``info`` a dict of plain JSON data; both come back here (the
    arrays without a copy).  ``kwargs`` must be plain JSON data too (tuples arrive as
    lists).  ``progress(done, total)`` is called in the calling thread.  ``timeout``
    counts from the hand-over of the job.

    ``memory_limit_bytes``: the memory the model may add once its process has started
    (its imports, its arrays, the processes it starts); None: the default of
    :func:`interval.ai.memory_limit.resolve_limit` (``INTERVAL_MODEL_MEMORY_LIMIT``, else
    derived from the machine); :data:`NO_LIMIT` (0): none.  Enforced twice: on Linux
    without a GPU driver (whose address-space reservations it would break) by RLIMIT_AS
    in the model process (an allocation beyond it raises MemoryError there; the model
    cannot raise the hard limit), and everywhere by watching the resident memory of the
    whole process group every :data:`MEMORY_CHECK_S` s (above the limit, plus the inputs
    and ``output_headroom_bytes``, the group is killed).  ``output_headroom_bytes``:
    room to map the results (default: twice the inputs + 64 MiB).  Modules imported in
    the target count against the limit: name the large ones in ``preload``.

    ``process``: a :class:`ModelProcess` started earlier (default: a new one, importing
    ``preload``).  Raises :class:`ModelFailed`, :class:`ModelCrashed`,
    :class:`ModelTimedOut`, :class:`ModelOutOfMemory`, :class:`ModelRefused`,
    :class:`Cancelled`, or one of Interval's own errors the model raised (e.g.
    :class:`~interval.core.errors.UnsupportedData`: "this model needs a CT").
    """
    if cancel is not None and cancel():
        if process is not None:
            process.close()
        raise Cancelled()
    proc = process if process is not None else ModelProcess(preload)
    with proc:
        return proc.run(target, arrays, kwargs, progress=progress, cancel=cancel,
                        timeout=timeout, memory_limit_bytes=memory_limit_bytes,
                        cancel_grace_s=cancel_grace_s,
                        output_headroom_bytes=output_headroom_bytes)


def _plain_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    data = {str(k): v for k, v in dict(kwargs or {}).items()}
    try:
        encode(data)
    except TypeError as exc:
        raise TypeError(f"a model's keyword arguments must be plain JSON data: {exc}") from None
    return data


def _default_headroom(input_bytes: int) -> int:
    """Room to map the outputs: twice the inputs (a label map is at most as large as a
    16-bit image; a few outputs), plus 64 MiB."""
    return 2 * int(input_bytes) + 64 * 2**20


def _address_space_limit_works() -> bool:
    """RLIMIT_AS is a usable memory limit: Linux, and no GPU driver (CUDA/ROCm reserve
    address space by the terabyte, which RLIMIT_AS counts)."""
    return sys.platform.startswith("linux") and not any(
        os.path.exists(path) for path in _GPU_DRIVER_FILES
    )


# --- starting the process -----------------------------------------------------------------

_START_LOCK = threading.Lock()
_LAUNCHER: queue.SimpleQueue | None = None
_LAUNCHER_LOCK = threading.Lock()


def _launch(proc: Any) -> None:
    """Start ``proc`` from a thread that lives as long as this process.

    Linux's parent-death signal fires when the THREAD that started the child ends, so
    a child started from a short-lived worker thread would be killed with it: the main
    thread starts children itself, any other thread hands the start to one long-lived
    launcher thread.
    """
    if threading.current_thread() is threading.main_thread():
        _start_without_main(proc)
        return
    global _LAUNCHER
    with _LAUNCHER_LOCK:
        if _LAUNCHER is None:
            _LAUNCHER = queue.SimpleQueue()
            threading.Thread(target=_launcher_loop, args=(_LAUNCHER,),
                             name="interval-model-launcher", daemon=True).start()
    done: concurrent.futures.Future = concurrent.futures.Future()
    _LAUNCHER.put((proc, done))
    done.result()


def _launcher_loop(requests: queue.SimpleQueue) -> None:
    while True:
        proc, done = requests.get()
        try:
            _start_without_main(proc)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            done.set_exception(exc)
        else:
            done.set_result(None)


def _start_without_main(proc: Any) -> None:
    """Start ``proc`` without re-running the parent's ``__main__`` module in the child.

    multiprocessing's spawn normally re-imports the main script in the child; the
    viewer's may import Qt or do work at import time, and a REPL's cannot be imported
    at all.  Our child's entry point lives in :mod:`interval.ai.child`, so the main
    module is never needed: drop it from the preparation data.
    """
    original = mp_spawn.get_preparation_data

    def without_main(name: str) -> dict[str, Any]:
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    # The child ignores Ctrl-C until it has its own session (an ignored signal survives
    # exec): a Ctrl-C in the terminal reaches the whole process group, and only this
    # process handles it.  Only the main thread may change signal handlers.
    main_thread = threading.current_thread() is threading.main_thread()
    with _START_LOCK:
        mp_spawn.get_preparation_data = without_main
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
        try:
            proc.start()
        finally:
            mp_spawn.get_preparation_data = original
            if previous is not None:
                signal.signal(signal.SIGINT, previous)


# --- segmentation ------------------------------------------------------------------------


def run_segmentation(
    volume: Any,
    model_dir: str | Path,
    options: Any = None,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    timeout: float | None = None,
    memory_limit_bytes: int | None = None,
    code_path: str | Path | None = None,
    process: ModelProcess | None = None,
    priors: Sequence[Any] = (),
) -> Any:
    """Segment ``volume`` with the model package in ``model_dir`` in a child process.

    ``options`` is an :class:`~interval.ai.options.InferenceOptions`, a dict of its fields,
    or None (model.json's settings).  ``code_path`` is the declaring plugin's code folder
    (``SegmentationModelEntry.code_path``): the only folder a "plugin" network's code is
    loaded from (checked by :mod:`interval.ai.networks.plugin_code`).  The engine runs in the
    child (``interval.ai.engine_child:segment_arrays``); the label map (and, for a model
    with a confidence section, the uint8 confidence map: ``result.confidence``) comes back
    through shared memory onto ``volume``'s grid.  Returns a
    :class:`~interval.ai.options.SegmentationResult`; ``timings["process"]`` is the time
    spent starting the child and moving data (beyond the engine's own phases).
    ``memory_limit_bytes``: as for :func:`run_in_child` (None: the default limit).
    ``process``: a child started earlier with :func:`start_segmentation_process`.
    ``priors``: a temporal model's earlier scans on ``volume``'s grid, oldest first
    (see :func:`interval.ai.engine.segment`); they go to the child by shared memory too.
    """
    from interval.ai.child_segment import TARGET
    from interval.ai.engine_bridge import child_kwargs, result_from_child

    t0 = time.perf_counter()
    arrays, kwargs = child_kwargs(volume, model_dir, options, priors)
    if code_path is not None:
        kwargs["code_path"] = str(code_path)
    outputs, info = run_in_child(
        TARGET, arrays, kwargs, progress=progress, cancel=cancel,
        timeout=timeout, memory_limit_bytes=memory_limit_bytes, process=process,
        preload=SEGMENTATION_PRELOAD,
    )
    elapsed = time.perf_counter() - t0
    info = _segmentation_info(info)
    labels = outputs.get("labels")
    if labels is None or labels.shape != tuple(volume.array.shape) or labels.dtype.kind not in "ui":
        raise ModelMisbehaved("its label map is missing or does not match the image")
    checked = {"labels": labels}
    confidence = outputs.get("confidence")
    if confidence is not None:
        checked["confidence"] = _checked_confidence(confidence, volume, model_dir,
                                                    bool(kwargs["options"]["confidence"]))
    inside = sum(v for k, v in info["timings"].items() if k != "total")
    info["timings"]["process"] = max(elapsed - inside, 0.0)
    return result_from_child(volume, model_dir, checked, info)


def _checked_confidence(confidence: np.ndarray, volume: Any, model_dir: str | Path,
                        asked: bool) -> np.ndarray:
    """The child's confidence map when the model declares one, it was asked for, and it
    is uint8 on the image's grid; else :class:`ModelMisbehaved`."""
    from interval.ai.model_package import load_model_spec

    if not asked or load_model_spec(model_dir).confidence is None:
        raise ModelMisbehaved("it sent a confidence map that was not asked for")
    if confidence.shape != tuple(volume.array.shape) or confidence.dtype != np.uint8:
        shape = "x".join(str(n) for n in confidence.shape)
        want = "x".join(str(n) for n in volume.array.shape)
        raise ModelMisbehaved(f"its confidence map ({shape}, {confidence.dtype}) does not "
                              f"match the image ({want}, uint8)")
    return confidence


def _segmentation_info(info: dict[str, Any]) -> dict[str, Any]:
    """The engine's info from the child, checked: ``timings`` {str: number}, ``device``
    str, ``warnings`` [str] (plain text)."""
    from interval.ai.child_protocol import plain_text

    timings, device, warnings = (info.get("timings", {}), info.get("device", "cpu"),
                                 info.get("warnings", []))
    if (not isinstance(timings, dict) or not isinstance(device, str)
            or not isinstance(warnings, list)
            or not all(isinstance(v, int | float) and not isinstance(v, bool)
                       for v in timings.values())
            or not all(isinstance(w, str) for w in warnings)):
        raise ModelMisbehaved("its result information is not what the engine reports")
    return {
        "timings": {plain_text(k, 100): float(v) for k, v in timings.items()},
        "device": plain_text(device, 100),
        "warnings": [plain_text(w, 2000) for w in warnings[:100]],
    }


SEGMENTATION_PRELOAD = ("torch", "interval.ai.engine", "interval.ai.engine_child")


def start_segmentation_process() -> ModelProcess:
    """A child process that starts importing torch and the engine now (a head start of
    1-2 s) for a later :func:`run_segmentation` (``process=``)."""
    return ModelProcess(preload=SEGMENTATION_PRELOAD)
