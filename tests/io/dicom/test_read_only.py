"""Source files are opened read-only and never modified by indexing or loading.

* bytes, sizes and mtimes of real series (copies, and the shared originals)
  are the same after ``index_folder`` + ``load_stack`` of every stack, and no
  file appears in or disappears from their folders;
* every ``open``/``os.open``/``mmap`` of a source path during indexing and
  loading asks for reading only, and nothing renames, deletes, truncates,
  chmods or touches a source path;
* a write-protected copy indexes and loads the same, as a user that cannot
  write to it (a CD, a read-only share).
"""

from __future__ import annotations

import builtins
import hashlib
import io
import mmap
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from interval.core.errors import IntervalError
from interval.io.dicom.index import index_folder
from interval.io.dicom.load import load_stack
from tests.conftest import shared
from tests.io.dicom.unprivileged import restore_permissions, run_unprivileged, world_reachable_dir

PYDICOM_FILES = Path(pydicom.__file__).resolve().parent / "data" / "test_files"

# name -> folder (relative to the shared DICOM data), each a different reading path
FOLDERS = {
    "ct_implicit_series": ("dcmqi_data", "data", "segmentations", "ct-3slice"),
    "transfer_syntaxes_mosaic": ("dcm_qa_ts", "In"),
    "enhanced_multiframe": ("dcm_qa_enh", "In"),
    "ct_j2k_series": ("totalsegmentator_ref", "tests", "reference_files", "example_ct_dicom"),
    "seg_with_images": ("dcmqi_data", "data", "segmentations", "24x38x3"),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _state(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under ``root``: sha256, size, mtime (ns)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(root))] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns)
    return out


def _index_and_load(root: Path) -> dict[str, Any]:
    """Index ``root``, load every stack; a JSON-able summary of what happened."""
    index = index_folder(root)
    loaded: dict[str, Any] = {}
    for stack in index.iter_stacks():
        try:
            loaded[stack.uid] = list(load_stack(stack).shape)
        except IntervalError as exc:
            loaded[stack.uid] = type(exc).__name__
    objects = sorted(o.kind for _p, _s, se in index.iter_series() for o in [*se.objects, *se.attached])
    skipped = sorted(str(Path(s.path).relative_to(root)) for s in index.skipped)
    return {"loaded": loaded, "objects": objects, "skipped": skipped}


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, copy_function=shutil.copy2)
    restore_permissions(dst)  # the shared data is read-only; the copy starts writable
    return dst


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_index_and_load_leave_copies_unchanged(name: str, tmp_path: Path) -> None:
    root = _copy(shared(*FOLDERS[name]), tmp_path / name)
    before = _state(root)
    result = _index_and_load(root)
    assert any(isinstance(v, list) for v in result["loaded"].values()), result
    assert _state(root) == before


def test_shared_originals_unchanged() -> None:
    """Straight on the shared data (root could write there despite its modes)."""
    roots = [shared(*FOLDERS["ct_implicit_series"]), shared("dcmqi_data", "data", "sr-example")]
    before = [_state(r) for r in roots]
    for root in roots:
        _index_and_load(root)
    assert [_state(r) for r in roots] == before


def test_dicomdir_folder_unchanged(tmp_path: Path) -> None:
    root = _copy(PYDICOM_FILES / "dicomdirtests", tmp_path / "disc")
    before = _state(root)
    result = _index_and_load(root)
    assert result["loaded"], result
    assert _state(root) == before


# --- every open is read-only ---------------------------------------------------------


