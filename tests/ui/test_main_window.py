"""Main window: opening in the background, cancel, problems without dialogs, menus, settings,
drag-and-drop, screenshots, start-up without torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QMessageBox

from interval.io import open_path
from interval.io.synthetic.patient import SyntheticPatient, generate_patient
from interval.ui import shortcuts
from interval.ui.main_window import MainWindow
from interval.ui.plain_text import tooltip_text
from interval.ui.settings import load_settings
from tests.conftest import REPO_ROOT, shared

TIMEOUT_MS = 30_000
SHAPE = (30, 96, 96)
ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> SyntheticPatient:
    root = tmp_path_factory.mktemp("mainwin") / "patient"
    return generate_patient(root, seed=0, n_timepoints=2, shape=SHAPE, ground_truth=False,
                            keep_arrays=False)


def _wait_indexed(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)


def _no_dialogs() -> bool:
    return not any(
        isinstance(w, QDialog | QMessageBox) and w.isVisible() for w in QApplication.topLevelWidgets()
    )


def _stack_uid_of_first_series(window: MainWindow) -> str:
    return window.browser.stacks()[0][0]


# --- loading, cancel, problems -------------------------------------------------------------


def test_cancel_during_indexing(qtbot, window, patient, monkeypatch) -> None:
    real = open_path.index_path
    waited: list[bool] = []

    def gated(path, policy, *, progress=None, cancel=None, **options):
        """The real indexer, held after its first progress report until cancel is pressed."""

        def hold(done: int, total: int) -> None:
            progress(done, total)
            deadline = time.monotonic() + 30
            while not cancel() and time.monotonic() < deadline:
                time.sleep(0.005)
            waited.append(cancel())

        return real(path, policy, progress=hold, cancel=cancel, **options)

    monkeypatch.setattr(open_path, "index_path", gated)
    job = window.open_path(patient.dicom_dir)
    button = window.progress.cancel_button
    qtbot.waitUntil(lambda: window.progress.bar.maximum() > 0 and button.isVisible(),
                    timeout=TIMEOUT_MS)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.state == "cancelled", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "cancelled" in window.message.text(), timeout=TIMEOUT_MS)
    assert waited and waited[0] is True
    assert window.index_result is None
    assert "cancelled" in window.browser.status.text()
    assert window.problems.entries() == []  # a cancel is not an error
    assert _no_dialogs()
    qtbot.waitUntil(lambda: not window.progress.isVisible(), timeout=TIMEOUT_MS)


def test_cancel_during_loading(qtbot, window, patient, monkeypatch) -> None:
    from interval.io.dicom import load as load_module

    real = load_module.load_stack

    def gated(stack, policy, *, progress=None, cancel=None):
        def hold(done: int, total: int) -> None:
            progress(done, total)
            deadline = time.monotonic() + 30
            while not cancel() and time.monotonic() < deadline:
                time.sleep(0.005)

        return real(stack, policy, progress=hold, cancel=cancel)

    monkeypatch.setattr(load_module, "load_stack", gated)
    window.open_path(patient.dicom_dir)
    _wait_indexed(qtbot, window)
    job = window.load_stack(_stack_uid_of_first_series(window))
    qtbot.waitUntil(lambda: window.progress.job is job and window.progress.bar.maximum() > 0,
                    timeout=TIMEOUT_MS)
    qtbot.mouseClick(window.progress.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.state == "cancelled", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "cancelled" in window.message.text(), timeout=TIMEOUT_MS)
    assert window.state.active_volume is None
    assert window.problems.entries() == [] and _no_dialogs()


def test_broken_folder_lists_reasons_without_dialog(qtbot, window, patient, tmp_path) -> None:
    files = sorted(p for p in Path(patient.dicom_dir).rglob("*.dcm"))
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in files[:5]:
        shutil.copy(f, broken / f.name)
    (broken / "notes.txt").write_text("hello")
    (broken / "junk.bin").write_bytes(bytes(range(256)) * 10)
    data = files[10].read_bytes()
    (broken / "cut_header.dcm").write_bytes(data[:300])
    (broken / "cut_pixels.dcm").write_bytes(data[:-5000])

    window.open_path(broken)
    _wait_indexed(qtbot, window)
    skipped = {name: reason for kind, name, reason in window.problems.entries() if kind == "skipped"}
    assert set(skipped) == {"notes.txt", "junk.bin", "cut_header.dcm", "cut_pixels.dcm"}
    assert "truncated" in skipped["cut_header.dcm"] and "truncated" in skipped["cut_pixels.dcm"]
    assert "not a DICOM file" in skipped["junk.bin"]
    assert window.problems.isVisible()
    assert "4 file(s) skipped" in window.browser.status.text()
    # the one good stack (5 slices) opens by itself
    qtbot.waitUntil(lambda: window.state.active_volume is not None, timeout=TIMEOUT_MS)
    assert window.state.active_volume.array.shape == (5, *SHAPE[1:])
    assert _no_dialogs()


def test_missing_path_is_reported_in_the_panel(qtbot, window, tmp_path) -> None:
    assert window.open_path(tmp_path / "absent") is None
    (kind, title, reason), = window.problems.entries()
    assert kind == "error" and "not found" in reason
    assert _no_dialogs()


def test_irregular_series_listed_and_resample_loads_it(qtbot, window) -> None:
    folder = shared("dicom2nifti_testdata", "tests", "data", "failing", "sliceincrement")
    window.open_path(folder)
    _wait_indexed(qtbot, window)
    irregular = window.index_result.irregular
    assert len(irregular) == 2
    reasons = window.problems.series_problems()
    assert set(reasons) == set(irregular)
    assert all("slice missing" in r for r in reasons.values())
    assert any("gantry tilt" in r for r in reasons.values())
    # double-click on an irregular series: refused (default policy), still listed, no dialog
    uid = next(u for u, r in reasons.items() if "gantry" not in r)
    job = window.load_stack(uid)
    qtbot.waitUntil(lambda: job.state == "failed", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "irregular" in window.message.text(), timeout=TIMEOUT_MS)
    assert window.state.active_volume is None and uid in window.problems.series_problems()
    assert _no_dialogs()
    # "Resample" reloads with a resampling policy
    window.problems.action_buttons[(uid, "resample")].click()
    qtbot.waitUntil(lambda: window.state.active_volume is not None, timeout=TIMEOUT_MS)
    volume = window.state.active_volume
    assert volume.array.shape == (5, 512, 512)  # 4 slices + the missing one interpolated
    assert any("Resampled" in w for w in volume.metadata.warnings)
    assert uid not in window.problems.series_problems()


# --- menus, settings, drag and drop --------------------------------------------------------


def _load_first(qtbot, window: MainWindow, patient: SyntheticPatient) -> None:
    window.open_path(patient.dicom_dir)
    _wait_indexed(qtbot, window)
    uid = _stack_uid_of_first_series(window)
    window.load_stack(uid)
    # the whole series, not the first slices of a progressive load
    qtbot.waitUntil(lambda: window.loaded_stack_uid == uid, timeout=TIMEOUT_MS)


def test_view_menu_layout_presets_invert_reset(qtbot, window, patient, config_dir) -> None:
    _load_first(qtbot, window, patient)
    vid = window.state.active_volume_id
    start = window.state.window(vid)
    window.actions_by_id["layout_2x2"].trigger()
    assert window.state.layout == "2x2"
    lung = next(a for a in window.presets_menu.actions() if a.text().startswith("Lung"))
    lung.trigger()
    wl = window.state.window(vid)
    assert (wl.center, wl.width, wl.name) == (-600.0, 1500.0, "Lung")
    window.actions_by_id["invert"].trigger()
    assert window.state.layer(vid).invert and window.actions_by_id["invert"].isChecked()
    window.actions_by_id["cine"].trigger()
    assert window.state.cine.playing and window.actions_by_id["cine"].isChecked()
    window.actions_by_id["cine"].trigger()
    assert not window.state.cine.playing and not window.actions_by_id["cine"].isChecked()
    window.state.set_zoom("axial", 3.0)
    window.actions_by_id["reset"].trigger()
    assert window.state.view("axial").zoom == 1.0
    assert window.state.window(vid).center == start.center
    window.state.set_window(vid, 55.0, 123.0)
    window.save_window_preset("Mine")
    window.apply_window(0.0, 10.0)
    mine = next(a for a in window.presets_menu.actions() if a.text().startswith("Mine"))
    mine.trigger()
    assert (window.state.window(vid).center, window.state.window(vid).width) == (55.0, 123.0)
    window.close()
    saved = load_settings(config_dir / "settings.json")
    assert saved.layout == "2x2"
    assert [(p.name, p.center, p.width) for p in saved.window_presets] == [("Mine", 55.0, 123.0)]


def test_layout_is_restored_from_settings(qtbot, config_dir) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_text(json.dumps({"layout": "1x1"}))
    w = MainWindow()
    qtbot.addWidget(w)
    assert w.state.layout == "1x1" and w.actions_by_id["layout_1x1"].isChecked()
    w.shutdown()


def test_corrupt_settings_file_gives_a_working_window(qtbot, config_dir) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_bytes(b"\x00{{{ not json")
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w.state.layout == "1x3" and w.settings.recent_folders == []
    w.shutdown()


def test_shortcut_table_drives_actions_and_help(qtbot, window) -> None:
    for s in shortcuts.SHORTCUTS:
        if s.action:
            assert window.actions_by_id[s.action].shortcut().toString() == s.keys
    dialog = window.show_shortcuts()
    assert not dialog.isModal() and dialog.isVisible()
    text = dialog.findChild(QLabel).text()
    for s in shortcuts.SHORTCUTS:
        assert s.description in text
    assert "Window preset: Lung" in text
    dialog.close()


@pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")
def test_drop_a_folder_opens_it(qtbot, window, patient) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(patient.dicom_dir))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    _wait_indexed(qtbot, window)
    assert len(window.browser.items_of_kind("study")) == 2
    # text without files is refused
    text = QMimeData()
    text.setText("hello")
    refused = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, text,
                              Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(refused)
    assert not refused.isAccepted()


# --- screenshots ---------------------------------------------------------------------------


def test_layout_screenshot_with_the_demo_patient(qtbot, window, patient) -> None:
    window.resize(1280, 800)
    _load_first(qtbot, window, patient)
    qtbot.waitUntil(lambda: all(window.browser.has_thumbnail(u) for u, _s in window.browser.stacks()),
                    timeout=TIMEOUT_MS)
    from interval.ui.screenshot import view_image
    from interval.ui.vtk_widget import VtkWidget

    path = window.save_layout_screenshot(ARTIFACTS / "main_window_layout.png")
    image = QImage(str(path))
    assert path.suffix == ".png" and not image.isNull()
    assert (image.width(), image.height()) == (window.width(), window.height())
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)  # kept alive while read
    shot = np.frombuffer(rgb.constBits(), np.uint8).reshape(rgb.height(), rgb.bytesPerLine())
    shot = shot[:, : 3 * rgb.width()].reshape(rgb.height(), rgb.width(), 3).copy()
    views = [w for w in window.findChildren(VtkWidget) if w.isVisible()]
    assert views, "the layout shows VTK views"
    for widget in views:  # each view's own rendered pixels are in the layout picture
        frame = view_image(widget)
        pos = widget.mapTo(window, QPoint(0, 0))
        h, w = frame.shape[:2]
        np.testing.assert_array_equal(shot[pos.y() : pos.y() + h, pos.x() : pos.x() + w], frame)
    # one view alone
    single = window.save_view_screenshot(ARTIFACTS / "main_window_view.png")
    view = QImage(str(single))
    assert not view.isNull() and (view.width(), view.height()) in {
        (w.width(), w.height()) for w in views
    }
    assert not list(ARTIFACTS.glob(".shot-*"))  # atomic: no temporary file left


# --- start-up ------------------------------------------------------------------------------

_STARTUP = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    from interval.ui.app import application, create_window
    app = application()
    w = create_window(sys.argv[1])
    app.processEvents()
    shown = time.perf_counter() - t0
    deadline = time.monotonic() + 60
    while w.state.active_volume is None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    loaded = w.state.active_volume is not None
    w.close()
    print(json.dumps({"shown": shown, "visible": True, "loaded": loaded,
                      "torch": "torch" in sys.modules}))
    """
)


