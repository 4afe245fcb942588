"""A small plotting layer over ReportLab drawings: one set of axes mapping data to points.

ReportLab's own ``LinePlot`` does not do per-point labels, shaded bands or crosses on the
axis, which the report charts need; this keeps the mapping and the drawing primitives in
one place.  Coordinates are ReportLab's (points, origin bottom left).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

_GRID = "#dddddd"
_AXIS = "#444444"


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """About ``count`` round tick values (1, 2, 2.5, 5 x 10^n steps) from ``lo`` to ``hi``."""
    span = hi - lo
    if not math.isfinite(span) or span <= 0:
        return [lo]
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _tick_text(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.3g}"


class Axes:
    """Data ``xlim`` x ``ylim`` drawn in ``box`` = (left, bottom, width, height) points."""

    def __init__(self, drawing: Any, box: tuple[float, float, float, float],
                 xlim: tuple[float, float], ylim: tuple[float, float], font: str) -> None:
        self.d = drawing
        self.left, self.bottom, self.width, self.height = box
        self.xlim, self.ylim = xlim, ylim
        self.font = font

    # --- mapping ---------------------------------------------------------------------
    def px(self, x: float) -> float:
        x0, x1 = self.xlim
        return self.left + (x - x0) / ((x1 - x0) or 1.0) * self.width

    def py(self, y: float) -> float:
        y0, y1 = self.ylim
        y = min(max(y, y0), y1)  # clipped into the panel
        return self.bottom + (y - y0) / ((y1 - y0) or 1.0) * self.height

    # --- frame -----------------------------------------------------------------------
    def grid_and_ticks(self, xticks: Sequence[float], yticks: Sequence[float]) -> None:
        """Grid lines at the ticks, the left and bottom axis lines, tick labels."""
        from reportlab.graphics.shapes import Line, String  # noqa: PLC0415
        from reportlab.lib.colors import HexColor  # noqa: PLC0415

        grid, axis = HexColor(_GRID), HexColor(_AXIS)
        right, top = self.left + self.width, self.bottom + self.height
        for x in xticks:
            self.d.add(Line(self.px(x), self.bottom, self.px(x), top, strokeColor=grid,
                            strokeWidth=0.5))
            self.d.add(String(self.px(x), self.bottom - 10, _tick_text(x), fontName=self.font,
                              fontSize=7, textAnchor="middle"))
        for y in yticks:
            self.d.add(Line(self.left, self.py(y), right, self.py(y), strokeColor=grid,
                            strokeWidth=0.5))
            self.d.add(String(self.left - 3, self.py(y) - 2.5, _tick_text(y), fontName=self.font,
                              fontSize=7, textAnchor="end"))
        self.d.add(Line(self.left, self.bottom, right, self.bottom, strokeColor=axis,
                        strokeWidth=0.8))
        self.d.add(Line(self.left, self.bottom, self.left, top, strokeColor=axis,
                        strokeWidth=0.8))

    def labels(self, xlabel: str, ylabel: str, title: str) -> None:
        from reportlab.graphics.shapes import Group, String  # noqa: PLC0415

        mid_x = self.left + self.width / 2
        self.d.add(String(mid_x, self.bottom - 22, xlabel, fontName=self.font, fontSize=8,
                          textAnchor="middle"))
        self.d.add(String(mid_x, self.bottom + self.height + 8, title, fontName=self.font,
                          fontSize=9, textAnchor="middle"))
        if ylabel:
            g = Group(String(0, 0, ylabel, fontName=self.font, fontSize=8, textAnchor="middle"))
            g.translate(self.left - 30, self.bottom + self.height / 2)
            g.rotate(90)
            self.d.add(g)

    # --- data ------------------------------------------------------------------------
    def line(self, pts: Sequence[tuple[float, float]], color: str, *, width: float = 1.5,
             marker: str = "", size: float = 4.0, dash: Sequence[float] | None = None) -> None:
        """A polyline through ``pts`` with a marker ("circle", "square" or "") at each."""
        from reportlab.graphics.shapes import Circle, PolyLine, Rect  # noqa: PLC0415
        from reportlab.lib.colors import HexColor  # noqa: PLC0415

        c = HexColor(color)
        if len(pts) > 1:
            coords = [v for x, y in pts for v in (self.px(x), self.py(y))]
            self.d.add(PolyLine(coords, strokeColor=c, strokeWidth=width,
                                strokeDashArray=list(dash) if dash else None))
        for x, y in pts:
            if marker == "circle":
                self.d.add(Circle(self.px(x), self.py(y), size / 2, fillColor=c, strokeColor=c))
            elif marker == "square":
                self.d.add(Rect(self.px(x) - size / 2, self.py(y) - size / 2, size, size,
                                fillColor=c, strokeColor=c))

    def band(self, x0: float, x1: float, lo0: float, hi0: float, lo1: float, hi1: float,
             color: str, opacity: float = 0.25) -> None:
        """A shaded band from (x0, lo0..hi0) to (x1, lo1..hi1)."""
        from reportlab.graphics.shapes import Polygon  # noqa: PLC0415
        from reportlab.lib.colors import HexColor  # noqa: PLC0415

        c = HexColor(color)
        fill = type(c)(c.red, c.green, c.blue, alpha=opacity)
        self.d.add(Polygon([self.px(x0), self.py(lo0), self.px(x1), self.py(lo1),
                            self.px(x1), self.py(hi1), self.px(x0), self.py(hi0)],
                           fillColor=fill, strokeColor=None, strokeWidth=0))

    def hline(self, y: float, color: str, *, dash: Sequence[float] | None = None) -> None:
        from reportlab.graphics.shapes import Line  # noqa: PLC0415
        from reportlab.lib.colors import HexColor  # noqa: PLC0415

        self.d.add(Line(self.left, self.py(y), self.left + self.width, self.py(y),
                        strokeColor=HexColor(color), strokeWidth=1,
                        strokeDashArray=list(dash) if dash else None))

    def ticks_at(self, pts: Sequence[tuple[float, float]], color: str, *,
                 half_width: float = 7, width: float = 2) -> None:
        """Short horizontal bars centred on ``pts`` (threshold markers)."""
        from reportlab.graphics.shapes import Line  # noqa: PLC0415
        from reportlab.lib.colors import HexColor  # noqa: PLC0415

        for x, y in pts:
            self.d.add(Line(self.px(x) - half_width, self.py(y), self.px(x) + half_width,
                            self.py(y), strokeColor=HexColor(color), strokeWidth=width))

    def crosses(self, xs: Sequence[float], color: str, size: float = 3.5) -> None:
        """An X on the x axis at each of ``xs`` (a value that was not measured)."""
        from reportlab.graphics.shapes import Line  # noqa: PLC0415
        from reportlab.lib.colors import HexColor  # noqa: PLC0415

        c = HexColor(color)
        for x in xs:
            cx, cy = self.px(x), self.bottom
            self.d.add(Line(cx - size, cy - size, cx + size, cy + size, strokeColor=c,
                            strokeWidth=1.2))
            self.d.add(Line(cx - size, cy + size, cx + size, cy - size, strokeColor=c,
                            strokeWidth=1.2))

    def text(self, x: float, y: float, text: str, *, color: str = "#000000",
             dy: float = 5, size: float = 7) -> None:
        """A small label centred above the point (x, y), ``dy`` points up."""
        from reportlab.graphics.shapes import String  # noqa: PLC0415
        from reportlab.lib.colors import HexColor  # noqa: PLC0415

        self.d.add(String(self.px(x), self.py(y) + dy, text, fontName=self.font, fontSize=size,
                          textAnchor="middle", fillColor=HexColor(color)))

    def legend(self, items: Sequence[tuple[str, str, str]]) -> None:
        """(colour, style "solid"/"dash"/"tick"/"band", text) rows, bottom left in the panel."""
        from reportlab.graphics.shapes import Line, Rect, String  # noqa: PLC0415
        from reportlab.lib.colors import HexColor  # noqa: PLC0415

        x, y = self.left + 6, self.bottom + 6 + 10 * (len(items) - 1)
        for color, style, text in items:
            c = HexColor(color)
            if style == "band":
                self.d.add(Rect(x, y - 1, 16, 6, fillColor=type(c)(c.red, c.green, c.blue,
                                                                    alpha=0.25),
                                strokeColor=None, strokeWidth=0))
            else:
                dash = [4, 3] if style == "dash" else None
                self.d.add(Line(x, y + 2, x + 16, y + 2, strokeColor=c,
                                strokeWidth=2 if style == "tick" else 1.5,
                                strokeDashArray=dash))
            self.d.add(String(x + 20, y, text, fontName=self.font, fontSize=7))
            y -= 10
