"""Hostile and broken model packages: code named by a model.json, oversized or special
model.json files, invalid network outputs and the messages each one gets (issue 9)."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from interval.ai.engine import check_finite, segment
from interval.ai.engine_child import segment_arrays
from interval.ai.errors import InvalidModelOutput, InvalidModelPackage
from interval.ai.model_package import MAX_MODEL_JSON_BYTES, load_model_spec, parse_model_spec
from interval.ai.networks.plugin_code import code_root
from interval.ai.options import InferenceOptions
from interval.ai.sliding_window import sliding_window_inference
from interval.ai.weights import build_model
from interval.core.volume import Volume
from tests.ai import _nets
from tests.ai._packages import TEST_CODE_PATH, base_json, load_spec, write_package

CPU = torch.device("cpu")
OPTIONS = InferenceOptions(device="cpu")


@pytest.fixture(autouse=True)
def _restore_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin's code folder is added to sys.path when its network is built: undone here."""
    monkeypatch.setattr(sys, "path", list(sys.path))


# --- 1. a model.json never runs code from outside its plugin ------------------------------


def _plugin(root: Path) -> Path:
    """An (otherwise empty) plugin folder: the manifest's folder is its code folder."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "interval-plugin.json").write_text("{}", encoding="utf-8")
    return root


def _package(folder: Path, entry: str, params: dict) -> Path:
    data = base_json()
    data["network"] = {"type": "plugin", "entry": entry, "params": params}
    return write_package(folder, data)


def _evil_module(marker: Path) -> str:
    """Source of a module that leaves ``marker`` when imported and when its build() runs."""
    return (f"open({str(marker) + '.import'!r}, 'w').close()\n"
            f"def build(**params):\n    open({str(marker)!r}, 'w').close()\n")


def _hostile_entries(tmp_path: Path, plugin: Path, marker: Path) -> dict[str, tuple[str, dict]]:
    """name -> (entry, params) of every attack; the folders they need are written here."""
    outside = tmp_path / "sibling"  # a folder beside the plugin, importable from sys.path
    outside.mkdir(exist_ok=True)
    (outside / "evil_sibling.py").write_text(_evil_module(marker), encoding="utf-8")
    (outside / "evil_target.py").write_text(_evil_module(marker), encoding="utf-8")
    (plugin / "evil_link.py").symlink_to(outside / "evil_target.py")
    (outside / "evilpkg").mkdir(exist_ok=True)
    (outside / "evilpkg" / "__init__.py").write_text(_evil_module(marker), encoding="utf-8")
    (plugin / "linked_pkg").symlink_to(outside / "evilpkg", target_is_directory=True)
    (plugin / "reexport.py").write_text("from subprocess import getoutput  # noqa\n",
                                        encoding="utf-8")
    touch = f"touch {marker}"
    return {
        "os.system": ("os:system", {"command": touch}),
        "subprocess.getoutput": ("subprocess:getoutput", {"cmd": touch}),
        "sibling module": ("evil_sibling:build", {}),
        "symlinked module": ("evil_link:build", {}),
        "symlinked package": ("linked_pkg:build", {}),
        "re-exported function": ("reexport:getoutput", {"cmd": touch}),
    }


@pytest.fixture
def attacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plugin = _plugin(tmp_path / "plugin")
    marker = tmp_path / "pwned"
    entries = _hostile_entries(tmp_path, plugin, marker)
    monkeypatch.syspath_prepend(str(tmp_path / "sibling"))  # importable the ordinary way
    before = set(sys.modules)
    yield plugin, marker, entries
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("evil_sibling", "evil_target", "evil_link", "linked_pkg",
                                  "reexport", "evilpkg"):
            del sys.modules[name]


def _assert_nothing_ran(marker: Path) -> None:
    assert not marker.exists(), "the named function ran"
    assert not Path(str(marker) + ".import").exists(), "the module outside the plugin ran"
    assert "evil_sibling" not in sys.modules and "evil_link" not in sys.modules


@pytest.mark.parametrize("attack", ["os.system", "subprocess.getoutput", "sibling module",
                                    "symlinked module", "symlinked package",
                                    "re-exported function"])
def test_code_outside_the_plugin_is_refused_before_it_runs(tmp_path: Path, attacks,
                                                           attack: str) -> None:
    plugin, marker, entries = attacks
    entry, params = entries[attack]
    pkg = _package(plugin / "models" / "m", entry, params)
    with pytest.raises(InvalidModelPackage, match="names code outside its plugin") as err:
        build_model(load_model_spec(pkg, code_path=plugin), CPU)
    assert entry in str(err.value)
    _assert_nothing_ran(marker)


@pytest.mark.parametrize("attack", ["os.system", "subprocess.getoutput", "sibling module"])
def test_a_model_package_without_a_plugin_names_no_code(tmp_path: Path, attacks,
                                                        attack: str) -> None:
    _plugin_folder, marker, entries = attacks
    entry, params = entries[attack]
    pkg = _package(tmp_path / "bare", entry, params)
    spec = load_model_spec(pkg)  # as `interval segment --model PATH` reads it
    assert "not part of a plugin" in (spec.unavailable_reason() or "")
    with pytest.raises(InvalidModelPackage, match="not part of a plugin"):
        build_model(spec, CPU)
    _assert_nothing_ran(marker)


def test_the_child_entry_point_refuses_too(tmp_path: Path, attacks) -> None:
    """What the model's process runs (engine_child), with and without the plugin's code path."""
    plugin, marker, entries = attacks
    pkg = _package(plugin / "models" / "m", *entries["os.system"])
    kwargs = {"model_dir": str(pkg), "spacing": (1.0, 1.0, 1.0), "origin": (0.0, 0.0, 0.0),
              "direction": np.eye(3).ravel().tolist(), "modality": "CT",
              "options": {"device": "cpu"}}
    arrays = {"image": np.zeros((4, 4, 4), np.int16)}
    with pytest.raises(InvalidModelPackage, match="outside its plugin: os:system"):
        segment_arrays(arrays, **kwargs, code_path=str(plugin))
    with pytest.raises(InvalidModelPackage, match="not part of a plugin"):
        segment_arrays(arrays, **kwargs)
    _assert_nothing_ran(marker)


def test_a_module_name_already_loaded_from_elsewhere_is_refused(tmp_path: Path) -> None:
    plugin = _plugin(tmp_path / "plugin")
    (plugin / "json.py").write_text("def loads(**kw):\n    raise SystemExit(3)\n")
    pkg = _package(plugin / "models" / "m", "json:loads", {"s": "[]"})
    with pytest.raises(InvalidModelPackage, match="already loaded from elsewhere"):
        build_model(load_model_spec(pkg, code_path=plugin), CPU)
    assert json.loads("[1]") == [1]


def _packaged_plugin(tmp_path: Path) -> tuple[Path, Path]:
    """A plugin that is a Python package (manifest inside it), its code path the folder
    above, like a pip-installed plugin in site-packages; a stranger's module beside it."""
    site = tmp_path / "site"
    pkg_dir = _plugin(site / "tiny_plugin_pkg")
    (pkg_dir / "__init__.py").write_text("", encoding="utf-8")
    (pkg_dir / "net.py").write_text(
        "from tests.ai._nets import ThresholdNet\n"
        "def build(threshold=50.0):\n    return ThresholdNet(threshold)\n", encoding="utf-8")
    (site / "stranger_module.py").write_text(_evil_module(tmp_path / "pwned"),
                                             encoding="utf-8")
    return site, pkg_dir


