"""interval.ai.detection_metrics: lesions found or missed, false positives, Dice, targets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from interval.ai.detection_metrics import (
    LARGE,
    MEDIUM,
    SMALL,
    Rate,
    Summary,
    Targets,
    check,
    check_targets,
    check_temporal,
    score_scan,
    size_bin,
    summarize,
)

LIVER, KIDNEY, LESION, NODE = 1, 3, 9, 10
VOXEL_ML = 0.01  # 100 voxels = 1 mL


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth: a liver with lesion 1 (64 voxels), a kidney with lesion 2 (8 voxels), a lymph
    node 3 (27 voxels, label 10) in the fat."""
    truth = np.zeros((20, 20, 30), np.uint8)
    ids = np.zeros_like(truth)
    truth[0:10, 0:10, 0:10] = LIVER
    truth[2:6, 2:6, 2:6] = LESION
    ids[2:6, 2:6, 2:6] = 1
    truth[12:20, 12:20, 0:10] = KIDNEY
    truth[14:16, 14:16, 4:6] = LESION
    ids[14:16, 14:16, 4:6] = 2
    truth[5:8, 5:8, 20:23] = NODE
    ids[5:8, 5:8, 20:23] = 3
    return truth, ids, truth.copy()


def test_found_missed_and_false_positive_regions():
    truth, ids, pred = _scene()
    pred[14:16, 14:16, 4:6] = KIDNEY  # the kidney lesion is missed
    pred[5:8, 5:8, 20:23] = 0
    pred[6, 6, 21] = LESION  # one voxel of the node: found (a model without a node label)
    pred[15:17, 0:2, 25:27] = LESION  # overlaps nothing: a false positive
    pred[0, 0, 29] = LESION  # another one, apart from it
    s = score_scan(pred, truth, voxel_ml=VOXEL_ML, pred_lesion_values=[LESION],
                   truth_lesion_values=[LESION, NODE], truth_ids=ids,
                   lesion_organs={1: "liver", 2: "kidney", 3: "lymph node"})
    found = {t.lesion: t.found for t in s.lesions}
    assert found == {1: True, 2: False, 3: True}
    assert s.predicted_regions == 4 and s.false_positive_regions == 2
    by_id = {t.lesion: t for t in s.lesions}
    assert by_id[1].volume_ml == pytest.approx(0.64) and by_id[3].overlap_ml == pytest.approx(0.01)
    assert by_id[2].organ == "kidney"


def test_a_region_of_either_lesion_label_counts_and_touching_labels_are_one_region():
    truth, ids, pred = _scene()
    pred[2:6, 2:6, 2:4] = NODE  # half of lesion 1 called "lymph node", half "lesion"
    s = score_scan(pred, truth, voxel_ml=VOXEL_ML, pred_lesion_values=[LESION, NODE],
                   truth_lesion_values=[LESION, NODE], truth_ids=ids)
    assert all(t.found for t in s.lesions)
    assert s.predicted_regions == 3 and s.false_positive_regions == 0
    assert s.lesion_dice == 1.0  # the union of lesion-like labels


def test_without_an_id_map_components_are_lesions_and_organs_come_from_the_shell():
    truth, _ids, pred = _scene()
    pred[truth == LESION] = 0
    s = score_scan(pred, truth, voxel_ml=VOXEL_ML, pred_lesion_values=[LESION, NODE],
                   truth_lesion_values=[LESION, NODE],
                   truth_names={LIVER: "liver", KIDNEY: "kidney"})
    organs = sorted((round(t.volume_ml, 2), t.organ, t.found) for t in s.lesions)
    assert organs == [(0.08, "kidney", False), (0.27, "unknown", True), (0.64, "liver", False)]
    assert s.lesion_dice == pytest.approx(2 * 27 / (27 + 99))  # only the node remains


def test_lesion_and_organ_dice_pair_labels_by_the_given_values():
    truth, ids, _pred = _scene()
    pred = np.zeros_like(truth)
    pred[truth == LIVER] = 7  # the model numbers the liver 7
    pred[0:10, 0:10, 0:4][truth[0:10, 0:10, 0:4] == LESION] = LESION  # half of lesion 1
    s = score_scan(pred, truth, voxel_ml=VOXEL_ML, pred_lesion_values=[LESION],
                   truth_lesion_values=[LESION, NODE], truth_ids=ids,
                   organ_pairs={"liver": (7, LIVER), "kidney": (KIDNEY, KIDNEY),
                                "spleen": (2, 2)})
    dice = s.organ_dice
    assert dice["liver"] == 1.0 and dice["kidney"] == 0.0 and math.isnan(dice["spleen"])
    truth_lesion = 64 + 8 + 27
    assert s.lesion_dice == pytest.approx(2 * 32 / (32 + truth_lesion))


