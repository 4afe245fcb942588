"""The 3-D view: volume rendering of the active image and surfaces of label maps.

A Qt widget observing :class:`~interval.core.viewer_state.ViewerState`; it keeps no
state of its own except the chosen preset, the quality and the camera.

* **Never blocks the UI.**  Everything heavy is prepared on worker threads
  (:mod:`interval.ui.view_3d_prep`: numpy and VTK filters, which release the GIL)
  while the view shows "Preparing 3-D…", and only when the view is shown; results
  are picked up on the UI thread, which only does the cheap part (wrapping arrays,
  adding actors).  A result whose volume or layer has changed meanwhile is dropped
  (and its job cancelled).  OpenGL work (the 3-D texture upload and ray casting)
  has to stay on the UI thread; it is kept short by the next point.
* **Volume**: ``vtkOpenGLGPUVolumeRayCastMapper`` (GPU ray casting; on a machine
  without a GPU, Mesa llvmpipe runs it on the CPU) on the active image.  Quality
  "Fast" (default) renders a block-averaged copy within
  :data:`~interval.ui.view_3d_prep.VOLUME_BUDGET` voxels (16 Mi: a 512x512x400 CT
  becomes 256x256x200 at 1.4x1.4x2.5 mm), or :data:`SOFTWARE_VOLUME_BUDGET` (4 Mi)
  on a software OpenGL, placed on the same physical region; volumes within the
  budget are wrapped without a copy.  "Full" wraps the full array.
  On a software OpenGL (llvmpipe) large volumes are ray cast with adaptive image
  and ray sample distances aiming at ~6 frames a second.
  Transfer functions come from :mod:`interval.ui.volume_presets` (CT presets in HU;
  a grey ramp over the layer's window for other modalities).
* **Label maps**: one surface per label value (``vtkDiscreteFlyingEdges3D`` on all
  values at once, lightly smoothed with ``vtkWindowedSincPolyDataFilter``, split per
  label) from a grid of at most :data:`~interval.ui.view_3d_prep.LABEL_BUDGET`
  voxels, coloured from the layer's :class:`LabelTable`, visible when the layer and
  the label are (colour and visibility changes are instant: no rebuild).  Surfaces
  are built when the view is first shown.
* **Geometry**: the world is patient LPS millimetres.  Every image is wrapped on an
  identity grid (origin 0, spacing only) and placed by its prop's user matrix
  ``[direction | origin]``, so the mapper honours the direction matrix and label
  maps on other grids land where they physically are.
* **Camera**: anterior view (patient's left on screen right, head up) after a reset;
  trackball rotation (left drag), zoom (right drag / wheel), pan (middle drag).
  An annotated orientation cube (L/R, A/P, S/I) sits in the lower-left corner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from vtkmodules.vtkCommonCore import vtkCommand
from vtkmodules.vtkCommonDataModel import vtkPiecewiseFunction, vtkPolyData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkColorTransferFunction,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkTextActor,
    vtkVolume,
    vtkVolumeProperty,
)
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkOpenGLGPUVolumeRayCastMapper

from interval.core.errors import Cancelled
from interval.core.labels import LabelTable
from interval.core.viewer_state import (
    ActiveVolumeChanged,
    ImageLayer,
    LabelLayer,
    LayerChanged,
    LayersReordered,
    ViewerState,
    VolumeEvent,
)
from interval.core.volume import Volume
from interval.ui.status_info import may_be_hu
from interval.ui.view_3d_prep import (
    LABEL_BUDGET,
    VOLUME_BUDGET,
    build_label_surfaces,
    label_surfaces,
    local_image,
    present_labels,
    reduced_volume,
)
from interval.ui.volume_presets import (
    CT_PRESETS,
    DEFAULT_CT_PRESET,
    VolumePreset,
    ct_preset,
    ramp_preset,
)
from interval.ui.vtk_image import mark_modified
from interval.ui.vtk_widget import VtkWidget

__all__ = [
    "BACKGROUND",
    "PREPARING_TEXT",
    "QUALITIES",
    "View3D",
    "label_surfaces",
    "placement_matrix",
    "present_labels",
]

log = logging.getLogger(__name__)

BACKGROUND = (0.07, 0.07, 0.09)
AUTO_PRESET_TEXT = "Auto"  # CT bone for CT, a grey ramp over the window otherwise
RESET_ZOOM = 1.3  # ResetCamera fits the bounding sphere, which leaves wide margins
MARKER_PIXELS = 80  # orientation cube viewport edge (at most a quarter of the view)
PREPARING_TEXT = "Preparing 3-D…"
COLOUR_3D_TEXT = "Colour image: no 3-D rendering"
QUALITIES = ("Fast", "Full")  # Fast: within VOLUME_BUDGET voxels; Full: every voxel
# On a software OpenGL (no GPU), volumes above this many voxels are ray cast with
# adaptive sampling aiming at SOFTWARE_FRAME_RATE frames a second (VTK's automatic
# image and ray sample distances, as Slicer's "Adaptive" quality): every 3-D frame
# is drawn on the UI thread, and llvmpipe takes 0.6-1.5 s for a full-quality one.
SOFTWARE_FAST_VOXELS = 1 << 20
# Fast quality on a software OpenGL renders at most this many voxels: llvmpipe's 3-D
# texture upload (the first frame of a volume, on the UI thread) grows with them.
SOFTWARE_VOLUME_BUDGET = 1 << 22
SOFTWARE_FRAME_RATE = 6.0
SOFTWARE_MAX_IMAGE_SAMPLE_DISTANCE = 4.0
SOFTWARE_FIRST_IMAGE_SAMPLE_DISTANCE = 2.0
# Label maps are surfaced from at most this many voxels on a software OpenGL: llvmpipe
# needs ~220 bytes of host memory per triangle drawn (its binned scene), and a bone
# label of the 512x512x400 CT gives ~0.65 M triangles on the 16 Mi grid, ~0.28 M on
# a 4 Mi one, ~0.15 M on this 2 Mi one (every 4th voxel in-plane, 2.8 mm).
SOFTWARE_LABEL_BUDGET = 1 << 21
_STILL_RATE = 0.0001  # VTK's default "still" update rate: full quality, however long
_SOFTWARE_GL = ("llvmpipe", "softpipe", "swiftshader", "software rasterizer")
_POLL_MS = 15  # how often finished background work is looked for (only while some runs)


def placement_matrix(volume: Volume) -> vtkMatrix4x4:
    """Index-grid (spacing-scaled, origin 0) to LPS: ``[direction | origin]``."""
    m = vtkMatrix4x4()
    d = np.asarray(volume.direction, dtype=np.float64).reshape(3, 3)
    for r in range(3):
        for c in range(3):
            m.SetElement(r, c, float(d[r, c]))
        m.SetElement(r, 3, float(volume.origin[r]))
    return m


class _Background(QObject):
    """Functions run on a private thread pool; results polled on the UI thread.

    Plain Python threads (no ``QRunnable``, no cross-thread signals): a timer on the UI
    thread, running only while jobs are pending, hands each result to its callback.
    A cancelled job's result is dropped, and a job lets go of its inputs (volumes) as
    soon as it has run.  The functions get ``cancel=`` (a callable that says whether
    to stop) and should check it between stages.
    """

    def __init__(self, parent: QObject, max_threads: int = 2) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_threads, thread_name_prefix="interval-3d")
        self._jobs: dict[int, tuple[Future, threading.Event, Callable, Callable]] = {}
        self._next = 0
        self._timer = QTimer(self)
        self._timer.setInterval(_POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.closed = False

    def submit(self, name: str, fn: Callable, args: tuple, on_done: Callable,
               on_fail: Callable) -> int:
        """Run ``fn(*args, cancel=...)``; ``on_done(result)`` or ``on_fail()`` on the UI
        thread.  Returns a key for :meth:`cancel`."""
        self._next += 1
        key = self._next
        stop = threading.Event()
        future = self._pool.submit(_run, name, fn, args, stop)
        self._jobs[key] = (future, stop, on_done, on_fail)
        self._timer.start()
        return key

    def _poll(self) -> None:
        for key in [k for k, entry in self._jobs.items() if entry[0].done()]:
            future, _stop, on_done, on_fail = self._jobs.pop(key)
            if self.closed:
                continue
            error = future.exception()
            if error is None:
                on_done(future.result())
            elif not isinstance(error, Cancelled):
                on_fail()
        if not self._jobs:
            self._timer.stop()

    def cancel(self, key: int | None) -> None:
        """Stop job ``key`` (a queued one never starts) and drop its result."""
        entry = self._jobs.pop(key, None) if key is not None else None
        if entry is not None:
            entry[1].set()
            entry[0].cancel()

    def shutdown(self) -> None:
        """Cancel everything and wait for the running functions to stop."""
        self.closed = True
        self._timer.stop()
        for key in list(self._jobs):
            self.cancel(key)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _run(name: str, fn: Callable, args: tuple, stop: threading.Event) -> object:
    """A job on a pool thread (its errors are logged here and reported as a failure)."""
    if stop.is_set():
        raise Cancelled()
    try:
        return fn(*args, cancel=stop.is_set)
    except Cancelled:
        raise
    except Exception:
        log.exception("3-D view: %s failed", name)
        raise


class _LabelSurfaces:
    """The actors of one label layer, built on a worker thread on first use."""

    def __init__(self, volume: Volume) -> None:
        self.volume = volume
        self.actors: dict[int, vtkActor] = {}
        self.job: int | None = None  # key of the background build
        self.built = False  # actors added (possibly none: an empty label map)

    @property
    def pending(self) -> bool:
        return self.job is not None and not self.built

    def start(  # noqa: ANN001
        self, runner: _Background, table: LabelTable, budget: int, on_done
    ) -> None:
        """Extract the surfaces in the background; ``on_done(key, result)`` on the UI
        thread with ``(grid, {value: polydata})`` (None when the build failed)."""
        values = [info.value for info in table]
        key = self.job = runner.submit(
            "building label surfaces",
            build_label_surfaces,
            (self.volume, values, budget),
            lambda result: on_done(key, result),
            lambda: on_done(key, None),
        )

    def add_actors(
        self, renderer: vtkRenderer, grid: Volume, polys: dict[int, vtkPolyData]
    ) -> None:
        self.built = True
        self.job = None
        matrix = placement_matrix(grid)
        for value, poly in polys.items():
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(poly)
            mapper.ScalarVisibilityOff()
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.SetUserMatrix(matrix)
            prop = actor.GetProperty()
            prop.SetAmbient(0.1)
            prop.SetDiffuse(0.8)
            prop.SetSpecular(0.2)
            prop.SetSpecularPower(20.0)
            renderer.AddActor(actor)
            self.actors[value] = actor

    def update(self, layer: LabelLayer) -> None:
        for value, actor in self.actors.items():
            info = layer.labels.get(value)
            actor.SetVisibility(bool(layer.visible and info is not None and info.visible))
            if info is not None:
                actor.GetProperty().SetColor(*(c / 255.0 for c in info.color))

    def remove(self, renderer: vtkRenderer, runner: _Background) -> None:
        runner.cancel(self.job)
        self.job = None
        for actor in self.actors.values():
            renderer.RemoveActor(actor)
        self.actors.clear()


def _orientation_cube() -> vtkAnnotatedCubeActor:
    """A cube labelled with patient directions in LPS (+x = L, +y = P, +z = S)."""
    cube = vtkAnnotatedCubeActor()
    for setter, text in (
        (cube.SetXPlusFaceText, "L"),
        (cube.SetXMinusFaceText, "R"),
        (cube.SetYPlusFaceText, "P"),
        (cube.SetYMinusFaceText, "A"),
        (cube.SetZPlusFaceText, "S"),
        (cube.SetZMinusFaceText, "I"),
    ):
        setter(text)
    cube.SetFaceTextScale(0.65)
    cube.GetCubeProperty().SetColor(0.75, 0.78, 0.85)
    cube.GetTextEdgesProperty().SetColor(0.3, 0.3, 0.3)
    for prop, rgb in (
        (cube.GetXPlusFaceProperty(), (0.85, 0.2, 0.2)),
        (cube.GetXMinusFaceProperty(), (0.85, 0.2, 0.2)),
        (cube.GetYPlusFaceProperty(), (0.2, 0.7, 0.2)),
        (cube.GetYMinusFaceProperty(), (0.2, 0.7, 0.2)),
        (cube.GetZPlusFaceProperty(), (0.2, 0.3, 0.9)),
        (cube.GetZMinusFaceProperty(), (0.2, 0.3, 0.9)),
    ):
        prop.SetColor(*rgb)
    return cube


class View3D(QWidget):
    """Volume rendering of the active image plus label-map surfaces, observing ``state``."""

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.vtk = VtkWidget(self)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        self._quality = QUALITIES[0]
        self.toolbar = self._make_toolbar()
        box.addWidget(self.toolbar)
        box.addWidget(self.vtk, 1)
        self._runner = _Background(self, max_threads=1)  # 2 cores: one for the UI

        rw = self.vtk.GetRenderWindow()
        rw.SetNumberOfLayers(2)
        self.renderer = self.vtk.add_renderer()
        self.renderer.SetBackground(*BACKGROUND)
        self._marker_renderer = vtkRenderer()
        self._marker_renderer.SetLayer(1)
        self._marker_renderer.InteractiveOff()
        self._marker_renderer.AddActor(_orientation_cube())
        self._busy_text = vtkTextActor()
        self._busy_text.SetInput(PREPARING_TEXT)
        tp = self._busy_text.GetTextProperty()
        tp.SetFontSize(16)
        tp.SetColor(0.85, 0.85, 0.85)
        tp.SetJustificationToCentered()
        tp.SetVerticalJustificationToCentered()
        self._busy_text.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self._busy_text.SetPosition(0.5, 0.5)
        self._busy_text.VisibilityOff()
        self.renderer.AddViewProp(self._busy_text)
        rw.AddRenderer(self._marker_renderer)
        self._style = vtkInteractorStyleTrackballCamera()
        self.vtk.SetInteractorStyle(self._style)

        self._property = vtkVolumeProperty()
        self._property.SetInterpolationTypeToLinear()
        self._prop = vtkVolume()
        self._mapper: vtkOpenGLGPUVolumeRayCastMapper | None = None
        self._new_mapper()
        self._prop.SetProperty(self._property)
        self._prop.VisibilityOff()
        self.renderer.AddVolume(self._prop)
        self._volume_on = True

        self._volume_id: str | None = None
        self._shown: Volume | None = None  # the volume (maybe reduced) given to the mapper
        self._source: Volume | None = None  # the state's (3-D) volume to be shown
        self._volume_job: int | None = None  # key of the background reduction
        self._volume_failed = False
        self._volume_gen = 0  # bumped whenever the wanted volume changes
        self._rendered = False  # the mapper has drawn its current input
        self._software_gl: bool | None = None
        self._image = None  # the vtkImageData wrapping the shown volume's array
        self._preset_name: str | None = None  # None: automatic (CT bone / grey ramp)
        self._preset: VolumePreset | None = None
        self._surfaces: dict[str, _LabelSurfaces] = {}
        self._camera_pending = True
        self._closed = False
        self._marker_observer = self.renderer.AddObserver(
            vtkCommand.StartEvent, lambda *_: self._sync_marker()
        )
        self._end_observer = self.renderer.AddObserver(
            vtkCommand.EndEvent, lambda *_: self._after_render()
        )

        ev = state.events
        ev.volumes.connect(self._on_volumes)
        ev.layers.connect(self._on_layers)
        ev.layer.connect(self._on_layer)
        ev.active_volume.connect(self._on_active)
        self._sync()

    def _make_toolbar(self) -> QWidget:
        """A slim bar: preset and quality choosers, reset-camera button."""
        bar = QWidget(self)
        bar.setObjectName("view3d-bar")
        bar.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        bar.setStyleSheet("#view3d-bar { background: #17171c; } QLabel { color: #d8d8d8; }")
        row = QHBoxLayout(bar)
        row.setContentsMargins(4, 2, 4, 2)
        row.setSpacing(4)
        title = QLabel("3-D", bar)
        # in a narrow 2x2 cell the controls need the room more than the title: it goes first
        title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        title.setMinimumWidth(0)
        row.addWidget(title)
        self.preset_box = QComboBox(bar)
        self.preset_box.setToolTip("Volume rendering preset (Auto: CT bone for CT, else grey)")
        self.preset_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.preset_box.setMinimumContentsLength(6)
        self.preset_box.addItem(AUTO_PRESET_TEXT, None)
        for name in CT_PRESETS:
            self.preset_box.addItem(name, name)
        self.preset_box.currentIndexChanged.connect(
            lambda i: self.set_preset(self.preset_box.itemData(i))
        )
        row.addWidget(self.preset_box)
        self.quality_box = QComboBox(bar)
        self.quality_box.setToolTip(
            "Fast: large volumes are rendered from a reduced copy (at most "
            f"{VOLUME_BUDGET // 2**20} M voxels); Full: every voxel (slow without a GPU)"
        )
        for name in QUALITIES:
            self.quality_box.addItem(name, name)
        self.quality_box.currentIndexChanged.connect(
            lambda i: self.set_quality(self.quality_box.itemData(i))
        )
        row.addWidget(self.quality_box)
        self.volume_button = QToolButton(bar)
        self.volume_button.setText("Volume")
        self.volume_button.setCheckable(True)
        self.volume_button.setChecked(True)
        self.volume_button.setToolTip(
            "Show the volume rendering; off: label surfaces alone (e.g. lesions inside organs)"
        )
        self.volume_button.toggled.connect(self.set_volume_rendering)
        row.addWidget(self.volume_button)
        reset = QToolButton(bar)
        reset.setText("Reset")
        reset.setToolTip("Reset the 3-D camera (front view)")
        reset.clicked.connect(lambda: (self.reset_camera(), self.request_render()))
        row.addWidget(reset)
        row.addStretch(1)
        # a narrow 3-D view may clip the bar rather than grow to fit it
        bar.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        return bar

    # --- public ------------------------------------------------------------------------
    @staticmethod
    def preset_names() -> tuple[str, ...]:
        """The CT volume-rendering presets offered to the user."""
        return tuple(CT_PRESETS)

    @property
    def preset(self) -> VolumePreset | None:
        """The transfer function in use (None when no image is shown)."""
        return self._preset

    @property
    def preset_name(self) -> str | None:
        """The chosen CT preset, or None for automatic (CT bone for CT, else a grey ramp)."""
        return self._preset_name

    def set_preset(self, name: str | None) -> None:
        """Use the CT preset ``name`` (see :meth:`preset_names`), or None for automatic."""
        self._preset_name = None if name is None else ct_preset(name).name
        index = self.preset_box.findData(self._preset_name) if self._preset_name else 0
        if index >= 0 and index != self.preset_box.currentIndex():
            self.preset_box.blockSignals(True)
            self.preset_box.setCurrentIndex(index)
            self.preset_box.blockSignals(False)
        self._apply_preset()
        self.request_render()

    @property
    def quality(self) -> str:
        """``"Fast"`` (large volumes reduced to the voxel budget) or ``"Full"``."""
        return self._quality

    def set_quality(self, quality: str) -> None:
        """Render large volumes from a reduced copy (``"Fast"``) or in full (``"Full"``)."""
        if quality not in QUALITIES:
            raise ValueError(f"quality must be one of {QUALITIES}, not {quality!r}")
        index = self.quality_box.findData(quality)
        if index != self.quality_box.currentIndex():
            self.quality_box.blockSignals(True)
            self.quality_box.setCurrentIndex(index)
            self.quality_box.blockSignals(False)
        if quality == self._quality:
            return
        self._quality = quality
        camera_pending = self._camera_pending
        self._set_image(self._volume_id)
        self._camera_pending = camera_pending  # same volume, same place: keep the camera
        self.request_render()

    def refresh_volume(self) -> None:
        """The active image's array changed in place (e.g. a progressive load finished):
        redraw it, re-preparing the reduced copy when one is shown."""
        if self._source is None:
            return
        if self._shown is self._source and self._image is not None:
            mark_modified(self._image)  # wrapped without a copy: VTK re-reads it
        else:
            camera_pending = self._camera_pending
            self._set_image(self._volume_id)
            self._camera_pending = camera_pending  # same volume, same place
        self.request_render()

    def reset_camera(self) -> None:
        """Anterior view (head up, patient's left on screen right) fitting what is shown."""
        cam = self.renderer.GetActiveCamera()
        cam.SetFocalPoint(0.0, 0.0, 0.0)
        cam.SetPosition(0.0, -1.0, 0.0)  # in front of the patient (anterior is -y in LPS)
        cam.SetViewUp(0.0, 0.0, 1.0)
        self.renderer.ResetCamera()
        cam.Zoom(RESET_ZOOM)
        self.renderer.ResetCameraClippingRange()
        self._camera_pending = False

    def rotate(self, azimuth: float = 0.0, elevation: float = 0.0) -> None:
        """Turn the camera about the view centre (degrees), as a trackball drag would."""
        cam = self.renderer.GetActiveCamera()
        cam.Azimuth(azimuth)
        cam.Elevation(elevation)
        cam.OrthogonalizeViewUp()
        self.renderer.ResetCameraClippingRange()
        self.request_render()

    @property
    def volume_id(self) -> str | None:
        """The image volume being rendered (or prepared)."""
        return self._volume_id

    @property
    def shown_volume(self) -> Volume | None:
        """What the volume mapper renders: the active image or its reduced copy (None
        while it is being prepared, or when there is no image)."""
        return self._shown

    @property
    def render_mode(self) -> str:
        """``"gpu"`` once the volume has been ray cast (on a GPU, or llvmpipe without
        one), ``"none"`` before."""
        return "gpu" if self._rendered else "none"

    @property
    def busy(self) -> bool:
        """Whether the volume or surfaces are still to be prepared for the next render."""
        return not self.volume_ready() or any(s.pending for s in self._surfaces.values())

    def volume_ready(self) -> bool:
        """The active image (if any) is in the mapper (it appears on the next render)."""
        return self._source is None or self._shown is not None or self._volume_failed

    def surfaces_ready(self) -> bool:
        """Every label layer's surfaces are built and added."""
        return all(s.built for s in self._surfaces.values())

    def is_ready(self) -> bool:
        """Nothing is being prepared: a render now shows everything."""
        return self.volume_ready() and self.surfaces_ready()

    def request_render(self) -> None:
        """Redraw soon (only when the view is on screen)."""
        if self.isVisible() and not self._closed:
            self._prepare()
            self.vtk.Render()

    def render_now(self) -> None:
        """Start what is pending and render synchronously (without waiting for it)."""
        self._prepare()
        self.vtk.render_now()

    def capture(self) -> np.ndarray:
        """The current frame as ``(h, w, 3)`` uint8 (what is ready; "Preparing 3-D…"
        is written over the view while something is being prepared)."""
        self._prepare()
        return self.vtk.capture()

    def close_view(self) -> None:
        """Stop observing the state, stop background work, release the render window."""
        if self._closed:
            return
        self._closed = True
        ev = self.state.events
        ev.volumes.disconnect(self._on_volumes)
        ev.layers.disconnect(self._on_layers)
        ev.layer.disconnect(self._on_layer)
        ev.active_volume.disconnect(self._on_active)
        self._runner.shutdown()
        self._volume_job = None
        for surfaces in self._surfaces.values():
            surfaces.job = None
        self.renderer.RemoveObserver(self._marker_observer)
        self.renderer.RemoveObserver(self._end_observer)
        self.vtk.Finalize()

    # --- Qt ----------------------------------------------------------------------------
    def showEvent(self, event: object) -> None:  # noqa: N802  (Qt override)
        super().showEvent(event)
        self._prepare()

    # --- state -> VTK ----------------------------------------------------------------------
    def _on_volumes(self, event: VolumeEvent) -> None:
        self._sync()

    def _on_layers(self, event: LayersReordered) -> None:
        self._sync()

    def _on_active(self, event: ActiveVolumeChanged) -> None:
        self._sync()

    def _on_layer(self, event: LayerChanged) -> None:
        layer = event.layer
        if isinstance(layer, LabelLayer):
            surfaces = self._surfaces.get(layer.id)
            if surfaces is not None:
                surfaces.update(layer)
        elif isinstance(layer, ImageLayer) and layer.volume_id == self._volume_id:
            if event.what == "visible":
                self._sync_volume_visibility()
            elif event.what == "window" and (self._preset is None
                                             or self._preset.name not in CT_PRESETS):
                self._apply_preset()  # the grey ramp follows the window
        self.request_render()

    def _image_layer(self, volume_id: str) -> ImageLayer | None:
        for layer in self.state.layers:
            if isinstance(layer, ImageLayer) and layer.volume_id == volume_id:
                return layer
        return None

    def _sync(self) -> None:
        """Match the image and the label layers to the state."""
        active = self.state.active_volume_id
        if active != self._volume_id or (
            active is not None and self._wanted_source() is not self._source
        ):
            self._set_image(active)
        label_layers = {lay.id: lay for lay in self.state.layers if isinstance(lay, LabelLayer)}
        for layer_id in [lid for lid in self._surfaces if lid not in label_layers]:
            self._surfaces.pop(layer_id).remove(self.renderer, self._runner)
        for layer_id, layer in label_layers.items():
            volume = self.state.volumes.get(layer.volume_id)
            current = self._surfaces.get(layer_id)
            if volume is None:
                continue
            if current is not None and current.volume is not volume:
                current.remove(self.renderer, self._runner)
                current = None
            if current is None:
                self._surfaces[layer_id] = _LabelSurfaces(volume)
                if self._volume_id is None:
                    self._camera_pending = True
        self._update_busy_text()
        self.request_render()

    def _wanted_source(self) -> Volume | None:
        volume_id = self.state.active_volume_id
        return None if volume_id is None else self.state.volumes.get(volume_id)

    def _set_image(self, volume_id: str | None) -> None:
        """Show ``volume_id``: prepared when the view is next drawn (see :meth:`_prepare`)."""
        self._volume_id = volume_id
        self._volume_gen += 1
        self._runner.cancel(self._volume_job)
        self._volume_job = None
        self._volume_failed = False
        volume = None if volume_id is None else self.state.volumes.get(volume_id)
        self._colour_only = volume is not None and volume.is_rgb
        if self._colour_only:  # a colour image: not rendered (it says so)
            volume = None
        self._source = volume
        self._shown = None
        self._image = None
        self._prop.VisibilityOff()
        self._new_mapper()  # the old one's texture would keep the closed volume alive
        if volume is None:
            self._preset = None
            self._update_busy_text()
            return
        self._property.SetScalarOpacityUnitDistance(float(min(volume.spacing)))
        self._apply_preset()
        self._camera_pending = True
        self._update_busy_text()

    def volume_budget(self) -> int | None:
        """Voxels the volume mapper gets at most (None: every voxel, quality "Full")."""
        if self._quality == "Full":
            return None
        return SOFTWARE_VOLUME_BUDGET if self._is_software_gl() else VOLUME_BUDGET

    def _start_volume(self) -> None:
        """Give the mapper the image: at once when it is within budget, else reduce it in
        the background (the view shows "Preparing 3-D…" meanwhile)."""
        volume, budget = self._source, self.volume_budget()
        if volume is None:
            return
        if budget is None or volume.array.size <= budget:
            self._show_volume(volume)
            return
        self._volume_job = self._runner.submit(
            "preparing the 3-D volume",
            reduced_volume,
            (volume, budget),
            partial(self._volume_done, self._volume_gen),
            partial(self._volume_done, self._volume_gen, None),
        )

    def _volume_done(self, gen: int, small: Volume | None) -> None:
        """A reduced volume arrived (UI thread): show it unless it is stale."""
        if gen != self._volume_gen or self._closed:
            return  # the volume changed meanwhile: drop it
        self._volume_job = None
        if small is None:
            self._volume_failed = True  # not retried until the volume changes
        else:
            self._show_volume(small)
        self._update_busy_text()
        self.request_render()

    def _show_volume(self, shown: Volume) -> None:
        """Give ``shown`` (the image or its reduced copy) to a fresh mapper."""
        self._shown = shown
        self._image = local_image(shown)
        self._new_mapper()
        self._mapper.SetInputData(self._image)
        self._configure_sampling()
        self._prop.SetUserMatrix(placement_matrix(shown))
        self._sync_volume_visibility()

    @property
    def volume_rendering_on(self) -> bool:
        """Whether the image is volume-rendered (off: label surfaces alone, so small
        structures such as lesions are not hidden inside the rendered body)."""
        return self._volume_on

    def set_volume_rendering(self, on: bool) -> None:
        """Show or hide the volume rendering (the label surfaces stay)."""
        self._volume_on = bool(on)
        if self.volume_button.isChecked() != self._volume_on:
            self.volume_button.blockSignals(True)
            self.volume_button.setChecked(self._volume_on)
            self.volume_button.blockSignals(False)
        self._sync_volume_visibility()
        self.request_render()

    def _sync_volume_visibility(self) -> None:
        layer = self._image_layer(self._volume_id) if self._volume_id else None
        visible = self._volume_on and self._shown is not None and (layer is None or layer.visible)
        self._prop.SetVisibility(bool(visible))

    def _new_mapper(self) -> None:
        """A fresh volume mapper (the old one's textures and input copies are released)."""
        old = self._mapper
        if old is not None:
            old.ReleaseGraphicsResources(self.vtk.GetRenderWindow())
        self._mapper = vtkOpenGLGPUVolumeRayCastMapper()
        self._mapper.SetBlendModeToComposite()
        self._prop.SetMapper(self._mapper)
        self._rendered = False

    def _is_software_gl(self) -> bool:
        """Whether OpenGL is a CPU rasteriser (Mesa llvmpipe and the like)."""
        if self._software_gl is None:
            rw = self.vtk.GetRenderWindow()
            initialized = getattr(rw, "GetInitialized", None)
            if initialized is None or not initialized():
                return False  # unknown yet; asked again next time
            caps = rw.ReportCapabilities().lower()
            self._software_gl = any(name in caps for name in _SOFTWARE_GL)
        return self._software_gl

    def _configure_sampling(self) -> None:
        """Adaptive sampling for large volumes on a software OpenGL (frames are drawn on
        the UI thread); full quality otherwise."""
        shown = self._shown
        rw = self.vtk.GetRenderWindow()
        adaptive = (
            shown is not None
            and shown.array.size > SOFTWARE_FAST_VOXELS
            and self._is_software_gl()
        )
        rate = SOFTWARE_FRAME_RATE if adaptive else _STILL_RATE
        rw.SetDesiredUpdateRate(rate)
        interactor = rw.GetInteractor()
        if interactor is not None:
            interactor.SetStillUpdateRate(rate)
        if adaptive and self._mapper is not None:
            self._mapper.SetAutoAdjustSampleDistances(1)
            self._mapper.SetMaximumImageSampleDistance(SOFTWARE_MAX_IMAGE_SAMPLE_DISTANCE)
            # the first frame (which also uploads the texture) has no timing to adapt
            # to: start coarse; VTK refines from the next frame on
            self._mapper.SetImageSampleDistance(SOFTWARE_FIRST_IMAGE_SAMPLE_DISTANCE)

    def _current_preset(self) -> VolumePreset | None:
        if self._volume_id is None or self._volume_id not in self.state.volumes:
            return None
        volume = self.state.volume(self._volume_id)
        if self._preset_name is not None and may_be_hu(volume):
            return ct_preset(self._preset_name)  # (never a CT table on an MR: see below)
        if volume.metadata.modality.upper() == "CT":
            return ct_preset(DEFAULT_CT_PRESET)
        layer = self._image_layer(self._volume_id)
        if layer is None:
            from interval.core.window_presets import initial_window

            return ramp_preset(initial_window(volume))
        return ramp_preset(layer.window)

    def _sync_preset_box(self) -> None:
        """CT presets (HU) are offered for images that may be in HU; on an MR or PET the box
        shows Auto (a grey ramp over its window), the CT choice is kept for the next CT."""
        volume = None
        if self._volume_id is not None:
            volume = self.state.volumes.get(self._volume_id)
        hu = volume is None or may_be_hu(volume)
        model = self.preset_box.model()
        for i in range(1, self.preset_box.count()):
            item = model.item(i) if hasattr(model, "item") else None
            if item is not None:
                item.setEnabled(hu)
        want = self.preset_box.findData(self._preset_name) if (hu and self._preset_name) else 0
        if want >= 0 and want != self.preset_box.currentIndex():
            self.preset_box.blockSignals(True)
            self.preset_box.setCurrentIndex(want)
            self.preset_box.blockSignals(False)

    def _apply_preset(self) -> None:
        self._sync_preset_box()
        preset = self._current_preset()
        self._preset = preset
        if preset is None:
            return
        color = vtkColorTransferFunction()
        for hu, rgb in preset.colors:
            color.AddRGBPoint(hu, *rgb)
        opacity = vtkPiecewiseFunction()
        for hu, alpha in preset.opacity:
            opacity.AddPoint(hu, alpha)
        p = self._property
        p.SetColor(color)
        p.SetScalarOpacity(opacity)
        if preset.gradient_opacity:
            gradient = vtkPiecewiseFunction()
            for g, alpha in preset.gradient_opacity:
                gradient.AddPoint(g, alpha)
            p.SetGradientOpacity(gradient)
            p.DisableGradientOpacityOff()
        else:
            p.DisableGradientOpacityOn()
        p.SetShade(1 if preset.shade else 0)
        p.SetAmbient(preset.ambient)
        p.SetDiffuse(preset.diffuse)
        p.SetSpecular(preset.specular)
        p.SetSpecularPower(preset.specular_power)

    def _prepare(self) -> None:
        """Start pending preparations and place the camera (before a render)."""
        if self._closed:
            return
        if not self.volume_ready() and self._volume_job is None:
            self._start_volume()
        layers = {lay.id: lay for lay in self.state.layers if isinstance(lay, LabelLayer)}
        for layer_id, surfaces in self._surfaces.items():
            layer = layers.get(layer_id)
            if layer is None:
                continue
            if not surfaces.built and surfaces.job is None:
                budget = SOFTWARE_LABEL_BUDGET if self._is_software_gl() else LABEL_BUDGET
                surfaces.start(self._runner, layer.labels, budget, self._surfaces_done)
            surfaces.update(layer)
        self._update_busy_text()
        if self._camera_pending and self._has_content():
            self.reset_camera()

    def _surfaces_done(self, key: int, result) -> None:  # noqa: ANN001
        """Surfaces arrived (UI thread): add their actors unless the layer changed."""
        if self._closed:
            return
        surfaces = next((s for s in self._surfaces.values() if s.job == key), None)
        if surfaces is None or surfaces.built:
            return  # removed or replaced meanwhile
        grid, polys = result if result is not None else (surfaces.volume, {})
        surfaces.add_actors(self.renderer, grid, polys)
        for layer in self.state.layers:
            if isinstance(layer, LabelLayer) and self._surfaces.get(layer.id) is surfaces:
                surfaces.update(layer)
        self._update_busy_text()
        self.request_render()

    def _has_content(self) -> bool:
        """Something visible is ready to be shown (a camera reset fits visible props)."""
        if self._shown is not None and self._prop.GetVisibility():
            return True
        return any(
            actor.GetVisibility() for s in self._surfaces.values() for actor in s.actors.values()
        )

    def _update_busy_text(self) -> None:
        colour = getattr(self, "_colour_only", False)
        text = COLOUR_3D_TEXT if colour else PREPARING_TEXT
        if self._busy_text.GetInput() != text:
            self._busy_text.SetInput(text)
        self._busy_text.SetVisibility(colour or self.busy)

    def _after_render(self) -> None:
        if self._shown is not None and self._prop.GetVisibility():
            self._rendered = True

    def _sync_marker(self) -> None:
        """Turn the orientation cube with the main camera; keep it a fixed pixel size."""
        w, h = (max(int(n), 1) for n in self.vtk.GetRenderWindow().GetSize())
        edge = min(MARKER_PIXELS, min(w, h) / 4.0)
        self._marker_renderer.SetViewport(0.0, 0.0, edge / w, edge / h)
        cam = self.renderer.GetActiveCamera()
        direction = np.asarray(cam.GetDirectionOfProjection())
        marker = self._marker_renderer.GetActiveCamera()
        marker.SetFocalPoint(0.0, 0.0, 0.0)
        marker.SetPosition(*(-4.0 * direction))
        marker.SetViewUp(*cam.GetViewUp())
        self._marker_renderer.ResetCamera()
