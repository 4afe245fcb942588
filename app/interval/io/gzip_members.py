"""Fast gzip compression: independent gzip members compressed in parallel threads.

A gzip file may hold several members one after another (RFC 1952, section 2.2);
zlib's ``gzread`` (ITK, SimpleITK, dcm2niix), Python's :mod:`gzip` (nibabel) and
``gunzip`` read them as one stream, as they read files from ``pigz``.  Compressing
fixed-size chunks as separate members lets threads work in parallel (zlib releases
the GIL).  Level 1 by default, as nibabel writes ``.nii.gz``: for segmentation label
maps it is 3-10x faster than ITK's built-in writer at a slightly larger file.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

CHUNK_BYTES = 8 * 2**20
GZIP_WBITS = 31  # zlib: gzip header and trailer around a raw deflate stream


def _member(data: bytes, level: int) -> bytes:
    comp = zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS)
    return comp.compress(data) + comp.flush()


def _chunks(src: BinaryIO, size: int) -> Iterator[bytes]:
    while chunk := src.read(size):
        yield chunk


def gzip_stream(src: BinaryIO, dst: BinaryIO, *, level: int = 1,
                threads: int | None = None, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Compress ``src`` into ``dst`` as gzip members; returns the bytes written.

    At most ``2 * threads`` chunks are in memory at once; members are written in order.
    """
    threads = max(1, threads or min(4, os.cpu_count() or 1))
    written = 0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending = []
        for chunk in _chunks(src, chunk_bytes):
            pending.append(pool.submit(_member, chunk, level))
            if len(pending) >= 2 * threads:
                out = pending.pop(0).result()
                dst.write(out)
                written += len(out)
        for fut in pending:
            out = fut.result()
            dst.write(out)
            written += len(out)
    if written == 0:  # an empty input still makes a valid (empty) gzip file
        out = _member(b"", level)
        dst.write(out)
        written = len(out)
    return written


__all__ = ["gzip_stream"]
