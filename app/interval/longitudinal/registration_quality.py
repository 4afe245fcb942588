"""Did a registration work?  Overlap of the body masks, a specific match inside, sanity.

Measured on the coarse working images after the last stage, in the region the two scans
share (fixed voxels that map inside the moving scan's field of view):

* **coverage**: the share of the fixed body that the moving scan covers at all (failed
  below ``min_overlap_fraction``);
* **body overlap**: Dice of the fixed body mask and the moving body mask warped onto the
  fixed grid (nearest neighbour), both within the shared region: failed below
  ``dice_failed``, questionable below ``dice_questionable``.  It catches gross
  misalignment, but not a follow-up of another body region: two stretches of a torso
  have nearly the same outline (Dice 0.93-0.98 for chest against abdomen, measured);
* **match specificity**: the entropy correlation coefficient (ECC = 2 I(A;B) / (H(A) +
  H(B)), Maes et al. 1997; 32 x 32 joint histogram) of the two images inside the fixed
  body eroded by ``interior_margin_mm`` (so the body outline does not count), at the
  solution minus the best ECC found after shifting the solution by about
  ``probe_shift_mm`` (whole voxels) along each axis of the fixed grid.  The same anatomy matches at one place only, so the agreement drops
  when shifted; another body region, or noise, agrees about as little everywhere.  Failed
  below ``specificity_failed``, questionable below ``specificity_questionable``.
  Measured: 0.16-0.17 for CT follow-ups of generated patients and for the ``dcm_qa_xa30``
  T1 pair, 0.01-0.02 for chest against abdomen of the same patient (absolute ECC does not
  separate them: 0.19 for the MR pair against 0.08-0.11 for the wrong region and 0.45 for
  the CT);
* **scaling** (affine only): singular values of the linear part outside
  ``[1/max_scale, max_scale]`` mean the optimiser collapsed or exploded: failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from interval.longitudinal.body_mask import dice, erode_box
from interval.longitudinal.model import REG_FAILED, REG_OK, REG_QUESTIONABLE
from interval.longitudinal.registration_images import WorkingImage
from interval.longitudinal.registration_stages import RegistrationOptions

HISTOGRAM_BINS = 32
MIN_SAMPLES = 500  # fewer voxels than this in a region: no agreement is computed
QUALITY_MAX_VOXELS = 1_000_000  # larger working images are halved for the checks


@dataclass(frozen=True)
class Quality:
    """The verdict on one registration and the numbers behind it."""

    status: str  # REG_OK / REG_QUESTIONABLE / REG_FAILED
    message: str  # one sentence for the reader
    body_overlap: float | None  # Dice, 0..1
    agreement: float | None  # ECC inside the body at the solution, 0..1
    specificity: float | None  # agreement minus the best agreement after a probe shift
    coverage: float  # share of the fixed body inside the moving scan, 0..1


def assess(fixed: WorkingImage, moving: WorkingImage, transform: sitk.Transform,
           linear_matrix: np.ndarray, method: str, options: RegistrationOptions) -> Quality:
    """The verdict on ``transform`` (fixed -> moving) for ``method``'s last stage."""
    fixed, moving = _coarser(fixed), _coarser(moving)
    transform = _fast(transform, fixed.image)
    fixed_body = sitk.GetArrayViewFromImage(fixed.mask).astype(bool)
    inside = _inside(moving, fixed.image, transform)
    moving_body = sitk.GetArrayFromImage(
        _warp(moving.mask, fixed.image, transform, sitk.sitkNearestNeighbor)).astype(bool)
    total = int(fixed_body.sum())
    shared_body = fixed_body & inside
    coverage = float(shared_body.sum()) / total if total else 0.0
    overlap = dice(shared_body, moving_body & inside)
    interior = _interior(fixed, options.interior_margin_mm)
    values = sitk.GetArrayViewFromImage(fixed.image)
    warped = sitk.GetArrayFromImage(_warp(moving.image, fixed.image, transform, sitk.sitkLinear))
    agreement = _ecc(values, warped, interior & inside)
    probes = []
    for axis, steps in enumerate(_probe_steps(fixed.image, options.probe_shift_mm)):
        for sign in (-1, 1):
            # the warped image sampled ``steps`` voxels away: the moving scan at T(x + shift)
            moved = _shift(warped, axis, sign * steps, 0.0)
            moved_inside = _shift(inside, axis, sign * steps, False)
            probes.append(_ecc(values, moved, interior & moved_inside))
    known = [p for p in probes if p is not None]
    specificity = None if agreement is None or not known else agreement - max(known)
    scales = np.linalg.svd(linear_matrix[:3, :3], compute_uv=False)
    return _verdict(coverage, overlap, agreement, specificity, scales, method, options)


def entropy_correlation(a: np.ndarray, b: np.ndarray, bins: int = HISTOGRAM_BINS) -> float | None:
    """ECC = 2 I(A;B) / (H(A) + H(B)) of paired samples (None with too few samples)."""
    if a.size < MIN_SAMPLES:
        return None
    joint, _, _ = np.histogram2d(a.ravel(), b.ravel(), bins=bins)
    p = joint / joint.sum()
    pa, pb = p.sum(axis=1), p.sum(axis=0)
    h_a, h_b, h_ab = _entropy(pa), _entropy(pb), _entropy(p.ravel())
    if h_a + h_b <= 0:
        return None
    return float(max(0.0, 2.0 * (h_a + h_b - h_ab) / (h_a + h_b)))


