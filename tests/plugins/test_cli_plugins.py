"""`interval plugins [--json]` and the global --plugins-dir option."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from interval.cli.main import main
from interval.plugins import discovery
from tests.conftest import REPO_ROOT
from tests.plugins.conftest import EXAMPLE_ID, EXAMPLE_MODEL, manifest, model_plugin, write_plugin


def _plugins_tree(root: Path) -> Path:
    model_plugin(root, "good", "org.test.good", "tiny-model")
    write_plugin(root, "future", manifest("org.test.future", interval_api=">=2"))
    return root


def test_json_lists_loaded_and_refused_with_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _plugins_tree(tmp_path / "plugins")
    assert main(["plugins", "--json", "--plugins-dir", str(root)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["api_version"] == "1.1"
    by_id = {p["id"]: p for p in data["plugins"]}
    good = by_id["org.test.good"]
    assert (good["version"], good["source"], good["location"]) == (
        "1.0.0", "--plugins-dir", str(root))
    (model,) = good["segmentation_models"]
    assert model["id"] == "tiny-model" and model["modality"] == ["MR"]
    assert model["labels"] == [{"value": 1, "name": "brain", "color": [200, 100, 50]}]
    assert by_id[EXAMPLE_ID]["source"] == "bundled"
    assert [m["id"] for m in by_id[EXAMPLE_ID]["segmentation_models"]] == [EXAMPLE_MODEL]
    assert [a["id"] for a in by_id[EXAMPLE_ID]["longitudinal_analyzers"]] == ["label-volume"]
    (refused,) = [r for r in data["refused"] if r["source"] == "--plugins-dir"]
    assert refused["id"] == "org.test.future"
    assert refused["reason"] == "requires Interval API >=2 but this is 1.1"
    assert refused["manifest"] == str(root / "future" / "interval-plugin.json")
    assert data["search_path"]["plugins_dir"] == [str(root)]


def test_global_option_before_the_subcommand_and_text_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _plugins_tree(tmp_path / "plugins")
    assert main(["--plugins-dir", str(root), "plugins"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^Loaded plugins: \d+$", out, re.M)
    assert "org.test.good 1.0.0  Plugin org.test.good" in out
    assert "segmentation model: tiny-model (MR; labels: 1 brain)" in out
    assert re.search(r"^Refused plugins: [1-9]\d*$", out, re.M)
    assert "reason: requires Interval API >=2 but this is 1.1" in out
    # the option holds while the command runs (the viewer included), then is forgotten
    assert discovery.session_plugin_dirs() == []


def test_plugins_dir_applies_to_discoveries_inside_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interval.cli import main as main_module

    root = _plugins_tree(tmp_path / "plugins")
    seen: list[list[str]] = []

    def fake_view(args: object) -> int:  # what the viewer's panels would discover
        from interval.plugins import discover_plugins

        seen.append([p.id for p in discover_plugins(include_entry_points=False).plugins])
        return 0

    real_build = main_module.build_parser

    def build() -> argparse.ArgumentParser:
        parser = real_build()
        for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
            action.choices["view"].set_defaults(func=fake_view)
        return parser

    monkeypatch.setattr(main_module, "build_parser", build)
    assert main(["view", "--plugins-dir", str(root)]) == 0
    assert "org.test.good" in seen[0]
    assert discovery.session_plugin_dirs() == []


def test_console_script_exit_code_is_zero_with_refusals(tmp_path: Path) -> None:
    bad = tmp_path / "env"
    write_plugin(bad, "broken", "{ not json")
    env = {**os.environ, "INTERVAL_PLUGIN_PATH": str(bad),
           "XDG_DATA_HOME": str(tmp_path / "xdg")}
    out = subprocess.run(
        [sys.executable, "-m", "interval.cli.main", "plugins", "--json"],
        capture_output=True, text=True, timeout=120, env=env, cwd=REPO_ROOT,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    (refused,) = [r for r in data["refused"] if r["source"] == "INTERVAL_PLUGIN_PATH"]
    assert refused["reason"].startswith("the manifest is not valid JSON (line 1, column 3")
    assert EXAMPLE_ID in [p["id"] for p in data["plugins"]]


def test_every_plugin_shows_its_source_path_and_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _plugins_tree(tmp_path / "plugins")
    model_plugin(root, "copy", EXAMPLE_ID)  # the bundled example's id: refused
    assert main(["plugins", "--plugins-dir", str(root)]) == 0
    out = capsys.readouterr().out
    bundled = REPO_ROOT / "plugins" / "example_threshold" / "interval_example_threshold"
    block = out[out.index(f"  {EXAMPLE_ID} "):]
    assert re.match(rf"  {re.escape(EXAMPLE_ID)} \d+\.\d+\.\d+  .+\n    source: bundled \(.+\)\n"
                    rf"    path: {re.escape(str(bundled))}\n", block)
    assert f"  org.test.good 1.0.0  Plugin org.test.good\n    source: --plugins-dir ({root})\n" \
           f"    path: {root / 'good'}\n" in out
    refused = out[out.index("Refused plugins:"):]
    assert f"    path: {root / 'future' / 'interval-plugin.json'}\n" in refused
    assert (f"    reason: plugin id {EXAMPLE_ID} is already provided by the bundled plugin at "
            f"{bundled}; this copy at {root / 'copy'} was not loaded\n") in refused

    assert main(["plugins", "--json", "--plugins-dir", str(root)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["search_order"] == [
        "bundled", "entry point", "user folder", "INTERVAL_PLUGIN_PATH", "--plugins-dir"]
    assert data["search_path"]["bundled"] == [str(REPO_ROOT / "plugins")]
    assert data["plugins"][0]["source"] == "bundled"  # searched first
    by_id = {p["id"]: p for p in data["plugins"]}
    assert by_id[EXAMPLE_ID]["path"] == str(bundled)
    assert by_id[EXAMPLE_ID]["manifest"] == str(bundled / "interval-plugin.json")
    (dup,) = [r for r in data["refused"] if r["id"] == EXAMPLE_ID]
    assert (dup["source"], dup["path"], dup["conflicts_with"]) == (
        "--plugins-dir", str(root / "copy" / "interval-plugin.json"), str(bundled))


def test_text_from_plugins_cannot_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "plugins"
    write_plugin(root, "ansi",
                 manifest("org.test.ansi", name="Evil\x1b[2J\x1b]0;pwned\x07\u202e"))
    write_plugin(root, "ansi-old", manifest("org.test.ansi-old", name="Old\x1b[31m",
                                            interval_api="<1"))
    assert main(["plugins", "--plugins-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "org.test.ansi 1.0.0  Evil\\x1b[2J\\x1b]0;pwned\\x07\\u202e" in out
    assert "  org.test.ansi-old 1.0.0  Old\\x1b[31m\n" in out


@pytest.mark.skipif(sys.platform != "linux", reason="file names that are not UTF-8")
def test_json_output_survives_a_file_name_that_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "plugins"
    bad = os.fsencode(root) + b"/caf\xe9"
    os.makedirs(bad)
    with open(bad + b"/interval-plugin.json", "w") as f:
        f.write("{")
    assert main(["plugins", "--json", "--plugins-dir", str(root)]) == 0
    data = json.loads(capsys.readouterr().out)
    (refused,) = [r for r in data["refused"] if r["source"] == "--plugins-dir"]
    assert refused["path"] == os.fsdecode(bad + b"/interval-plugin.json")
    assert main(["plugins", "--plugins-dir", str(root)]) == 0
    assert "caf\\udce9" in capsys.readouterr().out
