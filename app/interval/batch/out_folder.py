"""The output folder of a batch run: its layout, its lock and its cancel flag.

::

    OUT/
      .interval-batch            marks the folder as a batch run's (a rerun reuses it)
      cases/<case_id>/           one finished case: case.json + its results (case_folder.py)
      pacs_cache/                studies fetched from a PACS (when the manifest names one)
      summary.csv, cohort_report.json, cohort_report.html

While a run writes, ``.interval-batch.lock`` names its process (a second run on the same
folder is refused) and ``.interval-batch.cancel`` appears when it is cancelled: the
workers look for it (they share the folder with the command, on one machine or on a
cluster's shared file system) and stop their case at the next step.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

from interval.core.errors import IntervalError

MARKER = ".interval-batch"
LOCK = ".interval-batch.lock"
CANCEL = ".interval-batch.cancel"
CASES_DIR = "cases"
PACS_CACHE_DIR = "pacs_cache"
SUMMARY_CSV = "summary.csv"
COHORT_JSON = "cohort_report.json"
COHORT_HTML = "cohort_report.html"


class BatchFolder:
    """Paths inside ``OUT`` (nothing is created until :meth:`prepare`)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().absolute()

    @property
    def cases(self) -> Path:
        return self.root / CASES_DIR

    def case_dir(self, case_id: str) -> Path:
        """Where case ``case_id``'s results are once it has finished."""
        return self.cases / case_id

    @property
    def cancel_flag(self) -> Path:
        return self.root / CANCEL

    def prepare(self, inputs: Iterable[str | Path] = ()) -> None:
        """Create ``OUT`` (or reuse an earlier run's); refuse a folder inside an input
        folder or one that holds other files."""
        real_out = Path(os.path.realpath(self.root))
        for src in inputs:
            real_src = Path(os.path.realpath(Path(src).expanduser()))
            if real_src.is_dir() and (real_out == real_src or real_src in real_out.parents):
                raise IntervalError(f"the output folder {self.root} is inside the input folder "
                                    f"{src}; choose a folder outside the scans")
        if self.root.exists() and not self.root.is_dir():
            raise IntervalError(f"{self.root} exists and is not a folder")
        if (self.root.is_dir() and not (self.root / MARKER).exists()
                and any(self.root.iterdir())):
            raise IntervalError(f"the output folder {self.root} holds files of something else; "
                                "choose an empty or new folder (or an earlier batch run's)")
        try:
            self.cases.mkdir(parents=True, exist_ok=True)
            (self.root / MARKER).touch()
        except OSError as exc:
            raise IntervalError(f"the output folder {self.root} cannot be written: "
                                f"{exc.strerror or exc}") from None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock while a run writes into it (:class:`IntervalError` when
        another run that is still alive holds it)."""
        lock = self.root / LOCK
        me = {"host": socket.gethostname(), "pid": os.getpid()}
        for _attempt in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read_json(lock)
                if not _stale(holder, lock):
                    raise IntervalError(
                        f"another `interval batch` (process {holder.get('pid', '?')} on "
                        f"{holder.get('host', '?')}) is writing into {self.root}; wait for it "
                        f"to end, or delete {lock} if it no longer runs") from None
                with contextlib.suppress(OSError):
                    lock.unlink()
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(me, fh)
            break
        else:  # pragma: no cover - another process took the stale lock meanwhile
            raise IntervalError(f"the lock {lock} could not be taken; try again")
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()

    def request_cancel(self) -> None:
        """Ask every running case of this run to stop."""
        with contextlib.suppress(OSError):
            self.cancel_flag.touch()

    def clear_cancel(self) -> None:
        """Forget an earlier run's cancel (at the start of a run)."""
        with contextlib.suppress(FileNotFoundError):
            self.cancel_flag.unlink()


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _stale(holder: dict, lock: Path) -> bool:
    """Whether the lock's holder is gone: a dead process on this machine, or a lock that
    names none (and is not being written right now)."""
    import time

    pid = holder.get("pid")
    if not isinstance(pid, int):
        try:
            return time.time() - lock.stat().st_mtime > 5.0
        except OSError:
            return True
    if holder.get("host") != socket.gethostname():
        return False  # cannot be checked from here
    import psutil

    return not psutil.pid_exists(pid)
