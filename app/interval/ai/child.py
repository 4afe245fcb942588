"""The child side of :func:`interval.ai.runner.run_in_child` (runs in a spawned process).

Imports nothing of the viewer (no Qt): numpy, the shared-memory helper, the
``preload`` modules and the target's own module.  Protocol over one duplex pipe:

* parent -> ``("job", target, {key: ArraySpec}, kwargs, memory_limit_bytes)`` (once);
* child -> ``("ready",)`` once the inputs are mapped (the parent then unlinks them);
* child -> ``("progress", done, total)`` any number of times;
* child -> ``("alloc", [(key, shape, dtype), ...])`` with the outputs' layout;
  parent -> ``("outputs", [ArraySpec, ...])`` segments it created for them;
* child -> ``("done", info)`` after copying the outputs in;
* parent -> ``("cancel",)`` when the user cancels (read by the model's ``cancel()``);
* or child -> ``("error", kind, type_name, message, traceback, pickled_or_None)``
  with kind ``"failed"``, ``"memory"`` or ``"cancelled"``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from interval.ai.shm import ArraySpec, Segment, check_dtype

_PROGRESS_INTERVAL_S = 0.05


def resolve_target(target: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function (imports the module)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"target must look like 'package.module:function', got {target!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{target} is not callable")
    return obj


def child_main(conn: Any, preload: tuple[str, ...], log_level: int) -> None:
    """Entry point of the child process (see the module notes for the protocol).

    Imports ``preload`` modules straight away (e.g. torch and the engine, while the
    parent is still reading the images), then runs ONE job and exits.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _exit_with_parent()
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format="interval (model process): %(levelname)s: %(name)s: %(message)s")
    try:
        for module in preload:  # only a head start: the job imports what it needs itself
            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001
                logging.getLogger(__name__).debug("preloading %s failed: %s", module, exc)
        job = conn.recv()
        if not (isinstance(job, tuple) and job and job[0] == "job"):
            return  # the parent closed us without a job
        _kind, target, inputs, kwargs, memory_limit_bytes = job
        _run_job(conn, target, inputs, kwargs, memory_limit_bytes)
    except EOFError:
        pass  # the parent went away before giving a job
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        _send_error(conn, exc)
    finally:
        conn.close()


def _run_job(conn: Any, target: str, inputs: dict[str, ArraySpec], kwargs: dict[str, Any],
             memory_limit_bytes: int | None) -> None:
    segments = {key: Segment.attach(spec) for key, spec in inputs.items()}
    arrays = {key: seg.array() for key, seg in segments.items()}
    conn.send(("ready",))
    func = resolve_target(target)
    if memory_limit_bytes is not None:
        _limit_memory(memory_limit_bytes)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_INTERVAL_S or done >= total:
            last[0] = now
            conn.send(("progress", int(done), int(total)))

    cancelled = [False]
    lock = threading.Lock()

    def cancel() -> bool:
        with lock:
            while not cancelled[0] and conn.poll():
                if conn.recv() == ("cancel",):
                    cancelled[0] = True
        return cancelled[0]

    result = func(arrays, **kwargs, progress=progress, cancel=cancel)
    outputs, info = _split_result(result)
    _unlimit_memory()
    _send_outputs(conn, outputs)
    conn.send(("done", info))


def _exit_with_parent() -> None:
    """A watcher thread: if the viewer dies (even by SIGKILL), this process ends too."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(3)

    threading.Thread(target=watch, name="interval-parent-watch", daemon=True).start()


def _split_result(result: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
        outputs, info = result
    else:
        outputs, info = result, {}
    if not isinstance(outputs, dict):
        raise TypeError("the model function must return a dict of arrays (or (arrays, info))")
    return {str(k): np.asarray(v) for k, v in outputs.items()}, dict(info)


def _send_outputs(conn: Any, outputs: dict[str, np.ndarray]) -> None:
    layout = [(k, tuple(a.shape), check_dtype(a.dtype).str) for k, a in outputs.items()]
    conn.send(("alloc", layout))
    reply = conn.recv()
    while reply == ("cancel",):  # a late cancel: the parent decides what to do with it
        reply = conn.recv()
    if not (isinstance(reply, tuple) and reply and reply[0] == "outputs"):
        raise RuntimeError("the viewer did not provide room for the results")
    for (key, _shape, _dtype), spec in zip(layout, reply[1], strict=True):
        seg = Segment.attach(spec)
        np.copyto(seg.array(), outputs[key], casting="no")


def _send_error(conn: Any, exc: BaseException) -> None:
    _unlimit_memory()  # room to format and send the report
    from interval.core.errors import Cancelled, IntervalError

    if isinstance(exc, Cancelled):
        kind = "cancelled"
    elif isinstance(exc, MemoryError) or _is_out_of_memory(exc):
        kind = "memory"
    else:
        kind = "failed"
    pickled = None
    if isinstance(exc, IntervalError) and kind == "failed":
        try:
            pickled = pickle.dumps(exc)
            pickle.loads(pickled)
        except Exception:  # noqa: BLE001 - fall back to the text
            pickled = None
    tb = "".join(traceback.format_exception(exc))
    message = str(exc)[:2000]
    with contextlib.suppress(OSError, ValueError):  # the parent is gone / the pipe broke
        conn.send(("error", kind, type(exc).__name__, message, tb, pickled))


def _is_out_of_memory(exc: BaseException) -> bool:
    """An allocation failure reported as another exception (mmap ENOMEM, torch CPU OOM)."""
    if isinstance(exc, OSError) and exc.errno == 12:  # ENOMEM
        return True
    text = str(exc)
    if isinstance(exc, ImportError) and ("failed to map segment" in text
                                         or "cannot allocate memory" in text.lower()):
        return True  # a shared library that no longer fits under the memory limit
    return type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError)
        and ("DefaultCPUAllocator: can't allocate memory" in text
             or "not enough memory" in text)
    )


def _vm_size() -> int | None:
    """This process's virtual memory size in bytes (Linux), or None."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _limit_memory(extra_bytes: int) -> None:
    """Cap the address space at what is used now (+ the inputs) plus ``extra_bytes``.

    The soft limit of RLIMIT_AS is used so that the child can lift it again to map the
    outputs; an allocation beyond it raises MemoryError in the model's code.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    base = _vm_size()
    if base is None:  # pragma: no cover - not Linux: best effort from the RSS
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = int(base + max(int(extra_bytes), 0))
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):  # pragma: no cover - e.g. macOS refuses
        logging.getLogger(__name__).debug("could not set a memory limit in the model process")


def _unlimit_memory() -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
