"""Run a probe where file permissions really apply (tests run as root, which reads anything).

As root, the probe runs in a forked child that has dropped to uid/gid 65534
(forked rather than exec'd: the interpreter may live where that user cannot
reach, so whatever the probe imports lazily must be warmed up first).  As
another user, it runs in-process.  Either way a mode-000 sentinel file proves
that reads are really refused; if they are not, the test is skipped.
"""

from __future__ import annotations

import json
import os
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

NOBODY = 65534


def world_reachable_dir() -> Path:
    """A fresh folder under the system temp dir that uid 65534 can enter."""
    path = Path(tempfile.mkdtemp(prefix="interval-perm-"))
    path.chmod(0o755)
    return path


def restore_permissions(root: Path) -> None:
    """Make everything under ``root`` writable again (before deleting it)."""
    root.chmod(0o755)
    for p in root.rglob("*"):
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)


def run_unprivileged(
    probe: Callable[[], dict[str, Any]], warm_up: Callable[[], object] | None = None
) -> dict[str, Any]:
    """``probe()`` (a JSON-able dict) run without the power to bypass file permissions."""
    fd, name = tempfile.mkstemp(prefix="interval-mode000-")
    os.close(fd)
    sentinel = Path(name)
    sentinel.chmod(0o000)
    try:
        if os.geteuid() != 0:
            try:
                sentinel.read_bytes()
            except PermissionError:
                return probe()
            pytest.skip("this user reads mode-000 files and cannot switch to another user")
        if warm_up is not None:
            warm_up()
        return _forked_as_nobody(probe, sentinel)
    finally:
        sentinel.chmod(0o600)
        sentinel.unlink()


def _forked_as_nobody(probe: Callable[[], dict[str, Any]], sentinel: Path) -> dict[str, Any]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                sentinel.read_bytes()
                out: dict[str, Any] = {"privileges_dropped": False}
            except PermissionError:
                out = {**probe(), "privileges_dropped": True}
        except BaseException:  # noqa: BLE001 - reported to the parent
            out = {"crash": traceback.format_exc()}
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(json.dumps(out).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    out = json.loads(data) if data else {"crash": "the child wrote nothing"}
    assert "crash" not in out, out.get("crash")
    assert out.pop("privileges_dropped"), "the child could still read a mode-000 file"
    return out
