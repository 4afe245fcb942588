"""Earlier scans resampled into a later scan's space, for models that read prior timepoints.

A temporal segmentation model (its model.json has a ``temporal`` section) segments
timepoint ``t`` from the scan at ``t`` and up to ``prior_timepoints`` earlier scans
lying on ``t``'s voxel grid.  The longitudinal core registers every timepoint to the
baseline (``Registration``: baseline LPS -> that timepoint's LPS), so a point ``p``
of scan ``t`` is found in an earlier scan ``k`` as
``reg_k.to_moving(reg_t.to_reference(p))``.  That map is evaluated on a coarse grid
(every ``step`` voxels: the deformations are smooth B-splines), made a displacement
field and the earlier scan is resampled through it with linear interpolation.
Voxels that fall outside the earlier scan take its lowest value (air).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from interval.core.volume import Volume


@dataclass
class PriorScan:
    """One earlier timepoint kept for the temporal model: its scan and registration."""

    index: int
    volume: Volume
    registration: Any  # longitudinal.registration.Registration (baseline -> this scan)


def prior_on_grid(prior: PriorScan, current: Volume, current_registration: Any, *,
                  step: int = 8) -> Volume | None:
    """``prior``'s scan on ``current``'s grid (float32), or None when a registration failed."""
    import SimpleITK as sitk

    from interval.io.sitk_bridge import to_sitk

    if not (prior.registration.usable and current_registration.usable):
        return None
    nk, nj, ni = current.shape
    sizes = [int(np.ceil((n - 1) / step)) + 1 for n in (ni, nj, nk)]  # x, y, z
    ii, jj, kk = np.meshgrid(*(np.arange(s) * step for s in sizes), indexing="ij")
    ijk = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1).astype(np.float64)
    points = current.index_to_lps(ijk)
    baseline = current_registration.to_reference(points, force=True)
    found = prior.registration.to_moving(baseline, force=True)
    displacement = (found - points).reshape(sizes[0], sizes[1], sizes[2], 3)
    field = sitk.GetImageFromArray(np.ascontiguousarray(displacement.transpose(2, 1, 0, 3)),
                                   isVector=True)
    field.SetOrigin(tuple(float(v) for v in current.origin))
    field.SetSpacing(tuple(float(s) * step for s in current.spacing))
    field.SetDirection(tuple(float(v) for v in np.asarray(current.direction).ravel()))
    transform = sitk.DisplacementFieldTransform(sitk.Cast(field, sitk.sitkVectorFloat64))
    source = to_sitk(prior.volume.with_array(prior.volume.array.astype(np.float32)))
    f = sitk.ResampleImageFilter()
    f.SetSize([int(n) for n in current.size_ijk])
    f.SetOutputSpacing(tuple(float(s) for s in current.spacing))
    f.SetOutputOrigin(tuple(float(v) for v in current.origin))
    f.SetOutputDirection(tuple(float(v) for v in np.asarray(current.direction).ravel()))
    f.SetTransform(transform)
    f.SetInterpolator(sitk.sitkLinear)
    f.SetDefaultPixelValue(float(np.min(prior.volume.array)))
    f.SetOutputPixelType(sitk.sitkFloat32)
    out = sitk.GetArrayFromImage(f.Execute(source))
    return current.with_array(out.astype(np.float32, copy=False))


def priors_on_grid(priors: Sequence[PriorScan], current: Volume, current_registration: Any,
                   limit: int) -> tuple[list[Volume], list[str]]:
    """The last ``limit`` usable earlier scans on ``current``'s grid, oldest first, and a
    warning for each one left out because its registration failed."""
    out: list[Volume] = []
    warnings: list[str] = []
    for prior in list(priors)[-limit:] if limit > 0 else []:
        moved = prior_on_grid(prior, current, current_registration)
        if moved is None:
            warnings.append(f"timepoint {prior.index + 1} could not be aligned, so the model "
                            "did not use it as an earlier scan")
            continue
        out.append(moved)
    return out, warnings
