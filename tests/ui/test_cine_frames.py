"""Cine over the frames of a clip: the acquired frame rate, frame text, slider, pixels."""

from __future__ import annotations

import numpy as np
import pytest

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.ui.cine import CinePlayer
from interval.ui.mpr_view import MprView

FRAME_TIME_MS = 33.3
SIZE = 200


def _clip(n: int = 4) -> Volume:
    """A US-like clip of ``n`` frames; frame k holds 100 * k everywhere."""
    arr = np.repeat((np.arange(n, dtype=np.int16) * 100)[:, None, None], 24, axis=1)
    arr = np.repeat(arr, 32, axis=2)
    meta = VolumeMetadata(
        modality="US",
        default_window=WindowLevel(150, 400),
        frame_axis="time",
        frame_times_ms=tuple(k * FRAME_TIME_MS for k in range(n)),
        frame_rate_hz=1000.0 / FRAME_TIME_MS,
    )
    return Volume(arr, (0.5, 0.5, 1.0), (0.0, 0.0, 0.0), np.eye(3), meta)


@pytest.fixture
def clip_view(qtbot):
    state = ViewerState()
    vol = _clip()
    state.add_volume(vol)
    view = MprView(state, "axial")
    qtbot.addWidget(view)
    view.resize(SIZE, SIZE)
    view.show()
    qtbot.waitUntil(lambda: min(view.vtk.GetRenderWindow().GetSize()) > 50)
    yield state, vol, view
    view.close_view()


def _grey(view: MprView, vol: Volume) -> int:
    frame = view.capture()
    x, row = view.lps_to_display(vol.index_to_lps((5.0, 5.0, 0.0)))  # off the crosshair
    return int(frame[int(row), int(x), 0])


def test_cine_plays_frames_at_the_frame_time(qtbot, clip_view) -> None:
    state, vol, view = clip_view
    assert state.two_d_mode and state.cine.view_id == "axial"
    player = CinePlayer(state)
    try:
        state.set_frame_index(0)
        player.play()
        assert player.timer.isActive()
        assert player.timer.interval() == round(FRAME_TIME_MS) == player.interval_ms(state.cine.fps)
        player.stop()
        greys = [_grey(view, vol)]
        for expected in (1, 2, 3, 0):
            player.tick()  # one timer tick: the next frame in time
            assert state.frame_index() == expected
            greys.append(_grey(view, vol))
        assert len(set(greys[:4])) == 4  # every frame drawn differs from the others
        assert greys[4] == greys[0]  # looped back to the first frame
        # the real timer advances frames too
        player.play()
        qtbot.waitUntil(lambda: state.frame_index() != 0, timeout=3000)
        player.stop()
    finally:
        player.close()


def test_frame_text_and_slider_follow_the_frame(qtbot, clip_view) -> None:
    state, vol, view = clip_view
    state.set_frame_index(2)
    assert view.corner_texts().bottom_left == "Frame 3/4  t = 0.07 s"
    slider = view.frame_slider
    assert slider.isVisible()
    assert (slider.slider.minimum(), slider.slider.maximum(), slider.slider.value()) == (0, 3, 2)
    assert slider.label.text() == "Frame 3/4  t = 0.07 s"
    before = _grey(view, vol)
    slider.slider.setValue(1)  # dragging the slider shows that frame
    assert state.frame_index() == 1 and _grey(view, vol) != before
    assert view.corner_texts().bottom_left == "Frame 2/4  t = 0.03 s"


def test_slider_is_hidden_for_a_normal_volume(qtbot) -> None:
    state = ViewerState()
    arr = np.zeros((10, 16, 16), np.int16)
    state.add_volume(Volume(arr, (1, 1, 2), (0, 0, 0), np.eye(3), VolumeMetadata(modality="CT")))
    view = MprView(state, "axial")
    qtbot.addWidget(view)
    view.show()
    try:
        assert not view.frame_slider.isVisible()
        assert view.corner_texts().bottom_left.startswith("Axial")
    finally:
        view.close_view()


