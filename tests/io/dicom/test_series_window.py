"""Which DICOM window a series gets (volume_metadata._window) and the window it opens
with, on a decubitus-like MR whose first slices lie outside the head."""

from __future__ import annotations

import numpy as np
import pytest

from interval.core.window_presets import apply_window, initial_window
from interval.io.dicom.load import load_stack
from tests.io.dicom.hfdl_mr import EDGE, EDGE_WINDOW, N_SLICES, per_slice_window, write_hfdl_series
from tests.io.dicom.test_load import stack_of

MID = N_SLICES // 2


def _open(tmp_path, window_of=per_slice_window):
    volume = load_stack(stack_of(write_hfdl_series(tmp_path, window_of)))
    assert volume.metadata.patient_position == "HFDL"
    assert volume.array[0].max() < 50 and volume.array[MID].max() > 900  # edge first
    return volume


def _white_fraction_of_head(volume, wl) -> float:
    """How much of the middle slice's head ``wl`` shows white."""
    middle = volume.array[MID]
    return float(np.mean(apply_window(middle[middle > 100], wl.center, wl.width) == 255))


def _grey_spread_of_head(volume, wl) -> float:
    middle = volume.array[MID]
    return float(np.std(apply_window(middle[middle > 100], wl.center, wl.width).astype(float)))


def test_per_slice_windows_give_the_middle_slices_not_the_first(tmp_path):
    volume = _open(tmp_path)
    wl = volume.metadata.default_window
    assert wl is not None
    # slices MID - 1 and MID are equally near the middle of 20: the earlier one wins
    assert (wl.center, wl.width) == per_slice_window(MID - 1)
    shown = initial_window(volume)
    assert shown == wl  # plausible: kept as it is
    assert _white_fraction_of_head(volume, shown) < 0.05
    assert _grey_spread_of_head(volume, shown) > 20


def test_series_wide_window_shared_by_most_slices_wins(tmp_path):
    def window_of(k: int):
        return (500.0, 1000.0) if k % 4 else (610.0, 1220.0)  # 15 of 20 share one

    volume = _open(tmp_path, window_of)
    wl = volume.metadata.default_window
    assert (wl.center, wl.width) == (500.0, 1000.0)


def test_edge_windows_shared_by_a_minority_do_not_win(tmp_path):
    volume = _open(tmp_path)  # EDGE slices share 4/8, the others differ from each other
    assert EDGE >= 2
    assert (volume.metadata.default_window.center, volume.metadata.default_window.width) != EDGE_WINDOW


@pytest.mark.parametrize(
    "window_of",
    [
        lambda k: EDGE_WINDOW if k < EDGE else None,  # only the edge slices carry tags
        lambda k: EDGE_WINDOW,  # a series-wide but wrong window
    ],
    ids=["edge-only-tags", "wrong-everywhere"],
)
def test_implausible_tags_open_with_the_body_window(tmp_path, window_of):
    volume = _open(tmp_path, window_of)
    wl = volume.metadata.default_window
    assert (wl.center, wl.width) == EDGE_WINDOW
    assert _white_fraction_of_head(volume, wl) > 0.95  # the white blob of the issue
    shown = initial_window(volume)
    assert shown.name == "Auto (DICOM window implausible)"
    assert _white_fraction_of_head(volume, shown) < 0.05
    assert _grey_spread_of_head(volume, shown) > 20
