"""A follow-up read entirely in the viewer: open the scans, track, review, correct, export.

The main window opens a generated patient's DICOM folder (three CT studies); Longitudinal >
Track patient… runs the pipeline in the background (the generator's truth label maps stand
in for the segmentation model, so no network runs); the workspace window opens on the
results; a click on a lesion row centres every timepoint on it; the reader renames one
lesion and excludes another (undo and redo on the way), and exports the report signed off.
Every step goes through the widgets and actions a reader uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from interval.io.synthetic.patient import generate_patient
from interval.longitudinal.segmentation_source import FileLabels
from interval.longitudinal.truth_tracking import truth_report
from interval.ui.longitudinal.lesion_table import LESION_ID_ROLE

TIMEOUT_MS = 120_000
SHAPE = (32, 64, 64)
SPACING = (6.0, 6.0, 11.0)


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    return generate_patient(tmp_path_factory.mktemp("e2e") / "patient", 4, 3, SHAPE, SPACING,
                            keep_arrays=False)


def _truth_labels(patient):
    by_study = {tp.study_instance_uid: tp.labels_path for tp in patient.timepoints}
    return lambda selection: FileLabels([by_study[tp.study_instance_uid]
                                         for tp in selection.timeline.timepoints])


def proxy_rows(win) -> int:
    return win.table.table.model().rowCount()


def _click_row(win, lesion_id: str) -> None:
    grid = win.table.table
    proxy = grid.model()
    row = next(r for r in range(proxy.rowCount())
               if str(proxy.index(r, 0).data(LESION_ID_ROLE)) == lesion_id)
    index = proxy.index(row, 1)
    grid.scrollTo(index)
    QTest.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, QPoint(grid.visualRect(index).center()))


def test_open_track_review_correct_export(qtbot, window, patient, tmp_path) -> None:
    # open the scans in the viewer
    window.open_path(patient.dicom_dir)
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)

    # Longitudinal > Track patient…: the dock on the browser's studies
    window.actions_by_id["track_patient"].trigger()
    dock = window.timeline_dock
    qtbot.waitUntil(lambda: dock.table.rowCount() == 3, timeout=TIMEOUT_MS)
    dock.labels_for = _truth_labels(patient)
    out = tmp_path / "results"
    dock.output_edit.setText(str(out))
    dock.registration_combo.setCurrentText("rigid")
    dock.forecast_check.setChecked(False)
    qtbot.mouseClick(dock.track_button, Qt.MouseButton.LeftButton)
    assert dock.running
    qtbot.waitUntil(lambda: not dock.running, timeout=TIMEOUT_MS)
    assert (out / "report.json").is_file(), dock.message.text()

    # the workspace window opened on the results
    assert window.workspace_windows, dock.message.text()
    win = window.workspace_windows[-1]
    assert win.workspace.out_dir == out
    assert win.views.wait_loaded(60)
    report = win.workspace.report
    times = [tp.index for tp in report.timeline.timepoints]
    assert win.views.timepoints == tuple(times)

    # review: the table holds the lesions of the truth (a lesion that splits in two may
    # show as one row per part) with as many targets, and its response row says what the
    # truth's RECIST says
    truth = truth_report(patient, report.timeline)
    shown = win.table.model.rows.rows
    assert proxy_rows(win) == len(shown) >= len(truth.tracks)
    assert sum(r.is_target for r in shown) == sum(t.role == "target" for t in truth.tracks)
    assert [r.overall_response for r in report.recist] == \
        [r.overall_response for r in truth.recist]

    # a click on a lesion seen at every timepoint centres every column on it
    rows = win.workspace.rows()
    seen_everywhere = [r for r in rows
                       if all(r.cell(t) is not None and r.cell(t).centroid_lps is not None
                              for t in times)]
    assert seen_everywhere, "the generated patient has a lesion seen at every timepoint"
    lesion = next((r for r in seen_everywhere if r.lesion_id != win.table.selected_lesion()),
                  seen_everywhere[0])
    _click_row(win, lesion.lesion_id)
    assert win.table.selected_lesion() == lesion.lesion_id
    for t in times:
        state = win.views.column_state(t)
        volume = win.views.view(t).slice_view.volume
        where = volume.lps_to_index(np.asarray(lesion.cell(t).centroid_lps))
        shown = volume.lps_to_index(np.asarray(state["center_lps"]))
        assert np.all(np.abs(where - shown) <= 1.0), (t, where, shown)
    qtbot.waitUntil(lambda: lesion.lesion_id in win.growth_chart.title_text(), timeout=5000)

    # correct: rename the lesion, exclude another one; undo and redo the exclusion
    assert win.rename_lesion(lesion.lesion_id, "checked by the reader")
    other = next(r.lesion_id for r in rows if r.lesion_id != lesion.lesion_id)
    assert win.toggle_excluded(other)
    excluded = {r.lesion_id for r in win.workspace.rows() if r.is_excluded}
    assert other in excluded and win.workspace.dirty
    win.undo_action.trigger()
    assert other not in {r.lesion_id for r in win.workspace.rows() if r.is_excluded}
    win.redo_action.trigger()
    assert other in {r.lesion_id for r in win.workspace.rows() if r.is_excluded}
    assert win.windowTitle().count(" *") == 1

    # export, signed off, in the background
    job = win.export_report("Dr Test Reader", images=False)
    assert job is not None
    qtbot.waitUntil(lambda: win.export_job is None, timeout=TIMEOUT_MS)
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["signed_off_by"] == "Dr Test Reader"
    names = {t["lesion_id"]: t for t in data["tracks"]}
    assert names[lesion.lesion_id]["name"] == "checked by the reader"
    assert names[other]["role"] == "excluded"
    changes = json.dumps(data.get("reader_changes", []))
    assert lesion.lesion_id in changes and other in changes
    for name in ("report.html", "report.pdf", "lesions.csv"):
        assert (out / name).is_file()
    assert list((out / "dicom").glob("tp*_sr.dcm"))
    assert not win.workspace.dirty and not win.windowTitle().count(" *")
    win.close()
    assert Path(out / "workspace.json").is_file()  # the session is kept with the results
