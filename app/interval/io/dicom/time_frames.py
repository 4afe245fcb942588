"""Frames that are not slices: 2-D clips and time series at one position.

A stack whose frames carry no position in the patient (a multi-frame ultrasound,
XA or RF clip, an MR cine without geometry, several single-frame images of one
series) or whose frames all lie at one position with one orientation (dynamic
contrast at one slice, a cardiac cine, fo-dicom's "moving knee") cannot be
stacked into a 3-D volume.  It is loaded as one :class:`Volume` whose k axis is
TIME: ``array[t, rows, cols]``, marked ``metadata.frame_axis == "time"``.

- In-plane geometry is real when the frames have ImagePositionPatient,
  ImageOrientationPatient and PixelSpacing; else nominal (identity placement,
  pixel spacing from PixelSpacing, ImagerPixelSpacing or the ultrasound
  regions' PhysicalDeltaX/Y, else 1 with a note that distances are in pixels).
  The k spacing is a nominal 1 (frames are not apart in space).
- Frames are ordered by time: FrameTimeVector or FrameTime within one
  multi-frame file, else TriggerTime, AcquisitionTime, ContentTime or
  TemporalPositionIndex, else the stack's own (instance / frame) order.
- ``metadata.frame_times_ms`` holds each frame's offset from the first (empty
  when unknown); ``metadata.frame_rate_hz`` the acquired rate: from FrameTime,
  CineRate, RecommendedDisplayFrameRate, else from the frame times.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from interval.core.jobs import CancelFn, ProgressFn, check_cancel
from interval.core.metadata import PIXELS_NOT_MM_WARNING
from interval.core.volume import Volume
from interval.io.dicom.geometry import frame_spacing
from interval.io.dicom.records import FrameInfo, FrameRef, ImageStack

POSITION_TOLERANCE_MM = 0.01  # frames closer than this lie at one position
ORIENTATION_TOLERANCE = 1e-3  # direction cosines closer than this are one orientation
_CM_UNITS = 3  # PhysicalUnitsX/YDirection: centimetres
_WHOLE_SLIDE_MICROSCOPY = "1.2.840.10008.5.1.4.1.1.77.1.6"  # VL Whole Slide Microscopy Image
_NOMINAL_WARNING = (
    "These {n} frames carry no position in the patient (a clip or a series of projection "
    "images); they are shown as a 2-D image sequence with a nominal placement, so positions "
    "and directions are not anatomical."
)
_TAGS = (
    "FrameTime", "FrameTimeVector", "CineRate", "RecommendedDisplayFrameRate",
    "SequenceOfUltrasoundRegions", "ContentTime",
)


@dataclass(frozen=True)
class FrameTiming:
    """How the frames of a time stack follow each other.

    ``order`` lists indices into the stack's frames in display order; ``times_ms`` each
    ordered frame's offset (ms) from the first, or ``()`` when unknown; ``rate_hz`` the
    acquired frame rate (None when unknown).
    """

    order: tuple[int, ...]
    times_ms: tuple[float, ...] = ()
    rate_hz: float | None = None


def is_time_stack(frames: Sequence[FrameRef], infos: Sequence[FrameInfo] | None = None) -> bool:
    """Whether ``frames`` (more than one) are frames in time rather than slices: none of them
    carries a position, or all lie at one position with one orientation.

    ``infos`` are the frames' geometry as :func:`interval.io.dicom.load.frame_infos` gives it
    (classic multi-frame positions computed); default: each frame's own.
    """
    if len(frames) < 2:
        return False
    if any(_is_slide_tile(f) for f in frames):
        return False  # whole-slide microscopy tiles: pieces of one plane, not frames in time
    infos = list(infos) if infos is not None else [f.info for f in frames]
    placed = [i.position is not None and i.orientation is not None for i in infos]
    if not any(placed):
        return True
    if not all(placed):
        return False  # some with, some without: not one thing (refused as before)
    first = infos[0]
    p0 = np.asarray(first.position, dtype=np.float64)
    o0 = np.asarray(first.orientation, dtype=np.float64)
    for info in infos[1:]:
        if np.max(np.abs(np.asarray(info.orientation, dtype=np.float64) - o0)) > ORIENTATION_TOLERANCE:
            return False
        if np.linalg.norm(np.asarray(info.position, dtype=np.float64) - p0) > POSITION_TOLERANCE_MM:
            return False
    return True


def _is_slide_tile(frame: FrameRef) -> bool:
    h = frame.header
    return h.modality.upper() == "SM" or h.sop_class_uid == _WHOLE_SLIDE_MICROSCOPY


def load_time_stack(
    stack: ImageStack,
    read_pixels: Callable[[list[FrameRef]], np.ndarray],
    check_memory: Callable[[int], None],
    *,
    dtype: np.dtype,
    cancel: CancelFn | None = None,
    progress: ProgressFn | None = None,
    make_metadata: Callable[[list[FrameRef], list[str], dict[str, object]], object],
) -> Volume:
    """Read a time stack (see :func:`is_time_stack`) into a Volume ``[t, rows, cols]``.

    ``read_pixels(frames)`` returns their pixels in that order, ``check_memory(nbytes)``
    raises when they would not fit, ``make_metadata(frames, warnings, extra)`` builds the
    VolumeMetadata (the loader's own helpers); ``dtype`` is the expected pixel type.
    """
    del progress  # the reader reports its own progress
    check_cancel(cancel)
    frames = list(stack.frames)
    tags = _read_tags(frames[0].header.path)
    timing = frame_timing(frames, tags)
    ordered = [frames[i] for i in timing.order]
    first = ordered[0].header
    colour = first.samples_per_pixel > 1 or first.photometric_interpretation.startswith("PALETTE")
    check_memory(len(ordered) * first.rows * first.columns * (3 if colour else 1) * np.dtype(dtype).itemsize)
    warnings = list(stack.warnings)
    origin, direction, pixel, notes = _placement(ordered, tags)
    warnings.extend(notes)
    extra: dict[str, object] = {
        "stack_uid": stack.uid,
        "stack_label": stack.label,
        "frame_numbers": tuple(f.frame + 1 for f in ordered),
        "slice_thickness": ordered[0].info.slice_thickness,
    }
    array = read_pixels(ordered)
    check_cancel(cancel)
    meta = make_metadata(ordered, warnings, extra)
    meta = replace(  # type: ignore[type-var]
        meta,
        frame_axis="time",
        frame_times_ms=timing.times_ms,
        frame_rate_hz=timing.rate_hz,
    )
    spacing = (pixel[1], pixel[0], 1.0)
    return Volume(array, spacing, origin, direction, meta)  # type: ignore[arg-type]


def describe_time_stack(frames: Sequence[FrameRef]) -> tuple[tuple[float, float], np.ndarray | None, str, list[str]]:
    """Headers only (no pixels): ``((row, column) spacing mm, the frames' plane normal or None
    when placed nominally, a summary such as "10 frames in time at 30 frames/s", notes)``."""
    tags = _read_tags(frames[0].header.path)
    timing = frame_timing(frames, tags)
    ordered = [frames[i] for i in timing.order]
    _origin, direction, pixel, notes = _placement(ordered, tags)
    nominal = ordered[0].info.position is None or ordered[0].info.orientation is None
    summary = f"{len(frames)} frames in time"
    if timing.rate_hz is not None:
        summary += f" at {timing.rate_hz:.3g} frames/s"
    summary += ", shown as a 2-D image sequence (no 3-D geometry)"
    notes = [n for n in notes if not n.startswith("These ")]  # the summary says it
    return pixel, None if nominal else direction[:, 2], summary, notes


# --- timing ----------------------------------------------------------------------------------


def frame_timing(frames: Sequence[FrameRef], tags: dict[str, object] | None = None) -> FrameTiming:
    """Display order, time offsets and frame rate of ``frames`` (see the module doc).

    ``tags`` are the first file's timing tags (read from it when None).
    """
    if tags is None:
        tags = _read_tags(frames[0].header.path)
    n = len(frames)
    order: tuple[int, ...] = tuple(range(n))
    times: tuple[float, ...] = ()
    one_file = len({f.header.path for f in frames}) == 1
    if one_file:
        order = tuple(sorted(range(n), key=lambda i: frames[i].frame))
        times = _multiframe_times([frames[i].frame for i in order], tags)
    if not times:
        found = _per_frame_order(frames)
        if found is not None:
            order, times = found
    if not times and not one_file:
        step = _positive(tags.get("FrameTime"))
        if step is not None:
            times = tuple(k * step for k in range(n))
    return FrameTiming(order, times, _rate(tags, times))


def _multiframe_times(frame_numbers: Sequence[int], tags: dict[str, object]) -> tuple[float, ...]:
    """Offsets (ms) of these frames of one multi-frame file from FrameTimeVector or FrameTime."""
    vector = _floats(tags.get("FrameTimeVector"))
    if vector and len(vector) > max(frame_numbers):
        cumulative = np.cumsum([0.0, *vector[1:]])
        start = cumulative[frame_numbers[0]]
        return tuple(float(cumulative[f] - start) for f in frame_numbers)
    step = _positive(tags.get("FrameTime"))
    if step is not None:
        return tuple(float((f - frame_numbers[0]) * step) for f in frame_numbers)
    return ()


def _per_frame_order(frames: Sequence[FrameRef]) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
    """Order (and times, when the value is a time) from the first per-frame value that every
    frame has and that varies: TriggerTime, AcquisitionTime, ContentTime, TemporalPosition."""
    candidates: list[tuple[list[object], bool]] = [
        ([f.info.trigger_time for f in frames], True),
        ([tm_ms(f.info.acquisition_time) for f in frames], True),
    ]
    if len({f.header.path for f in frames}) == len(frames):  # one file per frame
        candidates.append(([tm_ms(_content_time(f.header.path)) for f in frames], True))
    candidates.append(([f.info.temporal_position for f in frames], False))
    for values, is_time in candidates:
        if any(v is None for v in values) or len(set(values)) < 2:
            continue
        order = tuple(sorted(range(len(frames)), key=lambda i: (values[i], i)))
        if not is_time:
            return order, ()
        first = float(values[order[0]])  # type: ignore[arg-type]
        return order, tuple(float(values[i]) - first for i in order)  # type: ignore[arg-type]
    return None


def _rate(tags: dict[str, object], times: Sequence[float]) -> float | None:
    step = _positive(tags.get("FrameTime"))
    if step is not None:
        return 1000.0 / step
    for name in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _positive(tags.get(name))
        if rate is not None:
            return rate
    steps = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
    if steps:
        return 1000.0 / float(np.median(steps))
    return None


def tm_ms(value: object) -> float | None:
    """A DICOM TM ("HHMMSS.FFFFFF", or the old "HH:MM:SS") as milliseconds since midnight."""
    text = str(value or "").strip().replace(":", "")
    if not text:
        return None
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or len(whole) < 2 or (frac and not frac.isdigit()):
        return None
    whole = whole.ljust(6, "0")
    seconds = int(whole[:2]) * 3600 + int(whole[2:4]) * 60 + int(whole[4:6])
    return (seconds + (float("0." + frac) if frac else 0.0)) * 1000.0


# --- placement --------------------------------------------------------------------------------


def _placement(
    frames: Sequence[FrameRef], tags: dict[str, object]
) -> tuple[tuple[float, float, float], np.ndarray, tuple[float, float], list[str]]:
    """(origin, direction, (row spacing, column spacing), warnings) of the frames' plane."""
    info = frames[0].info
    notes: list[str] = []
    pixel = info.pixel_spacing if _valid_spacing(info.pixel_spacing) else None
    if info.position is not None and info.orientation is not None:
        o = np.asarray(info.orientation, dtype=np.float64)
        row, col = o[:3] / np.linalg.norm(o[:3]), o[3:] / np.linalg.norm(o[3:])
        normal = np.cross(row, col)
        normal /= np.linalg.norm(normal)
        origin = tuple(float(v) for v in info.position)
        direction = np.column_stack([row, col, normal])
    else:
        origin = (0.0, 0.0, 0.0)
        direction = np.eye(3)
        notes.append(_NOMINAL_WARNING.format(n=len(frames)))
        if pixel is None:  # ImagerPixelSpacing (with its note), else the ultrasound regions
            pixel, note = frame_spacing(info)
            notes.extend([note] if note else [])
            pixel = pixel or _ultrasound_spacing(tags)
    if pixel is None:
        pixel = (1.0, 1.0)
        notes.append(PIXELS_NOT_MM_WARNING)
    return origin, direction, (float(pixel[0]), float(pixel[1])), notes  # type: ignore[return-value]


def _ultrasound_spacing(tags: dict[str, object]) -> tuple[float, float] | None:
    """(row, column) spacing in mm from the ultrasound regions measured in cm, when they agree."""
    found: list[tuple[float, float]] = []
    for region in tags.get("SequenceOfUltrasoundRegions") or ():  # type: ignore[union-attr]
        try:
            ux = int(region.get("PhysicalUnitsXDirection"))
            uy = int(region.get("PhysicalUnitsYDirection"))
            dx = abs(float(region.get("PhysicalDeltaX")))
            dy = abs(float(region.get("PhysicalDeltaY")))
        except (TypeError, ValueError):
            continue
        if ux == _CM_UNITS and uy == _CM_UNITS and _valid_spacing((dy, dx)):
            found.append((dy * 10.0, dx * 10.0))
    if not found:
        return None
    first = found[0]
    for other in found[1:]:
        if any(abs(a - b) > 1e-3 * max(a, b) for a, b in zip(first, other, strict=True)):
            return None
    return first


def _valid_spacing(value: Sequence[float] | None) -> bool:
    return value is not None and all(math.isfinite(v) and v > 0 for v in value)


# --- reading tags -------------------------------------------------------------------------------


def _read_tags(path: str) -> dict[str, object]:
    """The timing and spacing tags of one file (missing or unreadable: absent)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=list(_TAGS))
    except Exception:  # noqa: BLE001 - unreadable here: nothing known
        return {}
    out: dict[str, object] = {}
    for name in _TAGS:
        try:
            value = ds.get(name)
        except Exception:  # noqa: BLE001 - a malformed value counts as absent
            continue
        if value is not None and value != "":
            out[name] = value
    return out


def _content_time(path: str) -> str:
    value = _read_tags(path).get("ContentTime")
    return "" if value is None else str(value)


def _floats(value: object) -> list[float]:
    if value is None:
        return []
    single = isinstance(value, str | bytes) or not hasattr(value, "__iter__")
    items = [value] if single else list(value)  # type: ignore[call-overload]
    out: list[float] = []
    for v in items:
        try:
            f = float(v)
        except (TypeError, ValueError):
            return []
        if not math.isfinite(f):
            return []
        out.append(f)
    return out


def _positive(value: object) -> float | None:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f > 0 else None

