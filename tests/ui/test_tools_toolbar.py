"""The measuring tools as a reader uses them: toolbar group, shortcuts, status-bar indicator,
back to navigation after one measurement, lock, Escape, and the other mouse buttons still
navigating while a tool is on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QLabel, QToolBar

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.volume import Volume
from interval.ui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1200, 760)
    w.show()
    a = np.zeros((12, 64, 64), np.int16)
    a[:, 10:40, 10:40] = 120
    a[0, 0, 0], a[0, 0, 1] = -1000, 2000
    md = VolumeMetadata(series_instance_uid="1.2.3.4", modality="CT", units="HU",
                        default_window=WindowLevel(40, 400))
    w.state.add_volume(Volume(a, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), metadata=md))
    axial = w.views.views["axial"]
    qtbot.waitUntil(lambda: min(axial.vtk.GetRenderWindow().GetSize()) > 100)
    axial.render_now()
    yield w
    w.shutdown()


def send_mouse(widget, kind: str, x: float, y: float, button=Qt.MouseButton.LeftButton) -> None:
    types = {
        "press": QEvent.Type.MouseButtonPress,
        "move": QEvent.Type.MouseMove,
        "release": QEvent.Type.MouseButtonRelease,
        "double": QEvent.Type.MouseButtonDblClick,
    }
    held = Qt.MouseButton.NoButton if kind == "release" else button
    pos = QPointF(x, y)
    ev = QMouseEvent(types[kind], pos, widget.mapToGlobal(pos), button, held,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def drag(widget, a: tuple[float, float], b: tuple[float, float],
         button=Qt.MouseButton.LeftButton) -> None:
    send_mouse(widget, "press", *a, button)
    send_mouse(widget, "move", (a[0] + b[0]) / 2, (a[1] + b[1]) / 2, button)
    send_mouse(widget, "move", *b, button)
    send_mouse(widget, "release", *b, button)


def key(widget, k) -> QKeyEvent:
    ev = QKeyEvent(QEvent.Type.KeyPress, k, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)
    return ev


def at(w: MainWindow, i: float, j: float) -> tuple[float, float]:
    """Widget position of voxel column ``i``, row ``j`` on the axial view's slice."""
    axial = w.views.views["axial"]
    x, row = axial.lps_to_display((i, j, w.state.crosshair[2]))
    return float(x), float(row)


def _measurements(w: MainWindow) -> list:
    return list(w.book.for_series("1.2.3.4"))


def test_toolbar_holds_an_exclusive_tool_group_and_the_view_actions(qtbot, window) -> None:
    bar = window.findChild(QToolBar, "mainToolbar")
    assert bar is not None and bar.isVisible()
    on_bar = {a.objectName() for a in bar.actions()}
    for name in ("tool_none", "tool_ruler", "tool_ellipse", "tool_rectangle", "tool_lock",
                 "layout_1x1", "layout_1x3", "layout_2x2", "invert", "reset", "screenshot_view"):
        assert name in on_bar, name
    ids = window.actions_by_id
    assert ids["tool_none"].isChecked() and "Navigate" in window.tool_indicator.text()
    for mode in ("ruler", "ellipse", "rectangle"):
        ids[f"tool_{mode}"].trigger()
        assert window.measure_tool.mode == mode
        checked = [m for m in ("none", "ruler", "ellipse", "rectangle")
                   if ids[f"tool_{m}"].isChecked()]
        assert checked == [mode]  # exclusive
        assert ids[f"tool_{mode}"].iconText().lower() in window.tool_indicator.text().lower()
    # every tool has a single-key shortcut listed in Help
    keys = {ids[f"tool_{m}"].shortcut().toString() for m in ("none", "ruler", "ellipse",
                                                             "rectangle")}
    assert keys == {"N", "M", "E", "B"}
    help_text = window.show_shortcuts().findChild(QLabel).text()
    assert "Esc" in help_text and "Lock the tool" in help_text
    ids["layout_1x1"].trigger()
    assert window.state.layout == "1x1"


def test_one_measurement_then_back_to_navigation_and_left_drag_is_window_level(
    qtbot, window
) -> None:
    axial = window.views.views["axial"]
    vid = window.state.active_volume_id
    window.actions_by_id["tool_ruler"].trigger()
    assert axial.vtk.cursor().shape() == Qt.CursorShape.CrossCursor
    start_wl = window.state.window(vid)
    drag(axial.vtk, at(window, 12, 14), at(window, 36, 30))
    (m,) = _measurements(window)
    assert m.kind == "ruler" and m.shape.length_mm > 5
    assert window.state.window(vid) == start_wl  # the drag drew, it did not change W/L
    # the tool turned itself off: Navigate checked, status bar says so, plain cursor
    assert window.measure_tool.mode is None
    assert window.actions_by_id["tool_none"].isChecked()
    assert "Navigate" in window.tool_indicator.text()
    assert axial.vtk.cursor().shape() != Qt.CursorShape.CrossCursor
    # a left-drag now changes the window, and draws nothing
    drag(axial.vtk, (100, 100), (160, 140))
    wl = window.state.window(vid)
    assert (wl.center, wl.width) != (start_wl.center, start_wl.width)
    assert len(_measurements(window)) == 1


