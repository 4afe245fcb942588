"""One MPR view (axial, coronal or sagittal) observing a :class:`ViewerState`.

The view holds no state of its own: it follows the crosshair (its plane passes
through it), the active volume's window/level and invert, every fusion layer (another
image in colour over it, e.g. PET over CT: ``interval.ui.image_overlay``), every visible
label layer (drawn in layer order, the top one last), and its view's zoom/pan, and
turns mouse/keyboard input into ViewerState calls through
:class:`~interval.ui.interaction.ViewInteraction`.

On top of the image it draws the crosshair (each line in the colour of the view
whose plane it is: axial red, coronal green, sagittal yellow, as in 3D Slicer),
orientation letters on the four edges (from :func:`interval.core.planes.screen_markers`,
radiological convention; none without a volume or for an image without an anatomical
orientation), the four corner texts of :mod:`interval.core.overlay_text` (patient and
study, series, slice number and position, W/L and zoom) and a scale bar.  The corner
texts and the scale bar can be hidden (:meth:`MprView.set_overlay_text_visible`), and
the patient's name, ID and study date left out (:meth:`MprView.set_anonymised`, for
screenshots).  Every text sits on a dark box, so the crosshair lines never run through
it, and the top and bottom letters move clear of the corner texts.
"""

from __future__ import annotations

import numpy as np
import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text rendering)
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

from interval.core.frame_mode import frame_time_s
from interval.core.overlay_text import (
    CornerTexts,
    SliceInfo,
    corner_texts,
    orientation_is_anatomical,
    slice_position,
)
from interval.core.planes import screen_markers
from interval.core.viewer_state import (
    ImageLayer,
    LabelLayer,
    ViewerState,
)
from interval.core.volume import Volume
from interval.ui.frame_slider import FrameSlider
from interval.ui.interaction import ViewInteraction, active_image_layer
from interval.ui.slice_view import ORIENTATIONS, SliceView
from interval.ui.status_info import window_text
from interval.ui.view_overlays import (  # noqa: F401  (the colours, here as before)
    MARKER_COLOUR,
    TEXT_COLOUR,
    WARNING_COLOUR,
    ViewOverlays,
)
from interval.ui.vtk_widget import VtkWidget

