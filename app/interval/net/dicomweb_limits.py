"""What a DICOMweb server can make us hold: bounds on answers, images and the disk.

A broken or hostile server may send a search answer that never ends, an image that
never ends (fast or trickling), or an image larger than the disk can take.  These
bounds stop each case with an internal signal (:class:`TooLarge`,
:class:`DiskAlmostFull`) that :mod:`interval.net.dicomweb` turns into a sentence.
The bounds are read at call time, so a test may lower them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

MIB = 1 << 20
GIB = 1 << 30
MAX_SEARCH_ANSWER_BYTES = 64 * MIB  # one QIDO-RS answer, held in memory to parse
MAX_INSTANCE_BYTES = 8 * GIB  # one WADO-RS answer (one image), streamed to disk
DISK_RESERVE_BYTES = 1 * GIB  # left free on the disk of the PACS cache
DISK_CHECK_EVERY = 64 * MIB  # free space checked again after this many bytes written


class TooLarge(Exception):  # noqa: N818 (an internal signal, turned into a sentence)
    """An answer went past its bound."""


class DiskAlmostFull(Exception):  # noqa: N818 (an internal signal, turned into a sentence)
    """Writing on would leave less than :data:`DISK_RESERVE_BYTES` free."""

    def __init__(self, free: int, needed: int) -> None:
        super().__init__(free, needed)
        self.free = free
        self.needed = needed


def format_size(nbytes: int) -> str:
    """``64 MiB``, ``1.5 GiB``, ``812 KiB``: a size for a sentence."""
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", 1 << 10)):
        if nbytes >= size:
            value = nbytes / size
            return f"{value:.0f} {unit}" if value >= 10 or value == int(value) \
                else f"{value:.1f} {unit}"
    return f"{max(nbytes, 0)} bytes"


def announced_length(headers: Mapping[str, str]) -> int | None:
    """The Content-Length a response announced, or None."""
    value = str(headers.get("Content-Length", "") or "").strip()
    return int(value) if value.isdigit() else None


def read_capped(chunks: Iterable[bytes], cap: int, announced: int | None = None) -> bytes:
    """The whole body, refused (:class:`TooLarge`) beyond ``cap`` bytes.

    An announced length beyond ``cap`` is refused before a byte is read; otherwise at most
    ``cap`` bytes plus one chunk are ever held."""
    if announced is not None and announced > cap:
        raise TooLarge()
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > cap:
            raise TooLarge()
    return bytes(body)


def free_bytes(folder: Path) -> int:
    """Free space on the disk holding ``folder``."""
    return shutil.disk_usage(folder).free


def check_disk(folder: Path, needed: int = 0) -> None:
    """Raise :class:`DiskAlmostFull` when writing ``needed`` more bytes into ``folder``
    would leave less than :data:`DISK_RESERVE_BYTES` free."""
    free = free_bytes(folder)
    if free - max(needed, 0) < DISK_RESERVE_BYTES:
        raise DiskAlmostFull(free, max(needed, 0))


def bounded_chunks(chunks: Iterable[bytes], folder: Path,
                   announced: int | None = None) -> Iterator[bytes]:
    """``chunks`` passed on while they stay within :data:`MAX_INSTANCE_BYTES` and the disk
    of ``folder`` keeps its reserve (checked first, then every :data:`DISK_CHECK_EVERY`
    bytes, counting what the announced length still has to bring)."""
    cap = MAX_INSTANCE_BYTES
    every = max(int(DISK_CHECK_EVERY), 1)
    if announced is not None and announced > cap:
        raise TooLarge()
    check_disk(folder, announced or 0)
    received = 0
    next_check = every
    for chunk in chunks:
        received += len(chunk)
        if received > cap:
            raise TooLarge()
        if received >= next_check:
            check_disk(folder, (announced or 0) - received)
            next_check = received + every
        yield chunk
