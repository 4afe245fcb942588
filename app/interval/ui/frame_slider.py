"""The frame slider under a view in 2-D mode (a clip or a time series at one position).

Shown only while ``state.frame_view_id`` is its view; the slider steps the frames (the
view's slices, see :mod:`interval.core.frame_mode`) and its label reads
"Frame 3/10  t = 0.40 s".  It holds no state: it follows the crosshair.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

from interval.core.frame_mode import frame_text, frame_time_s
from interval.core.viewer_state import ViewerState


class FrameSlider(QWidget):
    """A slider over the frames of ``state``'s active volume, shown in 2-D mode on ``view_id``."""

    def __init__(self, state: ViewerState, view_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.view_id = view_id
        self.setObjectName(f"frame-slider-{view_id}")
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setObjectName("frameSlider")
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setMinimumWidth(150)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        self.slider.valueChanged.connect(self._on_slider)
        ev = state.events
        for sig in (ev.crosshair, ev.active_volume, ev.layout, ev.volumes):
            sig.connect(self.sync)
        self.sync()

    @property
    def shown(self) -> bool:
        """Whether the state is in 2-D mode on this slider's view."""
        return self.state.active_volume is not None and self.state.frame_view_id == self.view_id

    def sync(self, _event: object = None) -> None:
        """Follow the state: visible in 2-D mode, range = frames, value = the frame shown."""
        shown = self.shown
        self.setVisible(shown)
        if not shown:
            return
        count = self.state.frame_count()
        index = self.state.frame_index()
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(count - 1, 0))
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        vol = self.state.active_volume
        time_s = frame_time_s(vol.metadata if vol is not None else None, index)
        self.label.setText(frame_text(index + 1, count, time_s))

    def _on_slider(self, value: int) -> None:
        if self.shown:
            self.state.set_frame_index(int(value))

    def close_slider(self) -> None:
        """Stop following the state."""
        ev = self.state.events
        for sig in (ev.crosshair, ev.active_volume, ev.layout, ev.volumes):
            sig.disconnect(self.sync)
