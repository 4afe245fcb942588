"""Window/level: the DICOM LINEAR formula, presets, automatic and initial windows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.volume import Volume
from interval.core.window_presets import (
    CT_PRESETS,
    apply_window,
    auto_window,
    initial_window,
    preset,
    presets_for,
)


def dicom_linear(x: float, c: float, w: float) -> int:
    """PS3.3 C.11.2.1.2.1 written out independently, rounded half up."""
    if x <= c - 0.5 - (w - 1) / 2:
        return 0
    if x > c - 0.5 + (w - 1) / 2:
        return 255
    return math.floor(((x - (c - 0.5)) / (w - 1) + 0.5) * 255 + 0.5)


@pytest.mark.parametrize(("c", "w"), [(40, 80), (-600, 1500), (400, 1800), (32, 8), (0, 2)])
def test_window_edges_map_to_black_and_white(c: float, w: float) -> None:
    out = apply_window(np.array([c - w / 2, c + w / 2, c - w / 2 - 1, c + w / 2 + 1]), c, w)
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 255, 0, 255]


def test_centre_is_mid_grey() -> None:
    # Wide windows: 127.5 + 127.5/(w-1) rounds to 128.
    assert int(apply_window(np.array([1000.0]), 1000, 4096)[0]) == 128
    # The brain window: ((40 - 39.5)/79 + 0.5) * 255 = 129.11 -> 129 (formula, not 127.5).
    assert int(apply_window(np.array([40]), 40, 80)[0]) == 129


def test_matches_formula_everywhere_on_a_ramp() -> None:
    x = np.arange(-100, 200, 0.25)
    for c, w in [(40, 80), (50, 350), (10.5, 3)]:
        expected = [dicom_linear(v, c, w) for v in x]
        assert apply_window(x, c, w).tolist() == expected
    # first step above black for the brain window: 1/(w-1)*255 = 3.23 -> 3
    assert int(apply_window(np.array([1]), 40, 80)[0]) == 3
    assert int(apply_window(np.array([79]), 40, 80)[0]) == 255  # c + w/2 - 1


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int8, np.uint8])
def test_lookup_table_path_equals_float_path(dtype: type) -> None:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(0)
    values = rng.integers(info.min, info.max, size=(3, 200, 200), endpoint=True).astype(dtype)
    for c, w, inv in [(40, 80, False), (-600, 1500, True), (100.5, 1, False)]:
        fast = apply_window(values, c, w, invert=inv)  # > 65536 elements: LUT
        slow = apply_window(values.astype(np.float64), c, w, invert=inv)
        assert fast.shape == values.shape
        np.testing.assert_array_equal(fast, slow)


def test_invert_and_nan_and_width_one() -> None:
    x = np.array([-1000.0, 40.0, 1000.0, np.nan])
    np.testing.assert_array_equal(apply_window(x, 40, 80, invert=True), [255, 126, 0, 255])
    # width 1 is a threshold at c - 0.5
    np.testing.assert_array_equal(apply_window(np.array([9.0, 9.5, 9.6, 10.0]), 10, 1), [0, 0, 255, 255])


def test_linear_exact_and_sub_unit_widths() -> None:
    x = np.array([0.0, 0.5, 1.0])
    # LINEAR_EXACT: y = ((x - c)/w + 0.5) * 255 -> 0, 127.5 (rounds up), 255
    np.testing.assert_array_equal(apply_window(x, 0.5, 1.0, exact=True), [0, 128, 255])
    # widths below 1 (float images) fall back to LINEAR_EXACT
    np.testing.assert_array_equal(apply_window(np.array([0.1, 0.2, 0.3]), 0.2, 0.2), [0, 128, 255])
    with pytest.raises(ValueError):
        apply_window(x, 0.0, 0.0)
    with pytest.raises(ValueError):
        apply_window(x, np.nan, 10.0)


def test_ct_presets_standard_values() -> None:
    table = {wl.name: (wl.center, wl.width) for wl in CT_PRESETS}
    assert table["Brain"] == (40, 80)
    assert table["Subdural"] == (75, 215)
    assert table["Stroke"] == (40, 40)
    assert table["Lung"] == (-600, 1500)
    assert table["Mediastinum"] == (50, 350)
    assert table["Abdomen"] == (40, 400)
    assert table["Liver"] == (60, 160)
    assert table["Bone"] == (400, 1800)
    assert preset("  lung ") == WindowLevel(-600, 1500, "Lung")
    with pytest.raises(KeyError, match="Brain"):
        preset("cardiac")
    assert presets_for("ct") == CT_PRESETS
    assert presets_for("MR") == ()


def test_auto_window_uses_percentiles_and_ignores_background_zero() -> None:
    rng = np.random.default_rng(1)
    arr = np.zeros((40, 64, 64), dtype=np.int16)
    body = rng.integers(100, 1100, size=(20, 32, 32), dtype=np.int16)
    arr[10:30, 16:48, 16:48] = body  # 87.5 % background
    wl = auto_window(arr)
    lo, hi = np.percentile(body, [1, 99])
    # integer data: [lo, hi] is the DICOM window (c = (lo + hi + 1)/2, w = hi - lo + 1)
    assert wl.low == pytest.approx(lo)
    assert wl.high == pytest.approx(hi + 1)
    assert wl.low > 100  # zeros did not drag the window down
    grey = apply_window(np.array([lo, hi]), wl.center, wl.width)
    assert grey.tolist() == [0, 255]


def test_auto_window_integer_convention_maps_percentiles_exactly() -> None:
    arr = np.tile(np.arange(1, 1001, dtype=np.int16), (4, 5, 1))
    wl = auto_window(arr, 0.0, 100.0)
    np.testing.assert_array_equal(apply_window(np.array([1, 1000]), wl.center, wl.width), [0, 255])


def test_auto_window_subsamples_large_arrays_and_handles_empty() -> None:
    rng = np.random.default_rng(2)
    arr = rng.normal(500, 100, size=(100, 100, 100)).astype(np.float32)
    full = np.percentile(arr, [1, 99])
    wl = auto_window(arr, max_samples=20_000)
    assert wl.low == pytest.approx(full[0], rel=0.05)
    assert wl.high == pytest.approx(full[1], rel=0.05)
    empty = auto_window(np.zeros((2, 3, 4), dtype=np.uint16))
    assert empty.width == 1.0
    const = auto_window(np.full((2, 3, 4), 7, dtype=np.uint16))
    assert const.width == 1.0 and apply_window(np.array([7]), const.center, 1)[0] == 255


def test_initial_window_prefers_dicom_default_then_ct_then_auto() -> None:
    arr = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4) * 10
    dicom = Volume(arr, metadata=VolumeMetadata(modality="CT", default_window=WindowLevel(35, 90)))
    assert initial_window(dicom) == WindowLevel(35, 90)
    ct = Volume(arr, metadata=VolumeMetadata(modality="CT"))
    assert (initial_window(ct).center, initial_window(ct).width) == (40, 400)
    mr = Volume(arr, metadata=VolumeMetadata(modality="MR"))
    assert initial_window(mr).name == "Auto"
    assert initial_window(mr).high <= 231 and initial_window(mr).low >= 9
