"""DICOM VOI functions: stored (rescaled) values to grey levels 0..255.

PS3.3 C.11.2.1.2 and C.11.2.1.3 with ``ymin = 0`` and ``ymax = 255``, rounded
half up (``floor(y + 0.5)``):

* LINEAR: ``x <= c - 0.5 - (w-1)/2 -> 0``, ``x > c - 0.5 + (w-1)/2 -> 255``,
  else ``((x - (c - 0.5)) / (w - 1) + 0.5) * 255`` (``w < 1`` uses LINEAR_EXACT);
* LINEAR_EXACT: ``((x - c) / w + 0.5) * 255`` clipped to 0..255;
* SIGMOID: ``255 / (1 + exp(-4 (x - c) / w))``;
* TABLE: a VOI LUT table (:class:`~interval.core.metadata.VoiLut`), its output
  scaled from ``0..out_max`` to 0..255; non-integer inputs take the nearest entry.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from interval.core.metadata import VOI_FUNCTIONS, VoiLut, WindowLevel

# Beyond this many widths from the centre the sigmoid rounds to 0 or 255
# (255 / (1 + exp(4 * 1.6)) < 0.5).
SIGMOID_REACH = 1.6


def linear_grey(x: np.ndarray, center: float, width: float, exact: bool = False) -> np.ndarray:
    """LINEAR (or LINEAR_EXACT with ``exact``) grey levels of ``x``, rounded (float64)."""
    if exact or width < 1.0:
        if width <= 0:
            raise ValueError(f"window width must be positive, got {width}")
        y = ((x - center) / width + 0.5) * 255.0
    elif width == 1.0:
        y = np.where(x > center - 0.5, 255.0, 0.0)
    else:
        y = ((x - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    return np.floor(np.clip(y, 0.0, 255.0) + 0.5)


def sigmoid_grey(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """SIGMOID grey levels of ``x``, rounded (float64)."""
    if width <= 0:
        raise ValueError(f"window width must be positive, got {width}")
    with np.errstate(over="ignore"):
        y = 255.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    return np.floor(y + 0.5)


def table_grey(x: np.ndarray, lut: VoiLut) -> np.ndarray:
    """Grey levels of ``x`` through the VOI LUT table ``lut``, rounded (float64)."""
    data = np.asarray(lut.data, dtype=np.float64)
    if data.size == 0:
        raise ValueError("the VOI LUT table is empty")
    with np.errstate(invalid="ignore"):
        index = np.clip(np.floor(np.asarray(x, dtype=np.float64) - lut.first + 0.5), 0, data.size - 1)
    index = np.nan_to_num(index, nan=0.0).astype(np.intp)
    return np.floor(data[index] * (255.0 / max(lut.out_max, 1)) + 0.5)


def voi_grey(x: np.ndarray | float, wl: WindowLevel) -> np.ndarray:
    """The grey levels (0..255, rounded, float64) that the window ``wl`` gives ``x``."""
    x = np.asarray(x, dtype=np.float64)
    function = wl.function.upper()
    if function not in VOI_FUNCTIONS:
        raise ValueError(f"unknown VOI function {wl.function!r}; known: {', '.join(VOI_FUNCTIONS)}")
    if function == "TABLE":
        if wl.lut is None:
            raise ValueError("a TABLE window needs its VOI LUT table")
        return table_grey(x, wl.lut)
    if function == "SIGMOID":
        return sigmoid_grey(x, wl.center, wl.width)
    return linear_grey(x, wl.center, wl.width, exact=function == "LINEAR_EXACT")


def input_range(wl: WindowLevel) -> tuple[float, float]:
    """The inputs over which ``wl``'s grey level changes (below: its lowest, above: its highest)."""
    function = wl.function.upper()
    if function == "TABLE" and wl.lut is not None:
        return wl.lut.first, wl.lut.last
    if function == "SIGMOID":
        return wl.center - SIGMOID_REACH * wl.width, wl.center + SIGMOID_REACH * wl.width
    if function == "LINEAR_EXACT" or wl.width < 1.0:
        return wl.center - wl.width / 2.0, wl.center + wl.width / 2.0
    return wl.center - 0.5 - (wl.width - 1.0) / 2.0, wl.center - 0.5 + (wl.width - 1.0) / 2.0


def mirrored(wl: WindowLevel, k: float) -> WindowLevel:
    """The window that shows values ``k - x`` as ``wl`` shows ``x``, inverted.

    For MONOCHROME1, whose pixels are read as ``k - x`` (``k`` = min + max of
    the stored range, rescaled: ``slope * (lo + hi) + 2 * intercept``) and shown
    with black and white swapped.  SIGMOID and LINEAR_EXACT are point-symmetric,
    so the centre ``k - c`` is exact; LINEAR keeps ``k - c`` too (exact would be
    ``k - c + 1``; under one grey level for widths over 255).  A table is
    reversed and its outputs inverted.
    """
    if wl.function.upper() == "TABLE" and wl.lut is not None:
        lut = wl.lut
        data = tuple(lut.out_max - v for v in reversed(lut.data))
        flipped = VoiLut(k - lut.last, data, lut.out_max, lut.explanation)
        return replace(wl, center=k - wl.center, lut=flipped)
    return replace(wl, center=k - wl.center)
