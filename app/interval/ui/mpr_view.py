"""One MPR view (axial, coronal or sagittal) observing a :class:`ViewerState`.

The view holds no state of its own: it follows the crosshair (its plane passes
through it), the active volume's window/level and invert, every visible label
layer (drawn in layer order, the top one last), and its view's zoom/pan, and
turns mouse/keyboard input into ViewerState calls through
:class:`~interval.ui.interaction.ViewInteraction`.

On top of the image it draws the crosshair (each line in the colour of the view
whose plane it is: axial red, coronal green, sagittal yellow, as in 3D Slicer),
orientation letters on the four edges (from :func:`interval.core.planes.screen_markers`,
radiological convention) and a corner text with the slice number and W/L.
"""

from __future__ import annotations

import numpy as np
import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text rendering)
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkTextActor

from interval.core.planes import screen_markers
from interval.core.viewer_state import (
    ImageLayer,
    LabelLayer,
    ViewerState,
)
from interval.core.volume import Volume
from interval.ui.interaction import ViewInteraction, active_image_layer
from interval.ui.slice_view import ORIENTATIONS, SliceView
from interval.ui.status_info import window_text
from interval.ui.vtk_widget import VtkWidget

VIEW_COLOURS: dict[str, tuple[float, float, float]] = {
    "axial": (0.9, 0.25, 0.25),
    "coronal": (0.3, 0.8, 0.3),
    "sagittal": (0.95, 0.85, 0.25),
}
MARKER_COLOUR = (1.0, 0.85, 0.3)
TEXT_COLOUR = (0.9, 0.9, 0.9)
WARNING_COLOUR = (1.0, 0.45, 0.1)
_LINE_HALF_LENGTH_MM = 5000.0
_LINE_LIFT_MM = 1.0  # crosshair lines sit this far in front of the image plane


def image_warning(volume: Volume) -> str:
    """A short warning to draw on the image, from what the loader wrote in
    ``volume.metadata.warnings`` (irregular slices loaded as-is, resampled, a nominal
    placement); "" when the volume is regular."""
    lines: list[str] = []
    for w in volume.metadata.warnings:
        if w.startswith("Loaded as-is") and "sheared" in w:
            lines.append("Gantry tilt, loaded as-is:\nsheared voxel grid")
        elif w.startswith("Loaded as-is"):
            lines.append("Irregular slice spacing:\ndistances across slices\nare approximate")
        elif w.startswith("Resampled onto a regular grid"):
            lines.append("Resampled (irregular slices):\nvalues between slices\nare interpolated")
        elif "nominal placement" in w:
            lines.append("No patient position:\norientation not anatomical")
    return "\n".join(dict.fromkeys(lines))


class _EventWidget(VtkWidget):
    """A VtkWidget whose mouse, wheel and key events go to a :class:`ViewInteraction`."""

    def __init__(self, owner: MprView) -> None:
        super().__init__()  # no parent here: QVTK would tie close() to the parent's destruction
        self._owner = owner
        self._finalized = False

    def Finalize(self) -> None:  # noqa: N802  (VTK name)
        """Release the GL context once; safe while Qt tears the widget down."""
        d = self.__dict__
        rw = d.get("_RenderWindow")
        if rw is not None and not d.get("_finalized", True):
            d["_finalized"] = True
            rw.Finalize()

    def closeEvent(self, ev) -> None:  # noqa: N802, ANN001
        self.Finalize()

    def _ratio(self) -> float:
        return float(self.devicePixelRatioF())

    def mousePressEvent(self, ev) -> None:  # noqa: N802, ANN001
        self.setFocus()
        self._owner.interaction.mouse_press_event(ev)

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802, ANN001
        self._owner.interaction.mouse_move_event(ev)
        p = ev.position()
        self._owner._cursor_at(p.x(), p.y())

    def mouseReleaseEvent(self, ev) -> None:  # noqa: N802, ANN001
        self._owner.interaction.mouse_release_event(ev)

    def mouseDoubleClickEvent(self, ev) -> None:  # noqa: N802, ANN001
        self._owner.interaction.mouse_double_click_event(ev)

    def wheelEvent(self, ev) -> None:  # noqa: N802, ANN001
        self._owner.interaction.wheel_event(ev)

    def keyPressEvent(self, ev) -> None:  # noqa: N802, ANN001
        if not self._owner.interaction.key_press_event(ev):
            ev.ignore()

    def keyReleaseEvent(self, ev) -> None:  # noqa: N802, ANN001
        ev.ignore()


