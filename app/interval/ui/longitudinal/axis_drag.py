"""Dragging the end points of the RECIST axes drawn in a timepoint column.

* :func:`nearest_endpoint` and :class:`AxisDrag` are plain geometry (no Qt): which drawn
  end point is under the mouse, and one end point moved within its axis's slice plane
  (where both ends are now, how long the axis is);
* :class:`AxisDragger` binds them to one view: a left press within
  :data:`GRAB_RADIUS_PX` of an end point of an axis drawn solid (measured on the slice
  shown) grabs it (closed-hand cursor; an open hand while hovering one), dragging moves
  that end with the line and a live length label, the release hands both ends (LPS) to the
  host once - one workspace edit, one undo step - and Esc (or the view moving to another
  slice) cancels.  A refused edit shows its sentence and the axes are drawn as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text rendering)
from PySide6.QtCore import Qt
from vtkmodules.vtkRenderingCore import vtkTextActor

from interval.core.errors import IntervalError
from interval.longitudinal.key_images import LONG_AXIS, SHORT_AXIS
from interval.ui.longitudinal.timepoint_images import AxisMark

GRAB_RADIUS_PX = 6.0  # a press this close (logical pixels) to an end point grabs it
MOVE_TOLERANCE_PX = 1.0  # a release closer than this to the press changes nothing
MIN_AXIS_MM = 1e-3  # two ends closer than this are one point: not an axis
LABEL_LIFT_MM = 1.5  # the length label sits in front of the axis line


# --- geometry (no Qt) ---------------------------------------------------------------------
def nearest_endpoint(points: Sequence[tuple[float, float]], x: float, row: float,
                     radius: float = GRAB_RADIUS_PX) -> int | None:
    """Index of the screen point nearest ``(x, row)`` within ``radius`` (first wins a
    tie), or None."""
    best, best_d = None, float(radius)
    for n, (px, py) in enumerate(points):
        d = math.hypot(px - x, py - row)
        if d <= best_d and (best is None or d < best_d):
            best, best_d = n, d
    return best


@dataclass
class AxisDrag:
    """End ``end`` (0: start, 1: end) of ``mark`` following the mouse: the mouse's
    movement on the view plane (from ``anchor``, the point under the press), without its
    part along ``normal``, is added to the grabbed end, so the end stays on the axis's
    slice plane and does not jump to the mouse."""

    mark: AxisMark
    end: int
    anchor: np.ndarray
    normal: np.ndarray
    press_px: tuple[float, float]
    moved: bool = False
    ends: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.end not in (0, 1):
            raise ValueError("end is 0 (start) or 1 (end)")
        n = np.asarray(self.normal, dtype=np.float64)
        self.normal = n / np.linalg.norm(n)
        self.anchor = np.asarray(self.anchor, dtype=np.float64)
        self.ends = [np.asarray(self.mark.start_lps, dtype=np.float64),
                     np.asarray(self.mark.end_lps, dtype=np.float64)]

    def follow(self, lps: Sequence[float], px: tuple[float, float]) -> None:
        """The mouse is over ``lps`` (on the view plane) at screen position ``px``."""
        if not self.moved and math.hypot(px[0] - self.press_px[0],
                                         px[1] - self.press_px[1]) < MOVE_TOLERANCE_PX:
            return
        self.moved = True
        delta = np.asarray(lps, dtype=np.float64) - self.anchor
        delta -= float(delta @ self.normal) * self.normal
        grabbed = self.mark.start_lps if self.end == 0 else self.mark.end_lps
        self.ends[self.end] = np.asarray(grabbed, dtype=np.float64) + delta

    @property
    def start_lps(self) -> np.ndarray:
        return self.ends[0]

    @property
    def end_lps(self) -> np.ndarray:
        return self.ends[1]

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(self.ends[1] - self.ends[0]))


def length_text(length_mm: float) -> str:
    """The live label: ``"23.4 mm"``."""
    return f"{length_mm:.1f} mm"


# --- one view -------------------------------------------------------------------------------
class AxisHost(Protocol):
    """What a column offers the dragger (``timepoint_views._Column`` does)."""

    def grabbable_marks(self) -> list[AxisMark]:
        """The axes drawn solid (measured on the slice shown)."""

    def draw_axis(self, mark: AxisMark, start: np.ndarray, end: np.ndarray) -> None:
        """Draw ``mark``'s line from ``start`` to ``end`` (LPS) for now."""

    def redraw_axes(self) -> None:
        """Draw every axis as the workspace has it."""

    def commit_axis(self, mark: AxisMark, start: np.ndarray, end: np.ndarray) -> None:
        """Hand the new ends to the workspace (raises :class:`IntervalError` when refused)."""

    def show_axis_message(self, text: str) -> None:
        """Show ``text`` in the column's message line ("" clears it)."""


class DragView(Protocol):
    """What the dragger needs from the view (:class:`~interval.ui.mpr_view.MprView`)."""

    renderer: object
    vtk: object
    slice_view: object
    state: object

    def display_to_lps(self, x: float, row: float) -> np.ndarray: ...

    def lps_to_display(self, lps: np.ndarray) -> tuple[float, float]: ...

    def _schedule_render(self) -> None: ...


