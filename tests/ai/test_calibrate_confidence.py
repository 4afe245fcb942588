"""The confidence calibration script's rule and its model.json write (no model run)."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from interval.ai.model_package import ConfidenceSpec, load_model_spec
from tests.conftest import REPO_ROOT

TRAINING = REPO_ROOT / "plugins" / "interval_unet" / "training"
PACKAGE = REPO_ROOT / "plugins" / "interval_unet" / "models" / "phantom-ct"


@pytest.fixture(scope="module")
def calibrate():
    sys.path.insert(0, str(TRAINING))
    try:
        import calibrate_confidence

        yield calibrate_confidence
    finally:
        sys.path.remove(str(TRAINING))


def test_the_threshold_keeps_95_percent_and_is_the_highest_that_does(calibrate) -> None:
    scores = [0.1 * k for k in range(1, 21)]  # 20 true regions: 0.1 .. 2.0
    t = calibrate.choose_threshold(scores, 0.95)
    assert sum(s >= t for s in scores) == 19  # one may fall below, not two
    assert t == pytest.approx(0.2)
    assert calibrate.choose_threshold(scores[:10], 0.95) == pytest.approx(0.1)  # none may
    assert calibrate.choose_threshold([0.5, 0.5, 0.5], 0.95) == 0.5  # ties are kept
    assert calibrate.choose_threshold([], 0.95) is None


def test_the_drop_threshold_keeps_its_share_and_stays_under_the_equivocal_one(calibrate) -> None:
    scores = [0.01 * k for k in range(1, 101)]  # 100 true regions: 0.01 .. 1.00
    drop = calibrate.choose_drop(scores, 0.9, 0.97)
    assert drop == pytest.approx(0.04) and sum(s >= drop for s in scores) == 97
    assert calibrate.choose_drop(scores, 0.02, 0.97) == pytest.approx(0.02)  # capped
    assert calibrate.choose_drop(scores, None, 0.97) == pytest.approx(0.04)
    assert calibrate.choose_drop(scores, 0.9, 0.0) is None  # no filter asked
    assert calibrate.choose_drop([], 0.9, 0.97) is None
    assert calibrate.choose_drop([0.6666], None, 1.0) == pytest.approx(0.666)  # rounded down


def test_training_and_benchmark_seeds_are_refused(calibrate) -> None:
    calibrate.check_seeds([1000, 3000, 3019, 4999])
    for seeds in ([999], [3000, 5000], [6001]):
        with pytest.raises(SystemExit, match="validation seeds"):
            calibrate.check_seeds(seeds)
    assert calibrate.parse_args([]).seeds == list(range(3000, 3020))


def test_a_package_without_a_section_is_scored_on_its_lesion_labels(calibrate) -> None:
    import dataclasses

    spec = dataclasses.replace(load_model_spec(PACKAGE), confidence=None)
    scored = calibrate.confidence_spec(spec)
    lesion = [li.value for li in spec.labels if li.name in ("lesion", "lymph node")]
    assert scored.confidence == ConfidenceSpec(tuple(lesion))


def test_write_puts_the_section_into_model_json_in_its_format(calibrate, tmp_path) -> None:
    copy = tmp_path / "phantom-ct"
    shutil.copytree(PACKAGE, copy)
    calibrate.write_threshold(copy, (9,), 0.437)
    text = (copy / "model.json").read_text(encoding="utf-8")
    spec = load_model_spec(copy)
    assert spec.confidence == ConfidenceSpec((9,), 0.437)
    assert '"labels": [9]' in text  # lists of numbers on one line, as train.py writes them
    before = json.loads((PACKAGE / "model.json").read_text(encoding="utf-8"))
    after = json.loads(text)
    assert {k: v for k, v in after.items() if k != "confidence"} == \
        {k: v for k, v in before.items() if k != "confidence"}
    assert not list(copy.glob("*.tmp"))
    with pytest.raises(Exception, match="confidence.labels: label 42 is not in labels"):
        calibrate.write_threshold(copy, (42,), 0.5)  # a package that would not load
    assert load_model_spec(copy).confidence == ConfidenceSpec((9,), 0.437)  # unchanged
    calibrate.write_threshold(copy, (9,), 0.437, 0.3)
    assert load_model_spec(copy).confidence == ConfidenceSpec((9,), 0.437, 0.3)
