"""The time bar of a 3-D + time series (DCE, fMRI): a slider, play/stop and the volume text.

The state holds the time axis (:class:`~interval.core.time_axis.TimeAxis`) of the active
volume; this bar loads the sibling volumes in a background thread (nearest to the one
shown first, while they fit :data:`CACHE_BYTES`), and moving the slider or a cine tick
shows the sibling at the same slice (:meth:`ViewerState.show_time_index`).  A sibling not
loaded yet is shown as soon as it arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from interval.core.time_axis import TimeAxis
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume

log = logging.getLogger(__name__)

CACHE_BYTES = 2 * 1024**3  # sibling volumes kept in memory at most
POLL_MS = 40  # how often finished background loads are picked up
DEFAULT_FPS = 2.0  # volumes per second while playing


class TimeAxisBar(QWidget):
    """Slider and cine over the volumes of ``state.time_axis``; ``load(key)`` reads one
    sibling (called in a worker thread)."""

    def __init__(
        self,
        state: ViewerState,
        load: Callable[[str], Volume],
        parent: QWidget | None = None,
        *,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("timeAxisBar")
        self.state = state
        self._load = load
        self._cache_bytes = cache_bytes
        self._cache: dict[str, Volume] = {}
        self._futures: dict[str, Future] = {}
        self._wanted: int | None = None  # index asked for while its volume was loading
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interval-time")
        self.container: QWidget = self  # what is shown and hidden (a tool bar holding it)
        self.play_button = QPushButton("Play", self)
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self.set_playing)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setObjectName("timeSlider")
        self.slider.valueChanged.connect(self.show_index)
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setMinimumWidth(170)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.addWidget(QLabel("Time", self))
        row.addWidget(self.play_button)
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._collect)
        self.cine = QTimer(self)
        self.cine.setInterval(round(1000.0 / DEFAULT_FPS))
        self.cine.timeout.connect(self.tick)
        state.events.time.connect(self.sync)
        state.events.active_volume.connect(self.sync)
        self.sync()

    # --- state -> bar -------------------------------------------------------------------
    @property
    def axis(self) -> TimeAxis | None:
        return self.state.time_axis

    def sync(self, _event: object = None) -> None:
        """Follow the state: shown while the active volume has a time axis."""
        axis = self.axis
        self.container.setVisible(axis is not None)
        if axis is None:
            self.set_playing(False)
            return
        vol = self.state.active_volume
        if vol is not None:
            self._cache.setdefault(axis.key, vol)
        self.slider.blockSignals(True)
        self.slider.setRange(0, axis.count - 1)
        self.slider.setValue(axis.index)
        self.slider.blockSignals(False)
        loading = self._wanted is not None and self._wanted != axis.index
        self.label.setText(axis.text() + ("  (loading…)" if loading else ""))
        self._preload()

    # --- showing a volume ------------------------------------------------------------------
    def show_index(self, index: int) -> bool:
        """Show sibling ``index`` now if loaded (True), else as soon as it is (False)."""
        axis = self.axis
        if axis is None:
            return False
        index = max(0, min(int(index), axis.count - 1))
        volume = self._cache.get(axis.keys[index])
        if volume is None:
            self._wanted = index
            self._request(axis.keys[index])
            self.sync()
            return False
        self._wanted = None
        if index != axis.index:
            self.state.show_time_index(index, volume)
        return True

    def tick(self) -> None:
        """One cine step: the next volume in time (looping), once it is loaded."""
        axis = self.axis
        if axis is None:
            self.set_playing(False)
            return
        if self._wanted is None:
            self.show_index((axis.index + 1) % axis.count)

    def set_playing(self, playing: bool) -> None:
        if playing and self.axis is not None:
            self.cine.start()
        else:
            self.cine.stop()
        if self.play_button.isChecked() != bool(playing and self.axis is not None):
            self.play_button.blockSignals(True)
            self.play_button.setChecked(bool(playing and self.axis is not None))
            self.play_button.blockSignals(False)

    def reset(self, load: Callable[[str], Volume]) -> None:
        """Forget the loaded siblings (another series): ``load`` reads the new ones."""
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        self._cache.clear()
        self._wanted = None
        self._load = load
        self.sync()

    def loaded(self, key: str) -> bool:
        """Whether sibling ``key`` is in memory."""
        return key in self._cache

    # --- background loading ------------------------------------------------------------------
    def _request(self, key: str) -> None:
        if key in self._cache or key in self._futures:
            return
        self._futures[key] = self._pool.submit(self._load, key)
        self._poll.start()

    def _preload(self) -> None:
        """Queue siblings nearest to the one shown while the cache has room."""
        axis = self.axis
        if axis is None:
            return
        vol = self.state.active_volume
        each = vol.array.nbytes if vol is not None else 0
        room = self._cache_bytes // max(each, 1)
        order = sorted(range(axis.count), key=lambda i: (abs(i - axis.index), i))
        for i in order[: max(int(room), 1)]:
            self._request(axis.keys[i])

    def _collect(self) -> None:
        """Pick up finished loads (UI thread); show a volume that was waited for."""
        for key, future in list(self._futures.items()):
            if not future.done():
                continue
            del self._futures[key]
            try:
                self._cache[key] = future.result()
            except Exception as exc:  # noqa: BLE001 - one sibling failing stops nothing else
                log.warning("a volume of the time series could not be loaded: %s", exc)
        if not self._futures:
            self._poll.stop()
        self._evict()
        if self._wanted is not None:
            axis = self.axis
            if axis is not None and axis.keys[self._wanted] in self._cache:
                self.show_index(self._wanted)
            self.sync()

    def _evict(self) -> None:
        """Drop the siblings farthest from the one shown beyond the cache budget."""
        axis = self.axis
        if axis is None:
            return
        pos = {k: i for i, k in enumerate(axis.keys)}
        total = sum(v.array.nbytes for v in self._cache.values())
        for key in sorted(self._cache, key=lambda k: -abs(pos.get(k, 0) - axis.index)):
            if total <= self._cache_bytes or key == axis.key:
                break
            total -= self._cache.pop(key).array.nbytes

    def close_bar(self) -> None:
        """Stop playing and loading, and stop following the state."""
        self.set_playing(False)
        self._poll.stop()
        for future in self._futures.values():
            future.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.state.events.time.disconnect(self.sync)
        self.state.events.active_volume.disconnect(self.sync)


def attach_time_axis(window, stack_uid: str, policy) -> TimeAxisBar | None:  # noqa: ANN001
    """After ``window`` loaded stack ``stack_uid``: give the active volume the time axis of
    its series' volumes (3-D + time) and the bar that moves along it; None when the stack
    is not one of several volumes."""
    from PySide6.QtWidgets import QToolBar

    from interval.io.dicom.load import load_stack
    from interval.io.dicom.time_series import volume_siblings, volume_times_ms

    result = getattr(window, "index_result", None)
    index = getattr(result, "index", None)
    siblings = volume_siblings(index, stack_uid) if index is not None else []
    state: ViewerState = window.state
    keys = tuple(s.uid for s in siblings)
    if stack_uid not in keys or state.active_volume_id is None:
        state.set_time_axis(None)
        return getattr(window, "time_bar", None)
    times = volume_times_ms(siblings)
    by_uid = {s.uid: s for s in siblings}
    bar: TimeAxisBar | None = getattr(window, "time_bar", None)

    def load(key: str) -> Volume:
        return load_stack(by_uid[key], policy)

    if bar is None:
        bar = TimeAxisBar(state, load, window)
        tools = QToolBar("Time", window)
        tools.setObjectName("timeToolBar")
        tools.addWidget(bar)
        window.addToolBar(Qt.ToolBarArea.BottomToolBarArea, tools)
        bar.container = tools
        window.time_bar = bar
    else:
        bar.reset(load)
    axis = TimeAxis(keys, keys.index(stack_uid), tuple(t / 1000.0 for t in times))
    state.set_time_axis(axis)
    bar.sync()
    return bar
