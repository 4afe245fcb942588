"""Transforms as numbers: 4x4 matrices, point mapping both ways, composition, files.

ITK's convention throughout: a registration's transform maps a point of the *fixed*
(reference) image to the same anatomy in the *moving* image, in LPS millimetres.  A
deformable result is ``linear(bspline(x))``: the B-spline displaces points in the fixed
space, then the linear part carries them into the moving scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from interval.core.atomic import atomic_path

INVERSE_TOLERANCE_MM = 1e-4
INVERSE_MAX_ITERATIONS = 100


def linear_matrix(transform: sitk.Transform) -> np.ndarray:
    """4x4 homogeneous matrix of a matrix-offset transform (Euler, similarity, affine...)."""
    matrix = np.asarray(transform.GetMatrix(), dtype=np.float64).reshape(3, 3)
    centre = np.asarray(transform.GetCenter(), dtype=np.float64)
    translation = np.asarray(transform.GetTranslation(), dtype=np.float64)
    out = np.eye(4)
    out[:3, :3] = matrix
    out[:3, 3] = translation + centre - matrix @ centre
    return out


def affine_transform(matrix: np.ndarray, centre: Sequence[float] = (0.0, 0.0, 0.0)
                     ) -> sitk.AffineTransform:
    """The ``sitk.AffineTransform`` of a 4x4 matrix (its centre of rotation at ``centre``)."""
    m = np.asarray(matrix, dtype=np.float64)
    c = np.asarray(centre, dtype=np.float64)
    out = sitk.AffineTransform(3)
    out.SetMatrix(tuple(float(v) for v in m[:3, :3].ravel()))
    out.SetCenter(tuple(float(v) for v in c))
    out.SetTranslation(tuple(float(v) for v in m[:3, 3] + m[:3, :3] @ c - c))
    return out


def rotation_angle_deg(matrix: np.ndarray) -> float:
    """Angle of the rotation closest to the 3x3 part of ``matrix`` (polar decomposition)."""
    u, _s, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64)[:3, :3])
    r = u @ vt
    if np.linalg.det(r) < 0:  # a reflection: the nearest proper rotation
        u[:, -1] *= -1
        r = u @ vt
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


def apply_matrix(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    return points @ m[:3, :3].T + m[:3, 3]


def as_points(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """``(N, 3)`` float64 array of LPS points (a single point becomes ``(1, 3)``)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 1:
        p = p.reshape(1, -1)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {p.shape}")
    return p


def transform_points(transform: sitk.Transform, points: np.ndarray) -> np.ndarray:
    """``transform`` applied to each point (SimpleITK, one call per point)."""
    out = np.empty_like(points)
    for n, p in enumerate(points):
        out[n] = transform.TransformPoint((float(p[0]), float(p[1]), float(p[2])))
    return out


def invert_displacement(transform: sitk.Transform, targets: np.ndarray) -> np.ndarray:
    """Points ``x`` with ``transform(x) == targets`` for a near-identity deformation.

    Fixed-point iteration ``x <- x + (target - transform(x))``: converges when the
    deformation's Jacobian stays close to the identity (a smooth B-spline does); the
    residual is below ``INVERSE_TOLERANCE_MM`` for every point that converges.
    """
    x = targets.copy()
    active = np.arange(len(x))
    for _ in range(INVERSE_MAX_ITERATIONS):
        if active.size == 0:
            break
        residual = targets[active] - transform_points(transform, x[active])
        x[active] += residual
        still = np.linalg.norm(residual, axis=1) > INVERSE_TOLERANCE_MM
        active = active[still]
    return x


def save_transform(transform: sitk.Transform, path: Path) -> Path:
    """Write ``transform`` (``.tfm``/``.txt`` text, or ``.h5`` HDF5) atomically."""
    suffix = path.suffix
    with atomic_path(path, suffix=suffix) as tmp:
        sitk.WriteTransform(transform, str(tmp))
    return path
