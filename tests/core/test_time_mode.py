"""The viewer's 2-D mode: frames in time (clips, time series at one position), 2-D images."""

from __future__ import annotations

import numpy as np
import pytest

from interval.core.frame_mode import frame_text, frame_time_s, frame_view_kind, is_two_d
from interval.core.metadata import VolumeMetadata
from interval.core.overlay_text import SliceInfo, corner_texts
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume

SAG_IOP_DIRECTION = np.array([[0.0, 0, 1.0], [1.0, 0, 0], [0, -1.0, 0]])  # i->P, j->I, k->L


def clip(n: int = 5, frame_time_ms: float | None = 33.3, direction=None) -> Volume:
    """A 2-D clip: frame k is filled with k (so each frame differs)."""
    arr = np.broadcast_to(np.arange(n, dtype=np.int16)[:, None, None], (n, 8, 10)).copy()
    times = tuple(k * frame_time_ms for k in range(n)) if frame_time_ms else ()
    meta = VolumeMetadata(
        modality="US",
        frame_axis="time",
        frame_times_ms=times,
        frame_rate_hz=1000.0 / frame_time_ms if frame_time_ms else None,
    )
    return Volume(arr, (0.3, 0.3, 1.0), (0.0, 0.0, 0.0), np.eye(3) if direction is None else direction, meta)


def ct(shape=(10, 12, 14)) -> Volume:
    arr = np.zeros(shape, dtype=np.int16)
    return Volume(arr, (0.7, 0.7, 2.5), (-10.0, 20.0, -30.0), np.eye(3), VolumeMetadata(modality="CT"))


def test_a_clip_opens_in_one_view_with_cine_at_the_acquired_rate() -> None:
    state = ViewerState()
    state.set_cine(fps=7.0)
    state.add_volume(clip())
    assert state.two_d_mode and state.frame_view_id == "axial"
    assert state.layout == "1x1" and state.visible_views() == ("axial",)
    assert state.cine.view_id == "axial"
    assert state.cine.fps == pytest.approx(1000.0 / 33.3)
    assert state.slice_count("axial") == 5  # the slider / scroll steps frames


def test_the_layout_comes_back_when_a_normal_volume_is_active_again() -> None:
    state = ViewerState()
    state.set_layout("2x2")
    state.set_cine(fps=7.0, view_id="coronal")
    vid_ct = state.add_volume(ct())
    vid_clip = state.add_volume(clip())
    state.set_active_volume(vid_clip)
    assert (state.layout, state.focused_view) == ("1x1", "axial")
    state.set_layout("1x3")  # not offered in 2-D mode: remembered for afterwards
    assert (state.layout, state.focused_view) == ("1x1", "axial")
    state.set_active_volume(vid_ct)
    assert not state.two_d_mode and state.frame_view_id is None
    assert state.layout == "1x3"
    assert state.cine.fps == 7.0 and state.cine.view_id == "coronal"


def test_closing_the_clip_restores_the_layout() -> None:
    state = ViewerState()
    vid = state.add_volume(clip())
    assert state.layout == "1x1"
    state.remove_volume(vid)
    assert state.layout == "1x3" and not state.two_d_mode


def test_cine_ticks_step_frames_and_loop() -> None:
    state = ViewerState()
    state.add_volume(clip(n=3))
    state.set_slice_index("axial", 0)
    seen = [state.cine_tick() for _ in range(4)]
    assert seen == [1, 2, 0, 1]


def test_without_a_frame_time_cine_keeps_its_rate() -> None:
    state = ViewerState()
    state.set_cine(fps=12.0)
    state.add_volume(clip(frame_time_ms=None))
    assert state.two_d_mode and state.cine.fps == 12.0


def test_a_time_series_at_an_oblique_position_shows_whole_frames() -> None:
    """A sagittal time series: its frames are shown whole by the view along k."""
    vol = clip(direction=SAG_IOP_DIRECTION)
    assert frame_view_kind(vol) == "sagittal"
    state = ViewerState()
    state.add_volume(vol)
    assert state.frame_view_id == "sagittal" and state.visible_views() == ("sagittal",)
    assert state.view_axes_mode == "volume"
    assert state.slice_count("sagittal") == 5


