"""The Timeline dock on a generated patient written as real CT DICOM.

Three studies whose folders sort in another order than their dates; the second study also
holds a thicker copy of its series (the reader may swap to it).  Tracking runs with the
generator's truth label maps (FileLabels, injected), so no model runs.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid
from PySide6.QtCore import Qt, QTimer

from interval.io.synthetic.patient import generate_patient
from interval.longitudinal.pipeline import TrackingOptions
from interval.longitudinal.segmentation_source import FileLabels
from interval.ui.longitudinal.timeline_dock import (
    COL_DATE,
    COL_REASON,
    COL_SERIES,
    COL_TIMEPOINT,
    TimelineDock,
)

TIMEOUT_MS = 60_000
SHAPE = (32, 64, 64)
SPACING = (6.0, 6.0, 11.0)
THICK_NUMBER = 57


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    root = tmp_path_factory.mktemp("timeline") / "patient"
    p = generate_patient(root, 3, 3, SHAPE, SPACING, keep_arrays=False)
    # folder names in another order than the dates: the dock must sort by date
    for tp, name in zip(p.timepoints, ("c_first", "a_second", "b_third"), strict=True):
        study_dir = tp.series_dir.parent
        study_dir.rename(study_dir.parent / name)
    _thick_copy(p.dicom_dir / "a_second", p.dicom_dir / "a_second" / "thick")
    return p


def _thick_copy(study_dir: Path, out: Path) -> None:
    """Every other slice of the study's series as a second series (22 mm)."""
    out.mkdir()
    series_uid = generate_uid()
    files = sorted(f for f in study_dir.rglob("*.dcm") if out not in f.parents)
    for k, f in enumerate(files[::2]):
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesNumber = THICK_NUMBER
        ds.SeriesDescription = "thick copy"
        ds.SliceThickness = 2 * SPACING[2]
        ds.InstanceNumber = k + 1
        ds.save_as(out / f"IM{k + 1:04d}.dcm")


def _truth_labels(patient):
    """labels_for: the truth label map of each timepoint the run tracks."""
    by_study = {tp.study_instance_uid: tp.labels_path for tp in patient.timepoints}
    calls = []

    def labels_for(selection):
        calls.append(threading.get_ident())
        return FileLabels([by_study[tp.study_instance_uid]
                           for tp in selection.timeline.timepoints])

    return labels_for, calls


def _new_dock(qtbot, patient, folder=None) -> TimelineDock:
    """A shown dock with the truth labels, rigid registration and no forecast, on
    ``folder`` (default: the patient's scans) once it is indexed (in the background)."""
    opened: list[Path] = []
    labels_for, calls = _truth_labels(patient)
    d = TimelineDock(labels_for=labels_for, open_workspace=opened.append)
    d.options_template = TrackingOptions(registration="rigid", reports=False, forecast=False)
    d.registration_combo.setCurrentText("rigid")
    d.forecast_check.setChecked(False)
    d.opened, d.label_calls = opened, calls
    qtbot.addWidget(d)
    d.resize(900, 500)
    d.show()
    d.open_folder(folder or patient.dicom_dir)
    qtbot.waitUntil(lambda: d.table.rowCount() > 0 and d.plan is not None, timeout=TIMEOUT_MS)
    return d


@pytest.fixture
def dock(qtbot, patient):
    d = _new_dock(qtbot, patient)
    qtbot.waitUntil(lambda: d.table.rowCount() == 3, timeout=TIMEOUT_MS)
    yield d
    d.shutdown()


def _uids(patient) -> list[str]:
    return [tp.study_instance_uid for tp in patient.timepoints]


def _column(dock, col: int) -> list[str]:
    return [dock.table.item(r, col).text() for r in range(dock.table.rowCount())]