def test_size_bins_include_their_upper_edges_in_the_middle_bin():
    assert [size_bin(v) for v in (0.0, 0.49, 0.5, 2.0, 2.01)] == [SMALL, SMALL, MEDIUM, MEDIUM,
                                                                 LARGE]


def test_shapes_must_agree():
    with pytest.raises(ValueError):
        score_scan(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)), voxel_ml=1.0,
                   pred_lesion_values=[9], truth_lesion_values=[9])


def _two_scans():
    truth, ids, pred = _scene()
    organs = {1: "liver", 2: "kidney", 3: "lymph node"}
    kw = dict(pred_lesion_values=[LESION, NODE], truth_lesion_values=[LESION, NODE], truth_ids=ids,
              lesion_organs=organs, organ_pairs={"liver": (LIVER, LIVER)})
    perfect = score_scan(pred, truth, voxel_ml=VOXEL_ML, seconds=2.0, tags={"tp": 0}, **kw)
    worse = pred.copy()
    worse[truth == LESION] = 0
    worse[5:8, 5:8, 20:23] = 0
    worse[15:17, 0:2, 25:27] = LESION
    missed = score_scan(worse, truth, voxel_ml=0.1, seconds=4.0, tags={"tp": 1}, **kw)
    return perfect, missed


def test_summary_pools_bins_organs_false_positives_and_dice():
    perfect, missed = _two_scans()
    s = summarize([perfect, missed])
    assert s.scans == 2 and s.detection == Rate(3, 6)
    # volumes: scan 1 at 0.01 mL/voxel: 0.64, 0.08, 0.27; scan 2 at 0.1: 6.4, 0.8, 2.7
    assert s.by_size[SMALL] == Rate(2, 2) and s.by_size[MEDIUM] == Rate(1, 2)
    assert s.by_size[LARGE] == Rate(0, 2)
    assert s.by_organ["kidney"] == Rate(1, 2) and s.by_organ["lymph node"].rate == 0.5
    assert s.false_positive_regions == 1 and s.fp_per_scan == 0.5
    assert s.lesion_dice_mean == pytest.approx(0.5)  # 1.0 and 0.0
    assert s.lesion_dice_pooled == pytest.approx(2 * 99 / (99 + 8 + 2 * 99))
    assert s.organ_dice["liver"] == pytest.approx(1.0)
    assert s.seconds_mean == 3.0 and s.seconds_median == 3.0
    d = s.to_dict()
    assert d["by_size"][LARGE] == {"found": 0, "total": 2, "rate": 0.0}
    assert missed.to_dict()["tp"] == 1 and missed.to_dict()["lesion_dice"] == 0.0


def test_targets_pass_and_fail_and_unmeasurable_ones_fail():
    perfect, missed = _two_scans()
    good = check_targets(summarize([perfect]))
    assert {c.name: c.passed for c in good} == {
        f"detection {SMALL}": True, f"detection {MEDIUM}": True,
        f"detection {LARGE}": False,  # no lesion above 2 mL in this scan: not shown to be met
        "detection kidney": True, "false-positive regions per scan": True,
        "lesion Dice (mean per scan)": True, "liver Dice (mean)": True}
    bad = {c.name: c for c in check_targets(summarize([perfect, missed]))}
    assert not bad[f"detection {LARGE}"].passed and bad[f"detection {LARGE}"].value == 0.0
    assert not bad["false-positive regions per scan"].passed
    assert not bad["lesion Dice (mean per scan)"].passed
    lenient = check_targets(summarize([perfect, missed]),
                            Targets(detect_large=0.0, fp_per_scan=0.5, lesion_dice=0.5))
    assert {c.name for c in lenient if not c.passed} == {f"detection {MEDIUM}",
                                                         "detection kidney"}
    assert "n/a" in check("x", None, ">=", 1.0).text and not check("x", math.nan, "<=", 1).passed


def _summary(small: Rate, fp: int, scans: int = 10) -> Summary:
    return Summary(scans, small, {SMALL: small, MEDIUM: Rate(0, 0), LARGE: Rate(0, 0)}, {}, fp,
                   None, None, {}, None, None)


def test_temporal_must_beat_the_single_timepoint_model_unless_that_one_is_perfect():
    single = _summary(Rate(6, 10), 3)
    assert all(c.passed for c in check_temporal(_summary(Rate(8, 10), 1), single))
    same = check_temporal(_summary(Rate(6, 10), 3), single)
    assert [c.passed for c in same] == [False, False]
    perfect = _summary(Rate(10, 10), 0)
    assert all(c.passed for c in check_temporal(perfect, perfect))
