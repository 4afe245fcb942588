"""Load one :class:`~interval.io.dicom.records.ImageStack` (or a path) into a :class:`Volume`.

The slices are sorted along the slice normal, spaced by their positions and
checked for regularity (:mod:`interval.io.dicom.geometry`); irregular stacks
are refused, loaded as-is or resampled as the
:class:`~interval.io.dicom.policy.DicomReadPolicy` says.  Siemens mosaics are
cut into slices (:mod:`interval.io.dicom.mosaic`).  The array is sized and
checked against the memory limit before anything is allocated; pixels come
from :func:`interval.io.dicom.pixels.read_pixels` with their final values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil

from interval.core.errors import (
    IntervalError,
    IrregularGeometry,
    NotAnImage,
    TooLarge,
    UnsupportedData,
)
from interval.core.jobs import CancelFn, ProgressFn, check_cancel
from interval.core.volume import Volume
from interval.io.dicom import pixels
from interval.io.dicom.geometry import StackGeometry, analyse_stack, slice_normal
from interval.io.dicom.mosaic import demosaic, is_mosaic, mosaic_geometry, read_mosaic_info
from interval.io.dicom.policy import DEFAULT_POLICY, DicomReadPolicy
from interval.io.dicom.records import DicomIndex, FrameInfo, FrameRef, ImageStack
from interval.io.dicom.regularize import plan_grid, regularize
from interval.io.dicom.suv_load import pet_values, with_pet_units
from interval.io.dicom.time_frames import is_time_stack, load_time_stack
from interval.io.dicom.volume_metadata import volume_metadata

PartialFn = Callable[[Volume, np.ndarray], None]
"""``on_partial(volume, filled)``: ``volume`` is being filled; ``filled[k]`` says slice ``k``
already holds its final values (a fresh ``bool`` array per call)."""


class _PartialReport:
    """Turns read_pixels' ``on_filled(array, indices)`` into ``on_partial(volume, filled)``."""

    def __init__(self, on_partial: PartialFn, make_volume: Callable[[np.ndarray], Volume]) -> None:
        self.on_partial = on_partial
        self.make_volume = make_volume
        self.volume: Volume | None = None
        self.filled = np.zeros(0, dtype=bool)

    def __call__(self, array: np.ndarray, indices: Sequence[int]) -> None:
        if self.volume is None or self.volume.array is not array:
            # first report, or the read restarted into a wider type: a new volume
            self.volume = self.make_volume(array)
            self.filled = np.zeros(array.shape[0], dtype=bool)
        self.filled[np.asarray(indices, dtype=np.intp)] = True
        self.on_partial(self.volume, self.filled.copy())


