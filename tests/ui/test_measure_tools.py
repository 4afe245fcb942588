"""Measurement tools on a rendered 2-D view: ruler in mm, ROI statistics against numpy, drawing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from interval.core.measurements import EllipseROI, MeasurementBook, RectangleROI, Ruler
from interval.core.metadata import VolumeMetadata
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.ui.measure_tools import LINE_COLOUR, MeasureTool

from ._hosts import SliceHost

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SPACING = (0.8, 0.8, 2.5)
ORIGIN = (-20.0, 30.0, -10.0)


def _volume() -> Volume:
    rng = np.random.default_rng(7)
    arr = rng.integers(-100, 300, size=(8, 50, 60)).astype(np.int16)
    meta = VolumeMetadata(series_instance_uid="1.2.826.0.1.3680043.99.1", modality="CT", units="HU",
                          series_description="random CT")
    return Volume(arr, SPACING, ORIGIN, np.eye(3), meta)


@pytest.fixture
def setup(qtbot):
    state = ViewerState()
    vol = _volume()
    state.add_volume(vol)
    host = SliceHost(state)
    qtbot.addWidget(host)
    host.resize(260, 220)
    host.show()
    qtbot.waitUntil(lambda: tuple(host.vtk.GetRenderWindow().GetSize()) == (260, 220))
    book = MeasurementBook()
    tool = MeasureTool(state, book)
    tool.attach(host)
    yield state, vol, host, tool, book
    tool.detach(host.view_id)
    host.vtk.Finalize()


def _display(host: SliceHost, lps) -> tuple[float, float]:
    x, row = host.lps_to_display(lps)
    return float(x), float(row)


def _drag(tool: MeasureTool, host: SliceHost, a, b):
    xa, ra = _display(host, a)
    xb, rb = _display(host, b)
    tool.press(host.view_id, xa, ra)
    tool.move(host.view_id, (xa + xb) / 2, (ra + rb) / 2)
    tool.move(host.view_id, xb, rb)
    return tool.release(host.view_id, xb, rb)


def _on_slice(state: ViewerState, x: float, y: float) -> np.ndarray:
    return np.array([x, y, state.crosshair[2]])


def test_ruler_by_drag_measures_mm_and_is_drawn(setup) -> None:
    state, vol, host, tool, book = setup
    tool.set_mode("ruler")
    a, b = _on_slice(state, -10.0, 35.0), _on_slice(state, 14.0, 42.0)
    m = _drag(tool, host, a, b)
    assert isinstance(m.shape, Ruler)
    assert m.shape.length_mm == pytest.approx(np.hypot(24.0, 7.0), abs=0.3)  # 25 mm, within a pixel
    assert list(book.for_series(vol.metadata.series_instance_uid)) == [m]
    frame = host.capture()
    ARTIFACTS.mkdir(exist_ok=True)
    from PIL import Image

    Image.fromarray(frame).save(ARTIFACTS / "measure_ruler.png")
    x, row = _display(host, (a + b) / 2)
    patch = frame[int(row) - 2 : int(row) + 3, int(x) - 2 : int(x) + 3].reshape(-1, 3).astype(int)
    want = np.rint(np.asarray(LINE_COLOUR) * 255)
    assert np.min(np.abs(patch - want).max(axis=1)) <= 3  # the line's colour at its midpoint
    assert tool.overlay(host.view_id).texts() == [f"#1 {m.shape.length_mm:.1f} mm"]


def test_ruler_by_two_clicks_through_qt_events(setup) -> None:
    state, vol, host, tool, book = setup
    tool.set_mode("ruler")
    a, b = _on_slice(state, -12.0, 40.0), _on_slice(state, 0.0, 40.0)
    for p in (a, b):
        x, row = _display(host, p)
        QTest.mouseClick(host.vtk, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         QPoint(round(x), round(row)))
    (m,) = list(book.for_series(vol.metadata.series_instance_uid))
    assert m.shape.length_mm == pytest.approx(12.0, abs=0.5)
    assert state.crosshair[2] == pytest.approx(m.shape.p1[2])  # the clicks did not move slices


def test_tool_off_leaves_clicks_to_the_view(setup) -> None:
    state, vol, host, tool, book = setup
    x, row = _display(host, _on_slice(state, 0.0, 40.0))
    tool.press(host.view_id, x, row)
    assert tool.release(host.view_id, x + 30, row) is None
    assert len(book) == 0


def _numpy_stats(vol: Volume, k: int, inside) -> tuple[float, float, float, float, int]:
    nk, nj, ni = vol.shape
    jj, ii = np.mgrid[0:nj, 0:ni]
    x = ORIGIN[0] + ii * SPACING[0]
    y = ORIGIN[1] + jj * SPACING[1]
    vals = vol.array[k][inside(x, y)].astype(np.float64)
    return vals.mean(), vals.std(), vals.min(), vals.max(), vals.size


@pytest.mark.parametrize("kind", ["rectangle", "ellipse"])
def test_roi_stats_equal_numpy_on_the_known_region(setup, kind) -> None:
    state, vol, host, tool, book = setup
    tool.set_mode(kind)
    k = state.slice_index(host.view_id)
    m = _drag(tool, host, _on_slice(state, -13.3, 33.1), _on_slice(state, 5.7, 52.9))
    roi = m.shape
    assert isinstance(roi, RectangleROI if kind == "rectangle" else EllipseROI)
    # the region in LPS: x right, y down on the axial plane; plane origin at the crosshair
    cx, cy = state.crosshair[0], state.crosshair[1]
    umin, umax, vmin, vmax = roi.bounds()
    assert umin + cx == pytest.approx(-13.3, abs=0.3) and vmax + cy == pytest.approx(52.9, abs=0.3)
    if kind == "rectangle":
        def inside(x, y):
            return (x >= umin + cx) & (x <= umax + cx) & (y >= vmin + cy) & (y <= vmax + cy)
    else:
        (cu, cv), (ru, rv) = roi.center, roi.radii

        def inside(x, y):
            return ((x - cx - cu) / ru) ** 2 + ((y - cy - cv) / rv) ** 2 <= 1.0
    mean, sd, lo, hi, n = _numpy_stats(vol, k, inside)
    s = m.stats
    assert n > 100 and s.n_pixels == n
    assert s.mean == pytest.approx(mean) and s.sd == pytest.approx(sd)
    assert (s.min, s.max) == (lo, hi)
    assert s.area_mm2 == pytest.approx(n * SPACING[0] * SPACING[1])
    text = tool.overlay(host.view_id).texts()[0]
    assert f"mean {mean:.1f} HU" in text and f"area {s.area_mm2:.1f}" in text
    # three short lines on the image (mean/SD, min/max, area), not one running off the view
    assert [line.split()[0] for line in text.splitlines()] == ["#1", "min", "area"]


def test_measurements_show_only_on_their_slice(setup) -> None:
    state, vol, host, tool, book = setup
    tool.set_mode("rectangle")
    _drag(tool, host, _on_slice(state, -10.0, 35.0), _on_slice(state, 0.0, 45.0))
    assert len(tool.visible_measurements(host.view_id)) == 1
    state.step_slice(host.view_id, 1)
    assert tool.visible_measurements(host.view_id) == []
    assert tool.overlay(host.view_id).texts() == []
    state.step_slice(host.view_id, -1)
    assert len(tool.overlay(host.view_id).texts()) == 1


def test_escape_and_mode_change_cancel_a_half_drawn_shape(setup) -> None:
    state, vol, host, tool, book = setup
    tool.set_mode("ellipse")
    x, row = _display(host, _on_slice(state, -10.0, 35.0))
    tool.press(host.view_id, x, row)
    tool.release(host.view_id, x, row)  # first click
    QTest.keyClick(host.vtk, Qt.Key.Key_Escape)
    assert tool.mode is None  # Escape also goes back to navigation
    tool.set_mode("ellipse")
    tool.press(host.view_id, x + 40, row + 40)
    assert tool.release(host.view_id, x + 40, row + 40) is None  # a new first click, not a shape
    tool.set_mode(None)
    assert len(book) == 0
    with pytest.raises(ValueError):
        tool.set_mode("angle")
