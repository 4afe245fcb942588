"""Discovery and the registry: folders, INTERVAL_PLUGIN_PATH, entry points, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interval.plugins import discover_plugins, discovery
from interval.plugins.api import PluginError
from interval.plugins.registry import MinimalModelSpec, _minimal_spec
from tests.conftest import REPO_ROOT
from tests.plugins.conftest import (
    EXAMPLE_ID,
    EXAMPLE_MODEL,
    EXAMPLE_SRC,
    manifest,
    model_plugin,
    write_plugin,
)

ONLY_FOLDERS = {"include_entry_points": False, "include_first_party": False}


def test_importing_the_plugin_api_imports_neither_torch_nor_qt() -> None:
    code = (
        "import sys, interval.plugins, interval.plugins.api;"
        "r = interval.plugins.discover_plugins();"
        "bad = [m for m in ('torch', 'PySide6', 'vtk', 'interval_example_threshold') "
        "if m in sys.modules];"
        "assert r.plugins, 'the built-in example was not found';"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120, cwd=REPO_ROOT)
    assert out.stdout.strip() == "[]"


def test_a_folder_of_plugins_and_a_plugin_folder_itself(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    model_plugin(root, "one", "org.test.one", "model-one")
    model_plugin(root, "two", "org.test.two", "model-two")
    reg = discover_plugins([root], **ONLY_FOLDERS)
    assert [p.id for p in reg.plugins] == ["org.test.one", "org.test.two"]
    assert reg.refused == []
    assert all(p.source.kind == "--plugins-dir" for p in reg.plugins)
    reg = discover_plugins([root / "two"], **ONLY_FOLDERS)
    assert [p.id for p in reg.plugins] == ["org.test.two"]


def test_models_carry_spec_modality_labels_and_code_path(tmp_path: Path) -> None:
    folder = model_plugin(tmp_path, "p", "org.test.p", "brain-mask")
    reg = discover_plugins([folder], **ONLY_FOLDERS)
    (entry,) = reg.segmentation_models()
    assert (entry.plugin_id, entry.model_id) == ("org.test.p", "brain-mask")
    assert entry.qualified_id == "org.test.p:brain-mask"
    assert entry.folder == folder / "models" / "m"
    assert entry.code_path == folder
    assert entry.modalities == ("MR",)
    assert [lab.name for lab in entry.spec.labels] == ["brain"]
    assert reg.segmentation_models(modality="MR") == [entry]
    assert reg.segmentation_models(modality="CT") == []
    assert reg.find_segmentation_model("brain-mask") is entry
    assert reg.find_segmentation_model("org.test.p:brain-mask") is entry
    with pytest.raises(PluginError, match="no segmentation model called 'liver'; available: "
                                          "brain-mask"):
        reg.find_segmentation_model("liver")


def test_same_model_name_in_two_plugins_needs_the_qualified_name(tmp_path: Path) -> None:
    model_plugin(tmp_path / "r", "a", "org.test.a", "same")
    model_plugin(tmp_path / "r", "b", "org.test.b", "same")
    reg = discover_plugins([tmp_path / "r"], **ONLY_FOLDERS)
    with pytest.raises(PluginError, match="org.test.a:same, org.test.b:same"):
        reg.find_segmentation_model("same")
    assert reg.find_segmentation_model("org.test.b:same").plugin_id == "org.test.b"


def test_interval_plugin_path_and_user_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_search: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    model_plugin(a, "pa", "org.test.env-a")
    model_plugin(b, "pb", "org.test.env-b")
    model_plugin(isolated_search, "pu", "org.test.user")
    monkeypatch.setenv("INTERVAL_PLUGIN_PATH", f"{a}{os.pathsep}{b}{os.pathsep}")
    reg = discover_plugins(**ONLY_FOLDERS)
    assert [(p.id, p.source.kind) for p in reg.plugins] == [
        ("org.test.user", "user folder"),
        ("org.test.env-a", "INTERVAL_PLUGIN_PATH"),
        ("org.test.env-b", "INTERVAL_PLUGIN_PATH"),
    ]
    assert discovery.user_plugin_dir() == isolated_search


def test_missing_folder_on_the_path_is_reported(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERVAL_PLUGIN_PATH", str(tmp_path / "gone"))
    reg = discover_plugins(**ONLY_FOLDERS)
    (r,) = reg.refused
    assert r.reason == f"folder {tmp_path / 'gone'} does not exist"
    assert r.source.kind == "INTERVAL_PLUGIN_PATH"


def test_the_bundled_example_is_found_in_a_source_checkout() -> None:
    reg = discover_plugins(include_entry_points=False)
    plugin = reg.get(EXAMPLE_ID)
    assert plugin is not None and plugin.source.kind == "bundled"
    assert plugin.path == EXAMPLE_SRC / "interval_example_threshold"
    assert plugin.manifest.code_path == EXAMPLE_SRC
    assert [m.model_id for m in plugin.segmentation_models] == [EXAMPLE_MODEL]
    assert not any(r.name.startswith(EXAMPLE_ID) for r in reg.refused)


def test_broken_plugins_are_refused_and_the_others_still_load(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    model_plugin(root, "a_good", "org.test.good")
    write_plugin(root, "b_bad_json", '{\n  "id": "org.test.json",\n  "name": \n}')
    write_plugin(root, "c_future", manifest("org.test.future", interval_api=">=2,<3"))
    write_plugin(root, "d_no_model", manifest(
        "org.test.nomodel", contributes={"segmentation_models": ["models/x"]}))
    (root / "d_no_model" / "models" / "x").mkdir(parents=True)
    model_plugin(root, "e_duplicate", "org.test.good")
    bad_model = model_plugin(root, "f_bad_model", "org.test.badmodel")
    (bad_model / "models" / "m" / "model.json").write_text(json.dumps({"name": "x"}))
    (root / "g_not_a_plugin").mkdir()

    reg = discover_plugins([root], **ONLY_FOLDERS)
    assert [p.id for p in reg.plugins] == ["org.test.good"]
    reasons = {r.name: r.reason for r in reg.refused}
    assert reasons["b_bad_json"].startswith("the manifest is not valid JSON (line 4")
    assert reasons["org.test.future"] == "requires Interval API >=2,<3 but this is 1.1"
    assert reasons["org.test.nomodel"] == "model folder models/x has no model.json"
    # two copies in non-bundled folders: the first found wins, the refusal names both folders
    assert reasons["org.test.good"] == (
        f"plugin id org.test.good is already provided by the plugin (version 1.0.0) from "
        f"--plugins-dir at {root / 'a_good'}; this copy at {root / 'e_duplicate'} was not loaded")
    assert reasons["org.test.badmodel"].startswith("model folder models/m: ")
    assert len(reg.refused) == 5  # the empty folder is not a plugin: silently ignored


def test_analyzer_code_is_imported_only_when_used(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path, "p", manifest("org.test.an", contributes={
        "longitudinal_analyzers": [
            {"id": "ok", "name": "Works", "entry": "an_ok_pkg.mod:Analyzer"},
            {"id": "broken", "name": "Broken", "entry": "an_broken_pkg:Analyzer"},
            {"id": "noanalyze", "name": "No method", "entry": "an_ok_pkg.mod:NotAnAnalyzer"},
        ]}))
    (folder / "an_ok_pkg").mkdir()
    (folder / "an_ok_pkg" / "__init__.py").write_text("")
    (folder / "an_ok_pkg" / "mod.py").write_text(
        "from interval.plugins.api import LongitudinalResult\n"
        "class Analyzer:\n"
        "    def analyze(self, timepoints, *, progress=None, cancel=None):\n"
        "        return LongitudinalResult(summary=f'{len(timepoints)} timepoints')\n"
        "class NotAnAnalyzer:\n"
        "    pass\n"
    )
    (folder / "an_broken_pkg.py").write_text("import a_module_that_does_not_exist\n")
    reg = discover_plugins([folder], **ONLY_FOLDERS)
    assert [a.analyzer_id for a in reg.longitudinal_analyzers()] == ["ok", "broken", "noanalyze"]
    assert "an_ok_pkg" not in sys.modules and "an_broken_pkg" not in sys.modules
    try:
        analyzer = reg.load_longitudinal_analyzer("ok")
        assert analyzer is not None and analyzer.analyze([]).summary == "0 timepoints"
        assert reg.load_longitudinal_analyzer("org.test.an:broken") is None
        assert reg.load_longitudinal_analyzer("broken") is None  # reported once
        assert reg.load_longitudinal_analyzer("noanalyze") is None
    finally:
        for name in ("an_ok_pkg", "an_ok_pkg.mod", "an_broken_pkg"):
            sys.modules.pop(name, None)
        sys.path[:] = [p for p in sys.path if p != str(folder)]
    reasons = {r.name: r.reason for r in reg.refused}
    assert reasons["org.test.an:broken"] == (
        "longitudinal analyzer 'broken' of plugin org.test.an could not be loaded: "
        "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'")
    assert "has no analyze() method" in reasons["org.test.an:noanalyze"]
    assert len(reg.refused) == 2
    assert [p.id for p in reg.plugins] == ["org.test.an"]  # the plugin itself stays loaded


def test_entry_point_plugin_installed_with_pip(installed_example: Path) -> None:
    reg = discover_plugins(entry_point_paths=[installed_example], include_first_party=False,
                           include_user_dir=False, include_env=False)
    (plugin,) = reg.plugins
    assert plugin.id == EXAMPLE_ID and plugin.source.kind == "entry point"
    assert plugin.source.location == (
        "example_threshold = interval_example_threshold (interval-example-threshold 0.1.0)")
    assert plugin.path == installed_example / "interval_example_threshold"
    assert plugin.manifest.code_path == installed_example
    (model,) = reg.segmentation_models()
    assert model.model_id == EXAMPLE_MODEL
    assert (model.folder / "weights.safetensors").stat().st_size > 0


def test_the_bundled_plugin_wins_over_the_same_id_installed_with_pip(
        installed_example: Path) -> None:
    """Issue 9: a first-party plugin must not be replaceable by anything installed later.

    Before, entry points were searched first and the pip-installed copy silently replaced
    the bundled one; now bundled plugins are searched first and keep their ids, and the
    other copy is a refusal naming both locations.
    """
    reg = discover_plugins(entry_point_paths=[installed_example], include_user_dir=False,
                           include_env=False)
    plugin = reg.get(EXAMPLE_ID)
    assert plugin is not None and plugin.source.kind == "bundled"
    assert plugin.path == EXAMPLE_SRC / "interval_example_threshold"
    (dup,) = [r for r in reg.refused if r.plugin_id == EXAMPLE_ID]
    assert dup.source.kind == "entry point"
    copy = installed_example / "interval_example_threshold"
    assert dup.reason == (
        f"plugin id {EXAMPLE_ID} is already provided by the bundled plugin at {plugin.path}; "
        f"this copy at {copy} was not loaded")
    assert dup.conflicts_with == plugin.path


def _fake_distribution(site: Path, name: str, value: str) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[interval.plugins]\n{name} = {value}\n")


def test_broken_entry_points_are_refused_without_running_code(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _fake_distribution(site, "ep_missing", "no_such_package")
    _fake_distribution(site, "ep_module", "ep_plain_module")
    (site / "ep_plain_module.py").write_text("raise SystemExit('must not run')\n")
    _fake_distribution(site, "ep_nomanifest", "ep_pkg_nomanifest")
    (site / "ep_pkg_nomanifest").mkdir()
    (site / "ep_pkg_nomanifest" / "__init__.py").write_text("raise SystemExit('no')\n")
    _fake_distribution(site, "ep_good", "ep_good_pkg")
    pkg = site / "ep_good_pkg"
    pkg.mkdir()
    marker = tmp_path / "executed"
    (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (pkg / "interval-plugin.json").write_text(json.dumps(manifest("org.test.ep")))
    reg = discover_plugins(entry_point_paths=[site], include_first_party=False,
                           include_user_dir=False, include_env=False)
    assert [p.id for p in reg.plugins] == ["org.test.ep"]
    assert not marker.exists()
    reasons = {r.name: r.reason for r in reg.refused}
    assert reasons == {
        "ep_missing": "package 'no_such_package' is not installed",
        "ep_module": "entry point must name a package holding interval-plugin.json; "
                     "'ep_plain_module' is a module",
        "ep_nomanifest": "package 'ep_pkg_nomanifest' holds no interval-plugin.json",
    }


def test_minimal_model_reader_used_without_the_model_runtime(tmp_path: Path) -> None:
    folder = model_plugin(tmp_path, "p", "org.test.p", "mini")
    spec = _minimal_spec(folder / "models" / "m")
    assert isinstance(spec, MinimalModelSpec)
    assert (spec.name, spec.modality, spec.labels[0]["name"]) == ("mini", ("MR",), "brain")
    (folder / "models" / "m" / "model.json").write_text("{")
    with pytest.raises(PluginError, match=r"model.json is not valid JSON \(line 1, column 2"):
        _minimal_spec(folder / "models" / "m")
    # the same limits as manifests: no traceback, no hang, no unbounded read
    (folder / "models" / "m" / "model.json").write_text("[" * 100_000)
    with pytest.raises(PluginError, match="model.json is nested too deeply"):
        _minimal_spec(folder / "models" / "m")
    (folder / "models" / "m" / "model.json").write_text(" " * 1_000_001)
    with pytest.raises(PluginError, match=r"model.json is too large \(1000001 bytes"):
        _minimal_spec(folder / "models" / "m")


def test_plugin_dirs_from_cli_arguments() -> None:
    from interval.cli.main import build_parser

    args = build_parser().parse_args(["plugins", "--plugins-dir", "a", "--plugins-dir", "b"])
    assert discovery.plugin_dirs_from_args(args) == [Path("a"), Path("b")]
    args = build_parser().parse_args(["--plugins-dir", "c", "plugins"])
    assert discovery.plugin_dirs_from_args(args) == [Path("c")]
    assert discovery.plugin_dirs_from_args(build_parser().parse_args(["plugins"])) == []


def test_frozen_build_looks_in_meipass_and_beside_the_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, app_dir = tmp_path / "bundle", tmp_path / "app"
    model_plugin(bundle / "plugins", "bundled", "org.test.bundled")
    model_plugin(app_dir / "plugins", "beside", "org.test.beside")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.setattr(sys, "executable", str(app_dir / "interval"))
    assert discovery.first_party_plugin_dirs() == [bundle / "plugins", app_dir / "plugins"]
    reg = discover_plugins(include_entry_points=False)
    assert [(p.id, p.source.kind) for p in reg.plugins] == [
        ("org.test.bundled", "bundled"), ("org.test.beside", "bundled")]


def test_plugin_needing_a_missing_package_is_refused_naming_all_of_them(
        tmp_path: Path) -> None:
    import importlib.util

    missing = ["interval_no_such_pkg_a", "interval_no_such_pkg_b"]
    assert all(importlib.util.find_spec(n) is None for n in missing)
    write_plugin(tmp_path / "p", "needs",
                 manifest("org.test.needs", requires=["numpy", *missing]))
    write_plugin(tmp_path / "p", "needs-one",
                 manifest("org.test.needs-one", requires=["interval_no_such_pkg_a"]))
    write_plugin(tmp_path / "p", "has", manifest("org.test.has", requires=["numpy"]))
    reg = discover_plugins([tmp_path / "p"], **ONLY_FOLDERS)
    assert [p.id for p in reg.plugins] == ["org.test.has"]
    assert reg.to_dict()["plugins"][0]["requires"] == ["numpy"]
    reasons = {r.name: r.reason for r in reg.refused}
    assert reasons["org.test.needs"] == (
        "needs the Python packages interval_no_such_pkg_a, interval_no_such_pkg_b: "
        "pip install interval_no_such_pkg_a interval_no_such_pkg_b")
    assert reasons["org.test.needs-one"] == (
        "needs the Python package interval_no_such_pkg_a: pip install interval_no_such_pkg_a")


def test_a_frozen_app_does_not_suggest_pip(monkeypatch):
    """The bundled app has no pip: the refusal says the build lacks the package."""
    from interval.plugins.manifest import requirements_reason

    monkeypatch.setattr("sys.frozen", True, raising=False)
    assert requirements_reason(["deepbet"]) == (
        "needs the Python package deepbet, which this build of Interval does not include")