def test_lists_the_timepoints_in_date_order_with_their_series(dock, patient) -> None:
    dates = [tp.study_date.isoformat() for tp in patient.timepoints]
    assert dates == sorted(dates)
    assert _column(dock, COL_DATE) == dates
    assert _column(dock, COL_TIMEPOINT) == ["baseline", "follow-up 1", "follow-up 2"]
    for r, tp in enumerate(patient.timepoints):
        combo = dock.table.cellWidget(r, COL_SERIES)
        assert combo.currentText().startswith(f"#{tp.series_number} ")
        assert "CT · 32 slices · 11.0 mm" in combo.currentText()
        assert dock.table.item(r, COL_REASON).text().startswith("axial CT, 11.0 mm, 32 slices")
    middle = dock.table.cellWidget(1, COL_SERIES)
    assert middle.count() == 2 and middle.isEnabled()  # the thick copy is a candidate
    assert [middle.itemText(i) for i in range(2)][1].startswith(f"#{THICK_NUMBER} thick copy")
    assert "thinnest" in dock.table.item(1, COL_REASON).text()
    selection = dock.selection()
    assert [tp.study_instance_uid for tp in selection.timeline.timepoints] == _uids(patient)
    # the default results folder lies beside the scans, never inside them
    out = Path(dock.output_edit.text())
    assert patient.dicom_dir.resolve() not in out.resolve().parents
    assert out.parent == patient.root / "DICOM-interval"


def test_swapping_a_series_is_used_and_explained(dock, patient) -> None:
    middle = dock.table.cellWidget(1, COL_SERIES)
    thick_uid = middle.itemData(1)
    middle.setCurrentIndex(1)  # what choosing it in the combo does
    assert "chosen by the reader" in dock.table.item(1, COL_REASON).text()
    series = dock.selection().timeline.timepoints[1].series
    assert series.series_number == THICK_NUMBER
    assert series.stack_uid == thick_uid
    assert series.dimensions[2] == 16
    assert "chosen by the reader" in series.reason


