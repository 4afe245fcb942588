"""RECIST diameters measured exactly on the voxel geometry of a mask.

Definitions (Interval's, documented so that every report means the same thing):

* A pixel (voxel) is the closed square (box) around its centre, one spacing wide;
  a mask is the union of its pixels.  Lengths are measured **edge to edge** on that
  union, as a reader measures on the image: a lesion 10 pixels wide at 1 mm is
  10 mm, a single pixel is one pixel wide.  (Centre-to-centre distances are shorter
  by up to one pixel diagonal.)
* **Long axis** of a 2-D mask: its diameter (largest Feret / caliper diameter),
  the longest segment between two points of the union.  It joins two pixel corners;
  the union's hull is the hull of the pixel centres plus one pixel (a Minkowski sum),
  so it is found among the hull vertices of the centres (``scipy.spatial.ConvexHull``)
  and the pixel diagonals, after dropping every pixel that lies between two others
  along a row or column.
* **Short axis**: the longest chord exactly perpendicular to the long axis, where
  the chord on one line is measured from where the line first enters the union to
  where it last leaves it (for a lobulated or cleft lesion it spans the gap, as a
  caliper set across the lesion would).  This is *not* the width of the mask
  across the long axis (which may combine points on different lines).  The chord
  length along a line is piecewise linear in the line's position with breaks only
  where the line passes a vertex of the union's boundary, so evaluating every
  boundary vertex is exact.  ``perpendicular_tolerance_deg`` > 0 also tries lines
  within that many degrees of perpendicular (0.5 degree steps), as a reader's
  "roughly perpendicular" would; the default (0) is exact perpendicularity, as
  OHIF's and Slicer's bidirectional tools draw it.
* **Maximum 3-D diameter**: the largest distance between two points of the union
  of voxel boxes (the same construction in 3-D).

Geometry: ``metric`` is the 2x2 (or 3x3) matrix mapping index steps ``(i, j[, k])``
to millimetres in an orthonormal frame, so oblique or sheared grids are measured
correctly; for a plain grid it is ``diag(spacing)``.  Points are returned as
continuous ``(j, i)`` (2-D) index coordinates, half-integers at pixel corners.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import cdist

_EPS = 1e-9
_CHUNK = 256  # candidate lines per vectorised block (keeps temporaries small)


@dataclass(frozen=True)
class Axes2D:
    """Long and short axis of one 2-D mask; points are ``(j, i)`` index coordinates."""

    long_mm: float
    long_start: tuple[float, float]
    long_end: tuple[float, float]
    short_mm: float
    short_start: tuple[float, float]
    short_end: tuple[float, float]


def in_plane_metric(spacing_xy: Sequence[float], direction: np.ndarray | None = None) -> np.ndarray:
    """2x2 matrix mapping ``(i, j)`` index steps to mm in an orthonormal in-plane frame.

    ``direction`` is the Volume's 3x3 direction (columns: LPS unit vectors of i, j, k);
    the in-plane metric is the R factor of the QR decomposition of its first two
    scaled columns, so distances and right angles are those of patient space.
    """
    sx, sy = float(spacing_xy[0]), float(spacing_xy[1])
    if direction is None:
        return np.diag([sx, sy])
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    cols = np.stack([d[:, 0] * sx, d[:, 1] * sy], axis=1)
    _q, r = np.linalg.qr(cols)
    return r


def volume_metric(spacing_xyz: Sequence[float], direction: np.ndarray | None = None) -> np.ndarray:
    """3x3 matrix mapping ``(i, j, k)`` index steps to LPS mm."""
    d = np.eye(3) if direction is None else np.asarray(direction, dtype=np.float64).reshape(3, 3)
    return d * np.asarray([float(s) for s in spacing_xyz])[None, :]


# --- 2-D ---------------------------------------------------------------------------------


def extreme_voxels(mask: np.ndarray, axes: Sequence[int] | None = None) -> np.ndarray:
    """``mask`` without the voxels lying between two mask voxels along any of ``axes``.

    Such a voxel (and its box) is inside the convex hull of the two others' boxes, so
    it never ends a diameter; what is left is a thin rim that the hull needs.
    """
    keep = np.asarray(mask, dtype=bool).copy()
    for axis in range(mask.ndim) if axes is None else axes:
        m = np.moveaxis(np.asarray(mask, dtype=bool), axis, 0)
        before = np.zeros_like(m)
        after = np.zeros_like(m)
        np.logical_or.accumulate(m[:-1], axis=0, out=before[1:])
        np.logical_or.accumulate(m[:0:-1], axis=0, out=after[-2::-1])
        np.moveaxis(keep, axis, 0)[before & after] = False
    return keep


def _hull_points(pts: np.ndarray) -> np.ndarray:
    """The convex hull vertices of ``pts`` (all of them when Qhull cannot build a hull)."""
    if len(pts) <= 64:
        return pts
    try:
        return pts[ConvexHull(pts).vertices]
    except (QhullError, ValueError):  # flat (e.g. one slice or row of voxels): use them all
        return pts


def farthest_boxes(centres: np.ndarray, metric: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Diameter of the union of unit index boxes centred on ``centres`` (``(n, d)`` index
    coordinates in ``(i, j[, k])`` order) and its two end points (box corners).

    The union's hull is hull(centres) + one box (a Minkowski sum), so the diameter is
    the largest ``|M (c_a - c_b + delta)|`` over hull vertices ``c`` and box diagonals
    ``delta`` (entries +-1).  On an orthogonal grid (``M^T M`` diagonal, ``s_i^2``) the
    best diagonal follows the signs of ``c_a - c_b`` and the squared length is
    ``|M e|^2 + 2 sum s_i^2 |e_i| + sum s_i^2``: two ``cdist`` calls.  A sheared grid
    tries every diagonal on the pairs that can still win.
    """
    pts = _hull_points(np.asarray(centres, dtype=np.float64))
    x = pts @ metric.T
    gram = metric.T @ metric
    block = 1024
    if np.allclose(gram, np.diag(np.diag(gram)), atol=1e-9 * float(np.abs(gram).max())):
        w = np.diag(gram)
        best, ba, bb = -1.0, 0, 0
        for start in range(0, len(x), block):
            d2 = (cdist(x[start:start + block], x, "sqeuclidean")
                  + 2.0 * cdist(pts[start:start + block] * w, pts * w, "cityblock")
                  + float(w.sum()))
            a, b = divmod(int(np.argmax(d2)), d2.shape[1])
            if d2[a, b] > best + _EPS:
                best, ba, bb = float(d2[a, b]), start + a, b
        delta = np.where(pts[ba] - pts[bb] >= 0, 1.0, -1.0)
    else:
        ba, bb, delta = _farthest_sheared(pts, x, metric, block)
    p, q = pts[ba] + delta / 2.0, pts[bb] - delta / 2.0
    return float(np.linalg.norm(metric @ (p - q))), p, q


