"""A minimal 2-D view host for the layers/measurement UI tests (SliceView following a ViewerState)."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QVBoxLayout, QWidget

from interval.core.viewer_state import ImageLayer, LabelLayer, ViewerState
from interval.ui.slice_view import SliceView
from interval.ui.vtk_widget import VtkWidget


class SliceHost(QWidget):
    """An axial :class:`SliceView` in a widget, following the state's crosshair and top label layer.

    It offers what :class:`interval.ui.measure_tools.MeasureHost` needs (``view_id``,
    ``renderer``, ``vtk``, ``display_to_lps``), like the real MPR view.
    """

    def __init__(self, state: ViewerState, view_id: str = "axial", px_per_mm: float = 4.0) -> None:
        super().__init__()
        self.state = state
        self.view_id = view_id
        self.vtk = VtkWidget(self)
        QVBoxLayout(self).addWidget(self.vtk)
        self.layout().setContentsMargins(0, 0, 0, 0)
        self.renderer = self.vtk.add_renderer()
        self.slice_view = SliceView(self.renderer, state.view(view_id).kind)
        self.slice_view.set_volume(state.active_volume)
        self.slice_view.set_mm_per_pixel(1.0 / px_per_mm)
        self.slice_view.center_on(state.crosshair)
        self._sync()
        state.events.crosshair.connect(self._on_crosshair)
        state.events.layer.connect(self._on_layer)
        state.events.layers.connect(self._on_layer)

    def _top_label(self) -> LabelLayer | None:
        for layer in reversed(self.state.layers):
            if isinstance(layer, LabelLayer) and layer.visible:
                return layer
        return None

    def _sync(self) -> None:
        sv = self.slice_view
        sv.set_slice_position(float(np.asarray(self.state.crosshair) @ sv.normal))
        image = self.state.layer(self.state.active_volume_id)
        if isinstance(image, ImageLayer):
            sv.set_window_level(image.window.center, image.window.width)
        layer = self._top_label()
        if layer is None:
            sv.set_label_map(None)
        else:
            labels = self.state.volume(layer.volume_id)
            if sv.labels is not labels:
                sv.set_label_map(labels, layer.labels, layer.opacity)
            sv.set_label_table(layer.labels)
            sv.set_label_opacity(layer.opacity)
            sv.set_label_mode(layer.mode)

    def _on_crosshair(self, _event: object) -> None:
        self._sync()

    def _on_layer(self, _event: object) -> None:
        self._sync()

    def display_to_lps(self, x: float, row: float) -> np.ndarray:
        return self.slice_view.display_to_world(x, row)

    def lps_to_display(self, lps) -> tuple[float, float]:  # noqa: ANN001
        return self.slice_view.world_to_display(lps)

    def capture(self) -> np.ndarray:
        self.vtk.render_now()
        return self.vtk.capture()