class _OpenRecorder:
    """Wraps open/os.open/mmap and path-changing os calls; records those on ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.realpath(root)
        self.reads: list[str] = []
        self.writes: list[str] = []

    def _mine(self, path: Any) -> bool:
        if isinstance(path, int):
            return False
        try:
            real = os.path.realpath(os.fspath(path))
        except TypeError:
            return False
        return real == self.root or real.startswith(self.root + os.sep)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_open, real_os_open, real_mmap = builtins.open, os.open, mmap.mmap

        def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if self._mine(file):
                bad = any(c in mode for c in "wax+")
                (self.writes if bad else self.reads).append(f"open({file}, {mode!r})")
            return real_open(file, mode, *args, **kwargs)

        def fake_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if self._mine(path):
                bad = flags & _WRITE_FLAGS
                (self.writes if bad else self.reads).append(f"os.open({path}, {flags:#o})")
            return real_os_open(path, flags, *args, **kwargs)

        def fake_mmap(fileno: int, length: int, *args: Any, **kwargs: Any) -> mmap.mmap:
            access = kwargs.get("access", mmap.ACCESS_DEFAULT)
            prot = kwargs.get("prot", mmap.PROT_READ | mmap.PROT_WRITE)
            link = f"/proc/self/fd/{fileno}"
            if fileno >= 0 and os.path.exists(link) and self._mine(os.readlink(link)):
                bad = access in (mmap.ACCESS_WRITE, mmap.ACCESS_DEFAULT) and prot & mmap.PROT_WRITE
                if access == mmap.ACCESS_COPY:
                    bad = False
                (self.writes if bad else self.reads).append(f"mmap({os.readlink(link)}, access={access})")
            return real_mmap(fileno, length, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(io, "open", fake_open)
        monkeypatch.setattr(os, "open", fake_os_open)
        monkeypatch.setattr(mmap, "mmap", fake_mmap)
        for name in ("remove", "unlink", "rename", "replace", "utime", "chmod", "truncate", "rmdir", "mkdir"):
            monkeypatch.setattr(os, name, self._forbid(name, getattr(os, name)))

    def _forbid(self, name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if args and self._mine(args[0]) or len(args) > 1 and self._mine(args[1]):
                self.writes.append(f"os.{name}{args}")
            return real(*args, **kwargs)

        return wrapper


@pytest.fixture
def recorder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[_OpenRecorder]:
    name = request.param
    src = PYDICOM_FILES / "dicomdirtests" if name == "dicomdir" else shared(*FOLDERS[name])
    root = _copy(src, tmp_path / "src")
    rec = _OpenRecorder(root)
    rec.install(monkeypatch)
    yield rec


@pytest.mark.parametrize("recorder", [*sorted(FOLDERS), "dicomdir"], indirect=True)
def test_every_open_of_a_source_is_read_only(recorder: _OpenRecorder) -> None:
    root = Path(recorder.root)
    before = _state(root)
    result = _index_and_load(root)
    assert not recorder.writes, recorder.writes
    # the recorder saw the reads (the test is not vacuous): every indexed file was opened
    opened = {r.split("(", 1)[1].split(",")[0] for r in recorder.reads}
    indexed = set(before) - set(result["skipped"])
    missing = {f for f in indexed if not any(o.endswith(f) for o in opened)}
    assert not missing, f"files read without a recorded open: {sorted(missing)[:5]}"
    assert _state(root) == before


# --- a write-protected copy as a user who cannot write --------------------------------


@pytest.fixture
def protected_copy() -> Iterator[Path]:
    base = world_reachable_dir()
    try:
        root = base / "series"
        for name in ("ct_implicit_series", "transfer_syntaxes_mosaic"):
            _copy(shared(*FOLDERS[name]), root / name)
        for p in [root, *root.rglob("*")]:  # chmod -R a-w
            p.chmod(0o555 if p.is_dir() else 0o444)
        base.chmod(0o555)
        yield root
    finally:
        base.chmod(0o755)
        restore_permissions(base)
        shutil.rmtree(base)


def test_write_protected_copy_loads_the_same_as_unprivileged_user(protected_copy: Path) -> None:
    root = protected_copy
    as_root = _index_and_load(root)
    before = _state(root)
    as_nobody = run_unprivileged(
        lambda: _index_and_load(root), warm_up=lambda: _index_and_load(root)
    )
    assert as_nobody == as_root
    assert sum(isinstance(v, list) for v in as_root["loaded"].values()) >= 2, as_root
    assert _state(root) == before
