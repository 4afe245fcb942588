"""Study browser over a real (generated) DICOM folder, indexed by the real background worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from interval.io.synthetic.patient import SyntheticPatient, generate_patient
from interval.ui.main_window import MainWindow

TIMEOUT_MS = 30_000
SHAPE = (30, 96, 96)


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> SyntheticPatient:
    root = tmp_path_factory.mktemp("browser") / "patient"
    return generate_patient(root, seed=3, n_timepoints=2, shape=SHAPE, ground_truth=False,
                            keep_arrays=False)


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MainWindow:
    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1100, 700)
    w.show()
    yield w
    w.shutdown()


def _open(qtbot, window: MainWindow, path: Path) -> None:
    window.open_path(path)
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)


def test_tree_shows_patient_studies_and_series(qtbot, window, patient) -> None:
    _open(qtbot, window, patient.dicom_dir)
    browser = window.browser
    patients = browser.items_of_kind("patient")
    studies = browser.items_of_kind("study")
    series = browser.items_of_kind("series")
    assert len(patients) == 1
    assert "born" in patients[0].text(1)
    assert [s.text(1) for s in studies] == [tp.study_date.isoformat() for tp in patient.timepoints]
    assert len(series) == 2
    for item in series:
        assert item.text(1) == "CT"
        assert item.text(3) == str(SHAPE[0])
        assert item.parent().data(0, Qt.ItemDataRole.UserRole) == "study"
    assert browser.status.text().startswith("1 patient(s), 2 study(ies), 2 series")
    # thumbnails of the middle slice arrive from the background, one per series
    qtbot.waitUntil(lambda: all(browser.has_thumbnail(u) for u, _s in browser.stacks()),
                    timeout=TIMEOUT_MS)
    assert not series[0].icon(0).isNull()
    # nothing was loaded just by indexing (two stacks: the reader chooses)
    assert window.state.active_volume is None


def test_double_click_loads_the_series_in_the_background(qtbot, window, patient) -> None:
    _open(qtbot, window, patient.dicom_dir)
    tree = window.browser.tree
    item = window.browser.items_of_kind("series")[1]
    uid = item.data(0, Qt.ItemDataRole.UserRole + 1)
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    assert rect.isValid()
    # a real double click: press/release, then the double-click event (QTest's mouseDClick
    # alone sends no press, and QTreeView only double-clicks the item it saw pressed)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    # loaded_stack_uid is set when the load ENDS (the views show its slices before)
    qtbot.waitUntil(lambda: window.loaded_stack_uid == uid, timeout=TIMEOUT_MS)
    volume = window.state.active_volume
    assert volume.array.shape == SHAPE
    assert volume.metadata.study_date == patient.timepoints[1].study_date
    assert "96 x 96 x 30 voxels" in window.message.text()
    # loading another series replaces it (one image volume open)
    window.load_stack(window.browser.stacks()[0][0])
    qtbot.waitUntil(lambda: window.loaded_stack_uid != uid, timeout=TIMEOUT_MS)
    assert len(window.state.volumes) == 1


def test_opened_folder_becomes_a_recent_folder(qtbot, window, patient) -> None:
    _open(qtbot, window, patient.dicom_dir)
    folder = str(Path(patient.dicom_dir).resolve())
    assert window.settings.recent_folders[0] == folder
    assert [a.text() for a in window.recent_menu.actions()] == [folder]


def test_problem_flags_sit_in_the_first_column_with_tooltips(qtbot, window, patient) -> None:
    _open(qtbot, window, patient.dicom_dir)
    browser = window.browser
    uid = browser.stacks()[0][0]
    item = browser.item_for(uid)
    name = item.text(0)
    assert browser.problem_of(uid) is None and not name.startswith(("⚠", "⛔"))
    assert all(item.toolTip(c) for c in range(4) if item.text(c))  # cut texts stay readable
    browser.mark_problem(uid, ["1 slice missing between 10 mm and 20 mm"], irregular=True)
    assert item.text(0) == f"⚠ {name}" and browser.problem_of(uid) == "irregular"
    assert all("1 slice missing" in item.toolTip(c) for c in range(4))
    browser.mark_problem(uid, ["This stack holds no images."], irregular=False)
    assert item.text(0) == f"⛔ {name}" and browser.problem_of(uid) == "refused"
    # the first column starts at the left edge of the tree, so the flag is never off-screen
    browser.tree.scrollToItem(item)
    assert browser.tree.columnViewportPosition(0) == 0
    assert browser.tree.visualItemRect(item).left() < browser.tree.viewport().width()
