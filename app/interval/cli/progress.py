"""A one-line progress bar on stderr for long CLI work (indexing, loading, saving).

Shown only when stderr is a terminal or when asked for (``--progress``);
otherwise every call is a no-op, so scripts and CI logs stay clean.  An
instance is a :data:`~interval.core.jobs.ProgressFn` (``bar(done, total)``).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 30
_MIN_INTERVAL_S = 0.1


def progress_wanted(forced: bool, stream: TextIO | None = None) -> bool:
    """Whether to draw bars: ``forced`` or ``stream`` (stderr) is a terminal."""
    stream = stream if stream is not None else sys.stderr
    if forced:
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class ProgressBar:
    """``label [#####.....]  45%  123/456`` redrawn in place, at most ten times a second."""

    def __init__(self, label: str, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self._last_draw = 0.0
        self._drawn = False
        self._last: tuple[int, int] = (0, 0)
        self._text_len = 0
        self._shown: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        self._last = (done, total)
        now = time.monotonic()
        if self._drawn and now - self._last_draw < _MIN_INTERVAL_S and done < total:
            return
        self._last_draw = now
        self._draw(done, total)

    def _draw(self, done: int, total: int) -> None:
        if total > 0:
            frac = min(max(done / total, 0.0), 1.0)
            filled = int(round(frac * _WIDTH))
            text = f"{self.label} [{'#' * filled}{'.' * (_WIDTH - filled)}] {frac:4.0%}  {done}/{total}"
        else:
            text = f"{self.label} ... {done}"
        try:
            pad = " " * max(0, self._text_len - len(text))  # erase a longer previous line
            self._text_len = len(text)
            self.stream.write("\r" + text + pad)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False
            return
        self._drawn = True
        self._shown = (done, total)

    def close(self) -> None:
        """Finish the line (draws the final state once)."""
        if self.enabled and self._drawn:
            if self._last != self._shown:
                self._draw(*self._last)
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
        self._drawn = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
