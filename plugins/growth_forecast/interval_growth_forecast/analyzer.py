"""The longitudinal analyzer: a forecast of every lesion's diameter at a future day.

Rows follow the host contract (docs: ``/plugins/growth_forecast/README.md``): one row per
(lesion, method), the default network's first (``"default": true``), then carry-forward,
exponential, Gompertz and general Bertalanffy fits.  Reads ``Timepoint.lesions`` and
``Timepoint.day`` (plugin API 1.1); the image (``Timepoint.volume``) is not used.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from interval.core.errors import IntervalError
from interval.core.jobs import CancelFn, ProgressFn, check_cancel, report
from interval.plugins.api import LongitudinalResult, Timepoint
from interval_growth_forecast.baselines import LABELS as CLASSICAL_LABELS
from interval_growth_forecast.baselines import fit_all
from interval_growth_forecast.result import CENTRAL_INTERVAL, Forecast

PLUGIN_ID = "org.interval.growth-forecast"
CLASSICAL = ("carry_forward", "exponential", "gompertz", "bertalanffy")
NOT_VALIDATED = ("paediatric patients, non-solid tumours (e.g. lymphoma), response criteria "
                 "other than RECIST-style longest diameters, or synthetic patients")


def timepoint_day(tp: Timepoint, first_date) -> float:
    """The contract's time of a timepoint: ``day`` if given, else days since the first date."""
    day = getattr(tp, "day", None)
    if day is not None:
        return float(day)
    return float((tp.date - first_date).days)


def lesion_series(timepoints: Sequence[Timepoint]) -> tuple[dict[str, list[tuple[float, float]]],
                                                            list[str]]:
    """Per lesion id: the (day, diameter mm) visits in time order; warnings for skipped ones."""
    if not timepoints:
        return {}, []
    first_date = min(tp.date for tp in timepoints)
    ordered = sorted(timepoints, key=lambda tp: timepoint_day(tp, first_date))
    series: dict[str, list[tuple[float, float]]] = {}
    warnings: list[str] = []
    for tp in ordered:
        day = timepoint_day(tp, first_date)
        for obs in getattr(tp, "lesions", ()) or ():
            lesion = str(obs.lesion_id)
            if obs.diameter_mm is None:
                warnings.append(f"Lesion {lesion}: not evaluable on day {day:g}; that visit "
                                "was left out of its forecast.")
                series.setdefault(lesion, [])
                continue
            series.setdefault(lesion, []).append((day, float(obs.diameter_mm)))
    return series, warnings


def _number(options: dict[str, Any], key: str, warnings: list[str]) -> float | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        warnings.append(f"Option {key} = {value!r} is not a number; it was ignored.")
        return None
    return float(value)


class GrowthForecastAnalyzer:
    """Forecast of every lesion's diameter; the network's weights are loaded on first use."""

    def __init__(self) -> None:
        self._forecaster = None
        self._load_error = ""

    def _network(self):
        if self._forecaster is None and not self._load_error:
            try:
                from interval_growth_forecast.forecaster import load_default

                self._forecaster = load_default()
            except IntervalError as exc:
                self._load_error = f"the forecast network could not be loaded: {exc}"
        return self._forecaster

    def analyze(self, timepoints: Sequence[Timepoint], *, progress: ProgressFn | None = None,
                cancel: CancelFn | None = None,
                options: dict[str, Any] | None = None) -> LongitudinalResult:
        """Forecast every lesion of ``timepoints`` (see the module docstring for the rows)."""
        options = dict(options or {})
        result = LongitudinalResult()
        series, skipped = lesion_series(timepoints)
        result.warnings.extend(skipped)
        horizon = _number(options, "horizon_days", result.warnings)
        target = _number(options, "target_day", result.warnings)
        network = self._network()
        if network is None:
            result.warnings.append(self._load_error.capitalize() + ".")
        for n, (lesion, visits) in enumerate(series.items()):
            check_cancel(cancel)
            rows, warns = self._lesion_rows(lesion, visits, network, horizon, target)
            result.table.extend(rows)
            result.warnings.extend(warns)
            report(progress, n + 1, len(series))
        result.summary = self._summary(network, len(series))
        return result

    def _lesion_rows(self, lesion: str, visits: list[tuple[float, float]], network,
                     horizon: float | None, target: float | None):
        days = [v[0] for v in visits]
        diams = [v[1] for v in visits]
        warns: list[str] = []
        last_day = days[-1] if days else None
        if target is None and last_day is not None:
            if horizon is None:
                gaps = [b - a for a, b in zip(days, days[1:], strict=False) if b > a]
                horizon = statistics.median(gaps) if gaps else None
            target = last_day + horizon if horizon is not None else None
        rows = []
        if not visits:
            why = "no evaluable measurement of this lesion"
        elif target is None:
            why = ("a single visit and no horizon given: no default horizon (the median "
                   "interval between visits) can be computed")
        else:
            why = ""
        # the network (default row)
        name = network.name if network is not None else "gru"
        label = network.label if network is not None else "Recurrent network"
        if why or network is None:
            fc = Forecast(float("nan") if target is None else target, None, status="refused",
                          message=why or self._load_error)
        else:
            fc = network.forecast(days, diams, [target])[0]
        if fc.status != "ok":
            warns.append(f"Lesion {lesion}: {label}: {fc.message}")
        rows.append(_row(lesion, name, label, "network", True, last_day, target, fc))
        # classical laws
        fits = fit_all(days, diams) if visits else {}
        for method in CLASSICAL:
            if why or method not in fits:
                cfc = Forecast(float("nan") if target is None else target, None,
                               status="refused", message=why)
            else:
                cfc = fits[method].predict([target])[0]
            rows.append(_row(lesion, method, CLASSICAL_LABELS[method], "classical", False,
                             last_day, target, cfc))
        return rows, warns

    @staticmethod
    def _summary(network, n_lesions: int) -> str:
        if network is not None:
            model = (f"{network.label}, trained on {network.config.get('trained_on', '?')}")
        else:
            model = "the recurrent network (not available)"
        return (f"Growth forecast of {n_lesions} lesion(s) by {model}: real lesion "
                "measurements from clinical trials of chemotherapy and immunotherapy in adults "
                "with solid tumours (Laleh et al., PLOS Comput Biol 2022). Shown beside it: "
                "last value carried forward and per-lesion exponential, Gompertz and general "
                f"Bertalanffy fits. Not validated for {NOT_VALIDATED}. Forecasts are model "
                "estimates with an 80% band, not measurements, and not for clinical decisions.")


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 2)


def _row(lesion: str, method: str, label: str, kind: str, default: bool,
         last_day: float | None, target: float | None, fc: Forecast) -> dict[str, Any]:
    ok = not fc.refused
    has_band = ok and fc.lower_mm is not None and fc.upper_mm is not None
    return {
        "lesion": lesion, "method": method, "method_label": label, "kind": kind,
        "default": default, "model_estimate": True,
        "last_day": _r(last_day), "target_day": _r(target),
        "horizon_days": _r(target - last_day) if target is not None and last_day is not None
        else None,
        "diameter_mm": _r(fc.median_mm) if ok else None,
        "lower_mm": _r(fc.lower_mm) if has_band else None,
        "upper_mm": _r(fc.upper_mm) if has_band else None,
        "interval": CENTRAL_INTERVAL if has_band else None,
        "quantiles": {f"{lv:g}": _r(v) for lv, v in sorted(fc.quantiles.items())} if ok else {},
        "status": fc.status, "message": fc.message,
    }
