"""The coarse working copies that registration runs on: block-averaged, clamped, masked.

A 512 x 512 x 300 CT holds 79 M voxels; registering at that resolution takes minutes.  The
working copy averages blocks of voxels (``sitk.BinShrink``: integer factors per axis, an
anti-aliasing average, exact geometry) down to about ``spacing_mm`` (3 mm by default; an
axis already coarser keeps its spacing), clamps the intensities above the 99.5th percentile
of the body (so a metal implant does not squeeze soft tissue into one histogram bin) and
comes with the body mask (:mod:`interval.longitudinal.body_mask`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from interval.core.volume import Volume
from interval.io.sitk_bridge import to_sitk
from interval.longitudinal.body_mask import body_mask, looks_like_ct

DEFAULT_WORKING_SPACING_MM = 3.0


@dataclass(frozen=True)
class WorkingImage:
    """A registration's view of one volume."""

    image: sitk.Image  # float32, coarse, clamped
    mask: sitk.Image  # uint8 0/1 body mask on the same grid
    ct: bool  # CT rule used for the mask
    shrink: tuple[int, int, int]  # averaging factors (i, j, k) from the original grid

    @property
    def body_voxels(self) -> int:
        return int(sitk.GetArrayViewFromImage(self.mask).sum(dtype=np.int64))

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.image.GetSpacing()))


def shrink_factors(spacing: tuple[float, float, float], target_mm: float) -> tuple[int, int, int]:
    """Integer averaging factors bringing each axis to about ``target_mm`` (never finer).

    An axis is averaged by ``floor(target / spacing + 0.25)`` voxels: 0.7 mm -> 4 (2.8 mm),
    1 mm -> 3, 1.5 mm -> 2, 2 mm and coarser -> 1.
    """
    return tuple(max(1, math.floor(target_mm / s + 0.25)) for s in spacing)  # type: ignore[return-value]


def working_image(volume: Volume, target_mm: float = DEFAULT_WORKING_SPACING_MM) -> WorkingImage:
    """The coarse, clamped float32 copy of ``volume`` and its body mask."""
    factors = shrink_factors(volume.spacing, target_mm)
    image = to_sitk(volume)
    if any(f > 1 for f in factors):
        image = sitk.BinShrink(image, list(factors))
    image = sitk.Cast(image, sitk.sitkFloat32)
    ct = looks_like_ct(volume.metadata.modality, image)
    mask = body_mask(image, ct=ct)
    image = _clamp_to_body_range(image, mask)
    return WorkingImage(image=image, mask=mask, ct=ct, shrink=factors)


def _clamp_to_body_range(image: sitk.Image, mask: sitk.Image) -> sitk.Image:
    """Values above the body's 99.5th percentile are clamped to it (metal, contrast spikes)."""
    values = sitk.GetArrayViewFromImage(image)
    inside = sitk.GetArrayViewFromImage(mask).astype(bool)
    sample = values[inside] if inside.any() else values.ravel()
    if sample.size == 0:
        return image
    hi = float(np.percentile(sample, 99.5))
    lo = float(values.min())
    if not hi > lo:
        return image
    return sitk.Clamp(image, sitk.sitkFloat32, lo, hi)
