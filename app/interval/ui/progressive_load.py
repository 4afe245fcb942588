"""Show a series while it loads: the middle slice first, the rest as it arrives.

The loader (``load_stack(..., on_partial=...)``) fills the volume's array in place,
middle slice first; the job hands the :class:`~interval.ui.workers.PartialVolume` to
the UI thread.  :class:`ProgressiveLoad` (one per load, owned by the main window)
puts that volume into the :class:`ViewerState` at once -- replacing what was shown,
which it remembers -- and then only tells VTK that the shared array changed
(:func:`~interval.ui.vtk_image.mark_modified`) and redraws the slice views, at most
every :data:`REFRESH_MS`.  When the load ends the views are refreshed once more
(the 3-D view only then: uploading its texture on every slab would cost more than it
shows), and an automatic window (MR & co.) is recomputed on the complete volume
unless the user changed it meanwhile.  When the load is cancelled or fails, the
partial volume is removed and what was shown before is put back.

Reading the array while reader threads write it is safe (numpy memory owned by the
volume); at worst one frame shows a half-written slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer

from interval.core.metadata import WindowLevel
from interval.core.viewer_state import ImageLayer, LabelLayer, ViewerState
from interval.core.volume import Volume
from interval.core.window_presets import initial_window
from interval.ui.vtk_image import image_array, mark_modified

REFRESH_MS = 100


@dataclass
class _Shown:
    """What the views showed before a load replaced it (to put it back)."""

    volumes: list[tuple[str, Volume, Any]]  # id, volume, its layer (bottom first)
    active: str | None
    crosshair: tuple[float, float, float]


class ProgressiveLoad(QObject):
    """The partial volume of one load in the viewer, from its first slice to the end."""

    def __init__(
        self, state: ViewerState, views: object, title: str, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.views = views  # the ViewLayout (``.views``: MPR views, ``._view_3d``)
        self.title = title
        self.volume: Volume | None = None
        self.volume_id: str | None = None
        self.previous: _Shown | None = None  # set when the first partial replaced the views
        self.filled = 0
        self.total = 0
        self.mask: np.ndarray = np.zeros(0, dtype=bool)  # slices read (final), latest report
        self._drawn: dict[str, np.ndarray] = {}  # view id -> mask when it last re-read the array
        self._auto: WindowLevel | None = None  # the automatic window given at the start
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self.closed = False

    # --- the load's signals -----------------------------------------------------------
    @property
    def showing(self) -> bool:
        """Whether a partial volume is in the viewer now."""
        vid = self.volume_id
        return vid is not None and self.state.volumes.get(vid) is self.volume is not None

    def on_partial(self, partial: Any) -> None:
        """A :class:`~interval.ui.workers.PartialVolume` arrived: show it, or refresh soon."""
        if self.closed:
            return
        volume = partial.volume
        self.mask = partial.filled
        self.filled, self.total = int(partial.filled.sum()), int(partial.filled.size)
        if volume is self.volume and self.showing:
            if not self._timer.isActive():
                self._timer.start()
            return
        self._show(volume)

    def take_over(self, older: ProgressiveLoad) -> None:
        """Replace ``older`` (a load superseded by this one): what it showed goes when
        this one shows something, and what was there before it is what gets restored."""
        older.closed = True
        older._timer.stop()
        if older.previous is not None:
            self.previous = older.previous
            self.volume_id, self.volume = older.volume_id, older.volume  # removed on show

    def _show(self, volume: Volume) -> None:
        with self.state.events.batch():
            if self.previous is None:
                self.previous = self._snapshot()
            for vid in list(self.state.volumes):
                self.state.remove_volume(vid)
            self.volume = volume
            self.volume_id = self.state.add_volume(volume, name=self.title)
        layer = self.state.layer(self.volume_id)
        self._auto = layer.window if _is_automatic(volume, layer) else None
        # the views draw the new volume now: with (at least) the slices read so far
        self._drawn = {vid: self.mask for vid in (getattr(self.views, "views", None) or {})}

    def refresh(self, *, with_3d: bool = False) -> None:
        """Let VTK see the new slices and redraw the (visible) views."""
        self._timer.stop()
        if self.volume is None or not self.showing:
            return
        array = self.volume.array
        for view_id, view in (getattr(self.views, "views", None) or {}).items():
            sv = getattr(view, "slice_view", None)
            image = getattr(sv, "_image", None)
            if image is None or image_array(image) is not array:
                continue
            drawn = self._drawn.get(view_id)
            if not with_3d and drawn is not None and _plane_was_read(sv, self.volume, drawn):
                continue  # it shows slices that were already read when it was last drawn
            self._drawn[view_id] = self.mask
            mark_modified(image)
            widget = getattr(view, "vtk", None)
            if widget is not None and view.isVisible():
                widget.update()
        if with_3d:  # the 3-D view may draw a reduced copy: it re-derives it itself
            view3d = getattr(self.views, "_view_3d", None)
            if (
                view3d is not None
                and getattr(view3d, "volume_id", None) == self.volume_id
                and hasattr(view3d, "refresh_volume")
            ):
                view3d.refresh_volume()

    def finish(self, volume: Volume) -> bool:
        """The load ended with ``volume``; True when it is the one already shown
        (then it was refreshed and nothing else needs to change in the state)."""
        self.closed = True
        self._timer.stop()
        if volume is not self.volume or not self.showing:
            return False
        assert self.volume_id is not None
        self.refresh(with_3d=True)
        layer = self.state.layer(self.volume_id)
        if self._auto is not None and isinstance(layer, ImageLayer) and layer.window == self._auto:
            wl = initial_window(volume)  # the zero-filled partial skewed the first guess
            self.state.set_window(self.volume_id, wl.center, wl.width, wl.name)
        return True

    def abandon(self) -> bool:
        """The load was cancelled or failed: remove the partial volume and put back
        what was shown before.  True when something was put back."""
        self.closed = True
        self._timer.stop()
        if self.previous is None:
            return False
        with self.state.events.batch():
            vid = self.volume_id
            if vid is not None and self.state.volumes.get(vid) is self.volume:
                self.state.remove_volume(vid)
            restored = self._restore(self.previous)
        self.previous = None
        self.volume = None
        return restored

    # --- remembering what was shown ---------------------------------------------------
    def _snapshot(self) -> _Shown:
        s = self.state
        by_volume = {layer.volume_id: layer for layer in s.layers}
        volumes = [(vid, vol, by_volume.get(vid)) for vid, vol in s.volumes.items()]
        order = {layer.volume_id: n for n, layer in enumerate(s.layers)}
        volumes.sort(key=lambda item: order.get(item[0], len(order)))
        return _Shown(volumes, s.active_volume_id, s.crosshair)

    def _restore(self, shown: _Shown) -> bool:
        s = self.state
        for vid, volume, layer in shown.volumes:
            if vid in s.volumes:
                continue
            s.add_volume(volume, vid, name=getattr(layer, "name", ""))
            if isinstance(layer, ImageLayer):
                s.set_window(vid, layer.window.center, layer.window.width, layer.window.name)
                s.set_invert(vid, layer.invert)
            if isinstance(layer, ImageLayer | LabelLayer):
                s.set_layer_visible(vid, layer.visible)
                s.set_layer_opacity(vid, layer.opacity)
        if shown.active is not None and shown.active in s.volumes:
            s.set_active_volume(shown.active)
        if shown.volumes:
            s.set_crosshair(shown.crosshair)
        return bool(shown.volumes)


def _is_automatic(volume: Volume, layer: object) -> bool:
    """Whether the layer's window was computed from the (partial) voxels."""
    if not isinstance(layer, ImageLayer):
        return False
    meta = volume.metadata
    if meta.modality.upper() == "CT" or meta.units.upper() == "HU":
        return False
    return layer.window != meta.default_window  # not the DICOM window: image-based


def _plane_was_read(slice_view: Any, volume: Volume, drawn: np.ndarray) -> bool:
    """Whether ``slice_view`` shows a plane parallel to the slices whose voxels (and the
    neighbours linear interpolation may touch) were all read in ``drawn``."""
    try:
        along = abs(float(np.dot(slice_view.normal, volume.direction[:, 2])))
        if along < 1.0 - 1e-6:
            return False  # coronal, sagittal, oblique: crosses every slice
        k = int(slice_view.slice_index)
    except Exception:  # noqa: BLE001 - when unsure, redraw
        return False
    lo, hi = max(k - 1, 0), min(k + 2, drawn.size)
    return lo < hi and bool(drawn[lo:hi].all())
