"""A colour image over the grey one in a slice view: PET over CT (a fusion layer).

:class:`ImageOverlay` reslices another image volume (on any grid, e.g. a coarser PET
sharing the CT's frame of reference) onto the view's pixel grid with linear
interpolation, applies its window and maps it through a colour table
(:mod:`interval.core.colormaps`)::

    volume --vtkImageReslice(linear)--> shift/scale (window -> 0..255) --> uint8
           --> vtkImageMapToColors(colour map, entry 0 transparent) --> RGBA --> blend

Values at or below the window's low end (up to 1/255 of the width above it) and
everything outside the volume map to entry 0, which is transparent, so low uptake
shows the CT underneath; the rest is blended with the overlay's opacity.

:class:`ImageOverlayHost` is the part of :class:`~interval.ui.slice_view.SliceView`
that keeps these overlays (by key, bottom first).  They are blended above the grey
image and below every label overlay.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from vtkmodules.vtkCommonCore import vtkLookupTable
from vtkmodules.vtkImagingCore import vtkImageMapToColors, vtkImageReslice, vtkImageShiftScale

from interval.core.colormaps import colormap_table
from interval.core.metadata import WindowLevel
from interval.core.volume import Volume
from interval.ui.vtk_image import volume_to_image


def _lowest(dtype: np.dtype) -> float:
    """The lowest value of ``dtype`` (outside the volume: below any window)."""
    if np.issubdtype(dtype, np.integer):
        return float(np.iinfo(dtype).min)
    return float(np.finfo(np.float32).min)


def colormap_lut(name: str, lut: vtkLookupTable | None = None) -> vtkLookupTable:
    """A 256-entry RGBA lookup table of colour map ``name``; entry 0 is transparent."""
    table = colormap_table(name)
    lut = lut or vtkLookupTable()
    lut.SetNumberOfTableValues(256)
    lut.SetTableRange(-0.5, 255.5)  # uint8 value v -> entry v
    for v in range(256):
        r, g, b = (float(c) / 255.0 for c in table[v])
        lut.SetTableValue(v, r, g, b, 0.0 if v == 0 else 1.0)
    lut.Modified()
    return lut


class ImageOverlay:
    """One colour-mapped image on a view: its linear reslice, window and colour table."""

    def __init__(
        self, volume: Volume, window: WindowLevel, colormap: str = "pet", opacity: float = 0.5
    ) -> None:
        if volume.labels is not None:
            raise ValueError("a label map is shown as a label overlay, not an image overlay")
        self.volume = volume
        self.visible = True
        self.opacity = float(np.clip(opacity, 0.0, 1.0))
        self.colormap = ""
        self.window = window
        self._image = volume_to_image(volume)
        self.reslice = vtkImageReslice()
        self.reslice.SetInterpolationModeToLinear()
        self.reslice.AutoCropOutputOff()
        self.reslice.SetBackgroundLevel(_lowest(volume.dtype))
        self.reslice.SetInputData(self._image)
        self._scale = vtkImageShiftScale()
        self._scale.SetInputConnection(self.reslice.GetOutputPort())
        self._scale.SetOutputScalarTypeToUnsignedChar()
        self._scale.ClampOverflowOn()
        self.lut = vtkLookupTable()
        self.colors = vtkImageMapToColors()
        self.colors.SetLookupTable(self.lut)
        self.colors.SetOutputFormatToRGBA()
        self.colors.SetInputConnection(self._scale.GetOutputPort())
        self.set_window(window)
        self.set_colormap(colormap)

    def set_window(self, window: WindowLevel) -> None:
        """Low end -> entry 0 (transparent), high end -> entry 255 (truncated, clamped)."""
        self.window = window
        width = max(float(window.width), 1e-6)
        self._scale.SetShift(-float(window.low))
        self._scale.SetScale(255.0 / width)

    def set_colormap(self, name: str) -> None:
        if name != self.colormap:
            colormap_lut(name, self.lut)
            self.colormap = name

    def set_interpolation(self, mode: str) -> None:
        """``"nearest"`` or ``"linear"`` (default) resampling of the overlay's values."""
        if mode == "nearest":
            self.reslice.SetInterpolationModeToNearestNeighbor()
        else:
            self.reslice.SetInterpolationModeToLinear()


class ImageOverlayHost:
    """Image overlays of a slice view (mixed into SliceView, which provides ``volume``,
    ``_rows``, ``_apply_grid``, ``_rebuild_blend`` and ``_image_overlays``)."""

    volume: Volume | None
    _rows: list[float]
    _image_overlays: dict[str, ImageOverlay]

    def _apply_grid(self, reslice: vtkImageReslice) -> None:  # pragma: no cover - SliceView's
        raise NotImplementedError

    def _rebuild_blend(self) -> None:  # pragma: no cover - SliceView's
        raise NotImplementedError

    @property
    def image_overlay_keys(self) -> tuple[str, ...]:
        """Keys of the image overlays, bottom first."""
        return tuple(self._image_overlays)

    def image_overlay(self, key: str) -> ImageOverlay | None:
        return self._image_overlays.get(key)

    def add_image_overlay(
        self,
        key: str,
        volume: Volume,
        window: WindowLevel,
        colormap: str = "pet",
        opacity: float = 0.5,
        visible: bool = True,
    ) -> ImageOverlay:
        """Show ``volume`` (on any grid) in colour under ``key``, above the other image
        overlays (an existing one with that key is replaced, keeping its place)."""
        if self.volume is None:
            raise ValueError("set a volume before an image over it")
        ov = ImageOverlay(volume, window, colormap, opacity)
        ov.visible = bool(visible)
        ov.reslice.SetOutputDirection(*self._rows)
        self._apply_grid(ov.reslice)
        self._image_overlays[key] = ov
        self._rebuild_blend()
        return ov

    def remove_image_overlay(self, key: str) -> None:
        """Remove image overlay ``key`` (no-op when absent)."""
        if self._image_overlays.pop(key, None) is not None:
            self._rebuild_blend()

    def update_image_overlay(
        self,
        key: str,
        *,
        window: WindowLevel | None = None,
        colormap: str | None = None,
        opacity: float | None = None,
        visible: bool | None = None,
    ) -> None:
        """Change the window, colour map, opacity or visibility of overlay ``key``."""
        ov = self._image_overlays[key]
        if window is not None and window != ov.window:
            ov.set_window(window)
        if colormap is not None:
            ov.set_colormap(colormap)
        blend = False
        if opacity is not None and float(np.clip(opacity, 0.0, 1.0)) != ov.opacity:
            ov.opacity = float(np.clip(opacity, 0.0, 1.0))
            blend = True
        if visible is not None and bool(visible) != ov.visible:
            ov.visible = bool(visible)
            blend = True
        if blend:
            self._rebuild_blend()

    def set_image_overlay_order(self, keys: Sequence[str]) -> None:
        """Restack the image overlays: ``keys`` bottom first; others keep their order, above."""
        order = [k for k in keys if k in self._image_overlays]
        order += [k for k in self._image_overlays if k not in order]
        if order != list(self._image_overlays):
            self._image_overlays = {k: self._image_overlays[k] for k in order}
            self._rebuild_blend()
