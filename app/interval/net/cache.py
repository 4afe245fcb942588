"""The local cache of retrieved series: size-limited, never holding a partial series.

Layout under the root (``platformdirs.user_cache_path("interval") / "pacs"``, or the
folder named by :data:`CACHE_DIR_ENV`)::

    <study uid>/<series uid>/<sop instance uid>.dcm   complete series only
    .complete/<study uid>/<series uid>.json            one marker per complete series
    .partial/<pid>-<random>/                           retrievals under way

A retrieval writes into its own staging folder under ``.partial``; only once every file
arrived is the folder moved into place (one rename) and its marker written.  On any
error or cancel the staging folder is deleted, so a study folder only ever holds complete
series and can be opened like any folder of DICOM files (the markers live outside it).
A series counts as cached when both its folder and its marker exist; the marker's
modification time is when it was last used (eviction removes the least recently used
first).  Markers hold counts, sizes, a time and the server's name, no patient data.

UIDs become folder names only after :func:`check_uid` (digits and dots, at most 64
characters), so a hostile server cannot write outside the cache.  Fetches of the same
series wait for each other (one lock per series, shared by every cache object of this
process on the same root); another process sharing the cache never sees a partial series
either, as renames are atomic.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

from interval.core.atomic import atomic_open
from interval.core.jobs import CancelFn, ProgressFn, check_cancel, report
from interval.core.uids import MAX_UID_LEN, is_uid
from interval.net.errors import PacsError, TransferInterrupted
from interval.net.model import PacsClient, RetrieveResult

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "INTERVAL_PACS_CACHE_DIR"
DEFAULT_MAX_BYTES = 20 * 2**30
PARTIAL_DIR = ".partial"
MARKER_DIR = ".complete"
MARKER_VERSION = 1
STALE_AFTER_S = 24 * 3600.0  # another live process's staging folder older than this is dead
ORPHAN_AFTER_S = 600.0  # an unmarked series folder older than this is a crash's leftover

# process-wide: every SeriesCache on the same root shares these
_GUARD = threading.Lock()
_SERIES_LOCKS: dict[tuple[str, str, str], threading.Lock] = {}
_TREE_LOCKS: dict[str, threading.RLock] = {}
_ACTIVE_STAGING: set[str] = set()


def default_cache_root() -> Path:
    """The cache folder: :data:`CACHE_DIR_ENV` when set, else the platform's cache folder."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    return platformdirs.user_cache_path("interval") / "pacs"


def check_uid(uid: object, what: str = "UID") -> str:
    """``uid`` when it is a DICOM UID (digits and dots, at most 64 characters), else
    :class:`PacsError`: it becomes a folder name."""
    if not is_uid(uid):
        shown = repr(uid)[:80]
        raise PacsError(f"The server gave an invalid {what} ({shown}); a UID is digits and "
                        f"dots, at most {MAX_UID_LEN} characters.")
    return uid


@dataclass(frozen=True)
class CachedSeries:
    """One complete series in the cache."""

    study_uid: str
    series_uid: str
    path: Path
    n_instances: int
    n_bytes: int
    last_used: float  # seconds since the epoch
    server: str = ""


