"""Cine playback: a QTimer that advances ``state.cine.view_id`` at ``state.cine.fps``.

The state owns the cine settings (:class:`~interval.core.viewer_state.CineState`);
this object only turns ``playing`` into timer ticks calling ``state.cine_tick()``.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer

from interval.core.viewer_state import CineChanged, ViewerState


class CinePlayer(QObject):
    """Plays the cine of ``state`` while ``state.cine.playing`` is true."""

    def __init__(self, state: ViewerState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self.tick)
        state.events.cine.connect(self._on_cine)
        state.events.volumes.connect(self._on_volumes)
        self._on_cine(CineChanged(state.cine))

    @staticmethod
    def interval_ms(fps: float) -> int:
        """Timer interval for ``fps`` frames per second (at least 1 ms)."""
        return max(1, round(1000.0 / fps))

    def _on_cine(self, event: CineChanged) -> None:
        cine = event.cine
        self.timer.setInterval(self.interval_ms(cine.fps))
        if cine.playing and self.state.active_volume is not None:
            if not self.timer.isActive():
                self.timer.start()
        else:
            self.timer.stop()

    def _on_volumes(self, _event: object) -> None:
        if self.state.active_volume is None and self.state.cine.playing:
            self.state.set_cine(playing=False)

    def play(self, view_id: str | None = None) -> None:
        """Start playing ``view_id`` (default: the current cine view)."""
        changes: dict[str, object] = {"playing": True}
        if view_id is not None:
            changes["view_id"] = view_id
        self.state.set_cine(**changes)

    def stop(self) -> None:
        self.state.set_cine(playing=False)

    def toggle(self) -> None:
        self.state.set_cine(playing=not self.state.cine.playing)

    def tick(self) -> None:
        """Advance one slice (a timer tick)."""
        if self.state.active_volume is None:
            self.timer.stop()
            return
        self.state.cine_tick()

    def close(self) -> None:
        self.timer.stop()
        self.state.events.cine.disconnect(self._on_cine)
        self.state.events.volumes.disconnect(self._on_volumes)
