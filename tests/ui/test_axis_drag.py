"""Dragging a RECIST axis end point in the timepoint views, on a real ``interval track``
output folder (a tiny generated patient tracked with its truth label maps): the
workspace's axis, the target sum and undo follow; Esc and a refused edit change nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

from interval.longitudinal.workspace import ActionRefused, LongitudinalWorkspace
from interval.ui.longitudinal.axis_drag import (
    GRAB_RADIUS_PX,
    AxisDrag,
    length_text,
    nearest_endpoint,
)
from interval.ui.longitudinal.timepoint_images import AxisMark
from interval.ui.longitudinal.timepoint_views import TimepointViews
from tests.longitudinal._tracked_patient import track_tiny_patient

DRAG_PX = 12.0  # how far the tests pull an end point outwards along its axis


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> Path:
    """The output folder of ``interval track`` on a tiny generated patient."""
    root = tmp_path_factory.mktemp("axis-drag")
    return track_tiny_patient(root, 3).out


@pytest.fixture
def opened(qtbot, tracked, tmp_path):
    """(workspace, views) on a copy of the output folder (the tests change it)."""
    out = Path(shutil.copytree(tracked, tmp_path / "out"))
    ws = LongitudinalWorkspace.open(out)
    views = TimepointViews(ws, timepoints=[0, 1])
    qtbot.addWidget(views)
    views.resize(700, 360)
    views.show()
    assert views.wait_loaded(60)
    yield ws, views
    views.close_views()


def _target(ws: LongitudinalWorkspace):
    return next(r for r in ws.rows() if r.is_target and not r.is_lymph_node
                and r.cell(0).long_axis is not None)


def _row(ws: LongitudinalWorkspace, lesion_id: str):
    return next(r for r in ws.rows() if r.lesion_id == lesion_id)


def _baseline_sum(ws: LongitudinalWorkspace) -> float:
    return next(r.sum_mm for r in ws.responses() if r.timepoint == 0)


def _on_slice(views: TimepointViews, row) -> None:
    """Show the baseline slice the lesion's axes were measured on, the lesion centred."""
    views.show_lesion(row.lesion_id)
    views.go_to(0, row.cell(0).long_axis.start_lps)
    views.view(0).render_now()


def _screen(view, lps) -> np.ndarray:
    ratio = view.vtk.devicePixelRatioF()
    return np.asarray(view.lps_to_display(lps), dtype=np.float64) / ratio


def _pos(p: np.ndarray) -> QPoint:
    return QPoint(round(float(p[0])), round(float(p[1])))


def _pull_points(view, axis) -> tuple[QPoint, QPoint]:
    """(press on the axis's end, a point DRAG_PX further out along the axis on screen)."""
    a, b = _screen(view, axis.start_lps), _screen(view, axis.end_lps)
    direction = (b - a) / np.linalg.norm(b - a)
    return _pos(b), _pos(b + DRAG_PX * direction)