class SeriesCache:
    """Series retrieved from a PACS, kept under ``root`` up to ``max_bytes`` in all."""

    def __init__(self, root: str | Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root) if root is not None else default_cache_root()
        self.max_bytes = int(max_bytes)
        self._root_key = os.path.abspath(self.root)
        with _GUARD:
            self._tree_lock = _TREE_LOCKS.setdefault(self._root_key, threading.RLock())
        self.sweep()

    # -- where things are -------------------------------------------------------------
    def study_folder(self, study_uid: str) -> Path:
        """The folder of a study's complete series (it may not exist yet)."""
        return self.root / check_uid(study_uid, "study UID")

    def series_folder(self, study_uid: str, series_uid: str) -> Path:
        """Where a series' files go once complete (whether or not it is there)."""
        return self.study_folder(study_uid) / check_uid(series_uid, "series UID")

    def _marker(self, study_uid: str, series_uid: str) -> Path:
        return self.root / MARKER_DIR / study_uid / f"{series_uid}.json"

    def path_of(self, study_uid: str, series_uid: str) -> Path | None:
        """The folder of the series when it is completely in the cache, else None."""
        folder = self.series_folder(study_uid, series_uid)
        if folder.is_dir() and self._marker(study_uid, series_uid).is_file():
            return folder
        return None

    def entries(self) -> list[CachedSeries]:
        """Every complete series, least recently used first."""
        out = []
        for marker in (self.root / MARKER_DIR).glob("*/*.json"):
            entry = self._entry(marker)
            if entry is not None:
                out.append(entry)
        return sorted(out, key=lambda e: e.last_used)

    def _entry(self, marker: Path) -> CachedSeries | None:
        study_uid, series_uid = marker.parent.name, marker.stem
        if not (is_uid(study_uid) and is_uid(series_uid)):
            return None
        folder = self.root / study_uid / series_uid
        try:
            last_used = marker.stat().st_mtime
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not folder.is_dir() or not isinstance(data, dict):
            return None
        return CachedSeries(study_uid, series_uid, folder, int(data.get("n_instances", 0)),
                            _folder_bytes(folder), last_used, str(data.get("server", "")))

    def size_bytes(self) -> int:
        """Bytes the cached series' files take (retrievals under way and markers not
        counted)."""
        total = 0
        with contextlib.suppress(OSError), os.scandir(self.root) as it:
            for entry in it:
                if entry.name not in (PARTIAL_DIR, MARKER_DIR) and entry.is_dir(
                        follow_symlinks=False):
                    total += _folder_bytes(Path(entry.path))
        return total

    # -- retrieving -------------------------------------------------------------------
    def fetch(
        self,
        client: PacsClient,
        study_uid: str,
        series_uid: str,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        *,
        keep: Iterable[Path] = (),
    ) -> Path:
        """The folder of the complete series: from the cache when there (its last use is
        updated), else retrieved from ``client`` first.  Afterwards the cache is trimmed
        to ``max_bytes``, never removing this series nor those under ``keep``."""
        folder, _ = self._fetch(client, study_uid, series_uid, progress, cancel)
        self.evict(keep={folder, *keep})
        return folder

    def fetch_study(
        self,
        client: PacsClient,
        study_uid: str,
        series_uids: Iterable[str] | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        *,
        keep: Iterable[Path] = (),
    ) -> Path:
        """The study's folder holding ``series_uids`` (every series the server lists when
        None), each complete.  ``progress`` counts instances over the whole study.  On an
        error or a cancel the series retrieved by this call are removed again, so a study
        is never left half-retrieved (series cached before stay)."""
        study_uid = check_uid(study_uid, "study UID")
        if series_uids is None:
            hits = client.find_series(study_uid)
            wanted = [(check_uid(h.series_uid, "series UID"), h.n_instances or 0) for h in hits]
            if not wanted:
                raise PacsError(f"The server lists no series in the study {study_uid} (is the "
                                "study UID right?).")
        else:
            wanted = [(check_uid(uid, "series UID"), 0) for uid in dict.fromkeys(series_uids)]
            if not wanted:
                raise PacsError("No series was chosen to retrieve.")
        expected = [n for _, n in wanted]
        done_before = 0

        def overall() -> int:
            return sum(n if n > 0 else 1 for n in expected)

        added: list[tuple[str, str]] = []
        try:
            for i, (series_uid, _) in enumerate(wanted):
                check_cancel(cancel)

                def one(done: int, total: int, i: int = i, base: int = done_before) -> None:
                    if total > 0:
                        expected[i] = total
                    report(progress, base + done, overall())

                _, fetched = self._fetch(client, study_uid, series_uid, one, cancel)
                if fetched:
                    added.append((study_uid, series_uid))
                entry = self._entry(self._marker(study_uid, series_uid))
                expected[i] = entry.n_instances if entry is not None else max(expected[i], 1)
                done_before += expected[i]
                report(progress, done_before, overall())
        except BaseException:
            for key in added:
                self._remove_series(*key, wait=False)
            raise
        folder = self.study_folder(study_uid)
        self.evict(keep={folder, *keep})
        return folder

    def _fetch(self, client: PacsClient, study_uid: str, series_uid: str,
               progress: ProgressFn | None, cancel: CancelFn | None) -> tuple[Path, bool]:
        """(folder, whether it was retrieved now)."""
        study_uid = check_uid(study_uid, "study UID")
        series_uid = check_uid(series_uid, "series UID")
        with self._series_locked(study_uid, series_uid, cancel):
            folder = self.path_of(study_uid, series_uid)
            if folder is not None:
                with contextlib.suppress(OSError):
                    os.utime(self._marker(study_uid, series_uid))
                return folder, False
            return self._retrieve(client, study_uid, series_uid, progress, cancel), True

    def _retrieve(self, client: PacsClient, study_uid: str, series_uid: str,
                  progress: ProgressFn | None, cancel: CancelFn | None) -> Path:
        check_cancel(cancel)
        staging = self._new_staging()
        final = self.series_folder(study_uid, series_uid)
        moved = False
        try:
            result = client.retrieve_series(study_uid, series_uid, staging, progress=progress,
                                            cancel=cancel)
            check_cancel(cancel)
            n_files, n_bytes = _keep_listed_files(staging, result)
            if n_files == 0:
                raise PacsError("The server sent no images for this series.")
            for warning in result.warnings:
                log.warning("retrieval: %s", warning)
            with self._tree_lock:
                if self.path_of(study_uid, series_uid) is not None:  # another process won
                    shutil.rmtree(staging, ignore_errors=True)
                    return final
                final.parent.mkdir(parents=True, exist_ok=True)
                if final.exists():  # a crash's leftover without marker
                    shutil.rmtree(final)
                os.replace(staging, final)
                moved = True
                self._write_marker(study_uid, series_uid, n_files, n_bytes,
                                   getattr(getattr(client, "profile", None), "name", ""))
            return final
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if moved:
                with self._tree_lock:
                    shutil.rmtree(final, ignore_errors=True)
                    _remove_empty(final.parent)
            raise
        finally:
            with _GUARD:
                _ACTIVE_STAGING.discard(os.path.abspath(staging))

    def _new_staging(self) -> Path:
        folder = self.root / PARTIAL_DIR / f"{os.getpid()}-{uuid.uuid4().hex[:16]}"
        with _GUARD:
            _ACTIVE_STAGING.add(os.path.abspath(folder))
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            with _GUARD:
                _ACTIVE_STAGING.discard(os.path.abspath(folder))
            raise PacsError(f"The cache folder {self.root} cannot be written "
                            f"({exc.strerror or type(exc).__name__}).") from exc
        return folder

    def _write_marker(self, study_uid: str, series_uid: str, n_files: int, n_bytes: int,
                      server: str) -> None:
        marker = self._marker(study_uid, series_uid)
        marker.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "version": MARKER_VERSION,
            "n_instances": n_files,
            "bytes": n_bytes,
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "server": server,
        }
        with atomic_open(marker, "w", encoding="utf-8") as fh:
            json.dump(data, fh)

    # -- locks ------------------------------------------------------------------------
    def _series_lock(self, study_uid: str, series_uid: str) -> threading.Lock:
        with _GUARD:
            return _SERIES_LOCKS.setdefault((self._root_key, study_uid, series_uid),
                                            threading.Lock())

    @contextlib.contextmanager
    def _series_locked(self, study_uid: str, series_uid: str,
                       cancel: CancelFn | None) -> Iterator[None]:
        lock = self._series_lock(study_uid, series_uid)
        while not lock.acquire(timeout=0.1):  # another fetch of this series: wait for it
            check_cancel(cancel)
        try:
            yield
        finally:
            lock.release()

    # -- trimming ---------------------------------------------------------------------
    def evict(self, keep: Iterable[Path] = frozenset()) -> list[Path]:
        """Remove the least recently used series until the cache holds at most
        ``max_bytes``; never a series under ``keep`` (series or study folders) nor one
        being retrieved or read right now.  Returns the folders removed."""
        kept = {os.path.abspath(p) for p in keep}
        removed: list[Path] = []
        with self._tree_lock:
            total = self.size_bytes()
            for entry in self.entries():
                if total <= self.max_bytes:
                    break
                if (os.path.abspath(entry.path) in kept
                        or os.path.abspath(entry.path.parent) in kept):
                    continue
                if self._remove_series(entry.study_uid, entry.series_uid, wait=False):
                    total -= entry.n_bytes
                    removed.append(entry.path)
        return removed

    def remove_study(self, study_uid: str) -> None:
        """Remove every cached series of a study (waits for retrievals of it under way)."""
        study_uid = check_uid(study_uid, "study UID")
        with self._tree_lock:
            series = [e.series_uid for e in self.entries() if e.study_uid == study_uid]
        for series_uid in series:
            self._remove_series(study_uid, series_uid, wait=True)

    def clear(self) -> None:
        """Remove every cached series (those being retrieved right now are left alone)."""
        with self._tree_lock:
            for entry in self.entries():
                self._remove_series(entry.study_uid, entry.series_uid, wait=False)
        self.sweep(orphan_age_s=0.0)

    def _remove_series(self, study_uid: str, series_uid: str, *, wait: bool) -> bool:
        lock = self._series_lock(study_uid, series_uid)
        if not lock.acquire(blocking=wait):
            return False
        try:
            with self._tree_lock:
                marker = self._marker(study_uid, series_uid)
                with contextlib.suppress(FileNotFoundError):
                    marker.unlink()  # first: from now on the series is not complete
                folder = self.root / study_uid / series_uid
                shutil.rmtree(folder, ignore_errors=True)
                _remove_empty(marker.parent)
                _remove_empty(folder.parent)
                return not folder.exists()
        finally:
            lock.release()

    # -- start-up sweep -----------------------------------------------------------------
    def sweep(self, orphan_age_s: float = ORPHAN_AFTER_S) -> None:
        """Remove what a crash or a killed process left: dead retrievals' staging folders,
        series folders without marker, markers without folder, empty study folders."""
        now = time.time()
        with self._tree_lock:
            self._sweep_staging(now)
            markers = self.root / MARKER_DIR
            for folder in _subfolders(self.root):
                # only the cache's own layout <study uid>/<series uid>: anything else a
                # person or another program put under the root is never touched
                if not is_uid(folder.name):
                    continue
                for series in _subfolders(folder):
                    if not is_uid(series.name):
                        continue
                    if (not (markers / folder.name / f"{series.name}.json").is_file()
                            and _age(series, now) >= orphan_age_s
                            and not self._series_lock(folder.name, series.name).locked()):
                        shutil.rmtree(series, ignore_errors=True)
                if _age(folder, now) >= orphan_age_s:
                    _remove_empty(folder)
            for study in _subfolders(markers):
                for marker in study.glob("*.json"):
                    if not (self.root / study.name / marker.stem).is_dir():
                        with contextlib.suppress(OSError):
                            marker.unlink()
                _remove_empty(study)

    def _sweep_staging(self, now: float) -> None:
        for folder in _subfolders(self.root / PARTIAL_DIR):
            with _GUARD:
                if os.path.abspath(folder) in _ACTIVE_STAGING:
                    continue
            pid_text = folder.name.split("-", 1)[0]
            pid = int(pid_text) if pid_text.isdigit() else -1
            if pid != os.getpid() and _process_alive(pid) and _age(folder, now) < STALE_AFTER_S:
                continue  # another Interval's retrieval under way
            shutil.rmtree(folder, ignore_errors=True)


def _keep_listed_files(staging: Path, result: RetrieveResult) -> tuple[int, int]:
    """Delete from ``staging`` whatever the result does not list; (files, bytes) kept."""
    listed = set()
    for path in result.files:
        path = Path(path)
        if os.path.abspath(path.parent) != os.path.abspath(staging):
            raise TransferInterrupted("The retrieval wrote a file outside its folder; nothing "
                                      "was kept.")
        if not path.is_file():
            raise TransferInterrupted("A retrieved file is missing; nothing was kept.")
        listed.add(path.name)
    n_bytes = 0
    with os.scandir(staging) as it:
        for entry in it:
            if entry.name in listed and entry.is_file(follow_symlinks=False):
                n_bytes += entry.stat().st_size
            elif entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
    return len(listed), n_bytes


def _folder_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _subfolders(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as it:
            return [Path(e.path) for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return 0.0


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (on Windows: assumed so; the age decides there)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill would terminate it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else
        return True
    return True