def test_window_shows_fast_without_torch(tmp_path, patient) -> None:
    one = tmp_path / "one"  # a single series: it opens by itself
    shutil.copytree(Path(patient.dicom_dir) / sorted(os.listdir(patient.dicom_dir))[0], one)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INTERVAL_CONFIG_DIR": str(tmp_path / "c")}
    out = subprocess.run([sys.executable, "-c", _STARTUP, str(one)], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\ntime to show the main window (fresh process, imports included): "
          f"{result['shown']:.2f} s")
    assert result["loaded"]
    assert result["torch"] is False


def test_close_waits_for_background_work(qtbot, config_dir, patient) -> None:
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    started = threading.Event()

    def work(ctx) -> str:
        started.set()
        while not ctx.cancelled():
            time.sleep(0.005)
        return "stopped"

    job = w.runner.submit("waiting", work)
    assert started.wait(20)
    w.close()  # cancels and waits for the thread
    assert job.done.is_set() and job.state == "cancelled"


# --- companions (status bar cursor text, measuring tools) ---------------------------------


def test_cursor_status_and_measure_tool_menu(qtbot, window, patient) -> None:
    _load_first(qtbot, window, patient)
    axial = window.views.views["axial"]
    axial.cursor_moved.emit("axial", window.state.crosshair)
    text = window.cursor_info.text()
    assert "LPS" in text and "voxel" in text
    axial.cursor_moved.emit("axial", None)
    assert "voxel" not in window.cursor_info.text()
    window.actions_by_id["tool_ruler"].trigger()
    assert window.measure_tool.mode == "ruler"
    window.actions_by_id["tool_none"].trigger()
    assert window.measure_tool.mode is None


