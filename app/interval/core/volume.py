"""The :class:`Volume`: a voxel array placed in DICOM patient space (LPS).

Conventions (the same as ITK / SimpleITK, so conversion is lossless):

* ``array`` is indexed ``[k, j, i]`` (z-y-x, slice-row-column); it keeps the
  stored dtype after rescale (int16 for CT) and is never copied silently.
  A colour image (secondary capture, screenshot, ultrasound) is ``[k, j, i, 3]``
  ``uint8`` RGB (:attr:`Volume.is_rgb`); its :attr:`Volume.shape` and
  :attr:`Volume.size_ijk` are still the three spatial sizes.
* ``spacing`` and ``origin`` are given in index order ``(i, j, k)`` = (x, y, z).
* ``direction`` is 3x3; column ``c`` is the unit LPS direction of index axis
  ``c``.  ``origin`` is the LPS position (mm) of the centre of voxel (0, 0, 0).

So the LPS position of voxel ``(i, j, k)`` is
``origin + direction @ (spacing * (i, j, k))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from interval.core.labels import LabelTable
from interval.core.metadata import VolumeMetadata

# LPS -> RAS flips the first two axes.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def grid_affine(spacing: Sequence[float], origin: Sequence[float],
                direction: np.ndarray) -> np.ndarray:
    """4x4 matrix mapping homogeneous index ``(i, j, k, 1)`` (x, y, z order) to LPS mm."""
    a = np.eye(4)
    a[:3, :3] = np.asarray(direction, dtype=np.float64) * np.asarray(spacing)[None, :]
    a[:3, 3] = origin
    return a


def _valid_layout(array: np.ndarray) -> bool:
    """``[k, j, i]`` of any type, or ``[k, j, i, 3]`` uint8 (RGB colour)."""
    if array.ndim == 3:
        return True
    return array.ndim == 4 and array.shape[3] == 3 and array.dtype == np.uint8


@dataclass(eq=False)
class Volume:
    """A 3-D image (or label map, when ``labels`` is set) in patient space."""

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    metadata: VolumeMetadata = field(default_factory=VolumeMetadata)
    labels: LabelTable | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.array, np.ndarray) or not _valid_layout(self.array):
            raise ValueError(
                "Volume.array must be a 3-D numpy array indexed [k, j, i], or a colour "
                "image [k, j, i, 3] of uint8 RGB"
            )
        if self.labels is not None and self.array.ndim != 3:
            raise ValueError("a label map cannot be a colour image")
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        if len(self.spacing) != 3 or len(self.origin) != 3:
            raise ValueError("spacing and origin need three values (i, j, k)")
        if any(not np.isfinite(s) or s <= 0 for s in self.spacing):
            raise ValueError(f"spacing must be positive and finite, got {self.spacing}")
        d = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)
        if not np.all(np.isfinite(d)) or abs(np.linalg.det(d)) < 1e-6:
            raise ValueError("direction must be a finite, invertible 3x3 matrix")
        self.direction = d

    # --- shape -----------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial array shape ``(nk, nj, ni)`` (without a colour image's channel axis)."""
        return self.array.shape[:3]  # type: ignore[return-value]

    @property
    def size_ijk(self) -> tuple[int, int, int]:
        """Size in index order ``(ni, nj, nk)`` (ITK's ``GetSize()``)."""
        nk, nj, ni = self.array.shape[:3]
        return (ni, nj, nk)

    @property
    def is_rgb(self) -> bool:
        """Whether this is a colour image: ``array`` is ``[k, j, i, 3]`` uint8 RGB.

        Colour images are shown as they are (no window/level) and are measurable in
        mm; anything that needs grey values (segmentation models, volume rendering,
        intensity statistics, longitudinal tracking) refuses them.
        """
        return self.array.ndim == 4

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def is_label_map(self) -> bool:
        return self.labels is not None

    # --- geometry --------------------------------------------------------------
    @property
    def affine(self) -> np.ndarray:
        """4x4 matrix mapping homogeneous index ``(i, j, k, 1)`` to LPS mm."""
        return grid_affine(self.spacing, self.origin, self.direction)

    @property
    def affine_ras(self) -> np.ndarray:
        """The affine in RAS (NIfTI's convention) for index ``(i, j, k)``."""
        return LPS_TO_RAS @ self.affine

    def index_to_lps(self, ijk: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """LPS mm of (continuous) index positions ``(..., 3)`` in ``(i, j, k)`` order."""
        p = np.asarray(ijk, dtype=np.float64)
        a = self.affine
        return p @ a[:3, :3].T + a[:3, 3]

    def lps_to_index(self, lps: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """Continuous ``(i, j, k)`` index of LPS points ``(..., 3)``."""
        p = np.asarray(lps, dtype=np.float64)
        a = self.affine
        return (p - a[:3, 3]) @ np.linalg.inv(a[:3, :3]).T

    def contains_index(self, ijk: np.ndarray | tuple[float, float, float]) -> bool:
        """Whether the rounded index lies inside the array."""
        idx = np.rint(np.asarray(ijk, dtype=np.float64)).astype(int)
        return bool(np.all(idx >= 0) and np.all(idx < np.asarray(self.size_ijk)))

    def same_grid(self, other: Volume, tol: float = 1e-4) -> bool:
        """Whether ``other`` samples exactly the same points in space."""
        return (
            self.shape == other.shape
            and np.allclose(self.affine, other.affine, atol=tol)
        )

    @property
    def is_oblique(self) -> bool:
        """Whether the axes are not aligned with the patient axes."""
        return not np.allclose(np.abs(self.direction), np.round(np.abs(self.direction)), atol=1e-4)

    def voxel_volume_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    # --- copies ------------------------------------------------------------------
    def with_array(self, array: np.ndarray, *, labels: LabelTable | None = None) -> Volume:
        """A Volume on the same grid holding ``array`` (its spatial shape must match; it
        may be grey or colour, whatever this one is)."""
        if array.shape[:3] != self.shape:
            raise ValueError(f"array shape {array.shape} differs from the grid {self.shape}")
        return Volume(array, self.spacing, self.origin, self.direction.copy(), self.metadata, labels)

    def with_metadata(self, **changes: object) -> Volume:
        """A Volume sharing the same array with some metadata fields changed."""
        return Volume(
            self.array, self.spacing, self.origin, self.direction,
            replace(self.metadata, **changes), self.labels,  # type: ignore[arg-type]
        )

    def __repr__(self) -> str:
        kind = "LabelMap" if self.is_label_map else "RGB Volume" if self.is_rgb else "Volume"
        sp = ", ".join(f"{s:.4g}" for s in self.spacing)
        return f"<{kind} {self.size_ijk} {self.array.dtype} spacing=({sp}) {self.metadata.modality}>"
