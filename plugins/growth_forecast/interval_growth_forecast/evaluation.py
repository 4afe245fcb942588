"""Forecasting tasks and metrics shared by training (validation) and the benchmark.

Task A: for each trajectory with >= 4 visits, forecast the last visit from all earlier ones.
Task B: for each trajectory with >= 5 visits, forecast the last two from the earlier ones.
Metrics: MAE of the diameter (mm), MAE of log-volume ln(0.52 d^3 + 1), coverage of the 80%
band, mean pinball loss over the 10/50/90% quantiles on y = ln(d + 1 mm), and the accuracy
of the next visit's RECIST-style change category.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from interval_growth_forecast.data import Trajectory
from interval_growth_forecast.features import log_volume, to_log
from interval_growth_forecast.result import Forecast

TASKS = {"A": (4, 1), "B": (5, 2)}  # task -> (minimum visits, visits forecast)
PINBALL_LEVELS = (0.1, 0.5, 0.9)
PredictFn = Callable[[np.ndarray, np.ndarray, np.ndarray], list[Forecast]]


@dataclass(frozen=True)
class Case:
    """One forecasting case: the visits seen and the visits to forecast."""

    trajectory: str
    days: np.ndarray
    diameters: np.ndarray
    target_days: np.ndarray
    target_diameters: np.ndarray


def task_cases(trajectories: Sequence[Trajectory], task: str) -> list[Case]:
    """The cases of task ``"A"`` or ``"B"``."""
    min_visits, n_out = TASKS[task]
    return [Case(t.id, t.days[:-n_out], t.diameters[:-n_out], t.days[-n_out:],
                 t.diameters[-n_out:]) for t in trajectories if len(t) >= min_visits]


def recist_category(diameter: float, history: np.ndarray) -> str:
    """"increase" (>= 20% above the nadir, or reappearance after 0 mm), "decrease"
    (>= 30% below the first visit) or "stable"."""
    nadir, baseline = float(np.min(history)), float(history[0])
    if (nadir > 0 and diameter >= 1.2 * nadir) or (nadir == 0 and diameter > 0):
        return "increase"
    if baseline > 0 and diameter <= 0.7 * baseline:
        return "decrease"
    return "stable"


def pinball(y: float, quantiles_y: dict[float, float]) -> float:
    """Mean pinball loss of y over PINBALL_LEVELS."""
    total = 0.0
    for lv in PINBALL_LEVELS:
        diff = y - quantiles_y[lv]
        total += max(lv * diff, (lv - 1.0) * diff)
    return total / len(PINBALL_LEVELS)


def run_method(cases: Sequence[Case], predict: PredictFn,
               fallback: PredictFn | None = None) -> list[tuple[Case, list[Forecast], int]]:
    """Forecasts of every case; refused ones replaced by ``fallback``'s (count returned)."""
    out = []
    for case in cases:
        fc = predict(case.days, case.diameters, case.target_days)
        n_fallback = 0
        if fallback is not None and any(f.refused for f in fc):
            alt = fallback(case.days, case.diameters, case.target_days)
            fc = [a if f.refused else f for f, a in zip(fc, alt, strict=True)]
            n_fallback = 1
        out.append((case, fc, n_fallback))
    return out


def metrics(results: Sequence[tuple[Case, list[Forecast], int]]) -> dict[str, float | None]:
    """MAE (mm), MAE log-volume, 80% coverage, pinball, next-visit category accuracy."""
    abs_d, abs_v, covered, pins, category = [], [], [], [], []
    n_fallback = 0
    for case, forecasts, fb in results:
        n_fallback += fb
        for k, (f, true_d) in enumerate(zip(forecasts, case.target_diameters, strict=True)):
            if f.median_mm is None:
                continue
            abs_d.append(abs(f.median_mm - true_d))
            abs_v.append(abs(float(log_volume(f.median_mm)) - float(log_volume(true_d))))
            if f.lower_mm is not None and f.upper_mm is not None:
                covered.append(f.lower_mm - 1e-9 <= true_d <= f.upper_mm + 1e-9)
            if all(lv in f.quantiles for lv in PINBALL_LEVELS):
                pins.append(pinball(float(to_log(true_d)),
                                    {lv: float(to_log(f.quantiles[lv])) for lv in PINBALL_LEVELS}))
            if k == 0:
                category.append(recist_category(f.median_mm, case.diameters)
                                == recist_category(float(true_d), case.diameters))
    def mean(x: list) -> float | None:
        return float(np.mean(x)) if x else None
    return {"n": float(len(abs_d)), "mae_mm": mean(abs_d), "mae_logvol": mean(abs_v),
            "coverage80": mean(covered) if len(covered) == len(abs_d) else None,
            "pinball": mean(pins) if len(pins) == len(abs_d) else None,
            "category_acc": mean(category), "fallbacks": float(n_fallback)}


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
