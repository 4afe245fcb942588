"""Colour maps for image layers, as plain data: name -> 256 x 3 table of RGB (0-255).

Entry 0 is the window's low end, entry 255 its high end.  ``"grey"`` is the usual
black-to-white ramp; ``"hot"`` runs black, red, yellow, white (matplotlib's "hot");
``"pet"`` is a rainbow for PET over CT (black, blue, cyan, green, yellow, orange, red:
the highest uptake is red, as in OHIF's "hsv" PET map and 3D Slicer's "PET-Rainbow").
Fusion layers draw entry 0 transparent (see :mod:`interval.ui.image_overlay`), so
values at or below the low end show the image underneath.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TABLE_SIZE = 256

# (position 0-1, (r, g, b)) control points, linearly interpolated
_POINTS: dict[str, tuple[tuple[float, tuple[int, int, int]], ...]] = {
    "grey": ((0.0, (0, 0, 0)), (1.0, (255, 255, 255))),
    "hot": ((0.0, (0, 0, 0)), (0.375, (255, 0, 0)), (0.75, (255, 255, 0)), (1.0, (255, 255, 255))),
    "pet": (
        (0.0, (0, 0, 0)),
        (0.15, (0, 0, 200)),
        (0.35, (0, 200, 255)),
        (0.5, (0, 220, 0)),
        (0.7, (255, 255, 0)),
        (0.85, (255, 140, 0)),
        (1.0, (255, 0, 0)),
    ),
}
COLORMAP_NAMES: tuple[str, ...] = tuple(_POINTS)
COLORMAP_TITLES: dict[str, str] = {"grey": "Grey", "hot": "Hot", "pet": "PET rainbow"}


def _table(points: Sequence[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    x = np.linspace(0.0, 1.0, TABLE_SIZE)
    pos = [p for p, _c in points]
    out = np.empty((TABLE_SIZE, 3), dtype=np.uint8)
    for ch in range(3):
        values = [c[ch] for _p, c in points]
        out[:, ch] = np.clip(np.rint(np.interp(x, pos, values)), 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


COLORMAPS: dict[str, np.ndarray] = {name: _table(points) for name, points in _POINTS.items()}


def colormap_table(name: str) -> np.ndarray:
    """The read-only ``(256, 3)`` uint8 RGB table of colour map ``name``."""
    try:
        return COLORMAPS[name]
    except KeyError:
        raise ValueError(
            f"unknown colour map {name!r}; expected one of {COLORMAP_NAMES}"
        ) from None
