"""Manifest validation: each refusal reason, before any plugin code is imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interval.plugins.api import API_VERSION
from interval.plugins.manifest import (
    InvalidManifest,
    api_compatible,
    code_path_for_model,
    read_manifest,
)
from tests.plugins.conftest import MODEL_JSON, manifest, write_plugin


def _refusal(tmp_path: Path, data: dict | str, models: dict | None = None) -> str:
    folder = write_plugin(tmp_path, "p", data, models)
    with pytest.raises(InvalidManifest) as info:
        read_manifest(folder / "interval-plugin.json")
    return str(info.value)


def test_valid_manifest_is_read_with_all_fields(tmp_path: Path) -> None:
    data = manifest(
        "org.example.liver-seg", description="Liver", author="A. Researcher",
        license="MIT", homepage="https://example.org",
        contributes={
            "segmentation_models": ["models/liver"],
            "longitudinal_analyzers": [
                {"id": "growth", "name": "Growth", "entry": "liver_plugin.growth:Growth"}
            ],
        },
        python={"module": "liver_plugin", "path": "src"},
    )
    folder = write_plugin(tmp_path, "p", data, {"models/liver": MODEL_JSON})
    (folder / "src").mkdir()
    m = read_manifest(folder / "interval-plugin.json")
    assert (m.id, m.name, m.version, m.interval_api) == (
        "org.example.liver-seg", "Plugin org.example.liver-seg", "1.0.0", ">=1.0,<2")
    assert (m.author, m.license, m.homepage) == ("A. Researcher", "MIT", "https://example.org")
    assert m.segmentation_models == ("models/liver",)
    assert [(a.id, a.entry) for a in m.longitudinal_analyzers] == [
        ("growth", "liver_plugin.growth:Growth")]
    assert m.python_module == "liver_plugin"
    assert m.code_path == folder / "src"
    assert m.folder == folder


def test_not_valid_json_names_the_line(tmp_path: Path) -> None:
    text = '{\n  "id": "org.x.y",\n  "name": "x"\n  "version": "1.0.0"\n}\n'
    reason = _refusal(tmp_path, text)
    assert reason.startswith("the manifest is not valid JSON (line 4")


def test_manifest_must_be_an_object(tmp_path: Path) -> None:
    assert _refusal(tmp_path, "[1, 2]") == "manifest must be a JSON object, not a list"


def test_missing_required_fields_are_named(tmp_path: Path) -> None:
    reason = _refusal(tmp_path, manifest(version=None, interval_api=None))
    assert "missing required fields 'version', 'interval_api'" in reason


def test_unknown_keys_are_refused_by_name(tmp_path: Path) -> None:
    reason = _refusal(tmp_path, manifest(entry_point="x", licence="MIT"))
    assert "unknown keys in the manifest: 'entry_point', 'licence'" in reason
    data = manifest(contributes={"segmentation_models": [], "viewers": []})
    assert "unknown key in 'contributes': 'viewers'" in _refusal(tmp_path, data)


@pytest.mark.parametrize("pid", ["Org.Example", "org..example", "-org", "org example", "", 5])
def test_bad_ids_are_refused(tmp_path: Path, pid: object) -> None:
    assert "is not a valid id" in _refusal(tmp_path, manifest(pid))  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0.0", "01.0.0", 1])
def test_versions_must_be_semver(tmp_path: Path, version: object) -> None:
    reason = _refusal(tmp_path, manifest(version=version))
    assert "is not a semantic version" in reason


def test_semver_prerelease_and_build_are_accepted(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path, "p", manifest(version="2.1.0-rc.1+build.5"))
    assert read_manifest(folder / "interval-plugin.json").version == "2.1.0-rc.1+build.5"


def test_incompatible_api_is_refused_with_both_versions(tmp_path: Path) -> None:
    reason = _refusal(tmp_path, manifest(interval_api=">=2"))
    assert reason == f"requires Interval API >=2 but this is {API_VERSION}"


def test_api_specifier_must_parse_and_not_be_empty(tmp_path: Path) -> None:
    assert "is not a version specifier" in _refusal(tmp_path, manifest(interval_api="1.0+"))
    assert "must name the Interval API versions" in _refusal(tmp_path, manifest(interval_api=""))


def test_api_compatibility_follows_pep440() -> None:
    assert api_compatible(">=1.0,<2", "1.0")
    assert api_compatible("~=1.0", "1.7")
    assert not api_compatible("~=1.1", "1.0")
    assert not api_compatible(">=1.0,<2", "2.0")


def test_model_folder_without_model_json(tmp_path: Path) -> None:
    data = manifest(contributes={"segmentation_models": ["models/x"]})
    folder = write_plugin(tmp_path, "p", data)
    (folder / "models" / "x").mkdir(parents=True)
    with pytest.raises(InvalidManifest, match=r"model folder models/x has no model\.json"):
        read_manifest(folder / "interval-plugin.json")


def test_missing_model_folder(tmp_path: Path) -> None:
    data = manifest(contributes={"segmentation_models": ["models/x"]})
    assert "model folder models/x does not exist" in _refusal(tmp_path, data)


@pytest.mark.parametrize("rel", ["../outside", "/etc", "models/../../outside"])
def test_contribution_paths_stay_inside_the_plugin(tmp_path: Path, rel: str) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "model.json").write_text(json.dumps(MODEL_JSON))
    data = manifest(contributes={"segmentation_models": [rel]})
    reason = _refusal(tmp_path, data)
    assert "leaves the plugin folder" in reason or "must be relative" in reason


def test_symlink_escaping_the_plugin_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "model.json").write_text(json.dumps(MODEL_JSON))
    folder = write_plugin(tmp_path, "p", manifest(contributes={"segmentation_models": ["m"]}))
    (folder / "m").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(InvalidManifest, match="'m' leaves the plugin folder"):
        read_manifest(folder / "interval-plugin.json")


def test_analyzer_declarations_are_checked(tmp_path: Path) -> None:
    analyzers = [
        {"id": "a", "name": "A", "entry": "not an entry"},
        {"id": "b", "name": "B"},
        {"id": "c", "name": "C", "entry": "m:C", "colour": "red"},
        {"id": "d", "name": "D", "entry": "m:D"},
        {"id": "d", "name": "D2", "entry": "m:D2"},
    ]
    reason = _refusal(tmp_path, manifest(contributes={"longitudinal_analyzers": analyzers}))
    assert "longitudinal analyzer 1 entry 'not an entry' is not 'package.module:Attribute'" in reason
    assert "longitudinal analyzer 2 has no 'entry'" in reason
    assert "unknown key in longitudinal analyzer 3: 'colour'" in reason
    assert "longitudinal analyzer id 'd' is used twice" in reason


def test_python_section_is_checked(tmp_path: Path) -> None:
    reason = _refusal(tmp_path, manifest(python={"module": "2bad", "path": "../x", "cls": 1}))
    assert "python module '2bad' is not a Python module name" in reason
    assert "python path '../x' leaves the plugin folder" in reason
    assert "unknown key in 'python': 'cls'" in reason


def test_wrong_types_are_reported(tmp_path: Path) -> None:
    reason = _refusal(tmp_path, manifest(name=3, contributes={"segmentation_models": "m"}))
    assert "'name' must be text, not a number" in reason
    assert "'segmentation_models' must be a list of model folders, not a string" in reason


def test_all_problems_are_listed_at_once(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path, "p", manifest("Bad Id", version="x", interval_api=">=9"))
    with pytest.raises(InvalidManifest) as info:
        read_manifest(folder / "interval-plugin.json")
    assert len(info.value.problems) == 3


def test_code_path_of_a_plain_folder_and_of_a_package(tmp_path: Path) -> None:
    plain = write_plugin(tmp_path, "plain", manifest())
    assert read_manifest(plain / "interval-plugin.json").code_path == plain
    pkg = write_plugin(tmp_path / "dist", "my_pkg", manifest(),
                       {"models/m": MODEL_JSON})
    (pkg / "__init__.py").write_text("")
    assert read_manifest(pkg / "interval-plugin.json").code_path == tmp_path / "dist"
    # the engine finds the code path of a model folder from the manifest above it
    assert code_path_for_model(pkg / "models" / "m") == (tmp_path / "dist").resolve()
    assert code_path_for_model(tmp_path / "nowhere") is None


def test_requires_lists_top_level_import_names(tmp_path: Path) -> None:
    path = write_plugin(tmp_path, "r", manifest(requires=["numpy", "deepbet", "numpy"]))
    assert read_manifest(path / "interval-plugin.json").requires == ("numpy", "deepbet")
    assert read_manifest(write_plugin(tmp_path, "n", manifest()) /
                         "interval-plugin.json").requires == ()
    for bad, needle in [("deepbet", "'requires' must be a list"),
                        (["deep.bet"], "'requires' item 'deep.bet' is not a top-level import"),
                        (["pip install x"], "is not a top-level import name"),
                        ([3], "'requires' item 3")]:
        folder = write_plugin(tmp_path, f"bad{abs(hash(str(bad)))}", manifest(requires=bad))
        with pytest.raises(InvalidManifest, match=needle):
            read_manifest(folder / "interval-plugin.json")
