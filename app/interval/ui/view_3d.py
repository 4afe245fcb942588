"""The 3-D view: volume rendering of the active image and surfaces of label maps.

A Qt widget observing :class:`~interval.core.viewer_state.ViewerState`; it keeps no
state of its own except the chosen volume-rendering preset and the camera.

* **Volume**: ``vtkSmartVolumeMapper`` (GPU ray casting where OpenGL allows it, the
  CPU fixed-point ray caster otherwise) on the active image volume, wrapped without a
  copy (:mod:`interval.ui.vtk_image`).  Transfer functions come from
  :mod:`interval.ui.volume_presets` (CT presets in HU; a grey ramp over the layer's
  window for other modalities).
* **Label maps**: one surface per label value (``vtkDiscreteFlyingEdges3D`` on all
  values at once, lightly smoothed with ``vtkWindowedSincPolyDataFilter``, split per
  label), coloured from the layer's :class:`LabelTable`, visible when the layer and
  the label are.  Surfaces are built lazily, when the view is first shown.
* **Geometry**: the world is patient LPS millimetres.  Every image is wrapped on an
  identity grid (origin 0, spacing only) and placed by its prop's user matrix
  ``[direction | origin]``, so every mapper (GPU or CPU) honours the direction
  matrix the same way and label maps on other grids land where they physically are.
* **Camera**: anterior view (patient's left on screen right, head up) after a reset;
  trackball rotation (left drag), zoom (right drag / wheel), pan (middle drag).
  An annotated orientation cube (L/R, A/P, S/I) sits in the lower-left corner.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget
from vtkmodules.util.numpy_support import numpy_to_vtkIdTypeArray, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkCommand
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPiecewiseFunction, vtkPolyData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkWindowedSincPolyDataFilter
from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkColorTransferFunction,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkVolume,
    vtkVolumeProperty,
)
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

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
from interval.ui.volume_presets import (
    CT_PRESETS,
    DEFAULT_CT_PRESET,
    VolumePreset,
    ct_preset,
    ramp_preset,
)
from interval.ui.vtk_image import numpy_to_image
from interval.ui.vtk_widget import VtkWidget

BACKGROUND = (0.07, 0.07, 0.09)
AUTO_PRESET_TEXT = "Auto"  # CT bone for CT, a grey ramp over the window otherwise
RESET_ZOOM = 1.3  # ResetCamera fits the bounding sphere, which leaves wide margins
MARKER_PIXELS = 80  # orientation cube viewport edge (at most a quarter of the view)
SMOOTHING_ITERATIONS = 20
SMOOTHING_PASS_BAND = 0.01  # Slicer's default smoothing factor 0.5 (pass band = 10^(-4 f))
_CHUNK = 1 << 22  # voxels per slab when counting labels


def placement_matrix(volume: Volume) -> vtkMatrix4x4:
    """Index-grid (spacing-scaled, origin 0) to LPS: ``[direction | origin]``."""
    m = vtkMatrix4x4()
    d = np.asarray(volume.direction, dtype=np.float64).reshape(3, 3)
    for r in range(3):
        for c in range(3):
            m.SetElement(r, c, float(d[r, c]))
        m.SetElement(r, 3, float(volume.origin[r]))
    return m


def _local_image(volume: Volume):  # -> vtkImageData
    """The volume's array (no copy) on an identity grid scaled by its spacing."""
    return numpy_to_image(volume.array, volume.spacing)


def present_labels(volume: Volume, wanted: list[int]) -> list[int]:
    """Those of ``wanted`` that occur in the label map.

    Counted in slabs of ``_CHUNK`` voxels: ``np.bincount``/``np.unique`` on the whole
    array would make an int64 (8 bytes per voxel) copy of it.
    """
    a = volume.array
    if a.dtype == np.bool_:
        a = a.view(np.uint8)
    if a.size == 0 or not wanted:
        return []
    flat = a.reshape(-1)
    small = np.issubdtype(a.dtype, np.unsignedinteger) and a.dtype.itemsize <= 2
    seen: set[int] = set()
    counts = np.zeros(1 << (8 * a.dtype.itemsize), np.int64) if small else None
    for start in range(0, flat.size, _CHUNK):
        part = flat[start : start + _CHUNK]
        if counts is not None:
            counts += np.bincount(part, minlength=counts.size)
        else:
            seen.update(np.unique(part).tolist())
    if counts is not None:
        seen = {int(v) for v in np.flatnonzero(counts)}
    return [v for v in wanted if v in seen]


