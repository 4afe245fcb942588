"""Read the pixels of a list of frames into one array of final values.

:func:`read_pixels` returns ``(n, rows, cols)`` (grey) or ``(n, rows, cols, 3)``
``uint8`` RGB (colour), in the order of the given frames, with final values:
``BitsStored`` masking and sign extension, MONOCHROME1 inverted (higher is
brighter; float data is not inverted), rescale slope/intercept applied.
Which type that array has follows from the headers (see
:mod:`interval.io.dicom._pixel_format`), with one twist:

* :func:`expected_dtype` is the type :func:`read_pixels` returns when the
  actual values fit it -- practically always.  For GE-style CT (signed 16
  bits, intercept -1024) it is ``int16`` although the *declared* range
  -33792..31743 does not fit ``int16``.
* :func:`output_dtype` is the worst case, the type that holds every value the
  declared stored range can map to (``int32`` for that CT).  It is an upper
  bound for memory estimates; :func:`read_pixels` returns it only when some
  frame's actual values do not fit :func:`expected_dtype`.

Whenever the two differ, every frame whose declared range does not fit the
expected type has its actual stored minimum and maximum checked before the
rescale; if one does not fit, the whole read starts again into the worst-case
type (rare; never wrapped-around values).

Before anything is allocated, every native file's declared pixel length is
checked against its image size and its file size, every compressed file's
transfer syntax against the installed decoders, and the total size against
``max_bytes`` (default: the memory available now).  Then one output array is
allocated and filled file by file: native files are read straight into it
(``_native_read``), others are decoded by pydicom frame by frame, or by
SimpleITK's GDCM where pydicom's decoders cannot (``_codec_read``).  ``cancel`` is checked between files, ``progress(done,
total)`` is called after each file (after a fallback the count goes on
growing and ``total`` grows by the number of files read again).

Progressive reading (``on_filled``): the array is allocated zeroed, the
frame ``first`` is read before any other and the rest follow outwards from
it (nearest first); ``on_filled(array, indices)`` is called in the calling
thread with the output indices whose values have just become final (the
conversion runs per frame, so a reported frame never changes again).  After
a fallback to the wider type a NEW array is reported from the start again.
Big native multi-frame files are read in pieces so that they fill
progressively too; compressed multi-frame files arrive whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from interval.core.errors import TooLarge
from interval.core.jobs import CancelFn, ProgressFn, check_cancel, report
from interval.io.dicom import _codec_read
from interval.io.dicom._native_read import read_native, validate_native
from interval.io.dicom._pixel_convert import ValuesDoNotFit
from interval.io.dicom._pixel_format import (
    PixelFormat,
    final_dtype,
    formats_of,
    is_direct,
    optimistic_dtype,
    rescale_of,
)
from interval.io.dicom.records import DicomHeader, FrameRef

__all__ = ["expected_dtype", "output_dtype", "output_shape", "read_pixels"]

Target = tuple[int, int, float, float]  # out index, frame in file, slope, intercept
FilledFn = Callable[[np.ndarray, Sequence[int]], None]
"""``on_filled(array, indices)``: these output indices of ``array`` now hold final values."""
_PIECE_FRAMES = 8  # frames per piece of a big native multi-frame file (progressive reads)


def output_dtype(frames: Sequence[FrameRef]) -> np.dtype:
    """Worst-case type of the array :func:`read_pixels` returns (never float64).

    It holds every value the declared stored range can map to, so it is an
    upper bound for memory estimates; :func:`read_pixels` usually returns the
    narrower :func:`expected_dtype`.
    """
    return final_dtype(frames, formats_of(frames))


def expected_dtype(frames: Sequence[FrameRef]) -> np.dtype:
    """The type :func:`read_pixels` returns when the actual values fit it (nearly always).

    Narrower than :func:`output_dtype` only when an integer rescale pushes the
    declared range out of the stored width (GE-style CT: ``int16``, not ``int32``).
    """
    return optimistic_dtype(frames, formats_of(frames))


def output_shape(frames: Sequence[FrameRef]) -> tuple[int, ...]:
    """The shape of the array :func:`read_pixels` returns for these frames."""
    return _shape(frames, formats_of(frames))


def _shape(frames: Sequence[FrameRef], formats: dict[str, PixelFormat]) -> tuple[int, ...]:
    fmt = formats[frames[0].header.path]
    shape: tuple[int, ...] = (len(frames), fmt.rows, fmt.columns)
    return shape + (3,) if fmt.is_colour else shape


def _human_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_size(shape: tuple[int, ...], dtype: np.dtype, max_bytes: int | None) -> None:
    """Raise :class:`TooLarge` when an array of ``shape`` would not fit."""
    need = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if max_bytes is None:
        import psutil

        available = int(psutil.virtual_memory().available)
        if need > available:
            raise TooLarge(
                f"this series would need {_human_bytes(need)} of memory; only "
                f"{_human_bytes(available)} is available. Close other series or "
                "programs, or load a smaller part of it."
            )
    elif need > max_bytes:
        raise TooLarge(
            f"this series would need {_human_bytes(need)} of memory; the limit set for one "
            f"series is {_human_bytes(max_bytes)}."
        )


def _group_by_file(
    frames: Sequence[FrameRef],
) -> list[tuple[DicomHeader, list[Target]]]:
    """Frames grouped per file, files in order of first appearance."""
    groups: dict[str, tuple[DicomHeader, list[Target]]] = {}
    for out_idx, ref in enumerate(frames):
        slope, intercept = rescale_of(ref)
        entry = groups.get(ref.header.path)
        if entry is None:
            entry = groups[ref.header.path] = (ref.header, [])
        entry[1].append((out_idx, ref.frame, slope, intercept))
    return list(groups.values())


def read_pixels(
    frames: Sequence[FrameRef],
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    max_bytes: int | None = None,
    on_filled: FilledFn | None = None,
    first: int | None = None,
) -> np.ndarray:
    """Pixels of ``frames`` as one array of final values, in the given order.

    With ``on_filled`` the read is progressive (see the module docstring):
    output index ``first`` (default: the middle one, ``(n - 1) // 2``) is read
    first, then the others outwards, and ``on_filled(array, indices)`` reports
    each batch of final frames from the calling thread.

    The array has type :func:`expected_dtype`, or :func:`output_dtype` when
    some actual value does not fit the former (the files are then read again).
    Raises :class:`~interval.core.errors.TooLarge` (before allocating) when
    the array would exceed ``max_bytes`` (default: available memory),
    :class:`~interval.core.errors.UnreadableFile` for truncated or damaged
    files, :class:`~interval.core.errors.UnsupportedData` for a transfer
    syntax or pixel format Interval cannot decode, and
    :class:`~interval.core.errors.Cancelled` when ``cancel()`` turns true.
    """
    formats = formats_of(frames)
    worst = final_dtype(frames, formats)
    dtype = optimistic_dtype(frames, formats)
    shape = _shape(frames, formats)
    check_size(shape, dtype, max_bytes)

    groups = _group_by_file(frames)
    direct: dict[str, bool] = {}
    for header, targets in groups:
        fmt = formats[header.path]
        direct[header.path] = is_direct(header, fmt)
        if direct[header.path]:
            validate_native(header, fmt, max(frame for _o, frame, _s, _i in targets))
        else:
            _codec_read.check_decodable(header)
            _codec_read.check_plausible(header, fmt)
    native = [(h, formats[h.path], t) for h, t in groups if direct[h.path]]
    coded = [(h, formats[h.path], t) for h, t in groups if not direct[h.path]]
    if on_filled is not None and frames:
        centre = (len(frames) - 1) // 2 if first is None else min(max(first, 0), len(frames) - 1)
        native = _outwards(_pieces(native, centre), centre)
        coded = _outwards(coded, centre)

    counted = _Progress(progress, len(native) + len(coded))
    if dtype != worst:
        try:
            return _read_all(shape, dtype, native, coded, counted, cancel, on_filled)
        except ValuesDoNotFit as exc:
            # its traceback holds the reading frames (and, from a worker thread, a cycle
            # through the failed future): drop it so the narrow array is freed right away
            exc.__traceback__ = None
        check_size(shape, worst, max_bytes)
        counted.restart()
    return _read_all(shape, worst, native, coded, counted, cancel, on_filled)


Job = tuple[DicomHeader, PixelFormat, list[Target]]


def _distance(targets: Sequence[Target], centre: int) -> tuple[int, int]:
    nearest = min(targets, key=lambda t: (abs(t[0] - centre), t[0]))[0]
    return abs(nearest - centre), nearest


def _outwards(jobs: list[Job], centre: int) -> list[Job]:
    """Jobs ordered by how near their nearest output index lies to ``centre``."""
    return sorted(jobs, key=lambda job: _distance(job[2], centre))


def _pieces(jobs: list[Job], centre: int) -> list[Job]:
    """Split files of many frames into pieces (nearest frames first; the first alone)."""
    out: list[Job] = []
    for header, fmt, targets in jobs:
        if len(targets) <= _PIECE_FRAMES:
            out.append((header, fmt, targets))
            continue
        ordered = sorted(targets, key=lambda t: (abs(t[0] - centre), t[0]))
        out.append((header, fmt, ordered[:1]))
        rest = ordered[1:]
        out.extend(
            (header, fmt, rest[i : i + _PIECE_FRAMES]) for i in range(0, len(rest), _PIECE_FRAMES)
        )
    return out


class _Progress:
    """Reports ``(done, total)``; a restarted read keeps counting upwards."""

    def __init__(self, progress: ProgressFn | None, files: int) -> None:
        self.progress = progress
        self.files = files
        self.offset = 0
        self.last = 0

    def __call__(self, done: int, _total: int) -> None:
        self.last = self.offset + done
        report(self.progress, self.last, self.offset + self.files)

    def restart(self) -> None:
        self.offset = self.last


def _allocate(shape: tuple[int, ...], dtype: np.dtype, zeroed: bool = False) -> np.ndarray:
    try:
        # zeroed (calloc: pages are zeroed lazily, no extra pass) when frames are shown
        # before the whole array is read, so unread frames look empty, not random
        return np.zeros(shape, dtype=dtype) if zeroed else np.empty(shape, dtype=dtype)
    except MemoryError as exc:
        need = _human_bytes(float(np.prod(shape, dtype=np.float64)) * dtype.itemsize)
        raise TooLarge(
            f"this series would need {need} of memory, and the system could not "
            "provide it. Close other series or programs and try again."
        ) from exc


def _read_all(
    shape: tuple[int, ...],
    dtype: np.dtype,
    native: list[tuple[DicomHeader, PixelFormat, list[Target]]],
    coded: list[tuple[DicomHeader, PixelFormat, list[Target]]],
    progress: _Progress,
    cancel: CancelFn | None,
    on_filled: FilledFn | None = None,
) -> np.ndarray:
    """Fill one new array of ``dtype`` (raises ValuesDoNotFit from an optimistic type)."""
    holder: list[np.ndarray] = []

    def out_slice(i: int) -> np.ndarray:
        if not holder:
            holder.append(_allocate(shape, dtype, zeroed=on_filled is not None))
        return holder[0][i]

    total = len(native) + len(coded)
    report(progress, 0, total)
    done = 0
    if native:
        out_slice(0)  # everything about the native files was checked: allocate now
        filled = None if on_filled is None else (lambda idx: on_filled(holder[0], idx))
        done = read_native(holder[0], native, progress, cancel, total, filled)
    for header, fmt, targets in coded:
        check_cancel(cancel)
        _codec_read.read_file(header, fmt, targets, out_slice)
        done += 1
        report(progress, done, total)
        if on_filled is not None and holder:
            on_filled(holder[0], [t[0] for t in targets])
    return holder[0]
