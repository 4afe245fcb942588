"""The viewer's state as plain Python: volumes, layers, crosshair, windows, views, cine.

Qt/VTK views observe :attr:`ViewerState.events` and never hold state of their
own; every change goes through a method here, which emits one typed event.
Use ``with state.events.batch():`` to group changes (each signal then fires once
per changed item).  Layers and view settings are immutable snapshots, replaced
on change, so an observer can keep the one it last drew.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from interval.core.frame_mode import frame_rate_hz, frame_view_kind, is_two_d
from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import WindowLevel
from interval.core.observable import Signal, SignalGroup, signal
from interval.core.planes import Plane, spacing_along, view_plane, volume_corners
from interval.core.time_axis import TimeAxis
from interval.core.view_alignment import (
    AXES_MODES,
    AxesMode,
    aligned_view_axes,
    opens_in_acquisition_plane,
)
from interval.core.volume import Volume
from interval.core.window_presets import initial_window, preset

Layout = Literal["1x1", "1x3", "2x2"]
LAYOUT_VIEWS: dict[str, tuple[str, ...]] = {
    "1x1": ("axial",),  # the focused view, see ViewerState.focused_view
    "1x3": ("axial", "coronal", "sagittal"),
    "2x2": ("axial", "coronal", "sagittal", "3d"),
}
VIEW_IDS: tuple[str, ...] = ("axial", "coronal", "sagittal", "3d")
Point = tuple[float, float, float]


# --- snapshots ----------------------------------------------------------------------
@dataclass(frozen=True)
class ImageLayer:
    """A greyscale image shown with a window; ``invert`` flips black and white.

    A ``fusion`` layer (PET over CT) is drawn in its ``colormap`` over the active image
    with its ``opacity`` while its volume is not the active one (values at or below the
    window's low end stay transparent); see :meth:`ViewerState.add_fusion`.  The active
    image itself is always drawn grey (its ``colormap`` is kept for when it is fused).
    """

    id: str
    volume_id: str
    window: WindowLevel
    invert: bool = False
    visible: bool = True
    opacity: float = 1.0
    name: str = ""
    colormap: str = "grey"  # a name of interval.core.colormaps
    fusion: bool = False


@dataclass(frozen=True, eq=False)
class LabelLayer:
    """A label-map overlay; ``labels`` holds per-label name, colour and visibility."""

    id: str
    volume_id: str
    labels: LabelTable
    visible: bool = True
    opacity: float = 0.5
    mode: Literal["fill", "outline"] = "fill"
    name: str = ""


Layer = ImageLayer | LabelLayer


@dataclass(frozen=True)
class ViewState:
    """One view: ``zoom`` (1 = fit), ``pan`` in screen mm, optional oblique axes (LPS)."""

    kind: str
    zoom: float = 1.0
    pan: tuple[float, float] = (0.0, 0.0)
    right: Point | None = None
    down: Point | None = None


@dataclass(frozen=True)
class CineState:
    """Cine playback of ``view_id``; ``mode`` loop wraps, bounce reverses at the ends."""

    playing: bool = False
    view_id: str = "axial"
    fps: float = 10.0
    mode: Literal["loop", "bounce"] = "loop"
    direction: int = 1


# --- events ---------------------------------------------------------------------------
@dataclass(frozen=True)
class VolumeEvent:
    volume_id: str
    added: bool

    @property
    def coalesce_key(self) -> object:
        return self.volume_id


@dataclass(frozen=True)
class LayersReordered:
    """Layers were added, removed or moved; ``order`` is bottom to top."""

    order: tuple[str, ...]


@dataclass(frozen=True)
class LayerChanged:
    """``what`` ("visible", "opacity", "window", "invert", "labels", "mode", "colormap",
    "fusion") changed."""

    layer_id: str
    what: str
    layer: Layer

    @property
    def coalesce_key(self) -> object:
        return (self.layer_id, self.what)


@dataclass(frozen=True)
class ActiveVolumeChanged:
    volume_id: str | None


@dataclass(frozen=True)
class CrosshairChanged:
    position: Point


@dataclass(frozen=True)
class LayoutChanged:
    layout: str
    focused_view: str


@dataclass(frozen=True)
class ViewChanged:
    view_id: str
    view: ViewState

    @property
    def coalesce_key(self) -> object:
        return self.view_id


@dataclass(frozen=True)
class CineChanged:
    cine: CineState


@dataclass(frozen=True)
class TimeAxisChanged:
    """The time axis of the active 3-D + time series changed (None: there is none)."""

    axis: TimeAxis | None


class ViewerEvents(SignalGroup):
    """The signals of a :class:`ViewerState`."""

    volumes: Signal[VolumeEvent] = signal()
    layers: Signal[LayersReordered] = signal()
    layer: Signal[LayerChanged] = signal()
    active_volume: Signal[ActiveVolumeChanged] = signal()
    crosshair: Signal[CrosshairChanged] = signal()
    layout: Signal[LayoutChanged] = signal()
    view: Signal[ViewChanged] = signal()
    cine: Signal[CineChanged] = signal()
    time: Signal[TimeAxisChanged] = signal()


# --- the state ------------------------------------------------------------------------
class ViewerState:
    """Everything a viewer shows, observable through :attr:`events`."""

    def __init__(self) -> None:
        self.events = ViewerEvents()
        self._volumes: dict[str, Volume] = {}
        self._layers: dict[str, Layer] = {}  # bottom to top
        self._active: str | None = None
        self._crosshair: Point = (0.0, 0.0, 0.0)
        self._layout: str = "1x3"
        self._focused: str = "axial"
        self._views: dict[str, ViewState] = {v: ViewState(v) for v in VIEW_IDS}
        self._axes_choices: dict[str, AxesMode] = {}  # volume id -> the user's explicit choice
        self._cine = CineState()
        self._counter = 0
        # 2-D mode (frames in time, a 2-D image): the frame view, and what to restore after
        self._frame_view: str | None = None
        self._restore_2d: tuple[str, str, CineState] | None = None  # layout, focused, cine
        self._time_axis: TimeAxis | None = None  # 3-D + time: the active volume's siblings
        self._time_volume: str | None = None  # the volume id the time axis belongs to

    # --- volumes ---------------------------------------------------------------------
    @property
    def volumes(self) -> dict[str, Volume]:
        return dict(self._volumes)

    def volume(self, volume_id: str) -> Volume:
        return self._volumes[volume_id]

    def add_volume(self, volume: Volume, volume_id: str | None = None, *, name: str = "") -> str:
        """Open ``volume`` with a layer on top (label overlay for label maps); returns its id.

        The first image volume becomes active and the crosshair moves to its centre.
        """
        if volume_id is None:
            self._counter += 1
            volume_id = f"volume-{self._counter}"
            while volume_id in self._volumes:
                self._counter += 1
                volume_id = f"volume-{self._counter}"
        if volume_id in self._volumes:
            raise ValueError(f"a volume with id {volume_id!r} is already open")
        layer: Layer
        if volume.labels is not None:
            labels = LabelTable(list(volume.labels))
            layer = LabelLayer(volume_id, volume_id, labels, name=name)
        else:
            layer = ImageLayer(volume_id, volume_id, initial_window(volume), name=name)
        with self.events.batch():
            self._volumes[volume_id] = volume
            self._layers[volume_id] = layer
            self.events.volumes.emit(VolumeEvent(volume_id, True))
            self.events.layers.emit(LayersReordered(tuple(self._layers)))
            if self._active is None and volume.labels is None:
                self.set_active_volume(volume_id)
                self.set_crosshair(_centre_voxel(volume))
        return volume_id

    def remove_volume(self, volume_id: str) -> None:
        """Close a volume and its layers; another image volume becomes active if needed."""
        if volume_id not in self._volumes:
            raise KeyError(volume_id)
        with self.events.batch():
            del self._volumes[volume_id]
            self._axes_choices.pop(volume_id, None)
            for lid in [lid for lid, lay in self._layers.items() if lay.volume_id == volume_id]:
                del self._layers[lid]
            self.events.volumes.emit(VolumeEvent(volume_id, False))
            self.events.layers.emit(LayersReordered(tuple(self._layers)))
            if self._time_volume == volume_id:
                self.set_time_axis(None)
            if self._active == volume_id:
                images = [lay.volume_id for lay in self._layers.values() if isinstance(lay, ImageLayer)]
                self._set_active(images[-1] if images else None)

    @property
    def active_volume_id(self) -> str | None:
        return self._active

    @property
    def active_volume(self) -> Volume | None:
        return None if self._active is None else self._volumes[self._active]

    def set_active_volume(self, volume_id: str) -> None:
        """Make ``volume_id`` the volume whose grid drives slice stepping."""
        if volume_id not in self._volumes:
            raise KeyError(volume_id)
        self._set_active(volume_id)

    def _set_active(self, volume_id: str | None) -> None:
        if volume_id != self._active:
            with self.events.batch():
                self._active = volume_id
                self.events.active_volume.emit(ActiveVolumeChanged(volume_id))
                self._apply_view_axes_mode()
                self._apply_frame_mode()
                if volume_id is not None:  # onto the new image (a 2-D one: onto its slice)
                    self.set_crosshair(self._crosshair)

    # --- layers ----------------------------------------------------------------------
    @property
    def layers(self) -> tuple[Layer, ...]:
        """Layers bottom to top."""
        return tuple(self._layers.values())

    def layer(self, layer_id: str) -> Layer:
        return self._layers[layer_id]

    def move_layer(self, layer_id: str, index: int) -> None:
        """Move a layer to position ``index`` (0 = bottom, -1 = top)."""
        order = [lid for lid in self._layers if lid != layer_id]
        if layer_id not in self._layers:
            raise KeyError(layer_id)
        order.insert(index if index >= 0 else len(order) + 1 + index, layer_id)
        if order != list(self._layers):
            self._layers = {lid: self._layers[lid] for lid in order}
            self.events.layers.emit(LayersReordered(tuple(order)))

    def _replace_layer(self, layer_id: str, what: str, **changes: object) -> None:
        old = self._layers[layer_id]
        new = replace(old, **changes)  # type: ignore[arg-type]
        if all(getattr(old, k) == getattr(new, k) for k in changes):
            return
        self._layers[layer_id] = new
        self.events.layer.emit(LayerChanged(layer_id, what, new))

    def _image_layer(self, layer_id: str) -> ImageLayer:
        layer = self._layers[layer_id]
        if not isinstance(layer, ImageLayer):
            raise TypeError(f"layer {layer_id!r} is a label layer, it has no window")
        return layer

    def _label_layer(self, layer_id: str) -> LabelLayer:
        layer = self._layers[layer_id]
        if not isinstance(layer, LabelLayer):
            raise TypeError(f"layer {layer_id!r} is an image layer, it has no labels")
        return layer

    def set_layer_visible(self, layer_id: str, visible: bool) -> None:
        self._replace_layer(layer_id, "visible", visible=bool(visible))

    def set_layer_opacity(self, layer_id: str, opacity: float) -> None:
        """Opacity clipped to 0..1."""
        self._replace_layer(layer_id, "opacity", opacity=float(np.clip(opacity, 0.0, 1.0)))

    def set_window(self, layer_id: str, center: float, width: float, name: str = "") -> None:
        """Window of an image layer; width is kept at least 1e-6 (a threshold)."""
        self._image_layer(layer_id)
        wl = WindowLevel(float(center), max(float(width), 1e-6), name)
        self._replace_layer(layer_id, "window", window=wl)

    def apply_preset(self, layer_id: str, name: str) -> None:
        """Set a named CT preset (see :mod:`interval.core.window_presets`)."""
        wl = preset(name)
        self.set_window(layer_id, wl.center, wl.width, wl.name)

    def window(self, layer_id: str) -> WindowLevel:
        return self._image_layer(layer_id).window

    def set_invert(self, layer_id: str, invert: bool) -> None:
        self._image_layer(layer_id)
        self._replace_layer(layer_id, "invert", invert=bool(invert))

    # --- fusion (PET over CT) ------------------------------------------------------------
    def add_fusion(
        self,
        volume: Volume,
        volume_id: str | None = None,
        *,
        colormap: str = "pet",
        window: WindowLevel | None = None,
        opacity: float = 0.5,
        name: str = "",
    ) -> str:
        """Open ``volume`` as a fusion layer over the active image (which stays active);
        returns its id.  The window defaults to the volume's DICOM/SUV default (else
        :func:`initial_window`); the layer goes just above the active image's layer."""
        if self._active is None:
            raise ValueError("open an image before fusing another one over it")
        if volume.labels is not None or getattr(volume, "is_rgb", False):
            raise ValueError("a label map or a colour image cannot be a fusion layer")
        with self.events.batch():
            vid = self.add_volume(volume, volume_id, name=name)
            wl = window or volume.metadata.default_window or initial_window(volume)
            self.fuse_layer(vid, colormap=colormap, window=wl, opacity=opacity)
        return vid

    def fuse_layer(
        self,
        layer_id: str,
        *,
        colormap: str = "pet",
        window: WindowLevel | None = None,
        opacity: float = 0.5,
    ) -> None:
        """Turn image layer ``layer_id`` into a fusion layer (over the active image, just
        above its layer), with ``colormap``, ``window`` (None: keep) and ``opacity``."""
        layer = self._image_layer(layer_id)
        with self.events.batch():
            self.set_layer_colormap(layer_id, colormap)
            if window is not None:
                self.set_window(layer_id, window.center, window.width, window.name)
            self.set_layer_opacity(layer_id, opacity)
            self._replace_layer(layer_id, "fusion", fusion=True)
            base = self.active_image_layer_id()
            if base is not None and base != layer.id:
                order = [lid for lid in self._layers if lid != layer_id]
                self.move_layer(layer_id, order.index(base) + 1)

    def unfuse_layer(self, layer_id: str) -> None:
        """Make a fusion layer a plain image layer again (not drawn unless active)."""
        self._image_layer(layer_id)
        self._replace_layer(layer_id, "fusion", fusion=False)

    def set_layer_colormap(self, layer_id: str, colormap: str) -> None:
        """Colour map of an image layer (a name of :data:`~interval.core.colormaps.COLORMAPS`)."""
        from interval.core.colormaps import COLORMAP_NAMES

        if colormap not in COLORMAP_NAMES:
            raise ValueError(f"unknown colour map {colormap!r}; expected one of {COLORMAP_NAMES}")
        self._image_layer(layer_id)
        self._replace_layer(layer_id, "colormap", colormap=colormap)

    def active_image_layer_id(self) -> str | None:
        """The id of the active volume's image layer (None without an active volume)."""
        for layer in reversed(self._layers.values()):
            if isinstance(layer, ImageLayer) and layer.volume_id == self._active:
                return layer.id
        return None

    def fusion_layers(self) -> tuple[ImageLayer, ...]:
        """The fusion layers drawn now over the active image (visible or not; the active
        volume's own layer never), bottom to top."""
        return tuple(
            layer for layer in self._layers.values()
            if isinstance(layer, ImageLayer) and layer.fusion and layer.volume_id != self._active
        )

    def set_label_mode(self, layer_id: str, mode: Literal["fill", "outline"]) -> None:
        if mode not in ("fill", "outline"):
            raise ValueError(f"label mode must be 'fill' or 'outline', got {mode!r}")
        self._label_layer(layer_id)
        self._replace_layer(layer_id, "mode", mode=mode)

    def set_label(
        self,
        layer_id: str,
        value: int,
        *,
        name: str | None = None,
        color: tuple[int, int, int] | None = None,
        visible: bool | None = None,
    ) -> None:
        """Change one label's name, colour (RGB 0-255) or visibility in a label layer."""
        layer = self._label_layer(layer_id)
        old = layer.labels[value]
        new = LabelInfo(
            old.value,
            old.name if name is None else str(name),
            old.color if color is None else tuple(int(np.clip(c, 0, 255)) for c in color),  # type: ignore[arg-type]
            old.visible if visible is None else bool(visible),
        )
        if new == old:
            return
        table = LabelTable([new if i.value == value else i for i in layer.labels])
        self._replace_layer(layer_id, "labels", labels=table)

    # --- crosshair -------------------------------------------------------------------
    @property
    def crosshair(self) -> Point:
        """Crosshair position in LPS mm; every MPR plane passes through it."""
        return self._crosshair

    def set_crosshair(self, position: Point | np.ndarray, *, clamp: bool = True) -> None:
        """Move the crosshair to ``position`` (LPS mm).

        With ``clamp`` (the default) a point outside the active volume is moved to the
        nearest voxel centre inside it (clamped in index space), so a click on the
        black border never sends the other views off the image.
        """
        p = tuple(float(x) for x in np.asarray(position, dtype=np.float64).reshape(3))
        if not all(np.isfinite(p)):
            raise ValueError("crosshair position must be finite")
        if clamp:
            p = self.clamp_to_volume(p)
        if p != self._crosshair:
            self._crosshair = p  # type: ignore[assignment]
            self.events.crosshair.emit(CrosshairChanged(self._crosshair))

    def clamp_to_volume(self, position: Point | np.ndarray) -> Point:
        """``position`` clamped to the active volume's voxel-centre extent (index space).

        Points inside are returned unchanged; without an active volume, too.
        """
        p = np.asarray(position, dtype=np.float64).reshape(3)
        vol = self.active_volume
        if vol is not None:
            ijk = np.asarray(vol.lps_to_index(p), dtype=np.float64).reshape(3)
            top = np.asarray(vol.size_ijk, dtype=np.float64) - 1.0
            if np.any(ijk < -1e-6) or np.any(ijk > top + 1e-6):
                clamped = np.clip(ijk, 0.0, top)
                p = np.asarray(vol.index_to_lps(clamped), dtype=np.float64).reshape(3)
        return (float(p[0]), float(p[1]), float(p[2]))

    # --- layout and views ------------------------------------------------------------
    @property
    def layout(self) -> str:
        return self._layout

    @property
    def focused_view(self) -> str:
        """The view shown by the ``1x1`` layout (and the target of keyboard stepping)."""
        return self._focused

    def set_layout(self, layout: str, focused_view: str | None = None) -> None:
        if layout not in LAYOUT_VIEWS:
            raise ValueError(f"unknown layout {layout!r}; expected one of {tuple(LAYOUT_VIEWS)}")
        focused = self._focused if focused_view is None else focused_view
        if focused not in self._views:
            raise KeyError(focused)
        if self._frame_view is not None and self._restore_2d is not None:
            # 2-D mode: only the frame view is offered; the choice applies afterwards
            self._restore_2d = (layout, focused, self._restore_2d[2])
            layout, focused = "1x1", self._frame_view
        if (layout, focused) != (self._layout, self._focused):
            self._layout, self._focused = layout, focused
            self.events.layout.emit(LayoutChanged(layout, focused))

    def visible_views(self) -> tuple[str, ...]:
        """View ids on screen in the current layout."""
        return (self._focused,) if self._layout == "1x1" else LAYOUT_VIEWS[self._layout]

    def view(self, view_id: str) -> ViewState:
        return self._views[view_id]

    def _replace_view(self, view_id: str, **changes: object) -> None:
        old = self._views[view_id]
        new = replace(old, **changes)  # type: ignore[arg-type]
        if new != old:
            self._views[view_id] = new
            self.events.view.emit(ViewChanged(view_id, new))

    def set_zoom(self, view_id: str, zoom: float) -> None:
        if not np.isfinite(zoom) or zoom <= 0:
            raise ValueError(f"zoom must be positive, got {zoom}")
        self._replace_view(view_id, zoom=float(zoom))

    def set_pan(self, view_id: str, pan: tuple[float, float]) -> None:
        self._replace_view(view_id, pan=(float(pan[0]), float(pan[1])))

    def set_view_axes(self, view_id: str, right: Point | None, down: Point | None) -> None:
        """Oblique axes (LPS) for a view, or None to return to the standard plane."""
        if (right is None) != (down is None):
            raise ValueError("give both right and down, or neither")
        if right is not None and down is not None:
            p = Plane(np.zeros(3), np.asarray(right), np.asarray(down))  # validates
            right, down = tuple(p.right.tolist()), tuple(p.down.tolist())  # type: ignore[assignment]
        self._replace_view(view_id, right=right, down=down)

    # --- acquisition plane or patient axes ----------------------------------------------
    def view_axes_choice(self, volume_id: str | None = None) -> AxesMode:
        """The axes chosen for a volume (default: the active one): ``"volume"`` or
        ``"patient"`` once the user chose, else ``"auto"``."""
        vid = self._active if volume_id is None else volume_id
        return "auto" if vid is None else self._axes_choices.get(vid, "auto")

    @property
    def view_axes_mode(self) -> Literal["volume", "patient"]:
        """What the MPR views follow for the active volume: its acquisition plane
        (``"volume"``) or the patient axes; ``"auto"`` resolved by
        :func:`~interval.core.view_alignment.opens_in_acquisition_plane`."""
        vol = self.active_volume
        if vol is None:
            return "patient"
        if is_two_d(vol):
            return "volume"  # frames in time / a 2-D image: always its own plane
        choice = self.view_axes_choice()
        if choice == "auto":
            return "volume" if opens_in_acquisition_plane(vol) else "patient"
        return choice

    def set_view_axes_mode(self, mode: AxesMode) -> None:
        """Choose the axes of the axial, coronal and sagittal views for the active volume
        (remembered for it while it stays open; ``"auto"`` forgets the choice)."""
        if mode not in AXES_MODES:
            raise ValueError(f"unknown axes mode {mode!r}; expected one of {AXES_MODES}")
        if self._active is not None:
            if mode == "auto":
                self._axes_choices.pop(self._active, None)
            else:
                self._axes_choices[self._active] = mode
        with self.events.batch():
            self._apply_view_axes_mode()

    def rotate_to_volume_plane(self) -> None:
        """Show the active volume in its acquisition plane (3D Slicer's "Rotate to
        volume plane"): each MPR view turns onto the nearest plane of the voxel grid."""
        self.set_view_axes_mode("volume")

    def use_patient_axes(self) -> None:
        """Show true patient axial, coronal and sagittal planes, whatever the acquisition."""
        self.set_view_axes_mode("patient")

    def _apply_view_axes_mode(self) -> None:
        vol = self.active_volume
        aligned = aligned_view_axes(vol) if vol is not None and self.view_axes_mode == "volume" else {}
        for view_id, v in self._views.items():
            if v.kind in aligned:
                self.set_view_axes(view_id, *aligned[v.kind])
            elif v.kind != "3d":
                self.set_view_axes(view_id, None, None)

    def reset_view(self, view_id: str) -> None:
        self._replace_view(view_id, zoom=1.0, pan=(0.0, 0.0))

    def plane(self, view_id: str) -> Plane:
        """The display plane of an MPR view, through the crosshair."""
        v = self._views[view_id]
        if v.kind == "3d":
            raise ValueError("the 3-D view has no slice plane")
        if v.right is not None and v.down is not None:
            return Plane(np.asarray(self._crosshair), np.asarray(v.right), np.asarray(v.down))
        return view_plane(v.kind, self._crosshair)

    # --- 2-D mode: frames in time, a 2-D image -----------------------------------------
    @property
    def two_d_mode(self) -> bool:
        """Whether the active volume is shown as a 2-D image: frames in time (a clip, a
        time series at one position) or one image without a patient position.  Only its
        image plane is shown (layout ``1x1`` on :attr:`frame_view_id`), no 3-D."""
        return self._frame_view is not None

    @property
    def frame_view_id(self) -> str | None:
        """The view showing whole frames in 2-D mode (slices = frames); None otherwise."""
        return self._frame_view

    def _frames_reversed(self) -> bool:
        """Whether the frame view's slices run against the frame order (k)."""
        vol = self.active_volume
        if vol is None or self._frame_view is None:
            return False
        k_axis = np.asarray(vol.direction, dtype=np.float64)[:, 2]
        return float(k_axis @ self.plane(self._frame_view).normal) < 0

    def frame_count(self) -> int:
        """In 2-D mode: the number of frames (else the focused view's slice count)."""
        return self.slice_count(self._frame_view or self._focused)

    def frame_index(self) -> int:
        """In 2-D mode: the 0-based frame shown (its k index, in time order)."""
        view = self._frame_view or self._focused
        i = self.slice_index(view)
        return self.frame_count() - 1 - i if self._frames_reversed() else i

    def set_frame_index(self, index: int) -> int:
        """In 2-D mode: show frame ``index`` (clamped); returns the frame shown."""
        view = self._frame_view or self._focused
        count = self.frame_count()
        index = int(np.clip(index, 0, count - 1))
        self.set_slice_index(view, count - 1 - index if self._frames_reversed() else index)
        return index

    def _apply_frame_mode(self) -> None:
        """Enter, move or leave 2-D mode for the active volume (inside a batch)."""
        vol = self.active_volume
        if vol is not None and is_two_d(vol):
            view = frame_view_kind(vol)
            entering = self._restore_2d is None
            if entering:
                self._restore_2d = (self._layout, self._focused, self._cine)
            self._frame_view = view
            if entering or ("1x1", view) != (self._layout, self._focused):
                # also on entering: what the layout offers changes (no MPR, no 3-D)
                self._layout, self._focused = "1x1", view
                self.events.layout.emit(LayoutChanged("1x1", view))
            rate = frame_rate_hz(vol.metadata)
            self.set_cine(view_id=view, fps=rate or self._restore_2d[2].fps)
            return
        if self._restore_2d is None:
            return
        layout, focused, cine = self._restore_2d
        self._frame_view = None
        self._restore_2d = None
        self.set_cine(fps=cine.fps, view_id=cine.view_id)
        self._layout, self._focused = layout, focused
        self.events.layout.emit(LayoutChanged(layout, focused))  # all layouts offered again

    # --- 3-D + time: sibling volumes of one series ------------------------------------
    @property
    def time_axis(self) -> TimeAxis | None:
        """The time axis of the active volume (a volume of a 3-D + time series), or None."""
        return self._time_axis if self._time_volume == self._active else None

    def set_time_axis(self, axis: TimeAxis | None, volume_id: str | None = None) -> None:
        """Give volume ``volume_id`` (default: the active one) the time axis ``axis`` (None:
        none).  ``axis.key`` names the volume it holds now."""
        vid = self._active if volume_id is None else volume_id
        if axis is not None and vid not in self._volumes:
            raise KeyError(vid)
        if (axis, vid if axis is not None else None) != (self._time_axis, self._time_volume):
            self._time_axis = axis
            self._time_volume = vid if axis is not None else None
            self.events.time.emit(TimeAxisChanged(axis))

    def replace_volume(self, volume_id: str, volume: Volume) -> None:
        """Show ``volume`` in place of volume ``volume_id``: same grid, same layer (window,
        invert, ...), same crosshair -- a sibling in time of the same series."""
        old = self._volumes[volume_id]
        same = (
            old.shape == volume.shape
            and np.allclose(old.spacing, volume.spacing, atol=1e-4)
            and np.allclose(old.origin, volume.origin, atol=1e-3)
            and np.allclose(old.direction, volume.direction, atol=1e-5)
            and (old.labels is None) == (volume.labels is None)
        )
        if not same:
            raise ValueError("the new volume is not on the grid of the one it replaces")
        if volume is not old:
            self._volumes[volume_id] = volume
            self.events.volumes.emit(VolumeEvent(volume_id, True))

    def show_time_index(self, index: int, volume: Volume) -> None:
        """Show volume ``index`` of the active time axis (``volume`` is that sibling, loaded):
        it replaces the volume shown, at the same slice, and the axis moves to ``index``."""
        axis = self.time_axis
        if axis is None or self._time_volume is None:
            raise ValueError("the active volume has no time axis")
        with self.events.batch():
            self.replace_volume(self._time_volume, volume)
            self.set_time_axis(replace(axis, index=int(index)), self._time_volume)

    # --- slice stepping --------------------------------------------------------------
    def _lattice(self, view_id: str) -> tuple[np.ndarray, float, float, int]:
        """(normal, first position along it, step mm, slice count) for the active volume."""
        vol = self.active_volume
        if vol is None:
            raise ValueError("no image volume is open")
        normal = self.plane(view_id).normal
        step = spacing_along(vol, normal)
        t = volume_corners(vol, edges=False) @ normal
        count = int(np.floor((t.max() - t.min()) / step + 1e-6)) + 1
        return normal, float(t.min()), step, count

    def slice_step(self, view_id: str) -> float:
        """Distance (mm) between slices of a view: the active volume's spacing along its normal."""
        return self._lattice(view_id)[2]

    def slice_count(self, view_id: str) -> int:
        return self._lattice(view_id)[3]

    def slice_index(self, view_id: str) -> int:
        """Index of the crosshair's slice in the view, clamped to 0..count-1."""
        normal, t0, step, count = self._lattice(view_id)
        t = float(np.asarray(self._crosshair) @ normal)
        return int(np.clip(np.floor((t - t0) / step + 0.5), 0, count - 1))

    def set_slice_index(self, view_id: str, index: int) -> int:
        """Move the crosshair along the view normal onto slice ``index`` (clamped)."""
        normal, t0, step, count = self._lattice(view_id)
        index = int(np.clip(index, 0, count - 1))
        p = np.asarray(self._crosshair)
        # the lattice spans the volume along the normal; no clamping (it could undo a
        # step on an oblique plane)
        self.set_crosshair(p + (t0 + index * step - float(p @ normal)) * normal, clamp=False)
        return index

    def step_slice(self, view_id: str, n: int = 1) -> int:
        """Move ``n`` slices along the view normal (positive = into the screen)."""
        return self.set_slice_index(view_id, self.slice_index(view_id) + n)

    # --- cine ------------------------------------------------------------------------
    @property
    def cine(self) -> CineState:
        return self._cine

    def set_cine(self, **changes: object) -> None:
        """Change cine fields (``playing``, ``view_id``, ``fps``, ``mode``, ``direction``)."""
        new = replace(self._cine, **changes)  # type: ignore[arg-type]
        if new.fps <= 0 or new.mode not in ("loop", "bounce") or new.direction not in (1, -1):
            raise ValueError(f"invalid cine settings: {new}")
        if new.view_id not in self._views:
            raise KeyError(new.view_id)
        if new != self._cine:
            self._cine = new
            self.events.cine.emit(CineChanged(new))

    def cine_tick(self) -> int:
        """Advance the cine view one slice (wrapping or bouncing); returns the new index.

        On the frame view of 2-D mode it steps frames forward in time (the frame index)."""
        c = self._cine
        if c.view_id == self._frame_view:
            count, get, put = self.frame_count(), self.frame_index, self.set_frame_index
        else:
            count = self.slice_count(c.view_id)
            get = lambda: self.slice_index(c.view_id)  # noqa: E731
            put = lambda i: self.set_slice_index(c.view_id, i)  # noqa: E731
        nxt = get() + c.direction
        if 0 <= nxt < count:
            return put(nxt)
        if c.mode == "loop":
            return put(nxt % count)
        with self.events.batch():
            self.set_cine(direction=-c.direction)
            return put(get() - c.direction)


def _centre_voxel(volume: Volume) -> np.ndarray:
    """LPS centre of the voxel nearest the middle of the volume."""
    mid = [(n - 1) // 2 for n in volume.size_ijk]
    return volume.index_to_lps(np.asarray(mid, dtype=np.float64))