def _farthest_sheared(pts: np.ndarray, x: np.ndarray, metric: np.ndarray,
                      block: int) -> tuple[int, int, np.ndarray]:
    """Farthest box pair on a sheared grid: every diagonal, on the pairs that can win
    (centre distance within the longest diagonal of the length at the farthest centres)."""
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=pts.shape[1])))
    deltas = signs @ metric.T
    reach = float(np.sqrt((deltas * deltas).sum(axis=1)).max())
    top, ta, tb = -1.0, 0, 0
    for start in range(0, len(x), block):
        d2c = cdist(x[start:start + block], x, "sqeuclidean")
        a, b = divmod(int(np.argmax(d2c)), d2c.shape[1])
        if d2c[a, b] > top:
            top, ta, tb = float(d2c[a, b]), start + a, b
    lower = float(np.sqrt(((x[ta] - x[tb] + deltas) ** 2).sum(axis=1).max()))
    floor = max(lower - reach - 1e-6, 0.0) ** 2
    ab = np.concatenate([np.argwhere(cdist(x[s:s + block], x, "sqeuclidean") >= floor) + [s, 0]
                         for s in range(0, len(x), block)])
    diff = x[ab[:, 0]] - x[ab[:, 1]]
    d2 = ((diff[:, None, :] + deltas[None, :, :]) ** 2).sum(axis=-1)  # (pairs, diagonals)
    n, m = divmod(int(np.argmax(d2)), len(deltas))
    return int(ab[n, 0]), int(ab[n, 1]), signs[m]