def test_a_packaged_plugin_runs_its_own_code_only(tmp_path: Path) -> None:
    site, pkg_dir = _packaged_plugin(tmp_path)
    assert code_root(site, pkg_dir / "models" / "m") == pkg_dir.resolve()
    try:
        pkg = _package(pkg_dir / "models" / "m", "tiny_plugin_pkg.net:build", {"threshold": 7})
        net = build_model(load_model_spec(pkg, code_path=site), CPU)
        assert isinstance(net, _nets.ThresholdNet)
        x = torch.full((1, 1, 2, 2, 2), 9.0)
        assert torch.allclose(net(x)[:, 1], torch.full((1, 2, 2, 2), 2.0))
        # another top-level module in the same site folder is not the plugin's
        other = _package(pkg_dir / "models" / "o", "stranger_module:build", {})
        with pytest.raises(InvalidModelPackage, match="outside the plugin folder"):
            build_model(load_model_spec(other, code_path=site), CPU)
        assert not (tmp_path / "pwned").exists()
        assert not Path(str(tmp_path / "pwned") + ".import").exists()
    finally:
        for name in [m for m in sys.modules if m.startswith("tiny_plugin_pkg")]:
            del sys.modules[name]


def test_params_must_be_plain_json_and_fit_the_builder(tmp_path: Path) -> None:
    pkg = write_package(tmp_path / "p")
    data = base_json()
    data["network"]["params"] = {"threshold": {1, 2}}  # a set: not JSON
    with pytest.raises(InvalidModelPackage, match="plain JSON"):
        parse_model_spec(data, pkg)
    data["network"]["params"] = {"threshold": float("nan")}
    with pytest.raises(InvalidModelPackage, match="plain JSON"):
        parse_model_spec(data, pkg)
    data["network"]["params"] = {"thresold": 3}  # a typo: the builder has no such argument
    spec = parse_model_spec(data, pkg, code_path=TEST_CODE_PATH)
    with pytest.raises(InvalidModelPackage, match="network.params do not fit") as err:
        build_model(spec, CPU)
    assert str(err.value).startswith("model.json:")  # this one is model.json's problem


