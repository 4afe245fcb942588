"""Find the files to index under a folder (recursive, DICOMDIR honoured).

A folder holding a ``DICOMDIR`` (a CD/DVD, or a folder exported by a PACS)
is read through it: only the files its records list are parsed; the other
files of that folder tree (viewer programs, autorun files...) are reported as
skipped ("not listed in the DICOMDIR") without being opened.  A DICOMDIR in a
sub-folder governs that sub-folder the same way.  When a DICOMDIR lists files
that do not exist, or cannot be read, its folder is searched as if it had
none and the missing files are reported.  The DICOMDIR file itself is
reported as skipped: it is not an image.

Only regular files are returned (never FIFOs or devices, which could block
on open); folder links are followed once (no loops).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from interval.core.errors import UnreadableFile
from interval.core.jobs import CancelFn, check_cancel
from interval.io.dicom.dicomdir import is_dicomdir_name, read_dicomdir
from interval.io.dicom.header_fast import DICOMDIR_REASON
from interval.io.dicom.records import SkippedFile

MISSING_REASON = "listed in the DICOMDIR but the file is missing"
UNLISTED_REASON = "not listed in the DICOMDIR of its folder (the disc's table of contents)"


@dataclass
class Discovery:
    """What was found: files to parse, entries already judged, and warnings."""

    files: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def discover(root: str | Path, *, cancel: CancelFn | None = None) -> Discovery:
    """All files under the folder ``root`` to index, in a stable (sorted) order.

    Paths are absolute.  Raises :class:`UnreadableFile` when ``root`` does not
    exist, is not a folder, or cannot be listed.
    """
    root_path = Path(os.path.abspath(root))
    if not root_path.exists():
        raise UnreadableFile("folder not found", path=root_path)
    if not root_path.is_dir():
        raise UnreadableFile("is a file, not a folder", path=root_path)
    out = Discovery()
    walked, dicomdirs = _walk(str(root_path), out, cancel)
    governed: list[str] = []  # folders whose files come from their DICOMDIR
    listed: set[str] = set()
    for path in sorted(dicomdirs, key=lambda p: (p.count(os.sep), p)):
        files = _dicomdir_files(path, out)
        if files is not None:
            governed.append(os.path.dirname(path) + os.sep)
            listed.update(files)
    for path in walked:
        if path in listed or not any(path.startswith(g) for g in governed):
            out.files.append(path)
        else:
            out.skipped.append(SkippedFile(path, UNLISTED_REASON))
    walked_set = set(walked)
    out.files.extend(p for p in sorted(listed) if p not in walked_set)
    out.files = sorted(dict.fromkeys(out.files))
    return out


def _walk(root: str, out: Discovery, cancel: CancelFn | None) -> tuple[list[str], list[str]]:
    """Regular files and DICOMDIR files under ``root``; odd entries go to ``out.skipped``."""
    files: list[str] = []
    dicomdirs: list[str] = []
    visited: set[tuple[int, int]] = set()
    stack = [root]
    n_dirs = 0
    while stack:
        folder = stack.pop()
        n_dirs += 1
        if n_dirs % 64 == 0:
            check_cancel(cancel)
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in visited:
                continue  # a folder link that loops back
            visited.add(key)
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            reason = (
                "no permission to open this folder"
                if isinstance(exc, PermissionError)
                else f"the folder could not be read ({exc.strerror or exc})"
            )
            if folder == root:
                raise UnreadableFile(reason, path=folder) from exc
            out.skipped.append(SkippedFile(folder, reason))
            continue
        subfolders = []
        for entry in entries:
            kind = _kind(entry)
            if kind == "dir":
                subfolders.append(entry.path)
            elif kind == "file":
                (dicomdirs if is_dicomdir_name(entry.name) else files).append(entry.path)
            elif kind == "broken":
                out.skipped.append(SkippedFile(entry.path, "broken link (the file it points to is missing)"))
            else:
                out.skipped.append(SkippedFile(entry.path, "not a regular file"))
        stack.extend(reversed(subfolders))
    return files, dicomdirs


def _dicomdir_files(path: str, out: Discovery) -> list[str] | None:
    """The files a DICOMDIR lists, or None when its folder must be searched instead."""
    out.skipped.append(SkippedFile(path, DICOMDIR_REASON))
    try:
        listing = read_dicomdir(path)
    except UnreadableFile as exc:
        out.warnings.append(f"{exc.message} ({path}); its folder was searched instead.")
        return None
    if listing.missing:
        out.skipped.extend(SkippedFile(p, MISSING_REASON) for p in listing.missing)
        out.warnings.append(
            f"The DICOMDIR {path} lists {len(listing.missing)} file(s) that are missing; "
            "its folder was searched instead."
        )
        return None
    if not listing.files:
        out.warnings.append(f"The DICOMDIR {path} lists no files; its folder was searched instead.")
        return None
    return listing.files


def _kind(entry: os.DirEntry[str]) -> str:
    """'dir', 'file', 'broken' (dangling link) or 'other' (FIFO, socket, device)."""
    try:
        mode = entry.stat().st_mode  # follows links
    except FileNotFoundError:
        return "broken"
    except OSError:
        return "other"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "other"
