"""Fast path: raw pixel bytes read straight into the output array.

For native (uncompressed, not deflated) files the header parser already knows
where the pixel bytes start (``pixel_data_offset``).  Each frame is
``readinto``-ed directly into its slice of the one preallocated output array
when the stored and final types have the same size (then converted in place),
otherwise into a small reusable one-frame buffer and converted into the slice.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import numpy as np

from interval.core.errors import UnreadableFile
from interval.core.jobs import CancelFn, ProgressFn, check_cancel, report
from interval.io.dicom._pixel_convert import to_final
from interval.io.dicom._pixel_format import PixelFormat
from interval.io.dicom.records import DicomHeader


def _plural_bytes(n: int) -> str:
    return f"{n:,} byte{'s' if n != 1 else ''}"


def validate_native(header: DicomHeader, fmt: PixelFormat, max_frame: int) -> None:
    """Check, before anything is allocated, that the file holds the bytes it declares.

    ``max_frame`` is the highest frame index that will be read from the file.
    """
    assert header.pixel_data_offset is not None and header.pixel_data_length is not None
    frames = max(1, header.number_of_frames)
    declared = header.pixel_data_length
    needed = frames * fmt.frame_bytes
    if declared < needed:
        raise UnreadableFile(
            f"its image data is shorter than its image size says: {fmt.columns}x{fmt.rows} "
            f"pixels x {frames} frame(s) x {fmt.itemsize * fmt.samples} byte(s) need "
            f"{_plural_bytes(needed)}, but the file declares {_plural_bytes(declared)}",
            path=header.path,
        )
    try:
        size = os.stat(header.path).st_size
    except FileNotFoundError as exc:
        raise UnreadableFile("file not found (moved or deleted?)", path=header.path) from exc
    except OSError as exc:
        raise UnreadableFile(
            f"could not be read ({exc.strerror or exc})", path=header.path
        ) from exc
    end = header.pixel_data_offset + (max_frame + 1) * fmt.frame_bytes
    if size < end:
        raise UnreadableFile(
            f"the file is cut short: {_plural_bytes(end - size)} of image data are missing "
            f"(it is {_plural_bytes(size)} long, its image needs {_plural_bytes(end)})",
            path=header.path,
        )


def _read_exact(fp, view: memoryview, path: str) -> None:
    done = 0
    total = len(view)
    while done < total:
        got = fp.readinto(view[done:])
        if not got:
            raise UnreadableFile(
                f"the file is cut short: {_plural_bytes(total - done)} of image data are missing",
                path=path,
            )
        done += got


class NativeReader:
    """Reads native frames of one stack; owns a small per-frame scratch buffer."""

    def __init__(self, out: np.ndarray) -> None:
        self.out = out
        self._buffers: dict[tuple[np.dtype, tuple[int, ...]], np.ndarray] = {}

    def _buffer(self, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        key = (dtype, shape)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = np.empty(shape, dtype=dtype)
        return buf

    def read_file(
        self,
        header: DicomHeader,
        fmt: PixelFormat,
        targets: Sequence[tuple[int, int, float, float]],
    ) -> None:
        """Read ``(out_index, frame_index, slope, intercept)`` targets of one file."""
        assert header.pixel_data_offset is not None
        base = header.pixel_data_offset
        frame_bytes = fmt.frame_bytes
        try:
            with open(header.path, "rb", buffering=0) as fp:
                for out_idx, frame, slope, intercept in targets:
                    fp.seek(base + frame * frame_bytes)
                    self._read_frame(fp, header.path, fmt, self.out[out_idx], slope, intercept)
        except UnreadableFile:
            raise
        except FileNotFoundError as exc:
            raise UnreadableFile("file not found (moved or deleted?)", path=header.path) from exc
        except OSError as exc:
            raise UnreadableFile(
                f"could not be read ({exc.strerror or exc})", path=header.path
            ) from exc

    def _read_frame(
        self, fp, path: str, fmt: PixelFormat, dst: np.ndarray, slope: float, intercept: float
    ) -> None:
        if fmt.samples == 3:
            self._read_rgb(fp, path, fmt, dst)
            return
        stored = fmt.stored_dtype
        in_place = stored.itemsize == dst.dtype.itemsize and (
            dst.dtype.kind != "f" or stored == dst.dtype
        )
        raw = dst.view(stored) if in_place else self._buffer(stored, dst.shape)
        _read_exact(fp, memoryview(raw).cast("B"), path)
        if fmt.big_endian and stored.itemsize > 1:
            raw.byteswap(inplace=True)
        if (
            in_place
            and stored == dst.dtype
            and not fmt.inverted
            and slope == 1.0
            and (intercept == 0.0 and (fmt.is_float or fmt.bits_stored >= stored.itemsize * 8))
        ):
            return  # already final: the bytes are the values
        to_final(raw, dst, fmt, slope, intercept)

    def _read_rgb(self, fp, path: str, fmt: PixelFormat, dst: np.ndarray) -> None:
        if fmt.planar == 0:
            _read_exact(fp, memoryview(dst).cast("B"), path)
            return
        planes = self._buffer(np.dtype(np.uint8), (3, fmt.rows, fmt.columns))
        _read_exact(fp, memoryview(planes).cast("B"), path)
        np.copyto(dst, planes.transpose(1, 2, 0))


NativeJob = tuple[DicomHeader, PixelFormat, Sequence[tuple[int, int, float, float]]]

PARALLEL_MIN_FILES = 16
"""From this many files on, reads run in threads (``readinto`` and numpy release the GIL)."""
_CHUNK_FILES = 8
_MAX_THREADS = 4


def _thread_count() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(_MAX_THREADS, cpus))


def read_native(
    out: np.ndarray,
    jobs: Sequence[NativeJob],
    progress: ProgressFn | None,
    cancel: CancelFn | None,
    total: int,
    on_filled: Callable[[Sequence[int]], None] | None = None,
) -> int:
    """Read every native file of ``jobs`` into ``out``; return how many files were read.

    Progress and cancellation are handled in the calling thread: ``progress``
    is called as files complete (``done`` increases up to ``len(jobs)``, the
    counts continue from 0 within ``total``), ``cancel`` is polled and stops
    the worker threads before their next file.  ``on_filled(indices)`` (also
    in the calling thread) gets the output indices of completed jobs; with it
    the first job is read alone before the others start, so it comes first.
    """
    threads = _thread_count()
    if threads == 1 or len(jobs) < PARALLEL_MIN_FILES:
        reader = NativeReader(out)
        for done, (header, fmt, targets) in enumerate(jobs, start=1):
            check_cancel(cancel)
            reader.read_file(header, fmt, targets)
            report(progress, done, total)
            if on_filled is not None:
                on_filled([t[0] for t in targets])
        return len(jobs)

    stop = threading.Event()
    counter = [0]
    lock = threading.Lock()
    finished_idx: list[int] = []
    reported = 0
    if on_filled is not None:  # the frame the user sees first: alone, right now
        check_cancel(cancel)
        header, fmt, targets = jobs[0]
        NativeReader(out).read_file(header, fmt, targets)
        counter[0] = reported = 1
        report(progress, 1, total)
        on_filled([t[0] for t in targets])
        rest = jobs[1:]
    else:
        rest = jobs

    def work(chunk: Sequence[NativeJob]) -> None:
        reader = NativeReader(out)
        for header, fmt, targets in chunk:
            if stop.is_set():
                return
            reader.read_file(header, fmt, targets)
            with lock:
                counter[0] += 1
                if on_filled is not None:
                    finished_idx.extend(t[0] for t in targets)

    chunks = [rest[i : i + _CHUNK_FILES] for i in range(0, len(rest), _CHUNK_FILES)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dicom-read") as pool:
        pending = {pool.submit(work, chunk) for chunk in chunks}
        try:
            while pending:
                finished, pending = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
                for fut in finished:
                    fut.result()  # re-raise the first error of a worker
                check_cancel(cancel)
                with lock:
                    now = counter[0]
                    filled = finished_idx[:]
                    finished_idx.clear()
                if now != reported:
                    reported = now
                    report(progress, now, total)
                if filled and on_filled is not None:
                    on_filled(filled)
        except BaseException:
            stop.set()
            for fut in pending:
                fut.cancel()
            raise
    return len(jobs)
