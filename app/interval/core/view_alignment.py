"""Which axes the MPR views use for a series: the patient's, or its acquisition plane.

Views reslice to the patient's axial/coronal/sagittal planes by default.  A
single oblique image, or a short oblique stack (a disc-angled spine series, a
tilted reformat, one CT image with a gantry tilt), then crosses every view as a
thin band.  Such a series opens in its acquisition plane instead (3D Slicer's
"Rotate to volume plane"); the user may switch either way for any series.

The rule (:func:`opens_in_acquisition_plane`): the series is *thin* — one slice,
or a through-plane extent under :data:`THIN_FRACTION` of its smaller in-plane
extent — and its slices are tilted from the nearest patient plane by more than
:data:`OBLIQUE_TOLERANCE_DEG` (a series on the patient axes already shows whole).
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np

from interval.core.planes import VIEW_KINDS, align_to_volume, index_plane_normals, view_plane
from interval.core.volume import Volume

AxesMode = Literal["auto", "volume", "patient"]
AXES_MODES: tuple[AxesMode, ...] = ("auto", "volume", "patient")
Point = tuple[float, float, float]

# through-plane extent below this share of the smaller in-plane extent = a thin stack
THIN_FRACTION = 0.25
# slices tilted less than this from a patient plane count as on the patient axes
# (DICOM orientation cosines carry rounding noise of about 1e-6)
OBLIQUE_TOLERANCE_DEG = 0.01


def _extents(volume: Volume) -> np.ndarray:
    """Physical extent (mm) along each index axis: voxel count x spacing."""
    return np.asarray(volume.size_ijk, dtype=np.float64) * np.asarray(volume.spacing)


def slice_axis(volume: Volume) -> int:
    """The index axis across the slices (0 = i, 1 = j, 2 = k).

    An axis of a single voxel (``k`` first) when there is one, else the axis
    with the smallest physical extent (``k`` on a tie).
    """
    size = volume.size_ijk
    single = [a for a in (2, 1, 0) if size[a] == 1]
    if single:
        return single[0]
    extent = _extents(volume)
    return min((2, 1, 0), key=lambda a: extent[a])


def is_thin(volume: Volume) -> bool:
    """Whether the series is 2-D or a thin stack (see the module's rule)."""
    axis = slice_axis(volume)
    if volume.size_ijk[axis] <= 1:
        return True
    extent = _extents(volume)
    in_plane = min(extent[a] for a in range(3) if a != axis)
    return bool(extent[axis] < THIN_FRACTION * in_plane)


def slice_normal(volume: Volume) -> np.ndarray:
    """Unit LPS normal of the acquired slices (true normal also for a sheared grid)."""
    return index_plane_normals(volume)[:, slice_axis(volume)]


def slice_tilt_deg(volume: Volume) -> float:
    """Angle (degrees) between the slices and the nearest patient plane."""
    cos = float(np.max(np.abs(slice_normal(volume))))
    return math.degrees(math.acos(min(cos, 1.0)))


def opens_in_acquisition_plane(volume: Volume) -> bool:
    """Whether ``volume`` should open in its acquisition plane: thin and oblique."""
    return is_thin(volume) and slice_tilt_deg(volume) > OBLIQUE_TOLERANCE_DEG


def view_normal_axes(volume: Volume) -> dict[str, int]:
    """The index axis whose slices each standard view shows when aligned to the volume.

    Each view gets a different axis (the assignment with the largest total
    ``|cos|`` between view normals and slice normals), so even at 45 degrees no
    two views show the same plane and one of them shows whole acquired slices.
    """
    normals = index_plane_normals(volume)
    cos = np.abs(np.array([view_plane(k).normal for k in VIEW_KINDS]) @ normals)  # [view, axis]
    best = max(
        itertools.permutations(range(3)),
        key=lambda perm: float(sum(cos[v, a] for v, a in enumerate(perm))),
    )  # max keeps the first of equal scores: deterministic
    return {kind: int(axis) for kind, axis in zip(VIEW_KINDS, best, strict=True)}


def aligned_view_axes(volume: Volume) -> dict[str, tuple[Point, Point]]:
    """``(right, down)`` (LPS) of each standard view rotated onto the volume's planes.

    The view whose normal is nearest the slice normal shows whole acquired slices;
    the other two show the slices edge-on, along the volume's other axes.
    """
    out: dict[str, tuple[Point, Point]] = {}
    for kind, axis in view_normal_axes(volume).items():
        plane = align_to_volume(view_plane(kind), volume, normal_axis=axis)
        right = tuple(float(x) for x in plane.right)
        down = tuple(float(x) for x in plane.down)
        out[kind] = (right, down)  # type: ignore[assignment]
    return out
