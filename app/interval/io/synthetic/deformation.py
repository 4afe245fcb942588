"""Smooth non-rigid body motion between scans (breathing, posture), on top of the rigid pose.

At a follow-up scan the tissue that lies at body-frame point ``b`` (the
anatomy as modelled, as at the baseline) is found at the scanner position
``y`` that solves ``y = pose(b + u(y))``, where ``u`` is a smooth displacement
(mm, body axes) evaluated at the scanner position.  Rendering needs the other
direction, which is explicit: the voxel at ``y`` shows the body point
``pose^-1(y) - u(y)`` (see :class:`GridWarp`).  The baseline has no
deformation.  ``u`` has two parts:

breathing  craniocaudal (z) motion of the organs inside the torso,
           ``A (G(z) - g0) M(x, y)``: ``G`` a Gaussian around the diaphragm dome
           (decaying faster into the chest than into the abdomen), ``M`` a
           smooth weight that is 1 in the middle of the torso and 0 at the body
           wall, the ribs, the spine and outside the body.  ``g0`` is the mean of
           ``G`` over the body in the field of view, so the motion is mean-free
           over the body: the rigid pose stays the best rigid fit.
posture    a lateral (x) bend ``B (((z - zc) / H)^2 - 1/3) S(y)``: quadratic
           along the body (mean-free over the field of view), fading to 0 at
           the table top (``S``) so the table never moves.

Both are deterministic from the seed (:func:`sample_deformation`): ``|A|``
6-16 mm, ``G`` with sigma 35-45 mm above and 60-90 mm below the dome, ``|B|``
1.5-4 mm.  Over the body this gives displacements of at most about 4-10 mm
(about half of ``|A|`` near the dome, a third of it the other way far from it)
and 1-2 mm RMS; their body mean is 0 and the best rigid fit of the full motion
differs from the pose by about 0.1-0.2 mm RMS (measured in
``tests/io/synthetic/test_deformation.py``).  :func:`true_point_mapping` maps
baseline points to a follow-up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

_FIXED_POINT_STEPS = 60


@dataclass(frozen=True)
class Deformation:
    """The non-rigid motion of one follow-up scan (scanner LPS mm; see the module text)."""

    breathing_mm: float  # A: organ motion along body z (+ superior) where G = 1, M = 1
    diaphragm_z: float  # scanner z of the dome (centre of G)
    decay_above_mm: float  # Gaussian sigma of G above the dome (into the chest)
    decay_below_mm: float  # ... and below it (into the abdomen)
    mean_level: float  # g0: mean of G over the body in the field of view
    centre_xy: tuple[float, float]  # scanner x, y of the centre of the moving region M
    half_axes_xy: tuple[float, float]  # its half axes (M = 0 outside this ellipse)
    spine_xy: tuple[float, float]  # scanner x, y of the spine (M -> 0 there)
    spine_sigma_mm: float  # width of the static region around the spine
    bend_mm: float  # B: lateral bend amplitude along body x
    bend_centre_z: float  # zc: scanner z of the middle of the bend
    bend_half_length_mm: float  # H
    table_y: float  # scanner y of the table top (the bend is 0 from here on)
    table_fade_mm: float  # the bend fades to 0 over this distance above the table

    # --- the field ------------------------------------------------------------------

    def breathing_profile(self, z: np.ndarray) -> np.ndarray:
        """``A (G(z) - g0)`` at scanner ``z`` (mm)."""
        z = np.asarray(z, dtype=np.float64)
        sigma = np.where(z > self.diaphragm_z, self.decay_above_mm, self.decay_below_mm)
        g = np.exp(-0.5 * ((z - self.diaphragm_z) / sigma) ** 2)
        return self.breathing_mm * (g - self.mean_level)

    def region_weight(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``M(x, y)``: 1 in the middle of the torso, 0 at the wall, the spine and outside."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        (cx, cy), (ax, ay) = self.centre_xy, self.half_axes_xy
        inside = np.clip(1.0 - ((x - cx) / ax) ** 2 - ((y - cy) / ay) ** 2, 0.0, 1.0)
        sx, sy = self.spine_xy
        spine = np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * self.spine_sigma_mm**2))
        return inside * inside * (1.0 - spine)

    def bend_profile(self, z: np.ndarray) -> np.ndarray:
        """``B (((z - zc) / H)^2 - 1/3)`` at scanner ``z``."""
        t = np.clip((np.asarray(z, dtype=np.float64) - self.bend_centre_z)
                    / self.bend_half_length_mm, -1.0, 1.0)
        return self.bend_mm * (t * t - 1.0 / 3.0)

    def table_weight(self, y: np.ndarray) -> np.ndarray:
        """``S(y)``: 1 above the table, falling smoothly to 0 at the table top."""
        t = np.clip((self.table_y - np.asarray(y, dtype=np.float64)) / self.table_fade_mm, 0.0, 1.0)
        return t * t * (3.0 - 2.0 * t)

    def displacement(self, points_lps: np.ndarray) -> np.ndarray:
        """``u`` (body axes, mm) at scanner points ``(..., 3)`` (x, y, z)."""
        p = np.asarray(points_lps, dtype=np.float64)
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        out = np.zeros(p.shape, dtype=np.float64)
        out[..., 0] = self.bend_profile(z) * self.table_weight(y)
        out[..., 2] = self.breathing_profile(z) * self.region_weight(x, y)
        return out

    def locate(self, rotation: np.ndarray, translation: np.ndarray,
               body_points: np.ndarray) -> np.ndarray:
        """Scanner LPS of body-frame points ``(N, 3)`` under the pose and this deformation."""
        r = np.asarray(rotation, dtype=np.float64)
        rigid = np.asarray(body_points, dtype=np.float64) @ r.T + np.asarray(translation)
        y = rigid.copy()
        for _ in range(_FIXED_POINT_STEPS):  # y = rigid + R u(y): u is a contraction
            new = rigid + self.displacement(y) @ r.T
            if np.max(np.abs(new - y), initial=0.0) < 1e-9:
                return new
            y = new
        return y

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Deformation:
        fields = cls.__dataclass_fields__
        return cls(**{k: (tuple(float(x) for x in v) if isinstance(v, list) else float(v))
                      for k, v in d.items() if k in fields})


def sample_deformation(
    rng: np.random.Generator, *, translation: np.ndarray, z_dome: float, spine_y: float,
    half_width: float, front: float, back: float, fov_z: tuple[float, float],
) -> Deformation:
    """A breathing and posture state for a follow-up scan of a body placed at ``translation``.

    ``z_dome``, ``spine_y`` and the torso size (``half_width``, ``front``/``back``:
    its extent before and behind the body origin) are in the body frame;
    ``fov_z`` is the scanner z range the scans cover.
    """
    tx, ty, tz = (float(v) for v in translation)
    amplitude = float(rng.uniform(6.0, 16.0) * rng.choice([-1.0, 1.0]))
    above, below = float(rng.uniform(35.0, 45.0)), float(rng.uniform(60.0, 90.0))
    centre = (tx, ty + 0.5 * (back - front) - 0.08 * (front + back))
    axes = (0.78 * half_width, 0.42 * (front + back))
    bend = float(rng.uniform(1.5, 4.0) * rng.choice([-1.0, 1.0]))
    lo, hi = fov_z
    d = Deformation(
        breathing_mm=amplitude, diaphragm_z=tz + z_dome, decay_above_mm=above,
        decay_below_mm=below, mean_level=0.0, centre_xy=centre, half_axes_xy=axes,
        spine_xy=(tx, ty + spine_y), spine_sigma_mm=28.0, bend_mm=bend,
        bend_centre_z=(lo + hi) / 2, bend_half_length_mm=(hi - lo) / 2,
        table_y=ty + back + 3.0, table_fade_mm=12.0,
    )
    # g0: the mean of G along the field of view.  M does not depend on z, so the
    # breathing motion A (G - g0) M is then mean-free over the body.
    g = d.breathing_profile(np.linspace(lo, hi, 701)) / amplitude
    return Deformation(**{**asdict(d), "mean_level": float(np.mean(g))})


class GridWarp:
    """A deformation evaluated on a scanner grid's axes (cheap, separable pieces).

    ``u_x[k, j]`` and ``u_z = bz[k] * m[j, i]`` are float32 arrays over the grid's
    slice (k), row (j) and column (i) indices; ``pad_mm`` bounds ``|u|`` per body axis.
    """

    def __init__(self, deformation: Deformation, shape: tuple[int, int, int],
                 spacing: tuple[float, float, float], origin: tuple[float, float, float]) -> None:
        nz, ny, nx = shape
        x = origin[0] + spacing[0] * np.arange(nx)
        y = origin[1] + spacing[1] * np.arange(ny)
        z = origin[2] + spacing[2] * np.arange(nz)
        self.deformation = deformation
        self.u_x = (deformation.bend_profile(z)[:, None]
                    * deformation.table_weight(y)[None, :]).astype(np.float32)
        self.bz = deformation.breathing_profile(z).astype(np.float32)
        self.m = deformation.region_weight(x[None, :], y[:, None]).astype(np.float32)
        self.pad_mm = np.array([float(np.abs(self.u_x).max(initial=0.0)), 0.0,
                                float(np.abs(self.bz).max(initial=0.0)
                                      * self.m.max(initial=0.0))]) + 0.5
        # 1-D summaries for cheap bounds over boxes
        self._bend_abs = np.abs(deformation.bend_profile(z))
        self._table = deformation.table_weight(y)
        self._bz_abs = np.abs(self.bz)
        self._m_rows = self.m.max(axis=1)
        self._m_cols = self.m.max(axis=0)

    def local_pad(self, box: tuple[slice, slice, slice]) -> np.ndarray:
        """Bound on ``|u|`` (mm, per body axis) inside an index box (plus 0.5 mm)."""
        ks, js, is_ = box
        ux = self._bend_abs[ks].max(initial=0.0) * self._table[js].max(initial=0.0)
        m = min(self._m_rows[js].max(initial=0.0), self._m_cols[is_].max(initial=0.0))
        uz = self._bz_abs[ks].max(initial=0.0) * m
        return np.array([ux + 0.5, 0.5, uz + 0.5])

    def u_z(self, ks: slice, js: slice, is_: slice) -> np.ndarray | None:
        """``u_z`` over a box (None where it is zero throughout)."""
        bound = self._bz_abs[ks].max(initial=0.0) * min(self._m_rows[js].max(initial=0.0),
                                                        self._m_cols[is_].max(initial=0.0))
        if bound < 1e-3:
            return None
        return self.bz[ks][:, None, None] * self.m[js, is_][None, :, :]

    def stats(self, body: np.ndarray, step: int = 3) -> tuple[float, float, float]:
        """(max, RMS, mean along z) of ``|u|`` in mm over the voxels ``[::step, ::step, ::step]``
        where the boolean ``body`` (of that sub-sampled shape) is set."""
        if not body.any():
            return 0.0, 0.0, 0.0
        k, j, i = np.nonzero(body)
        k, j, i = k * step, j * step, i * step
        ux = self.u_x[k, j].astype(np.float64)
        uz = self.bz[k].astype(np.float64) * self.m[j, i]
        mag2 = ux * ux + uz * uz
        return float(np.sqrt(mag2.max())), float(np.sqrt(mag2.mean())), float(uz.mean())


# --- truth for evaluation -------------------------------------------------------------------

def _poses_and_deformation(source: Any, timepoint: int) -> tuple[np.ndarray, np.ndarray,
                                                                 Deformation | None]:
    """(baseline pose 4x4, this pose 4x4, deformation) of a model, patient or folder."""
    if isinstance(source, (str, Path)):
        from interval.io.synthetic.patient import read_synthetic_patient

        source = read_synthetic_patient(source)
    if hasattr(source, "poses") and hasattr(source, "deformations"):  # PatientModel
        n = len(source.poses)
        _check_index(timepoint, n)
        return source.poses[0].matrix, source.poses[timepoint].matrix, \
            source.deformations[timepoint]
    if hasattr(source, "timepoints"):  # SyntheticPatient
        tps = source.timepoints
        _check_index(timepoint, len(tps))
        tp = tps[timepoint]
        return (np.array(tps[0].pose, dtype=np.float64), np.array(tp.pose, dtype=np.float64),
                getattr(tp, "deformation", None))
    raise TypeError("expected a PatientModel, a SyntheticPatient or the folder of one")


def _check_index(timepoint: int, n: int) -> None:
    if not 0 <= timepoint < n:
        raise ValueError(f"timepoint {timepoint} outside 0..{n - 1}")


def rigid_from_baseline(source: Any, timepoint: int) -> np.ndarray:
    """4x4 matrix: baseline LPS -> this scan's LPS for the rigid pose alone
    (the same as ``TimepointRecord.from_baseline``)."""
    base, pose, _ = _poses_and_deformation(source, timepoint)
    return pose @ np.linalg.inv(base)


def true_point_mapping(source: Any, timepoint: int, points_baseline_lps: np.ndarray) -> np.ndarray:
    """Where the tissue at baseline LPS points ``(N, 3)`` lies in scan ``timepoint`` (LPS mm).

    The truth of the generator: rigid pose plus non-rigid deformation.
    ``source`` is a :class:`~interval.io.synthetic.phantom.PatientModel`, a
    :class:`~interval.io.synthetic.patient.SyntheticPatient` (generated or read
    back) or the folder of one.  Timepoint 0 returns the points unchanged.
    """
    pts = np.asarray(points_baseline_lps, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must be an (N, 3) array, got shape {pts.shape}")
    base, pose, deformation = _poses_and_deformation(source, timepoint)
    body = (pts - base[:3, 3]) @ base[:3, :3]
    if deformation is None:
        return body @ pose[:3, :3].T + pose[:3, 3]
    return deformation.locate(pose[:3, :3], pose[:3, 3], body)


def deformation_displacement(source: Any, timepoint: int,
                             points_baseline_lps: np.ndarray) -> np.ndarray:
    """The non-rigid part alone: ``true_point_mapping - rigid`` (mm, this scan's LPS axes)."""
    pts = np.asarray(points_baseline_lps, dtype=np.float64)
    rigid = pts @ rigid_from_baseline(source, timepoint)[:3, :3].T \
        + rigid_from_baseline(source, timepoint)[:3, 3]
    return true_point_mapping(source, timepoint, pts) - rigid
