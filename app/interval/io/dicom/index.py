"""Index a folder of DICOM files: headers only, in parallel, grouped into a patient tree.

``index_folder`` finds the files (recursive; a DICOMDIR is honoured, see
:mod:`~interval.io.dicom.discover`), parses their headers without pixel data
(:mod:`~interval.io.dicom.header_fast`, falling back to the full parser
:func:`~interval.io.dicom.header.read_header`), and groups them into
patients, studies, series and image stacks (:mod:`~interval.io.dicom.grouping`).

Parsing runs in ``policy.workers`` processes (0 = one per CPU core; pydicom
holds the GIL, so threads would not help): the calling process plus helper
processes, fed in chunks.  Small jobs are parsed in the calling process alone
because starting helpers would cost more than it saves.  The helper pool is
kept for later calls (:func:`shutdown_workers` releases it).  Progress and
cancellation are reported and checked in the calling process.

Nothing a file contains can make indexing fail: every file that is not
indexed is listed in ``DicomIndex.skipped`` with a reason in words (not a
DICOM file, empty file, truncated, no permission, DICOMDIR, duplicate...).

Errors: a path that does not exist or a folder that cannot be listed raises
:class:`~interval.core.errors.UnreadableFile`.  An empty folder, or one
without any DICOM file, gives an index with no patients and a warning (plus
the skipped files), so a caller can show why nothing was found.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from interval.core.errors import IntervalError, UnreadableFile
from interval.core.jobs import CancelFn, ProgressFn, check_cancel, report
from interval.io.dicom.discover import Discovery, discover
from interval.io.dicom.grouping import build_patients
from interval.io.dicom.header import read_header
from interval.io.dicom.header_fast import DICOMDIR_REASON, DICOMDIR_SOP_CLASS, read_header_fast
from interval.io.dicom.policy import DEFAULT_POLICY, DicomReadPolicy
from interval.io.dicom.pydicom_log import parse_noted
from interval.io.dicom.records import DicomHeader, DicomIndex, PatientRecord, SkippedFile

PARALLEL_MIN_FILES = 256
"""Below this many files, parsing in the calling process beats starting workers."""
MIN_FILES_PER_WORKER = 96
_CHUNK_MIN, _CHUNK_MAX = 8, 64
TRUNCATED_REASON = "truncated: the file ends before its image data does"
NO_PIXELS_REASON = "no image data: the header describes an image but the file holds no pixel data"
NO_SIZE_REASON = "damaged: the image size (Rows or Columns) is missing or zero"

_pool_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_key: tuple[str, int] | None = None
_pool_ready = threading.Event()


# --- public API -----------------------------------------------------------------------


def index_folder(
    path: str | Path,
    policy: DicomReadPolicy = DEFAULT_POLICY,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> DicomIndex:
    """Index every DICOM file under ``path`` (a folder, or a single file).

    Raises :class:`UnreadableFile` when ``path`` does not exist or cannot be
    listed, and :class:`~interval.core.errors.Cancelled` when ``cancel``
    says so.  ``progress(done, total)`` counts files parsed.
    """
    root = Path(path)
    if not root.exists():
        raise UnreadableFile("folder not found", path=root)
    if not root.is_dir():
        return index_files([root], root=root.parent, policy=policy, progress=progress, cancel=cancel)
    found = discover(root, cancel=cancel)
    return _index(str(root), found, policy, progress, cancel)


def index_files(
    paths: Iterable[str | Path],
    root: str | Path | None = None,
    policy: DicomReadPolicy = DEFAULT_POLICY,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> DicomIndex:
    """Index the given files (folders among them are searched recursively).

    ``root`` is recorded as the index's root (default: the files' common folder).
    Missing files are listed as skipped.
    """
    found = Discovery()
    items = [Path(os.path.abspath(p)) for p in paths]
    explicit: list[str] = []
    for p in items:
        if p.is_dir():
            sub = discover(p, cancel=cancel)
            found.files.extend(sub.files)
            found.skipped.extend(sub.skipped)
            found.warnings.extend(sub.warnings)
        elif p.exists():
            explicit.append(str(p))
        else:
            found.skipped.append(SkippedFile(str(p), "file not found (moved or deleted?)"))
    # a file named explicitly is parsed even where a folder's DICOMDIR would leave it out
    found.files = list(dict.fromkeys(found.files + explicit))
    to_parse = set(found.files)
    seen: set[str] = set()
    kept = []
    for entry in found.skipped:
        if entry.path not in to_parse and entry.path not in seen:
            seen.add(entry.path)
            kept.append(entry)
    found.skipped = kept
    if root is None:
        root = _common_folder(items)
    return _index(str(root), found, policy, progress, cancel)


def parse_file(path: str, force: bool = True) -> DicomHeader | SkippedFile:
    """Header of one file, or why it is skipped (never raises for a file's content)."""
    try:
        header = read_header_fast(path, force=force)
        if header is None:
            header = read_header(path, force=force)
    except IntervalError as exc:
        return SkippedFile(path, exc.message)
    except Exception as exc:  # noqa: BLE001 - one odd file must never stop the index
        return SkippedFile(path, f"could not be read ({type(exc).__name__})")
    if header.sop_class_uid == DICOMDIR_SOP_CLASS:
        return SkippedFile(path, DICOMDIR_REASON)
    problem = image_data_problem(header)
    if problem:
        return SkippedFile(path, problem, series_instance_uid=header.series_instance_uid)
    return header


def image_data_problem(header: DicomHeader) -> str | None:
    """Why an image's pixel data cannot be what its header says, or None (cheap checks only).

    Truncated native pixel data, fewer frames than NumberOfFrames claims, or
    an image without any pixel data (a file cut short between elements).
    """
    if header.kind != "image":
        if header.kind == "other" and _describes_image(header):
            if not header.has_pixel_data:
                return NO_PIXELS_REASON
            if header.rows <= 0 or header.columns <= 0:
                return NO_SIZE_REASON
        return None
    n = header.number_of_frames
    try:
        size = os.path.getsize(header.path)
    except OSError:
        return None
    if header.pixel_data_offset is not None and header.pixel_data_length is not None:
        if header.pixel_data_offset + header.pixel_data_length > size:
            return TRUNCATED_REASON
        per_frame = _native_frame_bytes(header)
        if per_frame and header.pixel_data_length < per_frame * n:
            have = header.pixel_data_length // per_frame
            return f"damaged: the file holds image data for {have} of its {n} frames"
    elif header.is_compressed and n * 8 > size:  # every compressed frame needs an 8-byte item
        return f"damaged: it claims {n} frames, more than the file can hold"
    return None


def _native_frame_bytes(h: DicomHeader) -> int | None:
    """Bytes of one uncompressed frame, or None when the layout is unusual."""
    if h.rows <= 0 or h.columns <= 0 or h.bits_allocated not in (1, 8, 16, 32, 64):
        return None
    samples = max(1, h.samples_per_pixel)
    if h.photometric_interpretation in ("YBR_FULL_422", "YBR_PARTIAL_422") and samples == 3:
        samples = 2  # two chroma samples shared by each pair of pixels
    if h.bits_allocated == 1:
        return None if h.number_of_frames > 1 else math.ceil(h.rows * h.columns * samples / 8)
    return h.rows * h.columns * samples * (h.bits_allocated // 8)


def _describes_image(h: DicomHeader) -> bool:
    """A header with image size attributes or an image storage SOP class."""
    if h.rows > 0 or h.columns > 0:
        return True
    return _is_image_sop_class(h.sop_class_uid)


def _is_image_sop_class(uid: str) -> bool:
    known = _IMAGE_SOP_CLASSES.get(uid)
    if known is None:
        from pydicom.uid import UID

        try:
            known = "Image Storage" in UID(uid).name
        except Exception:  # noqa: BLE001 - malformed UID
            known = False
        _IMAGE_SOP_CLASSES[uid] = known
    return known


_IMAGE_SOP_CLASSES: dict[str, bool] = {}


def parse_files(
    paths: Sequence[str],
    policy: DicomReadPolicy = DEFAULT_POLICY,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> list[DicomHeader | SkippedFile]:
    """Parse headers of ``paths`` (in parallel when worthwhile), results in the same order."""
    n = len(paths)
    report(progress, 0, n)
    workers = _worker_count(policy, n)
    pool = _ready_pool(workers - 1) if workers > 1 else None
    if pool is None:
        return _parse_serial(paths, policy.force, progress, cancel)
    try:
        return _parse_parallel(paths, policy.force, pool, workers, progress, cancel)
    except (BrokenProcessPool, OSError, RuntimeError):
        # helpers could not start or died (resource limits, killed): do it here
        shutdown_workers()
        return _parse_serial(paths, policy.force, progress, cancel)


def start_workers(policy: DicomReadPolicy = DEFAULT_POLICY, *, wait: bool = False) -> None:
    """Start the helper processes ahead of time (e.g. when the application starts).

    Where workers cannot be forked cheaply (a process with other threads, or
    macOS/Windows) they start in the background anyway on first use, and
    calls made meanwhile parse in the calling process.
    """
    workers = policy.workers if policy.workers > 0 else _cpu_count()
    if workers <= 1:
        return
    pool = _get_pool(workers - 1)
    if wait:
        _warm_up(pool)


def shutdown_workers() -> None:
    """Stop the helper processes kept between calls (they restart when needed)."""
    global _pool, _pool_key
    with _pool_lock:
        pool, _pool, _pool_key = _pool, None, None
        _pool_ready.clear()
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


# --- internals ------------------------------------------------------------------------


def _index(
    root: str,
    found: Discovery,
    policy: DicomReadPolicy,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> DicomIndex:
    check_cancel(cancel)
    results = parse_files(found.files, policy, progress=progress, cancel=cancel)
    check_cancel(cancel)
    headers = [r for r in results if isinstance(r, DicomHeader)]
    skipped = list(found.skipped) + [r for r in results if isinstance(r, SkippedFile)]
    patients, duplicates = build_patients(headers)
    skipped.extend(duplicates)
    skipped.sort(key=lambda s: s.path)
    _warn_incomplete_series(patients, skipped)
    warnings = list(found.warnings)
    if not patients:
        if not found.files and not found.skipped:
            warnings.append("The folder is empty.")
        else:
            warnings.append(
                "No DICOM images or objects were found"
                + (f"; {len(skipped)} file(s) were skipped (see the list for the reasons)." if skipped else ".")
            )
    return DicomIndex(root=root, patients=patients, skipped=skipped, warnings=warnings)


def _warn_incomplete_series(patients: list[PatientRecord], skipped: list[SkippedFile]) -> None:
    """A series some of whose files were skipped must say so: it may look complete but isn't."""
    lost: dict[str, list[SkippedFile]] = {}
    for entry in skipped:
        if entry.series_instance_uid and not entry.reason.startswith("duplicate of"):
            lost.setdefault(entry.series_instance_uid, []).append(entry)
    if not lost:
        return
    for patient in patients:
        for study in patient.studies:
            for series in study.series:
                entries = lost.get(series.series_instance_uid)
                if not entries:
                    continue
                reasons = sorted({e.reason for e in entries})
                message = (
                    f"{len(entries)} file(s) of this series could not be read and are left out "
                    f"({'; '.join(reasons[:3])}{'; ...' if len(reasons) > 3 else ''}): "
                    "the images shown may be incomplete."
                )
                series.warnings.append(message)
                for stack in series.stacks:
                    stack.warnings.append(message)


def _parse_chunk(paths: Sequence[str], force: bool) -> list[DicomHeader | SkippedFile]:
    """Worker entry point: parse a chunk of files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pydicom's per-file notes; reasons say enough
        return [parse_noted(parse_file, p, force) for p in paths]  # pydicom's notes counted


def _parse_serial(
    paths: Sequence[str], force: bool, progress: ProgressFn | None, cancel: CancelFn | None
) -> list[DicomHeader | SkippedFile]:
    n = len(paths)
    step = max(1, n // 100)
    out: list[DicomHeader | SkippedFile] = []
    for start in range(0, n, step):
        out.extend(_parse_chunk(paths[start : start + step], force))
        check_cancel(cancel)
        report(progress, len(out), n)
    return out


def _parse_parallel(
    paths: Sequence[str],
    force: bool,
    pool: ProcessPoolExecutor,
    workers: int,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> list[DicomHeader | SkippedFile]:
    """``workers - 1`` helper processes take chunks from the front, this process from the back.

    The calling process works too (no core idles while it waits), and a chunk
    no helper has started yet is taken back and parsed here, so a slow pool
    start or a busy machine never makes the job slower than parsing alone.
    """
    n = len(paths)
    size = min(_CHUNK_MAX, max(_CHUNK_MIN, math.ceil(n / (workers * 6))))
    chunks = [list(paths[i : i + size]) for i in range(0, n, size)]
    with warnings.catch_warnings():
        # Python >= 3.12 warns about fork() with native (e.g. OpenBLAS) threads; see _start_method
        warnings.simplefilter("ignore", DeprecationWarning)
        futures: list[Future] = [pool.submit(_parse_chunk, c, force) for c in chunks]
    results: list[list[DicomHeader | SkippedFile] | None] = [None] * len(chunks)
    uncounted = set(range(len(chunks)))
    done_files = 0

    def collect() -> None:
        nonlocal done_files
        for i in [i for i in uncounted if results[i] is not None or futures[i].done()]:
            if results[i] is None:
                results[i] = futures[i].result()
            uncounted.discard(i)
            done_files += len(chunks[i])

    try:
        for i in range(len(chunks) - 1, -1, -1):
            if not futures[i].cancel():
                break  # a helper has it (and every chunk before it)
            results[i] = _parse_chunk(chunks[i], force)
            collect()
            check_cancel(cancel)
            report(progress, done_files, n)
        pending = {f for i, f in enumerate(futures) if results[i] is None}
        while pending:
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            collect()
            check_cancel(cancel)
            if finished:
                report(progress, done_files, n)
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    return [r for chunk in results for r in (chunk or [])]


def _worker_count(policy: DicomReadPolicy, n_files: int) -> int:
    """Processes that parse (this one included)."""
    workers = policy.workers if policy.workers > 0 else _cpu_count()
    if workers <= 1 or n_files < PARALLEL_MIN_FILES:
        return 1
    return max(1, min(workers, n_files // MIN_FILES_PER_WORKER))


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _start_method() -> str:
    """How to start workers: 'fork' (fast) on Linux when no other Python thread runs.

    Native library threads (OpenBLAS) are fork-safe and the workers only run
    header parsing; when the caller has other Python threads (a UI), the
    'forkserver' method never forks a threaded process.  Elsewhere: 'spawn'.
    """
    if sys.platform.startswith("linux"):
        return "fork" if threading.active_count() == 1 else "forkserver"
    return "spawn"


def _get_pool(helpers: int) -> ProcessPoolExecutor:
    """The kept helper pool (created on first use; a running pool is reused as is).

    With the 'fork' method the processes start within the first submit, in
    milliseconds.  Otherwise they are started by a background thread and the
    pool counts as ready once they answer (see :func:`_ready_pool`).
    """
    global _pool, _pool_key
    with _pool_lock:
        if _pool is not None and _pool_key is not None and _pool_key[1] == helpers:
            return _pool
        old, _pool = _pool, None
        _pool_ready.clear()
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)
        method = _start_method()
        ctx = multiprocessing.get_context(method)
        if method == "forkserver":
            ctx.set_forkserver_preload([__name__])
        pool = ProcessPoolExecutor(max_workers=helpers, mp_context=ctx,
                                   initializer=_exit_with_parent)
        _pool, _pool_key = pool, (method, helpers)
    if method == "fork":
        _pool_ready.set()
    else:
        threading.Thread(target=_warm_up, args=(pool,), name="interval-dicom-workers", daemon=True).start()
    return pool


def _ready_pool(helpers: int) -> ProcessPoolExecutor | None:
    """The helper pool if its processes are running; else start them and return None."""
    pool = _get_pool(helpers)
    return pool if _pool_ready.is_set() else None


def _warm_up(pool: ProcessPoolExecutor) -> None:
    """Make the pool start its processes (they import this module) and mark it ready."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pool.submit(_noop).result(timeout=120)
    except Exception:  # noqa: BLE001 - no helpers: indexing simply stays in this process
        return
    with _pool_lock:
        if _pool is pool:
            _pool_ready.set()


def _noop() -> None:
    """Nothing: a first task that proves the helpers are up."""


PARENT_CHECK_S = 0.5


def _exit_with_parent() -> None:
    """In a helper: end when the process that started it ends (its parent changes).

    A helper blocks on its task queue and would never notice on its own that Interval
    ended without shutting the pool down (``os._exit``, a crash): it would live on,
    holding Interval's standard output and error open.  Its parent is Interval (fork,
    spawn) or the forkserver, which ends with Interval; either way it changes.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="interval-parent-watch", daemon=True).start()


def _common_folder(paths: Sequence[Path]) -> str:
    folders = [str(p if p.is_dir() else p.parent) for p in paths]
    if not folders:
        return ""
    try:
        return os.path.commonpath(folders)
    except ValueError:  # different drives
        return folders[0]
