"""A case's time limit (``--case-timeout``, the manifest's ``timeout_min``) and what it was
doing when the limit passed.

The limit is not a separate watchdog: the case's ``cancel()`` (see
:func:`interval.batch.case_runner.cancel_checker`) also answers True once the case's
deadline has passed, so the case stops at its next cancellation point like a cancelled one
(a model process is stopped, a registration ends at its next iteration, a PACS fetch
between two files).  :class:`CaseDeadline` notes the phase the case was in at that moment,
for the failed record's reason.  A step that never looks at ``cancel()`` cannot be stopped
this way.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MINUTE_S = 60.0


class CaseDeadline:
    """``minutes`` (None: no limit) from now on ``clock``; the case's current phase."""

    def __init__(self, minutes: float | None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.minutes = minutes
        self._clock = clock
        self._end = None if minutes is None else clock() + float(minutes) * MINUTE_S
        self.phase = "starting"
        self.passed_in: str | None = None  # the phase in which the limit was first noticed

    def set_phase(self, phase: str) -> None:
        """What the case does from now on, in words (``"registering timepoint 2"``)."""
        self.phase = phase

    def passed(self) -> bool:
        """Whether the limit has passed (and, the first time, note the phase)."""
        if self.passed_in is not None:
            return True
        if self._end is None or self._clock() < self._end:
            return False
        self.passed_in = self.phase
        return True

    @property
    def hit(self) -> bool:
        """Whether the case was told to stop by its limit."""
        return self.passed_in is not None

    def reason(self) -> str:
        """The failed record's reason."""
        return (f"stopped after its time limit of {format_minutes(self.minutes or 0.0)} min "
                f"(at {self.passed_in or self.phase})")


def format_minutes(minutes: float) -> str:
    """``30``, ``1.5``, ``0.02``: the minutes as given, without a trailing ``.0``."""
    return f"{minutes:g}"
