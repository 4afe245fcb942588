"""Issue 9, item 3: bundled first-party plugins cannot be replaced, silently or otherwise.

Bundled plugins are searched first and keep their ids; a copy with the same id from any
other source is a refusal naming both folders; manifests are read from their real paths,
so a symbolic link to a genuine manifest neither hides the genuine plugin nor lends its
identity to other files. Every loaded plugin records its source kind, real folder and
version for reports.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest

from interval.plugins import discover_plugins, discovery
from interval.plugins.api import PluginProvenance
from tests.plugins.conftest import MODEL_JSON, manifest, model_plugin, write_plugin

GENUINE = "org.interval.genuine"


@pytest.fixture
def bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A frozen build's ``plugins/`` folder holding the genuine plugin (model ``seg``)."""
    bundle = tmp_path / "bundle"
    model_plugin(bundle / "plugins", "genuine", GENUINE, "seg")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "app" / "interval"))
    assert discovery.first_party_plugin_dirs() == [bundle / "plugins"]
    return bundle / "plugins" / "genuine"


def _discover(*dirs: Path):
    return discover_plugins(list(dirs), include_entry_points=False)


def _impostor(root: Path, folder: str = "impostor") -> Path:
    """A plugin claiming the genuine id, with its own (different) model files."""
    return write_plugin(
        root, folder,
        manifest(GENUINE, version="9.9.9", contributes={"segmentation_models": ["models/m"]}),
        {"models/m": {**MODEL_JSON, "name": "seg", "labels": [{"value": 1, "name": "fake"}]}},
    )


@pytest.mark.parametrize("where", ["user folder", "INTERVAL_PLUGIN_PATH", "--plugins-dir"])
def test_a_copy_of_a_bundled_plugin_is_refused_naming_both_folders(
    bundled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_search: Path,
    where: str,
) -> None:
    # before issue 9 bundled plugins were searched last: the copy was loaded instead
    roots = {"user folder": isolated_search, "INTERVAL_PLUGIN_PATH": tmp_path / "env",
             "--plugins-dir": tmp_path / "cli"}
    copy = _impostor(roots[where])
    monkeypatch.setenv("INTERVAL_PLUGIN_PATH", str(roots["INTERVAL_PLUGIN_PATH"]))
    reg = _discover(roots["--plugins-dir"]) if where == "--plugins-dir" else _discover()
    plugin = reg.get(GENUINE)
    assert plugin is not None and plugin.source.kind == "bundled"
    assert (plugin.path, plugin.version) == (bundled, "1.0.0")
    (entry,) = reg.segmentation_models()
    assert entry.folder == bundled / "models" / "m"
    assert [lab.name for lab in entry.spec.labels] == ["brain"]
    (refusal,) = [r for r in reg.refused if r.plugin_id == GENUINE]
    assert refusal.source.kind == where
    assert refusal.reason == (
        f"plugin id {GENUINE} is already provided by the bundled plugin at {bundled}; "
        f"this copy at {copy} was not loaded")
    assert refusal.conflicts_with == bundled
    assert refusal.path == str(copy / "interval-plugin.json")
    assert refusal.version == "9.9.9"


def test_a_symlinked_manifest_neither_hides_the_genuine_plugin_nor_borrows_its_identity(
    bundled: Path, isolated_search: Path
) -> None:
    # before: the link was read as a plugin in the user folder (with the user folder's
    # models under the genuine id, version and name) and the genuine plugin was dropped as
    # a duplicate, with no refusal entry
    evil = isolated_search / "evil"
    (evil / "models" / "m").mkdir(parents=True)
    (evil / "models" / "m" / "model.json").write_text(json.dumps({**MODEL_JSON, "name": "seg"}))
    (evil / "interval-plugin.json").symlink_to(bundled / "interval-plugin.json")
    reg = _discover()
    assert [(p.id, p.source.kind, p.path) for p in reg.plugins] == [
        (GENUINE, "bundled", bundled)]
    (entry,) = reg.segmentation_models()
    assert entry.folder == bundled / "models" / "m"
    (refusal,) = reg.refused
    assert refusal.source.kind == "user folder"
    assert refusal.path == str(evil / "interval-plugin.json")
    assert refusal.conflicts_with == bundled
    assert refusal.reason == (
        f"{evil / 'interval-plugin.json'} is the manifest of the bundled plugin {GENUINE} at "
        f"{bundled} (reached again through a symbolic link or another path); it was not "
        "loaded a second time")


