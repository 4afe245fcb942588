"""Viewer settings: JSON round trip, atomic writes, tolerance of missing or corrupt files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interval.ui import settings as settings_mod
from interval.ui.settings import (
    MAX_RECENT,
    Settings,
    WindowPreset,
    load_settings,
    save_settings,
    settings_path,
)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "settings.json"
    s = Settings(layout="2x2", window_presets=[WindowPreset("Mine", 30.0, 90.0)])
    s.add_recent(tmp_path / "a")
    s.add_recent(tmp_path / "b")
    assert save_settings(s, path)
    back = load_settings(path)
    assert back == s
    assert back.recent_folders == [str(tmp_path / "b"), str(tmp_path / "a")]
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temp file left


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "nope.json") == Settings()


@pytest.mark.parametrize(
    "data",
    [b"{not json", b"", b"[1, 2]", b"\x00\xff garbage", b'{"layout": 5, "recent_folders": "x"}'],
)
def test_corrupt_file_is_ignored(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(data)
    assert load_settings(path) == Settings()


def test_bad_fields_fall_back_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    data = {
        "layout": "1x1",
        "recent_folders": ["/a", 3, "/a", "/b", ""],
        "window_presets": [{"name": "ok", "center": 1, "width": 2}, {"name": "bad"},
                           {"name": "neg", "center": 0, "width": -5}],
    }
    path.write_text(json.dumps(data))
    s = load_settings(path)
    assert s.layout == "1x1"
    assert s.recent_folders == ["/a", "/b"]
    assert s.window_presets == [WindowPreset("ok", 1.0, 2.0)]


def test_recent_folders_capped_and_deduplicated(tmp_path: Path) -> None:
    s = Settings()
    for n in range(MAX_RECENT + 5):
        s.add_recent(tmp_path / f"f{n}")
    s.add_recent(tmp_path / "f7")
    assert len(s.recent_folders) == MAX_RECENT
    assert s.recent_folders[0] == str(tmp_path / "f7")
    assert s.recent_folders.count(str(tmp_path / "f7")) == 1


def test_config_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings_mod.CONFIG_DIR_ENV, str(tmp_path))
    assert settings_path() == tmp_path / "settings.json"
    assert save_settings(Settings(layout="1x1"))
    assert load_settings().layout == "1x1"


def test_unwritable_location_reports_false(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert save_settings(Settings(), blocker / "sub" / "settings.json") is False


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.json"
    save_settings(Settings(layout="2x2"), path)

    def boom(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(settings_mod.json, "dump", boom)
    assert save_settings(Settings(layout="1x1"), path) is False
    assert load_settings(path).layout == "2x2"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_last_save_dir_round_trip_and_fallback(tmp_path: Path) -> None:
    from interval.ui.settings import save_dir

    path = tmp_path / "settings.json"
    folder = tmp_path / "exports"
    folder.mkdir()
    s = Settings(last_save_dir=str(folder))
    assert save_settings(s, path) and load_settings(path).last_save_dir == str(folder)
    assert save_dir(load_settings(path)) == folder
    path.write_text(json.dumps({"last_save_dir": 42}))  # wrong type: default
    assert load_settings(path).last_save_dir == ""
    assert save_dir(Settings()) == Path.home()
    assert save_dir(Settings(last_save_dir=str(tmp_path / "gone"))) == Path.home()


def test_model_memory_limit_round_trip_and_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    assert Settings().model_memory_limit_gib is None  # automatic by default
    assert save_settings(Settings(model_memory_limit_gib=6.5), path)
    assert load_settings(path).model_memory_limit_gib == 6.5
    for bad in (0, -2, "8", True, None, 1e9, [4]):
        path.write_text(json.dumps({"model_memory_limit_gib": bad}), encoding="utf-8")
        assert load_settings(path).model_memory_limit_gib is None, bad
