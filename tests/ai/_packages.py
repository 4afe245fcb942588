"""Writing model packages for the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from interval.ai.model_package import ModelSpec, load_model_spec
from tests.ai import _nets
from tests.conftest import REPO_ROOT

# The code folder of the "plugin" that the test packages belong to: the repository, whose
# tests.ai._nets holds their networks (a model package on its own cannot name code).
TEST_CODE_PATH = REPO_ROOT


def base_json(**over: Any) -> dict[str, Any]:
    """A valid model.json (plugin ThresholdNet, weights.safetensors) with ``over`` applied."""
    data: dict[str, Any] = {
        "format": 1,
        "name": "threshold",
        "version": "1.0.0",
        "task": "segmentation",
        "description": "label 1 where intensity > 50",
        "modality": ["CT"],
        "labels": [{"value": 1, "name": "bright", "color": [255, 0, 0]}],
        "target_spacing": None,
        "orientation": None,
        "patch_size": [16, 16, 16],
        "normalization": {"scheme": "none"},
        "network": {"type": "plugin", "entry": "tests.ai._nets:build_threshold",
                    "params": {"threshold": 50.0}, "weights": "weights.safetensors"},
        "output": {"activation": "softmax", "channels": 2},
        "inference": {"overlap": 0.5, "batch_size": 2, "mirror_tta": False, "blend": "gaussian"},
    }
    data.update(over)
    return data


def write_package(folder: Path, data: dict[str, Any] | None = None,
                  module: torch.nn.Module | None = None) -> Path:
    """Write model.json (+ the weights of ``module``, a ThresholdNet by default)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = base_json() if data is None else data
    module = _nets.ThresholdNet(50.0) if module is None else module
    weights = data.get("network", {}).get("weights")
    if isinstance(weights, str) and weights.endswith(".safetensors"):
        save_file({k: v.contiguous() for k, v in module.state_dict().items()},
                  str(folder / weights))
    (folder / "model.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def load_spec(folder: Path) -> ModelSpec:
    """The package's spec as the plugin registry gives it (with the tests' code path)."""
    return load_model_spec(folder, code_path=TEST_CODE_PATH)
