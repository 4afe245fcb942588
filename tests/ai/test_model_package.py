"""model.json validation: every problem named, typed errors, torch-free loading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from interval.ai.errors import InvalidModelPackage
from interval.ai.model_package import load_model_spec, parse_model_spec
from interval.core.errors import IntervalError
from tests.ai._packages import base_json, write_package
from tests.conftest import REPO_ROOT


def _problems(tmp_path: Path, data: object) -> list[str]:
    pkg = write_package(tmp_path / "pkg", base_json())
    (pkg / "model.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InvalidModelPackage) as err:
        load_model_spec(pkg)
    assert isinstance(err.value, IntervalError)
    assert err.value.problems, "each finding is listed"
    return err.value.problems


def test_valid_package_parses(tmp_path: Path) -> None:
    data = base_json(
        target_spacing=[0.8, 0.8, 2.0], orientation="ras",
        normalization={"scheme": "ct", "clip": [-1000, 1000], "mean": 10, "std": 200},
        postprocess={"largest_component": [1], "min_island_mm3": {"1": 50}},
    )
    spec = load_model_spec(write_package(tmp_path / "p", data))
    assert spec.name == "threshold" and spec.version == "1.0.0"
    assert spec.orientation == "RAS"
    assert spec.target_spacing == (0.8, 0.8, 2.0)
    assert spec.patch_size == (16, 16, 16)
    assert spec.normalization.clip == (-1000.0, 1000.0) and spec.normalization.std == 200
    assert spec.network.type == "plugin" and spec.network.params == {"threshold": 50.0}
    assert spec.weights_path == (tmp_path / "p" / "weights.safetensors").resolve()
    assert spec.postprocess.largest_component == (1,)
    assert spec.postprocess.min_island_mm3 == {1: 50.0}
    table = spec.label_table
    assert table[1].name == "bright" and table[1].color == (255, 0, 0)
    assert spec.accepts_modality("ct") and not spec.accepts_modality("MR")


def test_any_modality_and_default_colour(tmp_path: Path) -> None:
    data = base_json(modality="any", labels=[{"value": 1, "name": "x"}])
    spec = load_model_spec(write_package(tmp_path / "p", data))
    assert spec.modality == () and spec.accepts_modality("MR")
    assert len(spec.labels[0].color) == 3


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"extra_key": 1}, "unknown key(s) 'extra_key'"),
        ({"format": 2}, "format 2 is not supported"),
        ({"task": "classification"}, "task must be one of"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"labels": []}, "labels must be a non-empty array"),
        ({"labels": [{"value": 1, "name": "a"}, {"value": 1, "name": "b"}]}, "used twice"),
        ({"labels": [{"value": 0, "name": "bg"}]}, "labels[0].value must be in 1..65535"),
        ({"labels": [{"value": 1, "name": "a", "color": [300, 0, 0]}]}, "three integers 0-255"),
        ({"labels": [{"value": 1, "name": "a", "colour": [1, 2, 3]}]}, "unknown key(s) 'colour'"),
        ({"target_spacing": [1, 1]}, "target_spacing must be three numbers"),
        ({"target_spacing": [1, 0, 1]}, "target_spacing[1] must be > 0"),
        ({"orientation": "LLS"}, "must name each of L/R, A/P and S/I"),
        ({"patch_size": [16, 16, 0]}, "patch_size[2] must be in 1..4096"),
        ({"patch_size": [16.5, 16, 16]}, "patch_size[0] must be an integer"),
        ({"normalization": {"scheme": "magic"}}, "normalization.scheme must be one of"),
        ({"normalization": {"scheme": "ct", "clip": [100, -100], "mean": 0, "std": 1}},
         "clip low 100 must be below high -100"),
        ({"normalization": {"scheme": "ct", "clip": [-1, 1], "mean": 0, "std": 0}},
         "normalization.std must be > 0"),
        ({"normalization": {"scheme": "zscore_percentile", "lower": 99, "upper": 1}},
         "lower 99 must be below upper 1"),
        ({"normalization": {"scheme": "none", "clip": [0, 1]}}, "unknown key(s) 'clip'"),
        ({"network": {"type": "keras", "file": "m.h5"}}, "network.type must be one of"),
        ({"network": {"type": "torchscript", "file": "missing.pt"}}, "is missing"),
        ({"network": {"type": "torchscript", "file": "../outside.pt"}}, "inside the model"),
        ({"network": {"type": "onnx", "file": "weights.safetensors"}}, "must end with"),
        ({"network": {"type": "plugin", "entry": "no_colon", "weights": "weights.safetensors"}},
         "must look like"),
        ({"network": {"type": "builtin", "weights": "weights.safetensors"}},
         "missing required key(s) 'name'"),
        ({"output": {"activation": "softmax", "channels": 1}}, "at least 2 with softmax"),
        ({"output": {"activation": "relu", "channels": 2}}, "output.activation must be one of"),
        ({"labels": [{"value": 2, "name": "a"}]}, "value 2 has no output channel"),
        ({"inference": {"overlap": 1.0}}, "inference.overlap must be < 1"),
        ({"inference": {"batch_size": 0}}, "inference.batch_size must be in 1..1024"),
        ({"inference": {"mirror_tta": "yes"}}, "must be true or false"),
        ({"inference": {"pad_value": "max"}}, "inference.pad_value"),
        ({"inference": {"average": "softmax"}}, "inference.average must be one of"),
        ({"postprocess": {"largest_component": [7]}}, "label 7 is not in labels"),
        ({"postprocess": {"min_island_mm3": {"1": -5}}}, "must be >= 0"),
    ],
)
def test_each_problem_is_reported(tmp_path: Path, change: dict, needle: str) -> None:
    problems = _problems(tmp_path, base_json(**change))
    assert any(needle in p for p in problems), problems


def test_missing_required_keys_and_all_problems_listed(tmp_path: Path) -> None:
    data = base_json(format=3, bogus=True)
    del data["patch_size"]
    problems = _problems(tmp_path, data)
    text = " | ".join(problems)
    assert "missing required key(s) 'patch_size'" in text
    assert "unknown key(s) 'bogus'" in text and "format 3" in text
    assert len(problems) >= 3


def test_not_an_object(tmp_path: Path) -> None:
    assert "must be a JSON object" in _problems(tmp_path, [1, 2])[0]


def test_missing_json_folder_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(InvalidModelPackage, match="does not exist"):
        load_model_spec(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidModelPackage, match="has no model.json"):
        load_model_spec(tmp_path / "empty")
    (tmp_path / "empty" / "model.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(InvalidModelPackage, match="not valid JSON .line 1"):
        load_model_spec(tmp_path / "empty")


def test_parse_accepts_dict(tmp_path: Path) -> None:
    write_package(tmp_path / "p")
    spec = parse_model_spec(base_json(), tmp_path / "p")
    assert spec.output.channels == 2


def test_import_interval_ai_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import interval.ai, interval.ai.model_package, interval.ai.errors, "
        "interval.ai.options, interval.ai.engine_bridge\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]\n"
        "print(len(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=60, check=True)
    assert out.stdout.strip() == "0", out.stdout + out.stderr


def test_whole_volume_mode_needs_no_patch_size(tmp_path: Path) -> None:
    data = base_json(inference={"mode": "whole", "mirror_tta": True})
    del data["patch_size"]
    spec = load_model_spec(write_package(tmp_path / "w", data))
    assert spec.inference.mode == "whole" and spec.inference.mirror_tta
    assert spec.patch_size is None
    # a patch given anyway is validated, then ignored
    spec2 = load_model_spec(write_package(tmp_path / "w2", base_json(inference={"mode": "whole"})))
    assert spec2.patch_size is None
    assert load_model_spec(write_package(tmp_path / "s", base_json())).inference.mode == \
        "sliding_window"
    problems = _problems(tmp_path / "bad", base_json(inference={"mode": "tiles"}))
    assert any("inference.mode must be one of 'sliding_window', 'whole'" in p for p in problems)


def test_plugin_network_weights_are_optional(tmp_path: Path) -> None:
    data = base_json()
    del data["network"]["weights"]
    spec = load_model_spec(write_package(tmp_path / "p", data))
    assert spec.network.weights is None and spec.weights_path is None
    builtin = base_json(network={"type": "builtin", "name": "unet3d"})
    problems = _problems(tmp_path / "b", builtin)
    assert any("missing required key(s) 'weights'" in p for p in problems), problems
    missing = base_json()
    missing["network"]["weights"] = "nowhere.safetensors"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.json").write_text(json.dumps(missing), encoding="utf-8")
    with pytest.raises(InvalidModelPackage, match="is missing"):
        load_model_spec(tmp_path / "m")


# --- confidence section (issue 13) -------------------------------------------------------


def test_confidence_section_parses(tmp_path: Path) -> None:
    from interval.ai.model_package import ConfidenceSpec

    two = base_json(labels=[{"value": 1, "name": "lesion"}, {"value": 2, "name": "lymph node"}],
                    output={"activation": "softmax", "channels": 3},
                    confidence={"labels": [2, 1], "equivocal_below": 0.62})
    spec = load_model_spec(write_package(tmp_path / "a", two))
    assert spec.confidence == ConfidenceSpec((1, 2), 0.62)
    uncalibrated = base_json(confidence={"labels": [1], "equivocal_below": None})
    assert load_model_spec(write_package(tmp_path / "b", uncalibrated)).confidence == \
        ConfidenceSpec((1,), None)
    bare = base_json(confidence={"labels": [1]})
    assert load_model_spec(write_package(tmp_path / "c", bare)).confidence == ConfidenceSpec((1,))
    assert load_model_spec(write_package(tmp_path / "d", base_json())).confidence is None
    both = base_json(confidence={"labels": [1], "equivocal_below": 0.7, "drop_below": 0.6})
    assert load_model_spec(write_package(tmp_path / "e", both)).confidence == \
        ConfidenceSpec((1,), 0.7, 0.6)
    alone = base_json(confidence={"labels": [1], "drop_below": 0.6})
    assert load_model_spec(write_package(tmp_path / "f", alone)).confidence == \
        ConfidenceSpec((1,), None, 0.6)


@pytest.mark.parametrize(
    ("confidence", "needle"),
    [
        ([1], "confidence must be a JSON object, got an array"),
        ("lesion", "confidence must be a JSON object"),
        ({}, "confidence: missing required key(s) 'labels'"),
        ({"labels": [1], "threshold": 0.5}, "confidence: unknown key(s) 'threshold'"),
        ({"labels": []}, "confidence.labels must be a non-empty list"),
        ({"labels": 1}, "confidence.labels must be a non-empty list"),
        ({"labels": None}, "confidence.labels must be a non-empty list"),
        ({"labels": [3]}, "confidence.labels: label 3 is not in labels"),
        ({"labels": [1, 1]}, "confidence.labels: label 1 is listed twice"),
        ({"labels": [True]}, "confidence.labels[0] must be an integer, got boolean true"),
        ({"labels": [1.0]}, "confidence.labels[0] must be an integer"),
        ({"labels": ["1"]}, "confidence.labels[0] must be an integer"),
        ({"labels": [0]}, "confidence.labels[0] must be in 1..65535"),
        ({"labels": [1], "equivocal_below": 0}, "confidence.equivocal_below must be > 0"),
        ({"labels": [1], "equivocal_below": 1}, "confidence.equivocal_below must be < 1"),
        ({"labels": [1], "equivocal_below": 1.5}, "confidence.equivocal_below must be < 1"),
        ({"labels": [1], "equivocal_below": -0.2}, "confidence.equivocal_below must be > 0"),
        ({"labels": [1], "equivocal_below": "0.6"}, "must be a finite number, got string"),
        ({"labels": [1], "equivocal_below": True}, "must be a finite number, got boolean"),
        ({"labels": [1], "equivocal_below": [0.6]}, "must be a finite number, got an array"),
        ({"labels": [1], "equivocal_below": float("nan")}, "must be a finite number"),
        ({"labels": [1], "equivocal_below": float("inf")}, "must be a finite number"),
        ({"labels": [1], "drop_below": 0}, "confidence.drop_below must be > 0"),
        ({"labels": [1], "drop_below": 1}, "confidence.drop_below must be < 1"),
        ({"labels": [1], "drop_below": "0.5"}, "must be a finite number, got string"),
        ({"labels": [1], "equivocal_below": 0.6, "drop_below": 0.7},
         "confidence.drop_below (0.7) must not be above equivocal_below (0.6)"),
    ],
)
def test_confidence_problems_are_reported(tmp_path: Path, confidence: object,
                                          needle: str) -> None:
    problems = _problems(tmp_path, base_json(confidence=confidence))
    assert any(needle in p for p in problems), problems


def test_confidence_needs_softmax(tmp_path: Path) -> None:
    data = base_json(output={"activation": "sigmoid", "channels": 1},
                     confidence={"labels": [1], "equivocal_below": 0.5})
    data["network"]["entry"] = "tests.ai._nets:build_sigmoid"
    problems = _problems(tmp_path, data)
    assert any("confidence needs a softmax output" in p for p in problems), problems


def test_the_bundled_model_json_keeps_parsing_with_a_confidence_section(tmp_path: Path) -> None:
    """The phantom package's own model.json plus a confidence section (as the calibration
    script writes it) is valid, and its lesion labels are what the section names."""
    import shutil

    folder = REPO_ROOT / "plugins" / "interval_unet" / "models" / "phantom-ct"
    copy = tmp_path / "phantom"
    shutil.copytree(folder, copy)
    data = json.loads((copy / "model.json").read_text(encoding="utf-8"))
    lesions = [li["value"] for li in data["labels"] if li["name"] in ("lesion", "lymph node")]
    data["confidence"] = {"labels": lesions, "equivocal_below": 0.5}
    (copy / "model.json").write_text(json.dumps(data), encoding="utf-8")
    spec = load_model_spec(copy)
    assert spec.confidence is not None and spec.confidence.labels == tuple(lesions)