def test_locked_tool_stays_on_until_escape(qtbot, window) -> None:
    axial = window.views.views["axial"]
    bar = window.findChild(QToolBar, "mainToolbar")
    button = bar.widgetForAction(window.actions_by_id["tool_rectangle"])
    send_mouse(button, "double", 5, 5)  # double-click the button: the tool, locked
    assert window.measure_tool.mode == "rectangle" and window.measure_tool.sticky
    assert window.actions_by_id["tool_lock"].isChecked()
    assert "locked" in window.tool_indicator.text()
    drag(axial.vtk, at(window, 12, 12), at(window, 24, 24))
    drag(axial.vtk, at(window, 30, 30), at(window, 50, 44))
    found = _measurements(window)
    assert [m.kind for m in found] == ["rectangle", "rectangle"]
    assert found[0].stats.mean == pytest.approx(120.0)  # inside the 120 HU block
    assert window.measure_tool.mode == "rectangle"
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    window.save_layout_screenshot(artifacts / "tools_locked_rectangle.png")
    # Escape in the view: back to navigation (the lock itself stays as set)
    key(axial.vtk, Qt.Key.Key_Escape)
    assert window.measure_tool.mode is None and window.actions_by_id["tool_none"].isChecked()
    window.actions_by_id["tool_lock"].trigger()  # unlock
    assert not window.measure_tool.sticky and "locked" not in window.tool_indicator.text()


def test_escape_cancels_a_half_drawn_measurement(qtbot, window) -> None:
    axial = window.views.views["axial"]
    window.actions_by_id["tool_ellipse"].trigger()
    send_mouse(axial.vtk, "press", 60, 60)
    send_mouse(axial.vtk, "release", 60, 60)  # first click: waits for the second
    send_mouse(axial.vtk, "move", 110, 100, Qt.MouseButton.NoButton)
    overlay = window.measure_tool.overlay("axial")
    assert overlay._preview.GetVisibility()  # the shape follows the mouse
    key(axial.vtk, Qt.Key.Key_Escape)
    assert not overlay._preview.GetVisibility()
    assert window.measure_tool.mode is None and _measurements(window) == []
    send_mouse(axial.vtk, "press", 110, 100)
    send_mouse(axial.vtk, "release", 110, 100)  # now a navigation click: crosshair, no shape
    assert _measurements(window) == []
    # Escape reaching the window (focus elsewhere) also goes back to navigation
    window.actions_by_id["tool_ruler"].trigger()
    ev = key(window, Qt.Key.Key_Escape)
    assert ev.isAccepted() and window.measure_tool.mode is None


def test_other_buttons_and_wheel_navigate_while_a_tool_is_on(qtbot, window) -> None:
    axial = window.views.views["axial"]
    state = window.state
    window.actions_by_id["tool_ruler"].trigger()
    zoom0, pan0, k0 = state.view("axial").zoom, state.view("axial").pan, state.slice_index("axial")
    drag(axial.vtk, (100, 120), (100, 60), Qt.MouseButton.RightButton)  # up: zoom in
    assert state.view("axial").zoom > zoom0
    drag(axial.vtk, (80, 90), (120, 70), Qt.MouseButton.MiddleButton)
    assert state.view("axial").pan != pan0
    pos = QPointF(50, 50)
    wheel = QWheelEvent(pos, axial.vtk.mapToGlobal(pos), QPointF(0, 0).toPoint(),
                        QPointF(0, -120).toPoint(), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(axial.vtk, wheel)
    assert state.slice_index("axial") == k0 + 1
    assert window.measure_tool.mode == "ruler" and _measurements(window) == []


def test_single_key_shortcuts_reach_the_tools_from_a_view(qtbot, window) -> None:
    from PySide6.QtTest import QTest

    axial = window.views.views["axial"]
    window.activateWindow()
    axial.vtk.setFocus()
    qtbot.waitUntil(window.isActiveWindow)
    for k, mode in ((Qt.Key.Key_M, "ruler"), (Qt.Key.Key_E, "ellipse"),
                    (Qt.Key.Key_Escape, None), (Qt.Key.Key_B, "rectangle"), (Qt.Key.Key_N, None)):
        QTest.keyClick(axial.vtk, k)
        assert window.measure_tool.mode == mode, k
        assert window.actions_by_id[f"tool_{mode or 'none'}"].isChecked()
    QTest.keyClick(axial.vtk, Qt.Key.Key_L)
    assert window.measure_tool.sticky and window.actions_by_id["tool_lock"].isChecked()
