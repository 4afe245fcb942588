"""Classical growth laws fitted to one lesion's own visits with scipy.

Methods (``fit_all`` keys): ``carry_forward`` (last value; its 80% band is the naive band:
the training split's empirical quantiles of the change of y = ln(d + 1 mm)),
``exponential``, ``gompertz`` and ``bertalanffy`` (general von Bertalanffy, Laleh et al. 2022).
Each law is fitted by bounded least squares (``scipy.optimize.least_squares``, several starts)
on y = ln(d + 1 mm) with time in years since the lesion's first visit:

* exponential: d(t) = exp(c + r t) (volume exp(3c + 3 r t));
* Gompertz (decaying rate): d(t) = exp(c + b (1 - exp(-a t))), a > 0;
* general Bertalanffy on the volume v = 0.52 d^3 / v_ref (v_ref from the largest diameter):
  dv/dt = alpha v^m - beta v, solved in closed form
  v(t) = [alpha/beta + (v0^(1-m) - alpha/beta) exp(-(1-m) beta t)]^(1/(1-m)).

A tiny ridge term (weight 0.01 on parameters divided by their typical scale) towards
neutral values keeps fits with as many parameters as visits determinate.  The band of a fitted law is a normal band on y from the residual scale of the
fit, sigma = max(sqrt(RSS / max(n - p, 1)), 0.05), grown for extrapolation as
sigma * sqrt(1 + 1/n + (h / span)^2) (h: horizon, span: time covered by the visits).  These
bands are not calibrated; the benchmark measures their coverage.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import norm

from interval_growth_forecast.features import from_log, to_log
from interval_growth_forecast.result import Forecast, from_quantiles, refused

YEAR = 365.25
SIGMA_FLOOR = 0.05
RIDGE = 0.01
BAND_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
NAIVE_BAND_FILE = Path(__file__).resolve().parent / "weights" / "naive_band.json"
LABELS = {
    "carry_forward": "Last value carried forward",
    "exponential": "Exponential growth law",
    "gompertz": "Gompertz growth law",
    "bertalanffy": "General Bertalanffy growth law",
}
RIDGE_SCALES = {"exponential": np.array([1.0, 5.0]), "gompertz": np.array([1.0, 3.0, 10.0]),
                "bertalanffy": np.array([1.0, 10.0, 10.0, 0.5])}
MIN_VISITS = {"carry_forward": 1, "exponential": 2, "gompertz": 3, "bertalanffy": 3}


@dataclass
class FittedLaw:
    """One method fitted to one lesion; ``predict`` gives a :class:`Forecast` per target day."""

    method: str
    last_day: float
    last_diameter: float
    curve: Callable[[np.ndarray], np.ndarray] | None = None  # years since first visit -> y
    first_day: float = 0.0
    sigma: float | None = None  # residual scale on y (None: no band)
    n_visits: int = 0
    span_days: float = 0.0
    params: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    message: str = ""
    change_quantiles: dict[float, float] | None = None  # carry-forward's naive band (on y)

    @property
    def label(self) -> str:
        return LABELS[self.method]

    def predict(self, target_days: Sequence[float]) -> list[Forecast]:
        """Forecasts at ``target_days`` (refused ones for days not after the last visit)."""
        out = []
        for day in target_days:
            day = float(day)
            if self.status == "refused":
                out.append(refused(day, self.message))
            elif not math.isfinite(day) or day <= self.last_day:
                out.append(refused(day, "the forecast day must come after the last visit"))
            else:
                out.append(self._one(day))
        return out

    def _one(self, day: float) -> Forecast:
        if self.curve is None:  # carry forward
            y_hat = float(to_log(self.last_diameter))
            if not self.change_quantiles:
                d = float(self.last_diameter)
                return Forecast(day, d, quantiles={0.5: d}, status=self.status,
                                message=self.message)
            q = {lv: float(from_log(y_hat + dq)) for lv, dq in self.change_quantiles.items()}
            q[0.5] = float(self.last_diameter)
            return from_quantiles(day, q, status=self.status, message=self.message)
        y_hat = float(self.curve(np.array([(day - self.first_day) / YEAR]))[0])
        if not math.isfinite(y_hat):
            return refused(day, f"the {self.label.lower()} fit gives no finite value here")
        h = day - self.last_day
        span = max(self.span_days, 1.0)
        sigma = float(self.sigma or SIGMA_FLOOR) * math.sqrt(
            1.0 + 1.0 / max(self.n_visits, 1) + (h / span) ** 2)
        q = {lv: float(from_log(y_hat + norm.ppf(lv) * sigma)) for lv in BAND_LEVELS}
        return from_quantiles(day, q, status=self.status, message=self.message)


@lru_cache(maxsize=1)
def naive_change_quantiles() -> dict[float, float] | None:
    """The training split's empirical quantiles of the change of y (``weights/naive_band.json``)."""
    try:
        data = json.loads(NAIVE_BAND_FILE.read_text(encoding="utf-8"))
        return {float(k): float(v) for k, v in data["change_quantiles"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def check_history(days: np.ndarray, diameters: np.ndarray) -> str:
    """Why a lesion's history cannot be fitted at all ("" when it can)."""
    if len(days) == 0:
        return "no measurements"
    if len(days) != len(diameters):
        return "days and diameters differ in number"
    if not (np.all(np.isfinite(days)) and np.all(np.isfinite(diameters))):
        return "a day or a diameter is missing (NaN) or infinite"
    if np.any(diameters < 0):
        return "a diameter is negative"
    if np.any(np.diff(days) <= 0):
        return ("visit days must increase strictly (two visits on the same day, "
                "or visits out of order)")
    return ""


def fit_all(days: Sequence[float], diameters_mm: Sequence[float], *,
            change_quantiles: dict[float, float] | None = None,
            methods: Sequence[str] = tuple(LABELS)) -> dict[str, FittedLaw]:
    """The classical ``methods`` (default: all) fitted to one lesion (failed fits have status
    "refused"; carry-forward is always included)."""
    t_days = np.asarray(days, dtype=float)
    d = np.asarray(diameters_mm, dtype=float)
    problem = check_history(t_days, d)
    last_day = float(t_days[-1]) if len(t_days) and math.isfinite(t_days[-1]) else float("nan")
    if problem:
        return {m: FittedLaw(m, last_day, float("nan"), status="refused", message=problem)
                for m in LABELS}
    band = naive_change_quantiles() if change_quantiles is None else change_quantiles
    out = {"carry_forward": FittedLaw("carry_forward", last_day, float(d[-1]),
                                      change_quantiles=band, n_visits=len(d))}
    for method in ("exponential", "gompertz", "bertalanffy"):
        if method in methods:
            out[method] = _fit(method, t_days, d)
    return out


def _fit(method: str, days: np.ndarray, d: np.ndarray) -> FittedLaw:
    base = FittedLaw(method, float(days[-1]), float(d[-1]), first_day=float(days[0]),
                     n_visits=len(d), span_days=float(days[-1] - days[0]))
    if len(d) < MIN_VISITS[method]:
        base.status = "refused"
        base.message = f"the {LABELS[method].lower()} needs at least {MIN_VISITS[method]} visits"
        return base
    if np.all(d == 0):
        base.status = "refused"
        base.message = "the lesion measured 0 mm at every visit: no growth to fit"
        return base
    t = (days - days[0]) / YEAR
    y = to_log(d)
    curve_of, starts, bounds, prior, names = _law(method, t, d)
    scale = RIDGE_SCALES[method]
    best = None
    for x0 in starts:
        x0 = np.clip(x0, bounds[0] + 1e-9, bounds[1] - 1e-9)

        def residuals(p: np.ndarray, curve_of=curve_of) -> np.ndarray:
            r = curve_of(p)(t) - y
            return np.concatenate([r, RIDGE * ((p - prior) / scale)[1:]])
        try:
            fit = least_squares(residuals, x0, bounds=bounds, method="trf", max_nfev=400)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            continue
        if np.all(np.isfinite(fit.fun)) and (best is None or fit.cost < best.cost):
            best = fit
    if best is None:
        base.status = "refused"
        base.message = f"the {LABELS[method].lower()} fit did not converge"
        return base
    curve = curve_of(best.x)
    resid = curve(t) - y
    dof = max(len(y) - len(best.x), 1)
    base.curve = curve
    base.sigma = max(float(np.sqrt(np.sum(resid**2) / dof)), SIGMA_FLOOR)
    base.params = {n: float(v) for n, v in zip(names, best.x, strict=True)}
    return base


def _law(method: str, t: np.ndarray, d: np.ndarray):
    """(curve_of(params) -> f(t) -> y, starts, bounds, prior, names) of one law."""
    logd = np.log(np.maximum(d, 0.5))
    slope = float(np.polyfit(t, logd, 1)[0]) if len(t) > 1 and np.ptp(t) > 0 else 0.0
    slope = float(np.clip(slope, -25, 25))
    c0 = float(logd[0])
    if method == "exponential":
        def curve_of(p):
            return lambda tt: to_log(np.exp(np.clip(p[0] + p[1] * tt, -20, 20)))
        return (curve_of, [np.array([c0, slope])],
                (np.array([-3.0, -30.0]), np.array([8.0, 30.0])), np.array([c0, 0.0]),
                ("c", "r"))
    if method == "gompertz":
        def curve_of(p):
            return lambda tt: to_log(np.exp(np.clip(p[0] + p[1] * (1 - np.exp(-p[2] * tt)),
                                                    -20, 20)))
        starts = [np.array([c0, slope / a, a]) for a in (0.5, 3.0, 10.0)]
        return (curve_of, starts, (np.array([-3.0, -10.0, 0.05]), np.array([8.0, 10.0, 50.0])),
                np.array([c0, 0.0, 2.0]), ("c", "b", "a"))
    # general Bertalanffy on normalised volume
    v_ref = 0.52 * max(float(np.max(d)), 1.0) ** 3
    v_first = max(0.52 * float(d[0]) ** 3 / v_ref, 1e-6)

    def curve_of(p):
        v0, alpha, beta, m = p
        k = 1.0 - m

        def f(tt):
            ratio = alpha / beta
            inner = ratio + (v0**k - ratio) * np.exp(-k * beta * tt)
            v = np.maximum(inner, 1e-12) ** (1.0 / k)
            return to_log(np.cbrt(v * v_ref / 0.52))
        return f
    starts = []
    for m in (0.4, 2.0 / 3.0, 0.9):
        for beta in (0.5, 3.0, 15.0):
            growth = max(slope * 3.0, -beta * 0.9)  # log-volume growth rate at the start
            alpha = max((growth + beta) * v_first ** (1 - m), 1e-3)
            starts.append(np.array([v_first, alpha, beta, m]))
    return (curve_of, starts,
            (np.array([1e-6, 0.0, 1e-3, 0.05]), np.array([20.0, 60.0, 60.0, 0.95])),
            np.array([v_first, 1.0, 1.0, 2.0 / 3.0]), ("v0", "alpha", "beta", "m"))
