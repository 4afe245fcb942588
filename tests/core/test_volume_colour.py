"""Colour Volumes ([k, j, i, 3] uint8 RGB): grid API, refusals, measurements, window."""

from __future__ import annotations

import math

import numpy as np
import pytest

from interval.core.labels import LabelTable
from interval.core.measurements import (
    MeasurementList,
    describe,
    roi_from_drag,
    roi_stats,
    roi_values,
)
from interval.core.planes import view_plane
from interval.core.volume import Volume
from interval.core.window_presets import COLOUR_WINDOW, image_window, initial_window

SPACING = (0.5, 0.25, 2.0)


def _rgb(shape=(2, 8, 10)) -> Volume:
    arr = np.zeros((*shape, 3), np.uint8)
    arr[..., 2] = 255  # blue
    arr[:, 2:6, 3:7] = (255, 0, 0)  # a red square: 4 x 4 pixels
    return Volume(arr, SPACING, (10.0, -5.0, 3.0))


def test_rgb_volume_keeps_spatial_shape_and_grid() -> None:
    vol = _rgb()
    assert vol.is_rgb and vol.array.shape == (2, 8, 10, 3)
    assert vol.shape == (2, 8, 10) and vol.size_ijk == (10, 8, 2)
    assert vol.contains_index((9, 7, 1)) and not vol.contains_index((10, 7, 1))
    grey = Volume(np.zeros((2, 8, 10), np.int16), SPACING, (10.0, -5.0, 3.0))
    assert not grey.is_rgb and grey.same_grid(vol) and vol.same_grid(grey)
    assert "RGB Volume (10, 8, 2) uint8" in repr(vol)


def test_with_array_accepts_a_grey_array_on_the_spatial_grid() -> None:
    vol = _rgb()
    labels = vol.with_array(np.zeros(vol.shape, np.uint8), labels=LabelTable.for_values([1]))
    assert not labels.is_rgb and labels.is_label_map and labels.same_grid(vol)
    assert vol.with_array(vol.array.copy()).is_rgb
    with pytest.raises(ValueError, match="differs from the grid"):
        vol.with_array(np.zeros((2, 8, 9), np.uint8))


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((2, 3, 4, 4), np.uint8),  # RGBA
        np.zeros((2, 3, 4, 3), np.uint16),  # not 8-bit
        np.zeros((2, 3, 4, 3, 1), np.uint8),
        np.zeros((3, 4), np.uint8),
    ],
)
def test_other_layouts_are_refused(array) -> None:
    with pytest.raises(ValueError, match="colour image"):
        Volume(array)


def test_a_label_map_cannot_be_colour() -> None:
    with pytest.raises(ValueError, match="label map"):
        Volume(np.zeros((1, 2, 2, 3), np.uint8), labels=LabelTable.for_values([1]))


def test_roi_on_colour_gives_area_in_mm_and_no_intensity_statistics() -> None:
    vol = _rgb()
    plane = view_plane("axial", vol.index_to_lps((0, 0, 1)))
    # corners on the outer edges of the square's pixels (pixel centres 3..6, 2..5)
    roi = roi_from_drag("rectangle", plane, vol.index_to_lps((2.6, 1.6, 1)),
                        vol.index_to_lps((6.4, 5.4, 1)))
    stats = roi_stats(vol, roi)
    values, pixel_area = roi_values(vol, roi)
    assert values.shape == (16, 3) and (values == (255, 0, 0)).all()
    assert pixel_area == pytest.approx(SPACING[0] * SPACING[1])
    assert stats.colour and stats.n_pixels == 16
    assert stats.area_mm2 == pytest.approx(16 * SPACING[0] * SPACING[1])
    assert all(math.isnan(x) for x in (stats.mean, stats.sd, stats.min, stats.max))
    lst = MeasurementList("1.2.3")
    m = lst.add_roi(vol, roi)
    assert describe(m) == "area 2.0 mm² (colour image: no intensity statistics)"
    row = lst.rows()[0]
    assert row["mean"] == "" and row["area_mm2"] == "2.0000" and row["n_pixels"] == "16"


def test_ruler_on_colour_measures_mm() -> None:
    vol = _rgb()
    m = MeasurementList().add_ruler(vol.index_to_lps((3, 2, 0)), vol.index_to_lps((7, 2, 0)))
    assert m.shape.length_mm == pytest.approx(4 * SPACING[0])


def test_colour_gets_the_neutral_window_without_scanning_values() -> None:
    vol = _rgb()
    assert initial_window(vol) == COLOUR_WINDOW
    assert image_window(vol) == COLOUR_WINDOW