def load_stack(
    stack: ImageStack,
    policy: DicomReadPolicy = DEFAULT_POLICY,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    on_partial: PartialFn | None = None,
    first_point: Callable[[], Sequence[float] | None] | None = None,
) -> Volume:
    """Read ``stack`` into a Volume in patient space (LPS).

    ``on_partial(volume, filled)`` makes the load progressive: as soon as the
    array is allocated and its middle slice (``(n - 1) // 2``, where a viewer's
    crosshair starts) holds final values, it is called with the Volume being
    filled -- final geometry and metadata, not-yet-read slices zero -- then
    again (same Volume) each time more slices are final, nearest to the middle
    first; ``filled`` is a ``bool`` per slice.  It runs in the thread calling
    ``load_stack``, after every check that can refuse the series (geometry,
    size), never for a refused one.  The Volume returned is the same object.
    In the rare fallback to a wider type the read starts again and a NEW
    Volume is reported.  Mosaics and stacks resampled onto a regular grid are
    not progressive (``on_partial`` is never called); a compressed multi-frame
    file arrives whole.  ``first_point()`` (asked once the geometry is known, in the
    calling thread) may name an LPS point whose slice is read first instead of the
    middle one (a view that will show that point; None: the middle).

    Frames that are not slices -- none carries a position, or all lie at one position
    (a 2-D clip, a time series of one slice) -- load as frames in time along k
    (``metadata.frame_axis == "time"``, :mod:`interval.io.dicom.time_frames`); they are
    not progressive.

    Raises :class:`IrregularGeometry` for irregular slices when
    ``policy.irregular == "refuse"``, :class:`UnsupportedData` for frames
    that are not one volume (mixed orientations, some positions repeated or missing),
    :class:`TooLarge` when the voxels would not fit the
    memory limit, and :class:`~interval.core.errors.Cancelled` when asked to stop.
    """
    check_cancel(cancel)
    frames = list(stack.frames)
    if not frames:
        raise NotAnImage("This stack holds no images.")
    _check_frames(frames)
    if any(is_mosaic(f.header) for f in frames):
        return _load_mosaic(stack, frames, policy, progress, cancel)
    infos = frame_infos(frames)
    if is_time_stack(frames, infos):  # a 2-D clip or a time series at one position
        return _load_time_frames(stack, policy, progress, cancel)
    geom = analyse_stack(
        infos,
        spacing_tolerance=policy.spacing_tolerance,
        spacing_tolerance_mm=policy.spacing_tolerance_mm,
    )
    warnings = [*stack.warnings, *geom.warnings]
    ordered = [frames[i] for i in geom.order]
    pet = pet_values(ordered)  # PET: SUV folded into the rescale, or why not
    if pet is not None:
        ordered = pet.frames
        warnings.extend([pet.warning] if pet.warning else [])
    rows, cols = frames[0].header.rows, frames[0].header.columns
    # the type read_pixels nearly always returns; it re-checks the wider worst case
    # (pixels.output_dtype) itself on the rare fallback
    dtype = np.dtype(pixels.expected_dtype(ordered))
    shape = pixels.output_shape(ordered)  # (n, rows, cols), colour: (n, rows, cols, 3)
    need = int(np.prod(shape)) * dtype.itemsize
    grid = None
    if geom.problems:
        if policy.irregular == "refuse":
            raise _irregular(geom, frames)
        if policy.irregular == "resample" and len(shape) == 3:  # colour is shown as it is
            grid = plan_grid(geom, rows, cols)
            need += grid.nbytes(dtype) + 4 * grid.shape[1] * grid.shape[2] * 4
        else:
            warnings.append(_as_is_warning(geom))
    _check_memory(need, policy, stack)
    extra: dict[str, object] = {
        "stack_uid": stack.uid,
        "stack_label": stack.label,
        "frame_numbers": tuple(f.frame + 1 for f in ordered),
        "slice_thickness": ordered[0].info.slice_thickness,  # DICOM SliceThickness (or None)
    }
    partial = None
    if on_partial is not None and grid is None:
        meta = with_pet_units(volume_metadata(ordered, warnings=warnings, extra=extra), pet)
        partial = _PartialReport(
            on_partial, lambda a: Volume(a, geom.spacing, geom.origin, geom.direction, meta)
        )
    first = None
    if partial is not None and first_point is not None:
        first = _slice_of(first_point(), geom, (len(ordered), rows, cols))
    array = _read_pixels(ordered, policy, progress, cancel, partial, first)
    check_cancel(cancel)
    if partial is not None and partial.volume is not None and partial.volume.array is array:
        return partial.volume
    if grid is not None:
        array = regularize(array, grid, cancel=cancel)
        warnings.append(
            "Resampled onto a regular grid because the slices were irregular ("
            + "; ".join(geom.problems)
            + "): voxel values between the original slices are interpolated."
        )
        meta = volume_metadata(ordered, warnings=warnings, sop_instance_uids=(), extra=extra)
        meta = with_pet_units(meta, pet)
        return Volume(array, grid.spacing, grid.origin, grid.direction, meta)
    meta = with_pet_units(volume_metadata(ordered, warnings=warnings, extra=extra), pet)
    return Volume(array, geom.spacing, geom.origin, geom.direction, meta)


