"""The child side of :func:`interval.ai.runner.run_in_child` (runs in a spawned process).

Imports nothing of the viewer (no Qt): numpy, the shared-memory helper, the
``preload`` modules and the target's own module.  First thing, the process leaves the
viewer's session and ties its life to the viewer's
(:func:`interval.ai.process_group.isolate_model_process`).  It speaks the plain-JSON
protocol of :mod:`interval.ai.child_protocol` over one duplex pipe: it reads the job,
maps the inputs, sets the memory limit, says ``ready``, waits for ``go``, runs the
target, asks for room for the outputs (``alloc``), copies them in and says ``done``,
or reports an ``error`` (type name, message text, traceback text).

What this process can and cannot do (the viewer's side is in :mod:`interval.ai.runner`):
the model's code runs here with the user's rights (files, network, CPUs, GPUs; it can
even signal the viewer by pid); it cannot run code in the viewer (the viewer reads only
checked JSON and numeric arrays from it, and never imports the model's modules or
classes), cannot outlive it (own session + parent-death signal on Linux + a watcher
thread), cannot exceed its memory limit (below), and everything it starts in its
process group is stopped with it.

The memory limit (when the job has one) on Linux without a GPU driver: RLIMIT_AS, soft
at the address space in use plus the limit (an allocation beyond it raises MemoryError
in the model), hard at that plus the headroom for mapping the outputs.  The hard limit
cannot be raised again by the model; the runner also watches the resident memory of
the whole process group (see :mod:`interval.ai.runner`).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

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


def child_main(conn: Any, preload: tuple[str, ...], log_level: int, parent_pid: int) -> None:
    """Entry point of the child process (see the module notes for the protocol).

    Imports ``preload`` modules straight away (e.g. torch and the engine, while the
    parent is still reading the images), then runs ONE job and exits.
    """
    from interval.ai.process_group import isolate_model_process, start_group_sentinel

    isolate_model_process(parent_pid)
    start_group_sentinel()
    _exit_with_parent()
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format="interval (model process): %(levelname)s: %(name)s: %(message)s")
    channel = _Channel(conn)
    try:
        for module in preload:  # only a head start: the job imports what it needs itself
            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001
                logging.getLogger(__name__).debug("preloading %s failed: %s", module, exc)
        job = channel.receive()
        if job["kind"] != "job":
            return  # the parent closed us without a job
        _run_job(channel, job)
    except EOFError:
        pass  # the parent went away before giving a job
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        _send_error(channel, exc)
    finally:
        conn.close()


class _Channel:
    """The pipe to the parent: checked JSON messages, one sender at a time."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        self.cancelled = False

    def send(self, message: dict[str, Any]) -> None:
        from interval.ai.child_protocol import encode

        data = encode(message)
        with self._send_lock:
            self.conn.send_bytes(data)

    def receive(self) -> dict[str, Any]:
        """The next message from the parent; a ``cancel`` is noted and returned."""
        from interval.ai.child_protocol import MAX_PARENT_MESSAGE_BYTES, parse_from_parent

        with self._recv_lock:
            message = parse_from_parent(self.conn.recv_bytes(MAX_PARENT_MESSAGE_BYTES))
        if message["kind"] == "cancel":
            self.cancelled = True
        return message

    def expect(self, kind: str) -> dict[str, Any]:
        """Wait for a message of ``kind`` (skipping a late ``cancel``: the parent decides)."""
        while True:
            message = self.receive()
            if message["kind"] == kind:
                return message
            if message["kind"] != "cancel":
                raise RuntimeError(f"the viewer sent {message['kind']!r} instead of {kind!r}")

    def poll_cancel(self) -> bool:
        """Read pending messages without blocking; True once a cancel has arrived."""
        while not self.cancelled and self.conn.poll():
            self.receive()
        return self.cancelled


def _run_job(channel: _Channel, job: dict[str, Any]) -> None:
    import numpy as np

    from interval.ai.shm import ArraySpec, Segment

    segments = {e["key"]: Segment.attach(ArraySpec.from_dict(e["array"])) for e in job["inputs"]}
    arrays = {key: seg.array() for key, seg in segments.items()}
    memory = job["memory"]
    if memory["limit"] > 0 and memory["address_space"]:
        _limit_address_space(memory["limit"], memory["headroom"])
    channel.send({"kind": "ready"})
    channel.expect("go")
    if channel.cancelled:
        from interval.core.errors import Cancelled

        raise Cancelled()
    func = resolve_target(job["target"])
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_INTERVAL_S or done >= total:
            last[0] = now
            channel.send({"kind": "progress", "done": int(done), "total": int(total)})

    lock = threading.Lock()

    def cancel() -> bool:
        with lock:
            return channel.poll_cancel()

    result = func(arrays, **job["kwargs"], progress=progress, cancel=cancel)
    outputs, info = _split_result(result, np)
    _lift_soft_limit()
    _send_outputs(channel, outputs, np)
    channel.send({"kind": "done", "info": info})


def _exit_with_parent() -> None:
    """A watcher thread: if the viewer dies (even by SIGKILL), this process ends too.

    A second line behind the parent-death signal (Linux), and the only one elsewhere;
    it cannot run while the model holds the GIL in native code.
    """
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(3)

    threading.Thread(target=watch, name="interval-parent-watch", daemon=True).start()