# --- 2. model.json is bounded and a regular file ------------------------------------------


def test_an_oversized_model_json_is_refused_without_reading_it(tmp_path: Path) -> None:
    pkg = write_package(tmp_path / "p")
    with open(pkg / "model.json", "w", encoding="utf-8") as fh:
        fh.write("{" + " " * MAX_MODEL_JSON_BYTES + "}")
    with pytest.raises(InvalidModelPackage, match=r"too large \(1,000,002 bytes"):
        load_model_spec(pkg)


def _load_in_thread(folder: Path) -> BaseException | None:
    result: list[BaseException | None] = []

    def run() -> None:
        try:
            load_model_spec(folder)
            result.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "reading model.json hangs"
    return result[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_fifo_or_device_model_json_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "model.json")
    err = _load_in_thread(fifo)
    assert isinstance(err, InvalidModelPackage)
    assert "not a regular file (it is a named pipe (FIFO))" in str(err)
    device = tmp_path / "device"
    device.mkdir()
    (device / "model.json").symlink_to("/dev/zero")
    err = _load_in_thread(device)
    assert isinstance(err, InvalidModelPackage) and "it is a device" in str(err)


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    pkg = write_package(tmp_path / "p")
    (pkg / "model.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(base_json()).encode())
    assert load_model_spec(pkg).name == "threshold"


def test_unreadable_json_values_are_clear_errors(tmp_path: Path) -> None:
    pkg = write_package(tmp_path / "p")
    (pkg / "model.json").write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    with pytest.raises(InvalidModelPackage, match="nested too deeply"):
        load_model_spec(pkg)
    (pkg / "model.json").write_text('{"format": ' + "9" * 20_000 + "}", encoding="utf-8")
    with pytest.raises(InvalidModelPackage, match="number that cannot be read") as err:
        load_model_spec(pkg)
    assert "sys.set_int_max_str_digits" not in str(err.value)


# --- 3. non-finite outputs are refused ------------------------------------------------------


def _invalid_values_spec(tmp_path: Path, threshold: float | None, value: str):
    data = base_json()
    data["network"] = {"type": "plugin", "entry": "tests.ai._nets:build_invalid_values",
                       "params": {"threshold": threshold, "value": value},
                       "weights": "weights.safetensors"}
    return load_spec(write_package(tmp_path / f"p{threshold}{value}", data))


def _bright_slices(n: int = 25, bright: int = 3) -> Volume:
    arr = np.zeros((n, 16, 16), np.int16)
    arr[:bright] = 100
    return Volume(arr)


def test_nan_everywhere_is_refused(tmp_path: Path) -> None:
    spec = _invalid_values_spec(tmp_path, None, "nan")
    with pytest.raises(InvalidModelOutput,
                       match=r"invalid values \(NaN\) in all of the image.*no result"):
        segment(_bright_slices(), spec, OPTIONS)


def test_nan_in_part_of_the_image_is_refused_with_its_share(tmp_path: Path) -> None:
    spec = _invalid_values_spec(tmp_path, 50.0, "nan")
    with pytest.raises(InvalidModelOutput, match=r"\(NaN\) in 12% of the image") as err:
        segment(_bright_slices(25, 3), spec, OPTIONS)  # 3 of 25 slices: 12%
    assert "768 of 6,400 voxels" in str(err.value)
    # the padding around a small image does not count: 2 of 4 slices, padded to 16
    with pytest.raises(InvalidModelOutput, match=r"in 50% of the image"):
        segment(_bright_slices(4, 2), spec, OPTIONS)


def test_infinite_values_are_refused(tmp_path: Path) -> None:
    spec = _invalid_values_spec(tmp_path, 50.0, "inf")
    with pytest.raises(InvalidModelOutput, match=r"\(infinite\) in 12%"):
        segment(_bright_slices(), spec, InferenceOptions(device="cpu", mirror_tta=True))


def test_finite_values_pass_and_an_overflowing_sum_is_not_a_false_alarm() -> None:
    check_finite(torch.randn(3, 4, 5, 6))
    check_finite(torch.full((2, 64, 64, 64), 3e38))  # the sum overflows; every value is fine
    bad = torch.zeros(2, 10, 10, 10)
    bad[1, 0, 0, 0] = float("nan")
    bad[0, 1, 0, 0] = float("-inf")
    with pytest.raises(InvalidModelOutput, match=r"\(NaN and infinite\) in less than 1%"):
        check_finite(bad)


# --- 4. output channels against model.json --------------------------------------------------


def test_more_channels_than_declared_is_refused(tmp_path: Path) -> None:
    data = base_json()
    data["network"]["entry"] = "tests.ai._nets:build_wide"
    spec = load_spec(write_package(tmp_path / "p", data))
    with pytest.raises(InvalidModelPackage, match=r"gives 3 output channel\(s\); model.json "
                                                  r"declares 2"):
        segment(_bright_slices(), spec, OPTIONS)


@pytest.mark.parametrize(("output", "labels", "needle"), [
    ({"activation": "softmax", "channels": 3}, 1, "output.channels is 3 but labels declares 1 "
                                                  "label: softmax"),
    ({"activation": "sigmoid", "channels": 2}, 1, "output.channels is 2 but labels declares 1 "
                                                  "label: sigmoid"),
    ({"activation": "softmax", "channels": 2}, 2, "value 2 has no output channel"),
])
def test_channels_must_match_the_declared_labels(tmp_path: Path, output: dict, labels: int,
                                                 needle: str) -> None:
    data = base_json(output=output,
                     labels=[{"value": v, "name": f"l{v}"} for v in range(1, labels + 1)])
    with pytest.raises(InvalidModelPackage) as err:
        parse_model_spec(data, write_package(tmp_path / "p"))
    assert any(needle in p for p in err.value.problems), err.value.problems


# --- messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["build", "forward"])
def test_a_plugins_own_value_error_stays_its_own(tmp_path: Path, where: str) -> None:
    data = base_json()
    data["network"] = {"type": "plugin", "entry": "tests.ai._nets:build_raising",
                       "params": {"where": where}}
    spec = load_spec(write_package(tmp_path / "p", data))
    with pytest.raises(_nets.PluginBug, match=f"own bug.*{'building' if where == 'build' else ''}"
                       ) as err:
        segment(_bright_slices(), spec, OPTIONS)
    assert not isinstance(err.value, InvalidModelPackage)
    assert "model.json" not in str(err.value)


@pytest.mark.parametrize(("kind", "what"), [("numpy", "a numpy.ndarray"), ("none", "None")])
def test_forward_returning_something_else_than_a_tensor(tmp_path: Path, kind: str,
                                                        what: str) -> None:
    data = base_json()
    data["network"]["entry"] = "tests.ai._nets:build_not_a_tensor"
    data["network"]["params"] = {"kind": kind}
    spec = load_spec(write_package(tmp_path / "p", data))
    message = f"The network returned {what} instead of a tensor."
    with pytest.raises(InvalidModelOutput, match=message.replace(".", r"\.")):
        segment(_bright_slices(), spec, OPTIONS)  # concurrent CPU workers
    with pytest.raises(InvalidModelOutput, match=message.replace(".", r"\.")):
        sliding_window_inference(torch.zeros(1, 16, 16, 16), _nets.NotATensorNet(kind),
                                 (16, 16, 16), workers=1)


def test_onnx_without_onnxruntime_is_unavailable_with_a_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    pkg = tmp_path / "o"
    pkg.mkdir()
    (pkg / "model.onnx").write_bytes(b"not really onnx")
    spec = load_model_spec(write_package(pkg, base_json(network={"type": "onnx",
                                                                 "file": "model.onnx"})))
    assert spec.missing_requirements() == ["onnxruntime"]
    assert spec.unavailable_reason() == ("needs the Python package onnxruntime: "
                                         "pip install onnxruntime")
    builtin = load_model_spec(write_package(tmp_path / "b", base_json(
        network={"type": "builtin", "name": "unet3d", "weights": "weights.safetensors"})))
    assert builtin.missing_requirements() == [] and builtin.unavailable_reason() is None
    plugin = load_spec(write_package(tmp_path / "p"))
    assert plugin.unavailable_reason() is None