VIEW_COLOURS: dict[str, tuple[float, float, float]] = {
    "axial": (0.9, 0.25, 0.25),
    "coronal": (0.3, 0.8, 0.3),
    "sagittal": (0.95, 0.85, 0.25),
}
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
        self.frame_slider = FrameSlider(state, view_id, self)  # shown in 2-D mode only
        box.addWidget(self.frame_slider)
        self.renderer = self.vtk.add_renderer()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        self.slice_view = SliceView(self.renderer, self.kind)
        self.interaction = ViewInteraction(state, view_id, self)
        self._volume_id: str | None = None
        self._axes = (None, None)
        self._fit_size = (0, 0)
        self._crosshair_visible = True
        self._anonymised = False
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
        self.overlays = ViewOverlays(self.renderer)

    def _update_markers(self) -> None:
        """The edge letters of the plane; none without a volume, or when the volume has no
        anatomical orientation (a nominal placement: the letters would be wrong)."""
        vol = self.state.active_volume
        letters: dict[str, str] = {}
        if vol is not None and orientation_is_anatomical(vol.metadata):
            letters = screen_markers(self.state.plane(self.view_id))
        self.overlays.set_letters(letters)

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
            actor.SetVisibility(self._crosshair_visible and self._volume_id is not None)

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

    def _thickness(self, vol: Volume, normal: np.ndarray) -> tuple[str, float]:
        """``("Thick", mm)``: the acquired slice thickness, for a plane along the slices
        when the loader kept it (``metadata.extra["slice_thickness"]``); else
        ``("Spacing", mm)``: the distance between the planes this view steps through."""
        cosines = np.asarray(vol.direction, dtype=np.float64).T @ np.asarray(normal)
        axis = int(np.argmax(np.abs(cosines)))
        thick = vol.metadata.extra.get("slice_thickness")
        if (axis == 2 and abs(abs(float(cosines[axis])) - 1.0) < 1e-4
                and isinstance(thick, int | float) and thick > 0):
            return "Thick", float(thick)
        return "Spacing", float((np.abs(cosines) * np.asarray(vol.spacing, dtype=float)).max())

    def corner_texts(self) -> CornerTexts:
        """The four corner texts as this view shows them (patient text left out while
        anonymised; the slice position is that of the plane through the crosshair)."""
        vol = self.state.active_volume
        name = self.kind.capitalize()
        if vol is None:
            return corner_texts(None, name)
        n, total, axis = self.slice_counter()
        normal = self.state.plane(self.view_id).normal
        label, position = slice_position(normal, self.state.crosshair)
        thick_label, thick = self._thickness(vol, normal)
        info = SliceInfo(n, total, axis, label, position, thick, thick_label)
        if self.view_id == self.state.frame_view_id:  # 2-D mode: frames, not slices in mm
            info = SliceInfo(n, total, frame=True, time_s=frame_time_s(vol.metadata, n - 1))
        window = ""
        layer = active_image_layer(self.state)
        if layer is not None:
            window = window_text(vol, layer.window.width, layer.window.center)
            if layer.invert and not vol.is_rgb:  # colour images ignore invert
                window += "  inv"
        return corner_texts(
            vol.metadata, name,
            info,
            window=window, zoom=self.state.view(self.view_id).zoom,
            anonymised=self._anonymised,
        )

    def warning_text(self) -> str:
        """The warning drawn on the image for as long as its volume is shown ("" if none)."""
        vol = self.state.active_volume
        return "" if vol is None else image_warning(vol)

    def _update_corner(self) -> None:
        self.overlays.set_texts(self.corner_texts(), self.warning_text())

    def markers(self) -> dict[str, str]:
        """The letters on the ``left``, ``right``, ``top`` and ``bottom`` edges ("" each
        when there is no volume or its orientation is not anatomical)."""
        return self.overlays.letters()

    def shown_texts(self) -> list[str]:
        """Every text this view draws now (visible text actors), e.g. to check that a
        screenshot holds no patient name."""
        return self.overlays.shown_texts()

    def set_crosshair_visible(self, visible: bool) -> None:
        self._crosshair_visible = bool(visible)
        self._update_crosshair()
        self._schedule_render()

    def set_annotations_visible(self, visible: bool) -> None:
        """Show or hide everything drawn over the image but the crosshair: orientation
        letters, corner texts, scale bar and warning."""
        self.overlays.annotations_visible = bool(visible)
        self.overlays.apply_visibility()
        self._schedule_render()

    @property
    def overlay_text_visible(self) -> bool:
        return self.overlays.text_visible

    def set_overlay_text_visible(self, visible: bool) -> None:
        """Show or hide the on-image text: the four corner texts and the scale bar (the
        orientation letters and the image's warning stay)."""
        self.overlays.text_visible = bool(visible)
        self.overlays.apply_visibility()
        self._schedule_render()

    @property
    def anonymised(self) -> bool:
        return self._anonymised

    def set_anonymised(self, anonymised: bool) -> None:
        """Leave the patient's name and ID and the study date and time out of the corner
        text (for a screenshot to share), or show them again."""
        self._anonymised = bool(anonymised)
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
        self._update_markers()  # none without a volume or an anatomical orientation
        self._sync_image_layer()
        self._sync_fusion_layers()
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
            self._sync_fusion_layers()
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

    def _sync_fusion_layers(self) -> None:
        """Mirror the state's fusion layers (PET over CT) as colour image overlays, same
        order (bottom first; drawn above the grey image, below the label overlays)."""
        sv = self.slice_view
        if sv.volume is None:
            return
        layers = self.state.fusion_layers()
        wanted = {layer.id for layer in layers}
        for key in sv.image_overlay_keys:
            if key not in wanted:
                sv.remove_image_overlay(key)
        for layer in layers:
            volume = self.state.volume(layer.volume_id)
            overlay = sv.image_overlay(layer.id)
            if overlay is None or overlay.volume is not volume:
                sv.add_image_overlay(layer.id, volume, layer.window, layer.colormap,
                                     layer.opacity, layer.visible)
            else:
                sv.update_image_overlay(layer.id, window=layer.window, colormap=layer.colormap,
                                        opacity=layer.opacity, visible=layer.visible)
        sv.set_image_overlay_order([layer.id for layer in layers])
        self._schedule_render()

    def _on_layer(self, event: object) -> None:
        layer = event.layer  # type: ignore[attr-defined]
        if isinstance(layer, ImageLayer):
            self._sync_image_layer()
            self._sync_fusion_layers()
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
        shown = self._volume_id is not None
        vol = self.state.active_volume
        self.overlays.length_unit = vol.metadata.length_unit if vol is not None else "mm"
        self.overlays.layout(self.slice_view.mm_per_pixel if shown else None)

    def marker_position(self, edge: str) -> tuple[float, float]:
        """Where the ``edge`` letter is anchored (normalised viewport)."""
        return self.overlays.marker_position(edge)

    def top_marker_position(self) -> tuple[float, float]:
        """Where the top letter is anchored (normalised viewport, its top edge)."""
        return self.overlays.marker_position("top")

    def scale_bar(self) -> tuple[float, float] | None:
        """``(mm, pixels)`` of the scale bar shown (render-window pixels); None if none."""
        return self.overlays.scale_bar()

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
        self.frame_slider.close_slider()
        self.renderer.RemoveObserver(self._camera_observer)
        self.slice_view.close()
        self.vtk.Finalize()
