"""Read a DICOMDIR (the table of contents of a DICOM CD/DVD or folder) into file paths.

Only the directory records' ``ReferencedFileID`` values are used: they name
the files of the set relative to the DICOMDIR's folder.  Names on discs are
often upper case while the mounted file system shows lower case (or adds an
ISO 9660 ``;1`` version), so each path component is matched without regard
to case when the exact name does not exist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

from interval.core.errors import UnreadableFile


@dataclass
class DicomdirListing:
    """Files a DICOMDIR lists: those found on disk and those missing."""

    path: str
    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def is_dicomdir_name(name: str) -> bool:
    """Whether a file name is the standard DICOMDIR name (any case, optional ``;1`` or ``.``)."""
    return _plain(name) == "dicomdir"


def read_dicomdir(path: str | Path) -> DicomdirListing:
    """List the files referenced by the DICOMDIR at ``path``.

    Raises :class:`UnreadableFile` when the DICOMDIR cannot be parsed or has
    no directory records.  Files are opened read-only.
    """
    path = Path(path)
    try:
        ds = pydicom.dcmread(path, force=True)
        records = ds.get("DirectoryRecordSequence", None)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on corrupt input
        raise UnreadableFile("the DICOMDIR could not be read", path=path) from exc
    if records is None:
        raise UnreadableFile("the DICOMDIR has no directory records", path=path)
    base = path.parent
    listing = DicomdirListing(path=str(path))
    seen: set[str] = set()
    resolver = _CaseInsensitiveResolver()
    for record in records:
        try:
            ref = record.get("ReferencedFileID", None)
        except Exception:  # noqa: BLE001 - a malformed record: ignore it
            continue
        if ref is None or ref == "":
            continue
        parts = [str(ref)] if isinstance(ref, str) else [str(p) for p in ref]
        parts = [p.strip() for p in parts if p and p.strip() not in ("", ".", "..")]
        if not parts:
            continue
        found = resolver.resolve(base, parts)
        target = str(found) if found is not None else str(base.joinpath(*parts))
        if target in seen:
            continue
        seen.add(target)
        (listing.files if found is not None else listing.missing).append(target)
    return listing


def _plain(name: str) -> str:
    """File name as written on a disc, without ISO 9660 version or trailing dot, lower case."""
    name = name.split(";", 1)[0]
    if name.endswith("."):
        name = name[:-1]
    return name.lower()


class _CaseInsensitiveResolver:
    """Finds ``base/a/b/c`` on disk matching each component without regard to case."""

    def __init__(self) -> None:
        self._listings: dict[Path, dict[str, str]] = {}

    def _listing(self, folder: Path) -> dict[str, str]:
        listing = self._listings.get(folder)
        if listing is None:
            listing = {}
            try:
                with os.scandir(folder) as it:
                    for entry in it:
                        listing.setdefault(_plain(entry.name), entry.name)
            except OSError:
                pass
            self._listings[folder] = listing
        return listing

    def resolve(self, base: Path, parts: list[str]) -> Path | None:
        exact = base.joinpath(*parts)
        if exact.is_file():
            return exact
        current = base
        for part in parts:
            actual = self._listing(current).get(_plain(part))
            if actual is None:
                return None
            current = current / actual
        return current if current.is_file() else None
