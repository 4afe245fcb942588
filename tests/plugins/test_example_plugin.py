"""The example plugin's code: its network with the committed weights, its analyzer."""

from __future__ import annotations

import datetime
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from interval.core.labels import LabelTable
from interval.core.volume import Volume
from interval.plugins import discover_plugins
from interval.plugins.api import LongitudinalAnalyzer, Timepoint
from tests.plugins.conftest import EXAMPLE_ID, EXAMPLE_SRC

MODEL_DIR = EXAMPLE_SRC / "interval_example_threshold" / "models" / "bone_threshold"


@pytest.fixture
def example_on_path() -> Iterator[None]:
    sys.path.insert(0, str(EXAMPLE_SRC))
    yield
    sys.path.remove(str(EXAMPLE_SRC))
    for name in [m for m in sys.modules if m.startswith("interval_example_threshold")]:
        del sys.modules[name]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_make_weights", EXAMPLE_SRC / "make_weights.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_weights_are_what_the_script_writes(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    script = _load_script()
    monkeypatch.setattr(script, "OUT", tmp_path)
    script.main()
    assert (tmp_path / "weights.safetensors").read_bytes() == (
        MODEL_DIR / "weights.safetensors").read_bytes()


def test_network_labels_voxels_above_300_hu(example_on_path: None) -> None:
    import torch
    from interval_example_threshold.network import build_network
    from safetensors.torch import load_file

    net = build_network({"in_channels": 1})
    net.load_state_dict(load_file(str(MODEL_DIR / "weights.safetensors")), strict=True)
    hu = torch.tensor([-1000.0, 0.0, 299.0, 301.0, 1200.0]).reshape(1, 1, 5, 1, 1)
    with torch.no_grad():
        prob = torch.sigmoid(net(hu)).flatten()
    assert (prob > 0.5).tolist() == [False, False, False, True, True]
    assert build_network(in_channels=1).conv.weight.shape == (1, 1, 1, 1, 1)


def _labels(n_voxels: int, spacing: float) -> Volume:
    arr = np.zeros((10, 10, 10), np.uint8)
    arr.reshape(-1)[:n_voxels] = 1
    return Volume(arr, spacing=(spacing,) * 3, labels=LabelTable.from_names({1: "bone"}))


def test_analyzer_reports_volume_per_timepoint(example_on_path: None) -> None:
    reg = discover_plugins(include_entry_points=False)
    analyzer = reg.load_longitudinal_analyzer(f"{EXAMPLE_ID}:label-volume")
    assert isinstance(analyzer, LongitudinalAnalyzer)
    image = Volume(np.zeros((10, 10, 10), np.int16))
    timepoints = [
        Timepoint(datetime.date(2024, 6, 1), image, _labels(150, 2.0), "follow-up"),
        Timepoint(datetime.date(2024, 1, 1), image, _labels(100, 2.0), "baseline"),
        Timepoint(datetime.date(2024, 3, 1), image, None),
    ]
    seen: list[tuple[int, int]] = []
    result = analyzer.analyze(timepoints, progress=lambda d, t: seen.append((d, t)))
    assert [(r["date"], r["volume_ml"], r["change_percent"]) for r in result.table] == [
        ("2024-01-01", 0.8, 0.0), ("2024-06-01", 1.2, 50.0)]
    assert result.table[0]["name"] == "bone"
    assert result.warnings == ["2024-03-01: no label map, skipped"]
    assert result.summary == "bone: 0.8 ml -> 1.2 ml"
    assert seen[-1] == (3, 3)


def test_example_code_uses_only_the_public_api() -> None:
    """First-party plugins import nothing of Interval beyond interval.plugins.api and core."""
    import ast

    allowed = ("interval.plugins.api", "interval.core")
    files = sorted((EXAMPLE_SRC / "interval_example_threshold").rglob("*.py"))
    assert len(files) >= 3
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name == "interval" or name.startswith("interval."):
                    assert name.startswith(allowed), f"{path.name} imports {name}"
