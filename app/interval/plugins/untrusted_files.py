"""Reading small files that anyone may have written (plugin manifests, ``model.json``).

Every way such a file can be hostile becomes :class:`UntrustedFileError` with a sentence,
never a traceback, a hang or a read of a device: the file is checked with ``stat`` before
it is opened (a FIFO, a device or a socket is refused without opening it), opened
non-blocking and checked again (a file swapped between the two), read up to a size limit,
decoded as UTF-8 and parsed as JSON with limits on depth, number length, duplicate keys
and invalid Unicode.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

__all__ = [
    "NotARegularFile",
    "UntrustedFileError",
    "file_kind",
    "file_problem",
    "load_json_file",
    "os_problem",
    "parse_json_bytes",
    "path_kind",
    "quoted",
    "read_regular_file",
]

MAX_QUOTED = 60  # characters of a value quoted in a message
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


class UntrustedFileError(Exception):
    """A file that cannot be accepted; ``str()`` is the sentence saying why."""


class NotARegularFile(OSError):
    """:func:`read_regular_file` met a FIFO, a device or a file over its size limit."""


def quoted(value: Any, limit: int = MAX_QUOTED) -> str:
    """``repr(value)`` cut to ``limit`` characters (a message stays one short line)."""
    if isinstance(value, dict):
        return "<an object>"
    if isinstance(value, list):
        return "<a list>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def path_kind(path: Path) -> str:
    """``"file"``, ``"folder"``, ``"other"`` (FIFO, device ...), ``"missing"`` or
    ``"unreadable"`` (permission denied, symbolic-link loop ...); links are followed.

    Never raises: unlike ``Path.is_file()``, a permission problem is an answer, not an error.
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except (OSError, ValueError):
        return "unreadable"
    if stat.S_ISREG(mode):
        return "file"
    return "folder" if stat.S_ISDIR(mode) else "other"


def file_problem(path: Path, what: str, limit: int, missing: str | None = None) -> str | None:
    """Why ``path`` (called ``what``, e.g. "the manifest") cannot be read, from ``stat``
    alone; None when it is a regular file of at most ``limit`` bytes. Nothing is opened.

    ``missing``: the sentence for a path that does not exist (default: "... does not exist").
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return f"{what} is a symbolic link to {_link_target(path)}, which does not exist"
        return missing or f"{what} does not exist"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{what} is a symbolic link that leads back to itself (a loop of symbolic links)"
        return os_problem(exc, what)
    except ValueError:  # a NUL character in the path
        return f"the path of {what} is not a valid file name"
    if stat.S_ISDIR(st.st_mode):
        return f"{path.name} is a folder, not a file"
    if not stat.S_ISREG(st.st_mode):
        return f"{what} is {file_kind(st.st_mode)}, not a regular file; it was not opened"
    if st.st_size > limit:
        return f"{what} is too large ({st.st_size} bytes; at most {limit})"
    return None


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``); never blocks on a FIFO.

    ``O_NONBLOCK`` and the ``fstat`` of the opened file cover a file swapped for a FIFO or
    a device between a ``stat`` check and the open. Raises :class:`NotARegularFile`
    (``strerror`` says why in words) or another ``OSError``.
    """
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_NOCTTY", "O_CLOEXEC", "O_BINARY"):
        flags |= getattr(os, name, 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(0, f"{path.name} is {file_kind(mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise NotARegularFile(0, f"{path.name} is too large (more than {limit} bytes)")
    return b"".join(chunks)


def load_json_file(path: Path, what: str, limit: int, missing: str | None = None) -> Any:
    """The parsed JSON of ``path`` (called ``what``); :class:`UntrustedFileError` otherwise."""
    problem = file_problem(path, what, limit, missing)
    if problem is not None:
        raise UntrustedFileError(problem)
    try:
        raw = read_regular_file(path, limit)
    except NotARegularFile as exc:
        raise UntrustedFileError(exc.strerror) from None
    except OSError as exc:
        raise UntrustedFileError(os_problem(exc, what)) from None
    return parse_json_bytes(raw, what)


def parse_json_bytes(raw: bytes, what: str) -> Any:
    """``raw`` (UTF-8, a byte-order mark allowed) parsed as JSON; each problem a sentence."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UntrustedFileError(
            f"{what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start} "
            "is not valid UTF-8; save the file as UTF-8)") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise UntrustedFileError(
            f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except _DuplicateKey as exc:
        raise UntrustedFileError(f"key {exc} appears twice in one object of {what} "
                                 "(which one counts would be a guess)") from None
    except RecursionError:
        raise UntrustedFileError(f"{what} is nested too deeply (lists or objects inside "
                                 "each other hundreds of levels deep)") from None
    except ValueError:  # int() refuses numbers of more than sys.get_int_max_str_digits() digits
        raise UntrustedFileError(
            f"{what} holds a number that is too long (thousands of digits)") from None
    bad = _first_unpaired_surrogate(data)
    if bad is not None:
        raise UntrustedFileError(f"{what} holds text that is not valid Unicode "
                                 f"(an unpaired surrogate \\u{ord(bad):04x})")
    return data


def os_problem(exc: OSError, what: str) -> str:
    """An ``OSError`` met while reading ``what``, in words."""
    if isinstance(exc, PermissionError):
        return f"{what} cannot be read: permission denied"
    return f"{what} cannot be read ({exc.strerror or type(exc).__name__})"


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words ("a FIFO (named pipe)", "a character device" ...)."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "an unusual file"


class _DuplicateKey(Exception):
    """A key given twice in one JSON object (``str()``: the key, quoted)."""


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(quoted(key))
        out[key] = value
    return out


def _first_unpaired_surrogate(data: Any) -> str | None:
    """The first lone surrogate in any key or text of ``data`` (walked without recursion)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts = [item]
        elif isinstance(item, dict):
            texts = list(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        else:
            continue
        for text in texts:
            found = _SURROGATE_RE.search(text)
            if found:
                return found.group()
    return None


def _link_target(path: Path) -> str:
    try:
        return quoted(os.readlink(path), 4 * MAX_QUOTED)
    except OSError:
        return "a missing file"
