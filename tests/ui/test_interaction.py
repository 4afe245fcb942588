"""The binding logic as plain functions and on a ViewerState (no rendering), and cine."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.ui.cine import CinePlayer
from interval.ui.interaction import (
    Action,
    ViewInteraction,
    apply_action,
    drag_mode,
    is_click,
    key_action,
    page_size,
    pan_drag,
    wheel_steps,
    window_drag,
    window_sensitivity,
    zoom_drag,
)


def test_wheel_steps() -> None:
    assert wheel_steps(-120) == 1  # towards the user: next slice
    assert wheel_steps(120) == -1
    assert wheel_steps(360) == -3
    assert wheel_steps(-15) == 1  # touchpad: small deltas still move
    assert wheel_steps(0) == 0


def test_page_size_is_about_ten_percent() -> None:
    assert page_size(400) == 40
    assert page_size(20) == 2
    assert page_size(3) == 1
    assert page_size(1) == 1


def test_key_actions() -> None:
    assert key_action(Qt.Key.Key_Down, 100) == Action("step", 1)
    assert key_action(Qt.Key.Key_Up, 100) == Action("step", -1)
    assert key_action(Qt.Key.Key_PageDown, 100) == Action("step", 10)
    assert key_action(Qt.Key.Key_PageUp, 100) == Action("step", -10)
    assert key_action(Qt.Key.Key_Home, 100) == Action("first")
    assert key_action(Qt.Key.Key_End, 100) == Action("last")
    assert key_action(Qt.Key.Key_R, 100) == Action("reset")
    assert key_action(Qt.Key.Key_I, 100) == Action("invert")
    assert key_action(Qt.Key.Key_Q, 100) is None


def test_drag_modes() -> None:
    assert drag_mode(Qt.MouseButton.LeftButton) == "window"
    assert drag_mode(Qt.MouseButton.RightButton) == "zoom"
    assert drag_mode(Qt.MouseButton.MiddleButton) == "pan"
    assert drag_mode(Qt.MouseButton.BackButton) is None


def test_window_drag_horizontal_width_vertical_level() -> None:
    assert window_drag(40, 400, 10, 0, 4.0) == (40, 440)  # right: wider
    assert window_drag(40, 400, -10, 0, 4.0) == (40, 360)
    assert window_drag(40, 400, 0, 10, 4.0) == (80, 400)  # down: higher level
    assert window_drag(40, 400, 0, -10, 4.0) == (0, 400)
    assert window_drag(40, 10, -100, 0, 4.0) == (40, 1.0)  # never below 1
    assert window_sensitivity(-1024, 3071) == pytest.approx(4.095)


def test_zoom_and_pan_drags() -> None:
    assert zoom_drag(1.0, -100) == pytest.approx(np.e)  # up: in
    assert zoom_drag(1.0, 100) == pytest.approx(1 / np.e)
    assert zoom_drag(1.0, 10_000) == pytest.approx(0.05)  # clamped
    assert pan_drag((1.0, 2.0), 10, -4, 0.5) == (6.0, 0.0)
    assert is_click((10, 10), (11, 12)) and not is_click((10, 10), (14, 10))


def _state() -> tuple[ViewerState, str]:
    a = np.zeros((30, 16, 16), np.int16)
    a[0, 0, 0], a[-1, -1, -1] = -1000, 1000
    md = VolumeMetadata(modality="CT", default_window=WindowLevel(40, 400))
    state = ViewerState()
    vid = state.add_volume(Volume(a, spacing=(1, 1, 2), metadata=md))
    return state, vid


class _Screen:
    mm_per_pixel = 0.5

    def __init__(self) -> None:
        self.maximised = 0

    def display_to_lps(self, x: float, row: float) -> np.ndarray:
        return np.array([x, row, 7.0])

    def request_maximise(self) -> None:
        self.maximised += 1


def test_view_interaction_on_state() -> None:
    state, vid = _state()
    screen = _Screen()
    it = ViewInteraction(state, "axial", screen)
    assert state.slice_index("axial") == 14
    it.wheel(-240)
    assert state.slice_index("axial") == 16
    assert it.key(Qt.Key.Key_PageUp) and state.slice_index("axial") == 13
    assert not it.key(Qt.Key.Key_Q)

    # left press + release without moving: a click sets the crosshair
    it.press(Qt.MouseButton.LeftButton, 5, 6)
    it.move(6, 6)  # within the click tolerance
    it.release(Qt.MouseButton.LeftButton, 6, 6)
    assert state.crosshair == (6.0, 6.0, 7.0)
    assert state.window(vid) == WindowLevel(40, 400)

    # left drag: window/level, no crosshair move
    it.press(Qt.MouseButton.LeftButton, 50, 50)
    it.move(60, 45)
    it.release(Qt.MouseButton.LeftButton, 60, 45)
    wl = state.window(vid)
    assert (wl.center, wl.width) == pytest.approx((40 - 5 * 2.0, 400 + 10 * 2.0))
    assert state.crosshair == (6.0, 6.0, 7.0)

    it.press(Qt.MouseButton.RightButton, 0, 100)
    it.move(0, 50)
    it.release(Qt.MouseButton.RightButton, 0, 50)
    assert state.view("axial").zoom == pytest.approx(np.exp(0.5))
    it.press(Qt.MouseButton.MiddleButton, 0, 0)
    it.move(20, 10)
    it.release(Qt.MouseButton.MiddleButton, 20, 10)
    assert state.view("axial").pan == (10.0, 5.0)
    apply_action(state, "axial", Action("reset"))
    assert state.view("axial").zoom == 1.0 and state.view("axial").pan == (0.0, 0.0)
    apply_action(state, "axial", Action("invert"))
    assert state.layer(vid).invert
    apply_action(state, "axial", Action("last"))
    assert state.slice_index("axial") == 29

    it.double_click(Qt.MouseButton.LeftButton)
    assert screen.maximised == 1


def test_double_click_maximises_without_moving_the_crosshair() -> None:
    """Qt sends press, release (a click: the crosshair moves), double-click: the
    double-click puts the crosshair back, so maximising does not change the other views."""
    state, _ = _state()
    screen = _Screen()
    it = ViewInteraction(state, "axial", screen)
    before = state.crosshair
    it.press(Qt.MouseButton.LeftButton, 3, 4)
    it.release(Qt.MouseButton.LeftButton, 3, 4)
    assert state.crosshair != before
    it.double_click(Qt.MouseButton.LeftButton)
    assert state.crosshair == before and screen.maximised == 1
    # a single click long ago is not undone by a later double-click
    it.press(Qt.MouseButton.LeftButton, 3, 4)
    it.release(Qt.MouseButton.LeftButton, 3, 4)
    moved = state.crosshair
    it._before_click = (it._before_click[0], it._before_click[1] - 10)
    it.double_click(Qt.MouseButton.LeftButton)
    assert state.crosshair == moved and screen.maximised == 2


def test_click_outside_the_image_keeps_the_crosshair_on_the_volume() -> None:
    state, _ = _state()  # 16 x 16 x 30 voxels of 1 x 1 x 2 mm at the origin
    it = ViewInteraction(state, "axial", _Screen())
    it.press(Qt.MouseButton.LeftButton, 50, -9)  # on the black border, right of and above it
    it.release(Qt.MouseButton.LeftButton, 50, -9)
    assert state.crosshair == pytest.approx((15.0, 0.0, 7.0))
    vol = state.active_volume
    i, j, k = vol.lps_to_index(state.crosshair)
    assert 0 <= i <= 15 and 0 <= j <= 15 and 0 <= k <= 29


def test_interaction_without_volume_does_nothing() -> None:
    state = ViewerState()
    it = ViewInteraction(state, "axial", _Screen())
    it.wheel(-120)
    assert not it.key(Qt.Key.Key_Down)
    it.press(Qt.MouseButton.LeftButton, 1, 1)
    it.release(Qt.MouseButton.LeftButton, 1, 1)
    assert state.crosshair == (0.0, 0.0, 0.0)


def test_cine_player_advances_slices(qtbot) -> None:
    state, _ = _state()
    player = CinePlayer(state)
    assert not player.timer.isActive()
    assert player.interval_ms(25) == 40
    start = state.slice_index("coronal")
    player.play("coronal")
    state.set_cine(fps=100.0)
    assert player.timer.isActive() and player.timer.interval() == 10
    qtbot.waitUntil(lambda: state.slice_index("coronal") != start, timeout=5000)
    player.stop()
    assert not player.timer.isActive()
    # a tick by hand wraps around at the end (loop mode)
    state.set_slice_index("coronal", state.slice_count("coronal") - 1)
    player.tick()
    assert state.slice_index("coronal") == 0
    player.close()