def test_unticking_a_study_removes_it_from_the_run(dock, patient, qtbot) -> None:
    uids = _uids(patient)
    item = dock.table.item(1, 0)
    rect = dock.table.visualItemRect(item)
    qtbot.mouseClick(dock.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert item.checkState() == Qt.CheckState.Unchecked  # a real click unticked it
    assert [s.study_uid for s in dock.used_studies()] == [uids[0], uids[2]]
    assert _column(dock, COL_TIMEPOINT) == ["baseline", "left out", "follow-up 1"]
    timeline = dock.selection().timeline
    assert [tp.study_instance_uid for tp in timeline.timepoints] == [uids[0], uids[2]]
    assert any("left out by the reader" in w for w in timeline.warnings)
    dock.set_included(uids[1], True)
    assert len(dock.selection().timeline.timepoints) == 3


def test_choosing_another_baseline_drops_the_earlier_studies(dock, patient) -> None:
    uids = _uids(patient)
    dock.table.cellWidget(1, 1).click()  # the second study's baseline radio button
    assert _column(dock, COL_TIMEPOINT) == ["before the baseline: left out", "baseline",
                                            "follow-up 1"]
    timeline = dock.selection().timeline
    assert [tp.study_instance_uid for tp in timeline.timepoints] == uids[1:]
    assert timeline.timepoints[0].label == "baseline"
    assert timeline.timepoints[0].days_from_baseline == 0
    # unticking the baseline moves it to the next study kept
    dock.set_included(uids[1], False)
    assert [s.study_uid for s in dock.used_studies()] == [uids[2]]
    assert _column(dock, COL_TIMEPOINT)[2] == "baseline"
    # choosing an unticked study as the baseline ticks it again
    dock.set_included(uids[0], False)
    dock.table.cellWidget(0, 1).click()
    assert [s.study_uid for s in dock.used_studies()] == uids[:1] + uids[2:]
    assert dock.table.item(0, 0).checkState() == Qt.CheckState.Checked


def test_track_runs_in_the_background_and_opens_the_workspace(dock, patient, qtbot,
                                                              tmp_path) -> None:
    out = tmp_path / "results"
    dock.output_edit.setText(str(out))
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    qtbot.mouseClick(dock.track_button, Qt.MouseButton.LeftButton)
    started = time.perf_counter()
    assert dock.running  # the click returned while the pipeline runs
    assert not dock.track_button.isEnabled() and dock.cancel_button.isEnabled()
    assert not dock.table.isEnabled()
    qtbot.waitUntil(lambda: not dock.running, timeout=TIMEOUT_MS)
    ended = time.perf_counter()
    timer.stop()
    during = [t for t in ticks if started <= t <= ended]
    gaps = [b - a for a, b in zip(during, during[1:], strict=False)]
    print(f"\ntrack run {ended - started:.2f} s, {len(during)} timer ticks, "
          f"longest gap {max(gaps, default=0) * 1000:.0f} ms")
    assert len(during) >= 5, (len(during), ended - started)  # the event loop kept ticking
    assert dock.label_calls and dock.label_calls[0] != threading.get_ident()
    assert dock.opened == [out], dock.message.text()
    report = json.loads((out / "report.json").read_text())
    assert [tp["study_instance_uid"] for tp in report["timeline"]["timepoints"]] == \
        _uids(patient)
    assert report["tracks"]
    for step in ("Reading timepoint 1", "Segmenting timepoint 1", "Registering timepoint 2",
                 "Registering timepoint 3"):
        assert step in dock.steps_seen, dock.steps_seen
    assert dock.message.text().startswith("Tracked 3 timepoint(s)")
    assert dock.track_button.isEnabled() and not dock.cancel_button.isEnabled()


class _WaitForCancel(FileLabels):
    """Truth labels that, at the second timepoint, wait until the run is cancelled."""

    def __init__(self, paths) -> None:
        super().__init__(paths)
        self.reached = threading.Event()

    def label_map(self, index, volume, *, progress=None, cancel=None):
        if index == 1:
            self.reached.set()
            deadline = time.monotonic() + 30
            while not (cancel is not None and cancel()) and time.monotonic() < deadline:
                time.sleep(0.01)
        return super().label_map(index, volume, progress=progress, cancel=cancel)


def test_cancel_stops_the_run_and_writes_no_report(dock, patient, qtbot, tmp_path) -> None:
    by_study = {tp.study_instance_uid: tp.labels_path for tp in patient.timepoints}
    made: list[_WaitForCancel] = []

    def labels_for(selection):
        made.append(_WaitForCancel([by_study[tp.study_instance_uid]
                                    for tp in selection.timeline.timepoints]))
        return made[-1]

    dock.labels_for = labels_for
    out = tmp_path / "cancelled"
    dock.output_edit.setText(str(out))
    dock.track()
    qtbot.waitUntil(lambda: bool(made) and made[0].reached.is_set(), timeout=TIMEOUT_MS)
    assert dock.running
    qtbot.mouseClick(dock.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dock.running, timeout=TIMEOUT_MS)
    assert "cancelled" in dock.message.text()
    assert dock.opened == []
    assert not (out / "report.json").exists()
    assert not list(out.rglob("*.tmp*"))
    assert "Registering timepoint 2" not in dock.steps_seen
    assert dock.track_button.isEnabled()


def test_an_error_is_shown_as_plain_text(dock, patient, qtbot) -> None:
    dock.output_edit.setText(str(patient.dicom_dir / "results"))  # inside the scans
    dock.track()
    qtbot.waitUntil(lambda: not dock.running, timeout=TIMEOUT_MS)
    assert "inside the input folder" in dock.message.text()
    assert dock.message.textFormat() == Qt.TextFormat.PlainText
    assert dock.opened == []
    assert not (patient.dicom_dir / "results").exists()


def test_the_window_action_opens_the_dock_on_the_browsers_folder(qtbot, window,
                                                                  patient) -> None:
    window.open_path(patient.dicom_dir)
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)
    window.actions_by_id["track_patient"].trigger()
    dock = window.timeline_dock
    assert dock.isVisible() and dock.folder == patient.dicom_dir
    qtbot.waitUntil(lambda: dock.table.rowCount() == 3, timeout=TIMEOUT_MS)
    assert dock.index is window.index_result.index  # the browser's index, not read again
    assert _column(dock, COL_DATE) == [tp.study_date.isoformat() for tp in patient.timepoints]


