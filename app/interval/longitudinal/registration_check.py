"""The registration check: a follow-up scan on the baseline's grid, fused or as a checkerboard.

The reader checks a registration by looking at both scans in the same place: the
follow-up is resampled onto the baseline's grid with the saved transform (ITK convention,
as :mod:`.workspace_transforms`: the transform maps baseline LPS points to the follow-up's
LPS, which is exactly what ``SimpleITK.Resample`` needs), linear interpolation, for one
axial slice of the baseline (array slice ``k``) or a slab of slices averaged.

* :func:`resample_pair` - the baseline slice (slab) and the follow-up on it, in stored
  units (HU for CT), plus where the follow-up has data;
* :func:`to_grey` - stored units to 0..1 through a window (DICOM linear);
* :func:`fused_rgb` (baseline green, follow-up magenta: grey where they agree),
  :func:`blend_rgb` (alpha blend) and :func:`checkerboard_rgb` (tiles alternate the two
  sources, :func:`checker_mask` says which) - ``(rows, columns, 3)`` uint8 arrays;
* :func:`verdict_text` - the registration's method, verdict, metric and body overlap as
  one plain sentence per line for the reader.

No Qt here: the viewer's :mod:`interval.ui.longitudinal.registration_check_view` shows
these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from interval.core.errors import IntervalError
from interval.core.metadata import WindowLevel
from interval.core.volume import Volume
from interval.io.sitk_bridge import to_sitk
from interval.longitudinal.model import REG_FAILED, RegistrationResult

MODES = ("fused", "blend", "checkerboard")
SOFT_TISSUE = WindowLevel(40.0, 400.0, "soft tissue")
_STATUS_WORDS = {
    "ok": "looks right",
    "questionable": "questionable: check it before trusting the linked positions",
    "failed": "failed: positions are not linked to this timepoint",
    "identity": "the reference itself",
}


class RegistrationCheckError(IntervalError):
    """The registration cannot be shown (unreadable transform, slice out of range...)."""


@dataclass(frozen=True)
class CheckPair:
    """One baseline slice (or slab mean) and the follow-up resampled onto it.

    ``baseline`` and ``follow_up`` are ``(rows, columns)`` float32 in stored units;
    ``inside`` is True where the follow-up scan has data (its field of view)."""

    k: int
    thickness: int
    baseline: np.ndarray
    follow_up: np.ndarray
    inside: np.ndarray
    pixel_mm: tuple[float, float]  # (column spacing, row spacing) of the baseline


def load_transform(out_dir: str | Path, result: RegistrationResult) -> sitk.Transform:
    """The transform of ``result``: its saved file, else the report's matrix.

    A failed registration, or one with neither, raises :class:`RegistrationCheckError`."""
    if result.status == REG_FAILED:
        raise RegistrationCheckError(
            f"the registration of timepoint {result.timepoint + 1} failed: re-run it with "
            "another setting to check it")
    if result.transform_file:
        path = Path(out_dir) / result.transform_file
        if path.is_file():
            try:
                return sitk.ReadTransform(str(path))
            except RuntimeError as exc:
                raise RegistrationCheckError(
                    f"the transform cannot be read ({str(exc).splitlines()[0][:120]})",
                    path=path) from None
    if result.matrix is None:
        if result.status == "identity":
            return sitk.AffineTransform(3)
        raise RegistrationCheckError(
            f"timepoint {result.timepoint + 1} has neither a transform file nor a matrix")
    m = np.asarray(result.matrix, dtype=np.float64)
    affine = sitk.AffineTransform(3)
    affine.SetMatrix(tuple(float(v) for v in m[:3, :3].ravel()))
    affine.SetTranslation(tuple(float(v) for v in m[:3, 3]))
    return affine


def moving_image(follow_up: Volume) -> sitk.Image:
    """``follow_up`` as the float32 SimpleITK image :func:`resample_pair` samples (make it
    once per scan: converting a 512 x 512 x 300 CT costs more than resampling a slice)."""
    image = to_sitk(follow_up)
    return image if image.GetPixelID() == sitk.sitkFloat32 else sitk.Cast(image,
                                                                           sitk.sitkFloat32)


def resample_pair(baseline: Volume, follow_up: Volume | sitk.Image, transform: sitk.Transform,
                  k: int, thickness: int = 1) -> CheckPair:
    """Baseline slices ``k`` .. ``k + thickness - 1`` (clipped to the scan; averaged when
    more than one) and the follow-up (a scan, or its :func:`moving_image`) resampled onto
    them (linear)."""
    nk = baseline.shape[0]
    if not 0 <= k < nk:
        raise RegistrationCheckError(f"slice {k + 1} is outside the baseline (1 to {nk})")
    lo, hi = k, min(nk, k + max(1, int(thickness)))
    slab = baseline.array[lo:hi].astype(np.float32)
    reference = sitk.Image(int(baseline.size_ijk[0]), int(baseline.size_ijk[1]), hi - lo,
                           sitk.sitkUInt8)
    reference.SetSpacing(tuple(float(s) for s in baseline.spacing))
    reference.SetOrigin(tuple(float(v) for v in baseline.index_to_lps((0.0, 0.0, float(lo)))))
    reference.SetDirection(tuple(float(v) for v in np.asarray(baseline.direction).ravel()))
    moving = follow_up if isinstance(follow_up, sitk.Image) else moving_image(follow_up)
    # NaN outside the follow-up's field of view (ITK's linear interpolator only reads
    # voxels of the scan, so NaN marks exactly the points it could not sample)
    values = sitk.GetArrayFromImage(sitk.Resample(moving, reference, transform,
                                                  sitk.sitkLinear, float("nan"),
                                                  sitk.sitkFloat32))
    inside = np.isfinite(values).all(axis=0)
    mean = np.where(inside, np.nan_to_num(values, nan=0.0).mean(axis=0), 0.0)
    return CheckPair(lo, hi - lo, slab.mean(axis=0), mean.astype(np.float32), inside,
                     (float(baseline.spacing[0]), float(baseline.spacing[1])))


def default_window(volume: Volume) -> WindowLevel:
    """The scan's own window, else soft tissue for CT, else its 1st-99th percentiles."""
    own = volume.metadata.default_window
    if own is not None and own.width > 1:
        return own
    if volume.metadata.modality.upper() == "CT":
        return SOFT_TISSUE
    sample = volume.array[:: max(1, volume.shape[0] // 16)]
    lo, hi = (float(v) for v in np.percentile(sample, [1.0, 99.0]))
    return WindowLevel((lo + hi) / 2.0, max(hi - lo, 1.0), "auto")


def to_grey(values: np.ndarray, window: WindowLevel) -> np.ndarray:
    """Stored values to 0..1 (float32) through ``window`` (DICOM linear, clipped)."""
    c, w = float(window.center), max(float(window.width), 1.0)
    grey = ((np.asarray(values, dtype=np.float32) - (c - 0.5)) / (w - 1.0) + 0.5)
    return np.clip(grey, 0.0, 1.0).astype(np.float32)


def _u8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def fused_rgb(baseline_grey: np.ndarray, follow_grey: np.ndarray,
              balance: float = 0.5) -> np.ndarray:
    """Baseline in green, follow-up in magenta (red + blue): grey where they agree, green
    where only the baseline has tissue, magenta where only the follow-up has.  ``balance``
    0..1 dims the follow-up (below 0.5) or the baseline (above 0.5)."""
    b = float(np.clip(balance, 0.0, 1.0))
    wb, wf = min(1.0, 2.0 * (1.0 - b)), min(1.0, 2.0 * b)
    base, follow = wb * baseline_grey, wf * follow_grey
    return np.stack([_u8(follow), _u8(base), _u8(follow)], axis=-1)


def blend_rgb(baseline_grey: np.ndarray, follow_grey: np.ndarray, alpha: float = 0.5
              ) -> np.ndarray:
    """Alpha blend in grey: ``(1 - alpha) * baseline + alpha * follow-up``."""
    a = float(np.clip(alpha, 0.0, 1.0))
    grey = _u8((1.0 - a) * baseline_grey + a * follow_grey)
    return np.repeat(grey[..., None], 3, axis=-1)


def checker_mask(shape: tuple[int, int], tile_px: int) -> np.ndarray:
    """True where the checkerboard shows the follow-up (tiles of ``tile_px`` pixels; the
    top-left tile is the baseline's)."""
    tile = max(1, int(tile_px))
    rows = (np.arange(shape[0]) // tile)[:, None]
    cols = (np.arange(shape[1]) // tile)[None, :]
    return ((rows + cols) % 2).astype(bool)


def checkerboard_rgb(baseline_grey: np.ndarray, follow_grey: np.ndarray, tile_px: int = 16
                     ) -> np.ndarray:
    """Tiles alternating baseline and follow-up, in grey (edges that do not line up across
    tile borders show a misregistration)."""
    mask = checker_mask(baseline_grey.shape, tile_px)
    grey = _u8(np.where(mask, follow_grey, baseline_grey))
    return np.repeat(grey[..., None], 3, axis=-1)


def check_image(pair: CheckPair, mode: str, window: WindowLevel, *, blend: float = 0.5,
                tile_px: int = 16) -> np.ndarray:
    """The RGB picture of ``pair`` in ``mode`` ("fused", "blend" or "checkerboard");
    outside the follow-up's field of view the follow-up counts as black."""
    if mode not in MODES:
        raise RegistrationCheckError(f"unknown view {mode!r} (use {', '.join(MODES)})")
    base = to_grey(pair.baseline, window)
    follow = np.where(pair.inside, to_grey(pair.follow_up, window), 0.0).astype(np.float32)
    if mode == "fused":
        return fused_rgb(base, follow, blend)
    if mode == "blend":
        return blend_rgb(base, follow, blend)
    return checkerboard_rgb(base, follow, tile_px)


def verdict_text(result: RegistrationResult, follow_label: str = "",
                 reference_label: str = "") -> str:
    """The registration as the reader reads it (plain text, one fact a line)."""
    follow = follow_label or f"timepoint {result.timepoint + 1}"
    ref = reference_label or f"timepoint {result.reference + 1}"
    lines = [f"{follow} registered to {ref}: {result.method}, "
             f"{_STATUS_WORDS.get(result.status, result.status)}."]
    facts = []
    if result.metric is not None:
        facts.append(f"Mattes mutual information {result.metric:.4f} (lower is better)")
    if result.body_overlap is not None:
        facts.append(f"body overlap {result.body_overlap:.3f} (Dice)")
    if result.rotation_deg is not None:
        facts.append(f"rotation {result.rotation_deg:.2f}°")
    if result.translation_mm is not None:
        facts.append(f"shift {float(np.linalg.norm(result.translation_mm)):.1f} mm")
    if facts:
        lines.append("; ".join(facts) + ".")
    if result.message:
        lines.append(result.message)
    return "\n".join(lines)
