"""Weights loading: safetensors, plain state dicts (weights_only), TorchScript, refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from interval.ai.errors import InvalidModelPackage
from interval.ai.model_package import load_model_spec
from interval.ai.weights import build_model, load_state_dict, load_weights_into
from tests.ai import _nets
from tests.ai._packages import base_json, load_spec, write_package


class _Payload:
    """A pickle that would create a folder when unpickled."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (os.makedirs, (self.target,))


def test_safetensors_roundtrip(tmp_path: Path) -> None:
    net = _nets.ThresholdNet(7.0, 2.0)
    save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    state = load_state_dict(tmp_path / "w.safetensors")
    assert torch.equal(state["conv.bias"], torch.tensor([-14.0]))


def test_plain_state_dict_loads_with_weights_only(tmp_path: Path) -> None:
    net = _nets.ThresholdNet(3.0)
    torch.save({"state_dict": net.state_dict()}, tmp_path / "w.pt")
    state = load_state_dict(tmp_path / "w.pt")
    assert set(state) == {"conv.weight", "conv.bias"}


def test_pickle_with_code_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    torch.save({"conv.weight": _Payload(str(marker))}, tmp_path / "evil.pt")
    assert not marker.exists()
    with pytest.raises(InvalidModelPackage, match="never unpickles") as err:
        load_state_dict(tmp_path / "evil.pt")
    assert not marker.exists(), "the payload must not have run"
    text = str(err.value)
    assert "evil.pt contains code" in text and "(it refers to os.makedirs)" in text
    assert text.endswith("Convert it to safetensors (or save a plain state dict of tensors).")
    assert "weights_only" not in text and "False" not in text, "never torch's unsafe advice"


def test_corrupt_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.safetensors").write_bytes(b"\x00\x01garbage")
    with pytest.raises(InvalidModelPackage, match="not a valid safetensors"):
        load_state_dict(tmp_path / "bad.safetensors")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(InvalidModelPackage):
        load_state_dict(tmp_path / "bad.pt")
    with pytest.raises(InvalidModelPackage, match="missing"):
        load_state_dict(tmp_path / "none.pt")


def test_mismatched_weights_are_listed() -> None:
    net = _nets.ThresholdNet()
    bad = {"conv.weight": torch.zeros(2, 1, 1, 1, 1), "other": torch.zeros(1)}
    with pytest.raises(InvalidModelPackage) as err:
        load_weights_into(net, bad)
    text = str(err.value)
    assert "missing 1 tensor" in text and "conv.bias" in text
    assert "unexpected" in text and "shape mismatch" in text


def test_plugin_network_built_with_weights(tmp_path: Path) -> None:
    pkg = write_package(tmp_path / "p", module=_nets.ThresholdNet(20.0, 3.0))
    net = build_model(load_spec(pkg), torch.device("cpu"))
    assert isinstance(net, _nets.ThresholdNet) and not net.training
    # params say threshold 50 but the weights (threshold 20, scale 3) win
    assert float(net.conv.bias.detach()) == pytest.approx(-60.0)


def test_plugin_entry_that_is_not_a_module(tmp_path: Path) -> None:
    data = base_json()
    data["network"]["entry"] = "tests.ai._nets:build_not_a_module"
    data["network"]["params"] = {}
    pkg = write_package(tmp_path / "p", data)
    with pytest.raises(InvalidModelPackage, match="not a torch module"):
        build_model(load_spec(pkg), torch.device("cpu"))
    data["network"]["entry"] = "tests.ai._nets_missing:build"
    pkg = write_package(tmp_path / "q", data)
    with pytest.raises(InvalidModelPackage, match="no module tests.ai._nets_missing"):
        build_model(load_spec(pkg), torch.device("cpu"))


def test_unknown_builtin_network_is_a_clear_error(tmp_path: Path) -> None:
    data = base_json(network={"type": "builtin", "name": "no-such-net", "params": {},
                              "weights": "weights.safetensors"})
    pkg = write_package(tmp_path / "b", data)
    with pytest.raises(InvalidModelPackage, match="cannot be built.*no-such-net"):
        build_model(load_spec(pkg), torch.device("cpu"))


def test_plugin_code_in_the_plugins_code_folder(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin"
    pkg = plugin / "models" / "p"
    pkg.mkdir(parents=True)
    (plugin / "my_tiny_net_for_tests.py").write_text(
        "from tests.ai._nets import ThresholdNet\n"
        "def build(threshold=1.0):\n    return ThresholdNet(threshold)\n", encoding="utf-8")
    data = base_json()
    data["network"]["entry"] = "my_tiny_net_for_tests:build"
    write_package(pkg, data)
    net = build_model(load_model_spec(pkg, code_path=plugin), torch.device("cpu"))
    assert isinstance(net, _nets.ThresholdNet)
    # the same package without its plugin is data only: it cannot name code
    with pytest.raises(InvalidModelPackage, match="not part of a plugin"):
        build_model(load_model_spec(pkg), torch.device("cpu"))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch 2.13 deprecates jit.trace
def test_torchscript_package(tmp_path: Path) -> None:
    pkg = tmp_path / "ts"
    pkg.mkdir()
    traced = torch.jit.trace(_nets.ThresholdNet(5.0), torch.zeros(1, 1, 4, 4, 4))
    traced.save(str(pkg / "model.pt"))
    write_package(pkg, base_json(network={"type": "torchscript", "file": "model.pt"}))
    net = build_model(load_spec(pkg), torch.device("cpu"))
    x = torch.full((1, 1, 2, 2, 2), 9.0)
    assert torch.allclose(net(x)[:, 1], torch.full((1, 2, 2, 2), 4.0))


def test_onnx_without_onnxruntime_is_a_clear_error(tmp_path: Path) -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("onnxruntime is installed here; the missing-package message is not reachable")
    pkg = tmp_path / "o"
    pkg.mkdir()
    (pkg / "model.onnx").write_bytes(b"not really onnx")
    write_package(pkg, base_json(network={"type": "onnx", "file": "model.onnx"}))
    with pytest.raises(InvalidModelPackage, match="needs the onnxruntime package"):
        build_model(load_spec(pkg), torch.device("cpu"))


def test_plugin_network_without_weights_is_used_as_built(tmp_path: Path) -> None:
    data = base_json()
    data["network"]["params"] = {"threshold": 7.0}
    del data["network"]["weights"]
    pkg = write_package(tmp_path / "p", data)
    assert not (pkg / "weights.safetensors").exists()
    net = build_model(load_spec(pkg), torch.device("cpu"))
    assert isinstance(net, _nets.ThresholdNet) and not net.training
    x = torch.full((1, 1, 2, 2, 2), 9.0)
    assert torch.allclose(net(x)[:, 1], torch.full((1, 2, 2, 2), 2.0))  # the builder's 7