MARKER_HALF_WIDTH_PX = 10  # half an orientation letter at font size 16, and a margin


def _text_actor(x: float, y: float, h: str, v: str, size: int, colour: tuple) -> vtkTextActor:
    actor = vtkTextActor()
    coord = actor.GetPositionCoordinate()
    coord.SetCoordinateSystemToNormalizedViewport()
    coord.SetValue(x, y)
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(*colour)
    prop.BoldOn()
    prop.ShadowOn()
    getattr(prop, f"SetJustificationTo{h}")()
    getattr(prop, f"SetVerticalJustificationTo{v}")()
    return actor


class MprView(QWidget):
    """A 2-D MPR view of one plane kind, bound to ``state`` under ``view_id``."""

    maximise_requested = Signal(str)  # view id: double-click
    cursor_moved = Signal(str, object)  # view id, LPS point (np.ndarray) or None

    def __init__(self, state: ViewerState, view_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.view_id = view_id
        self.kind = state.view(view_id).kind
        if self.kind not in ORIENTATIONS:
            raise ValueError(f"{view_id!r} is not an MPR view")
        self.setObjectName(f"mpr-{view_id}")
        self.vtk = _EventWidget(self)
        self.vtk.setMinimumSize(64, 64)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.vtk)
        self.renderer = self.vtk.add_renderer()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        self.slice_view = SliceView(self.renderer, self.kind)
        self.interaction = ViewInteraction(state, view_id, self)
        self._volume_id: str | None = None
        self._axes = (None, None)
        self._fit_size = (0, 0)
        self._crosshair_visible = True
        self._annotations_visible = True
        self._build_overlays()
        self._update_markers()
        self._camera_observer = self.renderer.AddObserver("StartEvent", self._on_start_render)
        ev = state.events
        ev.volumes.connect(self._on_layers)
        ev.layers.connect(self._on_layers)
        ev.active_volume.connect(self._on_layers)
        ev.layer.connect(self._on_layer)
        ev.crosshair.connect(self._on_crosshair)
        ev.view.connect(self._on_view)
        self._sync_all()

    # --- overlays -------------------------------------------------------------------------
    def _build_overlays(self) -> None:
        self._lines: list[tuple[vtkPoints, vtkActor]] = []
        others = [k for k in ORIENTATIONS if k != self.kind]
        for _ in range(2):
            pts = vtkPoints()
            pts.SetNumberOfPoints(2)
            cells = vtkCellArray()
            cells.InsertNextCell(2)
            cells.InsertCellPoint(0)
            cells.InsertCellPoint(1)
            poly = vtkPolyData()
            poly.SetPoints(pts)
            poly.SetLines(cells)
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(poly)
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.GetProperty().SetLineWidth(1.0)
            actor.GetProperty().LightingOff()
            actor.PickableOff()
            self.renderer.AddActor(actor)
            self._lines.append((pts, actor))
        self._line_kinds = others
        self._markers = {
            "left": _text_actor(0.01, 0.5, "Left", "Centered", 16, MARKER_COLOUR),
            "right": _text_actor(0.99, 0.5, "Right", "Centered", 16, MARKER_COLOUR),
            "top": _text_actor(0.5, 0.99, "Centered", "Top", 16, MARKER_COLOUR),
            "bottom": _text_actor(0.5, 0.01, "Centered", "Bottom", 16, MARKER_COLOUR),
        }
        self._corner = _text_actor(0.01, 0.99, "Left", "Top", 12, TEXT_COLOUR)
        self._corner.GetTextProperty().BoldOff()
        # below the corner text (blank lines keep its place): the image's own warning
        self._warning = _text_actor(0.01, 0.99, "Left", "Top", 12, WARNING_COLOUR)
        self._warning.GetTextProperty().BoldOff()
        self._warning.VisibilityOff()
        for actor in (*self._markers.values(), self._corner, self._warning):
            self.renderer.AddViewProp(actor)

    def _update_markers(self) -> None:
        letters = screen_markers(self.state.plane(self.view_id))
        for edge, actor in self._markers.items():
            actor.SetInput(letters[edge])

    def _update_crosshair(self) -> None:
        sv = self.slice_view
        c = np.asarray(self.state.crosshair, dtype=np.float64)
        lift = -sv.normal * _LINE_LIFT_MM  # towards the camera
        # The horizontal line is the trace of the other view whose normal is closest to "up".
        normals = {k: np.asarray(ORIENTATIONS[k][2]) for k in self._line_kinds}
        horiz = max(self._line_kinds, key=lambda k: abs(float(normals[k] @ sv.up)))
        vert = next(k for k in self._line_kinds if k != horiz)
        for (pts, actor), direction, kind in zip(
            self._lines, (sv.right, sv.up), (horiz, vert), strict=True
        ):
            a = c + lift - _LINE_HALF_LENGTH_MM * direction
            b = c + lift + _LINE_HALF_LENGTH_MM * direction
            pts.SetPoint(0, *a)
            pts.SetPoint(1, *b)
            pts.Modified()
            actor.GetProperty().SetColor(*VIEW_COLOURS[kind])
            actor.SetVisibility(self._crosshair_visible and sv.volume is not None)

    def slice_counter(self) -> tuple[int, int, str | None]:
        """``(n, N, axis)``: the slice shown as 1-based ``n`` of ``N``.

        ``n`` counts along the volume's voxel axis nearest the view normal, in the
        direction of that voxel index (so it always runs with the ``voxel (i, j, k)`` of
        the status bar: ``n - 1`` is that index when the plane lies on the voxel grid,
        and ``axis`` names it, "i", "j" or "k"; None for an oblique cut).
        """
        vol = self.state.active_volume
        idx = self.state.slice_index(self.view_id)
        total = self.state.slice_count(self.view_id)
        if vol is None:
            return idx + 1, total, None
        normal = self.state.plane(self.view_id).normal
        cosines = np.asarray(vol.direction, dtype=np.float64).T @ normal  # per voxel axis
        axis = int(np.argmax(np.abs(cosines)))
        if cosines[axis] < 0:  # the lattice runs against the voxel index: count backwards
            idx = total - 1 - idx
        aligned = abs(abs(float(cosines[axis])) - 1.0) < 1e-4 and total == vol.size_ijk[axis]
        return idx + 1, total, ("ijk"[axis] if aligned else None)

    def corner_text(self) -> str:
        """The corner annotation: view name, slice n/N (with its voxel index), W/L."""
        if self.state.active_volume is None:
            return self.kind.capitalize()
        n, total, axis = self.slice_counter()
        text = f"{self.kind.capitalize()}  {n}/{total}"
        if axis is not None:
            text += f"  ({axis} {n - 1})"
        layer = active_image_layer(self.state)
        if layer is not None:
            text += "\n" + window_text(self.state.active_volume, layer.window.width,
                                       layer.window.center)
            if layer.invert:
                text += "  inv"
        return text

    def warning_text(self) -> str:
        """The warning drawn on the image for as long as its volume is shown ("" if none)."""
        vol = self.state.active_volume
        return "" if vol is None else image_warning(vol)

    def _update_corner(self) -> None:
        corner = self.corner_text()
        self._corner.SetInput(corner)
        warning = self.warning_text()
        self._warning.SetInput("\n" * (corner.count("\n") + 1) + warning if warning else "")
        self._warning.SetVisibility(bool(warning) and self._annotations_visible)

    def markers(self) -> dict[str, str]:
        """The letters shown on the ``left``, ``right``, ``top`` and ``bottom`` edges."""
        return {edge: actor.GetInput() for edge, actor in self._markers.items()}

    def set_crosshair_visible(self, visible: bool) -> None:
        self._crosshair_visible = bool(visible)
        self._update_crosshair()
        self._schedule_render()

    def set_annotations_visible(self, visible: bool) -> None:
        """Show or hide the orientation letters and the corner text."""
        self._annotations_visible = bool(visible)
        for actor in (*self._markers.values(), self._corner):
            actor.SetVisibility(bool(visible))
        self._update_corner()
        self._schedule_render()

    # --- state -> view ------------------------------------------------------------------
    def _sync_all(self) -> None:
        self._on_layers(None)

    def _on_layers(self, _event: object) -> None:
        sv = self.slice_view
        vid = self.state.active_volume_id
        if vid is None:
            self._volume_id = None
            sv.set_visible(False)
        else:
            vol = self.state.volume(vid)
            if vid != self._volume_id or sv.volume is not vol:
                self._volume_id = vid
                self._apply_axes(force=True)
            sv.set_visible(True)
        self._sync_image_layer()
        self._sync_label_layer()
        self._on_crosshair(None)  # also the corner and warning texts
        self._apply_camera()

    def _apply_axes(self, force: bool = False) -> None:
        v = self.state.view(self.view_id)
        axes = (v.right, v.down)
        if not force and axes == self._axes:
            return
        self._axes = axes
        self._update_markers()  # the letters depend on the plane's axes only
        sv = self.slice_view
        if v.right is not None and v.down is not None:
            sv.orientation = (v.right, tuple(-x for x in v.down))
        else:
            sv.orientation = self.kind
        if self._volume_id is not None:
            layer = next((la for la in self.state.layers if la.id == self._volume_id), None)
            window = layer.window if isinstance(layer, ImageLayer) else None
            # the layer's window: no min/max scan of the whole volume per view
            sv.set_volume(self.state.volume(self._volume_id), window)  # overlays follow the axes
            self._sync_image_layer()
            self._sync_label_layer()

    def _sync_image_layer(self) -> None:
        layer = active_image_layer(self.state)
        if layer is None or self.slice_view.volume is None:
            return
        self.slice_view.set_window_level(layer.window.center, layer.window.width)
        self.slice_view.set_invert(layer.invert)
        self.slice_view.set_visible(layer.visible)
        self._update_corner()
        self._schedule_render()

    def _sync_label_layer(self) -> None:
        """Mirror the state's label layers as overlays, same order (bottom first)."""
        sv = self.slice_view
        if sv.volume is None:
            return
        layers = [layer for layer in self.state.layers if isinstance(layer, LabelLayer)]
        wanted = {layer.id for layer in layers}
        for key in sv.label_overlay_keys:
            if key not in wanted:
                sv.remove_label_overlay(key)
        for layer in layers:
            labels = self.state.volume(layer.volume_id)
            overlay = sv.label_overlay(layer.id)
            if overlay is None or overlay.volume is not labels:
                sv.add_label_overlay(
                    layer.id, labels, layer.labels, layer.opacity, layer.mode, layer.visible
                )
            else:
                sv.set_label_table(layer.labels, layer.id)
                sv.set_label_opacity(layer.opacity, layer.id)
                sv.set_label_mode(layer.mode, layer.id)
                sv.set_label_visible(layer.visible, layer.id)
        sv.set_label_order([layer.id for layer in layers])
        self._schedule_render()

    def _on_layer(self, event: object) -> None:
        layer = event.layer  # type: ignore[attr-defined]
        if isinstance(layer, ImageLayer):
            self._sync_image_layer()
        else:
            self._sync_label_layer()

    def _on_crosshair(self, _event: object) -> None:
        sv = self.slice_view
        if sv.volume is not None:
            sv.set_slice_position(float(np.asarray(self.state.crosshair) @ sv.normal))
        self._update_crosshair()
        self._update_corner()
        self._schedule_render()

    def _on_view(self, event: object) -> None:
        if event.view_id != self.view_id:  # type: ignore[attr-defined]
            return
        self._apply_axes()
        self._on_crosshair(None)
        self._apply_camera()

    def _apply_camera(self) -> None:
        """Zoom (1 = fit) and pan (screen mm, right/down) from the view state."""
        sv = self.slice_view
        if sv.volume is None:
            return
        (cu, cv), fit = sv.fitted_view()
        v = self.state.view(self.view_id)
        self._fit_size = tuple(self.renderer.GetSize())
        sv.set_view((cu - v.pan[0], cv + v.pan[1]), fit / v.zoom)
        self._schedule_render()

    def _on_start_render(self, *_: object) -> None:
        if tuple(self.renderer.GetSize()) != self._fit_size:
            self._apply_camera()
        self._place_top_marker()

    def _place_top_marker(self) -> None:
        """The top letter sits in the middle of the top edge, or just below the corner
        text when that text reaches the middle (a narrow view), so that neither the slice
        number nor the orientation letter hides the other."""
        marker = self._markers["top"]
        w, h = (int(v) for v in self.renderer.GetSize())
        y = 0.99
        if w > 0 and h > 0 and self._corner.GetVisibility() and self._corner.GetInput():
            bottom, right = float(h), 0.0
            for actor in (self._corner, self._warning):
                if actor.GetVisibility() and actor.GetInput():
                    box = [0.0, 0.0, 0.0, 0.0]  # x min, x max, y min, y max: pixels
                    actor.GetBoundingBox(self.renderer, box)  # from the anchor point
                    ax, ay = actor.GetPositionCoordinate().GetComputedDisplayValue(self.renderer)
                    if box[1] > box[0]:
                        right = max(right, ax + box[1])
                        bottom = min(bottom, ay + box[2])
            if right >= w / 2.0 - MARKER_HALF_WIDTH_PX and bottom < h:
                y = max(bottom - 2.0, 0.0) / h
        coord = marker.GetPositionCoordinate()
        if abs(coord.GetValue()[1] - y) > 1e-9:
            coord.SetValue(0.5, y)

    def top_marker_position(self) -> tuple[float, float]:
        """Where the top letter is anchored (normalised viewport, its top edge)."""
        x, y, _ = self._markers["top"].GetPositionCoordinate().GetValue()
        return float(x), float(y)

    def _schedule_render(self) -> None:
        self.vtk.update()

    # --- screen <-> patient (the interaction's Screen protocol) ---------------------------
    @property
    def mm_per_pixel(self) -> float:
        return self.slice_view.mm_per_pixel / self.vtk._ratio()

    def display_to_lps(self, x: float, row: float) -> np.ndarray:
        """LPS point on the plane under widget position ``(x, row)`` (Qt logical pixels)."""
        r = self.vtk._ratio()
        return self.slice_view.display_to_world(x * r, row * r)

    def lps_to_display(self, lps: np.ndarray | tuple[float, float, float]) -> tuple[float, float]:
        """Rendered-frame position ``(x, row)`` of an LPS point (pixel ``i`` spans [i, i+1))."""
        return self.slice_view.world_to_display(lps)

    def request_maximise(self) -> None:
        self.maximise_requested.emit(self.view_id)

    def _cursor_at(self, x: float, row: float) -> None:
        lps = self.display_to_lps(x, row) if self.slice_view.volume is not None else None
        self.cursor_moved.emit(self.view_id, lps)

    # --- rendering ------------------------------------------------------------------------
    def render_now(self) -> None:
        """Render now (synchronously)."""
        self.vtk.render_now()

    def capture(self) -> np.ndarray:
        """Render and read the frame back as ``(h, w, 3)`` uint8."""
        return self.vtk.capture()

    def close_view(self) -> None:
        """Stop observing the state and release VTK resources."""
        ev = self.state.events
        for sig, cb in (
            (ev.volumes, self._on_layers),
            (ev.layers, self._on_layers),
            (ev.active_volume, self._on_layers),
            (ev.layer, self._on_layer),
            (ev.crosshair, self._on_crosshair),
            (ev.view, self._on_view),
        ):
            sig.disconnect(cb)
        self.renderer.RemoveObserver(self._camera_observer)
        self.slice_view.close()
        self.vtk.Finalize()