def test_a_single_image_without_position_is_two_d_but_a_ct_slice_is_not() -> None:
    xray = Volume(
        np.zeros((1, 8, 8), np.int16), (1, 1, 1), (0, 0, 0), np.eye(3),
        VolumeMetadata(warnings=("... it is shown with a nominal placement, so ...",)),
    )
    assert is_two_d(xray)
    assert not is_two_d(Volume(np.zeros((1, 8, 8), np.int16), (1, 1, 1), (0, 0, 0), np.eye(3)))
    assert not is_two_d(ct())


def test_frame_text_reads_frame_and_time() -> None:
    vol = clip()
    assert frame_time_s(vol.metadata, 2) == pytest.approx(0.0666)
    assert frame_time_s(vol.metadata, 9) is None
    assert frame_text(3, 5, 0.0666) == "Frame 3/5  t = 0.07 s"
    texts = corner_texts(vol.metadata, "Axial", SliceInfo(3, 5, frame=True, time_s=0.4))
    assert texts.bottom_left == "Frame 3/5  t = 0.40 s"
    assert "Axial" not in texts.bottom_left and "mm" not in texts.bottom_left
    plain = corner_texts(vol.metadata, "Axial", SliceInfo(3, 5, frame=True))
    assert plain.bottom_left == "Frame 3/5"


def test_frames_step_forward_in_time_whatever_way_the_view_looks() -> None:
    """k runs to patient left (+x) while the sagittal view looks along -x: the frame index
    and cine still count frames in time order."""
    vol = clip(n=4, direction=SAG_IOP_DIRECTION)
    state = ViewerState()
    state.add_volume(vol)
    assert state.frame_count() == 4
    assert state.set_frame_index(0) == 0
    k = vol.lps_to_index(state.crosshair)[2]
    assert k == pytest.approx(0.0)
    assert [state.cine_tick() for _ in range(4)] == [1, 2, 3, 0]
    state.set_frame_index(2)
    assert vol.lps_to_index(state.crosshair)[2] == pytest.approx(2.0)
    assert state.frame_index() == 2


# --- 3-D + time: a time axis over sibling volumes ---------------------------------------------
def _phase(value: int) -> Volume:
    return Volume(np.full((6, 8, 10), value, np.int16), (1.0, 1.0, 3.0), (0.0, 0.0, 0.0), np.eye(3),
                  VolumeMetadata(modality="MR"))


def test_time_axis_text_and_checks() -> None:
    from interval.core.time_axis import TimeAxis

    axis = TimeAxis(("a", "b", "c"), 1, (0.0, 30.0, 60.0))
    assert axis.key == "b" and axis.count == 3
    assert axis.text() == "Volume 2/3  t = 30.0 s"
    assert TimeAxis(("a", "b")).text() == "Volume 1/2"
    with pytest.raises(ValueError):
        TimeAxis(("a",))
    with pytest.raises(ValueError):
        TimeAxis(("a", "b"), 2)


def test_showing_another_time_point_keeps_slice_window_and_layout() -> None:
    from interval.core.time_axis import TimeAxis

    state = ViewerState()
    vid = state.add_volume(_phase(0))
    state.set_window(vid, 40, 80)
    state.set_slice_index("axial", 4)
    crosshair = state.crosshair
    seen: list[object] = []
    state.events.time.connect(lambda e: seen.append(e.axis))
    state.set_time_axis(TimeAxis(("v1", "v2", "v3"), 0))
    assert not state.two_d_mode and state.layout == "1x3"  # a real 3-D volume stays 3-D
    later = _phase(200)
    state.show_time_index(2, later)
    assert state.active_volume is later and state.active_volume_id == vid
    assert state.time_axis is not None and state.time_axis.index == 2
    assert state.crosshair == crosshair and state.window(vid).center == 40
    assert [a.index for a in seen] == [0, 2]
    with pytest.raises(ValueError):  # another grid is not a time point of this volume
        state.replace_volume(vid, Volume(np.zeros((5, 8, 10), np.int16), (1, 1, 3), (0, 0, 0), np.eye(3)))
    state.remove_volume(vid)
    assert state.time_axis is None and seen[-1] is None


def test_the_time_axis_belongs_to_its_volume() -> None:
    from interval.core.time_axis import TimeAxis

    state = ViewerState()
    first = state.add_volume(_phase(0))
    state.set_time_axis(TimeAxis(("v1", "v2"), 0))
    other = state.add_volume(ct())
    state.set_active_volume(other)
    assert state.time_axis is None  # another volume is active
    state.set_active_volume(first)
    assert state.time_axis is not None
