"""Main window: dock arrangement and window geometry persist between runs; window presets
fit the image (CT presets in HU for CT only, the series' own window always reachable)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.volume import Volume
from interval.ui.main_window import MainWindow
from interval.ui.settings import load_settings


def _window(qtbot) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    return w


def test_docks_and_geometry_are_restored_on_the_next_start(qtbot, config_dir) -> None:
    first = _window(qtbot)
    first.resize(700, 520)  # fits the offscreen screen (800 x 600)
    first.show()
    qtbot.waitExposed(first)
    assert first.dockWidgetArea(first.browser) == Qt.DockWidgetArea.LeftDockWidgetArea
    # the user moves the study browser to the right, closes the AI dock, shows Problems
    first.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, first.browser)
    first.ai_panel.close()
    first.problems.show()
    size = (first.width(), first.height())
    assert size != (1280, 800)  # not the built-in size
    first.close()  # saves the settings
    saved = load_settings(config_dir / "settings.json")
    assert saved.window_state and saved.window_geometry

    second = _window(qtbot)
    second.show()
    qtbot.waitExposed(second)
    assert second.dockWidgetArea(second.browser) == Qt.DockWidgetArea.RightDockWidgetArea
    assert second.ai_panel.isHidden() and not second.browser.isHidden()
    assert second.problems.isHidden()  # it appears when there is something to say
    assert (second.width(), second.height()) == size
    second.shutdown()


def test_damaged_saved_arrangement_gives_the_built_in_one(qtbot, config_dir) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "settings.json").write_text(
        '{"window_state": "AAAA", "window_geometry": "not base64 !!"}'
    )
    w = _window(qtbot)
    w.show()
    assert w.dockWidgetArea(w.browser) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert not w.browser.isHidden()
    w.shutdown()


def _volume(modality: str, values: np.ndarray, window: WindowLevel | None = None) -> Volume:
    meta = VolumeMetadata(modality=modality, units="HU" if modality == "CT" else "",
                          default_window=window)
    return Volume(values, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), meta)


def _preset(w: MainWindow, prefix: str):  # noqa: ANN202
    return next(a for a in w.presets_menu.actions() if a.text().startswith(prefix))


def test_ct_presets_only_for_ct_and_series_default_brings_back_its_window(qtbot, config_dir):
    w = _window(qtbot)
    assert not _preset(w, "Lung").isEnabled() and not _preset(w, "Series default").isEnabled()
    rng = np.random.default_rng(0)
    mr = _volume("MR", rng.integers(0, 2000, size=(8, 32, 32)).astype(np.int16))
    vid = w.state.add_volume(mr, name="MR")
    lung = _preset(w, "Lung")
    assert not lung.isEnabled()  # HU presets make no sense on MR
    start = w.state.window(vid)
    w.apply_window(-600.0, 1500.0, "Lung")  # e.g. a preset applied before
    _preset(w, "Series default").trigger()
    assert (w.state.window(vid).center, w.state.window(vid).width) == pytest.approx(
        (start.center, start.width)
    )
    w.state.remove_volume(vid)
    ct = _volume("CT", np.zeros((4, 16, 16), np.int16), WindowLevel(40.0, 400.0, "DICOM"))
    cid = w.state.add_volume(ct, name="CT")
    assert lung.isEnabled()
    lung.trigger()
    assert w.state.window(cid).width == 1500.0
    _preset(w, "Series default").trigger()
    assert (w.state.window(cid).center, w.state.window(cid).width) == (40.0, 400.0)
    w.shutdown()


def test_open_dialogs_start_in_the_images_folder_then_the_last_one(qtbot, config_dir, tmp_path,
                                                                   monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    w = _window(qtbot)
    starts: list[str] = []
    chosen = tmp_path / "labels" / "seg.nii.gz"
    chosen.parent.mkdir()

    def fake_open(parent, caption, start, filters):  # noqa: ANN001, ANN202
        starts.append(start)
        return str(chosen), filters

    monkeypatch.setattr(QFileDialog, "getOpenFileName", fake_open)
    monkeypatch.setattr(w, "open_segmentation", lambda path: None)
    w._ask_open_segmentation()
    assert starts[-1] == str(Path.home())  # nothing open: not the program's folder
    w.current_folder = tmp_path
    w._last_open_dir = None
    w._ask_open_segmentation()
    assert starts[-1] == str(tmp_path)  # beside the images being read
    w._ask_open_segmentation()
    assert starts[-1] == str(chosen.parent)  # where the last file was found
    w.shutdown()


def test_layers_panel_button_opens_segmentations_like_the_file_menu(qtbot, config_dir,
                                                                     monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    w = _window(qtbot)
    captions: list[str] = []

    def fake_open(parent, caption, start, filters):  # noqa: ANN001, ANN202
        captions.append(caption)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", fake_open)
    w.layers_panel.open_button.click()
    w.actions_by_id["open_segmentation"].trigger()
    # one dialog each time, the window's (background loader, warnings), not the panel's own
    assert captions == ["Open a segmentation", "Open a segmentation"]
    w.shutdown()


def test_readme_beside_a_series_does_not_pop_up_the_problems_dock(qtbot, config_dir,
                                                                   tmp_path) -> None:
    """A README next to the images is listed (View > Problems) but does not open the dock
    by itself; a damaged DICOM file does."""
    from tests.ui.test_progressive_view import _write

    folder = tmp_path / "series"
    files = _write(folder, 100)
    (folder / "README.txt").write_text("scanner notes")
    w = _window(qtbot)
    w.show()
    w.open_path(folder)
    qtbot.waitUntil(lambda: w.index_result is not None, timeout=30_000)
    skipped = [name for kind, name, _reason in w.problems.entries() if kind == "skipped"]
    assert skipped == ["README.txt"] and "1 file(s) skipped" in w.browser.status.text()
    assert w.problems.isHidden()
    w.shutdown()

    broken = tmp_path / "broken"
    _write(broken, 100)
    (broken / "cut.dcm").write_bytes(files[3].read_bytes()[:300])
    w2 = _window(qtbot)
    w2.show()
    w2.open_path(broken)
    qtbot.waitUntil(lambda: w2.index_result is not None, timeout=30_000)
    assert not w2.problems.isHidden()
    w2.shutdown()
