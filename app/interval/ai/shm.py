"""Shared-memory numpy arrays between the viewer and a model's child process.

The PARENT creates every segment (inputs and outputs) and unlinks it as soon as
the child has mapped it (and in any case in a ``finally``), so no segment outlives
a run, whatever the child does (segfault, SIGKILL, hang).  A mapping stays valid
after its name is unlinked, so arrays handed back to the caller keep working and
need no copy; the memory is returned to the system when the last array using it
is garbage-collected.

On POSIX the segments are opened with ``shm_open`` + ``mmap`` directly (no
resource tracker, explicit ownership), and their pages are reserved up front
(``posix_fallocate``): when the shared-memory filesystem is too small (Docker's
default ``/dev/shm`` is 64 MB) the array goes to a temporary file instead, never to a
SIGBUS on first write.  On Windows, where a named mapping lives
only while a handle is open, :mod:`multiprocessing.shared_memory` is used and
outputs are copied out before the segment is closed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import mmap
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

_POSIX = sys.platform != "win32"
if _POSIX:
    import _posixshmem  # type: ignore[import-not-found]  # CPython's own helper (3.8+)

log = logging.getLogger(__name__)
PREFIX = "iv"  # segment names: /iv<pid hex>_<random>, short enough for macOS (31 chars)


@dataclass(frozen=True)
class ArraySpec:
    """How to find one array (sent to the other process as :meth:`to_dict`).

    ``kind`` is ``"shm"`` (a POSIX shared-memory name) or ``"file"`` (the path of a
    temporary file, used when the shared-memory filesystem is too small, e.g. Docker's
    default 64 MB ``/dev/shm``).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype string, e.g. "<i2"
    kind: str = "shm"

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (what crosses the process boundary)."""
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "kind": self.kind}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArraySpec:
        """The inverse of :meth:`to_dict` (fields already checked by the protocol)."""
        return cls(str(data["name"]), tuple(int(s) for s in data["shape"]),
                   str(data["dtype"]), str(data["kind"]))


def check_dtype(dtype: np.dtype) -> np.dtype:
    """Only plain numeric/bool dtypes travel through shared memory."""
    dtype = np.dtype(dtype)
    if dtype.hasobject or dtype.kind not in "biufc":
        raise TypeError(f"arrays of dtype {dtype} cannot be shared with a child process")
    return dtype


def new_name() -> str:
    """A fresh, unguessable segment name tagged with this process id."""
    return f"/{PREFIX}{os.getpid():x}_{secrets.token_hex(6)}"


def _reserve(fd: int, size: int) -> None:
    """Give the segment its size AND its pages: a full tmpfs then fails here with ENOSPC
    instead of killing the process with SIGBUS on the first write."""
    os.ftruncate(fd, size)
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)


class Segment:
    """One shared-memory segment owned (created and unlinked) by this process."""

    def __init__(self, spec: ArraySpec, *, create: bool) -> None:
        self.spec = spec
        self._unlinked = not create
        self._shm = None
        size = max(spec.nbytes, 1)
        if spec.kind == "file":
            flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
            fd = os.open(spec.name, flags, 0o600)
        elif _POSIX:
            flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
            fd = _posixshmem.shm_open(spec.name, flags, mode=0o600)
        else:  # pragma: no cover - Windows
            from multiprocessing import shared_memory

            self._shm = shared_memory.SharedMemory(spec.name.lstrip("/"), create=create, size=size)
            self._map: Any = self._shm.buf
            return
        try:
            if create:
                _reserve(fd, size)
            self._map = mmap.mmap(fd, size)
        except BaseException:
            if create:
                _unlink_name(spec)
            raise
        finally:
            os.close(fd)

    @classmethod
    def create(cls, shape: tuple[int, ...], dtype: np.dtype) -> Segment:
        """A new segment for an array of ``shape`` and ``dtype``: shared memory, or a
        temporary file when shared memory is short (both unlinked by :meth:`unlink`)."""
        dtype = check_dtype(dtype)
        shape = tuple(int(s) for s in shape)
        if _POSIX and _use_shm():
            try:
                return cls(ArraySpec(new_name(), shape, dtype.str), create=True)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.ENOMEM, errno.EFBIG):
                    raise
                log.debug("shared memory is full (%s); using a temporary file", exc)
        path = os.path.join(tempfile.gettempdir(), new_name().lstrip("/") + ".bin")
        return cls(ArraySpec(path, shape, dtype.str, kind="file"), create=True)

    @classmethod
    def attach(cls, spec: ArraySpec) -> Segment:
        """Map an existing segment (in the child); the child never unlinks it."""
        return cls(spec, create=False)

    def array(self) -> np.ndarray:
        """A numpy view of the segment (keeps the mapping alive while it exists)."""
        count = int(np.prod(self.spec.shape, dtype=np.int64))
        flat = np.frombuffer(self._map, dtype=np.dtype(self.spec.dtype), count=count)
        return flat.reshape(self.spec.shape)

    def unlink(self) -> None:
        """Remove the name (idempotent); existing mappings stay valid on POSIX."""
        if self._unlinked:
            return
        self._unlinked = True
        if self._shm is None:
            _unlink_name(self.spec)

    def close(self) -> None:
        """Windows only: release the handle (after copying out what is needed)."""
        if self._shm is not None:  # pragma: no cover - Windows
            self._map = None
            self._shm.close()


def _use_shm() -> bool:
    """Shared memory unless INTERVAL_SHM=file asks for temporary files."""
    return os.environ.get("INTERVAL_SHM", "").strip().lower() != "file"


def _unlink_name(spec: ArraySpec) -> None:
    with contextlib.suppress(FileNotFoundError):
        if spec.kind == "file":
            os.unlink(spec.name)
        else:
            _posixshmem.shm_unlink(spec.name)


def copy_in(array: np.ndarray) -> Segment:
    """A new segment holding a copy of ``array`` (C order)."""
    array = np.asarray(array)
    seg = Segment.create(array.shape, array.dtype)
    try:
        np.copyto(seg.array(), array, casting="no")
    except BaseException:
        seg.unlink()
        raise
    return seg


def owned_array(seg: Segment) -> np.ndarray:
    """The segment's contents as an array the caller may keep (no copy on POSIX)."""
    if _POSIX:
        return seg.array()
    out = seg.array().copy()  # pragma: no cover - Windows
    seg.close()  # pragma: no cover
    return out  # pragma: no cover


def leftover_segments(pid: int | None = None) -> list[str]:
    """Segments of process ``pid`` (default: this one) still in /dev/shm or the temporary
    folder (Linux; for tests)."""
    tag = f"{PREFIX}{(os.getpid() if pid is None else pid):x}_"
    found = []
    for root in ("/dev/shm", tempfile.gettempdir()):
        if os.path.isdir(root):
            found += [os.path.join(root, n) for n in os.listdir(root) if n.startswith(tag)]
    return sorted(found)
