"""The time axis of a 3-D + time series (DCE, fMRI, multi-phase): its volumes in order.

The series is several volumes on one grid (the indexer splits them as "volume 1",
"volume 2"...).  The viewer shows one of them at a time; a time slider or cine over
time swaps it for a sibling at the same slice (:meth:`ViewerState.set_time_index`).
Pure logic, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TimeAxis:
    """``keys`` name the sibling volumes in time order (e.g. stack uids); ``index`` is the
    one shown; ``times_s`` each volume's time from the first (``()`` when unknown)."""

    keys: tuple[str, ...]
    index: int = 0
    times_s: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.keys) < 2:
            raise ValueError("a time axis needs at least two volumes")
        if not 0 <= self.index < len(self.keys):
            raise ValueError(f"time index {self.index} is outside 0..{len(self.keys) - 1}")
        if self.times_s and len(self.times_s) != len(self.keys):
            raise ValueError("give one time per volume, or none")

    @property
    def count(self) -> int:
        return len(self.keys)

    @property
    def key(self) -> str:
        """The key of the volume shown."""
        return self.keys[self.index]

    def time_s(self, index: int | None = None) -> float | None:
        """Seconds from the first volume to volume ``index`` (default: the one shown)."""
        i = self.index if index is None else index
        return self.times_s[i] if self.times_s else None

    def text(self) -> str:
        """``"Volume 3/16"``, with the time when known: ``"Volume 3/16  t = 42.0 s"``."""
        out = f"Volume {self.index + 1}/{self.count}"
        t = self.time_s()
        if t is not None:
            out += f"  t = {t:.1f} s"
        return out
