"""Post-processing: largest component and small islands, per label, in mm³."""

from __future__ import annotations

import numpy as np

from interval.ai.model_package import PostprocessSpec
from interval.ai.postprocess import (
    apply_postprocess,
    keep_largest_component,
    remove_small_islands,
)


def _labels() -> np.ndarray:
    lab = np.zeros((10, 20, 20), np.uint8)
    lab[1:5, 1:5, 1:5] = 1  # 64 voxels
    lab[7:9, 7:9, 7:9] = 1  # 8 voxels
    lab[1:3, 15:18, 15:18] = 2  # 18 voxels
    lab[6, 15, 15] = 2  # 1 voxel
    lab[5, 5, 5] = 1  # touches the big cube only diagonally (corner): its own component
    return lab


def test_keep_largest_component_only_touches_that_label() -> None:
    lab = _labels()
    removed = keep_largest_component(lab, 1)
    assert removed == 9
    assert int((lab == 1).sum()) == 64 and int((lab == 2).sum()) == 19


def test_remove_small_islands() -> None:
    lab = _labels()
    assert remove_small_islands(lab, 2, 2) == 1
    assert int((lab == 2).sum()) == 18
    assert remove_small_islands(lab, 1, 9) == 9
    assert remove_small_islands(lab, 3, 5) == 0


def test_apply_postprocess_uses_physical_volume() -> None:
    lab = _labels()
    # voxels of 2 mm³: islands below 20 mm³ (< 10 voxels) of label 1 go; label 2 largest only
    spec = PostprocessSpec(largest_component=(2,), min_island_mm3={1: 20.0})
    removed = apply_postprocess(lab, spec, voxel_mm3=2.0)
    assert removed == {1: 9, 2: 1}
    assert int((lab == 1).sum()) == 64 and int((lab == 2).sum()) == 18
    lab2 = _labels()
    apply_postprocess(lab2, PostprocessSpec(min_island_mm3={1: 16.0}), voxel_mm3=2.0)
    assert int((lab2 == 1).sum()) == 72  # the 8-voxel cube is exactly 16 mm³: kept


def test_label_boxes_match_per_label_boxes_and_other_dtypes_still_work() -> None:
    from interval.ai.postprocess import _bbox, label_boxes

    rng = np.random.default_rng(0)
    labels = np.zeros((20, 30, 40), np.uint8)
    for value in (1, 2, 5):
        for _ in range(4):
            z, y, x = rng.integers(0, 16), rng.integers(0, 26), rng.integers(0, 36)
            labels[z:z + 3, y:y + 3, x:x + 2 + value] = value
    boxes = label_boxes(labels)
    assert set(boxes) == {1, 2, 5}
    for value, box in boxes.items():
        assert box == _bbox(labels == value)
    spec = PostprocessSpec(largest_component=(1, 3), min_island_mm3={2: 20.0})  # 3 absent
    a, b = labels.copy(), labels.astype(np.int64)  # int64: the per-label fallback
    ra, rb = apply_postprocess(a, spec, 1.0), apply_postprocess(b, spec, 1.0)
    assert ra == rb and ra[3] == 0
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a[labels == 1])) <= {0, 1}
