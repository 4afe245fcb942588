"""Status-bar text: cursor LPS, voxel index, value (HU for CT), label, W/L, zoom."""

from __future__ import annotations

import numpy as np

from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.ui.status_info import status_text, voxel_index


def _ct() -> Volume:
    a = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 50
    md = VolumeMetadata(modality="CT", units="HU", default_window=WindowLevel(40, 400))
    return Volume(a, spacing=(0.5, 0.5, 2.0), origin=(10.0, -20.0, 30.0), metadata=md)


def test_status_text_for_a_ct_voxel() -> None:
    state = ViewerState()
    vol = _ct()
    state.add_volume(vol)
    state.set_zoom("axial", 2.0)
    lps = vol.index_to_lps((3.2, 1.9, 2.0))  # nearest voxel (3, 2, 2)
    value = int(vol.array[2, 2, 3])
    text = status_text(state, "axial", lps)
    assert text == (
        f"LPS ({lps[0]:.1f}, {lps[1]:.1f}, {lps[2]:.1f}) mm | voxel (3, 2, 2) | {value} HU"
        " | W/L 400/40 | zoom 200%"
    )
    assert voxel_index(vol, lps) == (3, 2, 2)


def test_status_text_outside_and_without_cursor() -> None:
    state = ViewerState()
    vol = _ct()
    state.add_volume(vol)
    outside = vol.index_to_lps((-3.0, 0.0, 0.0))
    assert voxel_index(vol, outside) is None
    assert "outside the image" in status_text(state, "coronal", outside)
    assert status_text(state, "coronal", None) == "W/L 400/40 | zoom 100%"
    assert status_text(ViewerState(), "axial", (0, 0, 0)) == "zoom 100%"


def test_status_text_for_mr_float_and_label() -> None:
    state = ViewerState()
    a = np.full((3, 4, 4), 12.345, np.float32)
    mr = Volume(a, metadata=VolumeMetadata(modality="MR"))
    state.add_volume(mr)
    lab = np.zeros((3, 4, 4), np.uint8)
    lab[1, 2, 3] = 2
    state.add_volume(mr.with_array(lab, labels=LabelTable([LabelInfo(2, "tumour", (255, 0, 0))])))
    text = status_text(state, "axial", (3.0, 2.0, 1.0))
    assert "voxel (3, 2, 1) | 12.35 | tumour" in text
    assert "HU" not in text


def test_window_numbers_are_whole_for_ct_and_three_digits_otherwise() -> None:
    from interval.ui.status_info import format_window_value, window_text

    assert window_text(_ct(), 564.6, 204.6) == "W/L 565/205"
    assert window_text(_ct(), 400.0, -40.4) == "W/L 400/-40"
    mr = Volume(np.zeros((2, 3, 4), np.float32), metadata=VolumeMetadata(modality="MR"))
    assert window_text(mr, 1234.5678, 617.28) == "W/L 1235/617"
    assert window_text(mr, 12.3456, 0.123456) == "W/L 12.3/0.123"
    assert format_window_value(0.00001234, False) == "0.000012"
    assert window_text(None, 56.789, 5.0) == "W/L 56.8/5"
    state = ViewerState()
    vid = state.add_volume(mr)
    state.set_window(vid, 0.123456, 2.34567)
    assert "W/L 2.35/0.123" in status_text(state, "axial", None)


def _clip(times_ms: tuple[float, ...] = (0.0, 200.0, 400.0)) -> Volume:
    """A 3-frame clip in time (frame_axis "time"), 1 mm pixels, nominal 1.0 along k."""
    a = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    md = VolumeMetadata(modality="US", frame_axis="time", frame_times_ms=times_ms,
                        default_window=WindowLevel(30, 60))
    return Volume(a, spacing=(1.0, 1.0, 1.0), origin=(5.0, 6.0, 7.0), metadata=md)


def test_status_text_names_the_frame_and_its_time_for_frames_in_time() -> None:
    state = ViewerState()
    vol = _clip()
    state.add_volume(vol)
    lps = vol.index_to_lps((3.0, 2.0, 2.0))
    text = status_text(state, "axial", lps)
    value = int(vol.array[2, 2, 3])
    # the point on the image plane (k counts frames, its spacing is no distance)
    assert text == (f"LPS (8.0, 8.0, 7.0) mm | pixel (3, 2) | Frame 3/3  t = 0.40 s | {value}"
                    " | W/L 60/30 | zoom 100%")
    assert "voxel" not in text
    # without frame times: only the frame number
    plain = ViewerState()
    plain.add_volume(_clip(times_ms=()))
    assert "| Frame 1/3 |" in status_text(plain, "axial", vol.index_to_lps((0.0, 0.0, 0.0)))
