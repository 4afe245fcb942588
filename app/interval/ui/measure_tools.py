"""Measurement tools on 2-D views: ruler (mm), ellipse and rectangle ROIs with statistics.

One :class:`MeasureTool` serves every MPR view it is attached to::

    tool = MeasureTool(state, book)          # book: core.measurements.MeasurementBook
    for view in mpr_views:
        tool.attach(view)                    # view: MprView (or anything MeasureHost)
    tool.set_mode("ruler")                   # "ellipse", "rectangle", None (off)

While a mode is on, the LEFT button draws (drag from one point to the other, or click
the two points); every other button and the wheel keep their usual meaning (right-drag
zoom, middle-drag pan, wheel slices).  Escape cancels a half-drawn shape and turns the
tool off (back to navigation).  After one finished measurement the tool turns itself
off too, as in OHIF, unless it is locked (``tool.set_sticky(True)``); the views show a
cross cursor while a tool is on.  The shapes are measured on the active volume with
:mod:`interval.core.measurements` (all geometry lives there) and stored per series in
the book; each attached view draws the measurements lying on its current plane as
VTK lines in patient space (so they follow zoom and pan) with a text label.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text rendering)
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkTextActor,
)

from interval.core.measurements import (
    Measurement,
    MeasurementBook,
    MeasurementList,
    describe,
    lies_on_plane,
    outline_lps,
    roi_from_drag,
)
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume

MODES = ("ruler", "ellipse", "rectangle")
CLICK_TOLERANCE_PX = 3.0
# magenta: apart from the crosshair (red, green, yellow), the orientation letters (amber),
# the image warning (orange) and the preview (cyan)
LINE_COLOUR = (1.0, 0.35, 0.85)
PREVIEW_COLOUR = (0.3, 0.9, 1.0)
_LIFT_MM = 1.0  # drawn this far in front of the image plane


class MeasureHost(Protocol):
    """What a view needs to offer the tool (:class:`~interval.ui.mpr_view.MprView` does)."""

    view_id: str
    renderer: vtkRenderer

    @property
    def vtk(self) -> QObject: ...

    def display_to_lps(self, x: float, row: float) -> np.ndarray: ...


def series_key(state: ViewerState, volume_id: str | None = None) -> str | None:
    """The key measurements of a volume are listed under: its Series Instance UID, else its id."""
    vid = state.active_volume_id if volume_id is None else volume_id
    if vid is None:
        return None
    return state.volume(vid).metadata.series_instance_uid or vid


@dataclass
class _Gesture:
    """A shape being drawn: the first point, and whether the mouse is down."""

    view_id: str
    start: np.ndarray
    start_px: tuple[float, float]
    pressed: bool = True
    moved: bool = False
    awaiting_second: bool = False


class MeasureTool(QObject):
    """Draws rulers and ROIs on attached views into a :class:`MeasurementBook`."""

    mode_changed = Signal(object)  # str | None
    measurement_added = Signal(object)  # Measurement
    refused = Signal(str)  # a measurement that could not be made, in words

    #: Set by the window: True while ``volume`` is still being read (its voxels are not
    #: all final), so an ROI's statistics would be computed on placeholder values.
    still_loading: Callable[[Volume], bool] | None = None

    def __init__(self, state: ViewerState, book: MeasurementBook,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.book = book
        self._mode: str | None = None
        self._sticky = False
        self._gesture: _Gesture | None = None
        self._overlays: dict[str, _ViewOverlay] = {}
        book.changed.connect(self._on_book)
        state.events.crosshair.connect(self._on_plane)
        state.events.view.connect(self._on_plane)
        state.events.active_volume.connect(self._on_plane)
        state.events.volumes.connect(self._on_plane)

    # --- mode ---------------------------------------------------------------------------
    @property
    def mode(self) -> str | None:
        return self._mode

    def set_mode(self, mode: str | None) -> None:
        """``"ruler"``, ``"ellipse"``, ``"rectangle"`` or None (views behave as usual)."""
        if mode is not None and mode not in MODES:
            raise ValueError(f"unknown measurement tool {mode!r}; expected one of {MODES}")
        self.cancel()
        if mode != self._mode:
            self._mode = mode
            self._apply_cursor()
            self.mode_changed.emit(mode)

    @property
    def sticky(self) -> bool:
        """True: the tool stays on after a measurement (locked); False: back to navigation."""
        return self._sticky

    def set_sticky(self, sticky: bool) -> None:
        if bool(sticky) != self._sticky:
            self._sticky = bool(sticky)
            self.mode_changed.emit(self._mode)  # listeners show "locked"

    def _apply_cursor(self) -> None:
        shape = Qt.CursorShape.CrossCursor if self._mode else None
        for overlay in self._overlays.values():
            host = overlay.host
            if host is None:
                continue
            if shape is None:
                host.vtk.unsetCursor()  # type: ignore[attr-defined]
            else:
                host.vtk.setCursor(shape)  # type: ignore[attr-defined]

    def cancel(self) -> None:
        """Drop a half-drawn shape."""
        if self._gesture is not None:
            overlay = self._overlays.get(self._gesture.view_id)
            self._gesture = None
            if overlay is not None:
                overlay.set_preview(None)

    # --- views --------------------------------------------------------------------------
    def attach(self, view: MeasureHost) -> None:
        """Draw on ``view`` and take its left-button input while a mode is on."""
        if view.view_id in self._overlays:
            self.detach(view.view_id)
        overlay = _ViewOverlay(self, view)
        self._overlays[view.view_id] = overlay
        view.vtk.installEventFilter(self)
        overlay.refresh()
        self._apply_cursor()

    def detach(self, view_id: str) -> None:
        overlay = self._overlays.pop(view_id, None)
        if overlay is not None:
            host = overlay.host
            if host is not None:
                host.vtk.removeEventFilter(self)
            overlay.close()

    def overlay(self, view_id: str) -> _ViewOverlay:
        return self._overlays[view_id]

    def current_list(self) -> MeasurementList | None:
        key = series_key(self.state)
        return None if key is None else self.book.for_series(key)

    # --- drawing (plain values; the Qt event filter calls these) ---------------------------
    def press(self, view_id: str, x: float, row: float) -> None:
        """Left button down at widget position ``(x, row)``."""
        if self._mode is None or self.state.active_volume is None:
            return
        g = self._gesture
        if g is not None and g.view_id == view_id and g.awaiting_second:
            g.pressed = True  # second click of a click-click shape
            return
        self.cancel()
        self._gesture = _Gesture(view_id, self._lps(view_id, x, row), (x, row))

    def move(self, view_id: str, x: float, row: float) -> None:
        """Mouse moved: follow with a preview of the shape."""
        g = self._gesture
        if g is None or g.view_id != view_id:
            return
        if g.pressed and not g.awaiting_second and _far(g.start_px, (x, row)):
            g.moved = True
        if g.moved or g.awaiting_second:
            self._overlays[view_id].set_preview(self._shape(g.start, self._lps(view_id, x, row)))

    def release(self, view_id: str, x: float, row: float) -> Measurement | None:
        """Left button up: ends a drag, or the second of two clicks."""
        g = self._gesture
        if g is None or g.view_id != view_id or not g.pressed:
            return None
        if not g.moved and not g.awaiting_second:
            g.pressed, g.awaiting_second = False, True  # first click: wait for the second
            return None
        self._gesture = None
        self._overlays[view_id].set_preview(None)
        return self.finish(view_id, g.start, self._lps(view_id, x, row))

    def finish(self, view_id: str, a: np.ndarray, b: np.ndarray) -> Measurement | None:
        """Measure the shape from LPS ``a`` to ``b`` on ``view_id``'s plane and store it."""
        volume, lst = self.state.active_volume, self.current_list()
        if volume is None or lst is None or self._mode is None:
            return None
        if np.allclose(a, b):
            return None
        if self._mode != "ruler" and self.still_loading is not None and self.still_loading(volume):
            # statistics on slices not read yet would be wrong and would never be updated
            self.refused.emit(
                "The series is still loading: draw the ROI again once it has loaded "
                "(its statistics need every slice)."
            )
            return None
        if self._mode == "ruler":
            m = lst.add_ruler(a, b)
        else:
            plane = self.state.plane(view_id)
            m = lst.add_roi(volume, roi_from_drag(self._mode, plane, a, b))
        self.measurement_added.emit(m)
        if not self._sticky:
            self.set_mode(None)  # one measurement, then back to navigation (unless locked)
        return m

    def _shape(self, a: np.ndarray, b: np.ndarray):  # noqa: ANN202
        from interval.core.measurements import Ruler  # noqa: PLC0415

        if self._mode == "ruler" or self._gesture is None:
            return Ruler(tuple(a), tuple(b))  # type: ignore[arg-type]
        return roi_from_drag(self._mode, self.state.plane(self._gesture.view_id), a, b)

    def _lps(self, view_id: str, x: float, row: float) -> np.ndarray:
        host = self._overlays[view_id].host
        assert host is not None
        return np.asarray(host.display_to_lps(x, row), dtype=np.float64)

    # --- Qt events -------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802  (Qt override)
        if self._mode is None:
            return False
        view_id = next((vid for vid, o in self._overlays.items()
                        if o.host is not None and o.host.vtk is obj), None)
        if view_id is None:
            return False
        t = event.type()
        if t == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Escape:  # type: ignore[attr-defined]
            self.set_mode(None)  # cancels a half-drawn shape too
            return True
        if t not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
                     QEvent.Type.MouseMove, QEvent.Type.MouseButtonDblClick):
            return False
        p = event.position()  # type: ignore[attr-defined]
        if t == QEvent.Type.MouseMove:
            self.move(view_id, p.x(), p.y())
            return False  # the view still tracks the cursor (status bar)
        if event.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return False
        if t == QEvent.Type.MouseButtonPress:
            self.press(view_id, p.x(), p.y())
        elif t == QEvent.Type.MouseButtonRelease:
            self.release(view_id, p.x(), p.y())
        return True  # also swallows the double-click (no maximise while measuring)

    # --- state -> overlays -----------------------------------------------------------------
    def _on_book(self, _event: object) -> None:
        for overlay in list(self._overlays.values()):
            overlay.refresh()

    def _on_plane(self, _event: object) -> None:
        self._on_book(None)

    def visible_measurements(self, view_id: str) -> list[Measurement]:
        """Measurements of the active series lying on ``view_id``'s current plane."""
        lst = self.current_list()
        if lst is None or self.state.view(view_id).kind == "3d":
            return []
        plane = self.state.plane(view_id)
        tol = self.state.slice_step(view_id) / 2.0
        return [m for m in lst if lies_on_plane(m.shape, plane, tol)]


