"""The longitudinal workspace's views follow the viewer's View > On-image text: a
workspace opened from the viewer starts with its setting and follows it either way (its
own View > On-image text is the same switch); the real timepoint views apply it to every
column, also to views made later (a plane switch)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from interval.longitudinal.report_json import write_report_json
from interval.longitudinal.workspace import LongitudinalWorkspace
from interval.ui.longitudinal.workspace_window import LongitudinalWorkspaceWindow
from tests.longitudinal._report_fixture import fresh_report, shared_case
from tests.longitudinal._tracked_patient import track_tiny_patient

VIEWS_MODULE = "interval.ui.longitudinal.timepoint_views"


class TextViews(QWidget):
    """Stands in for ``TimepointViews``: only what the window calls, the text recorded."""

    pointPicked = Signal(int, object)  # noqa: N815
    plane = "axial"

    def __init__(self, workspace, parent=None, *, timepoints=None) -> None:
        super().__init__(parent)
        self.overlay_text_visible = True

    def set_overlay_text_visible(self, visible: bool) -> None:
        self.overlay_text_visible = visible

    def show_lesion(self, lesion_id: str) -> None:
        pass

    def refresh(self) -> None:
        pass

    def close_views(self) -> None:
        pass


@pytest.fixture
def report_out(tmp_path: Path, monkeypatch) -> Path:
    module = types.ModuleType(VIEWS_MODULE)
    module.TimepointViews = TextViews
    monkeypatch.setitem(sys.modules, VIEWS_MODULE, module)
    folder = tmp_path / "out"
    folder.mkdir()
    write_report_json(fresh_report(shared_case()), folder / "report.json")
    return folder


def _main_views_text(window) -> list[bool]:
    return [v.overlay_text_visible for v in window.views.views.values()]


def test_workspace_follows_the_viewers_on_image_text(window, report_out: Path) -> None:
    viewer_text = window.actions_by_id["overlay_text"]
    viewer_text.trigger()  # the reader hides the text in the viewer, before opening
    assert not viewer_text.isChecked()
    ws = window.open_tracking_results(report_out)
    ws_text = ws.actions_by_id["overlay_text"]
    assert ws.views.overlay_text_visible is False and not ws_text.isChecked()

    viewer_text.trigger()  # shown again in the viewer: the open workspace follows
    assert ws.views.overlay_text_visible is True and ws_text.isChecked()

    ws_text.trigger()  # hidden from the workspace's own menu: the viewer follows
    assert not viewer_text.isChecked() and ws.views.overlay_text_visible is False
    assert _main_views_text(window) and not any(_main_views_text(window))

    ws._closing = True
    ws.close()
    viewer_text.trigger()  # a closed workspace no longer follows
    assert ws.views.overlay_text_visible is False
    assert all(_main_views_text(window))


def test_a_workspace_on_its_own_has_its_own_switch(qtbot, report_out: Path) -> None:
    ws = LongitudinalWorkspaceWindow(LongitudinalWorkspace.open(report_out))
    qtbot.addWidget(ws)
    assert ws.overlay_text_visible and ws.views.overlay_text_visible is True
    ws.actions_by_id["overlay_text"].trigger()
    assert not ws.overlay_text_visible and ws.views.overlay_text_visible is False
    ws._closing = True
    ws.close()


def test_every_column_and_a_later_view_follow(qtbot, tmp_path: Path) -> None:
    from interval.ui.longitudinal.timepoint_views import TimepointViews

    out = track_tiny_patient(tmp_path, 3, n_timepoints=2).out
    views = TimepointViews(LongitudinalWorkspace.open(out))
    qtbot.addWidget(views)
    views.resize(600, 300)
    views.show()
    views.set_overlay_text_visible(False)  # before the scans are read
    assert views.wait_loaded(60)
    columns = [views.view(t) for t in views.timepoints]
    assert len(columns) == 2
    assert not any(v.overlay_text_visible for v in columns)
    views.set_overlay_text_visible(True)
    assert all(v.overlay_text_visible for v in columns)
    views.set_overlay_text_visible(False)
    views.set_plane("coronal")  # new views: they start hidden too
    fresh = [views.view(t) for t in views.timepoints]
    assert all(v is not None and v not in columns for v in fresh)
    assert not any(v.overlay_text_visible for v in fresh)
    views.close_views()
