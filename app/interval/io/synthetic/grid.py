"""Geometry of the synthetic generator: the scanner grid, the patient's rigid pose, shapes.

The anatomy is described in a *body frame* (mm, LPS axes, origin at the centre
of the patient's torso).  A :class:`Pose` places the body in the scanner for one
timepoint (``lps = R @ body + t``), and a :class:`Grid` is the scanner's regular
axial voxel grid (identity direction).  :class:`BodySampler` gives the body-frame
coordinates of the voxel centres of any sub-box of the grid, so every shape is
evaluated where it physically lies at that timepoint: moving the patient moves
the anatomy through a fixed scanner grid.  A follow-up may also carry a smooth
non-rigid deformation (:mod:`.deformation`): the sampler then subtracts its
displacement from the body coordinates, so every shape is drawn deformed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from interval.io.synthetic.deformation import GridWarp

Box = tuple[slice, slice, slice]
Coords = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Grid:
    """A regular axial grid: ``shape`` (nz, ny, nx), ``spacing`` and ``origin`` in (x, y, z)."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    @classmethod
    def centred(
        cls,
        shape: tuple[int, int, int],
        spacing: tuple[float, float, float],
        centre: tuple[float, float, float],
    ) -> Grid:
        """The grid of ``shape`` and ``spacing`` whose middle lies at ``centre`` (LPS mm)."""
        shape = tuple(int(n) for n in shape)  # type: ignore[assignment]
        spacing = tuple(float(s) for s in spacing)  # type: ignore[assignment]
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"shape must be three positive sizes (nz, ny, nx), got {shape}")
        if len(spacing) != 3 or min(spacing) <= 0:
            raise ValueError(f"spacing must be three positive values (x, y, z), got {spacing}")
        # Rounded to 6 decimals so that DICOM decimal strings hold the grid exactly.
        spacing = tuple(round(s, 6) for s in spacing)  # type: ignore[assignment]
        size_xyz = np.array(shape[::-1], dtype=np.float64)
        origin = np.asarray(centre, dtype=np.float64) - (size_xyz - 1) / 2 * np.asarray(spacing)
        return cls(shape, spacing, tuple(float(round(o, 6)) for o in origin))  # type: ignore[arg-type]

    @property
    def affine(self) -> np.ndarray:
        """4x4 matrix from homogeneous index (i, j, k, 1) to LPS mm."""
        a = np.eye(4)
        a[:3, :3] = np.diag(self.spacing)
        a[:3, 3] = self.origin
        return a

    @property
    def voxel_volume(self) -> float:
        return float(np.prod(self.spacing))

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """LPS mm of index positions ``(..., 3)`` given in (i, j, k) order."""
        return np.asarray(ijk, dtype=np.float64) * self.spacing + self.origin

    def slice_positions(self) -> np.ndarray:
        """``(nz, 3)`` LPS positions of the first voxel of each slice (ImagePositionPatient)."""
        k = np.arange(self.shape[0], dtype=np.float64)
        pos = np.zeros((self.shape[0], 3))
        pos[:, :2] = self.origin[:2]
        pos[:, 2] = self.origin[2] + k * self.spacing[2]
        return pos