def label_surfaces(volume: Volume, values: list[int]) -> dict[int, vtkPolyData]:
    """Smoothed surfaces (LPS-free local grid coordinates, with normals) per label value."""
    if not values:
        return {}
    fe = vtkDiscreteFlyingEdges3D()
    fe.SetInputData(_local_image(volume))
    for n, v in enumerate(values):
        fe.SetValue(n, float(v))
    fe.ComputeGradientsOff()
    fe.ComputeNormalsOff()
    fe.ComputeScalarsOn()
    smooth = vtkWindowedSincPolyDataFilter()
    smooth.SetInputConnection(fe.GetOutputPort())
    smooth.SetNumberOfIterations(SMOOTHING_ITERATIONS)
    smooth.SetPassBand(SMOOTHING_PASS_BAND)
    smooth.BoundarySmoothingOff()
    smooth.FeatureEdgeSmoothingOff()
    smooth.NonManifoldSmoothingOn()
    smooth.NormalizeCoordinatesOn()
    normals = vtkPolyDataNormals()
    normals.SetInputConnection(smooth.GetOutputPort())
    normals.SplittingOff()
    normals.ConsistencyOff()  # flying edges already orients triangles consistently
    normals.ComputePointNormalsOn()
    normals.Update()
    surface = normals.GetOutput()
    if surface.GetNumberOfPolys() == 0:
        return {}
    if len(values) == 1:
        return {values[0]: surface}
    scalars = surface.GetPointData().GetScalars()
    conn = vtk_to_numpy(surface.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    owner = np.rint(vtk_to_numpy(scalars)[conn[:, 0]]).astype(np.int64)
    out: dict[int, vtkPolyData] = {}
    for v in values:
        tris = conn[owner == v]
        if not len(tris):
            continue
        cells = vtkCellArray()
        offsets = np.arange(0, 3 * len(tris) + 1, 3, dtype=np.int64)
        cells.SetData(
            numpy_to_vtkIdTypeArray(offsets, deep=True),
            numpy_to_vtkIdTypeArray(np.ascontiguousarray(tris, dtype=np.int64).ravel(), deep=True),
        )
        part = vtkPolyData()
        part.SetPoints(surface.GetPoints())  # shared; unused points are never drawn
        part.GetPointData().SetNormals(surface.GetPointData().GetNormals())
        part.SetPolys(cells)
        out[v] = part
    return out


class _LabelSurfaces:
    """The actors of one label layer (built on first use)."""

    def __init__(self, volume: Volume) -> None:
        self.volume = volume
        self.actors: dict[int, vtkActor] = {}
        self.built = False

    def build(self, renderer: vtkRenderer, table: LabelTable) -> None:
        self.built = True
        matrix = placement_matrix(self.volume)
        values = present_labels(self.volume, [info.value for info in table])
        for value, poly in label_surfaces(self.volume, values).items():
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

    def remove(self, renderer: vtkRenderer) -> None:
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
        self.toolbar = self._make_toolbar()
        box.addWidget(self.toolbar)
        box.addWidget(self.vtk, 1)

        rw = self.vtk.GetRenderWindow()
        rw.SetNumberOfLayers(2)
        self.renderer = self.vtk.add_renderer()
        self.renderer.SetBackground(*BACKGROUND)
        self._marker_renderer = vtkRenderer()
        self._marker_renderer.SetLayer(1)
        self._marker_renderer.InteractiveOff()
        self._marker_renderer.AddActor(_orientation_cube())
        rw.AddRenderer(self._marker_renderer)
        self._style = vtkInteractorStyleTrackballCamera()
        self.vtk.SetInteractorStyle(self._style)

        self._property = vtkVolumeProperty()
        self._property.SetInterpolationTypeToLinear()
        self._prop = vtkVolume()
        self._new_mapper()
        self._prop.SetProperty(self._property)
        self._prop.VisibilityOff()
        self.renderer.AddVolume(self._prop)

        self._volume_id: str | None = None
        self._image = None  # the vtkImageData wrapping the shown volume's array
        self._preset_name: str | None = None  # None: automatic (CT bone / grey ramp)
        self._preset: VolumePreset | None = None
        self._surfaces: dict[str, _LabelSurfaces] = {}
        self._camera_pending = True
        self._marker_observer = self.renderer.AddObserver(
            vtkCommand.StartEvent, lambda *_: self._sync_marker()
        )

        ev = state.events
        ev.volumes.connect(self._on_volumes)
        ev.layers.connect(self._on_layers)
        ev.layer.connect(self._on_layer)
        ev.active_volume.connect(self._on_active)
        self._sync()

    def _make_toolbar(self) -> QWidget:
        """A slim bar: preset chooser and reset-camera button."""
        bar = QWidget(self)
        bar.setObjectName("view3d-bar")
        bar.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        bar.setStyleSheet("#view3d-bar { background: #17171c; } QLabel { color: #d8d8d8; }")
        row = QHBoxLayout(bar)
        row.setContentsMargins(4, 2, 4, 2)
        row.addWidget(QLabel("3-D", bar))
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
        reset = QToolButton(bar)
        reset.setText("Reset")
        reset.setToolTip("Reset the 3-D camera (front view)")
        reset.clicked.connect(lambda: (self.reset_camera(), self.request_render()))
        row.addWidget(reset)
        row.addStretch(1)
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
        """The image volume being rendered."""
        return self._volume_id

    @property
    def render_mode(self) -> str:
        """``"gpu"``, ``"cpu"`` (ray cast) or ``"none"`` (not rendered yet)."""
        mode = self._mapper.GetLastUsedRenderMode()
        if mode == vtkSmartVolumeMapper.GPURenderMode:
            return "gpu"
        if mode == vtkSmartVolumeMapper.RayCastRenderMode:
            return "cpu"
        return "none"

    def request_render(self) -> None:
        """Redraw soon (only when the view is on screen)."""
        if self.isVisible():
            self._prepare()
            self.vtk.Render()

    def render_now(self) -> None:
        """Build what is pending and render synchronously."""
        self._prepare()
        self.vtk.render_now()

    def capture(self) -> np.ndarray:
        """The current frame as ``(h, w, 3)`` uint8 (builds what is pending first)."""
        self._prepare()
        return self.vtk.capture()

    def close_view(self) -> None:
        """Stop observing the state and release the render window."""
        ev = self.state.events
        ev.volumes.disconnect(self._on_volumes)
        ev.layers.disconnect(self._on_layers)
        ev.layer.disconnect(self._on_layer)
        ev.active_volume.disconnect(self._on_active)
        self.renderer.RemoveObserver(self._marker_observer)
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
                self._prop.SetVisibility(bool(layer.visible))
            elif event.what == "window" and self._preset_name is None:
                self._apply_preset()
        self.request_render()

    def _image_layer(self, volume_id: str) -> ImageLayer | None:
        for layer in self.state.layers:
            if isinstance(layer, ImageLayer) and layer.volume_id == volume_id:
                return layer
        return None

    def _sync(self) -> None:
        """Match the image and the label layers to the state."""
        active = self.state.active_volume_id
        if active != self._volume_id:
            self._set_image(active)
        label_layers = {lay.id: lay for lay in self.state.layers if isinstance(lay, LabelLayer)}
        for layer_id in [lid for lid in self._surfaces if lid not in label_layers]:
            self._surfaces.pop(layer_id).remove(self.renderer)
        for layer_id, layer in label_layers.items():
            volume = self.state.volumes.get(layer.volume_id)
            current = self._surfaces.get(layer_id)
            if volume is None:
                continue
            if current is not None and current.volume is not volume:
                current.remove(self.renderer)
                current = None
            if current is None:
                self._surfaces[layer_id] = _LabelSurfaces(volume)
                if self._volume_id is None:
                    self._camera_pending = True
        self.request_render()

    def _set_image(self, volume_id: str | None) -> None:
        self._volume_id = volume_id
        volume = None if volume_id is None else self.state.volumes.get(volume_id)
        if volume is None or volume.array.ndim != 3:  # nothing, or a colour image
            self._prop.VisibilityOff()
            self._new_mapper()  # its internal copies would keep the closed volume alive
            self._image = None
            self._preset = None
            return
        self._image = _local_image(volume)
        self._new_mapper()
        self._mapper.SetInputData(self._image)
        self._prop.SetUserMatrix(placement_matrix(volume))
        self._property.SetScalarOpacityUnitDistance(float(min(volume.spacing)))
        layer = self._image_layer(volume_id)  # type: ignore[arg-type]
        self._prop.SetVisibility(layer is None or layer.visible)
        self._apply_preset()
        self._camera_pending = True

    def _new_mapper(self) -> None:
        """A fresh volume mapper (the old one's textures and input copies are released)."""
        old = getattr(self, "_mapper", None)
        if old is not None:
            old.ReleaseGraphicsResources(self.vtk.GetRenderWindow())
        self._mapper = vtkSmartVolumeMapper()
        self._mapper.SetBlendModeToComposite()
        self._prop.SetMapper(self._mapper)

    def _current_preset(self) -> VolumePreset | None:
        if self._volume_id is None or self._volume_id not in self.state.volumes:
            return None
        if self._preset_name is not None:
            return ct_preset(self._preset_name)
        volume = self.state.volume(self._volume_id)
        if volume.metadata.modality.upper() == "CT":
            return ct_preset(DEFAULT_CT_PRESET)
        layer = self._image_layer(self._volume_id)
        if layer is None:
            from interval.core.window_presets import initial_window

            return ramp_preset(initial_window(volume))
        return ramp_preset(layer.window)

    def _apply_preset(self) -> None:
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
        """Build pending surfaces and place the camera (before a render)."""
        layers = {lay.id: lay for lay in self.state.layers if isinstance(lay, LabelLayer)}
        for layer_id, surfaces in self._surfaces.items():
            layer = layers.get(layer_id)
            if layer is None:
                continue
            if not surfaces.built:
                surfaces.build(self.renderer, layer.labels)
            surfaces.update(layer)
        if self._camera_pending and (self._volume_id is not None or self._surfaces):
            self.reset_camera()

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