def _hover(widget: QWidget, pos: QPoint) -> None:
    """A mouse move with no button down (QTest's offscreen mouseMove sends none)."""
    event = QMouseEvent(QEvent.Type.MouseMove, QPointF(pos), QPointF(widget.mapToGlobal(pos)),
                        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def _expected_end(view, axis, press: QPoint, release: QPoint) -> np.ndarray:
    """Where the dragged end lands: moved by the mouse's motion on the slice plane."""
    delta = view.display_to_lps(release.x(), release.y()) - view.display_to_lps(
        press.x(), press.y())
    n = np.asarray(view.slice_view.normal, dtype=np.float64)
    delta -= float(delta @ n) * n
    return np.asarray(axis.end_lps) + delta


# --- geometry -----------------------------------------------------------------------------

def test_nearest_endpoint_takes_the_closest_within_the_radius() -> None:
    pts = [(10.0, 10.0), (13.0, 10.0), (100.0, 100.0)]
    assert nearest_endpoint(pts, 12.0, 10.0) == 1
    assert nearest_endpoint(pts, 9.0, 11.0) == 0
    assert nearest_endpoint(pts, 50.0, 50.0) is None
    assert nearest_endpoint(pts, 100.0 + GRAB_RADIUS_PX + 0.1, 100.0) is None
    assert nearest_endpoint([], 0.0, 0.0) is None


def test_a_dragged_end_stays_on_its_slice_plane_and_the_other_end_is_kept() -> None:
    mark = AxisMark("L1", "long", (0.0, 0.0, 10.0), (20.0, 0.0, 10.0), 3, 20.0, 2, 5)
    drag = AxisDrag(mark, 1, anchor=np.array([20.0, 0.0, 12.0]), normal=np.array([0, 0, 2.0]),
                    press_px=(50.0, 50.0))
    drag.follow((20.3, 0.0, 12.0), (50.4, 50.0))  # under a pixel: not moved yet
    assert not drag.moved and drag.length_mm == pytest.approx(20.0)
    drag.follow((25.0, 4.0, 30.0), (60.0, 55.0))  # the mouse's plane is elsewhere: ignored
    assert drag.moved
    assert drag.end_lps == pytest.approx((25.0, 4.0, 10.0))
    assert drag.start_lps == pytest.approx((0.0, 0.0, 10.0))
    assert drag.length_mm == pytest.approx(np.hypot(25.0, 4.0))
    assert length_text(drag.length_mm) == f"{np.hypot(25.0, 4.0):.1f} mm"


# --- in the views ---------------------------------------------------------------------------

def test_dragging_a_long_axis_end_changes_the_axis_and_the_sum_once_and_undo_restores(
        opened, qtbot) -> None:
    ws, views = opened
    row = _target(ws)
    _on_slice(views, row)
    view = views.view(0)
    axis = row.cell(0).long_axis
    before_long, before_sum = row.cell(0).long_axis_mm, _baseline_sum(ws)
    press, release = _pull_points(view, axis)
    frame_before = view.capture()

    _hover(view.vtk, press)  # hovering an end point shows it can be grabbed
    assert view.vtk.cursor().shape() == Qt.CursorShape.OpenHandCursor
    _hover(view.vtk, press + QPoint(40, 40))
    assert view.vtk.cursor().shape() == Qt.CursorShape.ArrowCursor
    _hover(view.vtk, press)
    assert view.vtk.cursor().shape() == Qt.CursorShape.OpenHandCursor
    qtbot.mousePress(view.vtk, Qt.MouseButton.LeftButton, pos=press)
    assert view.vtk.cursor().shape() == Qt.CursorShape.ClosedHandCursor
    drag = views.column_state(0)["drag"]
    assert drag["lesion_id"] == row.lesion_id and drag["which"] == "long" and drag["end"] == 1
    qtbot.mouseMove(view.vtk, pos=release)
    want_end = _expected_end(view, axis, press, release)
    want = float(np.linalg.norm(want_end - np.asarray(axis.start_lps)))
    live = views.column_state(0)["drag"]
    assert live["length_mm"] == pytest.approx(want, abs=1e-6)  # the measurement is live
    assert live["label"] == length_text(want)
    assert not np.array_equal(view.capture(), frame_before)  # the line moved on screen
    assert not ws.can_undo  # nothing is committed before the release
    qtbot.mouseRelease(view.vtk, Qt.MouseButton.LeftButton, pos=release)

    assert views.column_state(0)["drag"] is None
    assert want - before_long > 0.5 * DRAG_PX * views.column_state(0)["mm_per_pixel"]
    after = _row(ws, row.lesion_id).cell(0)
    assert after.long_axis_mm == pytest.approx(want, abs=0.5)
    assert np.asarray(after.long_axis.end_lps) == pytest.approx(want_end, abs=0.5)
    assert np.asarray(after.long_axis.start_lps) == pytest.approx(axis.start_lps, abs=1e-6)
    assert _baseline_sum(ws) - before_sum == pytest.approx(after.long_axis_mm - before_long,
                                                           abs=0.5)
    drawn = next(a for a in views.column_state(0)["axes"]
                 if a["lesion_id"] == row.lesion_id and a["which"] == "long")
    assert drawn["length_mm"] == pytest.approx(after.long_axis_mm, abs=1e-6)

    assert ws.can_undo
    ws.undo()
    assert not ws.can_undo  # the whole drag was one step
    assert _row(ws, row.lesion_id).cell(0).long_axis_mm == pytest.approx(before_long, abs=1e-6)
    assert _baseline_sum(ws) == pytest.approx(before_sum, abs=1e-6)
    drawn = next(a for a in views.column_state(0)["axes"]
                 if a["lesion_id"] == row.lesion_id and a["which"] == "long")
    assert drawn["length_mm"] == pytest.approx(before_long, abs=1e-6)


def test_dragging_a_short_axis_end_changes_only_the_short_axis(opened, qtbot) -> None:
    ws, views = opened
    row = _target(ws)
    _on_slice(views, row)
    view = views.view(0)
    axis = row.cell(0).short_axis
    before = row.cell(0)
    before_sum = _baseline_sum(ws)
    press, release = _pull_points(view, axis)
    qtbot.mousePress(view.vtk, Qt.MouseButton.LeftButton, pos=press)
    assert views.column_state(0)["drag"]["which"] == "short"
    qtbot.mouseMove(view.vtk, pos=release)
    qtbot.mouseRelease(view.vtk, Qt.MouseButton.LeftButton, pos=release)
    want = float(np.linalg.norm(_expected_end(view, axis, press, release)
                                - np.asarray(axis.start_lps)))
    after = _row(ws, row.lesion_id).cell(0)
    assert after.short_axis_mm == pytest.approx(want, abs=0.5)
    assert abs(after.short_axis_mm - before.short_axis_mm) > 1.0
    assert after.long_axis_mm == pytest.approx(before.long_axis_mm, abs=1e-6)
    assert _baseline_sum(ws) == pytest.approx(before_sum, abs=1e-6)  # not a lymph node


def test_a_press_away_from_the_end_points_still_picks_a_point(opened, qtbot) -> None:
    ws, views = opened
    row = _target(ws)
    _on_slice(views, row)
    view = views.view(0)
    centre = _screen(view, row.cell(0).centroid_lps)
    offsets = [np.array(d, dtype=float) for d in ((0, 0), (4, 3), (-5, 2), (3, -6), (-4, -4))]
    spot = next(centre + d for d in offsets
                if view.interaction.dragger.endpoint_at(*_pos(centre + d).toTuple()) is None)
    before = [(r.lesion_id, r.cell(0).long_axis_mm, r.cell(0).short_axis_mm) for r in ws.rows()]
    with qtbot.waitSignal(views.pointPicked, timeout=2000) as picked:
        qtbot.mouseClick(view.vtk, Qt.MouseButton.LeftButton, pos=_pos(spot))
    t, p = picked.args
    assert t == 0
    assert np.asarray(p)[:2] == pytest.approx(
        view.display_to_lps(*_pos(spot).toTuple())[:2], abs=1e-6)
    assert views.column_state(0)["drag"] is None
    assert not ws.can_undo
    assert [(r.lesion_id, r.cell(0).long_axis_mm, r.cell(0).short_axis_mm)
            for r in ws.rows()] == before


def test_escape_cancels_a_drag(opened, qtbot) -> None:
    ws, views = opened
    row = _target(ws)
    _on_slice(views, row)
    view = views.view(0)
    axis = row.cell(0).long_axis
    press, release = _pull_points(view, axis)
    frame_before = view.capture()
    crosshair = views.column_state(0)["center_lps"]
    qtbot.mousePress(view.vtk, Qt.MouseButton.LeftButton, pos=press)
    qtbot.mouseMove(view.vtk, pos=release)
    assert not np.array_equal(view.capture(), frame_before)
    qtbot.keyClick(view.vtk, Qt.Key.Key_Escape)
    assert views.column_state(0)["drag"] is None
    assert view.vtk.cursor().shape() != Qt.CursorShape.ClosedHandCursor
    qtbot.mouseRelease(view.vtk, Qt.MouseButton.LeftButton, pos=release)
    assert not ws.can_undo
    assert _row(ws, row.lesion_id).cell(0).long_axis_mm == pytest.approx(
        row.cell(0).long_axis_mm, abs=1e-9)
    assert views.column_state(0)["center_lps"] == crosshair  # not a click either
    assert np.array_equal(view.capture(), frame_before)  # drawn as before


def test_a_refused_edit_shows_its_sentence_and_the_axis_as_before(opened, qtbot,
                                                                     monkeypatch) -> None:
    ws, views = opened
    row = _target(ws)
    _on_slice(views, row)
    view = views.view(0)
    press, release = _pull_points(view, row.cell(0).long_axis)
    sentence = "adjust long axis cannot be done: the lesion was merged meanwhile"

    def refuse(*_args, **_kw) -> None:
        raise ActionRefused(sentence)

    monkeypatch.setattr(ws, "adjust_axis", refuse)
    qtbot.mousePress(view.vtk, Qt.MouseButton.LeftButton, pos=press)
    qtbot.mouseMove(view.vtk, pos=release)
    qtbot.mouseRelease(view.vtk, Qt.MouseButton.LeftButton, pos=release)
    state = views.column_state(0)
    assert sentence in state["message"] and state["drag"] is None
    col = views.findChild(QWidget, "timepoint-column-0")
    assert col.status.textFormat() == Qt.TextFormat.PlainText
    shown = view.capture()  # (the message line took some of the view's height)
    views.refresh()  # every axis drawn afresh from the workspace
    assert np.array_equal(view.capture(), shown)
    assert not ws.can_undo


def test_a_drag_is_refused_while_the_window_says_edits_must_wait(opened, qtbot) -> None:
    ws, views = opened
    row = _target(ws)
    _on_slice(views, row)
    view = views.view(0)
    press, release = _pull_points(view, row.cell(0).long_axis)
    views.axis_edit_guard = lambda: "Wait until the report is exported."
    qtbot.mousePress(view.vtk, Qt.MouseButton.LeftButton, pos=press)
    qtbot.mouseMove(view.vtk, pos=release)
    qtbot.mouseRelease(view.vtk, Qt.MouseButton.LeftButton, pos=release)
    assert "Wait until the report is exported." in views.column_state(0)["message"]
    assert not ws.can_undo
    views.axis_edit_guard = None  # the same drag once allowed goes through
    qtbot.wait(20)  # the message line took some of the view's height
    view.render_now()
    press, release = _pull_points(view, row.cell(0).long_axis)
    qtbot.mousePress(view.vtk, Qt.MouseButton.LeftButton, pos=press)
    qtbot.mouseMove(view.vtk, pos=release)
    qtbot.mouseRelease(view.vtk, Qt.MouseButton.LeftButton, pos=release)
    assert ws.can_undo and views.column_state(0)["message"] == ""
