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
