"""Side-by-side timepoint views of the longitudinal workspace: one view per timepoint.

:class:`TimepointViews` shows 2 or 3 timepoints of a :class:`LongitudinalWorkspace` in
columns.  Each column is an :class:`~interval.ui.mpr_view.MprView` (axial; every column
switches to coronal or sagittal together with :meth:`TimepointViews.set_plane`) bound to a
:class:`ViewerState` of its own, holding that timepoint's CT (read again, on a worker
thread, from the timeline's ``source`` with the report's stack uid) and its label map as
an outline of the lesion labels.  The scan is shown as soon as the slice the column will
show is read (the selected lesion's, asked when the read starts; the middle one else), and
the other slices appear as they arrive (:class:`~.timepoint_images.PartialImages`); the RECIST long (yellow) and short (cyan) axes of the
lesions are drawn as line items, solid on the slice they were measured on and faint on
the other slices of the lesion.  A column whose scan cannot be read shows why, as plain
text.

The columns follow each other in registered patient space (the workspace's
:meth:`~LongitudinalWorkspace.point_in`, i.e. the pipeline's saved transforms): a click
(``pointPicked``) or a slice step in one column moves the crosshair of every other column
to the same anatomy, placed at the same spot on screen; zoom (mm per pixel), pan and
window/level are copied.  :meth:`show_lesion` centres every column on one lesion: its own
centroid where it is seen, else the point mapped from the nearest timepoint where it is.

Mouse and keys are the MPR views' (:mod:`interval.ui.interaction`): wheel = slice,
left click = crosshair, left drag = window/level, right drag = zoom, middle drag = pan;
except that a left press on an end point of a solid RECIST axis drags that end point
(:mod:`.axis_drag`: live line and length, one undoable ``adjust_axis`` on release, Esc
cancels).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QHBoxLayout, QSizePolicy, QVBoxLayout, QWidget
from shiboken6 import isValid
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

from interval.core.errors import IntervalError
from interval.core.labels import LabelTable
from interval.core.viewer_state import ImageLayer, ViewerState
from interval.core.volume import Volume
from interval.longitudinal.key_images import LONG_AXIS, SHORT_AXIS
from interval.longitudinal.lesion_rows import LesionRow
from interval.longitudinal.workspace import ActionRefused, LongitudinalWorkspace
from interval.ui.interaction import ViewInteraction
from interval.ui.longitudinal.axis_drag import AxisDragger
from interval.ui.longitudinal.timepoint_images import (
    AxisMark,
    PartialImages,
    ScanLoader,
    TimepointImages,
    axis_marks,
    default_timepoints,
    lesion_focus,
    lesion_outline_table,
    timepoint_label,
    timepoint_title,
)
from interval.ui.mpr_view import MprView
from interval.ui.plain_text import plain_label
from interval.ui.vtk_image import image_array, mark_modified
from interval.ui.workers import Job, JobRunner

VIEW_ID = "axial"  # the plane the columns open in
PLANES = ("axial", "coronal", "sagittal")
SCAN_ID = "scan"
LABELS_ID = "labels"
FAINT_OPACITY = 0.35  # an axis seen from another slice of its lesion
LIFT_MM = 1.0  # line items sit this far in front of the image plane
VISIBLE_MARGIN = 0.1  # a point this close (share of the view) to an edge is re-centred
PARTIAL_REFRESH_MS = 150  # a column still reading its scan redraws at most this often


def _rgb(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    return tuple(c / 255.0 for c in colour)  # type: ignore[return-value]


class _ColumnInteraction(ViewInteraction):
    """The MPR bindings, plus a callback after a click moved the crosshair, and the left
    button and Esc taken by ``dragger`` while it drags an axis end point."""

    def __init__(self, state: ViewerState, plane: str, screen: MprView,
                 on_click: Callable[[], None], dragger: AxisDragger):
        super().__init__(state, plane, screen)
        self._on_click = on_click
        self.dragger = dragger

    def press(self, button: Qt.MouseButton, x: float, row: float) -> None:
        if self.dragger.active:
            return  # another button while dragging: ignored
        if button == Qt.MouseButton.LeftButton and self.dragger.press(x, row):
            self._drag = None
            return
        super().press(button, x, row)

    def move(self, x: float, row: float) -> None:
        if self.dragger.active:
            self.dragger.move(x, row)
            return
        if self._drag is None:
            self.dragger.hover(x, row)
        super().move(x, row)

    def release(self, button: Qt.MouseButton, x: float, row: float) -> None:
        if self.dragger.active:
            if button == Qt.MouseButton.LeftButton:
                self.dragger.release(x, row)
            return
        super().release(button, x, row)

    def key(self, key: int) -> bool:
        if key == int(Qt.Key.Key_Escape) and self.dragger.cancel():
            return True
        return super().key(key)

    def click(self, x: float, row: float) -> None:
        super().click(x, row)
        if self.state.active_volume is not None:
            self._on_click()


class _AxisItem:
    """One line item (a RECIST axis) in a column's renderer."""

    def __init__(self, mark: AxisMark) -> None:
        self.mark = mark
        self.points = vtkPoints()
        self.points.SetNumberOfPoints(2)
        cells = vtkCellArray()
        cells.InsertNextCell(2)
        cells.InsertCellPoint(0)
        cells.InsertCellPoint(1)
        poly = vtkPolyData()
        poly.SetPoints(self.points)
        poly.SetLines(cells)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(poly)
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        prop = self.actor.GetProperty()
        prop.SetColor(*_rgb(LONG_AXIS if mark.which == "long" else SHORT_AXIS))
        prop.LightingOff()
        self.actor.PickableOff()


