"""Run a model in a child process, so that nothing it does can take the viewer down.

:func:`run_in_child` starts a fresh interpreter (multiprocessing "spawn": safe with
Qt and threads, never imports Qt), passes the input arrays through shared memory
(one copy in, none out), relays progress, honours cancel and a timeout, and turns
every way a model can fail into a typed :class:`~interval.core.errors.IntervalError`:

* the model raises             -> :class:`ModelFailed` (type + message; traceback at debug level)
* it runs out of memory        -> :class:`ModelOutOfMemory` (MemoryError under the limit,
  or killed by the system with SIGKILL)
* it segfaults / aborts / exits -> :class:`ModelCrashed`
* it hangs past ``timeout``    -> :class:`ModelTimedOut` (terminated, then killed)
* cancel() returns True        -> :class:`~interval.core.errors.Cancelled` (asked to stop;
  terminated after a grace period)

Shared-memory segments are created and unlinked by this (parent) process only, so none
is left behind whatever happens to the child; the child is always reaped (no zombies).

:class:`ModelProcess` starts the child ahead of the job (it imports torch and the
engine while the images are still being read); :func:`run_segmentation` runs the
segmentation engine this way.  A frozen (PyInstaller) build must call
``multiprocessing.freeze_support()`` first thing in its entry point.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import pickle
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from multiprocessing import spawn as mp_spawn
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import numpy as np

from interval.ai.child import child_main
from interval.ai.runner_errors import (
    ModelCrashed,
    ModelError,
    ModelFailed,
    ModelOutOfMemory,
    ModelTimedOut,
)
from interval.ai.shm import Segment, copy_in, owned_array
from interval.core.errors import Cancelled, IntervalError
from interval.core.jobs import CancelFn, ProgressFn

__all__ = [
    "Cancelled",
    "ModelCrashed",
    "ModelProcess",
    "ModelError",
    "ModelFailed",
    "ModelOutOfMemory",
    "ModelTimedOut",
    "run_in_child",
    "run_segmentation",
    "start_segmentation_process",
]

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 5.0  # after cancel(): time the model gets to stop by itself
TERMINATE_GRACE_S = 2.0  # after SIGTERM: time before SIGKILL
_POLL_S = 0.05


class ModelProcess:
    """A child process for ONE model run, started ahead of time.

    Start it as early as possible (``preload`` imports e.g. torch and the engine while
    this process still reads the images), then :meth:`run` the job; the process ends
    with the job.  Use as a context manager, or call :meth:`close` (idempotent), so the
    child is reaped even when :meth:`run` is never called.
    """

    def __init__(self, preload: Sequence[str] = ()) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(
            target=child_main,
            args=(child_conn, tuple(preload), logging.getLogger().getEffectiveLevel()),
            name="interval-model",
            daemon=True,
        )
        try:
            _start_without_main(self._proc)
        except BaseException:
            self._conn.close()
            raise
        finally:
            child_conn.close()  # only the child holds its end now: EOF when it dies
        self._used = False
        self._closed = False

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
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Run the job (see :func:`run_in_child`); the process is finished afterwards."""
        if self._used or self._closed:
            raise RuntimeError("a ModelProcess runs one job only")
        self._used = True
        segments: list[Segment] = []
        try:
            if cancel is not None and cancel():
                raise Cancelled()
            inputs = {}
            for key, array in arrays.items():
                seg = copy_in(np.asarray(array))
                segments.append(seg)
                inputs[str(key)] = seg.spec
            started = time.monotonic()
            try:
                self._conn.send(("job", target, inputs, dict(kwargs or {}), memory_limit_bytes))
            except (OSError, ValueError):  # the child is already gone
                self._proc.join(TERMINATE_GRACE_S)
                raise _death_error(self._proc, memory_limit_bytes) from None
            return _supervise(
                self._proc, self._conn, segments,
                progress=progress, cancel=cancel, timeout=timeout, started=started,
                memory_limit_bytes=memory_limit_bytes, cancel_grace_s=cancel_grace_s,
            )
        finally:
            for seg in segments:
                seg.unlink()
            self.close()

    def close(self) -> None:
        """Stop the child if it still runs, reap it, close the pipe."""
        if self._closed:
            return
        self._closed = True
        _stop(self._proc)
        self._conn.close()

    def __enter__(self) -> ModelProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Call ``target(arrays, **kwargs, progress=..., cancel=...)`` in a spawned child process.

    ``target`` is ``"package.module:function"``, importable in a fresh interpreter (the
    child gets this process's ``sys.path``).  It returns a dict of arrays, or
    ``(arrays, info)`` with a picklable ``info`` dict; both come back here (the arrays
    without a copy).  ``kwargs`` must be picklable.  ``progress(done, total)`` is called
    in the calling thread.  ``timeout`` counts from the hand-over of the job.
    ``memory_limit_bytes`` caps the address space the model may add once its module is
    imported (Linux; RLIMIT_AS): modules it imports later (e.g. torch inside the target
    function) count against it, so name them in ``preload``.  ``process``: a
    :class:`ModelProcess` started earlier (default: a new one, importing ``preload``).  Raises :class:`ModelFailed`, :class:`ModelCrashed`,
    :class:`ModelTimedOut`, :class:`ModelOutOfMemory`, :class:`Cancelled`, or an
    :class:`IntervalError` the model raised itself (e.g. "this model needs a CT").
    """
    if cancel is not None and cancel():
        if process is not None:
            process.close()
        raise Cancelled()
    proc = process if process is not None else ModelProcess(preload)
    with proc:
        return proc.run(target, arrays, kwargs, progress=progress, cancel=cancel,
                        timeout=timeout, memory_limit_bytes=memory_limit_bytes,
                        cancel_grace_s=cancel_grace_s)


_START_LOCK = threading.Lock()


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

    # The child ignores Ctrl-C from birth (an ignored signal survives exec): a Ctrl-C in
    # the terminal reaches the whole process group, and only this process handles it.
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


def _supervise(
    proc: Any,
    conn: Any,
    segments: list[Segment],
    *,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
    timeout: float | None,
    started: float,
    memory_limit_bytes: int | None,
    cancel_grace_s: float,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The parent's loop: relay messages, watch cancel/timeout/death until a result."""
    outputs: dict[str, Segment] = {}
    cancel_deadline: float | None = None
    while True:
        ready = wait([conn, proc.sentinel], timeout=_POLL_S)
        if conn in ready:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                msg = None
            if msg is None:
                proc.join(TERMINATE_GRACE_S)
                raise _death_error(proc, memory_limit_bytes)
            kind = msg[0]
            if kind == "ready":
                for seg in segments:  # the child has mapped the inputs: drop their names
                    seg.unlink()
            elif kind == "progress":
                if progress is not None:
                    progress(int(msg[1]), int(msg[2]))
            elif kind == "alloc":
                specs = []
                for key, shape, dtype in msg[1]:
                    seg = Segment.create(tuple(shape), np.dtype(dtype))
                    segments.append(seg)
                    outputs[key] = seg
                    specs.append(seg.spec)
                conn.send(("outputs", specs))
            elif kind == "done":
                if cancel_deadline is not None:  # finished, but the user asked to stop
                    raise Cancelled()
                result = {key: owned_array(seg) for key, seg in outputs.items()}
                log.debug("model process finished in %.2f s", time.monotonic() - started)
                return result, dict(msg[1])
            elif kind == "error":
                raise _child_error(msg, memory_limit_bytes, cancelled=cancel_deadline is not None)
        elif proc.sentinel in ready and not conn.poll():
            proc.join(TERMINATE_GRACE_S)
            raise _death_error(proc, memory_limit_bytes)
        now = time.monotonic()
        if cancel_deadline is None and cancel is not None and cancel():
            with contextlib.suppress(OSError, ValueError):  # the child may be gone already
                conn.send(("cancel",))
            cancel_deadline = now + cancel_grace_s
            log.debug("cancel requested; the model has %.1f s to stop", cancel_grace_s)
        if cancel_deadline is not None and now >= cancel_deadline:
            log.debug("the model did not stop after cancel; terminating it")
            raise Cancelled()
        if timeout is not None and now - started >= timeout:
            raise ModelTimedOut(timeout)


def _child_error(msg: tuple, memory_limit_bytes: int | None, *, cancelled: bool) -> Exception:
    _kind, kind, type_name, message, tb, pickled = msg
    log.debug("model process raised %s:\n%s", type_name, tb)
    if kind == "cancelled":
        return Cancelled()
    if kind == "memory":
        return ModelOutOfMemory(limit_bytes=memory_limit_bytes)
    if pickled is not None:
        try:
            exc = pickle.loads(pickled)
        except Exception:  # noqa: BLE001 - fall through to the text
            exc = None
        if isinstance(exc, IntervalError):
            return exc
    if cancelled and type_name == "KeyboardInterrupt":
        return Cancelled()
    return ModelFailed(type_name, message)


def _death_error(proc: Any, memory_limit_bytes: int | None) -> Exception:
    code = proc.exitcode
    if code is None:  # the pipe closed but the process lingers: treat as a crash
        _stop(proc)
        code = proc.exitcode
    if code is not None and code < 0:
        number = -code
        if number == getattr(signal, "SIGKILL", 9):
            return ModelOutOfMemory(
                "It was stopped by the operating system, most likely because the computer "
                "ran out of memory.", limit_bytes=memory_limit_bytes,
            )
        return ModelCrashed(signal_number=number)
    crashed = ModelCrashed(exit_code=code if code is not None else -1)
    if memory_limit_bytes is not None:  # native code often exits when an allocation fails
        crashed.hint = (  # type: ignore[attr-defined]
            f"it may have run out of memory (it was limited to {memory_limit_bytes / 2**20:.0f} "
            "MiB)"
        )
    return crashed


def _stop(proc: Any) -> None:
    """Make sure the child is gone and reaped: terminate, then kill."""
    try:
        if proc.is_alive():
            proc.terminate()
            proc.join(TERMINATE_GRACE_S)
            if proc.is_alive():
                proc.kill()
                proc.join(TERMINATE_GRACE_S)
        else:
            proc.join(TERMINATE_GRACE_S)
        proc.close()
    except (ValueError, AssertionError):  # already closed / never started
        pass


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
) -> Any:
    """Segment ``volume`` with the model package in ``model_dir`` in a child process.

    ``options`` is an :class:`~interval.ai.options.InferenceOptions`, a dict of its fields,
    or None (model.json's settings).  ``code_path`` is put on the child's ``sys.path`` for
    a "plugin" network (``SegmentationModelEntry.code_path``).  The engine runs in the
    child (``interval.ai.engine_child:segment_arrays``); the label map comes back through
    shared memory onto ``volume``'s grid.  Returns a
    :class:`~interval.ai.options.SegmentationResult`; ``timings["process"]`` is the time
    spent starting the child and moving data (beyond the engine's own phases).
    ``process``: a child started earlier with :func:`start_segmentation_process`.
    """
    from interval.ai.child_segment import TARGET
    from interval.ai.engine_bridge import child_kwargs, result_from_child

    t0 = time.perf_counter()
    arrays, kwargs = child_kwargs(volume, model_dir, options)
    if code_path is not None:
        kwargs["code_path"] = str(code_path)
    outputs, info = run_in_child(
        TARGET, arrays, kwargs, progress=progress, cancel=cancel,
        timeout=timeout, memory_limit_bytes=memory_limit_bytes, process=process,
        preload=SEGMENTATION_PRELOAD,
    )
    elapsed = time.perf_counter() - t0
    timings = {str(k): float(v) for k, v in dict(info.get("timings", {})).items()}
    inside = sum(v for k, v in timings.items() if k != "total")
    timings["process"] = max(elapsed - inside, 0.0)
    info["timings"] = timings
    return result_from_child(volume, model_dir, outputs, info)


SEGMENTATION_PRELOAD = ("torch", "interval.ai.engine", "interval.ai.engine_child")


def start_segmentation_process() -> ModelProcess:
    """A child process that starts importing torch and the engine now (a head start of
    1-2 s) for a later :func:`run_segmentation` (``process=``)."""
    return ModelProcess(preload=SEGMENTATION_PRELOAD)
