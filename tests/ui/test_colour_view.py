"""Colour images on screen, headless: shown in their own colours (no window/level), the
status bar gives R, G, B, window/level does nothing, rulers and ROIs measure mm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from interval.core.labels import LabelInfo, LabelTable
from interval.core.measurements import MeasurementBook, Ruler
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.io.dicom.load import load_dicom
from interval.ui.measure_tools import MeasureTool
from interval.ui.slice_view import SliceView
from interval.ui.status_info import COLOUR_NO_WINDOW, status_text
from tests.io.dicom.test_colour import write_rgb_capture

from ._hosts import SliceHost

TIMEOUT_MS = 30_000
RED, BLUE = (255, 0, 0), (0, 0, 255)
SQUARE = (slice(20, 40), slice(30, 50))  # rows, columns of the red square
PIXEL_MM = 0.5


def _capture_file(folder: Path) -> Path:
    """A 64 x 80 RGB secondary capture: blue, with a red 20 x 20 pixel square, 0.5 mm pixels."""
    rgb = np.zeros((64, 80, 3), np.uint8)
    rgb[...] = BLUE
    rgb[SQUARE] = RED
    return write_rgb_capture(folder / "capture.dcm", rgb, spacing=(PIXEL_MM, PIXEL_MM))


@pytest.fixture
def colour_volume(tmp_path) -> Volume:
    vol = load_dicom(_capture_file(tmp_path / "sc"))
    assert vol.is_rgb and vol.spacing[:2] == pytest.approx((PIXEL_MM, PIXEL_MM))
    return vol


def _colour_at(frame: np.ndarray, view: SliceView, vol: Volume, ijk) -> list[int]:
    x, row = view.world_to_display(vol.index_to_lps(ijk))
    return frame[int(row), int(x)].astype(int).tolist()


def test_colour_capture_shows_red_square_on_blue(vtk_widget, colour_volume) -> None:
    vol = colour_volume
    view = SliceView(vtk_widget.add_renderer())
    view.set_volume(vol)
    view.set_mm_per_pixel(PIXEL_MM / 2)
    view.center_on(vol.index_to_lps((40, 32, 0)))
    frame = vtk_widget.capture()
    for ijk in [(39.5, 29.5, 0), (31, 21, 0), (48, 38, 0)]:  # i = column, j = row
        assert _colour_at(frame, view, vol, ijk) == list(RED), ijk
    for ijk in [(5, 5, 0), (60, 30, 0), (40, 50, 0), (28, 30, 0)]:
        assert _colour_at(frame, view, vol, ijk) == list(BLUE), ijk
    # window/level has no say on a colour image
    view.set_window_level(10, 20)
    view.set_invert(True)
    np.testing.assert_array_equal(vtk_widget.capture(), frame)


def test_label_overlay_still_blends_on_a_colour_image(vtk_widget, colour_volume) -> None:
    vol = colour_volume
    view = SliceView(vtk_widget.add_renderer())
    view.set_volume(vol)
    view.set_mm_per_pixel(PIXEL_MM / 2)
    view.center_on(vol.index_to_lps((40, 32, 0)))
    labels = np.zeros(vol.shape, np.uint8)
    labels[0, :, :10] = 1
    table = LabelTable([LabelInfo(1, "left band", (0, 255, 0))])
    view.set_label_map(vol.with_array(labels, labels=table), opacity=1.0)
    frame = vtk_widget.capture()
    assert _colour_at(frame, view, vol, (4, 30, 0)) == [0, 255, 0]  # the label
    assert _colour_at(frame, view, vol, (40, 30, 0)) == list(RED)  # the image, unchanged
    assert _colour_at(frame, view, vol, (60, 30, 0)) == list(BLUE)


def test_status_bar_gives_rgb_and_says_no_window(colour_volume) -> None:
    state = ViewerState()
    state.add_volume(colour_volume)
    inside = colour_volume.index_to_lps((35, 25, 0))
    text = status_text(state, "axial", inside)
    assert "| 255, 0, 0 |" in text and COLOUR_NO_WINDOW in text and "W/L" not in text
    assert "| 0, 0, 255 |" in status_text(state, "axial", colour_volume.index_to_lps((2, 2, 0)))


@pytest.fixture
def host(qtbot, colour_volume):
    state = ViewerState()
    state.add_volume(colour_volume)
    h = SliceHost(state, px_per_mm=1.0 / (PIXEL_MM / 2))
    qtbot.addWidget(h)
    h.resize(260, 220)
    h.show()
    qtbot.waitUntil(lambda: tuple(h.vtk.GetRenderWindow().GetSize()) == (260, 220))
    yield h
    h.vtk.Finalize()


def test_ruler_and_roi_on_a_colour_image_measure_mm(host, colour_volume) -> None:
    vol, state = colour_volume, host.state
    book = MeasurementBook()
    tool = MeasureTool(state, book)
    tool.attach(host)
    try:
        tool.set_mode("ruler")
        # from the square's left edge to its right edge: 20 pixels of 0.5 mm
        a, b = vol.index_to_lps((29.5, 30, 0)), vol.index_to_lps((49.5, 30, 0))
        m = _drag(tool, host, a, b)
        assert isinstance(m.shape, Ruler) and m.shape.length_mm == pytest.approx(10.0, abs=0.3)
        tool.set_mode("rectangle")
        roi = _drag(tool, host, vol.index_to_lps((29.6, 19.6, 0)), vol.index_to_lps((49.4, 39.4, 0)))
        assert roi.stats.colour and roi.stats.n_pixels == 400
        assert roi.stats.area_mm2 == pytest.approx(100.0)
        assert "no intensity statistics" in tool.overlay(host.view_id).texts()[1]
    finally:
        tool.detach(host.view_id)


def _drag(tool: MeasureTool, host: SliceHost, a, b):
    xa, ra = host.lps_to_display(a)
    xb, rb = host.lps_to_display(b)
    tool.press(host.view_id, xa, ra)
    tool.move(host.view_id, (xa + xb) / 2, (ra + rb) / 2)
    tool.move(host.view_id, xb, rb)
    return tool.release(host.view_id, xb, rb)


def test_main_window_colour_image_ignores_window_level(qtbot, window, tmp_path) -> None:
    path = _capture_file(tmp_path / "sc")
    window.open_path(path.parent)
    qtbot.waitUntil(lambda: window.state.active_volume is not None, timeout=TIMEOUT_MS)
    state = window.state
    vol = state.active_volume
    assert vol.is_rgb
    layer = state.layer(state.active_volume_id)
    before = layer.window
    view = window.views.views["axial"]
    view.render_now()
    shot = view.capture()
    reds = np.all(shot == RED, axis=-1).sum()
    blues = np.all(shot == BLUE, axis=-1).sum()
    assert reds > 100 and blues > reds  # the picture in its own colours
    # a left-drag (window/level on grey images) changes nothing
    inter = view.interaction
    inter.press(Qt.MouseButton.LeftButton, 100, 100)
    inter.move(160, 40)
    inter.release(Qt.MouseButton.LeftButton, 160, 40)
    assert state.layer(state.active_volume_id).window == before
    view.render_now()
    np.testing.assert_array_equal(view.capture(), shot)
    # presets and Auto say so instead
    window.apply_auto_window()
    assert "no window/level" in window.message.text()
    assert state.layer(state.active_volume_id).window == before
    view.cursor_moved.emit("axial", vol.index_to_lps((40, 30, 0)))
    text = window.cursor_info.text()
    assert "255, 0, 0" in text and COLOUR_NO_WINDOW in text
    corners = " ".join(view.corner_texts().as_dict().values())
    assert "RGB" in corners and "W/L" not in corners  # on-image text: no window either
    # the 3-D view renders no colour volume, and says why
    from interval.ui.view_3d import COLOUR_3D_TEXT

    v3 = window.views.view_3d
    qtbot.waitUntil(lambda: v3._busy_text.GetVisibility(), timeout=TIMEOUT_MS)
    assert v3._busy_text.GetInput() == COLOUR_3D_TEXT
