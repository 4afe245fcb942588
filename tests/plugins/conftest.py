"""Helpers for plugin tests: writing plugin folders, an isolated search path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from interval.plugins import discovery
from tests.conftest import REPO_ROOT

EXAMPLE_SRC = REPO_ROOT / "plugins" / "example_threshold"
EXAMPLE_ID = "org.interval.example-threshold"
EXAMPLE_MODEL = "example-bone-threshold"

MODEL_JSON: dict[str, Any] = {
    "format": 1,
    "name": "tiny-model",
    "version": "1.0.0",
    "task": "segmentation",
    "modality": ["MR"],
    "labels": [{"value": 1, "name": "brain", "color": [200, 100, 50]}],
    "target_spacing": None,
    "patch_size": [8, 8, 8],
    "normalization": {"scheme": "none"},
    "network": {"type": "torchscript", "file": "model.pt"},
    "output": {"activation": "sigmoid", "channels": 1},
}


def manifest(pid: str = "org.test.good", **fields: Any) -> dict[str, Any]:
    """A valid manifest dict (fields override or, when None, remove keys)."""
    data: dict[str, Any] = {
        "id": pid, "name": f"Plugin {pid}", "version": "1.0.0", "interval_api": ">=1.0,<2",
        "contributes": {"segmentation_models": []},
    }
    for key, value in fields.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def write_plugin(
    root: Path, folder: str, data: dict[str, Any] | str, models: dict[str, Any] | None = None
) -> Path:
    """Write ``root/folder/interval-plugin.json`` (+ model packages ``{rel: model.json}``)."""
    plugin = root / folder
    plugin.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else json.dumps(data, indent=2)
    (plugin / "interval-plugin.json").write_text(text, encoding="utf-8")
    for rel, model in (models or {}).items():
        (plugin / rel).mkdir(parents=True, exist_ok=True)
        (plugin / rel / "model.json").write_text(json.dumps(model), encoding="utf-8")
        (plugin / rel / "model.pt").write_bytes(b"not really torchscript")
    return plugin


def model_plugin(root: Path, folder: str, pid: str, model_name: str = "tiny-model") -> Path:
    """A valid plugin contributing one model package ``models/m``."""
    return write_plugin(
        root, folder,
        manifest(pid, contributes={"segmentation_models": ["models/m"]}),
        {"models/m": {**MODEL_JSON, "name": model_name}},
    )


def network_plugin(root: Path, folder: str, pid: str, model_name: str, module: str,
                   code: str) -> Path:
    """A plugin whose model package ``models/m`` runs ``code`` (saved as ``module.py``,
    entry ``build``, one ``conv`` of 1x1x1) as its network, with safetensors weights."""
    import numpy as np
    from safetensors.numpy import save_file

    model = {
        "format": 1, "name": model_name, "version": "1.0.0", "task": "segmentation",
        "labels": [{"value": 1, "name": "x"}], "patch_size": [4, 8, 8],
        "network": {"type": "plugin", "entry": f"{module}:build",
                    "weights": "weights.safetensors"},
        "output": {"activation": "sigmoid", "channels": 1},
    }
    plugin = write_plugin(root, folder, manifest(
        pid, contributes={"segmentation_models": ["models/m"]}), {"models/m": model})
    (plugin / f"{module}.py").write_text(code)
    save_file({"conv.weight": np.ones((1, 1, 1, 1, 1), np.float32),
               "conv.bias": np.zeros(1, np.float32)},
              str(plugin / "models" / "m" / "weights.safetensors"))
    (plugin / "models" / "m" / "model.pt").unlink()
    return plugin


@pytest.fixture(autouse=True)
def isolated_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No INTERVAL_PLUGIN_PATH, an empty user data folder, no session --plugins-dir."""
    monkeypatch.delenv(discovery.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    discovery.set_session_plugin_dirs([])
    yield tmp_path / "xdg-data" / "Interval" / "plugins"
    discovery.set_session_plugin_dirs([])


def install_example(target: Path) -> Path:
    """``pip install`` the example plugin (a copy of its source) into ``target``; offline."""
    src = target.parent / f"{target.name}-src"
    shutil.copytree(EXAMPLE_SRC, src, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--disable-pip-version-check", "--target", str(target),
         str(src)],
        check=True, capture_output=True, timeout=300,
    )
    return target


@pytest.fixture(scope="session")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the example plugin installed as a distribution (entry point)."""
    return install_example(tmp_path_factory.mktemp("site") / "site-packages")


WritePlugin = Callable[..., Path]