def test_a_symlink_to_a_plugin_is_read_from_where_the_files_really_are(
    tmp_path: Path, isolated_search: Path
) -> None:
    real = model_plugin(tmp_path / "real", "p", "org.test.linked", "linked-model")
    isolated_search.mkdir(parents=True)
    (isolated_search / "p").symlink_to(real, target_is_directory=True)
    reg = discover_plugins(include_entry_points=False, include_first_party=False)
    (plugin,) = reg.plugins
    assert plugin.source.kind == "user folder"
    assert plugin.path == real and plugin.manifest_path == real / "interval-plugin.json"
    (entry,) = reg.segmentation_models()
    assert entry.folder == real / "models" / "m" and entry.code_path == real
    assert entry.provenance == PluginProvenance("org.test.linked", "1.0.0", "user folder",
                                                real, "Plugin org.test.linked")
    # the same folder reached a second time through the link is listed, not dropped
    reg = discover_plugins([real], include_entry_points=False, include_first_party=False)
    assert [p.source.kind for p in reg.plugins] == ["user folder"]
    (refusal,) = reg.refused
    assert refusal.source.kind == "--plugins-dir" and refusal.plugin_id == "org.test.linked"
    assert "is the manifest of the user folder plugin org.test.linked" in refusal.reason


def test_the_same_folder_searched_twice_is_one_plugin_and_no_refusal(
    bundled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERVAL_PLUGIN_PATH", str(bundled.parent))
    reg = _discover(bundled.parent, bundled)
    assert [(p.id, p.source.kind) for p in reg.plugins] == [(GENUINE, "bundled")]
    assert reg.refused == []


def test_a_refused_bundled_plugin_keeps_its_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_search: Path
) -> None:
    """A bundled plugin refused for a missing package must not be stood in for."""
    bundle = tmp_path / "bundle"
    write_plugin(bundle / "plugins", "needs",
                 manifest(GENUINE, requires=["interval_no_such_package_x"]))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "app" / "interval"))
    copy = _impostor(isolated_search)
    reg = _discover()
    assert reg.plugins == []
    first, second = reg.refused
    assert first.source.kind == "bundled" and first.reason.startswith("needs the Python package")
    assert second.source.kind == "user folder"
    assert second.reason == (
        f"plugin id {GENUINE} belongs to the bundled plugin at {bundle / 'plugins' / 'needs'} "
        f"(itself refused: {first.reason}); this copy at {copy} was not loaded")


