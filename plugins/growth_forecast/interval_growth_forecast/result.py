"""The forecast of one method at one target day (shared by the network and the growth laws)."""

from __future__ import annotations

from dataclasses import dataclass, field

CENTRAL_INTERVAL = 0.8  # the band reported: the 10% and 90% quantiles
LOWER_LEVEL = 0.1
UPPER_LEVEL = 0.9


@dataclass(frozen=True)
class Forecast:
    """A forecast of the diameter (mm) at ``target_day``.

    ``quantiles`` maps probability levels (0.05 ... 0.95) to diameters; empty for a
    method without an uncertainty band.  ``status`` is ``"ok"``, ``"widened"`` (a warning in
    ``message``; the band was widened) or ``"refused"`` (no numbers; ``message`` says why).
    """

    target_day: float
    median_mm: float | None
    lower_mm: float | None = None
    upper_mm: float | None = None
    quantiles: dict[float, float] = field(default_factory=dict)
    status: str = "ok"
    message: str = ""

    @property
    def refused(self) -> bool:
        return self.status == "refused"


def refused(target_day: float, message: str) -> Forecast:
    """A refusal (no numbers) with its reason."""
    return Forecast(float(target_day), None, status="refused", message=message)


def from_quantiles(target_day: float, quantiles: dict[float, float], *, status: str = "ok",
                   message: str = "") -> Forecast:
    """A forecast whose median and 80% band are read from ``quantiles`` (levels -> mm)."""
    q = {float(k): float(v) for k, v in sorted(quantiles.items())}
    return Forecast(float(target_day), q[0.5], q.get(LOWER_LEVEL), q.get(UPPER_LEVEL), q,
                    status, message)
