"""Help > About information: licences from package metadata, build_info.json, editions."""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import importlib.util
import json
import sys

import pytest
from packaging.utils import canonicalize_name

from interval import about_info
from tests.conftest import REPO_ROOT


def _by_name(licences: list[dict]) -> dict[str, dict]:
    return {canonicalize_name(c["name"]): c for c in licences}


@pytest.fixture(scope="module")
def licences() -> list[dict]:
    return about_info.collect_licences()


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(about_info, "_live_cache", None)


def test_licences_of_the_main_components(licences) -> None:
    comps = _by_name(licences)
    for name in ("numpy", "pydicom", "pyside6-essentials", "vtk", "simpleitk", "scipy"):
        comp = comps[name]
        assert comp["version"] == md.version(name)
        assert comp["licence"].strip() and comp["licence"] != "unknown", name
        assert "\n" not in comp["licence"]  # an identifier, not a whole text
    assert "BSD" in comps["numpy"]["licence"]
    assert "MIT" in comps["pydicom"]["licence"]  # from the classifiers
    assert "LGPL" in comps["pyside6-essentials"]["licence"]
    assert comps["numpy"]["homepage"].startswith("http")
    # the licence texts the wheels ship
    numpy_files = comps["numpy"]["licence_files"]
    assert any(f["name"].endswith("licenses/LICENSE.txt") for f in numpy_files)
    assert all("Copyright" in f["text"] or "copyright" in f["text"].lower()
               for f in numpy_files[:1])
    assert "Permission is hereby granted" in comps["pydicom"]["licence_files"][0]["text"]
    # the interpreter, first
    assert licences[0]["name"] == "Python" and licences[0]["licence"] == "PSF-2.0"


def test_licences_leave_out_the_app_and_build_tools(licences) -> None:
    names = set(_by_name(licences))
    assert "interval" not in names
    for tool in ("pip", "setuptools", "pytest", "ruff", "pytest-qt"):
        assert tool not in names
    # installed only for the tests (extra "test"), not a dependency of the app
    assert "pydicom-data" not in names and "nibabel" not in names


def test_licence_texts_are_capped(monkeypatch) -> None:
    monkeypatch.setattr(about_info, "MAX_FILE_CHARS", 200)
    monkeypatch.setattr(about_info, "MAX_DIST_FILES", 2)
    comp = about_info.licence_entry(md.distribution("numpy"))
    files = comp["licence_files"]
    assert len(files) == 3  # two texts and a note naming the rest
    assert all(len(f["text"]) < 300 for f in files[:2])
    assert "[… cut" in files[0]["text"]
    assert files[2]["name"].startswith("(") and "more licence files" in files[2]["name"]


def test_build_info_json_round_trips(tmp_path) -> None:
    target = tmp_path / "bundle" / "build_info.json"
    target.parent.mkdir()
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    written = about_info.write_build_info(target, "full")
    assert written == target
    assert [p.name for p in target.parent.iterdir()] == ["build_info.json"]  # no temp file
    info = json.loads(target.read_text(encoding="utf-8"))
    assert info["app"] == "Interval"
    assert info["version"] == md.version("interval")
    assert info["edition"] == "full"
    built = dt.datetime.fromisoformat(info["build_date"])
    assert built.tzinfo is not None and built.utcoffset() == dt.timedelta(0)
    assert before <= built <= dt.datetime.now(dt.UTC)
    assert info["capabilities"] and all(isinstance(c, str) for c in info["capabilities"])
    assert info["licences"] == json.loads(json.dumps(about_info.collect_licences()))
    # a folder: the file is written inside it
    assert about_info.write_build_info(tmp_path, "development") == tmp_path / "build_info.json"


def test_unknown_edition_is_refused_and_nothing_is_written(tmp_path) -> None:
    with pytest.raises(ValueError, match="edition"):
        about_info.write_build_info(tmp_path / "build_info.json", "deluxe")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch installed")
def test_viewer_only_edition_leaves_out_torch() -> None:
    full = about_info.compute_build_info("full", None)
    viewer = about_info.compute_build_info("viewer-only", None)
    assert "torch" in _by_name(full["licences"])
    assert any(c.startswith("AI models (PyTorch") for c in full["capabilities"])
    names = _by_name(viewer["licences"])
    assert "torch" not in names and "sympy" not in names  # and what only torch needs
    assert "numpy" in names and "vtk" in names
    assert not any("PyTorch" in c for c in viewer["capabilities"])


def test_ai_capability_only_when_torch_is_importable(monkeypatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real_find_spec(name, *a))
    caps = about_info.capabilities()
    assert not any("AI" in c or "PyTorch" in c for c in caps)
    assert any(c.startswith("Viewer") for c in caps)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    versions = {"torch": "2.5.1+cu121"}
    real_version = md.version
    monkeypatch.setattr(about_info.md, "version",
                        lambda name: versions.get(name) or real_version(name))
    assert "AI models (PyTorch 2.5.1, CPU/CUDA 12.1)" in " ".join(about_info.capabilities())
    versions["torch"] = "2.13.0+cpu"
    assert any(c.startswith("AI models (PyTorch 2.13.0, CPU)")
               for c in about_info.capabilities())


def test_development_build_info(fresh_cache) -> None:
    assert not about_info.is_frozen()
    info = about_info.build_info()
    assert info["edition"] == "development"
    assert info["build_date"] is None
    assert about_info.build_date_text(info) == "not a built bundle"
    assert about_info.build_info() is info  # computed once
    assert "Build date: not a built bundle" in about_info.about_text(info)


def test_frozen_build_reads_the_bundled_file(tmp_path, monkeypatch, fresh_cache) -> None:
    about_info.write_build_info(tmp_path, "viewer-only")
    (tmp_path / "README.md").write_text("# Interval\n\n## User guide\n\nHello\n", encoding="utf-8")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    info = about_info.build_info()
    assert info["edition"] == "viewer-only"
    assert about_info.build_date_text(info) == info["build_date"] != "not a built bundle"
    assert about_info.user_guide_location() == (tmp_path / "README.md", "user-guide")
    # a damaged bundled file: the live information instead of a crash
    (tmp_path / "build_info.json").write_text("{not json", encoding="utf-8")
    assert about_info.build_info()["edition"] == "development"


def test_user_guide_in_the_repository_readme() -> None:
    readme, anchor = about_info.user_guide_location()
    assert readme == REPO_ROOT / "README.md"
    headings = [line.lstrip("#").strip() for line in readme.read_text(encoding="utf-8").splitlines()
                if line.startswith("#")]
    assert anchor and anchor in {about_info._slug(h) for h in headings}
