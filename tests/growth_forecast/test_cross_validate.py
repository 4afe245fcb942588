"""The cross-validation script's folds and its pre-declared decision rule (no training here)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from interval_growth_forecast.data import Trajectory, split_of

from tests.growth_forecast.conftest import PLUGIN_DIR

sys.path.insert(0, str(PLUGIN_DIR / "training"))
import cross_validate as cv  # noqa: E402


def trajectories(n: int) -> list[Trajectory]:
    return [Trajectory(f"id-{i}", np.array([0.0, 50.0, 100.0]), np.array([20.0, 21.0, 22.0]))
            for i in range(n)]


def test_folds_partition_the_pool_and_inner_split_is_about_80_20():
    pool = trajectories(600)
    held = []
    for fold in range(cv.K):
        parts = cv.fold_parts(pool, fold)
        ids = {name: {t.id for t in items} for name, items in parts.items()}
        assert not ids["fit"] & ids["inner_val"] and not ids["held_out"] & ids["fit"]
        assert not ids["held_out"] & ids["inner_val"]
        assert len(ids["fit"]) + len(ids["inner_val"]) + len(ids["held_out"]) == len(pool)
        assert 0.7 < len(ids["fit"]) / (len(ids["fit"]) + len(ids["inner_val"])) < 0.9
        assert 150 < len(ids["held_out"]) < 250
        held += ids["held_out"]
    assert sorted(held) == sorted(t.id for t in pool)  # each trajectory held out exactly once


def test_fold_follows_the_documented_hash_rule():
    import hashlib
    for tid in ("a", "id-7", "Pt 12"):
        u = int.from_bytes(hashlib.sha256(("interval-growth-cv-v1:" + tid).encode()).digest()[:8],
                           "big") / 2**64
        assert cv.fold_of(tid) == int(3 * u)
    # the fold hash is not the train/val/test hash: folds mix the two splits
    folds = {(cv.fold_of(f"x{i}"), split_of(f"x{i}")) for i in range(300)}
    assert {(k, s) for k in range(3) for s in ("train", "val")} <= folds


@pytest.mark.parametrize(("s1", "s2", "winner"), [
    (0.0700, 0.0600, "recipe2"),   # recipe 2 clearly lower
    (0.0600, 0.0700, "recipe1"),
    (0.0700, 0.0695, "recipe1"),   # recipe 2 lower by < 1%: the simpler recipe 1
    (0.0700, 0.0692, "recipe2"),   # lower by > 1%
])
def test_decision_rule(s1, s2, winner):
    assert cv.decide({"recipe1": s1, "recipe2": s2})[0] == winner


def test_score_is_the_mean_over_folds_of_the_task_mean():
    def fold(a, b):
        return {"scores": {"A": {"net": {"pinball": a}}, "B": {"net": {"pinball": b}}}}
    score = cv.summary({"recipe1": [fold(0.1, 0.3), fold(0.2, 0.2)]})
    assert score["recipe1"] == pytest.approx(0.2)