def load_stack_slices(
    stack: ImageStack,
    slices: Sequence[int],
    policy: DicomReadPolicy = DEFAULT_POLICY,
    *,
    cancel: CancelFn | None = None,
) -> Volume:
    """``stack`` as :func:`load_stack` gives it, but with only the array slices ``slices``
    read; every other slice is zero (and costs no memory until written).

    The geometry and metadata are those of the whole stack, so an empty ``slices`` gives
    the volume's grid without reading a pixel.  Stacks whose slices are not one file or
    frame each (mosaics) or that need resampling are read whole.
    """
    check_cancel(cancel)
    frames = list(stack.frames)
    if not frames:
        raise NotAnImage("This stack holds no images.")
    _check_frames(frames)
    if any(is_mosaic(f.header) for f in frames):
        return load_stack(stack, policy, cancel=cancel)
    infos = frame_infos(frames)
    if is_time_stack(frames, infos):
        return _load_time_frames(stack, policy, None, cancel)
    geom = analyse_stack(
        infos,
        spacing_tolerance=policy.spacing_tolerance,
        spacing_tolerance_mm=policy.spacing_tolerance_mm,
    )
    if geom.problems and policy.irregular != "as-is":
        return load_stack(stack, policy, cancel=cancel)  # refused or resampled as usual
    warnings = [*stack.warnings, *geom.warnings]
    if geom.problems:
        warnings.append(_as_is_warning(geom))
    ordered = [frames[i] for i in geom.order]
    pet = pet_values(ordered)
    if pet is not None:
        ordered = pet.frames
        warnings.extend([pet.warning] if pet.warning else [])
    wanted = sorted({int(k) for k in slices if 0 <= int(k) < len(ordered)})
    part = _read_pixels([ordered[k] for k in wanted], policy, None, cancel) if wanted else None
    dtype = part.dtype if part is not None else np.dtype(pixels.expected_dtype(ordered))
    array = np.zeros(pixels.output_shape(ordered), dtype=dtype)  # colour: (..., 3)
    if part is not None:
        array[wanted] = part
    extra: dict[str, object] = {
        "stack_uid": stack.uid,
        "stack_label": stack.label,
        "frame_numbers": tuple(f.frame + 1 for f in ordered),
        "slice_thickness": ordered[0].info.slice_thickness,  # DICOM SliceThickness (or None)
    }
    meta = with_pet_units(volume_metadata(ordered, warnings=warnings, extra=extra), pet)
    return Volume(array, geom.spacing, geom.origin, geom.direction, meta)


def load_dicom(
    path: str | Path,
    uid: str | None = None,
    policy: DicomReadPolicy = DEFAULT_POLICY,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    series_or_stack_uid: str | None = None,
    on_partial: PartialFn | None = None,
) -> Volume:
    """Index ``path`` (a folder or one file) and load one of its stacks.

    ``uid`` (or ``series_or_stack_uid``) picks a stack by its uid or a series
    by its SeriesInstanceUID.  Without it the path must hold exactly one
    stack; otherwise an :class:`IntervalError` lists the choices.  ``on_partial``: as
    :func:`load_stack`.
    """
    path = Path(path)
    uid = uid or series_or_stack_uid
    if not path.exists():
        raise IntervalError("This file or folder does not exist.", path=path)
    from interval.io.dicom.index import index_files, index_folder

    if path.is_dir():
        index = index_folder(path, policy, progress=progress, cancel=cancel)
    else:
        index = index_files([path], root=path.parent, policy=policy, progress=progress, cancel=cancel)
    stack = choose_stack(index, uid, path)
    return load_stack(stack, policy, progress=progress, cancel=cancel, on_partial=on_partial)


def choose_stack(index: DicomIndex, uid: str | None, path: str | Path) -> ImageStack:
    """The stack ``uid`` names (a stack uid or a series UID), or the only one."""
    stacks = list(index.iter_stacks())
    if not stacks:
        reasons = sorted({s.reason for s in index.skipped})[:3]
        more = f" ({'; '.join(reasons)})" if reasons else ""
        raise NotAnImage(f"No images that can be shown were found here{more}.", path=path)
    if uid:
        for stack in stacks:
            if stack.uid == uid:
                return stack
        for _p, _st, se in index.iter_series():
            if se.series_instance_uid == uid and se.stacks:
                if len(se.stacks) == 1:
                    return se.stacks[0]
                raise IntervalError(
                    f"Series {uid} holds {len(se.stacks)} image stacks; choose one of: "
                    + "; ".join(_describe(s) for s in se.stacks),
                    path=path,
                )
        raise IntervalError(
            f"No series or stack with UID {uid} here; choose one of: "
            + "; ".join(_describe(s) for s in stacks),
            path=path,
        )
    if len(stacks) == 1:
        return stacks[0]
    raise IntervalError(
        f"This holds {len(stacks)} image stacks; choose one of: "
        + "; ".join(_describe(s) for s in stacks),
        path=path,
    )