def test_cursor_status_follows_the_state_without_mouse_moves(qtbot, window, patient) -> None:
    from interval.ui.status_info import voxel_index

    _load_first(qtbot, window, patient)
    state = window.state
    vol = state.active_volume
    axial = window.views.views["axial"]
    axial.render_now()
    axial.cursor_moved.emit("axial", np.asarray(state.crosshair))  # the mouse rests here

    def shown_voxel() -> str:
        i, j, k = voxel_index(vol, state.crosshair)  # the point under the (still) mouse
        return f"voxel ({i}, {j}, {k}) | {int(vol.array[k, j, i])} HU"

    assert shown_voxel() in window.cursor_info.text()
    k0 = voxel_index(vol, state.crosshair)[2]
    state.step_slice("axial", 3)  # PageDown, no mouse move
    assert abs(voxel_index(vol, state.crosshair)[2] - k0) == 3
    assert shown_voxel() in window.cursor_info.text()
    window.apply_window(40, 400, "Soft tissue")
    assert "W/L 400/40" in window.cursor_info.text()
    state.set_window(state.active_volume_id, 204.6, 564.6)  # a drag
    assert "W/L 565/205" in window.cursor_info.text()  # CT: whole HU, no decimals
    state.set_zoom("axial", 2.72)
    assert "zoom 272%" in window.cursor_info.text()
    window.reset_view()
    assert "zoom 100%" in window.cursor_info.text()
    # the remembered screen point is re-read through the view: the corner of a zoomed-out
    # view is off the image
    state.set_zoom("axial", 0.5)
    window.set_cursor("axial", 5.0, 5.0)
    assert "outside the image" in window.cursor_info.text()
    axial.cursor_moved.emit("axial", None)
    state.step_slice("axial", -1)
    assert "voxel" not in window.cursor_info.text()


