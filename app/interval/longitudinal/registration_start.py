"""Where the rigid optimiser starts: the centres of the bodies, or a better head-foot offset.

Aligning the centres of mass of the two body masks (``CenteredTransformInitializer``,
MOMENTS) is right when both scans cover the same stretch of the body.  When a follow-up
covers less (chest only, where the baseline was chest and abdomen), the centres differ by
half the missing length and the optimiser, which moves a few centimetres at most, cannot
recover.  So four head-foot (z) offsets are tried at the coarsest level, keeping the centre
of mass in x and y: the centres of mass, the coordinates as stored (same scanner frame),
the upper edges of the two bodies aligned and the lower edges aligned; the one with the
best mutual information starts the optimisation.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from interval.longitudinal.registration_images import WorkingImage

SAME_OFFSET_MM = 5.0  # candidate offsets closer than this are tried once


def start_transform(fixed: WorkingImage, moving: WorkingImage, *, shrink: int,
                    smoothing: float, bins: int) -> sitk.Euler3DTransform:
    """The Euler transform to start the rigid stage from (see the module text)."""
    initial = sitk.Euler3DTransform(sitk.CenteredTransformInitializer(
        sitk.Cast(fixed.mask, sitk.sitkFloat32), sitk.Cast(moving.mask, sitk.sitkFloat32),
        sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS))
    offsets = _z_offsets(fixed, moving, float(initial.GetTranslation()[2]))
    if len(offsets) == 1:
        return initial
    coarse_fixed = _coarse(fixed.image, shrink, smoothing)
    coarse_moving = _coarse(moving.image, shrink, smoothing)
    coarse_mask = sitk.Shrink(fixed.mask, [shrink] * 3)
    best, best_value = initial, np.inf
    for dz in offsets:
        candidate = sitk.Euler3DTransform(initial)
        tx, ty, _tz = candidate.GetTranslation()
        candidate.SetTranslation((tx, ty, dz))
        value = _metric(coarse_fixed, coarse_moving, coarse_mask, candidate, bins)
        if value < best_value:
            best, best_value = candidate, value
    return best


def _z_offsets(fixed: WorkingImage, moving: WorkingImage, moments_dz: float) -> list[float]:
    """Candidate z translations (fixed -> moving, mm), without near-duplicates."""
    f_lo, f_hi = _z_extent(fixed)
    m_lo, m_hi = _z_extent(moving)
    out: list[float] = []
    for dz in (moments_dz, 0.0, m_hi - f_hi, m_lo - f_lo):
        if all(abs(dz - o) >= SAME_OFFSET_MM for o in out):
            out.append(dz)
    return out


def _z_extent(w: WorkingImage) -> tuple[float, float]:
    """Lowest and highest patient z (LPS, mm) of the body mask's voxel centres."""
    kji = np.argwhere(sitk.GetArrayViewFromImage(w.mask))
    if kji.size == 0:
        return 0.0, 0.0
    lo, hi = kji.min(axis=0), kji.max(axis=0)
    corners = np.array([[i, j, k] for i in (lo[2], hi[2]) for j in (lo[1], hi[1])
                        for k in (lo[0], hi[0])], dtype=np.float64)
    z = [w.image.TransformContinuousIndexToPhysicalPoint(tuple(c))[2] for c in corners]
    return float(min(z)), float(max(z))


def _coarse(image: sitk.Image, shrink: int, smoothing: float) -> sitk.Image:
    if smoothing > 0:
        sigma = [smoothing * s for s in image.GetSpacing()]
        image = sitk.SmoothingRecursiveGaussian(image, sigma)
    return sitk.Shrink(image, [shrink] * 3) if shrink > 1 else image


def _metric(fixed: sitk.Image, moving: sitk.Image, mask: sitk.Image,
            transform: sitk.Transform, bins: int) -> float:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    method.SetMetricSamplingStrategy(method.NONE)
    method.SetMetricFixedMask(mask)
    method.SetInterpolator(sitk.sitkLinear)
    method.MetricUseMovingImageGradientFilterOff()
    method.MetricUseFixedImageGradientFilterOff()
    method.SetInitialTransform(transform)
    try:
        return float(method.MetricEvaluate(fixed, moving))
    except RuntimeError:  # too few samples inside the moving scan at this offset
        return np.inf
