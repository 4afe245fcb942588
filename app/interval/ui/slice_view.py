"""A 2-D slice view of a :class:`Volume` in patient space, with any number of label overlays.

Each layer is resampled straight onto the screen's pixel grid (as 3D Slicer does), then
the layers are composited on the CPU and shown as ONE opaque texture, one texel per
screen pixel::

    volume --vtkImageReslice(linear)--> shift/scale (DICOM W/L) --> uint8 --> grey RGB --┐
    labels 1 --vtkImageReslice(nearest)-> vtkImageMapToColors(label LUT) --> RGBA ------┤
    ...                                                                                 ├-> vtkImageBlend
    labels N --vtkImageReslice(nearest)-> vtkImageMapToColors(label LUT) --> RGBA ------┘
                                                                     --> vtkImageActor (nearest)

Label overlays (:class:`LabelOverlay`, one per key) are blended in order, bottom first and
top last, each with its own opacity; label 0 and hidden labels are transparent, so a
lower overlay shows wherever the ones above it have no visible label.  Hidden overlays
are left out of the blend (they cost nothing); with none visible the grey image goes
straight to the actor.  ``set_label_map`` & co. act on the default overlay
(:data:`DEFAULT_OVERLAY`).  Colour image overlays (a PET over the CT,
:mod:`interval.ui.image_overlay`) are blended the same way, above the grey image and
below every label overlay.

A colour volume (:attr:`Volume.is_rgb`: secondary captures, screenshots, ultrasound) is
resliced with its three components and goes to the blend (or the actor) as it is: the
window/level and grey-table stage is skipped, so window, level and invert change nothing.

So grey interpolation happens in patient space (``set_interpolation``), label edges stay
crisp at any zoom, and the GPU (or Mesa llvmpipe when headless) only draws one
unfiltered, unblended quad.  Pan and zoom therefore change what is resliced: the view
owns the camera (``center_on``, ``set_mm_per_pixel``, ``reset_camera``), and the
viewport size is re-read at each render.

The renderer's world coordinates are patient LPS millimetres: the resliced image carries
the plane orientation as its direction matrix (``vtkImageReslice`` honours the input's
direction matrix only with ``SetOutputDirection``; with ``SetResliceAxes`` VTK 9.7
ignores it).  The camera is parallel and looks at the plane with ``up`` on top, so
pixels are square in mm.  (``vtkImageStack`` is not used: on Mesa llvmpipe it drew some
overlay texels white or striped.)

Grey levels follow the window's DICOM VOI function (:mod:`interval.core.voi`): SIGMOID,
LINEAR_EXACT and VOI LUT tables through a lookup table sampled over the function's input
range (``set_window``); a PresentationLUTShape INVERSE volume is shown inverted.  The
default, LINEAR (PS3.3 C.11.2.1.2.1), maps straight to 0..255::

    x <= c - 0.5 - (w-1)/2  -> 0
    x >  c - 0.5 + (w-1)/2  -> 255
    else                    -> round(((x - (c - 0.5)) / (w - 1) + 0.5) * 255)
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import VTK_UNSIGNED_CHAR, vtkLookupTable
from vtkmodules.vtkImagingCore import (
    vtkImageBlend,
    vtkImageCast,
    vtkImageMapToColors,
    vtkImageMask,
    vtkImageReslice,
    vtkImageShiftScale,
)
from vtkmodules.vtkImagingMath import vtkImageMathematics
from vtkmodules.vtkImagingMorphological import vtkImageContinuousDilate3D, vtkImageContinuousErode3D
from vtkmodules.vtkRenderingCore import vtkImageActor, vtkRenderer

from interval.core.labels import LabelTable
from interval.core.metadata import WindowLevel
from interval.core.planes import VIEW_KINDS, view_plane
from interval.core.voi import input_range, voi_grey
from interval.core.volume import Volume
from interval.ui.image_overlay import ImageOverlay, ImageOverlayHost
from interval.ui.vtk_image import volume_to_image


# Screen axes (right, up) and the slice-position axis (the viewing direction, into the
# screen) in LPS for each standard view, taken from :mod:`interval.core.planes` (the one
# source of truth: radiological convention, axial seen from the feet, coronal from the
# front, sagittal from the patient's left).
def _orientations() -> dict[str, tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]]:
    out = {}
    for kind in VIEW_KINDS:
        p = view_plane(kind)
        out[kind] = (
            tuple(float(x) for x in p.right),
            tuple(float(x) + 0.0 for x in -p.down),
            tuple(float(x) + 0.0 for x in p.normal),
        )
    return out


ORIENTATIONS = _orientations()
_EPS = 1e-6
_CAMERA_DISTANCE_MM = 1000.0
_VOI_ENTRIES = 4096  # grey lookup entries over a non-linear VOI function's input range
_MIN_WIDTH = 1e-3  # narrowest LINEAR_EXACT / SIGMOID window


def dicom_linear_grey(values: np.ndarray | float, center: float, width: float) -> np.ndarray:
    """The DICOM linear VOI LUT output (0-255, rounded) for ``values``: the reference."""
    x = np.asarray(values, dtype=np.float64)
    w = max(float(width), 1.0)
    if w <= 1.0:
        return np.where(x <= center - 0.5, 0, 255).astype(np.uint8)
    y = ((x - (center - 0.5)) / (w - 1.0) + 0.5) * 255.0
    return np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)


def _unit(v: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64).reshape(3)
    n = np.linalg.norm(a)
    if n < _EPS:
        raise ValueError("view axes must be non-zero vectors")
    return a / n


def _background_value(dtype: np.dtype) -> float:
    """The lowest value of ``dtype``: maps to black under any window."""
    if np.issubdtype(dtype, np.integer):
        return float(np.iinfo(dtype).min)
    return float(np.finfo(np.float32).min)


def _grey_to_rgb_table(lut: vtkLookupTable | None = None, invert: bool = False) -> vtkLookupTable:
    lut = lut or vtkLookupTable()
    lut.SetNumberOfTableValues(256)
    lut.SetTableRange(-0.5, 255.5)  # uint8 value v -> entry v
    for v in range(256):
        g = (255 - v if invert else v) / 255.0
        lut.SetTableValue(v, g, g, g, 1.0)
    lut.Modified()
    return lut


def _grey_table(lut: vtkLookupTable, grey: np.ndarray) -> vtkLookupTable:
    """``lut`` with one grey entry per value of ``grey`` (0..1); input ``k`` -> entry ``k``."""
    n = len(grey)
    lut.SetNumberOfTableValues(n)
    lut.SetTableRange(-0.5, n - 0.5)
    rgba = np.full((n, 4), 255, dtype=np.uint8)
    rgba[:, :3] = np.floor(np.clip(np.asarray(grey, dtype=np.float64), 0.0, 1.0) * 255.0 + 0.5)[:, None]
    lut.SetTable(numpy_to_vtk(rgba, deep=True, array_type=VTK_UNSIGNED_CHAR))
    lut.Modified()
    return lut


def _outline_pipeline(labels: vtkImageReslice) -> vtkImageMask:
    """Labels kept only where a 4-neighbour differs (max != min over a 3x3 cross)."""
    erode, dilate = vtkImageContinuousErode3D(), vtkImageContinuousDilate3D()
    for f in (erode, dilate):
        f.SetInputConnection(labels.GetOutputPort())
        f.SetKernelSize(3, 3, 1)
    diff = vtkImageMathematics()
    diff.SetOperationToSubtract()
    diff.AddInputConnection(0, dilate.GetOutputPort())
    diff.AddInputConnection(0, erode.GetOutputPort())
    edge = vtkImageCast()  # max - min >= 0: clamped to uint8 it stays non-zero on edges
    edge.SetInputConnection(diff.GetOutputPort())
    edge.SetOutputScalarTypeToUnsignedChar()
    edge.ClampOverflowOn()
    mask = vtkImageMask()
    mask.SetInputConnection(0, labels.GetOutputPort())
    mask.SetInputConnection(1, edge.GetOutputPort())
    mask.SetMaskedOutputValue(0)
    return mask


DEFAULT_OVERLAY = "labels"
LABEL_MODES = ("fill", "outline")


class LabelOverlay:
    """One label map on a view: its nearest-neighbour reslice, label LUT and blend settings."""

    def __init__(self, labels: Volume, table: LabelTable | None, opacity: float, mode: str) -> None:
        if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
            raise ValueError("a label map must hold integers")
        self.volume = labels
        self.visible = True
        self.opacity = float(np.clip(opacity, 0.0, 1.0))
        self.mode = "fill"
        self._image = volume_to_image(labels)
        self.reslice = vtkImageReslice()
        self.reslice.SetInterpolationModeToNearestNeighbor()
        self.reslice.AutoCropOutputOff()
        self.reslice.SetBackgroundLevel(0)
        self.reslice.SetInputData(self._image)
        self.lut = vtkLookupTable()
        self.colors = vtkImageMapToColors()
        self.colors.SetLookupTable(self.lut)
        self.colors.SetOutputFormatToRGBA()
        self.colors.SetInputConnection(self.reslice.GetOutputPort())
        self._outline: vtkImageMask | None = None  # built on first use
        if table is None:
            table = labels.labels
        if table is None:
            table = LabelTable.for_values([int(v) for v in np.unique(labels.array) if v > 0])
        self.set_table(table)
        self.set_mode(mode)

    def set_table(self, table: LabelTable) -> None:
        """Label value ``v`` -> its colour, alpha 0 when hidden or 0."""
        top = max([info.value for info in table] + [1])
        lut = self.lut
        lut.SetNumberOfTableValues(top + 1)
        lut.SetTableRange(-0.5, top + 0.5)  # value v -> entry v exactly
        for v in range(top + 1):
            lut.SetTableValue(v, 0.0, 0.0, 0.0, 0.0)
        for info in table:
            r, g, b = (c / 255.0 for c in info.color)
            lut.SetTableValue(info.value, r, g, b, 1.0 if info.visible else 0.0)
        lut.UseBelowRangeColorOn()
        lut.SetBelowRangeColor(0, 0, 0, 0)
        lut.UseAboveRangeColorOn()
        lut.SetAboveRangeColor(0, 0, 0, 0)
        lut.Modified()

    def set_mode(self, mode: str) -> None:
        """``"fill"`` or ``"outline"``."""
        if mode not in LABEL_MODES:
            raise ValueError(f"label mode must be 'fill' or 'outline', got {mode!r}")
        if mode == self.mode and self.colors.GetInputConnection(0, 0) is not None:
            return
        self.mode = mode
        if mode == "outline" and self._outline is None:
            self._outline = _outline_pipeline(self.reslice)
        src = self.reslice if mode == "fill" else self._outline
        self.colors.SetInputConnection(src.GetOutputPort())


class SliceView(ImageOverlayHost):
    """One 2-D view: a grey volume, colour image overlays (fusion, see
    :mod:`interval.ui.image_overlay`) and label overlays on top (in order), in one renderer."""

    def __init__(
        self,
        renderer: vtkRenderer,
        orientation: str | tuple[Sequence[float], Sequence[float]] = "native",
    ) -> None:
        self.renderer = renderer
        self.orientation = orientation
        self.volume: Volume | None = None
        self._overlays: dict[str, LabelOverlay] = {}  # bottom first, top last
        self._image_overlays: dict[str, ImageOverlay] = {}  # fusion: above grey, below labels
        self._default_mode = "fill"  # mode of the default overlay (kept while it is absent)
        self._rows = [float(x) for x in np.eye(3).ravel()]  # reslice output direction
        # reslice output spacing, extent, origin (kept for overlays added later)
        self._grid: tuple[tuple[float, ...], tuple[int, ...], tuple[float, ...]] = (
            (1.0, 1.0, 1.0),
            (0, 0, 0, 0, 0, 0),
            (0.0, 0.0, 0.0),
        )
        self._window = WindowLevel(40.0, 400.0)
        self._position = 0.0  # mm along w
        self._center = (0.0, 0.0)  # view centre in plane coordinates (mm along u, v)
        self._mm_px = 1.0
        self._pixel_mm = 1.0
        self._viewport = (0, 0)
        self._u = np.array([1.0, 0, 0])
        self._v = np.array([0, 1.0, 0])
        self._w = np.array([0, 0, 1.0])

        self._reslice = vtkImageReslice()
        self._reslice.SetInterpolationModeToLinear()
        self._reslice.AutoCropOutputOff()
        self._grey = vtkImageShiftScale()
        self._grey.SetInputConnection(self._reslice.GetOutputPort())
        self._grey.SetOutputScalarTypeToUnsignedChar()
        self._grey.ClampOverflowOn()
        self._grey_rgb = vtkImageMapToColors()
        self._grey_rgb.SetInputConnection(self._grey.GetOutputPort())
        self._grey_lut = _grey_to_rgb_table()
        self._invert = False
        self._presentation_inverse = False  # DICOM PresentationLUTShape INVERSE
        self._grey_rgb.SetLookupTable(self._grey_lut)
        self._grey_rgb.SetOutputFormatToRGB()

        self._blend = vtkImageBlend()

        self._actor = vtkImageActor()
        self._actor.InterpolateOff()  # one texel per screen pixel
        self._actor.GetMapper().BorderOn()  # the texture covers the viewport edge to edge
        self._actor.GetMapper().SetInputConnection(self._grey_rgb.GetOutputPort())
        self._actor.VisibilityOff()
        renderer.AddViewProp(self._actor)
        renderer.GetActiveCamera().ParallelProjectionOn()
        me = weakref.ref(self)
        self._observer = renderer.AddObserver(
            "StartEvent", lambda *_: (view := me()) is not None and view._sync_viewport()
        )

    def close(self) -> None:
        """Detach from the renderer."""
        self.renderer.RemoveObserver(self._observer)
        self.renderer.RemoveViewProp(self._actor)

    # --- data ------------------------------------------------------------------------
    def set_volume(self, volume: Volume, window: WindowLevel | None = None) -> None:
        """Show ``volume`` (grey, or colour as it is) at its middle slice, fitted to the viewport.

        The window comes from ``window``, else the volume's metadata, else its value range.
        """
        self.volume = volume
        self._image = volume_to_image(volume)
        self._reslice.SetInputData(self._image)
        # a colour image is shown as it is (black outside), with no window/level stage
        self._reslice.SetBackgroundLevel(0.0 if volume.is_rgb else _background_value(volume.dtype))
        self._rebuild_blend()
        self._set_axes(volume)
        if window is None:
            window = volume.metadata.default_window or self._range_window(volume)
        self._presentation_inverse = bool(volume.metadata.presentation_inverse)
        self.set_window(window)
        self._position = self.slice_position_of_index(self.slice_count // 2)
        self._actor.VisibilityOn()
        self.reset_camera()

    # --- label overlays ------------------------------------------------------------------
    @property
    def labels(self) -> Volume | None:
        """The default overlay's label map (see :meth:`set_label_map`), or None."""
        ov = self._overlays.get(DEFAULT_OVERLAY)
        return None if ov is None else ov.volume

    @property
    def label_overlay_keys(self) -> tuple[str, ...]:
        """Keys of the label overlays, bottom first, top last."""
        return tuple(self._overlays)

    def label_overlay(self, key: str = DEFAULT_OVERLAY) -> LabelOverlay | None:
        """The overlay under ``key``, or None."""
        return self._overlays.get(key)

    def add_label_overlay(
        self,
        key: str,
        labels: Volume,
        table: LabelTable | None = None,
        opacity: float = 0.5,
        mode: str = "fill",
        visible: bool = True,
    ) -> LabelOverlay:
        """Overlay the label map ``labels`` (on any grid) under ``key``, on top of the others.

        An existing overlay with that key is replaced in place (its position is kept).
        Colours come from ``table`` (else ``labels.labels``, else default colours); label 0
        and hidden labels are transparent; ``opacity`` is the overlay's opacity.
        """
        if self.volume is None:
            raise ValueError("set a volume before its label map")
        ov = LabelOverlay(labels, table, opacity, mode)
        ov.visible = bool(visible)
        ov.reslice.SetOutputDirection(*self._rows)
        self._apply_grid(ov.reslice)
        self._overlays[key] = ov
        self._rebuild_blend()
        return ov

    def remove_label_overlay(self, key: str) -> None:
        """Remove the overlay ``key`` (no-op when absent)."""
        if self._overlays.pop(key, None) is not None:
            self._rebuild_blend()

    def set_label_order(self, keys: Sequence[str]) -> None:
        """Restack the overlays: ``keys`` bottom first; others keep their order, above."""
        order = [k for k in keys if k in self._overlays]
        order += [k for k in self._overlays if k not in order]
        if order != list(self._overlays):
            self._overlays = {k: self._overlays[k] for k in order}
            self._rebuild_blend()

    def set_label_visible(self, visible: bool, key: str = DEFAULT_OVERLAY) -> None:
        """Show or hide the whole overlay ``key``."""
        ov = self._overlays[key]
        if ov.visible != bool(visible):
            ov.visible = bool(visible)
            self._rebuild_blend()

    def set_label_map(
        self, labels: Volume | None, table: LabelTable | None = None, opacity: float = 0.5
    ) -> None:
        """Set the default overlay to ``labels`` (None removes it), as :meth:`add_label_overlay`."""
        if labels is None:
            self.remove_label_overlay(DEFAULT_OVERLAY)
            return
        self.add_label_overlay(DEFAULT_OVERLAY, labels, table, opacity, self._default_mode)

    def set_label_table(self, table: LabelTable, key: str = DEFAULT_OVERLAY) -> None:
        """Recolour overlay ``key``: label value ``v`` -> its colour, alpha 0 when hidden/0."""
        self._overlays[key].set_table(table)

    @property
    def label_mode(self) -> str:
        """The default overlay's mode."""
        return self._default_mode

    def set_label_mode(self, mode: str, key: str = DEFAULT_OVERLAY) -> None:
        """``"fill"`` colours labelled pixels; ``"outline"`` only their 1-pixel screen border
        (pixels with a 4-neighbour of another label)."""
        if mode not in LABEL_MODES:
            raise ValueError(f"label mode must be 'fill' or 'outline', got {mode!r}")
        if key == DEFAULT_OVERLAY:
            self._default_mode = mode
        if key in self._overlays:
            self._overlays[key].set_mode(mode)

    def set_label_opacity(self, opacity: float, key: str = DEFAULT_OVERLAY) -> None:
        """Opacity of overlay ``key``, 0-1 (1: labelled pixels show the pure label colour)."""
        ov = self._overlays.get(key)
        if ov is None:
            return
        ov.opacity = float(np.clip(opacity, 0.0, 1.0))
        self._rebuild_blend()

    def _rebuild_blend(self) -> None:
        """Blend the grey image and the visible overlays, bottom first; none: grey only."""
        overlays = (*self._image_overlays.values(), *self._overlays.values())
        shown = [ov for ov in overlays if ov.visible]
        if not shown:
            self._actor.GetMapper().SetInputConnection(self._base_port())
            return
        blend = self._blend
        ports = [self._base_port(), *(ov.colors.GetOutputPort() for ov in shown)]
        count = blend.GetNumberOfInputConnections(0)
        current = [blend.GetInputConnection(0, i) for i in range(count)]
        if current != ports:
            blend.RemoveAllInputConnections(0)
            for port in ports:
                blend.AddInputConnection(0, port)
        for i, ov in enumerate(shown, start=1):
            if blend.GetOpacity(i) != ov.opacity:
                blend.SetOpacity(i, ov.opacity)
        self._actor.GetMapper().SetInputConnection(blend.GetOutputPort())

    def _base_port(self):
        """The bottom image: the grey image through the window, or a colour image as it is."""
        if self.volume is not None and self.volume.is_rgb:
            return self._reslice.GetOutputPort()  # RGB uint8: no window/level
        return self._grey_rgb.GetOutputPort()

    def set_interpolation(self, mode: str) -> None:
        """Grey resampling: ``"nearest"``, ``"linear"`` (default) or ``"cubic"``."""
        {
            "nearest": self._reslice.SetInterpolationModeToNearestNeighbor,
            "linear": self._reslice.SetInterpolationModeToLinear,
            "cubic": self._reslice.SetInterpolationModeToCubic,
        }[mode]()

    # --- window / level ----------------------------------------------------------------
    @property
    def window_level(self) -> WindowLevel:
        return self._window

    def set_window_level(self, center: float, width: float) -> None:
        """Set the grey window with the volume's own VOI function (LINEAR by default).

        A SIGMOID or LINEAR_EXACT volume keeps its function at any centre and width;
        a volume shown through its VOI LUT table keeps the table only at the table's
        own centre and width (any other window is LINEAR).  LINEAR ``width`` < 1 acts as 1.
        """
        self.set_window(self._volume_window(float(center), float(width)))

    def set_window(self, window: WindowLevel) -> None:
        """Set the grey window, VOI function (and VOI LUT table) included.

        LINEAR goes through a shift/scale to 0..255 (exact DICOM rounding);
        LINEAR_EXACT, SIGMOID and TABLE through a lookup table of the function
        sampled over its input range (:func:`interval.core.voi.input_range`).
        """
        function = window.function.upper()
        if function == "TABLE" and window.lut is None:
            function = "LINEAR"
        if function == "LINEAR":
            w = max(float(window.width), 1.0)
            self._window = replace(window, center=float(window.center), width=w, function="LINEAR", lut=None)
            span = max(w - 1.0, 1e-3)  # w == 1: a threshold at c - 0.5
            low = float(window.center) - 0.5 - (w - 1.0) / 2.0
            scale = 255.0 / span
            self._grey.SetOutputScalarTypeToUnsignedChar()
            # vtkImageShiftScale truncates: add half a level so the output is rounded.
            self._grey.SetShift(-low + 0.5 / scale)
            self._grey.SetScale(scale)
        else:
            w = max(float(window.width), _MIN_WIDTH)
            self._window = replace(window, center=float(window.center), width=w, function=function)
            lo, hi = input_range(self._window)
            n = len(self._window.lut.data) if function == "TABLE" and self._window.lut else _VOI_ENTRIES
            scale = (n - 1) / (hi - lo) if hi > lo else 1.0
            self._grey.SetOutputScalarTypeToUnsignedShort()
            self._grey.SetShift(-lo + 0.5 / scale)  # rounded to the nearest entry
            self._grey.SetScale(scale)
        self._apply_grey_table()

    def _apply_grey_table(self) -> None:
        """(Re)build the grey lookup table for the window and the inversion."""
        invert = self._invert != self._presentation_inverse
        wl = self._window
        if wl.function == "LINEAR":
            _grey_to_rgb_table(self._grey_lut, invert)
            return
        lo, hi = input_range(wl)
        n = len(wl.lut.data) if wl.function == "TABLE" and wl.lut else _VOI_ENTRIES
        x = lo + np.arange(n, dtype=np.float64) * ((hi - lo) / (n - 1) if n > 1 else 0.0)
        grey = voi_grey(x, wl)
        if invert:
            grey = 255.0 - grey
        _grey_table(self._grey_lut, grey / 255.0)

    def _volume_window(self, center: float, width: float) -> WindowLevel:
        own = self.volume.metadata.default_window if self.volume is not None else None
        if own is None or own.function == "LINEAR":
            return WindowLevel(center, width)
        if own.function == "TABLE":
            if own.lut is not None and (center, width) == (own.center, own.width):
                return own
            return WindowLevel(center, width)
        return WindowLevel(center, width, function=own.function)

    def set_visible(self, visible: bool) -> None:
        """Show or hide the image (and its overlay)."""
        self._actor.SetVisibility(bool(visible) and self.volume is not None)

    @property
    def inverted(self) -> bool:
        """Whether the user inverted the image (on top of a DICOM INVERSE presentation)."""
        return self._invert

    def set_invert(self, invert: bool) -> None:
        """Show the grey image inverted (white for low values; the area outside the volume turns white too).

        A volume whose DICOM Presentation LUT Shape is INVERSE
        (``metadata.presentation_inverse``) is shown inverted already; ``invert``
        flips it back.
        """
        if bool(invert) != self._invert:
            self._invert = bool(invert)
            self._apply_grey_table()

    @staticmethod
    def _range_window(volume: Volume) -> WindowLevel:
        lo, hi = float(volume.array.min()), float(volume.array.max())
        return WindowLevel((lo + hi) / 2.0, max(hi - lo, 1.0))

    # --- plane ----------------------------------------------------------------------------
    def _set_axes(self, volume: Volume) -> None:
        d = volume.direction
        if isinstance(self.orientation, str) and self.orientation == "native":
            u, v = _unit(d[:, 0]), -_unit(d[:, 1])  # rows go down the screen, as in DICOM
            n = _unit(np.cross(u, v))
            w = n if np.dot(n, d[:, 2]) >= 0 else -n
        elif isinstance(self.orientation, str):
            u, v, w = (np.asarray(a, dtype=np.float64) for a in ORIENTATIONS[self.orientation])
        else:
            u = _unit(self.orientation[0])
            v = _unit(np.asarray(self.orientation[1]) - np.dot(self.orientation[1], u) * u)
            w = _unit(np.cross(v, u))  # into the screen, as core.planes' normal
        self._u, self._v, self._w = u, v, w
        self._rows = [float(x) for x in np.column_stack((u, v, w)).ravel()]  # columns = axes
        for r in self._reslices():
            r.SetOutputDirection(*self._rows)
        self._pixel_mm = min(volume.spacing)

    @staticmethod
    def _corners(volume: Volume) -> np.ndarray:
        ni, nj, nk = volume.size_ijk
        idx = np.array(
            [[i, j, k] for i in (0, ni - 1) for j in (0, nj - 1) for k in (0, nk - 1)], float
        )
        return volume.index_to_lps(idx)

    @property
    def right(self) -> np.ndarray:
        """Unit LPS vector pointing to the screen's right."""
        return self._u.copy()

    @property
    def up(self) -> np.ndarray:
        """Unit LPS vector pointing up on screen."""
        return self._v.copy()

    @property
    def normal(self) -> np.ndarray:
        """Unit LPS axis along which :attr:`slice_position` is measured."""
        return self._w.copy()

    @property
    def pixel_mm(self) -> float:
        """The volume's finest voxel spacing in mm (one screen pixel per voxel at this zoom)."""
        return self._pixel_mm

    def slice_range(self) -> tuple[float, float]:
        """Lowest and highest slice position (mm along :attr:`normal`) of voxel centres."""
        if self.volume is None:
            return (0.0, 0.0)
        proj = self._corners(self.volume) @ self._w
        return float(proj.min()), float(proj.max())

    def _slice_axis(self) -> int:
        assert self.volume is not None
        return int(np.argmax(np.abs(self._w @ self.volume.direction)))

    @property
    def slice_spacing(self) -> float:
        """Distance in mm between neighbouring voxel planes along :attr:`normal`."""
        if self.volume is None:
            return 1.0
        proj = np.abs(self._w @ self.volume.direction) * np.asarray(self.volume.spacing)
        return float(proj.max())

    @property
    def slice_count(self) -> int:
        """Number of voxel planes along the volume axis closest to :attr:`normal`."""
        if self.volume is None:
            return 0
        return int(self.volume.size_ijk[self._slice_axis()])

    @property
    def slice_position(self) -> float:
        """Current slice: signed distance in mm of the plane along :attr:`normal`."""
        return self._position

    def set_slice_position(self, mm: float) -> None:
        """Move the plane to ``mm`` along :attr:`normal` (pan and zoom are kept)."""
        self._position = float(mm)
        self._update_geometry()

    def slice_position_of_index(self, index: int) -> float:
        """Position of voxel plane ``index`` along the volume axis closest to the normal."""
        assert self.volume is not None
        ijk = np.zeros(3)
        ijk[self._slice_axis()] = index
        return float(np.dot(self.volume.index_to_lps(ijk), self._w))

    @property
    def slice_index(self) -> int:
        """Nearest voxel-plane index to the current position (see :attr:`slice_count`)."""
        p0 = self.slice_position_of_index(0)
        step = self.slice_position_of_index(1) - p0
        return int(np.rint((self._position - p0) / step)) if abs(step) > _EPS else 0

    def set_slice_index(self, index: int) -> None:
        """Show voxel plane ``index`` (clamped) along the volume axis closest to the normal."""
        index = int(np.clip(index, 0, max(self.slice_count - 1, 0)))
        self.set_slice_position(self.slice_position_of_index(index))

    def step(self, n: int = 1) -> None:
        """Move ``n`` voxel planes (negative: back), staying inside the volume."""
        self.set_slice_index(self.slice_index + n)

    # --- pan / zoom -------------------------------------------------------------------------
    @property
    def mm_per_pixel(self) -> float:
        return self._mm_px

    def set_mm_per_pixel(self, mm: float) -> None:
        """Zoom so that one screen pixel is ``mm`` millimetres (square)."""
        if not mm > 0:
            raise ValueError("mm per pixel must be positive")
        self._mm_px = float(mm)
        self._update_geometry()

    def center_on(self, lps: Sequence[float]) -> None:
        """Pan so that the patient point ``lps`` (projected on the plane) is centred."""
        p = np.asarray(lps, dtype=np.float64)
        self._center = (float(p @ self._u), float(p @ self._v))
        self._update_geometry()

    def fitted_view(self) -> tuple[tuple[float, float], float]:
        """``((u, v) centre in plane mm, mm per pixel)`` that fits the volume in the viewport."""
        if self.volume is None:
            return self._center, self._mm_px
        corners = self._corners(self.volume)
        half = self._pixel_mm / 2.0
        lo_u, hi_u = (corners @ self._u).min() - half, (corners @ self._u).max() + half
        lo_v, hi_v = (corners @ self._v).min() - half, (corners @ self._v).max() + half
        w, h = self._viewport_size()
        centre = (float(lo_u + hi_u) / 2.0, float(lo_v + hi_v) / 2.0)
        return centre, float(max((hi_u - lo_u) / w, (hi_v - lo_v) / h))

    def set_view(self, center_uv: tuple[float, float], mm_per_pixel: float) -> None:
        """Centre the view on plane coordinates ``(u, v)`` (mm along right, up) and zoom."""
        if not mm_per_pixel > 0:
            raise ValueError("mm per pixel must be positive")
        self._center = (float(center_uv[0]), float(center_uv[1]))
        self._mm_px = float(mm_per_pixel)
        self._update_geometry()

    def reset_camera(self) -> None:
        """Centre the volume and fit it in the viewport."""
        if self.volume is None:
            return
        self.set_view(*self.fitted_view())

    def _viewport_size(self) -> tuple[int, int]:
        w, h = self.renderer.GetSize()
        return max(int(w), 1), max(int(h), 1)

    def _sync_viewport(self) -> None:
        if self._viewport != self._viewport_size():
            self._update_geometry()

    def _reslices(self) -> list[vtkImageReslice]:
        return [self._reslice, *(ov.reslice for ov in self._image_overlays.values()),
                *(ov.reslice for ov in self._overlays.values())]

    def _apply_grid(self, reslice: vtkImageReslice) -> None:
        spacing, extent, origin = self._grid
        reslice.SetOutputSpacing(*spacing)
        reslice.SetOutputExtent(*extent)
        reslice.SetOutputOrigin(*origin)

    def _plane_point(self, x: float, y: float) -> np.ndarray:
        return x * self._u + y * self._v + self._position * self._w

    def _update_geometry(self) -> None:
        """Reslice onto the viewport's pixel grid and point the camera at it."""
        w, h = self._viewport = self._viewport_size()
        s = self._mm_px
        cu, cv = self._center
        origin = self._plane_point(cu - (w - 1) * s / 2.0, cv - (h - 1) * s / 2.0)
        self._grid = ((s, s, 1.0), (0, w - 1, 0, h - 1, 0, 0), tuple(float(c) for c in origin))
        for r in self._reslices():
            self._apply_grid(r)
        cam = self.renderer.GetActiveCamera()
        focal = self._plane_point(cu, cv)
        cam.SetFocalPoint(*focal)
        cam.SetPosition(*(focal + _CAMERA_DISTANCE_MM * np.cross(self._u, self._v)))
        cam.SetViewUp(*self._v)
        cam.SetParallelScale(h * s / 2.0)
        cam.SetClippingRange(_CAMERA_DISTANCE_MM / 2.0, _CAMERA_DISTANCE_MM * 2.0)

    # --- screen <-> patient -------------------------------------------------------------------
    def world_to_display(self, lps: Sequence[float]) -> tuple[float, float]:
        """Screen position ``(x, row)`` of an LPS point; rows from the top, pixel ``i``
        spans ``[i, i + 1)``."""
        r = self.renderer
        r.SetWorldPoint(*(float(c) for c in lps), 1.0)
        r.WorldToDisplay()
        x, y, _ = r.GetDisplayPoint()
        return x, r.GetRenderWindow().GetSize()[1] - y

    def display_to_world(self, x: float, row: float) -> np.ndarray:
        """The LPS point on the current plane under screen position ``(x, row)``."""
        r = self.renderer
        r.SetDisplayPoint(float(x), float(r.GetRenderWindow().GetSize()[1] - row), 0.0)
        r.DisplayToWorld()
        wx, wy, wz, ww = r.GetWorldPoint()
        p = np.array([wx, wy, wz]) / (ww or 1.0)
        toward_viewer = np.cross(self._u, self._v)  # project along the view direction
        return p + toward_viewer * ((self._position - p @ self._w) / (toward_viewer @ self._w))

    def render(self) -> None:
        self.renderer.GetRenderWindow().Render()