class _Column(QWidget):
    """One timepoint: title, status line, and its view once the scan is loaded."""

    def __init__(self, owner: TimepointViews, timepoint: int, title: str) -> None:
        super().__init__()
        self.owner = owner
        self.timepoint = timepoint
        self.setObjectName(f"timepoint-column-{timepoint}")
        self.title = plain_label(title)
        font = QFont(self.title.font())
        font.setBold(True)
        self.title.setFont(font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.status = plain_label("Waiting to load…")
        self.status.setWordWrap(True)
        self.status.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.message = plain_label("")  # why there is no image (replaces the view)
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.message.hide()
        self._box = QVBoxLayout(self)
        self._box.setContentsMargins(2, 2, 2, 2)
        self._box.setSpacing(2)
        self._box.addWidget(self.title)
        self._box.addWidget(self.status)
        self._box.addWidget(self.message, 1)
        self.state: ViewerState | None = None
        self.view: MprView | None = None
        self.images: TimepointImages | None = None
        self.job: Job | None = None
        self.phase = "Loading"
        self.failed = ""
        self.note = ""  # what the reader should know about this column (label map...)
        self.axes: list[_AxisItem] = []
        self.dragger: AxisDragger | None = None
        self.axis_message = ""  # the refused axis edit shown in the status line
        self.pending_mm: float | None = None  # a zoom asked for before the view was sized
        self.closed = False
        # the point the column will show first: read by the loading thread (a tuple, set
        # whole on the UI thread) to read that slice of the scan first
        self.focus_lps: tuple[float, float, float] | None = None
        self.plane = VIEW_ID  # the plane its view shows (PLANES)
        self.filled: np.ndarray | None = None  # slices read so far; None once all are
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(PARTIAL_REFRESH_MS)
        self._refresh.timeout.connect(self.refresh_scan)

    # --- loading ------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self.view is not None

    @property
    def settled(self) -> bool:
        return self.loaded or bool(self.failed) or self.closed

    @property
    def complete(self) -> bool:
        """Whether the whole scan is read (or the column failed or closed)."""
        return (self.loaded and self.filled is None) or bool(self.failed) or self.closed

    def more_read(self, filled: np.ndarray) -> None:
        """More slices of the scan shown are read: redraw soon."""
        self.filled = filled
        self.set_progress(int(filled.sum()), int(filled.size))
        if not self._refresh.isActive():
            self._refresh.start()

    def all_read(self) -> None:
        """The whole scan is read: redraw now and say what the column shows."""
        self.filled = None
        self._refresh.stop()
        self.refresh_scan()
        self.show_note()

    def refresh_scan(self) -> None:
        """Let VTK see the slices read since the last frame and redraw."""
        if self.view is None or self.images is None:
            return
        image = getattr(self.view.slice_view, "_image", None)
        if image is not None and image_array(image) is self.images.volume.array:
            mark_modified(image)
            self.view.vtk.update()

    def set_phase(self, phase: object) -> None:
        self.phase = str(phase)
        self.status.setText(f"{self.phase}…")

    def set_progress(self, done: int, total: int) -> None:
        self.status.setText(f"{self.phase}… {done}/{total}" if total > 0 else f"{self.phase}…")
        self.status.setVisible(True)

    def fail(self, text: str) -> None:
        self.failed = text
        self.status.hide()
        self.message.setText(text)
        self.message.show()

    def show_images(self, images: TimepointImages) -> None:
        self.images = images
        state = ViewerState()
        state.add_volume(images.volume, SCAN_ID, name=self.title.text())
        self.state = state
        if images.labels is not None:
            self.add_labels(images.labels)
        self._make_view(self.owner.plane)
        self.note = images.note
        self.show_note()
        ev = state.events
        ev.crosshair.connect(self._on_crosshair)
        ev.view.connect(self._on_view)
        ev.layer.connect(self._on_layer)

    def add_labels(self, labels: Volume) -> None:
        """Outline the lesion labels of ``labels`` over the scan (organs stay hidden)."""
        assert self.state is not None
        state = self.state
        labels = _as_label_map(labels)
        with state.events.batch():
            state.add_volume(labels, LABELS_ID, name="lesions")
            table = lesion_outline_table(labels.labels)  # type: ignore[arg-type]
            for info in table:
                if not info.visible:
                    state.set_label(LABELS_ID, info.value, visible=False)
            state.set_label_mode(LABELS_ID, "outline")
            state.set_layer_opacity(LABELS_ID, 1.0)

    def _make_view(self, plane: str) -> None:
        assert self.state is not None
        self.plane = plane
        view = MprView(self.state, plane, self)
        self.dragger = AxisDragger(self, view)
        view.interaction = _ColumnInteraction(self.state, plane, view, self._clicked,
                                              self.dragger)
        view.setMinimumSize(96, 96)
        view.set_overlay_text_visible(self.owner.overlay_text_visible)
        self.view = view
        self._box.addWidget(view, 1)
        view.vtk.installEventFilter(self)

    def set_plane(self, plane: str) -> None:
        """Show the scan in ``plane`` (a new view over the same state: crosshair, window
        and layers are kept; the RECIST axes are drawn in the axial plane only)."""
        if self.view is None or plane == self.plane:
            self.plane = plane
            return
        marks = [a.mark for a in self.axes]
        if self.dragger is not None:
            self.dragger.close()
        for item in self.axes:
            self.view.renderer.RemoveActor(item.actor)
        self.axes = []
        old = self.view
        old.close_view()
        self._box.removeWidget(old)
        old.hide()
        old.deleteLater()
        self._make_view(plane)
        self.set_marks(marks)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if self.view is not None and obj is self.view.vtk and event.type() == QEvent.Type.Resize:
            QTimer.singleShot(0, self, self._resized)  # once the render window has its size
        return False

    def _resized(self) -> None:
        if not self.closed and self.loaded:
            self.owner._column_resized(self)

    def show_note(self, extra: str = "") -> None:
        text = " ".join(t for t in (self.note, extra) if t)
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def close_column(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._refresh.stop()
        if self.job is not None:
            self.job.cancel()
        self.close_view()

    def close_view(self) -> None:
        """Take the view (and its state) down; the column can show images again."""
        if self.state is not None:
            ev = self.state.events
            ev.crosshair.disconnect(self._on_crosshair)
            ev.view.disconnect(self._on_view)
            ev.layer.disconnect(self._on_layer)
        if self.view is not None:
            if self.dragger is not None:
                self.dragger.close()
            for item in self.axes:
                self.view.renderer.RemoveActor(item.actor)
            self.axes = []
            self.view.close_view()
            if not self.closed:
                self._box.removeWidget(self.view)
                self.view.hide()
                self.view.deleteLater()
        self.state, self.view, self.dragger, self.images = None, None, None, None

    # --- state events -> the owner --------------------------------------------------------
    def _on_crosshair(self, _event: object) -> None:
        if self.dragger is not None:
            self.dragger.cancel()  # the plane moved under the drag
        self.update_axes()
        self.owner._column_moved(self)

    def _on_view(self, _event: object) -> None:
        self.owner._column_moved(self)

    def _on_layer(self, event: object) -> None:
        if getattr(event, "what", "") in ("window", "invert"):
            self.owner._column_window(self)

    def _clicked(self) -> None:
        self.owner._column_clicked(self)

    # --- geometry -------------------------------------------------------------------------
    @property
    def volume(self) -> Volume:
        assert self.images is not None
        return self.images.volume

    def crosshair(self) -> np.ndarray:
        assert self.state is not None
        return np.asarray(self.state.crosshair, dtype=np.float64)

    def center_voxel(self) -> tuple[int, int, int]:
        i, j, k = np.rint(self.volume.lps_to_index(self.crosshair())).astype(int)
        return int(k), int(j), int(i)

    def _fit(self) -> tuple[tuple[float, float], float]:
        assert self.view is not None
        return self.view.slice_view.fitted_view()

    def mm_per_pixel(self) -> float:
        """The zoom the state asks for (what the view shows once it has rendered)."""
        assert self.state is not None
        return self._fit()[1] / self.state.view(self.plane).zoom

    def view_centre(self) -> np.ndarray:
        """The LPS point at the middle of the view, on the current plane."""
        assert self.state is not None and self.view is not None
        sv = self.view.slice_view
        (cu, cv), _ = self._fit()
        pan = self.state.view(self.plane).pan
        a, b = cu - pan[0], cv + pan[1]
        return a * sv.right + b * sv.up + float(self.crosshair() @ sv.normal) * sv.normal

    @property
    def sized(self) -> bool:
        """Whether the view has its size on screen (before that, "fit" means nothing)."""
        if self.view is None or not self.view.vtk.isVisible():
            return False
        w, h = (int(s) for s in self.view.renderer.GetSize())
        return w > 8 and h > 8

    def point_visible(self, lps: Sequence[float]) -> bool:
        """Whether ``lps`` lies in the view, away from its edges (False before the view
        has its size)."""
        assert self.view is not None
        if not self.sized:
            return False
        sv = self.view.slice_view
        d = np.asarray(lps, dtype=np.float64) - self.view_centre()
        w, h = (int(s) for s in self.view.renderer.GetSize())
        mm = self.mm_per_pixel()
        half_u, half_v = (0.5 - VISIBLE_MARGIN) * w * mm, (0.5 - VISIBLE_MARGIN) * h * mm
        return abs(float(d @ sv.right)) <= half_u and abs(float(d @ sv.up)) <= half_v

    def place(self, point: Sequence[float], centre: Sequence[float] | None = None,
              mm_per_pixel: float | None = None) -> None:
        """Crosshair to ``point``; the view centred on ``centre`` (default: on ``point``
        when it is not comfortably in view), at ``mm_per_pixel`` (default: kept; before
        the view has its size, applied once it has)."""
        assert self.state is not None and self.view is not None
        state = self.state
        with state.events.batch():
            state.set_crosshair(point)
            if centre is None and not self.point_visible(state.crosshair):
                centre = state.crosshair
            if centre is not None:
                self._set_pan(np.asarray(centre, dtype=np.float64))
            if mm_per_pixel is not None:
                if self.sized:
                    self.set_mm_per_pixel(mm_per_pixel)
                else:
                    self.pending_mm = float(mm_per_pixel)

    def _set_pan(self, centre: np.ndarray) -> None:
        """Pan so that ``centre`` is in the middle (the pan does not depend on the size)."""
        assert self.state is not None and self.view is not None
        sv = self.view.slice_view
        (cu, cv), _ = self._fit()
        self.state.set_pan(self.plane,
                           (cu - float(centre @ sv.right), float(centre @ sv.up) - cv))

    def set_mm_per_pixel(self, mm: float) -> None:
        """Zoom (the state's zoom is relative to the fitted view: only valid once sized)."""
        assert self.state is not None
        self.pending_mm = None
        fit = self._fit()[1]
        self.state.set_zoom(self.plane, float(np.clip(fit / max(float(mm), 1e-6), 1e-3, 1e3)))

    def image_layer(self) -> ImageLayer:
        assert self.state is not None
        layer = self.state.layer(SCAN_ID)
        assert isinstance(layer, ImageLayer)
        return layer

    # --- RECIST axes ------------------------------------------------------------------------
    def set_marks(self, marks: list[AxisMark]) -> None:
        if self.view is None:
            return
        if self.dragger is not None:
            self.dragger.cancel()  # the workspace changed under the drag
        for item in self.axes:
            self.view.renderer.RemoveActor(item.actor)
        self.axes = [_AxisItem(m) for m in marks]
        for item in self.axes:
            self.view.renderer.AddActor(item.actor)
        self.update_axes()

    def update_axes(self) -> None:
        """Show each axis on its lesion's slices (solid on the one it was measured on),
        projected on the current plane."""
        if self.view is None:
            return
        if self.plane != VIEW_ID:  # measured on axial slices: not drawn across other planes
            for item in self.axes:
                item.actor.SetVisibility(False)
            self.view._schedule_render()
            return
        sv = self.view.slice_view
        p = self.crosshair()
        k = self.center_voxel()[0]
        w = sv.normal
        for item in self.axes:
            m = item.mark
            on_slice = k == m.slice_index
            shown = on_slice or m.k_lo <= k < m.k_hi
            item.actor.SetVisibility(shown)
            if not shown:
                continue
            self._set_line(item, m.start_lps, m.end_lps, p, w)
            prop = item.actor.GetProperty()
            selected = m.lesion_id == self.owner.selected_lesion
            prop.SetOpacity(1.0 if on_slice else FAINT_OPACITY)
            prop.SetLineWidth(3.0 if selected else 1.5)
        self.view._schedule_render()

    @staticmethod
    def _set_line(item: _AxisItem, start: Sequence[float], end: Sequence[float],
                  p: np.ndarray, w: np.ndarray) -> None:
        """``item``'s line from ``start`` to ``end``, on the plane through ``p`` (normal
        ``w``), lifted towards the camera."""
        for n, q in enumerate((start, end)):
            q = np.asarray(q, dtype=np.float64)
            q = q + float((p - q) @ w) * w - LIFT_MM * w
            item.points.SetPoint(n, *q)
        item.points.Modified()

    # --- dragging an axis end point (the AxisDragger's host) ------------------------------------
    def grabbable_marks(self) -> list[AxisMark]:
        """The axes drawn solid: measured on the slice shown."""
        if self.view is None or self.plane != VIEW_ID:
            return []
        k = self.center_voxel()[0]
        return [a.mark for a in self.axes if a.mark.slice_index == k
                and a.actor.GetVisibility()]

    def draw_axis(self, mark: AxisMark, start: np.ndarray, end: np.ndarray) -> None:
        item = next((a for a in self.axes if a.mark is mark), None)
        if item is None or self.view is None:
            return
        self._set_line(item, start, end, self.crosshair(), self.view.slice_view.normal)
        self.view._schedule_render()

    def redraw_axes(self) -> None:
        self.update_axes()

    def commit_axis(self, mark: AxisMark, start: np.ndarray, end: np.ndarray) -> None:
        """One ``adjust_axis`` (one undo step); raises ``ActionRefused`` when refused (also
        while the owner's ``axis_edit_guard`` says why not)."""
        guard = self.owner.axis_edit_guard
        reason = guard() if guard is not None else ""
        if reason:
            raise ActionRefused(reason)
        self.owner.workspace.adjust_axis(mark.lesion_id, self.timepoint, mark.which,
                                         tuple(float(x) for x in start),
                                         tuple(float(x) for x in end))

    def show_axis_message(self, text: str) -> None:
        """A refused axis edit's sentence; "" takes back the last one (other notes stay)."""
        if text:
            self.show_note(text)
        elif self.status.text().endswith(self.axis_message) and self.axis_message:
            self.show_note()
        self.axis_message = text


def _drag_state(dragger: AxisDragger | None) -> dict[str, Any] | None:
    """The axis end point being dragged (lesion id, which, end, live length and label)."""
    d = None if dragger is None else dragger.drag
    if d is None:
        return None
    return {"lesion_id": d.mark.lesion_id, "which": d.mark.which, "end": d.end,
            "length_mm": d.length_mm, "label": dragger.label_text()}  # type: ignore[union-attr]


def _as_label_map(labels: Volume) -> Volume:
    """``labels`` with a label table (so the viewer state treats it as an overlay)."""
    if labels.labels is not None:
        return labels
    values = [int(v) for v in np.unique(labels.array) if v > 0]
    return labels.with_array(labels.array, labels=LabelTable.for_values(values))


class _ChangeRelay(QObject):
    """Queued hop from the thread that changed the workspace to the UI thread."""

    changed = Signal()


class TimepointViews(QWidget):
    """2 or 3 timepoints of a workspace side by side, synchronised in patient space."""

    pointPicked = Signal(int, object)  # noqa: N815 - timepoint index, LPS point the reader clicked

    #: Set by the window: why the reader's axis drags cannot be committed now ("" when they
    #: can), e.g. while the report is being exported on a worker thread.
    axis_edit_guard: Callable[[], str] | None = None

    def __init__(self, workspace: LongitudinalWorkspace, parent: QWidget | None = None, *,
                 timepoints: Sequence[int] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timepoint-views")
        self.workspace = workspace
        self.selected_lesion: str | None = None
        self._loader = ScanLoader(workspace.report, workspace.out_dir)
        self._runner = JobRunner(self, max_threads=3)  # one per column: each shows its first slice early
        self._columns: dict[int, _Column] = {}
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._syncing = False
        self._last: tuple[Any, ...] | None = None  # ("lesion", id) or ("point", t, lps)
        self._mm: float | None = None  # the shared zoom; None: each column fitted
        self.plane = VIEW_ID  # every column shows this plane (PLANES)
        #: whether the views show their on-image text (corner texts, scale bar); the
        #: window keeps it equal to the viewer's View > On-image text
        self.overlay_text_visible = True
        self._closed = False
        me = weakref.ref(self)

        # the workspace may notify from a worker thread (the report export): the relay's
        # signal brings the refresh to this widget's (the UI) thread
        self._relay = _ChangeRelay(self)
        self._relay.changed.connect(self._refresh_if_open)

        def on_change(_change: object) -> None:
            view = me()
            if view is not None and isValid(view) and not view._closed:
                view._relay.changed.emit()

        self._unsubscribe = workspace.subscribe(on_change)
        self.set_timepoints(default_timepoints(workspace.report) if timepoints is None
                            else timepoints)

    def _refresh_if_open(self) -> None:
        if not self._closed:
            self.refresh()

    # --- columns ----------------------------------------------------------------------------
    @property
    def timepoints(self) -> tuple[int, ...]:
        """The timepoints shown, left to right."""
        return tuple(self._columns)

    def set_timepoints(self, timepoints: Sequence[int]) -> None:
        """Show these timepoints (timeline order; unknown ones raise ``ValueError``);
        columns already shown are kept, new ones load in the background."""
        known = {tp.index for tp in self.workspace.report.timeline.timepoints}
        wanted = sorted({int(t) for t in timepoints})
        unknown = [t for t in wanted if t not in known]
        if unknown:
            raise ValueError(f"no timepoint {', '.join(str(t + 1) for t in unknown)} in this "
                             "report")
        old = self._columns
        for t, col in old.items():
            if t not in wanted:
                col.close_column()
                self._layout.removeWidget(col)
                col.hide()
                col.deleteLater()
        self._columns = {}
        for t in wanted:
            col = old.get(t)
            if col is None:
                col = _Column(self, t, timepoint_title(self.workspace.report, t))
                self._start_load(col)
            self._columns[t] = col
            self._layout.removeWidget(col)
            self._layout.addWidget(col, 1)

    def _start_load(self, col: _Column) -> None:
        problem = self._loader.source_problem(col.timepoint)
        if problem:
            col.fail(problem)
            return
        t, loader = col.timepoint, self._loader
        label = timepoint_label(self.workspace.report, t)

        def run(ctx) -> TimepointImages:  # noqa: ANN001 - a JobContext, on a worker thread
            return loader.load(t, progress=ctx.progress, cancel=ctx.cancelled, phase=ctx.emit,
                               on_partial=ctx.emit, first_point=lambda: col.focus_lps)

        def current() -> bool:
            return not self._closed and self._columns.get(t) is col and not col.closed

        col.focus_lps = self._focus_of(col)
        col.job = self._runner.submit(
            f"loading timepoint {t + 1}", run,
            on_done=lambda images: current() and self._all_read(col, images),
            on_error=lambda exc: current() and col.fail(
                f"The scan of {label} cannot be shown: {exc}"),
            on_cancel=lambda: current() and col.fail("Loading was cancelled."),
            on_partial=lambda item: current() and self._partial(col, item),
            on_progress=lambda done, total: current() and col.set_progress(done, total))

    def _partial(self, col: _Column, item: object) -> None:
        """A phase of the column's load, or more of its scan read."""
        if not isinstance(item, PartialImages):
            col.set_phase(item)
        elif not col.loaded:
            col.filled = item.filled
            self._loaded(col, item.images)
        elif col.images is not None and col.images.volume is item.images.volume:
            col.more_read(item.filled)
        else:  # the read started again into a wider type: a new volume
            self._replace(col, item.images)
            col.more_read(item.filled)

    def _all_read(self, col: _Column, images: TimepointImages) -> None:
        col.job = None
        if not col.loaded:  # not progressive (e.g. a mosaic, a resampled stack)
            col.filled = None
            self._loaded(col, images)
        elif col.images is None or col.images.volume is not images.volume:
            self._replace(col, images)
        else:  # the label map is read after the scan: its outlines come now
            col.images = images
            col.note = images.note
            if images.labels is not None:
                try:
                    col.add_labels(images.labels)
                except (IntervalError, ValueError) as exc:
                    col.note = f"The lesion outlines cannot be drawn: {exc}"
        col.all_read()

    def _replace(self, col: _Column, images: TimepointImages) -> None:
        """Show ``images`` in place of the column's partial scan (same place and zoom)."""
        centre, mm = col.view_centre(), col.mm_per_pixel()
        point = col.crosshair()
        layer = col.image_layer()
        col.close_view()
        self._loaded(col, images)
        col.state.set_window(SCAN_ID, layer.window.center, layer.window.width)  # type: ignore[union-attr]
        col.place(point, centre, mm)

    def _focus_of(self, col: _Column) -> tuple[float, float, float] | None:
        """Where the column will show first: the selected lesion, or the point the reader
        went to (mapped to its timepoint); None: not known yet."""
        last = self._last
        try:
            if last is not None and last[0] == "lesion":
                row = self._row(last[1])
                focus = lesion_focus(row, col.timepoint, self.workspace.point_in) if row else None
                return tuple(focus[0]) if focus is not None else None  # type: ignore[return-value]
            if last is not None and last[0] == "point":
                p = self.workspace.point_in(col.timepoint, last[2], last[1])
                return tuple(float(x) for x in p)  # type: ignore[return-value]
        except IntervalError:
            return None
        return None

    def _loaded(self, col: _Column, images: TimepointImages) -> None:
        try:
            col.show_images(images)
        except (IntervalError, ValueError) as exc:
            label = timepoint_label(self.workspace.report, col.timepoint)
            col.fail(f"The scan of {label} cannot be shown: {exc}")
            return
        col.set_marks(axis_marks(self.workspace.report, self.workspace.rows(), col.timepoint))
        others = [c for c in self._columns.values() if c.loaded and c is not col]
        self._syncing = True
        try:
            if others:  # the same window and zoom as the columns already shown
                ref = others[0]
                layer = ref.image_layer()
                col.state.set_window(SCAN_ID, layer.window.center, layer.window.width)  # type: ignore[union-attr]
                col.state.set_invert(SCAN_ID, layer.invert)  # type: ignore[union-attr]
            last = self._last
            row = self._row(last[1]) if last is not None and last[0] == "lesion" else None
            if row is not None:
                self._place_lesion(col, row, self._mm)
            elif last is not None and last[0] == "point":
                self._place_mapped(col, last[1], last[2], None)
            elif others:
                self._sync_pair(others[0], col)
        finally:
            self._syncing = False

    # --- public actions -------------------------------------------------------------------
    def set_plane(self, plane: str) -> None:
        """Show every column in ``plane`` ("axial", "coronal" or "sagittal"; others raise
        ``ValueError``), on the same anatomy as before (the selected lesion, else the
        crosshair).  The RECIST axes, measured on axial slices, are drawn in axial only."""
        if plane not in PLANES:
            raise ValueError(f"unknown plane {plane!r}; use " + ", ".join(PLANES))
        if plane == self.plane:
            return
        self.plane = plane
        self._mm = None  # each plane fits its own field of view
        for col in self._columns.values():
            col.set_plane(plane)
        last = self._last
        if last is not None and last[0] == "lesion":
            self.show_lesion(last[1])
        else:
            ref = next((c for c in self._columns.values() if c.loaded), None)
            if ref is not None:
                self.go_to(ref.timepoint, tuple(ref.crosshair()))

    def set_overlay_text_visible(self, visible: bool) -> None:
        """Show or hide the on-image text (corner texts and scale bar) of every column,
        now and in the views made later (a scan loaded, a plane switched)."""
        self.overlay_text_visible = bool(visible)
        for col in self._columns.values():
            if col.view is not None:
                col.view.set_overlay_text_visible(self.overlay_text_visible)

    def show_lesion(self, lesion_id: str) -> None:
        """Centre every column on ``lesion_id`` (its centroid where it is seen, else the
        point mapped from where it is) and draw its axes highlighted; an unknown id
        changes nothing."""
        row = self._row(lesion_id)
        if row is None:
            return
        self.selected_lesion = lesion_id
        self._last = ("lesion", lesion_id)
        self._syncing = True
        try:
            for col in self._columns.values():
                if col.loaded:
                    self._place_lesion(col, row, self._mm)
                else:  # its load reads that slice first, if it has not begun yet
                    col.focus_lps = self._focus_of(col)
        finally:
            self._syncing = False

    def _row(self, lesion_id: str) -> LesionRow | None:
        return next((r for r in self.workspace.rows() if r.lesion_id == lesion_id), None)

    def _place_lesion(self, col: _Column, row: LesionRow, mm: float | None) -> None:
        focus = lesion_focus(row, col.timepoint, self.workspace.point_in)
        if focus is None:
            col.show_note(f"{row.name} cannot be placed at this timepoint.")
            return
        point, seen = focus
        col.place(point, point, mm)
        col.show_note("" if seen else f"{row.name} is not seen here: the crosshair shows "
                      "where it would be.")
        col.update_axes()

    def go_to(self, timepoint: int, lps: Sequence[float]) -> None:
        """Crosshair of ``timepoint``'s column to ``lps`` (its LPS), every other column to
        the same anatomy (``workspace.point_in``), at the same place on screen."""
        p = tuple(float(x) for x in np.asarray(lps, dtype=np.float64).reshape(3))
        self._last = ("point", int(timepoint), p)
        src = self._columns.get(int(timepoint))
        self._syncing = True
        try:
            if src is not None and src.loaded:
                src.place(p)
                src.show_note()
                for col in self._columns.values():
                    if col is not src and col.loaded:
                        self._sync_pair(src, col)
            else:
                for col in self._columns.values():
                    if col.loaded:
                        self._place_mapped(col, int(timepoint), p, None)
            for col in self._columns.values():
                if not col.loaded:
                    col.focus_lps = self._focus_of(col)
        finally:
            self._syncing = False

    def refresh(self) -> None:
        """Redraw the axes of every column from the workspace's current lesions."""
        rows = self.workspace.rows()
        for col in self._columns.values():
            if col.loaded:
                col.set_marks(axis_marks(self.workspace.report, rows, col.timepoint))

    def wait_loaded(self, timeout_s: float = 60) -> bool:
        """Process events until every column has its whole scan (True) or one failed or the
        time ran out (False)."""
        return self._wait(lambda c: c.complete, timeout_s)

    def wait_first_frames(self, timeout_s: float = 60) -> bool:
        """Process events until every column shows its image, perhaps still reading the
        rest of the scan (True), or one failed or the time ran out (False)."""
        return self._wait(lambda c: c.settled, timeout_s)

    def _wait(self, done: Callable[[_Column], bool], timeout_s: float) -> bool:
        app = QApplication.instance()
        end = time.monotonic() + float(timeout_s)
        while not all(done(c) for c in self._columns.values()):
            if time.monotonic() > end:
                return False
            app.processEvents()
            time.sleep(0.005)
        app.processEvents()
        return all(c.loaded for c in self._columns.values())

    def column_state(self, timepoint: int) -> dict[str, Any]:
        """One column's state (for tests and the window): ``slice_index`` (array k),
        ``center_lps`` (crosshair), ``center_voxel`` ``(k, j, i)``, ``loaded``, and
        ``message`` (why there is no image, or a note), ``mm_per_pixel``, ``window``
        ``(center, width)``, ``axes`` (the axis items: lesion id, which, visible, solid,
        length), ``drag`` (the axis end point being dragged: lesion id, which, end, live
        length and label; None when none is)."""
        col = self._columns[int(timepoint)]
        if not col.loaded:
            return {"slice_index": None, "center_lps": None, "center_voxel": None,
                    "loaded": False, "message": col.failed or col.status.text(),
                    "mm_per_pixel": None, "window": None, "axes": [], "drag": None}
        kji = col.center_voxel()
        wl = col.image_layer().window
        return {
            "slice_index": kji[0],
            "center_lps": tuple(float(x) for x in col.crosshair()),
            "center_voxel": kji,
            "loaded": True,
            "plane": col.plane,
            "message": col.status.text() if col.status.isVisibleTo(col) else "",
            "mm_per_pixel": col.mm_per_pixel(),
            "window": (wl.center, wl.width),
            "axes": [{"lesion_id": a.mark.lesion_id, "which": a.mark.which,
                      "visible": bool(a.actor.GetVisibility()),
                      "solid": a.actor.GetProperty().GetOpacity() >= 1.0,
                      "length_mm": a.mark.length_mm} for a in col.axes],
            "drag": _drag_state(col.dragger),
        }

    def view(self, timepoint: int) -> MprView | None:
        """The view of ``timepoint``'s column (None until its scan is loaded)."""
        col = self._columns.get(int(timepoint))
        return None if col is None else col.view

    def close_views(self) -> None:
        """Stop loading, stop following the workspace and release the views' resources
        (call before the window closes)."""
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        self._runner.shutdown()
        for col in self._columns.values():
            col.close_column()

    def closeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        self.close_views()
        super().closeEvent(event)

    # --- synchronisation ------------------------------------------------------------------
    def _column_clicked(self, col: _Column) -> None:
        p = tuple(float(x) for x in col.crosshair())
        self.go_to(col.timepoint, p)
        self.pointPicked.emit(col.timepoint, p)

    def _column_moved(self, col: _Column) -> None:
        """A slice step, zoom or pan in ``col``: the others follow."""
        if self._syncing or self._closed:
            return
        self._syncing = True
        try:
            for other in self._columns.values():
                if other is not col and other.loaded:
                    self._sync_pair(col, other)
        finally:
            self._syncing = False

    def _column_resized(self, col: _Column) -> None:
        """A column got its size (or a new one): keep the shared mm per pixel and its
        centre (the view state's zoom is relative to the fitted view, which changed)."""
        mm = col.pending_mm or self._mm
        if mm is None or self._closed or not col.sized:
            return
        self._syncing = True
        try:
            col.set_mm_per_pixel(mm)
        finally:
            self._syncing = False

    def _column_window(self, col: _Column) -> None:
        if self._syncing or self._closed:
            return
        layer = col.image_layer()
        self._syncing = True
        try:
            for other in self._columns.values():
                if other is not col and other.loaded:
                    other.state.set_window(SCAN_ID, layer.window.center, layer.window.width,  # type: ignore[union-attr]
                                           layer.window.name)
                    other.state.set_invert(SCAN_ID, layer.invert)  # type: ignore[union-attr]
        finally:
            self._syncing = False

    def _sync_pair(self, src: _Column, dst: _Column) -> None:
        """``dst`` shows the anatomy of ``src``'s crosshair at the same place on screen,
        at the same mm per pixel."""
        p = src.crosshair()
        offset = src.view_centre() - p
        sv = src.view.slice_view  # type: ignore[union-attr]
        offset = float(offset @ sv.right) * sv.right + float(offset @ sv.up) * sv.up
        if src.sized:
            self._mm = src.mm_per_pixel()
        self._place_mapped(dst, src.timepoint, p, (offset, self._mm))

    def _place_mapped(self, dst: _Column, from_t: int, p: Sequence[float],
                      view: tuple[np.ndarray, float | None] | None) -> None:
        try:
            q = np.asarray(self.workspace.point_in(dst.timepoint, p, from_timepoint=from_t))
        except IntervalError as exc:
            dst.show_note(f"This timepoint cannot follow the others: {exc}")
            return
        if view is None:
            dst.place(q, q)
        else:
            offset, mm = view
            dst.place(q, q + offset, mm)
        dst.show_note()
