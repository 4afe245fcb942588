"""Mouse and keyboard bindings of the MPR views, mapped onto :class:`ViewerState` changes.

Familiar bindings (3D Slicer / OHIF):

* wheel, Up/Down arrows: previous/next slice; PageUp/PageDown: 10 % of the slices;
  Home/End: first/last slice;
* left-drag: window/level (horizontal = width, vertical = level); left click: crosshair;
* right-drag: zoom (up = in); middle-drag: pan;
* double-click: maximise/restore the view (the crosshair stays where it was: the
  double-click's first click does not move it); R: reset zoom and pan; I: invert.

While a measuring tool is on (:mod:`interval.ui.measure_tools`, toolbar / N M E B keys)
the tool takes the LEFT button (drawing) and Escape; the other bindings stay as above.

The mapping is plain functions (testable without rendering); :class:`ViewInteraction`
adapts Qt events to them for one view.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from PySide6.QtCore import Qt

from interval.core.viewer_state import ImageLayer, ViewerState

WHEEL_NOTCH = 120  # Qt angleDelta units per wheel notch
PAGE_FRACTION = 0.1  # PageUp/PageDown move this share of the slices
CLICK_TOLERANCE_PX = 3.0  # a press/release closer than this is a click, not a drag
ZOOM_PER_PIXEL = 0.01  # right-drag: zoom x e^(0.01) per pixel upwards
MIN_ZOOM, MAX_ZOOM = 0.05, 64.0

DragMode = Literal["window", "zoom", "pan"]


@dataclass(frozen=True)
class Action:
    """What a key does: ``step`` by ``amount`` slices, go to ``first``/``last``, ``reset``, ``invert``."""

    kind: Literal["step", "first", "last", "reset", "invert"]
    amount: int = 0


# --- pure mapping -----------------------------------------------------------------------
def wheel_steps(delta_y: float) -> int:
    """Slices to move for a wheel event's vertical angle delta (towards the user = next).

    One notch (120) is one slice; a touchpad's smaller deltas still move one slice.
    """
    if delta_y == 0:
        return 0
    n = max(1, round(abs(delta_y) / WHEEL_NOTCH))
    return -n if delta_y > 0 else n


def page_size(slice_count: int) -> int:
    """Slices moved by PageUp/PageDown: about 10 % of the slices, at least 1."""
    return max(1, round(slice_count * PAGE_FRACTION))


def key_action(key: int, slice_count: int) -> Action | None:
    """The action bound to Qt key code ``key`` (None when the key is not ours)."""
    page = page_size(slice_count)
    table = {
        int(Qt.Key.Key_Up): Action("step", -1),
        int(Qt.Key.Key_Down): Action("step", 1),
        int(Qt.Key.Key_PageUp): Action("step", -page),
        int(Qt.Key.Key_PageDown): Action("step", page),
        int(Qt.Key.Key_Home): Action("first"),
        int(Qt.Key.Key_End): Action("last"),
        int(Qt.Key.Key_R): Action("reset"),
        int(Qt.Key.Key_I): Action("invert"),
    }
    return table.get(int(key))


def drag_mode(button: Qt.MouseButton) -> DragMode | None:
    """The drag bound to a mouse button: left = window, right = zoom, middle = pan."""
    return {
        Qt.MouseButton.LeftButton: "window",
        Qt.MouseButton.RightButton: "zoom",
        Qt.MouseButton.MiddleButton: "pan",
    }.get(button)


def window_drag(
    center: float, width: float, dx: float, dy: float, units_per_pixel: float
) -> tuple[float, float]:
    """New ``(center, width)`` after a left-drag of ``(dx, dy)`` screen pixels.

    Right widens the window, left narrows it (never below 1); down raises the level
    (the image darkens), up lowers it, as in OHIF and 3D Slicer.
    """
    return center + dy * units_per_pixel, max(1.0, width + dx * units_per_pixel)


def window_sensitivity(low: float, high: float) -> float:
    """Window units per dragged pixel for data spanning ``low..high`` (about 4 HU for CT)."""
    return max((high - low) / 1000.0, 1e-3)


def zoom_drag(zoom: float, dy: float) -> float:
    """New zoom after a right-drag of ``dy`` pixels (up = ``dy`` < 0 zooms in)."""
    return float(np.clip(zoom * math.exp(-dy * ZOOM_PER_PIXEL), MIN_ZOOM, MAX_ZOOM))


def pan_drag(
    pan: tuple[float, float], dx: float, dy: float, mm_per_pixel: float
) -> tuple[float, float]:
    """New pan (screen mm, right/down) after a middle-drag: the image follows the mouse."""
    return pan[0] + dx * mm_per_pixel, pan[1] + dy * mm_per_pixel


def is_click(press: tuple[float, float], release: tuple[float, float]) -> bool:
    return math.hypot(release[0] - press[0], release[1] - press[1]) < CLICK_TOLERANCE_PX


# --- applying actions to the state --------------------------------------------------------
def active_image_layer(state: ViewerState) -> ImageLayer | None:
    """The image layer of the active volume (the one W/L and invert act on)."""
    vid = state.active_volume_id
    for layer in reversed(state.layers):
        if isinstance(layer, ImageLayer) and layer.volume_id == vid:
            return layer
    return None


def apply_action(state: ViewerState, view_id: str, action: Action) -> None:
    """Carry out a key action on ``view_id``."""
    if action.kind == "reset":
        state.reset_view(view_id)
        return
    if action.kind == "invert":
        layer = active_image_layer(state)
        if layer is not None:
            state.set_invert(layer.id, not layer.invert)
        return
    if state.active_volume is None:
        return
    if action.kind == "step":
        state.step_slice(view_id, action.amount)
    elif action.kind == "first":
        state.set_slice_index(view_id, 0)
    elif action.kind == "last":
        state.set_slice_index(view_id, state.slice_count(view_id) - 1)


class Screen(Protocol):
    """What the interaction needs from a view on screen."""

    def display_to_lps(self, x: float, row: float) -> np.ndarray: ...

    @property
    def mm_per_pixel(self) -> float: ...

    def request_maximise(self) -> None: ...


@dataclass
class _Drag:
    mode: DragMode
    start: tuple[float, float]
    last: tuple[float, float]
    moved: bool = False


DOUBLE_CLICK_S = 1.0  # a click this recent is the first half of a double-click


class ViewInteraction:
    """Qt mouse/key events of one view -> :class:`ViewerState` changes."""

    def __init__(self, state: ViewerState, view_id: str, screen: Screen) -> None:
        self.state = state
        self.view_id = view_id
        self.screen = screen
        self._drag: _Drag | None = None
        # the crosshair before the last click, and when: a double-click puts it back
        self._before_click: tuple[tuple[float, float, float], float] | None = None

    # --- handlers taking plain values (used by the Qt adapters and tests) ---------------
    def wheel(self, delta_y: float) -> None:
        n = wheel_steps(delta_y)
        if n and self.state.active_volume is not None:
            self.state.step_slice(self.view_id, n)

    def key(self, key: int) -> bool:
        """Handle a key; True when it was one of ours."""
        if self.state.active_volume is None:
            return False
        action = key_action(key, self.state.slice_count(self.view_id))
        if action is None:
            return False
        apply_action(self.state, self.view_id, action)
        return True

    def press(self, button: Qt.MouseButton, x: float, row: float) -> None:
        mode = drag_mode(button)
        self._drag = None if mode is None else _Drag(mode, (x, row), (x, row))

    def move(self, x: float, row: float) -> None:
        d = self._drag
        if d is None or self.state.active_volume is None:
            return
        if not d.moved and is_click(d.start, (x, row)):
            return
        d.moved = True
        dx, dy = x - d.last[0], row - d.last[1]
        d.last = (x, row)
        view = self.state.view(self.view_id)
        if d.mode == "window":
            layer = active_image_layer(self.state)
            vol = None if layer is None else self.state.volume(layer.volume_id)
            if layer is not None and vol is not None and not vol.is_rgb:  # colour: no W/L
                k = window_sensitivity(*_value_range(vol.array))
                c, w = window_drag(layer.window.center, layer.window.width, dx, dy, k)
                self.state.set_window(layer.id, c, w)
        elif d.mode == "zoom":
            self.state.set_zoom(self.view_id, zoom_drag(view.zoom, dy))
        else:
            self.state.set_pan(self.view_id, pan_drag(view.pan, dx, dy, self.screen.mm_per_pixel))

    def release(self, button: Qt.MouseButton, x: float, row: float) -> None:
        d, self._drag = self._drag, None
        if d is None or d.moved or d.mode != "window" or not is_click(d.start, (x, row)):
            return
        self.click(x, row)

    def click(self, x: float, row: float) -> None:
        """Move the crosshair to the patient point under the screen position."""
        if self.state.active_volume is not None:
            self._before_click = (tuple(self.state.crosshair), time.monotonic())
            self.state.set_crosshair(self.screen.display_to_lps(x, row))

    def double_click(self, button: Qt.MouseButton) -> None:
        self._drag = None
        if button == Qt.MouseButton.LeftButton:
            before, self._before_click = self._before_click, None
            if before is not None and time.monotonic() - before[1] < DOUBLE_CLICK_S:
                self.state.set_crosshair(before[0])  # maximising is not pointing
            self.screen.request_maximise()

    # --- Qt adapters ---------------------------------------------------------------------
    def wheel_event(self, event: object) -> None:
        self.wheel(event.angleDelta().y())  # type: ignore[attr-defined]
        event.accept()  # type: ignore[attr-defined]

    def key_press_event(self, event: object) -> bool:
        handled = self.key(int(event.key()))  # type: ignore[attr-defined]
        if handled:
            event.accept()  # type: ignore[attr-defined]
        return handled

    def mouse_press_event(self, event: object) -> None:
        p = event.position()  # type: ignore[attr-defined]
        self.press(event.button(), p.x(), p.y())  # type: ignore[attr-defined]

    def mouse_move_event(self, event: object) -> None:
        p = event.position()  # type: ignore[attr-defined]
        self.move(p.x(), p.y())

    def mouse_release_event(self, event: object) -> None:
        p = event.position()  # type: ignore[attr-defined]
        self.release(event.button(), p.x(), p.y())  # type: ignore[attr-defined]

    def mouse_double_click_event(self, event: object) -> None:
        self.double_click(event.button())  # type: ignore[attr-defined]


_RANGE_CACHE: list[tuple[weakref.ref, tuple[float, float]]] = []


def _value_range(array: np.ndarray) -> tuple[float, float]:
    """(min, max) of an array (of a strided sample when large), cached for the last array."""
    if _RANGE_CACHE and _RANGE_CACHE[0][0]() is array:
        return _RANGE_CACHE[0][1]
    sample = array if array.size <= 4_000_000 else array[:: max(1, array.shape[0] // 16), ::4, ::4]
    rng = (float(sample.min()), float(sample.max()))
    _RANGE_CACHE[:] = [(weakref.ref(array), rng)]
    return rng