def test_slice_keys_go_to_the_view_last_under_the_mouse(qtbot, window, patient) -> None:
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QKeyEvent

    _load_first(qtbot, window, patient)
    state = window.state
    coronal = window.views.views["coronal"]
    coronal.render_now()
    coronal.cursor_moved.emit("coronal", np.asarray(state.crosshair))  # hovered, not clicked
    start = state.slice_index("coronal"), state.slice_index("axial")
    # focus is elsewhere (e.g. after a menu): the key reaches the window itself
    key = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Down, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, key)
    assert key.isAccepted()
    assert (state.slice_index("coronal"), state.slice_index("axial")) == (start[0] + 1, start[1])
    other = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Q, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, other)  # not a view key: left alone
    assert state.slice_index("coronal") == start[0] + 1


def test_long_status_message_does_not_widen_the_window(qtbot, window) -> None:
    window.resize(900, 700)
    before = window.minimumSizeHint().width()
    window._set_message("A very long message. " * 100)
    window.cursor_info.setText("LPS (1.0, 2.0, 3.0) mm | " * 40)
    assert window.message.text().startswith("A very long message.")
    qtbot.wait(50)
    assert window.minimumSizeHint().width() < 1000
    assert window.minimumSizeHint().width() <= max(before, 1)
    assert window.width() <= 900
    # both share the bar: the message keeps room beside a (normal) cursor text
    window.cursor_info.setText("LPS (1.0, 2.0, 3.0) mm | voxel (40, 21, 7) | 45 HU | W/L 400/40")
    qtbot.waitUntil(lambda: window.message.width() > 150, timeout=5000)
    assert window.cursor_info.width() >= window.cursor_info.fontMetrics().horizontalAdvance(
        window.cursor_info.text()
    )
    ARTIFACTS.mkdir(exist_ok=True)
    window.grab().save(str(ARTIFACTS / "main_window_long_status.png"))  # paints the elided text


