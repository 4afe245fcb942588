"""Where the slices of a stack lie: sorting, spacing and regularity checks.

Pure geometry on :class:`~interval.io.dicom.records.FrameInfo` records (no
files, no pixels).  Slices are sorted by their position along the slice
normal ``cross(row, column)``; the spacing between slices comes from the
positions (never from SliceThickness); irregularities (missing slices,
uneven spacing, gantry tilt, slices off a straight line) are described in
words so the caller can refuse, load as-is or resample.  Stacks that are not
a volume at all (mixed orientation, repeated positions, no positions) raise
:class:`~interval.core.errors.UnsupportedData`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from interval.core.errors import UnsupportedData
from interval.core.metadata import PIXELS_NOT_MM_WARNING
from interval.io.dicom.records import FrameInfo

# Slices whose stacking direction leans further than this from the normal count as tilted.
TILT_TOLERANCE_DEG = 0.5
# Two orientations (unit cosines) that differ by less than this are the same.
ORIENTATION_TOLERANCE = 1e-3
# Positions this close (mm) along the normal are the same slice.
DUPLICATE_TOLERANCE_MM = 0.01
# Slices may wander this far (mm) off the straight stacking line before it counts.
ALIGNMENT_TOLERANCE_MM = 0.05
# Listing more than this many gaps in a message helps nobody.
_MAX_LISTED_GAPS = 4


@dataclass(frozen=True)
class StackGeometry:
    """The regular grid (or the best guess at one) of a stack of slices.

    ``order`` lists the input frame indices in array order (sorted along the
    normal).  ``direction`` columns are the row cosine, the column cosine and
    the actual stacking direction; ``spacing`` is ``(column spacing, row
    spacing, slice spacing)``.  ``problems`` is empty for a regular stack.
    """

    order: tuple[int, ...]
    origin: tuple[float, float, float]
    direction: np.ndarray
    spacing: tuple[float, float, float]
    positions: np.ndarray  # (n, 3) LPS of each slice, in array order
    normal: np.ndarray  # unit cross(row, column), pointing along the array order
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    tilt_deg: float = 0.0
    nominal: bool = False  # no patient geometry: made-up placement
    gaps: np.ndarray = field(default_factory=lambda: np.zeros(0))  # between sorted slices (mm)

    @property
    def n_slices(self) -> int:
        return len(self.order)

    @property
    def is_regular(self) -> bool:
        return not self.problems

    @property
    def row_cosine(self) -> np.ndarray:
        return self.direction[:, 0]

    @property
    def column_cosine(self) -> np.ndarray:
        return self.direction[:, 1]


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    """Unit normal ``cross(row, column)`` of an ImageOrientationPatient value."""
    row, col = _cosines(orientation)
    n = np.cross(row, col)
    norm = float(np.linalg.norm(n))
    if norm < 1e-6:
        raise UnsupportedData("The image orientation is invalid (row and column directions are parallel).")
    return n / norm


def analyse_stack(
    infos: Sequence[FrameInfo],
    *,
    spacing_tolerance: float = 0.05,
    spacing_tolerance_mm: float = 0.01,
    default_slice_spacing: float | None = None,
) -> StackGeometry:
    """Sort ``infos`` along the slice normal and describe the grid they form.

    Raises :class:`UnsupportedData` when the frames cannot form one volume:
    no positions (with more than one frame), several orientations, or
    several frames at the same position.  Irregularities that a resampling
    could fix are returned in ``problems`` instead.
    ``default_slice_spacing`` is the z spacing of a single slice (e.g.
    SliceThickness); 1 mm when unknown.
    """
    n = len(infos)
    if n == 0:
        raise UnsupportedData("The stack holds no images.")
    if any(i.position is None or i.orientation is None for i in infos):
        if n > 1:
            raise UnsupportedData(
                f"These {n} images carry no position in the patient (for example projection "
                "X-rays, ultrasound clips or slide-microscopy tiles), so they cannot be "
                "stacked into a 3-D volume."
            )
        return _nominal(infos[0], default_slice_spacing)
    orientation = _common_orientation(infos)
    pixel, spacing_notes = _pixel_spacing(infos)
    row, col = _cosines(orientation)
    normal = slice_normal(orientation)
    pos = np.array([i.position for i in infos], dtype=np.float64)
    along = pos @ normal
    order = np.argsort(along, kind="stable")
    pos = pos[order]
    first = float(along[order][0])
    along = along[order] - first
    _check_duplicates(along, first)
    if n == 1:
        thickness = default_slice_spacing or infos[0].slice_thickness or 1.0
        direction = np.column_stack([row, col, normal])
        return StackGeometry(
            order=tuple(int(i) for i in order),
            origin=_tuple3(pos[0]),
            direction=direction,
            spacing=(pixel[1], pixel[0], float(thickness) if thickness > 0 else 1.0),
            positions=pos,
            normal=normal,
            warnings=spacing_notes,
        )
    geom = _analyse_sorted(
        order, pos, along, row, col, normal, pixel, spacing_tolerance, spacing_tolerance_mm
    )
    return replace(geom, warnings=geom.warnings + spacing_notes) if spacing_notes else geom


# --- the work ------------------------------------------------------------------------


def _analyse_sorted(
    order: np.ndarray,
    pos: np.ndarray,
    along: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    normal: np.ndarray,
    pixel: tuple[float, float],
    rel_tol: float,
    abs_tol: float,
) -> StackGeometry:
    span = pos[-1] - pos[0]
    stack_dir = span / np.linalg.norm(span)
    offsets = pos - pos[0]
    # distance of each slice along the actual stacking direction
    t = offsets @ stack_dir
    gaps = np.diff(t)
    median_gap = float(np.median(gaps))
    problems: list[str] = []
    # tilt: the in-plane drift per mm along the normal (least squares through the first slice)
    in_plane = offsets - np.outer(along, normal)
    drift = (along @ in_plane) / float(along @ along)
    tilt_deg = float(np.degrees(np.arctan(np.linalg.norm(drift))))
    misalign = float(np.max(np.linalg.norm(in_plane - np.outer(along, drift), axis=1)))
    if tilt_deg > TILT_TOLERANCE_DEG:
        problems.append(f"gantry tilt {tilt_deg:.1f}°")
    if misalign > max(ALIGNMENT_TOLERANCE_MM, abs_tol):
        problems.append(
            f"slices are not on a straight line (shifted sideways by up to {misalign:.2f} mm)"
        )
    axis = int(np.argmax(np.abs(normal)))  # name positions on the patient axis slices advance along
    problems.extend(describe_gaps(along, pos[:, axis], rel_tol, abs_tol))
    # regular: the mean step puts the last slice exactly; irregular (as-is): the median gap
    z = median_gap if problems else float(t[-1]) / (len(t) - 1)
    direction = np.column_stack([row, col, stack_dir])
    return StackGeometry(
        order=tuple(int(i) for i in order),
        origin=_tuple3(pos[0]),
        direction=direction,
        spacing=(pixel[1], pixel[0], z),
        positions=pos,
        normal=normal,
        problems=tuple(problems),
        tilt_deg=tilt_deg,
        gaps=gaps,
    )


def describe_gaps(
    along: np.ndarray, coords: np.ndarray, rel_tol: float = 0.05, abs_tol: float = 0.01
) -> list[str]:
    """Missing slices and uneven spacing in words.

    ``along`` is each sorted slice's distance (mm) from the first along the
    normal; ``coords`` are the same slices' coordinates (mm) used to name
    where a gap is (e.g. "2 slices missing between 45.0 mm and 52.5 mm").
    """
    gaps = np.diff(along)
    if len(gaps) == 0:
        return []
    median = float(np.median(gaps))
    tol = max(rel_tol * median, abs_tol)
    missing: list[str] = []
    uneven: list[float] = []
    for k, gap in enumerate(gaps):
        if abs(gap - median) <= tol:
            continue
        m = int(round(gap / median))
        if m >= 2 and abs(gap - m * median) <= tol * m:
            lo, hi = sorted((float(coords[k]), float(coords[k + 1])))
            word = "slice" if m - 1 == 1 else "slices"
            missing.append(f"{m - 1} {word} missing between {lo:.1f} mm and {hi:.1f} mm")
        else:
            uneven.append(float(gap))
    out: list[str] = []
    if len(missing) > _MAX_LISTED_GAPS:
        out.extend(missing[:_MAX_LISTED_GAPS])
        out.append(f"slices missing in {len(missing) - _MAX_LISTED_GAPS} more places")
    else:
        out.extend(missing)
    if uneven:
        lo = min(min(uneven), median)
        hi = max(max(uneven), median)
        out.append(f"uneven slice spacing {lo:.1f}-{hi:.1f} mm")
    return out


def _check_duplicates(along: np.ndarray, first: float) -> None:
    """Raise when two slices share a position (repeats belong in separate stacks)."""
    n = len(along)
    same = np.diff(along) <= DUPLICATE_TOLERANCE_MM
    if not np.any(same):
        return
    involved = np.zeros(n, dtype=bool)
    involved[:-1] |= same
    involved[1:] |= same
    k = int(np.argmax(same))
    where = f"{first + along[k]:.1f} mm along the slice normal"
    if bool(np.all(same)):
        what = f"All {n} images lie at the same position ({where})"
    else:
        what = f"{int(involved.sum())} of the {n} images share their position with another image (e.g. at {where})"
    raise UnsupportedData(
        f"{what}, so they are not one volume: they look like repeated images of the same "
        "slices (several time points, echoes or acquisitions, e.g. a bolus-tracking or "
        "dynamic series), which should be shown as separate stacks."
    )


def _common_orientation(infos: Sequence[FrameInfo]) -> tuple[float, ...]:
    first = np.asarray(infos[0].orientation, dtype=np.float64)
    distinct = [first]
    for info in infos[1:]:
        o = np.asarray(info.orientation, dtype=np.float64)
        if not any(np.max(np.abs(o - d)) <= ORIENTATION_TOLERANCE for d in distinct):
            distinct.append(o)
    if len(distinct) > 1:
        planes = sorted({_plane_name(d) for d in distinct})
        raise UnsupportedData(
            f"These {len(infos)} images are not one volume: they have {len(distinct)} different "
            f"orientations ({', '.join(planes)}), e.g. localiser images in several planes."
        )
    return tuple(float(v) for v in first)


def _plane_name(orientation: np.ndarray) -> str:
    try:
        n = slice_normal(orientation)
    except UnsupportedData:
        return "invalid"
    axis = int(np.argmax(np.abs(n)))
    name = ("sagittal", "coronal", "axial")[axis]
    return name if abs(n[axis]) > 0.9 else f"oblique {name}"


def _pixel_spacing(infos: Sequence[FrameInfo]) -> tuple[tuple[float, float], tuple[str, ...]]:
    """(row spacing, column spacing) shared by all frames, and what it means in words.

    PixelSpacing when present; otherwise ImagerPixelSpacing (see :func:`frame_spacing`).
    """
    found = {frame_spacing(i) for i in infos}
    values = {spacing for spacing, _note in found if spacing is not None}
    if not values:
        bad = next((i.pixel_spacing for i in infos if i.pixel_spacing is not None), None)
        if bad is not None:
            raise UnsupportedData(f"The pixel spacing {bad} is invalid.")
        return (1.0, 1.0), ()
    first = next(iter(values))
    for v in values:
        if any(abs(a - b) > 1e-3 * max(abs(a), abs(b)) for a, b in zip(v, first, strict=True)):
            raise UnsupportedData(
                "The images of this stack have different pixel spacings, so they are not one volume."
            )
    notes = tuple(sorted({note for _spacing, note in found if note}))
    return (float(first[0]), float(first[1])), notes


def frame_spacing(info: FrameInfo) -> tuple[tuple[float, float] | None, str]:
    """(row spacing, column spacing) in mm of one frame, or None, and a note on its meaning.

    PixelSpacing (in the patient) when present and positive.  Otherwise, for
    projection radiographs, ImagerPixelSpacing: the spacing at the detector
    (PS3.3 10.7.1.3), where the anatomy is magnified by the beam's divergence;
    divided by EstimatedRadiographicMagnificationFactor when present, it
    estimates the spacing at the patient.  The note says which was used
    (empty for PixelSpacing).
    """
    if _positive(info.pixel_spacing):
        return info.pixel_spacing, ""
    imager = info.imager_pixel_spacing
    if not _positive(imager):
        return None, ""
    assert imager is not None
    m = info.magnification
    if m is not None and m > 0:
        corrected = (imager[0] / m, imager[1] / m)
        return corrected, (
            f"Distances are estimated at the patient: the detector's pixel spacing "
            f"(Imager Pixel Spacing) divided by the estimated radiographic magnification {m:g}."
        )
    return imager, (
        "Distances are measured at the detector plane (Imager Pixel Spacing): the X-ray beam "
        "magnifies the anatomy, so true sizes are somewhat smaller."
    )


def _positive(spacing: tuple[float, ...] | None) -> bool:
    return spacing is not None and len(spacing) == 2 and all(s > 0 for s in spacing)


def _nominal(info: FrameInfo, default_slice_spacing: float | None) -> StackGeometry:
    """A single image without patient geometry: identity placement, with a warning.

    Its pixel spacing comes from :func:`frame_spacing`; without one (or a zero
    PixelSpacing, as some CR writers store) the pixels are taken as 1 mm, with a warning.
    """
    spacing, note = frame_spacing(info)
    notes = (note,) if note else ()
    if spacing is None:
        spacing = (1.0, 1.0)
        notes = (PIXELS_NOT_MM_WARNING,)
    pixel = (float(spacing[0]), float(spacing[1]))
    if info.orientation is not None:
        row, col = _cosines(info.orientation)
        normal = slice_normal(info.orientation)
    else:
        row, col, normal = np.eye(3)
    origin = np.asarray(info.position if info.position is not None else (0.0, 0.0, 0.0))
    z = default_slice_spacing or info.slice_thickness or 1.0
    return StackGeometry(
        order=(0,),
        origin=_tuple3(origin),
        direction=np.column_stack([row, col, normal]),
        spacing=(pixel[1], pixel[0], float(z) if z > 0 else 1.0),
        positions=origin.reshape(1, 3).astype(np.float64),
        normal=normal,
        warnings=(
            "This image has no position in the patient (e.g. a projection X-ray); "
            "it is shown with a nominal placement, so positions and directions are not anatomical.",
            *notes,
        ),
        nominal=True,
    )


def _cosines(orientation: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    o = np.asarray(orientation, dtype=np.float64).reshape(6)
    row, col = o[:3], o[3:]
    nr, nc = float(np.linalg.norm(row)), float(np.linalg.norm(col))
    if nr < 1e-6 or nc < 1e-6:
        raise UnsupportedData("The image orientation is invalid (a zero direction).")
    return row / nr, col / nc


def _tuple3(v: np.ndarray) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))
