"""How much memory a model's process may use: sizes in words, the machine's default.

A model runs in its own process (:mod:`interval.ai.runner`); its memory limit is, in
order of precedence:

1. what the caller passes (``memory_limit_bytes``; ``interval segment --memory-limit``);
2. the environment variable ``INTERVAL_MODEL_MEMORY_LIMIT`` (e.g. ``8G``, ``512M``,
   ``none``);
3. :func:`machine_default_limit`: three quarters of the computer's memory, leaving at
   least 2 GiB to the viewer and the operating system, and never less than half of it.

The limit is the memory the model may add to its process (and the processes it
starts) once the runtime has started: the interpreter and the preloaded libraries
(e.g. torch) are not counted.  ``0`` (or ``none``/``off``) means no limit.
"""

from __future__ import annotations

import os
import re

from interval.core.errors import IntervalError

__all__ = [
    "ENV_VAR",
    "MIN_LIMIT_BYTES",
    "NO_LIMIT",
    "format_size",
    "machine_default_limit",
    "machine_memory_bytes",
    "parse_size",
    "resolve_limit",
]

ENV_VAR = "INTERVAL_MODEL_MEMORY_LIMIT"
NO_LIMIT = 0  # pass as memory_limit_bytes to run a model without a limit
MIN_LIMIT_BYTES = 2**20  # anything smaller is certainly a typo ("8" for "8G")
_GiB = 2**30
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_OFF = {"0", "none", "off", "no", "unlimited"}
_CGROUP_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def parse_size(text: str, *, what: str = "the memory limit") -> int:
    """``"8G"`` -> 8 GiB in bytes (binary units K, M, G, T; optional ``B``/``iB``);
    ``"none"``, ``"off"``, ``"0"`` -> :data:`NO_LIMIT`.  Raises IntervalError otherwise."""
    value = str(text).strip()
    if value.lower() in _OFF:
        return NO_LIMIT
    match = _SIZE.match(value)
    if match is None:
        raise IntervalError(
            f"{what} {value[:40]!r} is not a size; write it like 8G, 512M or 'none'"
        )
    number, unit = float(match.group(1)), match.group(2).lower()
    nbytes = int(number * _UNITS[unit])
    if nbytes == 0:
        return NO_LIMIT
    if nbytes < MIN_LIMIT_BYTES:
        raise IntervalError(
            f"{what} {value!r} is smaller than 1 MiB; did you mean {value}G? "
            "(units: K, M, G, T; 'none' for no limit)"
        )
    return nbytes


def format_size(nbytes: int) -> str:
    """``8589934592`` -> ``"8.0 GiB"``; below a GiB in MiB."""
    if nbytes >= _GiB:
        return f"{nbytes / _GiB:.1f} GiB"
    return f"{nbytes / 2**20:.0f} MiB"


def machine_memory_bytes() -> int:
    """The memory this process may use: the computer's RAM, or a smaller container
    (cgroup) limit when there is one."""
    import psutil

    total = int(psutil.virtual_memory().total)
    for path in _CGROUP_FILES:
        try:
            with open(path, encoding="ascii") as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:  # "max" / a huge number: no limit
            total = int(text)
    return total


def machine_default_limit(total_bytes: int | None = None) -> int:
    """The default limit: ``total - max(2 GiB, total / 4)``, but at least ``total / 2``.

    The viewer keeps the images (and receives the model's results), the operating
    system and the desktop need their share; a quarter of the memory, and no less than
    2 GiB, is left to them.  On small computers (under 4 GiB) half the memory is left.
    Examples: 8 GiB -> 6 GiB, 16 GiB -> 12 GiB, 64 GiB -> 48 GiB, 4 GiB -> 2 GiB.
    """
    total = machine_memory_bytes() if total_bytes is None else int(total_bytes)
    reserve = max(2 * _GiB, total // 4)
    return max(total - reserve, total // 2)


def resolve_limit(requested: int | None) -> int:
    """The limit to apply for a caller's ``memory_limit_bytes`` (see the module notes):
    a positive number of bytes, or :data:`NO_LIMIT`."""
    if requested is not None:
        if int(requested) < 0:
            raise ValueError("memory_limit_bytes must be >= 0 (0: no limit)")
        return int(requested)
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return parse_size(env, what=f"the environment variable {ENV_VAR}")
    return machine_default_limit()