# --- the choice kept with the results, and the dock following the browser -------------------


def _state(dock) -> tuple[list[bool], int, list[str]]:
    """Ticks, the baseline row, each row's series (stack uid)."""
    rows = range(dock.table.rowCount())
    ticks = [dock.table.item(r, 0).checkState() == Qt.CheckState.Checked for r in rows]
    return (ticks, dock.baseline_group.checkedId(),
            [dock.table.cellWidget(r, COL_SERIES).currentData() for r in rows])


def _track(dock, qtbot) -> None:
    assert dock.track() is not None, dock.message.text()
    qtbot.waitUntil(lambda: not dock.running, timeout=TIMEOUT_MS)
    assert dock.message.text().startswith("Tracked"), dock.message.text()


def _choose(dock, uids) -> str:
    """Baseline: the second study (the first unticked), its thick series; "affine"."""
    thick = dock.table.cellWidget(1, COL_SERIES).itemData(1)
    dock.set_series(uids[1], thick)
    dock.set_baseline(uids[1])
    dock.set_included(uids[0], False)
    dock.registration_combo.setCurrentText("affine")
    return thick


def test_track_keeps_the_choice_and_a_new_dock_restores_it(dock, patient, qtbot, tmp_path,
                                                          monkeypatch) -> None:
    uids = _uids(patient)
    out = tmp_path / "kept"
    dock.output_edit.setText(str(out))
    thick = _choose(dock, uids)
    chosen = _state(dock)
    assert chosen == ([False, True, True], 1, chosen[2]) and chosen[2][1] == thick
    _track(dock, qtbot)
    session = json.loads((out / "workspace.json").read_text())["session"]
    kept = session["timeline_choice"]
    assert kept["baseline"] == uids[1] and kept["registration"] == "affine"
    assert [s["included"] for s in kept["studies"]] == [False, True, True]
    assert kept["studies"][1]["stack_uid"] == thick and kept["studies"][1]["reader_series"]
    # the workspace opens that file as its own (no rebuild, no warning about it)
    from interval.longitudinal.workspace import LongitudinalWorkspace

    workspace = LongitudinalWorkspace.open(out)
    assert workspace.session["timeline_choice"] == kept
    assert not [w for w in workspace.open_warnings if "workspace" in w.lower()]

    again = _new_dock(qtbot, patient)
    try:
        assert _state(again)[:2] == ([True, True, True], 0)  # another folder: the rule's
        assert again.registration_combo.currentText() == "rigid"
        monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getExistingDirectory",
                            lambda *a, **k: str(out))
        qtbot.mouseClick(again.output_button, Qt.MouseButton.LeftButton)  # picks ``out``
        assert _state(again) == chosen
        assert again.registration_combo.currentText() == "affine"
        assert [s.study_uid for s in again.used_studies()] == uids[1:]
        assert "restored" in again.choice_note.text() and again.choice_note.isVisibleTo(again)
        assert again.choice_note.textFormat() == Qt.TextFormat.PlainText
    finally:
        again.shutdown()


def test_the_choice_is_restored_from_the_proposed_folder_and_what_left_is_noted(
        qtbot, patient, tmp_path) -> None:
    import shutil

    scans = tmp_path / "scans"
    shutil.copytree(patient.dicom_dir, scans)
    uids = _uids(patient)
    first = _new_dock(qtbot, patient, scans)
    try:
        out = Path(first.output_edit.text())
        assert out.parent == tmp_path / "scans-interval"  # the folder the dock proposes
        _choose(first, uids)
        _track(first, qtbot)
    finally:
        first.shutdown()
    # the same folder later: the first study and the thick series were removed
    shutil.rmtree(scans / "a_second" / "thick")
    shutil.rmtree(scans / "c_first")
    again = _new_dock(qtbot, patient, scans)
    try:
        assert Path(again.output_edit.text()) == out
        assert again.table.rowCount() == 2
        assert _state(again)[:2] == ([True, True], 0)  # the baseline is restored
        assert again.registration_combo.currentText() == "affine"
        note = again.choice_note.text()
        date0 = patient.timepoints[0].study_date.isoformat()
        assert f"The study of {date0} saved in the choice is no longer listed" in note
        assert f"#{THICK_NUMBER} thick copy" in note and "the rule's series is used" in note
        assert again.choice_note.isVisibleTo(again)
    finally:
        again.shutdown()


