"""interval.ai.metrics: Dice and volumes of label maps, per-lesion matching."""

from __future__ import annotations

import math

import numpy as np
import pytest

from interval.ai.metrics import (
    confusion_counts,
    dice,
    dice_per_label,
    label_counts,
    match_lesions,
    volume_ml,
)


def _boxes() -> tuple[np.ndarray, np.ndarray]:
    a = np.zeros((10, 12, 14), np.uint8)
    b = np.zeros_like(a)
    a[2:6, 2:6, 2:6] = 1  # 64 voxels
    b[3:7, 2:6, 2:6] = 1  # 64 voxels, 48 shared
    a[7:9, 8:10, 8:12] = 2  # 16 voxels, absent from b
    b[0:2, 0:2, 0:2] = 3  # 8 voxels, absent from a
    return a, b


def test_dice_of_shifted_boxes_is_the_textbook_value():
    a, b = _boxes()
    assert dice(a, b, 1) == pytest.approx(2 * 48 / 128)
    assert dice(a, a, 1) == 1.0
    assert dice(a, b, 2) == 0.0 and dice(a, b, 3) == 0.0
    assert math.isnan(dice(a, b, 7))  # absent from both: undefined, not 1 or 0
    # different numbering in the two maps
    c = np.where(b == 1, 5, b).astype(np.uint8)
    assert dice(a, c, 1, 5) == pytest.approx(2 * 48 / 128)


def test_dice_per_label_agrees_with_dice_on_random_maps():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 5, (9, 11, 13)).astype(np.uint8)
    b = rng.integers(0, 6, (9, 11, 13)).astype(np.int16)
    scores = dice_per_label(a, b, range(1, 8))
    for value in range(1, 8):
        expected = dice(a, b, value)
        if math.isnan(expected):
            assert math.isnan(scores[value])
        else:
            assert scores[value] == pytest.approx(expected)
    mapped = dice_per_label(a, b, {1: 2, 4: 4})
    assert mapped[1] == pytest.approx(dice(a, b, 1, 2))
    assert mapped[4] == pytest.approx(dice(a, b, 4))


def test_confusion_counts_and_label_counts():
    a, b = _boxes()
    counts = confusion_counts(a, b)
    assert counts.sum() == a.size
    assert counts[1, 1] == 48 and counts[1, 0] == 16 and counts[0, 1] == 16
    assert counts[2, 0] == 16 and counts[0, 3] == 8
    assert list(label_counts(a)) == [a.size - 80, 64, 16]
    with pytest.raises(ValueError, match="shape"):
        confusion_counts(a, b[:-1])
    with pytest.raises(ValueError, match="negative"):
        confusion_counts(a.astype(np.int8) - 1, b)


def test_volume_ml_uses_the_spacing():
    a, _ = _boxes()
    assert volume_ml(a, (1.0, 1.0, 1.0), 1) == pytest.approx(0.064)
    assert volume_ml(a, (0.5, 2.0, 2.5), 2) == pytest.approx(16 * 2.5 / 1000)
    assert volume_ml(a, (1, 1, 1), 9) == 0.0


def test_match_lesions_assigns_components_and_counts_false_positives():
    truth = np.zeros((20, 20, 20), np.uint8)
    truth[2:6, 2:6, 2:6] = 1  # lesion 1: 64 voxels
    truth[10:14, 10:14, 10:14] = 4  # lesion 4: 64 voxels, missed
    pred = np.zeros_like(truth, dtype=bool)
    pred[3:7, 2:6, 2:6] = True  # overlaps lesion 1 (48 shared)
    pred[15:17, 15:17, 15:17] = True  # 8 voxels touching no lesion
    matches, false_ml = match_lesions(pred, truth, (1.0, 1.0, 2.0))
    by_id = {m.lesion_id: m for m in matches}
    assert sorted(by_id) == [1, 4]
    assert by_id[1].detected and by_id[1].dice == pytest.approx(2 * 48 / 128)
    assert by_id[1].truth_ml == pytest.approx(0.128)
    assert by_id[1].predicted_ml == pytest.approx(0.128)
    assert not by_id[4].detected and by_id[4].dice == 0.0 and by_id[4].predicted_ml == 0.0
    assert false_ml == pytest.approx(8 * 2 / 1000)