# --- helpers ---------------------------------------------------------------------------


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _warp(image: sitk.Image, reference: sitk.Image, transform: sitk.Transform,
          interpolator: int) -> sitk.Image:
    return sitk.Resample(image, reference, transform, interpolator, 0.0, image.GetPixelID())


def _inside(moving: WorkingImage, reference: sitk.Image, transform: sitk.Transform) -> np.ndarray:
    """Fixed voxels that ``transform`` maps inside the moving scan's field of view."""
    field = sitk.Image(moving.mask.GetSize(), sitk.sitkUInt8) + 1
    field.CopyInformation(moving.mask)
    return sitk.GetArrayFromImage(
        _warp(field, reference, transform, sitk.sitkNearestNeighbor)).astype(bool)


def _interior(fixed: WorkingImage, margin_mm: float) -> np.ndarray:
    """The fixed body eroded by ``margin_mm`` (the whole body if that leaves too little)."""
    eroded = erode_box(fixed.mask, margin_mm)
    if eroded.sum() >= MIN_SAMPLES:
        return eroded
    return sitk.GetArrayViewFromImage(fixed.mask).astype(bool)


def _coarser(w: WorkingImage) -> WorkingImage:
    """Big working images are halved (block average; mask subsampled) for the checks."""
    if w.image.GetNumberOfPixels() <= QUALITY_MAX_VOXELS:
        return w
    image = sitk.BinShrink(w.image, [2, 2, 2])
    mask = sitk.Resample(w.mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return WorkingImage(image, mask, w.ct, tuple(2 * f for f in w.shrink))  # type: ignore[arg-type]


def _ecc(fixed: np.ndarray, moving: np.ndarray, where: np.ndarray) -> float | None:
    return entropy_correlation(fixed[where], moving[where])


def _probe_steps(image: sitk.Image, mm: float) -> list[int]:
    """Voxels along each array axis (k, j, i) that make about ``mm``."""
    spacing = image.GetSpacing()[::-1]
    return [max(1, int(round(mm / s))) for s in spacing]


def _shift(a: np.ndarray, axis: int, steps: int, fill: float | bool) -> np.ndarray:
    """``out[x] = a[x + steps]`` along ``axis`` (``fill`` where that leaves the array)."""
    out = np.full_like(a, fill)
    src = [slice(None)] * a.ndim
    dst = [slice(None)] * a.ndim
    if steps >= 0:
        src[axis], dst[axis] = slice(steps, None), slice(None, a.shape[axis] - steps)
    else:
        src[axis], dst[axis] = slice(None, steps), slice(-steps, None)
    out[tuple(dst)] = a[tuple(src)]
    return out


def _fast(transform: sitk.Transform, grid: sitk.Image) -> sitk.Transform:
    """A non-linear transform as a displacement field on ``grid`` (resampling is then fast)."""
    if transform.IsLinear():
        return transform
    field = sitk.TransformToDisplacementField(
        transform, sitk.sitkVectorFloat64, grid.GetSize(), grid.GetOrigin(), grid.GetSpacing(),
        grid.GetDirection())
    return sitk.DisplacementFieldTransform(field)


def _verdict(coverage: float, overlap: float | None, agreement: float | None,
             specificity: float | None, scales: np.ndarray, method: str,
             o: RegistrationOptions) -> Quality:
    numbers = (f"body overlap {_fmt(overlap)}, match specificity {_fmt(specificity)} "
               f"(agreement {_fmt(agreement)}), {coverage:.0%} of the reference body covered")
    failed: list[str] = []
    doubtful: list[str] = []
    if coverage < o.min_overlap_fraction:
        failed.append(f"the scans share only {coverage:.0%} of the body (another body region?)")
    if overlap is None or overlap < o.dice_failed:
        failed.append(f"the bodies do not overlap after {method} registration")
    elif overlap < o.dice_questionable:
        doubtful.append("the bodies overlap only partly")
    if specificity is None or specificity < o.specificity_failed:
        failed.append("the images do not match better here than nearby "
                      "(another body region, or the alignment was lost)")
    elif specificity < o.specificity_questionable:
        doubtful.append("the images match only weakly")
    if scales.min() < 1.0 / o.max_scale or scales.max() > o.max_scale:
        failed.append(f"implausible scaling ({scales.min():.2f}-{scales.max():.2f})")
    if failed:
        return Quality(REG_FAILED, f"Registration failed: {'; '.join(failed)} ({numbers}).",
                       overlap, agreement, specificity, coverage)
    if doubtful:
        return Quality(REG_QUESTIONABLE,
                       f"Registration questionable: {'; '.join(doubtful)} ({numbers}); "
                       "check the alignment.", overlap, agreement, specificity, coverage)
    return Quality(REG_OK, f"{method.capitalize()} registration: {numbers}.", overlap,
                   agreement, specificity, coverage)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