def _far(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return bool(np.hypot(a[0] - b[0], a[1] - b[1]) > CLICK_TOLERANCE_PX)


def _polyline_actor(colour: tuple[float, float, float]) -> tuple[vtkPolyData, vtkActor]:
    poly = vtkPolyData()
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(poly)
    actor = vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetColor(*colour)
    prop.SetLineWidth(2.0)
    prop.LightingOff()
    actor.PickableOff()
    return poly, actor


def _set_lines(poly: vtkPolyData, lines: list[np.ndarray]) -> None:
    pts = vtkPoints()
    cells = vtkCellArray()
    for line in lines:
        cells.InsertNextCell(len(line))
        for p in line:
            cells.InsertCellPoint(pts.InsertNextPoint(*(float(c) for c in p)))
    poly.SetPoints(pts)
    poly.SetLines(cells)
    poly.Modified()


def _on_image_text(m: Measurement, units: str, length_unit: str = "mm") -> str:
    """The label drawn beside a measurement: one line for a ruler; for an ROI three short
    lines (mean/SD, min/max, area), so it does not run off the edge of the view."""
    text = f"#{m.id} {describe(m, units, length_unit)}"
    if m.kind == "ruler":
        return text
    return text.replace(" min ", "\nmin ").replace(" area ", "\narea ")


class _ViewOverlay:
    """The VTK actors drawing one view's measurements (and the shape being drawn)."""

    def __init__(self, tool: MeasureTool, host: MeasureHost) -> None:
        self._tool = weakref.ref(tool)
        self._host = weakref.ref(host)
        self.view_id = host.view_id
        self.renderer = host.renderer
        self._poly, self._actor = _polyline_actor(LINE_COLOUR)
        self._preview_poly, self._preview = _polyline_actor(PREVIEW_COLOUR)
        self._preview.VisibilityOff()
        self.renderer.AddActor(self._actor)
        self.renderer.AddActor(self._preview)
        self._texts: list[vtkTextActor] = []
        self.shown: list[Measurement] = []

    @property
    def host(self) -> MeasureHost | None:
        return self._host()

    def _lift(self) -> np.ndarray:
        tool = self._tool()
        if tool is None or tool.state.view(self.view_id).kind == "3d":
            return np.zeros(3)
        return -tool.state.plane(self.view_id).normal * _LIFT_MM  # towards the camera

    def refresh(self) -> None:
        tool = self._tool()
        if tool is None:
            return
        self.shown = tool.visible_measurements(self.view_id) if tool.state.active_volume else []
        lift = self._lift()
        _set_lines(self._poly, [outline_lps(m.shape) + lift for m in self.shown])
        for actor in self._texts:
            self.renderer.RemoveViewProp(actor)
        self._texts = []
        meta = tool.state.active_volume.metadata if tool.state.active_volume else None
        units = meta.units if meta is not None else ""
        length_unit = meta.length_unit if meta is not None else "mm"
        for m in self.shown:
            actor = vtkTextActor()
            actor.SetInput(_on_image_text(m, units, length_unit))
            coord = actor.GetPositionCoordinate()
            coord.SetCoordinateSystemToWorld()
            anchor = outline_lps(m.shape)[1 if m.kind == "ruler" else 0] + lift
            coord.SetValue(*(float(c) for c in anchor))
            prop = actor.GetTextProperty()
            prop.SetFontSize(12)
            prop.SetColor(*LINE_COLOUR)
            prop.ShadowOn()
            self.renderer.AddViewProp(actor)
            self._texts.append(actor)
        self._schedule()

    def set_preview(self, shape: object | None) -> None:
        if shape is None:
            self._preview.VisibilityOff()
        else:
            _set_lines(self._preview_poly, [outline_lps(shape) + self._lift()])  # type: ignore[arg-type]
            self._preview.VisibilityOn()
        self._schedule()

    def texts(self) -> list[str]:
        """The labels drawn (for tests and accessibility)."""
        return [a.GetInput() for a in self._texts]

    def _schedule(self) -> None:
        host = self.host
        if host is not None:
            host.vtk.update()  # type: ignore[attr-defined]

    def close(self) -> None:
        self.renderer.RemoveActor(self._actor)
        self.renderer.RemoveActor(self._preview)
        for actor in self._texts:
            self.renderer.RemoveViewProp(actor)
        self._texts = []