@dataclass(frozen=True)
class Pose:
    """Rigid placement of the body in the scanner: ``lps = rotation @ body + translation``."""

    rotation: tuple[tuple[float, float, float], ...]
    translation: tuple[float, float, float]

    @classmethod
    def from_angles(
        cls, angles_deg: tuple[float, float, float], translation: tuple[float, float, float]
    ) -> Pose:
        """Rotation about x, then y, then z (degrees), then ``translation`` (mm)."""
        rx, ry, rz = np.radians(angles_deg)
        cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
        mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        r = mz @ my @ mx
        return cls(
            tuple(tuple(float(v) for v in row) for row in r),  # type: ignore[arg-type]
            tuple(float(t) for t in translation),  # type: ignore[arg-type]
        )

    @property
    def r(self) -> np.ndarray:
        return np.array(self.rotation, dtype=np.float64)

    @property
    def t(self) -> np.ndarray:
        return np.array(self.translation, dtype=np.float64)

    @property
    def matrix(self) -> np.ndarray:
        """4x4 homogeneous matrix body -> LPS."""
        m = np.eye(4)
        m[:3, :3] = self.r
        m[:3, 3] = self.t
        return m

    def to_lps(self, body: np.ndarray) -> np.ndarray:
        """LPS mm of body-frame points ``(..., 3)``."""
        return np.asarray(body, dtype=np.float64) @ self.r.T + self.t

    def to_body(self, lps: np.ndarray) -> np.ndarray:
        """Body-frame mm of LPS points ``(..., 3)``."""
        return (np.asarray(lps, dtype=np.float64) - self.t) @ self.r

    def relative_to(self, other: Pose) -> np.ndarray:
        """4x4 matrix taking LPS points of ``other``'s scan to this scan's LPS (same anatomy)."""
        return self.matrix @ np.linalg.inv(other.matrix)

    def angle_deg(self) -> float:
        """Total rotation angle (degrees) of this pose."""
        c = (np.trace(self.r) - 1) / 2
        return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


class BodySampler:
    """Body-frame coordinates (float32) of the voxel centres of a grid under a pose.

    With a ``warp`` (a deformation evaluated on this grid) the voxel at scanner
    position ``y`` shows the body point ``pose^-1(y) - u(y)``.
    """

    def __init__(self, grid: Grid, pose: Pose, warp: GridWarp | None = None) -> None:
        self.grid = grid
        self.pose = pose
        self.warp = warp
        rt = pose.r.T
        # body = R^T (origin + S @ ijk - t)  ->  body = c + A @ ijk
        self._a = rt @ np.diag(grid.spacing)
        self._c = rt @ (np.asarray(grid.origin) - pose.t)
        self._inv = np.linalg.inv(self._a)
        nz, ny, nx = grid.shape
        self._axes = (np.arange(nx, dtype=np.float64), np.arange(ny, dtype=np.float64),
                      np.arange(nz, dtype=np.float64))
        corners = np.array([[i, j, k] for i in (0, nx - 1) for j in (0, ny - 1) for k in (0, nz - 1)])
        body = corners @ self._a.T + self._c
        self._pad = np.zeros(3) if warp is None else np.asarray(warp.pad_mm, dtype=np.float64)
        self.body_lo = body.min(axis=0) - self._pad
        self.body_hi = body.max(axis=0) + self._pad

    def box(self, lo: np.ndarray | tuple, hi: np.ndarray | tuple, margin: int = 1) -> Box | None:
        """Index box (slices k, j, i) holding the body-frame box ``[lo, hi]``; None if outside."""
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.asarray(hi, dtype=np.float64)
        if self.warp is None:
            return self._box(lo, hi, margin)
        # Widen by a bound on the displacement inside the box widened by the largest one.
        box = self._box(lo - self._pad, hi + self._pad, margin)
        if box is None:
            return None
        pad = self.warp.local_pad(box)
        return self._box(lo - pad, hi + pad, margin)

    def _box(self, lo: np.ndarray, hi: np.ndarray, margin: int) -> Box | None:
        lo = np.maximum(lo, self.body_lo - 5.0)
        hi = np.minimum(hi, self.body_hi + 5.0)
        if np.any(hi < lo):
            return None
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                            for z in (lo[2], hi[2])])
        ijk = (corners - self._c) @ self._inv.T
        start = np.floor(ijk.min(axis=0)).astype(int) - margin
        stop = np.ceil(ijk.max(axis=0)).astype(int) + margin + 1
        size = np.array(self.grid.shape[::-1])
        start = np.clip(start, 0, size)
        stop = np.clip(stop, 0, size)
        if np.any(stop <= start):
            return None
        return (slice(start[2], stop[2]), slice(start[1], stop[1]), slice(start[0], stop[0]))

    def full(self) -> Box:
        nz, ny, nx = self.grid.shape
        return (slice(0, nz), slice(0, ny), slice(0, nx))

    def coords(self, box: Box) -> Coords:
        """Body-frame x, y, z (float32 arrays of the box's shape)."""
        ks, js, is_ = box
        i = self._axes[0][is_]
        j = self._axes[1][js]
        k = self._axes[2][ks]
        warp = self.warp
        out = []
        for row in range(3):
            a = self._a[row]
            part_k = (self._c[row] + a[2] * k).astype(np.float32)[:, None, None]
            part_j = (a[1] * j).astype(np.float32)[None, :, None]
            part_i = (a[0] * i).astype(np.float32)[None, None, :]
            if warp is not None and row == 0:
                part_k = part_k - warp.u_x[ks, js][:, :, None]  # (k, j, 1): the bend
            out.append(part_k + part_j + part_i)
        if warp is not None:
            u_z = warp.u_z(ks, js, is_)
            if u_z is not None:
                out[2] -= u_z
        return out[0], out[1], out[2]


