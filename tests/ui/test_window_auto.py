"""The Window presets menu's Auto entry, and the window a decubitus MR opens with when
its DICOM window (from a slice outside the head) is implausible."""

from __future__ import annotations

import numpy as np
import pytest

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.volume import Volume
from interval.core.window_presets import apply_window, image_window, initial_window
from interval.ui.main_window import MainWindow
from tests.io.dicom.hfdl_mr import EDGE, EDGE_WINDOW, N_SLICES, head_volume, write_hfdl_series

TIMEOUT_MS = 30_000


def _action(w: MainWindow, name: str):  # noqa: ANN202
    return next(a for a in w.presets_menu.actions() if a.objectName() == name)


def _head_white(volume: Volume, wl: WindowLevel) -> float:
    middle = volume.array[N_SLICES // 2]
    return float(np.mean(apply_window(middle[middle > 100], wl.center, wl.width) == 255))


def test_auto_entry_applies_the_image_window_and_default_and_reset_agree(qtbot, config_dir):
    w = MainWindow()
    qtbot.addWidget(w)
    auto = _action(w, "preset-auto")
    assert auto.text().startswith("Auto") and not auto.isEnabled()  # nothing open yet
    mr = Volume(head_volume(), metadata=VolumeMetadata(modality="MR",
                                                       default_window=WindowLevel(*EDGE_WINDOW)))
    vid = w.state.add_volume(mr, name="MR")
    opened = w.state.window(vid)
    assert opened.name == "Auto (DICOM window implausible)"
    assert _head_white(mr, opened) < 0.05  # not the white blob of 4/8
    assert auto.isEnabled()

    w.apply_window(4.0, 8.0, "manual")
    auto.trigger()
    expected = image_window(mr)
    got = w.state.window(vid)
    assert (got.center, got.width, got.name) == (expected.center, expected.width, "Auto")
    assert "Auto" in w.message.text()

    w.apply_window(4.0, 8.0, "manual")
    _action(w, "preset-default").trigger()  # "Series default": what it opened with
    assert (w.state.window(vid).center, w.state.window(vid).width) == (opened.center, opened.width)
    w.apply_window(4.0, 8.0, "manual")
    w.reset_view()
    assert w.state.window(vid) == opened
    w.shutdown()


def test_auto_entry_on_ct_uses_the_whole_image_in_hu(qtbot, config_dir):
    w = MainWindow()
    qtbot.addWidget(w)
    hu = np.full((4, 32, 32), -1000, np.int16)
    hu[:, 8:24, 8:24] = np.arange(16 * 16, dtype=np.int16).reshape(16, 16)  # 0..255 HU
    ct = Volume(hu, metadata=VolumeMetadata(modality="CT", units="HU",
                                            default_window=WindowLevel(40, 400)))
    vid = w.state.add_volume(ct, name="CT")
    assert w.state.window(vid) == WindowLevel(40, 400)  # the CT's own window is kept
    _action(w, "preset-auto").trigger()
    wl = w.state.window(vid)
    assert wl.name == "Auto" and wl.low > -50 and wl.high < 300  # the tissue, not the air
    assert (wl.center, wl.width) == (image_window(ct).center, image_window(ct).width)
    w.shutdown()


def test_opening_the_series_shows_the_head_in_grey(qtbot, window, tmp_path) -> None:
    folder = tmp_path / "hfdl"
    write_hfdl_series(folder, lambda k: EDGE_WINDOW if k < EDGE else None)
    window.open_path(folder)  # one series: loaded as soon as it is indexed
    qtbot.waitUntil(lambda: window.state.active_volume is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window._progressive is None, timeout=TIMEOUT_MS)
    volume = window.state.active_volume
    assert volume.metadata.default_window == WindowLevel(*EDGE_WINDOW)
    layer = window._active_image_layer()
    assert layer.window.name == "Auto (DICOM window implausible)"
    assert layer.window == initial_window(volume)  # as "Series default" and Reset give
    # the rendered axial view draws the head through that window: brain mid-grey, scalp
    # brighter (with 4/8 both would be white)
    view = window.views.views["axial"]
    mid = window.state.slice_index("axial")
    assert volume.array[mid].max() > 900
    frame = view.capture()
    greys = []
    for col in (36, 53):  # brain, scalp along row 32
        x, row = view.lps_to_display(volume.index_to_lps(np.array([col, 32, mid], float)))
        expected = apply_window(volume.array[mid, 32, col], layer.window.center, layer.window.width)
        greys.append(float(frame[int(row), int(x), 0]))
        assert greys[-1] == pytest.approx(float(expected), abs=3)
    assert 20 < greys[0] < 200 and greys[1] > greys[0] + 60, greys