def longest_diameter(mask2d: np.ndarray, metric: np.ndarray,
                     *, rim: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """(length mm, start, end) of the long axis of ``mask2d``; points as ``(i, j)`` index.

    ``rim`` is :func:`extreme_voxels` of the mask when the caller already has it.
    """
    rim = extreme_voxels(mask2d) if rim is None else rim
    jj, ii = np.nonzero(rim)
    length, p, q = farthest_boxes(np.stack([ii, jj], 1), metric)
    if (p[1], p[0]) > (q[1], q[0]):  # deterministic orientation: start has the smaller (j, i)
        p, q = q, p
    return length, p, q


def _boundary_edges(mask2d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """End points ``(i, j)`` of every pixel edge between the mask and its outside."""
    m = np.pad(mask2d.astype(bool), 1)
    # Horizontal edges: h[r, c] compares padded rows r and r + 1 = unpadded rows r - 1 and r.
    h = m[1:, :] != m[:-1, :]
    hj, hi = np.nonzero(h)
    y = hj - 0.5
    x = hi - 1.0
    h0 = np.stack([x - 0.5, y], 1)
    h1 = np.stack([x + 0.5, y], 1)
    v = m[:, 1:] != m[:, :-1]
    vj, vi = np.nonzero(v)
    x = vi - 0.5
    y = vj - 1.0
    v0 = np.stack([x, y - 0.5], 1)
    v1 = np.stack([x, y + 0.5], 1)
    return np.concatenate([h0, v0]), np.concatenate([h1, v1])


def perpendicular_chord(
    mask2d: np.ndarray, metric: np.ndarray, direction_mm: np.ndarray,
) -> tuple[float, np.ndarray, np.ndarray]:
    """(length mm, start, end) of the longest chord of ``mask2d`` along lines in
    ``direction_mm`` (a 2-vector in the metric frame); points as ``(i, j)`` index."""
    w = np.asarray(direction_mm, dtype=np.float64)
    w = w / np.linalg.norm(w)
    u = np.array([w[1], -w[0]])  # lines are u . p = t
    e0, e1 = _boundary_edges(mask2d)
    p0, p1 = e0 @ metric.T, e1 @ metric.T
    a0, a1 = p0 @ u, p1 @ u
    b0, b1 = p0 @ w, p1 @ w
    amin, amax = np.minimum(a0, a1), np.maximum(a0, a1)
    da = a1 - a0
    flat = np.abs(da) < _EPS
    safe_da = np.where(flat, 1.0, da)
    cand = np.unique(np.round(np.concatenate([a0, a1]), 9))
    best = (-1.0, 0.0, 0.0, 0.0)  # (length, t, lo, hi)
    for start in range(0, len(cand), _CHUNK):
        t = cand[start:start + _CHUNK, None]
        hit = (t >= amin - 1e-7) & (t <= amax + 1e-7)
        s = np.clip((t - a0) / safe_da, 0.0, 1.0)
        b = b0 + s * (b1 - b0)
        # An edge lying on the line contributes both of its ends.
        lo = np.where(hit, np.where(flat, np.minimum(b0, b1), b), np.inf).min(axis=1)
        hi = np.where(hit, np.where(flat, np.maximum(b0, b1), b), -np.inf).max(axis=1)
        length = hi - lo
        k = int(np.argmax(length))
        if np.isfinite(length[k]) and length[k] > best[0] + _EPS:
            best = (float(length[k]), float(t[k, 0]), float(lo[k]), float(hi[k]))
    length, t, lo, hi = best
    if length < 0:
        return 0.0, np.zeros(2), np.zeros(2)
    inv = np.linalg.inv(metric)
    start_pt = (t * u + lo * w) @ inv.T
    end_pt = (t * u + hi * w) @ inv.T
    return length, start_pt, end_pt


def long_and_short_axis(
    mask2d: np.ndarray,
    spacing_xy: Sequence[float] = (1.0, 1.0),
    *,
    metric: np.ndarray | None = None,
    perpendicular_tolerance_deg: float = 0.0,
) -> Axes2D:
    """RECIST long axis and perpendicular short axis of a 2-D mask indexed ``[j, i]``.

    ``metric`` (see :func:`in_plane_metric`) overrides ``spacing_xy`` for oblique grids.
    An empty mask gives zero lengths.
    """
    mask2d = np.asarray(mask2d, dtype=bool)
    if mask2d.ndim != 2:
        raise ValueError("long_and_short_axis needs a 2-D mask")
    if not mask2d.any():
        z = (0.0, 0.0)
        return Axes2D(0.0, z, z, 0.0, z, z)
    m = in_plane_metric(spacing_xy) if metric is None else np.asarray(metric, dtype=np.float64)
    long_mm, p, q = longest_diameter(mask2d, m)
    along = (q - p) @ m.T
    perp = np.array([-along[1], along[0]])
    short_mm, s0, s1 = perpendicular_chord(mask2d, m, perp)
    if perpendicular_tolerance_deg > 0:
        steps = np.arange(0.5, perpendicular_tolerance_deg + 1e-9, 0.5)
        for ang in np.concatenate([steps, -steps]):
            c, s = np.cos(np.radians(ang)), np.sin(np.radians(ang))
            d = np.array([c * perp[0] - s * perp[1], s * perp[0] + c * perp[1]])
            length, a, b = perpendicular_chord(mask2d, m, d)
            if length > short_mm + _EPS:
                short_mm, s0, s1 = length, a, b
    if (s0[1], s0[0]) > (s1[1], s1[0]):
        s0, s1 = s1, s0
    return Axes2D(
        long_mm=long_mm,
        long_start=(float(p[1]), float(p[0])), long_end=(float(q[1]), float(q[0])),
        short_mm=short_mm,
        short_start=(float(s0[1]), float(s0[0])), short_end=(float(s1[1]), float(s1[0])),
    )


def slice_diameter_bounds(rim3d: np.ndarray,
                          metric: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every non-empty slice ``k`` of a ``[k, j, i]`` mask's rim (see
    :func:`extreme_voxels` over axes 1, 2): ``(k, lower, upper)`` bounds of its diameter.

    ``lower`` is the largest caliper width along 0, 45, 90 and 135 degrees; the diameter
    lies within 22.5 degrees of one of them, so it is at most ``lower / cos(22.5)``.
    """
    kk, jj, ii = np.nonzero(rim3d)
    if kk.size == 0:
        return np.zeros(0, int), np.zeros(0), np.zeros(0)
    x = np.stack([ii, jj], 1).astype(np.float64) @ metric.T
    starts = np.flatnonzero(np.r_[True, kk[1:] != kk[:-1]])
    lower = np.zeros(starts.size)
    for angle in (0.0, 45.0, 90.0, 135.0):
        d = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
        p = x @ d
        box = float(np.abs(metric.T @ d).sum())  # one pixel's extent along d
        width = np.maximum.reduceat(p, starts) - np.minimum.reduceat(p, starts) + box
        lower = np.maximum(lower, width)
    return kk[starts], lower, lower / np.cos(np.radians(22.5))


# --- 3-D ---------------------------------------------------------------------------------


def max_3d_diameter(
    mask3d: np.ndarray,
    spacing_xyz: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    metric: np.ndarray | None = None,
) -> float:
    """Largest distance (mm) between two points of the union of voxel boxes of a
    ``[k, j, i]`` mask (0 when empty)."""
    mask3d = np.asarray(mask3d, dtype=bool)
    if not mask3d.any():
        return 0.0
    m = volume_metric(spacing_xyz) if metric is None else np.asarray(metric, dtype=np.float64)
    kk, jj, ii = np.nonzero(extreme_voxels(mask3d))
    length, _p, _q = farthest_boxes(np.stack([ii, jj, kk], 1), m)
    return length