def ellipsoid_r2(
    coords: Coords, centre: tuple[float, float, float], radii: tuple[float, float, float],
    rotation: np.ndarray | None = None,
) -> np.ndarray:
    """Squared normalised radius of an (optionally rotated) ellipsoid; < 1 inside."""
    x, y, z = coords
    dx, dy, dz = x - np.float32(centre[0]), y - np.float32(centre[1]), z - np.float32(centre[2])
    if rotation is not None:
        r = np.asarray(rotation, dtype=np.float32)  # columns: the ellipsoid's axes in body frame
        dx, dy, dz = (r[0, 0] * dx + r[1, 0] * dy + r[2, 0] * dz,
                      r[0, 1] * dx + r[1, 1] * dy + r[2, 1] * dz,
                      r[0, 2] * dx + r[1, 2] * dy + r[2, 2] * dz)
    ax, ay, az = (np.float32(1.0 / r_) for r_ in radii)
    dx *= ax
    dy *= ay
    dz *= az
    return dx * dx + dy * dy + dz * dz


def ellipsoid_bounds(
    centre: tuple[float, float, float], radii: tuple[float, float, float],
    rotation: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned body-frame bounds of an (optionally rotated) ellipsoid."""
    c = np.asarray(centre, dtype=np.float64)
    rad = np.asarray(radii, dtype=np.float64)
    if rotation is None:
        ext = rad
    else:
        r = np.asarray(rotation, dtype=np.float64)
        ext = np.sqrt((r**2) @ (rad**2))
    return c - ext, c + ext


def capsule_d2(coords: Coords, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Squared distance (mm^2) to the segment ``p0``-``p1``."""
    x, y, z = coords
    p0 = np.asarray(p0, dtype=np.float64)
    d = np.asarray(p1, dtype=np.float64) - p0
    dd = float(d @ d) or 1e-9
    px, py, pz = x - np.float32(p0[0]), y - np.float32(p0[1]), z - np.float32(p0[2])
    t = (px * np.float32(d[0] / dd) + py * np.float32(d[1] / dd) + pz * np.float32(d[2] / dd))
    np.clip(t, 0, 1, out=t)
    px -= t * np.float32(d[0])
    py -= t * np.float32(d[1])
    pz -= t * np.float32(d[2])
    return px * px + py * py + pz * pz


def capsule_bounds(p0: np.ndarray, p1: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(p0, dtype=np.float64)
    b = np.asarray(p1, dtype=np.float64)
    return np.minimum(a, b) - radius, np.maximum(a, b) + radius


def rotation_zyx(rz: float = 0.0, ry: float = 0.0, rx: float = 0.0) -> np.ndarray:
    """Rotation matrix (columns = rotated axes) from angles in degrees."""
    return Pose.from_angles((rx, ry, rz), (0.0, 0.0, 0.0)).r
