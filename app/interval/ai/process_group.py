"""The model's process and every process it starts: one group, stopped and measured together.

Child side (first thing in the model's process, :func:`isolate_model_process`):

* POSIX: a new session (``os.setsid``), so the model process leads its own process
  group: the terminal's Ctrl-C no longer reaches it, and the viewer stops the model
  AND whatever it started with one ``killpg``.  SIGINT gets its default handler back,
  so processes the model starts do not inherit an ignored SIGINT.
* Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the model process when
  the viewer's thread that started it ends (the viewer starts model processes from the
  main thread or from one long-lived launcher thread), even when the model is stuck in
  native code holding the GIL; ``getppid()`` is checked afterwards (the viewer may have
  died before the call).
* POSIX: a tiny sentinel process in the group (:func:`start_group_sentinel`) kills the
  group when the model process dies by any means, so that processes the model started
  do not outlive it when the viewer itself is killed.  From a source install it runs in
  a bare interpreter (``python -I -S -c``); in a frozen (PyInstaller) build, where
  ``sys.executable`` is the app, it runs the app with the hidden first argument
  :data:`SENTINEL_ARG`, which :func:`handle_frozen_start` (first thing in
  ``interval.cli.main.main``) turns into :func:`run_sentinel` before anything else.

Parent side (:class:`ProcessTree`): the group's members plus the model's descendants
that left it (found by parent pid), their resident memory, and signalling them all.

Not covered: a descendant that leaves the group AND detaches from the tree (double
fork + ``setsid``) escapes both the watch and the stop; only an operating-system
container (cgroups, Windows job objects) contains that.  On Windows (no sessions, no
parent-death signal) the model's descendants are found and stopped with psutil while
the model process lives; a job object would also cover the viewer being killed (TODO).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

__all__ = [
    "SENTINEL_ARG",
    "ProcessTree",
    "handle_frozen_start",
    "isolate_model_process",
    "run_sentinel",
    "sentinel_command",
    "start_group_sentinel",
]

log = logging.getLogger(__name__)

_LINUX = sys.platform.startswith("linux")
_PR_SET_PDEATHSIG = 1
# the frozen app's hidden first argument: run as the group sentinel of process group N
SENTINEL_ARG = "--interval-group-sentinel"
# Runs in a bare interpreter (-I -S): polls its parent (the model process); once the
# parent is gone (reparented), kills the whole group, itself included.
_SENTINEL = (
    "import os,signal,sys,time\n"
    "g=int(sys.argv[1])\n"
    "while os.getppid()==g:\n"
    "    time.sleep(0.2)\n"
    "os.killpg(g,signal.SIGKILL)\n"
)


# --- child side ---------------------------------------------------------------------------


def isolate_model_process(parent_pid: int) -> None:
    """Own session and group, default SIGINT, die with the parent (see the module notes)."""
    if not hasattr(os, "setsid"):  # Windows: Ctrl-C in the console stays the parent's
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return
    with contextlib.suppress(OSError):  # already a group leader: keep it
        os.setsid()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if _LINUX:
        _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before (or while) we got here
        os._exit(3)


def _set_parent_death_signal(sig: int) -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError):  # no prctl in this C library
        log.debug("prctl is not available; relying on the parent-watch thread")


def start_group_sentinel() -> subprocess.Popen | None:
    """Start the sentinel process (POSIX); None when not started."""
    if not hasattr(os, "killpg"):
        return None
    if os.getpgid(0) != os.getpid():  # not a group leader: killpg would hit our parent's
        return None
    try:
        return subprocess.Popen(
            sentinel_command(os.getpid()),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True,
        )
    except OSError as exc:
        log.debug("could not start the group sentinel: %s", exc)
        return None


def sentinel_command(group: int) -> list[str]:
    """The command line of the sentinel for process group ``group``: a bare interpreter
    from a source install, the app itself with :data:`SENTINEL_ARG` when frozen."""
    if getattr(sys, "frozen", False):
        return [sys.executable, SENTINEL_ARG, str(int(group))]
    return [sys.executable, "-I", "-S", "-c", _SENTINEL, str(int(group))]


def run_sentinel(group: int, poll_s: float = 0.2) -> NoReturn:
    """The sentinel's loop (frozen builds): once the parent (the model process, leader of
    ``group``) is gone, kill the whole group, this process included."""
    while os.getppid() == group:
        time.sleep(poll_s)
    with contextlib.suppress(OSError):
        os.killpg(group, signal.SIGKILL)
    os._exit(0)


def handle_frozen_start(argv: Sequence[str]) -> None:
    """First thing in the entry point.  In a frozen build: let ``multiprocessing`` run a
    spawned child (``freeze_support``; it exits when this is one), and run the group
    sentinel when ``argv`` (without the program name) starts with :data:`SENTINEL_ARG`.
    Does nothing from a source install."""
    if not getattr(sys, "frozen", False):
        return
    import multiprocessing

    multiprocessing.freeze_support()
    if len(argv) == 2 and argv[0] == SENTINEL_ARG and hasattr(os, "killpg"):
        try:
            group = int(argv[1])
        except ValueError:
            os._exit(2)
        if group > 1:
            run_sentinel(group)
        os._exit(2)


# --- parent side --------------------------------------------------------------------------


class ProcessTree:
    """The model process ``pid``, its process group and its descendants (parent side)."""

    def __init__(self, pid: int) -> None:
        self.pid = int(pid)
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        # every member seen so far: pid -> start time (a descendant that left the group is
        # orphaned when the model process dies; it is still found, by its pid, and told
        # from a new process that reused the pid by its start time)
        self._seen: dict[int, float] = {}

    def group_is_own(self) -> bool:
        """Whether the model process leads its own group (it has called setsid).

        Only meaningful while the process is not reaped (its pid is then still ours).
        """
        if not hasattr(os, "getpgid"):
            return False
        try:
            return os.getpgid(self.pid) == self.pid
        except OSError:
            return False

    def members(self) -> dict[int, tuple[int, int]]:
        """``{pid: (rss_bytes, pgid)}`` of the model process, its group, its descendants
        and the descendants seen before that still run (pgid -1 where unknown)."""
        if _LINUX and os.path.isdir("/proc"):
            found = self._members_linux()
        else:
            found = self._members_psutil()
        out = {}
        for pid, (rss, pgid, started) in found.items():
            if pid in self._seen and self._seen[pid] != started:
                continue  # the pid was reused by a process of someone else
            self._seen.setdefault(pid, started)
            out[pid] = (rss, pgid)
        return out

    def rss_bytes(self) -> int:
        """The resident memory of all members together (shared pages counted in each)."""
        return sum(rss for rss, _ in self.members().values())

    def signal(self, sig: int, members: dict[int, tuple[int, int]] | None = None) -> None:
        """Send ``sig`` to the group and to each descendant outside it (on Windows, where
        there are no signals for other processes: terminate/kill them with psutil)."""
        members = self.members() if members is None else members
        own = self.group_is_own()
        if own:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, sig)
        for pid, (_rss, pgid) in members.items():
            if pid == self.pid or (own and pgid == self.pid):
                continue  # the model process is signalled by the caller / killpg did it
            if sys.platform == "win32":  # pragma: no cover - Windows
                _psutil_stop(pid, sig)
            else:
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)

    def _members_linux(self) -> dict[int, tuple[int, int, float]]:
        table: dict[int, tuple[int, int, int, int]] = {}  # pid -> (ppid, pgid, rss, start)
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                fd = os.open(f"/proc/{name}/stat", os.O_RDONLY)
                try:
                    data = os.read(fd, 4096)
                finally:
                    os.close(fd)
                fields = data.rsplit(b")", 1)[1].split()
                table[int(name)] = (int(fields[1]), int(fields[2]), int(fields[21]),
                                    int(fields[19]))
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
        children: dict[int, list[int]] = {}
        for pid, (ppid, *_rest) in table.items():
            children.setdefault(ppid, []).append(pid)
        found = {pid for pid, (_p, pgid, *_r) in table.items() if pgid == self.pid}
        found |= {pid for pid, started in self._seen.items()
                  if pid in table and table[pid][3] == started}
        stack = [self.pid, *found]
        while stack:
            pid = stack.pop()
            if pid in table:
                found.add(pid)
            stack.extend(c for c in children.get(pid, ()) if c not in found)
        return {pid: (table[pid][2] * self._page, table[pid][1], float(table[pid][3]))
                for pid in found}

    def _members_psutil(self) -> dict[int, tuple[int, int, float]]:
        import psutil

        procs = []
        for pid in {self.pid, *self._seen}:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                procs += [proc, *proc.children(recursive=True)]
        out = {}
        for proc in procs:
            try:
                rss = int(proc.memory_info().rss)
                started = float(proc.create_time())
            except psutil.Error:
                continue
            pgid = -1
            if hasattr(os, "getpgid"):
                with contextlib.suppress(OSError):
                    pgid = os.getpgid(proc.pid)
            out[proc.pid] = (rss, pgid, started)
        return out


def _psutil_stop(pid: int, sig: int) -> None:  # pragma: no cover - Windows
    import psutil

    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        if sig == getattr(signal, "SIGKILL", None):
            proc.kill()
        else:
            proc.terminate()
