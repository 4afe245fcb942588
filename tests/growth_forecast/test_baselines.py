"""Classical growth-law fits per lesion."""

from __future__ import annotations

import numpy as np
import pytest
from interval_growth_forecast.baselines import fit_all

BAND = {0.05: -0.3, 0.1: -0.2, 0.25: -0.05, 0.5: 0.0, 0.75: 0.05, 0.9: 0.15, 0.95: 0.25}


def test_exponential_fit_extrapolates_exponential_growth():
    days = np.array([0.0, 60, 120, 180, 240])
    d = 10.0 * np.exp(days / 300.0)
    fits = fit_all(days, d, change_quantiles=BAND)
    fc = fits["exponential"].predict([300.0])[0]
    assert fc.status == "ok"
    assert fc.median_mm == pytest.approx(10.0 * np.exp(1.0), rel=0.03)
    assert fc.lower_mm < fc.median_mm < fc.upper_mm
    # carry-forward keeps the last value, its band is the naive band
    cf = fits["carry_forward"].predict([300.0])[0]
    assert cf.median_mm == pytest.approx(d[-1])
    assert cf.lower_mm == pytest.approx(np.exp(np.log(d[-1] + 1) - 0.2) - 1)


@pytest.mark.parametrize("method", ["gompertz", "bertalanffy"])
def test_saturating_laws_follow_a_plateau_better_than_exponential(method):
    days = np.array([0.0, 50, 100, 150, 200, 250])
    d = 40.0 - 30.0 * np.exp(-days / 60.0)  # approaches 40 mm
    fits = fit_all(days, d, change_quantiles=BAND)
    target = [400.0]
    truth = 40.0 - 30.0 * np.exp(-400 / 60.0)
    err = abs(fits[method].predict(target)[0].median_mm - truth)
    err_exp = abs(fits["exponential"].predict(target)[0].median_mm - truth)
    assert err < 2.0
    assert err < err_exp


def test_shrinking_lesion_is_forecast_to_shrink():
    days = np.array([0.0, 42, 84, 126])
    d = np.array([50.0, 40, 32, 26])
    for method in ("exponential", "gompertz", "bertalanffy"):
        fc = fit_all(days, d, change_quantiles=BAND)[method].predict([168.0])[0]
        assert fc.median_mm < 26.0, method


def test_too_few_visits_and_bad_histories_are_refused():
    fits = fit_all([0.0, 40.0], [10.0, 12.0], change_quantiles=BAND)
    assert fits["gompertz"].status == "refused" and "at least 3" in fits["gompertz"].message
    assert fits["exponential"].status == "ok"
    zero = fit_all([0.0, 40, 80], [0.0, 0, 0], change_quantiles=BAND)
    assert zero["bertalanffy"].predict([100.0])[0].refused
    assert zero["carry_forward"].predict([100.0])[0].median_mm == 0.0
    for days, d, words in [([0.0, 0.0, 50], [1.0, 2, 3], "same day"),
                           ([0.0, float("nan"), 50], [1.0, 2, 3], "NaN"),
                           ([0.0, 10, 50], [1.0, -2, 3], "negative")]:
        for fit in fit_all(days, d, change_quantiles=BAND).values():
            fc = fit.predict([60.0])[0]
            assert fc.refused and words in fc.message


def test_forecast_day_must_follow_the_last_visit():
    fits = fit_all([0.0, 40, 80], [10.0, 11, 12], change_quantiles=BAND)
    for fit in fits.values():
        assert fit.predict([80.0])[0].refused
        assert fit.predict([20.0])[0].refused
