"""Atomic saves: write beside the target under a temporary name, then rename into place.

An interrupted save (crash, full disk, power cut) leaves either the old file or
the new one, never a half-written file, and never a stray temporary file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def temp_path_for(target: Path, suffix: str | None = None) -> Path:
    """A hidden, unique name in ``target``'s folder ending in ``suffix`` (default: its own)."""
    suffix = "".join(target.suffixes) if suffix is None else suffix
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    return target.with_name(f".{stem or 'file'}.{uuid.uuid4().hex[:12]}.tmp{suffix}")


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target`` atomically.

    Use when a library writes the file itself (SimpleITK, VTK): the temporary
    name keeps ``suffix`` (default: the target's extensions) so format
    detection by extension still works.
    """
    target = Path(target)
    tmp = temp_path_for(target, suffix)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(target: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; flushed, fsynced and renamed onto ``target`` on success."""
    if not any(m in mode for m in "wx"):
        raise ValueError("atomic_open is for writing ('w' or 'wb')")
    with atomic_path(target) as tmp, open(tmp, mode.replace("x", "w"), **kwargs) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
