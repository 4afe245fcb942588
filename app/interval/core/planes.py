"""MPR geometry: display planes in patient space (LPS), orientation markers, reslicing.

A :class:`Plane` is a point ``origin`` plus two orthonormal LPS vectors:
``right`` (screen +u, towards the right edge) and ``down`` (screen +v, towards
the bottom edge, i.e. image row order).  Screen coordinates ``(u, v)`` are in
mm from ``origin``.  ``normal = right x down`` points *into* the screen (the
viewing direction).

Standard views are defined in patient space, whatever the acquisition, in the
radiological convention (as 3D Slicer and OHIF):

* axial: seen from the feet, patient left on screen right, anterior at top;
* coronal: seen from the front, patient left on screen right, superior at top;
* sagittal: anterior on screen left, superior at top (seen from patient left).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from interval.core.volume import Volume

ViewKind = Literal["axial", "coronal", "sagittal"]
VIEW_KINDS: tuple[ViewKind, ...] = ("axial", "coronal", "sagittal")

# (right, down) in LPS for each standard view.
_VIEW_AXES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}

# A direction shows a second/third letter once its component exceeds sin(10 degrees).
OBLIQUE_THRESHOLD = math.sin(math.radians(10.0))
_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))  # (+, -) for x, y, z in LPS


def _unit(v: np.ndarray | tuple[float, float, float], what: str) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64).reshape(3)
    n = float(np.linalg.norm(a))
    if not np.isfinite(n) or n < 1e-9:
        raise ValueError(f"plane {what} vector must be finite and non-zero")
    return a / n


@dataclass(frozen=True, eq=False)
class Plane:
    """A display plane: ``origin`` (LPS mm) and unit screen axes ``right`` and ``down``.

    ``down`` is made orthogonal to ``right``; the stored arrays are read-only.
    """

    origin: np.ndarray
    right: np.ndarray
    down: np.ndarray

    def __post_init__(self) -> None:
        right = _unit(self.right, "right")
        down = np.asarray(self.down, dtype=np.float64).reshape(3)
        down = _unit(down - float(down @ right) * right, "down (parallel to right?)")
        origin = np.array(self.origin, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(origin)):
            raise ValueError("plane origin must be finite")
        for name, value in (("origin", origin), ("right", right), ("down", down)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def normal(self) -> np.ndarray:
        """Unit normal ``right x down``: the viewing direction, into the screen."""
        return np.cross(self.right, self.down)

    def through(self, point: np.ndarray | tuple[float, float, float]) -> Plane:
        """The parallel plane through ``point`` (its new origin)."""
        return Plane(np.asarray(point, dtype=np.float64), self.right, self.down)

    def shifted(self, distance_mm: float) -> Plane:
        """The parallel plane moved ``distance_mm`` along the normal."""
        return Plane(self.origin + distance_mm * self.normal, self.right, self.down)

    def to_lps(self, u: np.ndarray | float, v: np.ndarray | float) -> np.ndarray:
        """LPS points ``(..., 3)`` of screen positions ``(u, v)`` in mm."""
        uu = np.asarray(u, dtype=np.float64)[..., None]
        vv = np.asarray(v, dtype=np.float64)[..., None]
        return self.origin + uu * self.right + vv * self.down

    def to_uv(self, lps: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """Screen ``(..., 2)`` of LPS points projected onto the plane."""
        d = np.asarray(lps, dtype=np.float64) - self.origin
        return np.stack([d @ self.right, d @ self.down], axis=-1)

    def distance(self, lps: np.ndarray | tuple[float, float, float]) -> np.ndarray | float:
        """Signed distance (mm) of LPS points from the plane along ``normal``."""
        d = np.asarray(lps, dtype=np.float64) - self.origin
        out = d @ self.normal
        return float(out) if np.ndim(out) == 0 else out

    def __repr__(self) -> str:
        def fmt(a: np.ndarray) -> str:
            return "(" + ", ".join(f"{x:.3g}" for x in a) + ")"

        return f"Plane(origin={fmt(self.origin)}, right={fmt(self.right)}, down={fmt(self.down)})"


def view_plane(kind: str, center: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Plane:
    """The standard ``axial``/``coronal``/``sagittal`` plane through ``center`` (LPS)."""
    try:
        right, down = _VIEW_AXES[kind]
    except KeyError:
        raise ValueError(f"unknown view {kind!r}; expected one of {VIEW_KINDS}") from None
    return Plane(np.asarray(center, dtype=np.float64), np.array(right), np.array(down))


def index_plane_normals(volume: Volume) -> np.ndarray:
    """Unit LPS normals ``(3, 3)`` of the planes of constant index: column ``c`` is
    the normal of the planes ``index[c] = const``, pointing the way ``index[c]`` grows.

    For an orthogonal grid these are the direction columns; for a sheared grid
    (gantry tilt loaded as-is) they are the true normals of the acquired slices.
    """
    axes = volume.direction / np.linalg.norm(volume.direction, axis=0)
    normals = np.empty((3, 3))
    for c in range(3):
        n = np.cross(axes[:, (c + 1) % 3], axes[:, (c + 2) % 3])
        n /= np.linalg.norm(n)
        normals[:, c] = n if n @ axes[:, c] > 0 else -n
    return normals


def align_to_volume(plane: Plane, volume: Volume, normal_axis: int | None = None) -> Plane:
    """``plane`` rotated onto the volume's acquisition axes (for oblique acquisitions).

    The result lies in a plane of constant index ``normal_axis`` (by default the
    index axis whose planes' normal is closest to the plane normal), so it shows
    whole acquired slices; ``right`` is the remaining volume axis closest to
    ``right`` (signs kept), so markers stay similar.
    """
    axes = volume.direction / np.linalg.norm(volume.direction, axis=0)
    normals = index_plane_normals(volume)
    if normal_axis is None:
        n_col = int(np.argmax(np.abs(normals.T @ plane.normal)))
    elif normal_axis in (0, 1, 2):
        n_col = int(normal_axis)
    else:
        raise ValueError(f"normal_axis must be 0, 1 or 2, got {normal_axis!r}")
    normal = normals[:, n_col] * (np.sign(normals[:, n_col] @ plane.normal) or 1.0)
    rest = [c for c in range(3) if c != n_col]
    r_col = max(rest, key=lambda c: abs(float(axes[:, c] @ plane.right)))
    right = axes[:, r_col] * (np.sign(axes[:, r_col] @ plane.right) or 1.0)
    right = right - float(right @ normal) * normal
    right /= np.linalg.norm(right)
    return Plane(plane.origin, right, np.cross(normal, right))


# --- orientation markers ----------------------------------------------------------
def orientation_letters(
    direction: np.ndarray | tuple[float, float, float], threshold: float = OBLIQUE_THRESHOLD
) -> str:
    """Patient-direction letters of an LPS vector, strongest first (e.g. ``"L"``, ``"LA"``).

    The dominant axis always gives a letter; the others are added when their
    share of the unit vector exceeds ``threshold`` (oblique directions).
    """
    d = _unit(direction, "direction")
    order = np.argsort(-np.abs(d), kind="stable")
    letters = []
    for rank, axis in enumerate(order):
        if rank == 0 or abs(d[axis]) > threshold:
            pos, neg = _LETTERS[axis]
            letters.append(pos if d[axis] > 0 else neg)
    return "".join(letters)


def screen_markers(plane: Plane, threshold: float = OBLIQUE_THRESHOLD) -> dict[str, str]:
    """Letters for the ``left``, ``right``, ``top`` and ``bottom`` screen edges."""
    return {
        "left": orientation_letters(-plane.right, threshold),
        "right": orientation_letters(plane.right, threshold),
        "top": orientation_letters(-plane.down, threshold),
        "bottom": orientation_letters(plane.down, threshold),
    }


# --- spacing ----------------------------------------------------------------------
def spacing_along(volume: Volume, direction: np.ndarray | tuple[float, float, float]) -> float:
    """Distance (mm) along ``direction`` that advances one voxel on the fastest index axis.

    For a direction parallel to a volume axis this is that axis' spacing.
    """
    d = _unit(direction, "direction")
    per_mm = np.linalg.solve(volume.affine[:3, :3], d)  # index change per mm
    return float(1.0 / np.max(np.abs(per_mm)))


def display_pixel_spacing(volume: Volume, plane: Plane) -> float:
    """Square screen pixel size (mm): the finer voxel spacing along the plane's axes."""
    return min(spacing_along(volume, plane.right), spacing_along(volume, plane.down))


# --- reslicing --------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SliceGrid:
    """Pixel centres on a plane: pixel ``(row, col)`` sits at ``u = u0 + col * su``,
    ``v = v0 + row * sv`` with ``spacing = (su, sv)`` in mm (square for display)."""

    plane: Plane
    spacing: tuple[float, float]
    u0: float
    v0: float
    shape: tuple[int, int]  # (rows, cols)

    @property
    def pixel_area_mm2(self) -> float:
        return self.spacing[0] * self.spacing[1]

    def pixel_to_uv(self, row: np.ndarray | float, col: np.ndarray | float) -> np.ndarray:
        """Screen mm ``(..., 2)`` of (continuous) pixel positions."""
        r = np.asarray(row, dtype=np.float64)
        c = np.asarray(col, dtype=np.float64)
        su, sv = self.spacing
        return np.stack([self.u0 + c * su, self.v0 + r * sv], axis=-1)

    def uv_to_pixel(self, uv: np.ndarray) -> np.ndarray:
        """Continuous ``(..., 2)`` ``(row, col)`` of screen positions."""
        a = np.asarray(uv, dtype=np.float64)
        su, sv = self.spacing
        return np.stack([(a[..., 1] - self.v0) / sv, (a[..., 0] - self.u0) / su], axis=-1)

    def pixel_to_lps(self, row: np.ndarray | float, col: np.ndarray | float) -> np.ndarray:
        uv = self.pixel_to_uv(row, col)
        return self.plane.to_lps(uv[..., 0], uv[..., 1])


def volume_corners(volume: Volume, *, edges: bool = True) -> np.ndarray:
    """The 8 LPS corners ``(8, 3)`` of the volume (outer voxel edges, or voxel centres)."""
    ni, nj, nk = volume.size_ijk
    lo, off = (-0.5, 0.5) if edges else (0.0, 0.0)
    corners = np.array(
        [[i, j, k] for i in (lo, ni - 1 + off) for j in (lo, nj - 1 + off) for k in (lo, nk - 1 + off)]
    )
    return volume.index_to_lps(corners)


def slice_grid(
    volume: Volume,
    plane: Plane,
    spacing: float | tuple[float, float] | None = None,
    bounds: tuple[float, float, float, float] | None = None,
) -> SliceGrid:
    """Pixel grid covering the volume's projection on ``plane`` (or ``bounds``).

    ``bounds`` = ``(umin, umax, vmin, vmax)`` in screen mm restricts the grid
    to pixel centres inside it.  ``spacing`` is the square pixel size (default
    :func:`display_pixel_spacing`) or ``(su, sv)``.  Pixels are anchored on the projection of voxel
    (0, 0, 0), so for planes parallel to the volume axes pixel centres fall on
    voxel centres, whatever the plane origin.
    """
    if spacing is None:
        spacing = display_pixel_spacing(volume, plane)
    su, sv = (float(spacing), float(spacing)) if np.isscalar(spacing) else map(float, spacing)  # type: ignore[arg-type]
    if not (su > 0 and sv > 0):
        raise ValueError(f"pixel spacing must be positive, got {spacing}")
    if bounds is None:
        uv = plane.to_uv(volume_corners(volume))
        bounds = (uv[:, 0].min(), uv[:, 0].max(), uv[:, 1].min(), uv[:, 1].max())
    umin, umax, vmin, vmax = (float(b) for b in bounds)
    anchor = plane.to_uv(volume.index_to_lps((0.0, 0.0, 0.0)))
    eps = 1e-6
    c_lo = math.ceil((umin - anchor[0]) / su - eps)
    c_hi = math.floor((umax - anchor[0]) / su + eps)
    r_lo = math.ceil((vmin - anchor[1]) / sv - eps)
    r_hi = math.floor((vmax - anchor[1]) / sv + eps)
    return SliceGrid(
        plane,
        (su, sv),
        float(anchor[0] + c_lo * su),
        float(anchor[1] + r_lo * sv),
        (max(0, r_hi - r_lo + 1), max(0, c_hi - c_lo + 1)),
    )


@dataclass(frozen=True, eq=False)
class ReslicedImage:
    """A 2-D resample: ``pixels[row, col]``, ``inside`` (sampled inside the volume) and its grid."""

    pixels: np.ndarray
    inside: np.ndarray
    grid: SliceGrid


def _grid_indices(volume: Volume, grid: SliceGrid) -> list[np.ndarray]:
    """Continuous ``i``, ``j``, ``k`` index (each ``(rows, cols)``) of every pixel centre."""
    rows, cols = grid.shape
    inv = np.linalg.inv(volume.affine[:3, :3])
    start = inv @ (grid.pixel_to_lps(0.0, 0.0) - np.asarray(volume.origin))
    d_col = inv @ (grid.plane.right * grid.spacing[0])
    d_row = inv @ (grid.plane.down * grid.spacing[1])
    r = np.arange(rows, dtype=np.float64)[:, None]
    c = np.arange(cols, dtype=np.float64)[None, :]
    return [start[a] + r * d_row[a] + c * d_col[a] for a in range(3)]


def _gather(arr: np.ndarray, k: np.ndarray, j: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``arr[k, j, i]`` for in-range integer index arrays (flat ``take`` when contiguous)."""
    if arr.flags.c_contiguous:
        _, nj, ni = arr.shape
        return np.take(arr.reshape(-1), (k * nj + j) * ni + i)
    return arr[k, j, i]


def reslice(
    volume: Volume,
    plane: Plane | SliceGrid,
    *,
    order: Literal["nearest", "linear"] = "nearest",
    fill: float = 0.0,
    spacing: float | tuple[float, float] | None = None,
) -> ReslicedImage:
    """Sample ``volume`` on a plane (or an explicit grid); outside pixels get ``fill``.

    ``nearest`` keeps the dtype; ``linear`` (trilinear, edge voxels extended by
    half a voxel) returns float32 (float64 for float64 input).
    """
    if order not in ("nearest", "linear"):
        raise ValueError(f"order must be 'nearest' or 'linear', got {order!r}")
    grid = plane if isinstance(plane, SliceGrid) else slice_grid(volume, plane, spacing)
    idx = _grid_indices(volume, grid)
    size = volume.size_ijk
    arr = volume.array
    if order == "nearest":
        near = [np.floor(x + 0.5).astype(np.int64) for x in idx]
        inside = np.ones(grid.shape, dtype=bool)
        for n, a in zip(size, near, strict=True):
            inside &= (a >= 0) & (a < n)
        near = [np.where(inside, a, 0) for a in near]
        out = _gather(arr, near[2], near[1], near[0])
        out = np.where(inside, out, np.asarray(fill).astype(arr.dtype))
        return ReslicedImage(out, inside, grid)
    inside = np.ones(grid.shape, dtype=bool)
    lows, highs, weights = [], [], []
    for n, x in zip(size, idx, strict=True):
        inside &= (x >= -0.5) & (x <= n - 0.5)
        pos = np.clip(x, 0.0, n - 1)
        lo = np.minimum(np.floor(pos).astype(np.int64), max(n - 2, 0))
        lows.append(lo)
        highs.append(np.minimum(lo + 1, n - 1))
        weights.append(pos - lo)
    out = np.zeros(grid.shape, dtype=np.float64)
    for dk in (0, 1):
        kk = highs[2] if dk else lows[2]
        wk = weights[2] if dk else 1.0 - weights[2]
        for dj in (0, 1):
            jj = highs[1] if dj else lows[1]
            wkj = wk * (weights[1] if dj else 1.0 - weights[1])
            for di in (0, 1):
                ii = highs[0] if di else lows[0]
                w = wkj * (weights[0] if di else 1.0 - weights[0])
                out += w * _gather(arr, kk, jj, ii)
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    return ReslicedImage(np.where(inside, out, fill).astype(dtype), inside, grid)
