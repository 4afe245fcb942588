"""Model stand-ins for tests/ai/test_runner.py (imported in the spawned child process)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

import numpy as np

from interval.core.errors import UnsupportedData
from interval.core.jobs import check_cancel


def double(arrays, *, offset=0, progress=None, cancel=None):
    """Twice the input plus ``offset``, as int32, with some facts about the child."""
    image = arrays["image"]
    out = image.astype(np.int32) * 2 + offset
    info = {
        "pid": os.getpid(),
        "qt_loaded": any(m.startswith(("PySide6", "PyQt")) for m in sys.modules),
        "writeable": bool(image.flags.writeable),
    }
    return {"doubled": out, "mask": image > 0}, info


def arrays_only(arrays, *, progress=None, cancel=None):
    """Returns a bare dict (no info), including an empty array."""
    return {"sum": np.asarray([arrays["a"].sum()]), "empty": np.zeros((0, 3), np.float32)}


def raise_value_error(arrays, *, progress=None, cancel=None):
    raise ValueError("the window size must be odd")


def raise_interval_error(arrays, *, progress=None, cancel=None):
    raise UnsupportedData("this model needs a CT image")


def segfault(arrays, *, progress=None, cancel=None):
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(10)


def null_pointer(arrays, *, progress=None, cancel=None):
    ctypes.string_at(0)


def exit_code(arrays, *, progress=None, cancel=None):
    os._exit(7)


def hang(arrays, *, progress=None, cancel=None):
    """Never looks at cancel: only the runner's terminate ends it."""
    while True:
        time.sleep(1)


def cooperative(arrays, *, progress=None, cancel=None):
    """Checks cancel often (raises Cancelled)."""
    for i in range(100_000):
        check_cancel(cancel)
        if progress is not None:
            progress(i, 100_000)
        time.sleep(0.01)
    return {}


def allocate(arrays, *, nbytes, progress=None, cancel=None):
    block = np.ones(int(nbytes), dtype=np.uint8)
    return {"n": np.asarray([block.sum()])}


def report_progress(arrays, *, steps, progress=None, cancel=None):
    for i in range(1, steps + 1):
        time.sleep(0.06)  # above the child's progress throttle: every step is sent
        progress(i, steps)
    return {}


def hang_after_pid_file(arrays, *, pid_file, progress=None, cancel=None):
    """Write this process's id to ``pid_file``, then hang."""
    with open(pid_file + ".tmp", "w") as fh:
        fh.write(str(os.getpid()))
    os.replace(pid_file + ".tmp", pid_file)
    hang(arrays)


def import_torch(arrays, *, progress=None, cancel=None):
    """Import torch (the child start-up cost of a real model)."""
    import torch  # noqa: F401

    return {}


def torch_allocate(arrays, *, nbytes, progress=None, cancel=None):
    """A torch allocation (CPU): what a network running out of memory does."""
    import torch

    block = torch.ones(int(nbytes) // 4, dtype=torch.float32)
    return {"n": np.asarray([float(block.sum())])}


# --- hostile models (tests/ai/test_runner_hostile.py) -------------------------------------


class _OpenFile:
    """Unpickling this object opens (creates) ``path``: code run by whoever unpickles it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def send_crafted_pickle(arrays, *, path, progress=None, cancel=None):
    """Write a pickle that creates ``path`` when loaded straight into the pipe to the viewer."""
    import gc
    import pickle
    from multiprocessing.connection import Connection

    payload = pickle.dumps(_OpenFile(path))
    for obj in gc.get_objects():
        if isinstance(obj, Connection) and not obj.closed:
            obj.send_bytes(payload)
    time.sleep(30)
    return {}


def send_oversized_message(arrays, *, nbytes, progress=None, cancel=None):
    """A message larger than the viewer reads."""
    import gc
    from multiprocessing.connection import Connection

    for obj in gc.get_objects():
        if isinstance(obj, Connection) and not obj.closed:
            obj.send_bytes(b"{" + b" " * int(nbytes) + b"}")
    time.sleep(30)
    return {}


def ask_for_huge_outputs(arrays, *, progress=None, cancel=None):
    """Claims a 1 TiB result (a zero-stride view: nothing is really allocated here)."""
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=(2**40,), strides=(0,))
    return {"huge": huge}


def unreadable_message(arrays, *, progress=None, cancel=None):
    """Raises an exception whose ``str()`` raises."""

    class Unreadable(Exception):
        def __str__(self):
            raise RuntimeError("no text for you")

    raise Unreadable()


def info_not_json(arrays, *, progress=None, cancel=None):
    return {}, {"when": object()}


def start_sleepers(arrays, *, pid_file, then="hang", progress=None, cancel=None):
    """Start two ``sleep 1000`` (one in the model's group, one in a session of its own),
    write their pids to ``pid_file``, then hang / crash / return."""
    import subprocess

    kids = [subprocess.Popen(["sleep", "1000"]),
            subprocess.Popen(["sleep", "1000"], start_new_session=True)]
    _write_pids(pid_file, [os.getpid()] + [k.pid for k in kids])
    if then == "crash":
        time.sleep(1.5)  # the runner has seen the sleeps (it looks twice a second)
        os.kill(os.getpid(), signal.SIGSEGV)
    if then == "return":
        return {}
    hang(arrays)


def stuck_in_c_ignoring_sigterm(arrays, *, pid_file, progress=None, cancel=None):
    """Ignore SIGTERM, start ``sleep 1000``, then sleep inside C while HOLDING the GIL."""
    import subprocess

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sleeper = subprocess.Popen(["sleep", "1000"])
    _write_pids(pid_file, [os.getpid(), sleeper.pid])
    ctypes.PyDLL(None).sleep(1000)  # PyDLL: the GIL is not released during the call


def lift_own_memory_limit(arrays, *, nbytes, progress=None, cancel=None):
    """Raise its own RLIMIT_AS as far as it can, then allocate ``nbytes``."""
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    block = np.ones(int(nbytes), dtype=np.uint8)
    return {"n": np.asarray([block.sum()])}


def memory_in_grandchildren(arrays, *, nbytes, count, progress=None, cancel=None):
    """Start ``count`` processes holding ``nbytes`` each, then hang."""
    import subprocess

    code = f"import time\nb = b'x' * {int(nbytes)}\ntime.sleep(1000)\n"
    for _ in range(count):
        subprocess.Popen([sys.executable, "-I", "-S", "-c", code])
    hang(arrays)


def address_space_limits(arrays, *, progress=None, cancel=None):
    """This process's RLIMIT_AS (soft, hard; -1: none) and virtual size."""
    import resource

    from interval.ai.child import _vm_size

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    return {}, {"soft": soft, "hard": hard, "vm": _vm_size(), "pgid": os.getpgid(0),
                "pid": os.getpid(), "sigint": str(signal.getsignal(signal.SIGINT))}


def _write_pids(path, pids):
    with open(path + ".tmp", "w") as fh:
        fh.write(" ".join(str(p) for p in pids))
    os.replace(path + ".tmp", path)


def engine_out_of_memory(arrays, *, progress=None, cancel=None):
    """What the engine raises when even one window does not fit."""
    from interval.ai.errors import InferenceOutOfMemory

    raise InferenceOutOfMemory("The model does not fit in the memory of the cpu device.")