def _split_result(result: Any, np: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
        outputs, info = result
    else:
        outputs, info = result, {}
    if not isinstance(outputs, dict):
        raise TypeError("the model function must return a dict of arrays (or (arrays, info))")
    from interval.ai.child_protocol import encode

    try:
        encode({"info": info})
    except TypeError as exc:
        raise TypeError(f"the model's result info must be plain data (JSON): {exc}") from None
    return {str(k): np.asarray(v) for k, v in outputs.items()}, dict(info)


def _send_outputs(channel: _Channel, outputs: dict[str, Any], np: Any) -> None:
    from interval.ai.shm import ArraySpec, Segment, check_dtype

    layout = [{"key": k, "shape": [int(s) for s in a.shape], "dtype": check_dtype(a.dtype).str}
              for k, a in outputs.items()]
    channel.send({"kind": "alloc", "outputs": layout})
    reply = channel.expect("outputs")
    if len(reply["outputs"]) != len(layout):
        raise RuntimeError("the viewer did not provide room for every result")
    for entry, spec in zip(layout, reply["outputs"], strict=True):
        seg = Segment.attach(ArraySpec.from_dict(spec))
        np.copyto(seg.array(), outputs[entry["key"]], casting="no")


def _send_error(channel: _Channel, exc: BaseException) -> None:
    """Report ``exc`` as plain data; never raises (the exception may be hostile)."""
    _lift_soft_limit()  # room to format and send the report
    try:
        report = _error_report(exc)
    except BaseException:  # noqa: BLE001 - e.g. a property of the exception raising
        report = {"error": "failed", "type": "an exception", "interval_error": None,
                  "message": None, "traceback": ""}
    with contextlib.suppress(BaseException):  # the parent is gone / the pipe broke
        channel.send({"kind": "error", **report})


def _error_report(exc: BaseException) -> dict[str, Any]:
    from interval.ai.child_protocol import MAX_MESSAGE_CHARS, MAX_TRACEBACK_CHARS, plain_text
    from interval.core.errors import Cancelled, IntervalError

    exc_type = type(exc)
    try:
        message: str | None = str(exc)
    except BaseException:  # noqa: BLE001 - its __str__ raised
        message = None
    if isinstance(exc, SystemExit):
        message = f"its code called sys.exit({plain_text(repr(exc.code), 100)})"
    if isinstance(exc, Cancelled):
        kind = "cancelled"
    elif isinstance(exc, MemoryError) or _is_out_of_memory(exc, message or ""):
        kind = "memory"
    elif type(exc).__name__ == "InferenceOutOfMemory" and _address_space_limited():
        kind = "memory"  # the engine's own words for a failed allocation, under our limit
    else:
        kind = "failed"
    try:
        tb = "".join(traceback.format_exception(exc))
    except BaseException:  # noqa: BLE001
        tb = f"{exc_type.__name__} (no traceback)"
    interval_error = None
    if issubclass(exc_type, IntervalError):
        interval_error = plain_text(f"{exc_type.__module__}.{exc_type.__qualname__}", 400)
    return {
        "error": kind,
        "type": plain_text(exc_type.__name__, 200),
        "interval_error": interval_error,
        "message": None if message is None else plain_text(message, MAX_MESSAGE_CHARS),
        "traceback": plain_text(tb, MAX_TRACEBACK_CHARS, keep_end=True),
    }


def _is_out_of_memory(exc: BaseException, text: str) -> bool:
    """An allocation failure reported as another exception (mmap ENOMEM, torch CPU OOM)."""
    if isinstance(exc, OSError) and exc.errno == 12:  # ENOMEM
        return True
    if isinstance(exc, ImportError) and ("failed to map segment" in text
                                         or "cannot allocate memory" in text.lower()):
        return True  # a shared library that no longer fits under the memory limit
    return type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError)
        and ("DefaultCPUAllocator: can't allocate memory" in text
             or "not enough memory" in text)
    )


def _address_space_limited() -> bool:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return False
    return resource.getrlimit(resource.RLIMIT_AS)[1] != resource.RLIM_INFINITY


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


def _limit_address_space(limit_bytes: int, headroom_bytes: int) -> None:
    """RLIMIT_AS: soft at the address space in use + ``limit_bytes``, hard ``headroom_bytes``
    above it (room to map the outputs; the model cannot raise the hard limit)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    base = _vm_size()
    if base is None:  # pragma: no cover - not Linux (the runner asks only on Linux)
        return
    _soft, hard_now = resource.getrlimit(resource.RLIMIT_AS)
    soft = base + int(limit_bytes)
    hard = soft + max(int(headroom_bytes), 0)
    if hard_now != resource.RLIM_INFINITY:
        hard = min(hard, hard_now)
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (ValueError, OSError):  # pragma: no cover
        logging.getLogger(__name__).debug("could not set a memory limit in the model process")


def _lift_soft_limit() -> None:
    """Soft RLIMIT_AS up to the hard one: the headroom, to map the outputs / report."""
    try:
        import resource
    except ImportError:  # pragma: no cover
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
