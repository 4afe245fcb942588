"""Ctrl-C as a polite cancel for long CLI work (segmenting, tracking)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def ctrl_c_cancels() -> Iterator[Callable[[], bool]]:
    """While active, the first Ctrl-C asks the work to stop (a second one interrupts).

    Yields ``cancel()``, True once Ctrl-C was pressed.  Off the main thread (where no
    signal handler can be installed) it yields a cancel that never fires.
    """
    asked = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield asked.is_set
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if asked.is_set():
            raise KeyboardInterrupt
        asked.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield asked.is_set
    finally:
        signal.signal(signal.SIGINT, previous)
