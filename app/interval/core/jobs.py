"""Progress and cancellation hooks shared by every long operation (no threads here).

A long function takes ``progress: ProgressFn | None`` (called with ``done,
total``) and ``cancel: CancelFn | None`` (returns True when the user asked to
stop) and calls :func:`check_cancel` between units of work.
"""

from __future__ import annotations

from collections.abc import Callable

from interval.core.errors import Cancelled

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


def check_cancel(cancel: CancelFn | None) -> None:
    """Raise :class:`Cancelled` when ``cancel`` says so."""
    if cancel is not None and cancel():
        raise Cancelled()


def report(progress: ProgressFn | None, done: int, total: int) -> None:
    """Call ``progress`` if there is one."""
    if progress is not None:
        progress(done, total)
