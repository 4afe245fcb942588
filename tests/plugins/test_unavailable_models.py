"""Issue 9 (messages): a model whose runtime is not installed is refused with a reason, not
listed as available (an ONNX network without onnxruntime)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from interval.plugins import discover_plugins
from tests.plugins.conftest import MODEL_JSON, manifest, write_plugin


def test_an_onnx_model_without_onnxruntime_is_refused_with_a_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    model = dict(MODEL_JSON, name="onnx-model", network={"type": "onnx", "file": "model.onnx"})
    plugin = write_plugin(tmp_path / "plugins", "onnxplug",
                          manifest("org.test.onnx", contributes={"segmentation_models": ["m"]}),
                          {"m": model})
    (plugin / "m" / "model.onnx").write_bytes(b"not really onnx")
    registry = discover_plugins([tmp_path / "plugins"], include_entry_points=False)
    assert [m.model_id for m in registry.segmentation_models() if m.plugin_id == "org.test.onnx"] == []
    reasons = [r.reason for r in registry.refused]
    assert any("needs the Python package onnxruntime: pip install onnxruntime" in r
               for r in reasons), reasons