# --- pieces ---------------------------------------------------------------------------


def _load_mosaic(
    stack: ImageStack,
    frames: list[FrameRef],
    policy: DicomReadPolicy,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> Volume:
    if len(frames) != 1:
        raise UnsupportedData(
            f"This stack holds {len(frames)} Siemens mosaic images; each mosaic is a whole volume "
            "(one time point or repetition), so each should be shown as its own stack."
        )
    frame = frames[0]
    header = frame.header
    info = read_mosaic_info(header)
    dtype = np.dtype(pixels.expected_dtype(frames))
    need = 2 * header.rows * header.columns * dtype.itemsize
    _check_memory(need, policy, stack)
    mosaic = _read_pixels(frames, policy, progress, cancel)
    array = demosaic(mosaic[0], info)
    origin, direction, spacing = mosaic_geometry(frame.info, info, header.rows, header.columns)
    meta = volume_metadata(
        frames,
        warnings=stack.warnings,
        sop_instance_uids=(header.sop_instance_uid,) * info.n_images,
        extra={"stack_uid": stack.uid, "stack_label": stack.label, "mosaic_images": info.n_images},
    )
    return Volume(array, spacing, origin, direction, meta)


def _load_time_frames(
    stack: ImageStack,
    policy: DicomReadPolicy,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> Volume:
    """A 2-D clip or a time series at one position: frames along k (see time_frames)."""
    return load_time_stack(
        stack,
        lambda ordered: _read_pixels(ordered, policy, progress, cancel),
        lambda nbytes: _check_memory(nbytes, policy, stack),
        dtype=np.dtype(pixels.expected_dtype(stack.frames)),
        cancel=cancel,
        make_metadata=lambda ordered, warnings, extra: volume_metadata(
            ordered, warnings=warnings, extra=extra
        ),
    )


def _read_pixels(
    frames: Sequence[FrameRef],
    policy: DicomReadPolicy,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
    on_filled: pixels.FilledFn | None = None,
    first: int | None = None,
) -> np.ndarray:
    array = pixels.read_pixels(
        frames,
        progress=progress,
        cancel=cancel,
        max_bytes=policy.max_voxel_bytes,
        on_filled=on_filled,
        first=first,
    )
    return array


def _slice_of(point: Sequence[float] | None, geom: StackGeometry, shape: tuple[int, int, int],
              ) -> int | None:
    """The array slice nearest to LPS ``point`` on ``geom``'s grid (None: no point, or
    not a finite one)."""
    if point is None:
        return None
    p = np.asarray(point, dtype=np.float64).reshape(-1)
    if p.size != 3 or not np.all(np.isfinite(p)):
        return None
    grid = Volume(np.broadcast_to(np.zeros((), np.uint8), shape), geom.spacing, geom.origin,
                  geom.direction)
    k = float(grid.lps_to_index(p)[2])
    return int(min(max(round(k), 0), shape[0] - 1))


def _check_frames(frames: list[FrameRef]) -> None:
    first = frames[0].header
    for ref in frames:
        h = ref.header
        if h.kind != "image" or not h.has_pixel_data:
            raise NotAnImage("This object holds no image to show.", path=h.path)
        if (h.rows, h.columns) != (first.rows, first.columns):
            raise UnsupportedData(
                f"The images of this stack have different sizes ({first.rows}x{first.columns} "
                f"and {h.rows}x{h.columns}), so they are not one volume.",
                path=h.path,
            )
        if not 0 <= ref.frame < max(len(h.frames), 1):
            raise UnsupportedData(f"Frame {ref.frame + 1} does not exist in this file.", path=h.path)
    if first.rows <= 0 or first.columns <= 0:
        raise UnsupportedData("The image has no rows or columns.", path=first.path)


def frame_infos(frames: list[FrameRef]) -> list[FrameInfo]:
    """Per-frame geometry; classic multi-frame files get their slice positions computed.

    A classic (non-enhanced) multi-frame file repeats one position for all
    frames. Frame ``f`` then lies along the slice normal from
    ImagePositionPatient at the offset its GridFrameOffsetVector gives (RT dose,
    relative or absolute form), else ``f`` times SpacingBetweenSlices.
    """
    infos = [f.info for f in frames]
    offsets_of: dict[str, list[float] | None] = {}
    out: list[FrameInfo] = []
    for ref, info in zip(frames, infos, strict=True):
        h = ref.header
        if (
            h.number_of_frames > 1
            and info.position is not None
            and info.orientation is not None
            and all(fi == h.frames[0] for fi in h.frames)
        ):
            if h.path not in offsets_of:
                offsets_of[h.path] = _frame_offsets(h.path, h.number_of_frames)
            offsets = offsets_of[h.path]
            if offsets is not None:
                n = slice_normal(info.orientation)
                pos = np.asarray(info.position) + offsets[ref.frame] * n
                info = replace(info, position=(float(pos[0]), float(pos[1]), float(pos[2])))
        out.append(info)
    return out


def _frame_offsets(path: str, n_frames: int) -> list[float] | None:
    """Offsets (mm along the normal) of each frame of a classic multi-frame file, or None."""
    import pydicom

    try:
        ds = pydicom.dcmread(
            path, stop_before_pixels=True, force=True,
            specific_tags=["SpacingBetweenSlices", "GridFrameOffsetVector"],
        )
    except Exception:  # noqa: BLE001 - unreadable here: no computed positions
        return None
    try:
        grid = [float(v) for v in ds.get("GridFrameOffsetVector") or []]
    except (TypeError, ValueError):
        grid = []
    if len(grid) == n_frames and all(math.isfinite(v) for v in grid):
        # relative form starts at 0; absolute form starts at ImagePositionPatient's own offset
        return [v - grid[0] for v in grid]
    try:
        gap = abs(float(ds.get("SpacingBetweenSlices")))
    except (TypeError, ValueError):
        return None
    if not math.isfinite(gap) or gap == 0:
        return None
    return [f * gap for f in range(n_frames)]


def _tilt_only(geom: StackGeometry) -> bool:
    return all(p.startswith("gantry tilt") for p in geom.problems)


def _as_is_warning(geom: StackGeometry) -> str:
    problems = "; ".join(geom.problems)
    if _tilt_only(geom):
        return (
            f"Loaded as-is with its {problems}: the voxel grid is sheared (every slice is at its "
            "true position), which some tools do not support; resample it for an orthogonal grid."
        )
    return (
        f"Loaded as-is although the slices do not form a regular grid ({problems}); they are "
        f"shown {geom.spacing[2]:.2f} mm apart, so distances across slices are not exact."
    )


def _irregular(geom: StackGeometry, frames: list[FrameRef]) -> IrregularGeometry:
    as_is = (
        "as a sheared grid" if _tilt_only(geom) else "(distances across slices would be wrong)"
    )
    return IrregularGeometry(
        "The slices of this series do not form a regular grid: "
        + "; ".join(geom.problems)
        + f". It can be loaded as-is {as_is} or resampled onto a regular grid.",
        problems=list(geom.problems),
        path=_folder(frames),
    )


def _check_memory(nbytes: int, policy: DicomReadPolicy, stack: ImageStack) -> None:
    limit = policy.max_voxel_bytes
    if limit is None:
        limit = int(psutil.virtual_memory().available * 0.9)
    if nbytes > limit:
        raise TooLarge(
            f"This series needs {_size(nbytes)} of memory for its voxels, "
            f"more than the {_size(limit)} available.",
            path=_folder(stack.frames),
        )


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _folder(frames: Sequence[FrameRef]) -> Path | None:
    if not frames:
        return None
    return Path(frames[0].header.path).parent


def _describe(stack: ImageStack) -> str:
    h = stack.first
    what = " ".join(
        p for p in (h.modality, h.series_description, stack.label, f"({stack.n_frames} images)") if p
    )
    return f"{stack.uid} — {what}"