def test_main_window_offers_no_mpr_layouts_for_a_clip(window) -> None:
    state = window.state
    state.set_layout("2x2")
    ct = Volume(np.zeros((10, 16, 16), np.int16), (1, 1, 2), (0, 0, 0), np.eye(3),
                VolumeMetadata(modality="CT"))
    vid_ct = state.add_volume(ct)
    vid_clip = state.add_volume(_clip())
    state.set_active_volume(vid_clip)
    assert state.visible_views() == ("axial",)
    assert not window.actions_by_id["layout_2x2"].isEnabled()
    assert not window.actions_by_id["layout_1x3"].isEnabled()
    assert window.settings.layout == "2x2"  # the 2-D view is not saved as the user's layout
    window._save_settings()  # closing the window while the clip is shown keeps it too
    assert window.settings.layout == "2x2"
    state.set_active_volume(vid_ct)
    assert state.layout == "2x2" and window.actions_by_id["layout_2x2"].isEnabled()


# --- 3-D + time: the time bar -----------------------------------------------------------------
def _phase(value: int) -> Volume:
    arr = np.full((6, 24, 32), value, np.int16)
    meta = VolumeMetadata(modality="MR", default_window=WindowLevel(150, 400))
    return Volume(arr, (1.0, 1.0, 3.0), (0.0, 0.0, 0.0), np.eye(3), meta)


def test_time_bar_loads_siblings_in_the_background_and_plays_them(qtbot) -> None:
    import threading

    from interval.core.time_axis import TimeAxis
    from interval.ui.time_axis_bar import TimeAxisBar

    state = ViewerState()
    first = _phase(0)
    state.add_volume(first)
    gate = threading.Event()
    loaded: list[str] = []

    def load(key: str) -> Volume:
        gate.wait(10)
        loaded.append(key)
        return _phase(100 * int(key[1:]))

    view = MprView(state, "axial")
    qtbot.addWidget(view)
    view.resize(SIZE, SIZE)
    view.show()
    bar = TimeAxisBar(state, load)
    qtbot.addWidget(bar)
    try:
        state.set_time_axis(TimeAxis(("v0", "v1", "v2"), 0, (0.0, 30.0, 60.0)))
        bar.show()
        assert bar.isVisible() and bar.label.text() == "Volume 1/3  t = 0.0 s"
        assert not bar.show_index(2)  # not loaded yet: shown when it arrives
        assert "loading" in bar.label.text()
        assert state.active_volume is first
        grey_before = _grey(view, first)
        gate.set()
        qtbot.waitUntil(lambda: state.time_axis.index == 2, timeout=5000)
        assert int(state.active_volume.array[0, 0, 0]) == 200
        assert bar.slider.value() == 2 and bar.label.text() == "Volume 3/3  t = 60.0 s"
        assert _grey(view, first) != grey_before  # the view draws the later time point
        qtbot.waitUntil(lambda: all(bar.loaded(k) for k in ("v0", "v1", "v2")), timeout=5000)
        bar.tick()  # cine over time: loops to the first volume
        assert state.time_axis.index == 0 and state.active_volume is first
        bar.set_playing(True)
        qtbot.waitUntil(lambda: state.time_axis.index == 1, timeout=5000)
        bar.set_playing(False)
        state.set_time_axis(None)
        assert not bar.isVisible()
    finally:
        bar.close_bar()
        view.close_view()


def test_main_window_offers_a_time_bar_for_a_dynamic_series(qtbot, window, tmp_path) -> None:
    from tests.io.dicom.test_time_frames import write_dynamic

    uid = write_dynamic(tmp_path / "dce", n_volumes=3, n_slices=2)
    window.open_path(tmp_path / "dce")  # one series in time: one row, opened by itself
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=30_000)
    qtbot.waitUntil(lambda: getattr(window, "time_bar", None) is not None, timeout=30_000)
    assert window.loaded_stack_uid == f"{uid}#vol1"
    state = window.state
    assert state.time_axis is not None and state.time_axis.count == 3
    assert state.time_axis.text() == "Volume 1/3  t = 0.0 s"
    window.time_bar.slider.setValue(2)
    qtbot.waitUntil(lambda: state.time_axis.index == 2, timeout=30_000)
    assert int(state.active_volume.array[1, 0, 0]) == 21
    window.time_bar.close_bar()
