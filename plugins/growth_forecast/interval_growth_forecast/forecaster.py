"""Inference: the trained recurrent network as a forecaster, with its input checks.

``load_default()`` reads ``weights/default.json`` (which architecture is the default) and
that network's ``<name>.safetensors`` + ``<name>.json``; weights are read with safetensors
only (no pickle, no code from data).  ``Forecaster.forecast(days, diameters_mm, target_days)``
returns one :class:`~interval_growth_forecast.result.Forecast` per target day.

Inputs the model was not trained for are refused or answered with a widened band and a
sentence saying why (``status`` "refused" / "widened"), never with a silent number.
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from interval_growth_forecast.errors import ModelFilesError
from interval_growth_forecast.features import from_log, query_features, to_log, visit_features
from interval_growth_forecast.networks import ARCHITECTURES, build
from interval_growth_forecast.result import Forecast, from_quantiles, refused

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
REFUSE_HORIZON_FACTOR = 3.0  # horizons beyond this multiple of the longest trained one: refused
WIDEN_FACTOR = 1.5  # band multiplier for each out-of-training condition (they multiply)
METHOD_LABELS = {
    "gru": "Recurrent network (GRU)",
    "lstm": "Recurrent network (LSTM)",
    "gru_attention": "Recurrent network (GRU with attention)",
}


@dataclass
class Limits:
    """What the training data covered (from the config's ``limits``)."""

    max_horizon_days: float
    max_gap_days: float
    max_diameter_mm: float
    max_visits: int


@dataclass
class Forecaster:
    """A loaded network with its config; ``name`` is the architecture (method id)."""

    name: str
    model: torch.nn.Module
    config: dict[str, Any]
    limits: Limits
    band_scale: float = 1.0
    median_gain: float = 1.0
    quantized: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return METHOD_LABELS[self.name] + (" int8" if self.quantized else "")

    @property
    def levels(self) -> tuple[float, ...]:
        return tuple(float(x) for x in self.config["levels"])

    def int8(self) -> Forecaster:
        """A copy with the GRU/LSTM and Linear layers dynamically quantized to int8
        (``torch.ao.quantization.quantize_dynamic``, done at load time from the float weights)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.ao.quantization import quantize_dynamic

            qmodel = quantize_dynamic(copy.deepcopy(self.model),
                                      {torch.nn.GRU, torch.nn.LSTM, torch.nn.Linear},
                                      dtype=torch.qint8)
        return Forecaster(self.name, qmodel.eval(), self.config, self.limits, self.band_scale,
                          self.median_gain, quantized=True)

    # --- checks ------------------------------------------------------------------------

    def history_problem(self, days: np.ndarray, diameters: np.ndarray) -> str:
        """Why the visits cannot be forecast from at all ("" when they can)."""
        if len(days) != len(diameters):
            return "the numbers of visit days and diameters differ"
        if len(days) == 0:
            return "no measurements"
        if not (np.all(np.isfinite(days)) and np.all(np.isfinite(diameters))):
            return "a visit day or diameter is missing (NaN) or infinite"
        if np.any(diameters < 0):
            return "a diameter is negative"
        steps = np.diff(days)
        if np.any(steps == 0):
            day = float(days[1:][steps == 0][0])
            return (f"two visits are on the same day ({day:g}); give one measurement per visit")
        if np.any(steps < 0):
            return "the visit days are not in increasing order"
        if len(days) < 2:
            return ("a single visit gives no growth information: the network needs at least "
                    "2 visits")
        if np.all(diameters == 0):
            return ("the lesion measured 0 mm at every visit (not measurable): the network "
                    "does not forecast the appearance of a lesion")
        return ""

    def _widening(self, days: np.ndarray, diameters: np.ndarray) -> tuple[float, list[str]]:
        factor, why = 1.0, []
        gap = float(np.max(np.diff(days)))
        if gap > self.limits.max_gap_days:
            factor *= WIDEN_FACTOR
            why.append(f"a gap of {gap:.0f} days between visits is longer than any in the "
                       f"training data ({self.limits.max_gap_days:.0f} days)")
        if diameters[-1] == 0:
            factor *= WIDEN_FACTOR
            why.append("the last measurement is 0 mm (no longer measurable); regrowth is "
                       "uncertain")
        if float(np.max(diameters)) > self.limits.max_diameter_mm:
            factor *= WIDEN_FACTOR
            why.append(f"a diameter above {self.limits.max_diameter_mm:.0f} mm, the largest "
                       "in the training data")
        if len(days) > self.limits.max_visits:
            factor *= WIDEN_FACTOR
            why.append(f"more visits ({len(days)}) than any training trajectory had "
                       f"({self.limits.max_visits})")
        return factor, why

    # --- forecasting -------------------------------------------------------------------

    def forecast(self, days: Sequence[float], diameters_mm: Sequence[float],
                 target_days: Sequence[float]) -> list[Forecast]:
        """One forecast per target day (same day axis as ``days``)."""
        t = np.asarray(days, dtype=float).reshape(-1)
        d = np.asarray(diameters_mm, dtype=float).reshape(-1)
        targets = [float(x) for x in target_days]
        problem = self.history_problem(t, d)
        if problem:
            return [refused(x, problem) for x in targets]
        base_factor, base_why = self._widening(t, d)
        y = to_log(d)
        visits = torch.from_numpy(visit_features(t, y))[None]
        lengths = torch.tensor([len(t)])
        out: list[Forecast] = []
        for target in targets:
            if not math.isfinite(target):
                out.append(refused(target, "the forecast day is missing (NaN)"))
                continue
            horizon = target - t[-1]
            if horizon <= 0:
                out.append(refused(target, "the forecast day must come after the last visit "
                                           f"(day {t[-1]:g}); the horizon is {horizon:g} days"))
                continue
            limit = self.limits.max_horizon_days
            if horizon > REFUSE_HORIZON_FACTOR * limit:
                out.append(refused(target, f"a horizon of {horizon:.0f} days is far beyond the "
                                           f"training data (at most {limit:.0f} days)"))
                continue
            factor, why = base_factor, list(base_why)
            if horizon > limit:
                factor *= horizon / limit
                why.append(f"a horizon of {horizon:.0f} days is longer than any in the "
                           f"training data ({limit:.0f} days)")
            query = torch.from_numpy(query_features(horizon))[None]
            with torch.no_grad():
                delta = self.model(visits, lengths, query)[0].double().numpy()
            out.append(self._to_forecast(target, float(y[-1]), delta, factor, why))
        return out

    def _to_forecast(self, target: float, y_last: float, delta: np.ndarray, factor: float,
                     why: list[str]) -> Forecast:
        m = self.levels.index(0.5)
        centre = delta[m] * self.median_gain
        spread = (delta - delta[m]) * self.band_scale * factor
        if y_last <= 0.0:
            # last visit 0 mm: the size cannot shrink further, so the band is anchored at 0 mm
            # (y = 0) and its upper half is the network's (widened) spread above the median
            centre = max(centre, 0.0)
        q = {lv: float(from_log(y_last + centre + s)) for lv, s in zip(self.levels, spread,
                                                                       strict=True)}
        if why:
            return from_quantiles(target, q, status="widened",
                                  message="Band widened: " + "; ".join(why) + ".")
        return from_quantiles(target, q)


# --- loading ---------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFilesError(f"cannot read the model configuration: {exc}", path=path) from None
    if not isinstance(data, dict):
        raise ModelFilesError("the model configuration is not a JSON object", path=path)
    return data


def load(name: str, folder: Path = WEIGHTS_DIR) -> Forecaster:
    """The network ``name`` (gru, lstm, gru_attention) from ``folder``."""
    if name not in ARCHITECTURES:
        raise ModelFilesError(f"unknown network {name!r} (known: {', '.join(ARCHITECTURES)})")
    config = _read_json(folder / f"{name}.json")
    weights = folder / f"{name}.safetensors"
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error type for a broken file
        raise ModelFilesError(f"the forecast network {name!r} cannot be loaded: the weights "
                              f"file is not valid safetensors ({exc})", path=weights) from None
    try:
        model = build(config)
        model.load_state_dict(state, strict=True)
        lim = config["limits"]
        limits = Limits(float(lim["max_horizon_days"]), float(lim["max_gap_days"]),
                        float(lim["max_diameter_mm"]), int(lim["max_visits"]))
        band_scale = float(config.get("band_scale", 1.0))
        median_gain = float(config.get("median_gain", 1.0))
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFilesError(f"the forecast network {name!r} cannot be loaded: {exc}",
                              path=weights) from None
    if not (math.isfinite(band_scale) and band_scale > 0):
        raise ModelFilesError(f"invalid band_scale in {name}.json", path=weights)
    if not (math.isfinite(median_gain) and 0 <= median_gain <= 5):
        raise ModelFilesError(f"invalid median_gain in {name}.json", path=weights)
    return Forecaster(name, model.eval(), config, limits, band_scale, median_gain)


def default_name(folder: Path = WEIGHTS_DIR) -> str:
    """The architecture chosen on validation (``weights/default.json``)."""
    name = _read_json(folder / "default.json").get("default")
    if name not in ARCHITECTURES:
        raise ModelFilesError(f"default.json names no known network ({name!r})")
    return str(name)


def load_default(folder: Path = WEIGHTS_DIR) -> Forecaster:
    """The default network."""
    return load(default_name(folder), folder)