def test_open_an_image_file(qtbot, window, tmp_path) -> None:
    from interval.core.volume import Volume
    from interval.io.image_files import write_image

    array = np.arange(6 * 20 * 24, dtype=np.int16).reshape(6, 20, 24)
    path = tmp_path / "scan.nii.gz"
    write_image(Volume(array, spacing=(0.8, 0.8, 2.0), origin=(10.0, -5.0, 3.0)), path)
    job = window.open_path(path)
    qtbot.waitUntil(lambda: window.state.active_volume is not None, timeout=TIMEOUT_MS)
    assert job.state == "finished"
    np.testing.assert_array_equal(window.state.active_volume.array, array)
    assert "24 x 20 x 6 voxels" in window.message.text()
    assert window.index_result is None  # no DICOM index for an image file


def test_opening_one_image_opens_its_whole_series(qtbot, window, patient) -> None:
    """As in Horos or Slicer: one file of a series opens the series it belongs to."""
    study = sorted(p for p in patient.dicom_dir.iterdir() if p.is_dir())[0]
    one_file = sorted(study.rglob("*.dcm"))[7]
    window.open_path(one_file)
    _wait_indexed(qtbot, window)
    qtbot.waitUntil(lambda: window.state.active_volume is not None, timeout=TIMEOUT_MS)
    volume = window.state.active_volume
    assert volume.array.shape == SHAPE  # every slice of the series, not the one file
    assert _no_dialogs()


