"""Label clean-up after segmentation: largest connected component, small-island removal.

Connectivity is face-connected (6 neighbours, like nnU-Net / scipy's default); removed
voxels become background (0).  Work is limited to each label's bounding box.
SimpleITK does the connected components.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import SimpleITK as sitk

from interval.ai.model_package import PostprocessSpec

# label dtypes SimpleITK takes without a copy to another type (one-pass bounding boxes)
_SITK_LABEL_TYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.int16, np.int32))


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


def _components(mask: np.ndarray, min_size: int = 0) -> tuple[sitk.Image, np.ndarray]:
    """Component ids sorted by size (1 = largest); components below ``min_size`` are 0.

    Returns the SimpleITK image and a numpy view of it (no copy; the view is valid
    while the image is referenced).
    """
    img = sitk.GetImageFromArray(mask.view(np.uint8) if mask.dtype == bool else mask)
    cc = sitk.ConnectedComponent(img, False)
    rel = sitk.RelabelComponent(cc, minimumObjectSize=int(min_size), sortByObjectSize=True)
    return rel, sitk.GetArrayViewFromImage(rel)


def label_boxes(labels: np.ndarray) -> dict[int, tuple[slice, slice, slice]]:
    """Bounding box (z, y, x slices) of every non-zero label value, in one pass."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.ComputeFeretDiameterOff()
    stats.ComputePerimeterOff()
    stats.Execute(sitk.GetImageFromArray(labels))
    boxes = {}
    for value in stats.GetLabels():
        x, y, z, nx, ny, nz = stats.GetBoundingBox(value)
        boxes[int(value)] = (slice(z, z + nz), slice(y, y + ny), slice(x, x + nx))
    return boxes


def keep_largest_component(labels: np.ndarray, value: int,
                           box: tuple[slice, slice, slice] | None = None) -> int:
    """Keep only the largest connected region of ``value`` (in place); voxels removed.

    ``box``: the value's bounding box when already known (:func:`label_boxes`).
    """
    box = box if box is not None else _bbox(labels == value)
    if box is None:
        return 0
    sub = labels[box]
    _img, comp = _components(sub == value)
    drop = comp > 1  # every component but the largest (background is 0)
    n = int(np.count_nonzero(drop))
    sub[drop] = 0
    return n


def remove_small_islands(labels: np.ndarray, value: int, min_voxels: int,
                         box: tuple[slice, slice, slice] | None = None) -> int:
    """Remove regions of ``value`` smaller than ``min_voxels`` voxels (in place); voxels removed."""
    if min_voxels <= 1:
        return 0
    box = box if box is not None else _bbox(labels == value)
    if box is None:
        return 0
    sub = labels[box]
    mask = sub == value
    _img, comp = _components(mask, min_voxels)
    drop = mask & (comp == 0)
    n = int(np.count_nonzero(drop))
    sub[drop] = 0
    return n


def apply_postprocess(labels: np.ndarray, spec: PostprocessSpec,
                      voxel_mm3: float) -> dict[int, int]:
    """Apply ``spec`` to ``labels`` in place; return voxels removed per label value."""
    removed: dict[int, int] = {}
    if spec.is_empty:
        return removed
    # one pass for every bounding box (a label's box only shrinks as voxels go)
    boxes = label_boxes(labels) if labels.dtype in _SITK_LABEL_TYPES else None
    absent = (slice(0, 0),) * 3

    def clean(value: int) -> int:
        """Every rule of one label value, in order (islands first, then largest)."""
        box = boxes.get(int(value), absent) if boxes is not None else None
        if box == absent:
            return 0
        n = 0
        if value in spec.min_island_mm3:
            mm3 = spec.min_island_mm3[value]
            min_vox = math.ceil(mm3 / voxel_mm3 - 1e-9) if voxel_mm3 > 0 else 0
            n += remove_small_islands(labels, value, min_vox, box)
        if value in spec.largest_component:
            n += keep_largest_component(labels, value, box)
        return n

    # label values are independent (a rule only ever sets its own value's voxels to 0),
    # and SimpleITK releases the GIL: values run in parallel (measured 1.4x on 2 cores)
    values = list(dict.fromkeys([*spec.min_island_mm3, *spec.largest_component]))
    workers = min(len(values), os.cpu_count() or 1, 4)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            counts = list(pool.map(clean, values))
    else:
        counts = [clean(v) for v in values]
    return dict(zip(values, counts, strict=True))

