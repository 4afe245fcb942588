"""The shipped network: loading (safetensors only), forecasts, and every input check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from interval_growth_forecast.errors import ModelFilesError
from interval_growth_forecast.forecaster import WEIGHTS_DIR, load, load_default

DAYS = [-10.0, 45.0, 100.0, 160.0]
DIAMS = [30.0, 26.0, 24.0, 25.0]


@pytest.fixture(scope="module")
def net():
    return load_default()


def test_weights_are_small_safetensors():
    for name in ("gru", "lstm", "gru_attention"):
        path = WEIGHTS_DIR / f"{name}.safetensors"
        assert path.stat().st_size < 1_000_000
        config = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
        assert config["band_scale"] > 0 and "trained_on" in config


def test_plausible_history_gives_an_ordered_band(net):
    fc = net.forecast(DAYS, DIAMS, [216.0, 300.0])
    assert [f.status for f in fc] == ["ok", "ok"]
    for f in fc:
        levels = sorted(f.quantiles)
        values = [f.quantiles[lv] for lv in levels]
        assert values == sorted(values)
        assert f.lower_mm < f.median_mm < f.upper_mm
        assert 15.0 < f.median_mm < 40.0
    # a longer horizon is less certain
    assert (fc[1].upper_mm - fc[1].lower_mm) > (fc[0].upper_mm - fc[0].lower_mm)


def test_forecast_is_deterministic(net):
    assert net.forecast(DAYS, DIAMS, [216.0]) == net.forecast(DAYS, DIAMS, [216.0])


@pytest.mark.parametrize("days, diams, words", [
    ([0.0], [20.0], "single visit"),
    ([0.0, 40.0, 40.0], [20.0, 21.0, 22.0], "same day"),
    ([0.0, 80.0, 40.0], [20.0, 21.0, 22.0], "increasing order"),
    ([0.0, 40.0, 80.0], [20.0, float("nan"), 22.0], "NaN"),
    ([0.0, float("nan"), 80.0], [20.0, 21.0, 22.0], "NaN"),
    ([0.0, 40.0, 80.0], [20.0, -1.0, 22.0], "negative"),
    ([0.0, 40.0, 80.0], [0.0, 0.0, 0.0], "0 mm at every visit"),
    ([], [], "no measurements"),
    ([0.0, 40.0], [20.0], "differ"),
])
def test_inputs_outside_training_are_refused_with_a_reason(net, days, diams, words):
    fc = net.forecast(days, diams, [200.0])
    assert len(fc) == 1
    assert fc[0].refused and fc[0].median_mm is None and fc[0].lower_mm is None
    assert words in fc[0].message


@pytest.mark.parametrize("target, words", [(160.0, "after the last visit"),
                                           (100.0, "after the last visit"),
                                           (float("nan"), "missing"),
                                           (160.0 + 5000.0, "far beyond")])
def test_bad_target_days_are_refused(net, target, words):
    fc = net.forecast(DAYS, DIAMS, [target, 216.0])
    assert fc[0].refused and words in fc[0].message
    assert fc[1].status == "ok"  # one bad target does not spoil the others


def _width(f):
    return np.log(f.upper_mm + 1) - np.log(f.lower_mm + 1)


def test_last_visit_at_zero_mm_is_widened_with_a_warning(net):
    base = net.forecast([0.0, 50, 100], [12.0, 6.0, 3.0], [150.0])[0]
    zero = net.forecast([0.0, 50, 100], [12.0, 6.0, 0.0], [150.0])[0]
    assert base.status == "ok"
    assert zero.status == "widened" and "0 mm" in zero.message
    assert zero.median_mm is not None and zero.lower_mm == 0.0


def test_widened_band_at_zero_mm_is_really_wider_than_a_point(net):
    zero = net.forecast([0.0, 50, 100], [12.0, 6.0, 0.0], [150.0])[0]
    assert zero.status == "widened"
    assert zero.upper_mm > zero.lower_mm >= 0.0
    assert zero.quantiles[0.95] > zero.quantiles[0.9] > zero.quantiles[0.5] >= 0.0
    # the band is the network's spread anchored at 0 mm, times the widening factor
    plain = net.forecast([0.0, 50, 100], [12.0, 6.0, 3.0], [150.0])[0]
    spread_plain = np.log(plain.upper_mm + 1) - np.log(plain.median_mm + 1)
    spread_zero = np.log(zero.upper_mm + 1) - np.log(zero.median_mm + 1)
    assert spread_zero > spread_plain


def test_gap_of_years_is_widened(net):
    ok = net.forecast([0.0, 60, 120], [20.0, 22.0, 24.0], [180.0])[0]
    gap = net.forecast([0.0, 60, 120 + 3 * 365], [20.0, 22.0, 24.0], [180.0 + 3 * 365])[0]
    assert ok.status == "ok"
    assert gap.status == "widened" and "gap of" in gap.message
    assert _width(gap) > _width(ok)


def test_horizon_beyond_training_is_widened(net):
    limit = net.limits.max_horizon_days
    near = net.forecast(DAYS, DIAMS, [160.0 + limit * 0.9])[0]
    far = net.forecast(DAYS, DIAMS, [160.0 + limit * 2])[0]
    assert near.status == "ok"
    assert far.status == "widened" and "horizon" in far.message
    assert _width(far) > 1.5 * _width(near)


def test_negative_days_on_the_treatment_axis_are_fine(net):
    shifted = net.forecast([d - 500 for d in DAYS], DIAMS, [216.0 - 500])[0]
    assert shifted.status == "ok"
    assert shifted.median_mm == pytest.approx(net.forecast(DAYS, DIAMS, [216.0])[0].median_mm)


def test_int8_copy_is_close_to_the_float_network(net):
    q = net.int8()
    assert q.quantized and "int8" in q.label
    a = net.forecast(DAYS, DIAMS, [216.0])[0]
    b = q.forecast(DAYS, DIAMS, [216.0])[0]
    assert b.median_mm == pytest.approx(a.median_mm, abs=0.5)
    assert b.upper_mm == pytest.approx(a.upper_mm, abs=1.0)


def test_broken_weight_files_are_a_clear_error(tmp_path):
    for name in ("gru.json", "gru.safetensors"):
        (tmp_path / name).write_bytes((WEIGHTS_DIR / name).read_bytes())
    (tmp_path / "gru.safetensors").write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(ModelFilesError, match="cannot be loaded"):
        load("gru", tmp_path)
    with pytest.raises(ModelFilesError, match="unknown network"):
        load("transformer", tmp_path)
    (tmp_path / "default.json").write_text("[1]")
    with pytest.raises(ModelFilesError):
        load_default(tmp_path)


def test_median_gain_scales_the_predicted_change(net):
    days, diams = [0.0, 60, 120, 180], [40.0, 34.0, 29.0, 25.0]
    gains = {}
    for gain in (0.0, 1.0, 2.0):
        copy = load(net.name)
        copy.median_gain = gain
        gains[gain] = copy.forecast(days, diams, [240.0])[0].median_mm
    assert gains[0.0] == pytest.approx(25.0)  # gain 0: carry the last value forward
    change1 = np.log(gains[1.0] + 1) - np.log(26.0)
    change2 = np.log(gains[2.0] + 1) - np.log(26.0)
    assert abs(change1) > 1e-4
    assert change2 == pytest.approx(2 * change1, rel=1e-6)
