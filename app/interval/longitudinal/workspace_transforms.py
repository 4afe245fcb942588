"""Points mapped between timepoints with the pipeline's saved transforms (linked crosshair).

Direction convention (ITK's, as the pipeline saves them): the transform of timepoint ``t``
(``registration/tpN_to_tpM.tfm`` or ``.h5``, ``RegistrationResult.transform_file``) maps a
point of its *reference* timepoint (the baseline; the previous timepoint only in an older
chained file) to the same anatomy in ``t``'s own LPS space.  So:

* baseline -> ``t``: the transform forward (chained through the references);
* ``t`` -> baseline: its inverse (exact for a linear transform; for a deformable one the
  linear part is inverted exactly and the rest by fixed-point iteration);
* ``a`` -> ``b``: ``a`` -> baseline -> ``b``.

The baseline maps to itself (identity).  A timepoint whose registration failed, or whose
file is missing and whose report gives no matrix, cannot be mapped
(:class:`PointMappingError`).  Files are read with ``SimpleITK.ReadTransform`` once and
kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from interval.core.errors import IntervalError
from interval.longitudinal.model import REG_FAILED, LongitudinalReport, RegistrationResult, Vec3

_TOLERANCE_MM = 1e-4
_ITERATIONS = 100


class PointMappingError(IntervalError):
    """A point cannot be carried to another timepoint (registration failed or missing)."""


class PointMapper:
    """Maps LPS points between the timepoints of one output folder."""

    def __init__(self, report: LongitudinalReport, out_dir: str | Path) -> None:
        self._out = Path(out_dir)
        self._by_tp: dict[int, RegistrationResult] = {r.timepoint: r for r in report.registrations}
        self._transforms: dict[int, object] = {}
        self._baseline = min((tp.index for tp in report.timeline.timepoints), default=0)

    def point_in(self, timepoint: int, point_lps: Sequence[float], from_timepoint: int | None = None
                 ) -> Vec3:
        """``point_lps`` of ``from_timepoint`` (default: the baseline) in ``timepoint``'s LPS."""
        source = self._baseline if from_timepoint is None else from_timepoint
        p = np.asarray(point_lps, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(p)):
            raise PointMappingError("the point to map is not a finite position")
        if source != timepoint:
            p = self._from_baseline(timepoint, self._to_baseline(source, p))
        return (float(p[0]), float(p[1]), float(p[2]))

    # --- one direction each ------------------------------------------------------------

    def _from_baseline(self, t: int, p: np.ndarray) -> np.ndarray:
        if t == self._baseline:
            return p
        reg = self._registration(t)
        p = self._from_baseline(reg.reference, p) if reg.reference != t else p
        return self._forward(t, p)

    def _to_baseline(self, t: int, p: np.ndarray) -> np.ndarray:
        if t == self._baseline:
            return p
        reg = self._registration(t)
        q = self._inverse(t, p)
        return self._to_baseline(reg.reference, q) if reg.reference != t else q

    def _registration(self, t: int) -> RegistrationResult:
        reg = self._by_tp.get(t)
        if reg is None:
            raise PointMappingError(f"timepoint {t + 1} has no registration in the report")
        if reg.status == REG_FAILED:
            raise PointMappingError(f"the registration of timepoint {t + 1} failed: positions "
                                    "cannot be linked to it")
        return reg

    def _linear(self, t: int) -> np.ndarray | None:
        reg = self._by_tp[t]
        return None if reg.matrix is None else np.asarray(reg.matrix, dtype=np.float64)

    def _transform(self, t: int):  # -> sitk.Transform | None
        if t in self._transforms:
            return self._transforms[t]
        reg = self._by_tp[t]
        transform = None
        if reg.transform_file:
            path = (self._out / reg.transform_file)
            if path.is_file():
                import SimpleITK as sitk  # noqa: PLC0415

                try:
                    transform = sitk.ReadTransform(str(path))
                except RuntimeError as exc:
                    raise PointMappingError(f"the transform of timepoint {t + 1} cannot be read "
                                            f"({str(exc).splitlines()[0][:120]})",
                                            path=path) from None
        self._transforms[t] = transform
        return transform

    def _forward(self, t: int, p: np.ndarray) -> np.ndarray:
        transform = self._transform(t)
        if transform is not None:
            return np.asarray(transform.TransformPoint(tuple(float(v) for v in p)))
        m = self._linear(t)
        if m is None:
            raise PointMappingError(f"timepoint {t + 1} has neither a transform file nor a "
                                    "matrix: positions cannot be linked to it")
        return m[:3, :3] @ p + m[:3, 3]

    def _inverse(self, t: int, target: np.ndarray) -> np.ndarray:
        m = self._linear(t)
        transform = self._transform(t)
        if transform is None:
            if m is None:
                raise PointMappingError(f"timepoint {t + 1} has neither a transform file nor a "
                                        "matrix: positions cannot be linked to it")
            return np.linalg.solve(m[:3, :3], target - m[:3, 3])
        try:  # a linear transform inverts exactly
            inverse = transform.GetInverse()
            return np.asarray(inverse.TransformPoint(tuple(float(v) for v in target)))
        except RuntimeError:
            pass
        # deformable: Newton-like iteration with the linear part as the Jacobian
        jac = m[:3, :3] if m is not None else np.eye(3)
        x = (np.linalg.solve(jac, target - m[:3, 3]) if m is not None else target.copy())
        for _ in range(_ITERATIONS):
            residual = target - np.asarray(transform.TransformPoint(tuple(float(v) for v in x)))
            if np.linalg.norm(residual) <= _TOLERANCE_MM:
                break
            x = x + np.linalg.solve(jac, residual)
        return x
