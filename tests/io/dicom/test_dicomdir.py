"""DICOMDIR: files found through the directory records, fallback to walking, odd names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from interval.core.errors import UnreadableFile
from interval.io.dicom.dicomdir import is_dicomdir_name, read_dicomdir
from interval.io.dicom.discover import MISSING_REASON, UNLISTED_REASON, discover
from interval.io.dicom.header_fast import DICOMDIR_REASON
from interval.io.dicom.index import NO_PIXELS_REASON, index_folder
from interval.io.dicom.policy import DicomReadPolicy

SERIAL = DicomReadPolicy(workers=1)


@pytest.fixture
def disc(tmp_path: Path) -> Path:
    """A copy of pydicom's TINY_ALPHA file-set (a DICOMDIR and 50 CT images)."""
    source = Path(get_testdata_file("DICOMDIR", read=False)).parent / "TINY_ALPHA"
    if not source.is_dir():  # pragma: no cover - depends on the pydicom version
        source = Path(get_testdata_file("TINY_ALPHA/DICOMDIR", read=False)).parent
    target = tmp_path / "disc"
    shutil.copytree(source, target)
    return target


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("IM*") if p.is_file())


def n_indexed(index) -> int:
    """Files parsed as DICOM: TINY_ALPHA's files are CT headers without pixel data."""
    paths = {s.path for s in index.skipped if s.reason == NO_PIXELS_REASON}
    for _p, _st, se in index.iter_series():
        paths.update(f.header.path for s in se.stacks for f in s.frames)
        paths.update(o.header.path for o in se.objects + se.attached)
    return len(paths)


def other_reasons(index) -> dict[str, str]:
    return {Path(s.path).name: s.reason for s in index.skipped if s.reason != NO_PIXELS_REASON}


def test_dicomdir_lists_existing_files(disc: Path) -> None:
    listing = read_dicomdir(disc / "DICOMDIR")
    assert listing.missing == []
    assert sorted(listing.files) == [str(p) for p in image_files(disc)]
    assert len(listing.files) == 50


def test_index_uses_dicomdir_and_reports_other_files(disc: Path) -> None:
    (disc / "autorun.inf").write_text("[autorun]\nopen=viewer.exe\n")
    index = index_folder(disc, SERIAL)
    reasons = other_reasons(index)
    assert reasons == {
        "DICOMDIR": DICOMDIR_REASON,
        "README": UNLISTED_REASON,
        "autorun.inf": UNLISTED_REASON,
    }
    assert n_indexed(index) == 50
    assert not any("DICOMDIR" in w for w in index.warnings)  # it was used without trouble


def test_missing_files_fall_back_to_walking(disc: Path) -> None:
    gone = image_files(disc)[:2]
    for p in gone:
        p.unlink()
    (disc / "notes.txt").write_text("Exported from a PACS.\n")
    index = index_folder(disc, SERIAL)
    assert any("lists 2 file(s) that are missing" in w for w in index.warnings)
    missing = sorted(s.path for s in index.skipped if s.reason == MISSING_REASON)
    assert missing == sorted(str(p) for p in gone)
    # the folder was walked: the remaining images are indexed, the text file judged by content
    assert n_indexed(index) == 48
    assert other_reasons(index)["notes.txt"] == "not a DICOM file"


def test_names_match_without_regard_to_case(disc: Path) -> None:
    """A disc mounted with lower-case names (and ISO 9660 ';1' versions) still resolves."""
    for path in sorted(disc.rglob("*"), key=lambda p: -len(p.parts)):
        if path.name == "DICOMDIR":
            continue
        new_name = path.name.lower() + (";1" if path.is_file() and path.name.startswith("IM") else "")
        path.rename(path.with_name(new_name))
    listing = read_dicomdir(disc / "DICOMDIR")
    assert listing.missing == [] and len(listing.files) == 50
    assert all(Path(f).name.endswith(";1") for f in listing.files)
    index = index_folder(disc, SERIAL)
    assert n_indexed(index) == 50


def test_unreadable_dicomdir_is_reported_and_folder_walked(disc: Path) -> None:
    (disc / "DICOMDIR").write_bytes(b"this is not a DICOMDIR at all" * 10)
    index = index_folder(disc, SERIAL)
    assert any("could not be read" in w or "no directory records" in w for w in index.warnings)
    assert other_reasons(index)["DICOMDIR"] == DICOMDIR_REASON
    assert n_indexed(index) == 50


def test_nested_dicomdir_governs_only_its_folder(tmp_path: Path, disc: Path) -> None:
    (tmp_path / "loose.txt").write_text("Some text file next to the disc copy.\n")
    found = discover(tmp_path)
    assert len(found.files) == 51  # 50 images + the loose file outside the disc folder
    assert str(tmp_path / "loose.txt") in found.files
    assert {s.reason for s in found.skipped} == {DICOMDIR_REASON, UNLISTED_REASON}


def test_read_dicomdir_errors(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile):
        read_dicomdir(tmp_path / "DICOMDIR")
    image = Path(get_testdata_file("CT_small.dcm", read=False))
    with pytest.raises(UnreadableFile, match="no directory records"):
        read_dicomdir(image)


def test_dicomdir_name() -> None:
    assert is_dicomdir_name("DICOMDIR")
    assert is_dicomdir_name("dicomdir")
    assert is_dicomdir_name("DICOMDIR;1")
    assert not is_dicomdir_name("DICOMDIR-bigEnd")
    assert not is_dicomdir_name("dicomdir.txt")
