"""The longitudinal workspace window (offscreen): the lesion table, the chart following the
selection, corrections with undo, the report export in the background, the unsaved-changes
question on close, the saved layout, and File > Open tracking results… in the viewer.

Built on the report fixture (a synthetic patient measured by hand, 3 timepoints, 8
lesions: L1 and L3 new at follow-up 1, L2 gone at follow-up 2, L8 the only target)
written to a folder as ``interval track`` writes it.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from interval.longitudinal.lesion_rows import build_lesion_rows
from interval.longitudinal.report_json import write_report_json
from interval.longitudinal.workspace import LongitudinalWorkspace
from interval.ui.longitudinal import correction_dialogs as dialogs
from interval.ui.longitudinal.workspace_window import (
    SESSION_KEY,
    LongitudinalWorkspaceWindow,
)
from tests.longitudinal._report_fixture import fresh_report, shared_case

VIEWS_MODULE = "interval.ui.longitudinal.timepoint_views"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    write_report_json(fresh_report(shared_case()), folder / "report.json")
    return folder


@pytest.fixture(autouse=True)
def no_blocking_dialogs(monkeypatch):
    """A modal question or dialog the test did not expect fails it instead of hanging."""

    def refuse(box):
        raise AssertionError(f"unexpected modal dialog: {box.windowTitle()}")

    monkeypatch.setattr(QMessageBox, "exec", refuse)
    monkeypatch.setattr(QDialog, "exec", refuse)


class FakeViews(QWidget):
    """Stands in for the side-by-side views (``TimepointViews``' interface): records calls."""

    pointPicked = Signal(int, object)  # noqa: N815

    def __init__(self, workspace, parent=None, *, timepoints=None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.calls: list[tuple] = []
        workspace.subscribe(lambda _change: self.refresh())  # as TimepointViews does

    plane = "axial"

    def set_timepoints(self, timepoints) -> None:
        self.calls.append(("set_timepoints", tuple(timepoints)))

    def set_plane(self, plane: str) -> None:
        self.plane = plane
        self.calls.append(("set_plane", plane))

    def show_lesion(self, lesion_id: str) -> None:
        self.calls.append(("show_lesion", lesion_id))

    def go_to(self, timepoint: int, lps) -> None:
        self.calls.append(("go_to", timepoint, tuple(lps)))

    def refresh(self) -> None:
        self.calls.append(("refresh",))

    def close_views(self) -> None:
        self.calls.append(("close_views",))


@pytest.fixture(autouse=True)
def fake_views(monkeypatch):
    """The window's tests do not depend on the real views (built and tested on their own)."""
    module = types.ModuleType(VIEWS_MODULE)
    module.TimepointViews = FakeViews
    monkeypatch.setitem(sys.modules, VIEWS_MODULE, module)


@pytest.fixture
def win(qtbot, out: Path):
    w = LongitudinalWorkspaceWindow(LongitudinalWorkspace.open(out))
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w._closing = True  # no question when the test ends
    w.close()
    w.deleteLater()


def _row_text(w: LongitudinalWorkspaceWindow, lesion_id: str) -> str:
    model = w.table.model
    return model.text(model.row_of(lesion_id), 0)


def test_table_has_one_row_per_lesion_and_the_views_area(win) -> None:
    ws = win.workspace
    assert win.table.shown_order() == [t.lesion_id for t in ws.report.tracks]
    assert win.table.model.rowCount() == len(ws.report.tracks) == 8
    # the table shows the workspace's rows: the same values, one rule set
    assert list(win.table.model.rows.rows) == ws.rows()
    assert win.table.model.rows.timepoints == build_lesion_rows(ws.report).timepoints
    assert isinstance(win.views, FakeViews) and win.views.workspace is ws
    assert win.sum_chart.title_text().startswith("RECIST 1.1")
    assert not win.undo_action.isEnabled() and win.undo_action.text() == "Undo"
    assert not win.windowTitle().count("*")


def test_selecting_a_row_updates_the_chart_title(win, qtbot) -> None:
    first_target = next(r.lesion_id for r in win.workspace.rows() if r.is_target)
    assert win.table.selected_lesion() == first_target  # opens on the first target
    qtbot.waitUntil(lambda: first_target in win.growth_chart.title_text(), timeout=2000)
    index = win.table.proxy.mapFromSource(win.table.model.index(
        win.table.model.row_of("L8"), 0))
    rect = win.table.table.visualRect(index)
    qtbot.mouseClick(win.table.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.table.selected_lesion() == "L8"
    # the chart follows once the views have drawn (the same turn of the event loop)
    qtbot.waitUntil(lambda: "L8" in win.growth_chart.title_text(), timeout=2000)
    assert "target" in win.growth_chart.title_text()
    win.show_lesion("L4")
    assert win.table.selected_lesion() == "L4"
    qtbot.waitUntil(lambda: "L4" in win.growth_chart.title_text(), timeout=2000)


def test_rename_updates_the_table_and_the_title_star(win) -> None:
    win.show_lesion("L4")
    assert win.rename_lesion("L4", "segment <b>VII</b>")
    assert _row_text(win, "L4") == "segment <b>VII</b>"  # plain text, as typed
    assert win.table.selected_lesion() == "L4"  # selection kept
    assert "segment <b>VII</b>" in win.growth_chart.title_text()
    assert win.windowTitle().count(" *") == 1
    assert win.undo_action.text() == "Undo rename L4" and win.undo_action.isEnabled()
    assert "name" in win.table.model.rows.row("L4").reader_changed


def test_exclude_then_undo_restores_and_the_actions_follow_the_labels(win) -> None:
    before = win.table.model.rows
    sum_before = win.sum_chart.series
    assert win.toggle_excluded("L5")
    assert win.table.model.rows.row("L5").is_excluded
    assert win.undo_action.text() == "Undo exclude L5"
    assert "4 non-target" in win.table.model.rows.timepoints[0].reason
    win.undo_action.trigger()
    assert win.table.model.rows == before
    assert win.sum_chart.series == sum_before
    assert not win.undo_action.isEnabled() and win.redo_action.text() == "Redo exclude L5"
    assert win.redo_action.isEnabled() and not win.windowTitle().count(" *")
    win.redo_action.trigger()
    assert win.table.model.rows.row("L5").is_excluded
    # include through the same toggle
    assert win.toggle_excluded("L5") and not win.table.model.rows.row("L5").is_excluded


def test_refused_action_shows_its_sentence_and_changes_nothing(win) -> None:
    before = win.table.model.rows
    assert not win.unlink_lesion("L1", 1)  # nothing before follow-up 1
    title, text = win.last_message
    assert title == "Unlink" and "not seen before" in text
    assert win.table.model.rows == before and not win.workspace.can_undo


def test_unlink_then_link_through_the_dialog_choices(win) -> None:
    report = win.workspace.report
    choices = dialogs.unlink_choices(report, "L8")
    assert [c.value for c in choices] == [1, 2]
    assert win.unlink_lesion("L8", 1)
    new = next(r for r in win.table.model.rows.rows if r.lesion_id not in
               {t.lesion_id for t in report.tracks})
    assert new.is_new
    links = dialogs.link_choices(win.workspace.report, "L8")
    pick = next(c.value for c in links if c.value[0] == new.lesion_id and c.value[1] == 1)
    assert win.link_lesion("L8", pick)
    assert [r.lesion_id for r in win.table.model.rows.rows] == [t.lesion_id for t in report.tracks]


def test_merge_and_split_choices(win) -> None:
    assert win.merge_lesion("L6", "L7")
    parts = dialogs.split_choices(win.workspace.report, "L6")
    assert len(parts) >= 2 and all(isinstance(c.value, tuple) for c in parts)
    assert win.split_lesion("L6", parts[-1].value)
    assert win.undo_action.text() == "Undo split L6"


def test_context_menu_lists_the_corrections(win) -> None:
    menu = win.context_menu("L5")
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts == ["Rename…", "Exclude (false positive)", "Mark target",
                     "Unlink at timepoint…", "Link with…", "Merge with…", "Split at timepoint…"]
    menu.deleteLater()


def test_export_writes_the_report_signed_off_in_the_background(win, qtbot, out: Path) -> None:
    win.rename_lesion("L4", "segment VII")
    assert win.workspace.dirty
    assert win.export_report("   ") is None and "name" in win.last_message[1]
    job = win.export_report("Dr  Ada Lovelace", images=False)
    assert job is not None and not win.undo_action.isEnabled()  # busy: no edits
    qtbot.waitUntil(lambda: win.export_job is None, timeout=30000)
    data = json.loads((out / "report.json").read_text())
    assert data["signed_off_by"] == "Dr Ada Lovelace"
    assert any(t["name"] == "segment VII" for t in data["tracks"])
    assert win.last_export is not None and "report_json" in win.last_export.outputs
    title, text = win.last_message
    assert title == "Report exported" and "report.json" in text and "Warnings:" in text
    assert not win.windowTitle().count(" *") and win.undo_action.isEnabled()


def test_dirty_close_asks_and_cancel_keeps_the_window(win, monkeypatch) -> None:
    asked = []

    def fake_exec(box):
        asked.append(box.text())
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    win.close()  # not dirty: no question
    assert asked == [] and not win.isVisible()
    win.show()
    win._closing = False
    win.toggle_excluded("L5")
    assert not win.close() and win.isVisible() and len(asked) == 1
    assert "not in the report yet" in asked[0]
    monkeypatch.setattr(QMessageBox, "exec",
                        lambda box: QMessageBox.StandardButton.Discard)
    assert win.close() and not win.workspace.dirty
    assert win.workspace.report.track("L5").role != "excluded"


def test_layout_and_selected_lesion_are_restored(qtbot, out: Path) -> None:
    w = LongitudinalWorkspaceWindow(LongitudinalWorkspace.open(out))
    qtbot.addWidget(w)
    w.show()
    w.show_lesion("L6")
    w.chart_tabs.setCurrentIndex(1)
    sizes = [500, 200]
    w.splitter.setSizes(sizes)
    saved_sizes = w.splitter.sizes()
    w.resize(760, 560)  # within the offscreen screen (800 x 600): not clamped
    saved_size = w.size()
    assert w.close()
    saved = LongitudinalWorkspace.open(out).session[SESSION_KEY]
    assert saved["lesion"] == "L6" and saved["chart_tab"] == 1
    again = LongitudinalWorkspaceWindow(LongitudinalWorkspace.open(out))
    qtbot.addWidget(again)
    again.show()
    assert again.table.selected_lesion() == "L6"
    qtbot.waitUntil(lambda: "L6" in again.growth_chart.title_text(), timeout=2000)
    assert again.chart_tabs.currentIndex() == 1
    assert again.size() == saved_size
    got = again.splitter.sizes()  # the same split (pixels follow the restored layout)
    assert got[0] / sum(got) == pytest.approx(saved_sizes[0] / sum(saved_sizes), abs=0.02)
    assert saved_sizes[0] / sum(saved_sizes) != pytest.approx(0.6, abs=0.05)  # not the default
    again._closing = True
    again.close()


def test_chart_export_png_and_svg(win, tmp_path: Path) -> None:
    win.show_lesion("L8")
    png = win.export_chart(tmp_path / "chart.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    win.chart_tabs.setCurrentIndex(1)
    svg = win.export_chart(tmp_path / "sum.svg")
    assert b"<svg" in svg.read_bytes()


def test_main_window_opens_tracking_results(window, out: Path, tmp_path: Path) -> None:
    action = window.actions_by_id["open_tracking_results"]
    assert action.text() == "Open tracking results…"
    w = window.open_tracking_results(out)
    assert isinstance(w, LongitudinalWorkspaceWindow) and w.isVisible()
    assert w.table.model.rowCount() == 8
    w._closing = True
    w.close()
    assert window.open_tracking_results(tmp_path / "nowhere") is None
    assert "does not exist" in window.message.text()


def test_demo_opens_the_workspace_on_its_results(out: Path, tmp_path: Path, monkeypatch) -> None:
    from interval.cli import demo as demo_cli
    from interval.ui.longitudinal import workspace_window

    opened = []
    monkeypatch.setattr(workspace_window, "run_workspace", lambda root: opened.append(root) or 0)
    assert demo_cli.open_results(out) == 0 and opened == [out]
    # no report (the tracking failed): the plain viewer on the patient's scans
    import interval.cli.view as view_cli

    viewer = []
    monkeypatch.setattr(view_cli, "open_viewer", lambda path, segs=None: viewer.append(path) or 0)
    monkeypatch.setattr("interval.io.synthetic.patient.read_synthetic_patient",
                        lambda root: type("P", (), {"dicom_dir": root / "dicom"})())
    assert demo_cli.open_results(tmp_path) == 0
    assert viewer == [str(tmp_path / "dicom")] and opened == [out]


def test_views_follow_the_table_and_a_click_in_a_view_selects_the_lesion(win) -> None:
    views = win.views
    win.show_lesion("L8")
    assert views.calls[-1] == ("show_lesion", "L8")
    views.calls.clear()
    win.toggle_excluded("L5")
    assert ("refresh",) in views.calls
    # a click near L6's centre at the baseline selects L6 (table and chart)
    l6 = win.table.model.rows.row("L6").cell(0)
    views.pointPicked.emit(0, tuple(v + 0.5 for v in l6.centroid_lps))
    assert win.table.selected_lesion() == "L6" and "L6" in win.growth_chart.title_text()
    views.pointPicked.emit(0, (1e4, 1e4, 1e4))  # nowhere near a lesion: nothing changes
    assert win.table.selected_lesion() == "L6"
    win._closing = True
    win.close()
    assert views.calls[-1] == ("close_views",)


def test_placeholder_without_the_views_module(qtbot, out: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, VIEWS_MODULE, None)  # import fails: not in this build
    monkeypatch.setattr("interval.ui.longitudinal.workspace_window.importlib.import_module",
                        lambda name: (_ for _ in ()).throw(ModuleNotFoundError(name=name)))
    w = LongitudinalWorkspaceWindow(LongitudinalWorkspace.open(out))
    qtbot.addWidget(w)
    assert w.views.objectName() == "timepointViewsPlaceholder"
    w.show_lesion("L8")  # no views: the table and chart still follow
    qtbot.waitUntil(lambda: "L8" in w.growth_chart.title_text(), timeout=2000)


def test_with_the_real_views_when_this_build_has_them(qtbot, out: Path, monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, VIEWS_MODULE, raising=False)
    try:
        real = importlib.import_module(VIEWS_MODULE)
    except ModuleNotFoundError:
        pytest.skip("the side-by-side views are not in this build yet")
    w = LongitudinalWorkspaceWindow(LongitudinalWorkspace.open(out))
    qtbot.addWidget(w)
    w.show()
    assert isinstance(w.views, real.TimepointViews)
    w.show_lesion("L8")
    assert w.views.selected_lesion == "L8"
    assert w.close()
    assert w.views._closed  # its loading stopped with the window


def test_dirty_close_export_signs_off_then_closes(win, qtbot, monkeypatch, out: Path) -> None:
    win.toggle_excluded("L5")
    monkeypatch.setattr(QMessageBox, "exec", lambda box: QMessageBox.StandardButton.Save)
    monkeypatch.setattr(dialogs, "ask_name", lambda *a, **k: "Dr Close")
    monkeypatch.setattr(win.workspace, "export_report",
                        lambda name, images=True, _real=win.workspace.export_report:
                        _real(name, images=False))
    assert not win.close()  # waits for the export
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=30000)
    data = json.loads((out / "report.json").read_text())
    assert data["signed_off_by"] == "Dr Close" and not win.workspace.dirty
    assert next(t for t in data["tracks"] if t["lesion_id"] == "L5")["role"] == "excluded"


def test_the_plane_is_chosen_from_the_view_menu_and_kept_in_the_session(qtbot, out: Path) -> None:
    w = LongitudinalWorkspaceWindow(LongitudinalWorkspace.open(out))
    qtbot.addWidget(w)
    w.show()
    w.actions_by_id["plane_coronal"].trigger()
    assert w.views.calls[-1] == ("set_plane", "coronal") and w.views.plane == "coronal"
    assert w.actions_by_id["plane_coronal"].isChecked()
    assert not w.actions_by_id["plane_axial"].isChecked()
    assert w.session_state()["plane"] == "coronal"
    w.save_session()
    again = LongitudinalWorkspaceWindow(LongitudinalWorkspace.open(out))
    qtbot.addWidget(again)
    assert ("set_plane", "coronal") in again.views.calls
    assert again.actions_by_id["plane_coronal"].isChecked()


def test_a_window_hands_over_to_the_report_made_again(qtbot, out: Path) -> None:
    """After a registration re-run the tracking is run again (retrack): the window opens
    the new report in its place, keeps the layout and selection, and never saves its older
    state over the new one."""
    from types import SimpleNamespace

    from PySide6.QtWidgets import QMainWindow

    host = QMainWindow()  # stands in for the viewer, which keeps its workspace windows
    qtbot.addWidget(host)
    w = LongitudinalWorkspaceWindow(LongitudinalWorkspace.open(out), host)
    host.workspace_windows = [w]
    w.show()
    w.show_lesion("L6")
    w._reload_after_retrack(SimpleNamespace(out_dir=out))
    new = w.replacement
    assert new is not None and new is not w
    assert host.workspace_windows[-1] is new
    assert not w.isVisible() and new.isVisible()
    assert new.table.selected_lesion() == "L6"
    before = (out / "workspace.json").read_bytes()
    w.show_lesion("L8")
    w.save_session()  # the replaced window: nothing written
    assert (out / "workspace.json").read_bytes() == before


def test_context_menu_offers_to_confirm_an_equivocal_new_lesion(win, monkeypatch) -> None:
    from interval.longitudinal.model import ROLE_NEW

    calls = []
    monkeypatch.setattr(win.workspace, "is_equivocal", lambda lesion_id: lesion_id == "L5")
    monkeypatch.setattr(win, "set_role", lambda lesion_id, role: calls.append((lesion_id, role)))
    menu = win.context_menu("L5")
    action = next(a for a in menu.actions() if a.text() == "Confirm new lesion (equivocal)")
    action.trigger()
    assert calls == [("L5", ROLE_NEW)]
    menu.deleteLater()
    other = win.context_menu("L4")
    assert "Confirm new lesion (equivocal)" not in [a.text() for a in other.actions()]
    other.deleteLater()
