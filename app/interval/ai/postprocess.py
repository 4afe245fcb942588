"""Label clean-up after segmentation: largest connected component, small-island removal.

Connectivity is face-connected (6 neighbours, like nnU-Net / scipy's default); removed
voxels become background (0).  Work is limited to each label's bounding box.
SimpleITK does the connected components.
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

from interval.ai.model_package import PostprocessSpec


def _bbox(mask_any: np.ndarray) -> tuple[slice, slice, slice] | None:
    """Bounding box of the True voxels, or None when there are none."""
    sl = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        proj = np.any(mask_any, axis=other)
        idx = np.flatnonzero(proj)
        if idx.size == 0:
            return None
        sl.append(slice(int(idx[0]), int(idx[-1]) + 1))
    return sl[0], sl[1], sl[2]


def _components(mask: np.ndarray, min_size: int = 0) -> np.ndarray:
    """Component ids sorted by size (1 = largest); components below ``min_size`` are 0."""
    img = sitk.GetImageFromArray(mask.astype(np.uint8, copy=False))
    cc = sitk.ConnectedComponent(img, False)
    rel = sitk.RelabelComponent(cc, minimumObjectSize=int(min_size), sortByObjectSize=True)
    return sitk.GetArrayFromImage(rel)


def keep_largest_component(labels: np.ndarray, value: int) -> int:
    """Keep only the largest connected region of ``value`` (in place); voxels removed."""
    box = _bbox(labels == value)
    if box is None:
        return 0
    sub = labels[box]
    mask = sub == value
    comp = _components(mask)
    drop = mask & (comp != 1)
    n = int(drop.sum())
    sub[drop] = 0
    return n


def remove_small_islands(labels: np.ndarray, value: int, min_voxels: int) -> int:
    """Remove regions of ``value`` smaller than ``min_voxels`` voxels (in place); voxels removed."""
    if min_voxels <= 1:
        return 0
    box = _bbox(labels == value)
    if box is None:
        return 0
    sub = labels[box]
    mask = sub == value
    comp = _components(mask, min_voxels)
    drop = mask & (comp == 0)
    n = int(drop.sum())
    sub[drop] = 0
    return n


def apply_postprocess(labels: np.ndarray, spec: PostprocessSpec,
                      voxel_mm3: float) -> dict[int, int]:
    """Apply ``spec`` to ``labels`` in place; return voxels removed per label value."""
    removed: dict[int, int] = {}
    for value, mm3 in spec.min_island_mm3.items():
        min_vox = math.ceil(mm3 / voxel_mm3 - 1e-9) if voxel_mm3 > 0 else 0
        removed[value] = removed.get(value, 0) + remove_small_islands(labels, value, min_vox)
    for value in spec.largest_component:
        removed[value] = removed.get(value, 0) + keep_largest_component(labels, value)
    return removed
