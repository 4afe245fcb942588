"""The calibrated false-positive filter: lesion regions scored below drop_below go."""

from __future__ import annotations

import numpy as np
import pytest

from interval.ai.region_filter import drop_unsure_regions, region_scores
from interval.core.labels import LabelInfo, LabelTable
from interval.core.volume import Volume
from interval.longitudinal.lesions import extract_lesions

LIVER, LESION, NODE = 1, 9, 10


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """A liver block holding a sure and an unsure lesion, an unsure node in the fat and
    a sure node; confidence uint8 like the engine's."""
    labels = np.zeros((20, 30, 30), np.uint8)
    conf = np.zeros(labels.shape, np.uint8)
    labels[2:18, 2:20, 2:20] = LIVER
    labels[5:9, 5:9, 5:9] = LESION  # sure
    conf[5:9, 5:9, 5:9] = 240
    labels[12:15, 12:15, 12:15] = LESION  # unsure, inside the liver
    conf[12:15, 12:15, 12:15] = 120
    labels[5:8, 24:27, 24:27] = NODE  # unsure, in the fat
    conf[5:8, 24:27, 24:27] = 100
    labels[14:17, 24:27, 24:27] = NODE  # sure
    conf[14:17, 24:27, 24:27] = 230
    return labels, conf


def test_regions_below_the_threshold_become_their_surroundings() -> None:
    labels, conf = _scene()
    before = labels.copy()
    removed = drop_unsure_regions(labels, conf, (LESION, NODE), 0.6)
    assert removed == {LESION: 1, NODE: 1}
    assert (labels[12:15, 12:15, 12:15] == LIVER).all()  # no hole in the liver
    assert (labels[5:8, 24:27, 24:27] == 0).all()  # fat stays background
    assert (labels[5:9, 5:9, 5:9] == LESION).all() and (labels[14:17, 24:27, 24:27] == NODE).all()
    changed = labels != before
    assert changed.sum() == 27 + 27  # nothing else moved


def test_nothing_goes_under_a_threshold_below_every_score() -> None:
    labels, conf = _scene()
    before = labels.copy()
    assert drop_unsure_regions(labels, conf, (LESION, NODE), 0.3) == {}
    assert np.array_equal(labels, before)


def test_a_region_is_scored_like_the_longitudinal_core_scores_a_lesion() -> None:
    rng = np.random.default_rng(7)
    labels = np.zeros((24, 24, 24), np.uint8)
    labels[rng.random(labels.shape) > 0.93] = LESION  # many odd, touching regions
    conf = rng.integers(0, 256, labels.shape).astype(np.uint8)
    comp, n, scores = region_scores(labels == LESION, conf)
    table = LabelTable([LabelInfo(LESION, "lesion", (255, 0, 0))])
    found = extract_lesions(Volume(labels, labels=table), None, timepoint=0, confidence=Volume(conf))
    assert n == len(found.measurements) > 20
    assert sorted(scores.tolist()) == sorted(m.score for m in found.measurements)
    # a threshold between two scores drops exactly the regions extract_lesions scores lower
    cut = float(np.median(scores))
    kept = labels.copy()
    drop_unsure_regions(kept, conf, (LESION,), cut)
    after = extract_lesions(Volume(kept, labels=table), None, timepoint=0, confidence=Volume(conf))
    assert all(m.score >= cut for m in after.measurements)
    assert len(after.measurements) == sum(s >= cut for s in scores)


def test_a_float_map_and_a_wrong_grid() -> None:
    labels, conf = _scene()
    removed = drop_unsure_regions(labels, conf.astype(np.float32) / 255.0, (LESION, NODE), 0.6)
    assert removed == {LESION: 1, NODE: 1}
    with pytest.raises(ValueError, match="one grid"):
        drop_unsure_regions(labels, conf[:-1], (LESION,), 0.5)
    with pytest.raises(ValueError, match="uint8 .* or floating point"):
        drop_unsure_regions(labels, conf.astype(np.uint16), (LESION,), 0.5)