def test_irregular_series_flag_problem_focus_and_as_is_warning(qtbot, window) -> None:
    folder = shared("dicom2nifti_testdata", "tests", "data", "failing", "sliceincrement")
    window.open_path(folder)
    _wait_indexed(qtbot, window)
    irregular = window.index_result.irregular
    uid = next(u for u, p in irregular.items() if not any("gantry" in x for x in p))
    tree = window.browser.tree
    item = window.browser.item_for(uid)
    # the flag is in the FIRST column (on screen at the default dock width), with the reason
    assert item.text(0).startswith("⚠") and window.browser.problem_of(uid) == "irregular"
    assert "slice missing" in item.toolTip(0) and "Load as-is" in item.toolTip(0)
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    assert tree.columnViewportPosition(0) == 0 and rect.left() < tree.viewport().width()
    # each problem's reason is shown once in its entry
    entry = window.problems._series[uid]
    shown = [entry.text(1)] + [entry.child(i).text(1) for i in range(entry.childCount())]
    for reason in irregular[uid]:
        assert sum(reason in t for t in shown) == 1
    # double-click it: the load is refused, the Problems dock is shown with the entry
    # selected and its buttons on screen
    window.problems.tree.setCurrentItem(None)
    window.problems.hide()
    tree.itemDoubleClicked.emit(item, 0)
    qtbot.waitUntil(lambda: window.load_job is not None and window.load_job.state == "failed",
                    timeout=TIMEOUT_MS)
    assert window.problems.isVisible() and window.problems.selected_series() == uid
    button = window.problems.action_buttons[(uid, "as-is")]
    assert button.isVisible()
    top_left = button.mapTo(window.problems.tree.viewport(), QPoint(0, 0))
    assert window.problems.tree.viewport().rect().contains(top_left)
    # "Load as-is": the views warn on the image for as long as this volume is shown
    button.click()
    qtbot.waitUntil(lambda: window.loaded_stack_uid == uid, timeout=TIMEOUT_MS)
    assert any(w.startswith("Loaded as-is") for w in window.state.active_volume.metadata.warnings)
    for view in window.views.views.values():
        assert "Irregular slice spacing" in view.warning_text()
    axial = window.views.views["axial"]
    axial.set_crosshair_visible(False)
    frame = axial.capture()
    orange = (frame[..., 0] > 200) & (np.abs(frame[..., 1].astype(int) - 115) < 40) & (
        frame[..., 2] < 70)
    assert orange[: frame.shape[0] // 2, : frame.shape[1] // 2].sum() > 60
    ARTIFACTS.mkdir(exist_ok=True)
    window.save_layout_screenshot(ARTIFACTS / "irregular_as_is_layout.png")


def test_save_dialogs_start_in_the_last_used_folder(qtbot, window, config_dir, tmp_path,
                                                     monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    from interval.ui import measurements_panel as mp

    exports = tmp_path / "exports"
    exports.mkdir()
    starts: list[str] = []

    def fake(answer):  # noqa: ANN001, ANN202
        def dialog(parent, caption, start, filters):  # noqa: ANN001, ANN202
            starts.append(start)
            return answer, filters
        return dialog

    monkeypatch.setattr(mp.QFileDialog, "getSaveFileName", fake(str(exports / "m.csv")))
    window.measurements_panel._ask_export()
    assert (exports / "m.csv").is_file()
    assert Path(window.settings.last_save_dir) == exports.resolve()
    window.measurements_panel._ask_export()
    assert Path(starts[-1]).parent == exports.resolve()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake(""))
    window._ask_screenshot_view()  # cancelled, but it started in the same folder
    assert Path(starts[-1]).parent == exports.resolve()
    # remembered by the next session
    other = MainWindow()
    qtbot.addWidget(other)
    assert Path(other.measurements_panel.save_dir) == exports.resolve()
    other.shutdown()


def test_cut_status_text_has_a_tooltip(qtbot, window) -> None:
    window.message.resize(80, 20)
    window._set_message("A message that cannot fit in eighty pixels")
    assert tooltip_text(window.message.toolTip()) == "A message that cannot fit in eighty pixels"
    window.message.resize(2000, 20)
    window._set_message("Short")
    assert window.message.toolTip() == ""


def test_segmentation_warnings_go_to_the_problems_panel(qtbot, window, tmp_path) -> None:
    """A label map whose label description is damaged still opens; the reader is told why
    its labels have default names (in the Problems dock, once)."""
    from interval.core.labels import LabelTable
    from interval.core.viewer_state import LabelLayer
    from interval.core.volume import Volume
    from interval.io.image_files import write_image

    image = Volume(np.zeros((6, 20, 24), np.int16), spacing=(1.0, 1.0, 2.0))
    window.state.add_volume(image, name="image")
    labels = np.zeros((6, 20, 24), np.uint8)
    labels[2:4, 5:10, 6:12] = 3
    path = tmp_path / "seg.nii.gz"
    write_image(image.with_array(labels, labels=LabelTable.for_values([3])), path)
    (tmp_path / "seg.labels.json").write_text('{"format": "interval-labels", "labels": [',
                                              encoding="utf-8")
    window.problems.hide()
    window.open_segmentation(path)
    qtbot.waitUntil(
        lambda: any(isinstance(la, LabelLayer) for la in window.state.layers), timeout=TIMEOUT_MS
    )
    layer = next(la for la in window.state.layers if isinstance(la, LabelLayer))
    assert layer.labels[3].name == "Label 3"  # default name: the description was ignored
    entries = [e for e in window.problems.entries() if e[1] == "seg.nii.gz"]
    assert len(entries) == 1 and "seg.labels.json could not be read" in entries[0][2]
    assert window.problems.isVisible() and "seg.labels.json" in window.message.text()
    assert _no_dialogs()


def test_ai_dock_and_plugin_manager_menu(qtbot, window) -> None:
    from interval.ui.ai_panel import AiPanel

    panel = window.ai_panel
    assert isinstance(panel, AiPanel) and panel.objectName() == "aiPanel"
    assert window.dockWidgetArea(panel) == Qt.DockWidgetArea.RightDockWidgetArea
    assert panel in window.tabifiedDockWidgets(window.layers_panel)
    qtbot.waitUntil(lambda: panel.registry is not None, timeout=TIMEOUT_MS)  # after show
    action = window.actions_by_id["plugin_manager"]
    tools = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Tools")
    assert action in tools.actions()
    action.trigger()
    dialog = window._plugin_dialog
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    assert dialog.table.rowCount() == len(dialog.registry.plugins) + len(dialog.registry.refused)
    dialog.close()
    qtbot.mouseClick(panel.plugins_button, Qt.MouseButton.LeftButton)  # also from the dock
    assert window._plugin_dialog is dialog and dialog.isVisible()
    dialog.close()


def test_attached_segmentation_opens_with_its_series(qtbot, window, patient, tmp_path) -> None:
    """``interval demo --view``: a folder of two series opens the one with an attached
    label map (none would load otherwise) and adds the map as a layer; loading the other
    series shows no layer; coming back to the first adds it again."""
    from interval.core.labels import LabelTable
    from interval.core.viewer_state import LabelLayer
    from interval.io.image_files import write_image

    tp = patient.timepoints[1]
    series = tp.series_instance_uid
    seg = tmp_path / "tp2.nii.gz"
    window.attach_segmentation(series, seg)
    window.open_path(patient.dicom_dir)
    _wait_indexed(qtbot, window)
    qtbot.waitUntil(lambda: window.loaded_stack_uid is not None, timeout=TIMEOUT_MS)
    stack = window.browser.stack(window.loaded_stack_uid)
    assert stack.first.series_instance_uid == series
    # the file did not exist yet: a clear problem, no dialog, the image stays
    qtbot.waitUntil(lambda: "tp2.nii.gz" in " ".join(str(e) for e in window.problems.entries()),
                    timeout=TIMEOUT_MS)
    assert _no_dialogs() and window.state.active_volume is not None

    image = window.state.active_volume
    labels = np.zeros(image.array.shape, np.uint8)
    labels[5:10, 20:40, 30:50] = 2
    write_image(image.with_array(labels, labels=LabelTable.for_values([2])), seg)
    others = [uid for uid, s in window.browser.stacks() if s.first.series_instance_uid != series]
    window.load_stack(others[0])
    qtbot.waitUntil(lambda: window.loaded_stack_uid == others[0], timeout=TIMEOUT_MS)
    assert not any(isinstance(la, LabelLayer) for la in window.state.layers)
    window.load_stack(next(uid for uid, s in window.browser.stacks()
                           if s.first.series_instance_uid == series))
    qtbot.waitUntil(lambda: any(isinstance(la, LabelLayer) for la in window.state.layers),
                    timeout=TIMEOUT_MS)
    layer = next(la for la in window.state.layers if isinstance(la, LabelLayer))
    assert 2 in layer.labels
