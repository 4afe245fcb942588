"""Atomic saves: the old file survives a failed save and no temporary file is left."""

from __future__ import annotations

from pathlib import Path

import pytest

from interval.core.atomic import atomic_open, atomic_path


def test_atomic_open_replaces_the_target(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with atomic_open(target, "w") as fh:
        fh.write("new")
        assert target.read_text() == "old"  # not visible until the save completes
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_failed_save_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_atomic_path_keeps_the_extension_for_format_detection(tmp_path: Path) -> None:
    target = tmp_path / "scan.nii.gz"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".nii.gz") and tmp != target
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x"
    assert [p.name for p in tmp_path.iterdir()] == ["scan.nii.gz"]