def test_search_order_outside_the_bundled_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_search: Path
) -> None:
    """Entry points, user folder, INTERVAL_PLUGIN_PATH, --plugins-dir: the first one wins.

    A plugin refused for its own reasons (here a missing package) does not hold the id
    against a working copy found later.
    """
    user = write_plugin(isolated_search, "u", manifest("org.test.x"))
    env = write_plugin(tmp_path / "env", "e", manifest("org.test.x", version="2.0.0"))
    cli = write_plugin(tmp_path / "cli", "c", manifest("org.test.x", version="3.0.0"))
    write_plugin(isolated_search, "broken", manifest("org.test.y", requires=["no_such_pkg_q"]))
    later = write_plugin(tmp_path / "env", "y", manifest("org.test.y"))
    monkeypatch.setenv("INTERVAL_PLUGIN_PATH", str(tmp_path / "env"))
    reg = discover_plugins([tmp_path / "cli"], include_entry_points=False,
                           include_first_party=False)
    assert discovery.SEARCH_ORDER == (
        "bundled", "entry point", "user folder", "INTERVAL_PLUGIN_PATH", "--plugins-dir")
    assert [(p.id, p.source.kind, p.path) for p in reg.plugins] == [
        ("org.test.x", "user folder", user), ("org.test.y", "INTERVAL_PLUGIN_PATH", later)]
    dups = {r.version: r for r in reg.refused if r.plugin_id == "org.test.x"}
    assert set(dups) == {"2.0.0", "3.0.0"}
    assert dups["2.0.0"].conflicts_with == user and dups["3.0.0"].conflicts_with == user
    assert f"from user folder at {user}; this copy at {env} was" in dups["2.0.0"].reason
    assert f"this copy at {cli} was not loaded" in dups["3.0.0"].reason


def test_reports_can_name_a_models_plugin_version_and_source(bundled: Path,
                                                             tmp_path: Path) -> None:
    other = model_plugin(tmp_path / "cli", "o", "org.test.other", "other-model")
    reg = _discover(tmp_path / "cli")
    seg = reg.find_segmentation_model("seg")
    assert seg.provenance == PluginProvenance(GENUINE, "1.0.0", "bundled", bundled,
                                              f"Plugin {GENUINE}")
    assert reg.plugin_for(seg) == seg.provenance == reg.plugin_for(GENUINE)
    assert (seg.plugin_version, seg.plugin_source) == ("1.0.0", f"bundled: {bundled}")
    assert str(seg.provenance) == f"{GENUINE} 1.0.0 (bundled: {bundled})"
    assert seg.provenance.to_dict() == {"id": GENUINE, "version": "1.0.0",
                                        "name": f"Plugin {GENUINE}", "source": "bundled",
                                        "path": str(bundled)}
    o = reg.find_segmentation_model("other-model")
    assert reg.plugin_for(o) == PluginProvenance("org.test.other", "1.0.0", "--plugins-dir",
                                                 other, "Plugin org.test.other")
    assert reg.plugin_for("org.test.nothing") is None
    data = {p["id"]: p for p in reg.to_dict()["plugins"]}
    assert (data[GENUINE]["source"], data[GENUINE]["path"], data[GENUINE]["manifest"]) == (
        "bundled", str(bundled), str(bundled / "interval-plugin.json"))


def test_discovery_runs_in_worker_threads_while_the_session_folders_change(
    tmp_path: Path,
) -> None:
    """What the Plugin Manager's background rescan does: no shared state to race on."""
    model_plugin(tmp_path / "a", "pa", "org.test.a")
    model_plugin(tmp_path / "b", "pb", "org.test.b")
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def scan() -> None:
        try:
            for _ in range(5):
                reg = discover_plugins(include_entry_points=False, include_first_party=False,
                                       include_user_dir=False, include_env=False)
                results.append(sorted(p.id for p in reg.plugins))
                assert reg.refused == []
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    discovery.set_session_plugin_dirs([tmp_path / "a"])
    threads = [threading.Thread(target=scan) for _ in range(4)]
    for t in threads:
        t.start()
    for n in range(40):
        discovery.set_session_plugin_dirs([tmp_path / "a"] if n % 2 else [tmp_path / "b"])
    for t in threads:
        t.join(60)
    assert errors == [] and len(results) == 20
    assert {tuple(r) for r in results} <= {("org.test.a",), ("org.test.b",)}


def test_first_party_dirs_are_listed_once_even_through_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "plugins").mkdir(parents=True)
    app = tmp_path / "app"
    app.mkdir()
    os.symlink(bundle / "plugins", app / "plugins")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.setattr(sys, "executable", str(app / "interval"))
    assert discovery.first_party_plugin_dirs() == [bundle / "plugins"]
