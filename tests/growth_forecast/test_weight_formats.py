"""Both weight-file formats load: one network without a median gain (the first recipe's files)
and a 3-member ensemble with a median gain (the second recipe's)."""

from __future__ import annotations

import json

import pytest
import torch
from interval_growth_forecast.errors import ModelFilesError
from interval_growth_forecast.forecaster import load
from interval_growth_forecast.networks import LEVELS, Ensemble, GrowthNet, build
from safetensors.torch import save_file

LIMITS = {"max_horizon_days": 683.0, "max_gap_days": 248.0, "max_diameter_mm": 180.0,
          "max_visits": 11}
DAYS, DIAMS = [0.0, 60.0, 120.0], [30.0, 27.0, 25.0]


def write(folder, name: str, config: dict, seed: int = 0) -> None:
    torch.manual_seed(seed)
    model = build(config)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(folder / f"{name}.safetensors"))
    (folder / f"{name}.json").write_text(json.dumps({**config, "limits": LIMITS}))


def test_first_recipe_format_single_network_without_gain(tmp_path):
    config = {"architecture": "gru", "hidden": 8, "head_hidden": 8, "levels": list(LEVELS),
              "band_scale": 1.07}
    write(tmp_path, "gru", config)
    net = load("gru", tmp_path)
    assert isinstance(net.model, GrowthNet)
    assert net.median_gain == 1.0 and net.band_scale == pytest.approx(1.07)
    f = net.forecast(DAYS, DIAMS, [180.0])[0]
    assert f.status == "ok" and f.lower_mm < f.median_mm < f.upper_mm


def test_second_recipe_format_ensemble_with_gain(tmp_path):
    config = {"architecture": "lstm", "hidden": 8, "head_hidden": 8, "levels": list(LEVELS),
              "members": 3, "band_scale": 1.08, "median_gain": 2.0}
    write(tmp_path, "lstm", config)
    net = load("lstm", tmp_path)
    assert isinstance(net.model, Ensemble) and len(net.model.members) == 3
    assert net.median_gain == 2.0
    assert net.forecast(DAYS, DIAMS, [180.0])[0].status == "ok"


def test_member_count_must_match_the_weights(tmp_path):
    config = {"architecture": "gru", "hidden": 8, "head_hidden": 8, "levels": list(LEVELS)}
    write(tmp_path, "gru", config)
    data = json.loads((tmp_path / "gru.json").read_text())
    (tmp_path / "gru.json").write_text(json.dumps({**data, "members": 3}))
    with pytest.raises(ModelFilesError, match="cannot be loaded"):
        load("gru", tmp_path)
