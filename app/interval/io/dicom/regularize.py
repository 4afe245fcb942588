"""Resample an irregular stack of slices onto a regular, orthogonal grid.

Each slice is placed at its true position; the output grid has the slices'
row and column directions, the slice normal as third axis, the in-plane
pixel spacing and the median gap along the normal as slice spacing.  It is
extended in-plane to keep every input pixel (a gantry tilt shifts slices
sideways, as dcm2niix and dicom2nifti correct it).  Output slice ``j`` is the
linear blend, along the normal, of the two input slices around it, each
shifted in-plane to the output lattice by SimpleITK's linear interpolator.
Points outside the data get the smallest input value (air for CT).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from interval.core.jobs import CancelFn, check_cancel
from interval.io.dicom.geometry import StackGeometry

# Sub-pixel offsets below this (in pixels) are treated as exact grid alignment.
_ALIGNED = 1e-3
# Blend weights this close to 0 or 1 take the nearer slice unchanged.
_SNAP = 1e-4


@dataclass(frozen=True)
class RegularGrid:
    """The output grid of a resampling and where each input slice sits on it."""

    shape: tuple[int, int, int]  # (slices, rows, columns)
    origin: tuple[float, float, float]
    direction: np.ndarray
    spacing: tuple[float, float, float]
    along: np.ndarray  # each input slice's distance from the first along the normal (mm)
    col_offset: np.ndarray  # each input slice's in-plane offset, in output columns
    row_offset: np.ndarray  # ... and in output rows

    def nbytes(self, dtype: np.dtype) -> int:
        return int(np.prod(self.shape)) * np.dtype(dtype).itemsize


def plan_grid(geom: StackGeometry, rows: int, cols: int) -> RegularGrid:
    """The regular grid that covers every slice of ``geom`` (nothing is read)."""
    row_dir, col_dir, normal = geom.row_cosine, geom.column_cosine, geom.normal
    sx, sy = geom.spacing[0], geom.spacing[1]
    offsets = geom.positions - geom.positions[0]
    along = offsets @ normal
    a = offsets @ row_dir / sx  # columns
    b = offsets @ col_dir / sy  # rows
    gaps = np.diff(along)
    sz = float(np.median(gaps)) if len(gaps) else float(geom.spacing[2])
    n_out = int(math.floor(along[-1] / sz + 1e-3)) + 1 if len(gaps) else 1
    umin = math.floor(float(a.min()) + _ALIGNED)
    umax = math.ceil(float(a.max()) - _ALIGNED) + cols - 1
    vmin = math.floor(float(b.min()) + _ALIGNED)
    vmax = math.ceil(float(b.max()) - _ALIGNED) + rows - 1
    origin = geom.positions[0] + umin * sx * row_dir + vmin * sy * col_dir
    return RegularGrid(
        shape=(n_out, vmax - vmin + 1, umax - umin + 1),
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=np.column_stack([row_dir, col_dir, normal]),
        spacing=(sx, sy, sz),
        along=along,
        col_offset=a - umin,
        row_offset=b - vmin,
    )


def regularize(
    array: np.ndarray, grid: RegularGrid, *, cancel: CancelFn | None = None
) -> np.ndarray:
    """Resample ``array`` (n, rows, cols), sorted as the grid's slices, onto ``grid``.

    Integer input keeps its dtype (values rounded); float input stays float32.
    """
    n_out, nv, nu = grid.shape
    out_dtype = array.dtype if np.issubdtype(array.dtype, np.integer) else np.dtype(np.float32)
    out = np.empty(grid.shape, dtype=out_dtype)
    fill = float(array.min()) if array.size else 0.0
    cache: dict[int, np.ndarray] = {}
    along, sz = grid.along, grid.spacing[2]
    last = len(along) - 1
    for j in range(n_out):
        check_cancel(cancel)
        s = j * sz
        k = int(np.searchsorted(along, s, side="right")) - 1
        k = min(max(k, 0), max(last - 1, 0))
        if last == 0:
            w = 0.0
        else:
            w = (s - along[k]) / (along[k + 1] - along[k])
            w = min(max(w, 0.0), 1.0)
        if w <= _SNAP:
            value = _placed(cache, array, grid, k, (nv, nu), fill)
        elif w >= 1.0 - _SNAP:
            value = _placed(cache, array, grid, k + 1, (nv, nu), fill)
        else:
            lo = _placed(cache, array, grid, k, (nv, nu), fill)
            hi = _placed(cache, array, grid, k + 1, (nv, nu), fill)
            value = lo * np.float32(1.0 - w) + hi * np.float32(w)
        for key in [key for key in cache if key < k]:
            del cache[key]
        out[j] = _cast(value, out_dtype)
    return out


def _placed(
    cache: dict[int, np.ndarray],
    array: np.ndarray,
    grid: RegularGrid,
    k: int,
    shape: tuple[int, int],
    fill: float,
) -> np.ndarray:
    """Input slice ``k`` on the output lattice (float32), cached."""
    if k not in cache:
        cache[k] = _shift(array[k], float(grid.col_offset[k]), float(grid.row_offset[k]), shape, fill)
    return cache[k]


def _shift(
    image: np.ndarray, du: float, dv: float, shape: tuple[int, int], fill: float
) -> np.ndarray:
    """``out[v, u] = image[v - dv, u - du]`` with linear interpolation; ``fill`` outside."""
    nv, nu = shape
    ru, rv = round(du), round(dv)
    if abs(du - ru) < _ALIGNED and abs(dv - rv) < _ALIGNED:
        out = np.full(shape, fill, dtype=np.float32)
        rows, cols = image.shape
        out[rv : rv + rows, ru : ru + cols] = image[: nv - rv, : nu - ru]
        return out
    src = sitk.GetImageFromArray(np.ascontiguousarray(image, dtype=np.float32))
    moved = sitk.Resample(
        src,
        [nu, nv],
        sitk.Transform(),
        sitk.sitkLinear,
        (-du, -dv),
        (1.0, 1.0),
        (1.0, 0.0, 0.0, 1.0),
        fill,
        sitk.sitkFloat32,
    )
    return sitk.GetArrayFromImage(moved)


def _cast(value: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(value), info.min, info.max).astype(dtype)
    return value.astype(dtype, copy=False)