class AxisDragger:
    """Grab, drag, release and cancel of the axis end points of one view."""

    def __init__(self, host: AxisHost, view: DragView) -> None:
        self.host = host
        self.view = view
        self.drag: AxisDrag | None = None
        self._cursor: Qt.CursorShape | None = None
        self.label = vtkTextActor()
        prop = self.label.GetTextProperty()
        prop.SetFontSize(13)
        prop.BoldOn()
        prop.ShadowOn()
        self.label.GetPositionCoordinate().SetCoordinateSystemToWorld()
        self.label.VisibilityOff()
        view.renderer.AddViewProp(self.label)  # type: ignore[attr-defined]

    @property
    def active(self) -> bool:
        return self.drag is not None

    # --- screen positions ------------------------------------------------------------------
    def _normal(self) -> np.ndarray:
        return np.asarray(self.view.slice_view.normal, dtype=np.float64)  # type: ignore[attr-defined]

    def _on_view_plane(self, q: Sequence[float]) -> np.ndarray:
        """``q`` moved along the normal onto the plane shown (where its line is drawn)."""
        w = self._normal()
        p = np.asarray(self.view.state.crosshair, dtype=np.float64)  # type: ignore[attr-defined]
        q = np.asarray(q, dtype=np.float64)
        return q + float((p - q) @ w) * w

    def _screen(self, q: Sequence[float]) -> tuple[float, float]:
        """Widget position (logical pixels, as mouse events give) of LPS ``q``."""
        ratio = float(self.view.vtk.devicePixelRatioF())  # type: ignore[attr-defined]
        x, row = self.view.lps_to_display(self._on_view_plane(q))
        return x / ratio, row / ratio

    def endpoint_at(self, x: float, row: float) -> tuple[AxisMark, int] | None:
        """The end point (mark, 0 start / 1 end) under widget position ``(x, row)``."""
        ends = [(m, n) for m in self.host.grabbable_marks() for n in (0, 1)]
        points = [self._screen(m.start_lps if n == 0 else m.end_lps) for m, n in ends]
        hit = nearest_endpoint(points, x, row)
        return None if hit is None else ends[hit]

    # --- gestures ----------------------------------------------------------------------------
    def hover(self, x: float, row: float) -> None:
        """No button down: an open hand over a grabbable end point."""
        if self.drag is None:
            self._set_cursor(Qt.CursorShape.OpenHandCursor
                             if self.endpoint_at(x, row) is not None else None)

    def press(self, x: float, row: float) -> bool:
        """Left button down: grab the end point there (True), or leave the press to the
        view's usual bindings (False)."""
        self.cancel()
        hit = self.endpoint_at(x, row)
        if hit is None:
            return False
        mark, end = hit
        self.drag = AxisDrag(mark, end, self.view.display_to_lps(x, row), self._normal(),
                             (x, row))
        self._set_cursor(Qt.CursorShape.ClosedHandCursor)
        self._show()
        return True

    def move(self, x: float, row: float) -> None:
        d = self.drag
        if d is None:
            return
        d.follow(self.view.display_to_lps(x, row), (x, row))
        self._show()

    def release(self, x: float, row: float) -> None:
        """Left button up: the new ends go to the workspace (once), unless nothing moved."""
        d = self.drag
        if d is None:
            return
        d.follow(self.view.display_to_lps(x, row), (x, row))
        self._finish()
        self._set_cursor(Qt.CursorShape.OpenHandCursor)
        if not d.moved:
            self.host.redraw_axes()
            return
        if d.length_mm < MIN_AXIS_MM:
            self.host.redraw_axes()
            self.host.show_axis_message("The two ends of an axis cannot be the same point: "
                                        "the axis is unchanged.")
            return
        try:
            self.host.commit_axis(d.mark, d.start_lps.copy(), d.end_lps.copy())
        except IntervalError as exc:
            self.host.redraw_axes()
            self.host.show_axis_message(str(exc))
            return
        self.host.show_axis_message("")

    def cancel(self) -> bool:
        """Drop a drag in progress (the axis is drawn as before); True if there was one."""
        if self.drag is None:
            return False
        self._finish()
        self._set_cursor(None)
        self.host.redraw_axes()
        return True

    def close(self) -> None:
        self.drag = None
        self.view.renderer.RemoveViewProp(self.label)  # type: ignore[attr-defined]

    # --- drawing -----------------------------------------------------------------------------
    def _finish(self) -> None:
        self.drag = None
        self.label.VisibilityOff()
        self.view._schedule_render()

    def _show(self) -> None:
        d = self.drag
        if d is None:
            return
        self.host.draw_axis(d.mark, d.start_lps, d.end_lps)
        colour = LONG_AXIS if d.mark.which == "long" else SHORT_AXIS
        self.label.GetTextProperty().SetColor(*(c / 255.0 for c in colour))
        self.label.SetInput(length_text(d.length_mm))
        at = self._on_view_plane(d.ends[d.end]) - LABEL_LIFT_MM * self._normal()
        self.label.GetPositionCoordinate().SetValue(*(float(c) for c in at))
        self.label.VisibilityOn()
        self.view._schedule_render()

    def label_text(self) -> str:
        """The live length label while dragging ("" otherwise)."""
        return (self.label.GetInput() or "") if self.drag is not None else ""

    def _set_cursor(self, shape: Qt.CursorShape | None) -> None:
        if shape == self._cursor:
            return
        widget = self.view.vtk
        if shape is None:
            widget.unsetCursor()  # type: ignore[attr-defined]
        else:
            widget.setCursor(shape)  # type: ignore[attr-defined]
        self._cursor = shape
