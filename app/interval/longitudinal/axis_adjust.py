"""A RECIST axis redrawn by the reader: new end points (LPS mm), the length recomputed.

The end points are the truth (they are what the reader placed, in that timepoint's own
LPS space); the length is their distance.  The sub-voxel ``(k, j, i)`` positions kept with
an :class:`~interval.longitudinal.model.Axis` (for drawing on the slice) are found from the
measurement's own axes: their four end points lie on one slice, which fixes the in-plane
map from ``(j, i)`` to LPS; the new points are projected onto that slice.  When the old
axes are degenerate (a lesion of one voxel) the old voxel positions are kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from interval.longitudinal.model import Axis, LesionMeasurement, Vec3

AXIS_NAMES = ("long", "short")


def with_axis(measurement: LesionMeasurement, which: str, start_lps: Sequence[float],
              end_lps: Sequence[float]) -> LesionMeasurement:
    """A copy of ``measurement`` whose ``which`` ("long" or "short") axis runs from
    ``start_lps`` to ``end_lps``."""
    if which not in AXIS_NAMES:
        raise ValueError(f"unknown axis {which!r} (use long or short)")
    old = measurement.long_axis if which == "long" else measurement.short_axis
    start = _vec(start_lps)
    end = _vec(end_lps)
    length = float(np.linalg.norm(np.subtract(end, start)))
    to_voxel = _in_plane_map(measurement)
    if to_voxel is None:
        start_vox, end_vox = old.start_voxel, old.end_voxel
    else:
        start_vox, end_vox = to_voxel(start), to_voxel(end)
    axis = Axis(length_mm=length, slice_index=old.slice_index, start_voxel=start_vox,
                end_voxel=end_vox, start_lps=start, end_lps=end)
    field = "long_axis" if which == "long" else "short_axis"
    return dataclasses.replace(measurement, **{field: axis})


def _vec(p: Sequence[float]) -> Vec3:
    x, y, z = (float(v) for v in p)
    if not all(np.isfinite((x, y, z))):
        raise ValueError("an axis end point is not a finite number")
    return (x, y, z)


def _in_plane_map(m: LesionMeasurement):  # -> Callable[[Vec3], Vec3] | None
    """LPS -> (k, j, i) on the slice of the measurement's axes, or None if degenerate."""
    axes = (m.long_axis, m.short_axis)
    if len({a.slice_index for a in axes}) != 1:
        return None
    vox = np.array([v for a in axes for v in (a.start_voxel, a.end_voxel)], dtype=np.float64)
    lps = np.array([p for a in axes for p in (a.start_lps, a.end_lps)], dtype=np.float64)
    design = np.column_stack([vox[:, 1], vox[:, 2], np.ones(len(vox))])  # (j, i, 1)
    if np.linalg.matrix_rank(design, tol=1e-6) < 3:
        return None
    coef, *_ = np.linalg.lstsq(design, lps, rcond=None)  # rows: d/dj, d/di, origin
    columns = coef[:2].T  # 3x2: (j, i) -> LPS offset
    origin = coef[2]
    k = float(m.long_axis.slice_index)

    def to_voxel(p: Vec3) -> Vec3:
        ji, *_ = np.linalg.lstsq(columns, np.asarray(p) - origin, rcond=None)
        return (k, float(ji[0]), float(ji[1]))

    return to_voxel
