"""Size transform and the network's input features.

Size space: y = ln(d + 1 mm), d the longest diameter in mm.  The +1 mm keeps a lesion of
0 mm ("no longer measurable") finite (y = 0) and makes changes of small lesions
(integer-millimetre readings) less extreme than a plain log would; for lesions of tens of
mm it is almost the log of the diameter, where growth laws are close to linear in time.
"""

from __future__ import annotations

import numpy as np

SIZE_OFFSET_MM = 1.0
DAY_SCALE = 100.0  # days -> model time units (a typical visit interval is 40-90 days)
Y_CENTRE = 3.0  # ln(21 mm): a typical target lesion
N_VISIT_FEATURES = 6
N_QUERY_FEATURES = 3


def to_log(diameters_mm: np.ndarray | float) -> np.ndarray:
    """y = ln(d + 1 mm)."""
    return np.log(np.asarray(diameters_mm, dtype=float) + SIZE_OFFSET_MM)


def from_log(y: np.ndarray | float) -> np.ndarray:
    """Diameter (mm, >= 0) of log size ``y``."""
    return np.maximum(np.exp(np.asarray(y, dtype=float)) - SIZE_OFFSET_MM, 0.0)


def log_volume(diameters_mm: np.ndarray | float) -> np.ndarray:
    """ln(0.52 d^3 + 1): the log of the ellipsoid volume (mm^3) with +1 for 0 mm."""
    d = np.asarray(diameters_mm, dtype=float)
    return np.log(0.52 * d**3 + 1.0)


def visit_features(days: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-visit inputs (n, 6): time since previous visit, time since the first visit (both in
    100-day units), centred log size, change of log size since the previous visit, change
    since the first visit, and 1 for the first visit."""
    days = np.asarray(days, dtype=float)
    y = np.asarray(y, dtype=float)
    dt = np.diff(days, prepend=days[0]) / DAY_SCALE
    dy = np.diff(y, prepend=y[0])
    first = np.zeros_like(y)
    first[0] = 1.0
    return np.stack([dt, (days - days[0]) / DAY_SCALE, y - Y_CENTRE, dy, y - y[0], first],
                    axis=1).astype(np.float32)


def query_features(horizon_days: float) -> np.ndarray:
    """Inputs describing the requested horizon (3,): h, sqrt(h), ln(1 + h) in 100-day units."""
    h = max(float(horizon_days), 0.0) / DAY_SCALE
    return np.array([h, np.sqrt(h), np.log1p(h)], dtype=np.float32)