def test_a_damaged_workspace_file_is_noted_and_the_run_still_works(dock, patient, qtbot,
                                                                   tmp_path) -> None:
    out = tmp_path / "damaged"
    dock.output_edit.setText(str(out))
    dock.set_included(_uids(patient)[2], False)
    _track(dock, qtbot)
    (out / "workspace.json").write_text("{ damaged", encoding="utf-8")
    dock.set_included(_uids(patient)[2], True)
    assert dock.restore_saved_choice() is False
    assert "workspace file cannot be used" in dock.choice_note.text()
    assert _state(dock)[:2] == ([True, True, True], 0)
    _track(dock, qtbot)  # the file is made again from the report, with the choice
    assert "was made again from the report" in dock.message.text()
    assert json.loads((out / "workspace.json").read_text())["session"]["timeline_choice"]


def test_the_workspace_windows_session_keys_survive_the_save(dock, patient, qtbot,
                                                              tmp_path) -> None:
    from interval.longitudinal.workspace import LongitudinalWorkspace

    uids = _uids(patient)
    out = tmp_path / "twice"
    dock.output_edit.setText(str(out))
    _track(dock, qtbot)
    workspace = LongitudinalWorkspace.open(out)
    layout = {"geometry": "AAAA", "selected": 2}
    workspace.save_session({**workspace.session, "workspace_window": layout})
    dock.set_included(uids[2], False)  # another choice, tracked into the same folder
    _track(dock, qtbot)
    session = json.loads((out / "workspace.json").read_text())["session"]
    assert session["workspace_window"] == layout
    assert [s["included"] for s in session["timeline_choice"]["studies"]] == [True, True, False]


def test_the_dock_follows_the_browsers_folder(qtbot, window, patient, tmp_path) -> None:
    import shutil

    uids = _uids(patient)
    window.open_path(patient.dicom_dir)
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)
    window.actions_by_id["track_patient"].trigger()
    dock = window.timeline_dock
    qtbot.waitUntil(lambda: dock.table.rowCount() == 3, timeout=TIMEOUT_MS)
    dock.set_included(uids[2], False)
    dock.set_baseline(uids[1])
    # the browser opens another folder holding the same patient (one study fewer)
    other = tmp_path / "other"
    shutil.copytree(patient.dicom_dir, other)
    shutil.rmtree(other / "c_first")
    window.open_path(other)
    qtbot.waitUntil(lambda: dock.folder == other and dock.table.rowCount() == 2
                    and dock._prep_job is None, timeout=TIMEOUT_MS)
    assert dock.index is window.index_result.index
    assert _column(dock, COL_DATE) == [tp.study_date.isoformat()
                                       for tp in patient.timepoints[1:]]
    assert _state(dock)[:2] == ([True, False], 0)  # the reader's choice is kept
    assert [s.study_uid for s in dock.used_studies()] == [uids[1]]
    assert Path(dock.output_edit.text()).parent == tmp_path / "other-interval"


def test_a_new_index_during_a_run_is_listed_after_it(dock, patient, qtbot, tmp_path) -> None:
    from PySide6.QtCore import QObject, Signal

    from interval.io.dicom.index import index_folder

    class Browser(QObject):
        changed = Signal()

    browser = Browser()
    shown = {"index": None}
    dock.follow(browser.changed, lambda: (shown["index"], patient.dicom_dir))
    old = dock.index
    dock.output_edit.setText(str(tmp_path / "during"))
    dock.track()
    shown["index"] = index_folder(patient.dicom_dir)
    browser.changed.emit()
    qtbot.wait(50)
    assert dock.running and dock.index is old  # not while the run uses the list
    qtbot.waitUntil(lambda: not dock.running, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: dock.index is shown["index"] and dock.table.rowCount() == 3,
                    timeout=TIMEOUT_MS)
