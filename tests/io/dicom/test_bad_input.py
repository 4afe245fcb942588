"""Broken input gets a clear, typed message and never a traceback.

Truncated file, junk file, empty file, empty folder, missing path, a folder of
README/JSON files, unreadable permissions (checked as an unprivileged user,
since root reads anything), non-image objects only, a DICOMDIR alone; through
``index_folder``, ``load_dicom`` and the ``interval`` command line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from interval.core.errors import IntervalError, NotAnImage, UnreadableFile
from interval.io.dicom.index import index_folder
from interval.io.dicom.load import load_dicom, load_stack
from interval.io.dicom.records import DicomIndex
from tests.conftest import REPO_ROOT, shared
from tests.fuzz.harness import message_problem
from tests.io.dicom.unprivileged import restore_permissions, run_unprivileged, world_reachable_dir

PYDICOM_FILES = Path(pydicom.__file__).resolve().parent / "data" / "test_files"


def _ct_slice() -> Path:
    return shared("dcmqi_data", "data", "segmentations", "ct-3slice", "01.dcm")


def _assert_clear(message: str) -> None:
    problem = message_problem(message)
    assert problem is None, problem


def _skip_reasons(index: DicomIndex) -> dict[str, str]:
    for s in index.skipped:
        _assert_clear(s.reason)
    return {Path(s.path).name: s.reason for s in index.skipped}


def _refused_to_load(folder: Path, error: type[IntervalError] = NotAnImage) -> str:
    """``load_dicom`` raises ``error`` with a clear message; returns the message."""
    with pytest.raises(error) as info:
        load_dicom(folder)
    message = str(info.value)
    _assert_clear(message)
    return message


# --- files that are not (whole) DICOM ------------------------------------------------


def test_truncated_file_is_skipped_with_reason(tmp_path: Path) -> None:
    data = _ct_slice().read_bytes()
    (tmp_path / "half.dcm").write_bytes(data[: len(data) // 2])
    index = index_folder(tmp_path)
    assert not index.patients
    reason = _skip_reasons(index)["half.dcm"]
    assert "truncat" in reason.lower()
    assert index.warnings  # says why nothing was found
    assert "truncat" in _refused_to_load(tmp_path).lower()


def test_truncated_file_given_directly(tmp_path: Path) -> None:
    data = _ct_slice().read_bytes()
    path = tmp_path / "half.dcm"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IntervalError) as info:
        load_dicom(path)
    _assert_clear(str(info.value))
    assert "truncat" in str(info.value).lower()


def test_one_truncated_slice_leaves_the_rest_loadable(tmp_path: Path) -> None:
    src = _ct_slice().parent
    for p in sorted(src.glob("*.dcm")):
        shutil.copyfile(p, tmp_path / p.name)
    data = (tmp_path / "03.dcm").read_bytes()
    (tmp_path / "03.dcm").write_bytes(data[: len(data) - 1000])
    index = index_folder(tmp_path)
    assert "truncat" in _skip_reasons(index)["03.dcm"].lower()
    (stack,) = index.iter_stacks()
    assert stack.n_frames == 2
    assert load_stack(stack).shape == (2, 512, 512)


def test_junk_file_named_dcm(tmp_path: Path) -> None:
    (tmp_path / "junk.dcm").write_bytes(os.urandom(20000))
    index = index_folder(tmp_path)
    assert not index.patients
    assert "not a dicom" in _skip_reasons(index)["junk.dcm"].lower()
    _refused_to_load(tmp_path)


def test_junk_with_dicom_preamble(tmp_path: Path) -> None:
    """'DICM' magic followed by garbage is not mistaken for an image."""
    (tmp_path / "fake.dcm").write_bytes(b"\0" * 128 + b"DICM" + os.urandom(5000))
    index = index_folder(tmp_path)
    assert not list(index.iter_stacks())
    assert "fake.dcm" in _skip_reasons(index)
    _refused_to_load(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.dcm").write_bytes(b"")
    index = index_folder(tmp_path)
    assert "empty" in _skip_reasons(index)["empty.dcm"].lower()
    _refused_to_load(tmp_path)


def test_empty_folder(tmp_path: Path) -> None:
    index = index_folder(tmp_path)
    assert not index.patients and not index.skipped
    assert any("empty" in w.lower() for w in index.warnings)
    _refused_to_load(tmp_path)


def test_nonexistent_path(tmp_path: Path) -> None:
    missing = tmp_path / "no such folder"
    with pytest.raises(UnreadableFile) as info:
        index_folder(missing)
    _assert_clear(str(info.value))
    assert "not found" in str(info.value).lower()
    with pytest.raises(IntervalError) as info2:
        load_dicom(missing)
    _assert_clear(str(info2.value))


def test_folder_of_readme_and_json_only(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Study export\n\nNothing to see here.\n" * 20)
    (tmp_path / "dataset_description.json").write_text(json.dumps({"Name": "x", "BIDSVersion": "1.8"}))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt").write_text("hello")
    index = index_folder(tmp_path)
    assert not index.patients
    assert set(_skip_reasons(index)) == {"README.md", "dataset_description.json", "notes.txt"}
    assert index.warnings
    _refused_to_load(tmp_path)


def test_non_image_objects_only(tmp_path: Path) -> None:
    """An SR and a SEG without their images: indexed as objects; loading says NotAnImage."""
    shutil.copyfile(shared("dcmqi_data", "data", "sr-example", "sr.dcm"), tmp_path / "sr.dcm")
    seg = shared("highdicom_test_files", "data", "test_files", "seg_image_ct_binary.dcm")
    shutil.copyfile(seg, tmp_path / "seg.dcm")
    index = index_folder(tmp_path)
    assert not index.skipped
    assert not list(index.iter_stacks())
    kinds = sorted(o.kind for _p, _s, se in index.iter_series() for o in [*se.objects, *se.attached])
    assert kinds == ["seg", "sr"]
    _refused_to_load(tmp_path)


def test_dicomdir_alone(tmp_path: Path) -> None:
    """A DICOMDIR whose files are missing: every listed file reported, nothing to load."""
    shutil.copyfile(PYDICOM_FILES / "dicomdirtests" / "DICOMDIR", tmp_path / "DICOMDIR")
    index = index_folder(tmp_path)
    reasons = _skip_reasons(index)
    assert "DICOMDIR" in reasons
    assert any("missing" in r for name, r in reasons.items() if name != "DICOMDIR")
    assert not index.patients
    _refused_to_load(tmp_path)


# --- permissions (as an unprivileged user: root reads mode-000 files) ---------------

def _probe(folder: Path) -> dict:
    """What index_folder and load_dicom make of ``folder`` (IntervalErrors recorded)."""
    out: dict = {}
    try:
        index = index_folder(folder)
        out["skipped"] = {s.path: s.reason for s in index.skipped}
        out["stacks"] = [s.n_frames for s in index.iter_stacks()]
        out["warnings"] = index.warnings
    except IntervalError as exc:
        out["index_error"] = [type(exc).__name__, str(exc)]
    try:
        out["loaded"] = list(load_dicom(folder).shape)
    except IntervalError as exc:
        out["load_error"] = [type(exc).__name__, str(exc)]
    return out


@pytest.fixture
def world_dir() -> Iterator[Path]:
    """A folder the unprivileged user can reach (pytest's tmp_path is private to root)."""
    path = world_reachable_dir()
    try:
        yield path
    finally:
        restore_permissions(path)
        shutil.rmtree(path)


def _run_as_nobody(folder: Path) -> dict:
    return run_unprivileged(lambda: _probe(folder), warm_up=lambda: load_dicom(_ct_slice()))


def test_unreadable_file_is_reported(world_dir: Path) -> None:
    src = _ct_slice().parent
    for p in sorted(src.glob("*.dcm")):
        shutil.copyfile(p, world_dir / p.name)
        (world_dir / p.name).chmod(0o644)
    (world_dir / "02.dcm").chmod(0o000)
    out = _run_as_nobody(world_dir)
    reasons = {Path(k).name: v for k, v in out["skipped"].items()}
    assert "permission" in reasons["02.dcm"].lower(), out
    _assert_clear(reasons["02.dcm"])
    assert out["stacks"] == [2], out  # the readable slices still form a stack


def test_only_unreadable_files(world_dir: Path) -> None:
    shutil.copyfile(_ct_slice(), world_dir / "01.dcm")
    (world_dir / "01.dcm").chmod(0o000)
    out = _run_as_nobody(world_dir)
    reasons = {Path(k).name: v for k, v in out["skipped"].items()}
    assert "permission" in reasons["01.dcm"].lower(), out
    name, message = out["load_error"]
    assert name == "NotAnImage", out
    _assert_clear(message)
    assert "permission" in message.lower(), out


def test_unreadable_folder(world_dir: Path) -> None:
    locked = world_dir / "locked"
    locked.mkdir()
    shutil.copyfile(_ct_slice(), locked / "01.dcm")
    locked.chmod(0o000)
    out = _run_as_nobody(locked)
    name, message = out["index_error"]
    assert name == "UnreadableFile", out
    _assert_clear(message)
    assert "permission" in message.lower(), out
    assert "load_error" in out
    _assert_clear(out["load_error"][1])


def test_unreadable_subfolder_is_listed(world_dir: Path) -> None:
    (world_dir / "ok").mkdir()
    shutil.copyfile(_ct_slice(), world_dir / "ok" / "01.dcm")
    (world_dir / "ok" / "01.dcm").chmod(0o644)
    (world_dir / "ok").chmod(0o755)
    locked = world_dir / "locked"
    locked.mkdir()
    locked.chmod(0o000)
    out = _run_as_nobody(world_dir)
    assert out["stacks"] == [1], out
    reasons = {Path(k).name: v for k, v in out["skipped"].items()}
    assert "permission" in reasons["locked"].lower(), out
    assert out["loaded"] == [1, 512, 512]


# --- the command line -----------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interval.cli.main", *args],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.mark.parametrize("case", ["missing", "junk", "empty_folder", "truncated", "non_image"])
def test_cli_reports_bad_input_without_traceback(case: str, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    if case == "missing":
        folder = tmp_path / "nowhere"
    elif case == "junk":
        (folder / "junk.dcm").write_bytes(os.urandom(4000))
    elif case == "truncated":
        data = _ct_slice().read_bytes()
        (folder / "half.dcm").write_bytes(data[: len(data) // 2])
    elif case == "non_image":
        shutil.copyfile(shared("dcmqi_data", "data", "sr-example", "sr.dcm"), folder / "sr.dcm")
    proc = _cli("convert", str(folder), "-o", str(tmp_path / "out.nii.gz"))
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    err = proc.stderr.strip()
    assert err.startswith("interval: error:"), err
    _assert_clear(err)
    assert not (tmp_path / "out.nii.gz").exists()


def test_cli_info_on_missing_path(tmp_path: Path) -> None:
    proc = _cli("info", str(tmp_path / "nowhere"))
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "nowhere" in proc.stderr and "not found" in proc.stderr.lower()


def test_cli_info_lists_skipped_files(tmp_path: Path) -> None:
    """``info`` on a folder of broken files succeeds and says why each was skipped."""
    (tmp_path / "junk.dcm").write_bytes(os.urandom(4000))
    (tmp_path / "empty.dcm").write_bytes(b"")
    proc = _cli("info", str(tmp_path), "--json")
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
    tree = json.loads(proc.stdout)
    text = json.dumps(tree)
    assert "junk.dcm" in text and "empty.dcm" in text
    assert "not a DICOM file" in text and "empty file" in text
