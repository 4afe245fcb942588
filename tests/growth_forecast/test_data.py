"""Reading measurement tables and the fixed train/validation/test split."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from interval_growth_forecast.data import read_measurements, split_of, split_trajectories
from interval_growth_forecast.errors import MeasurementTableError

HEADER = "Pt_hashID,Study_Arm,T_days,Lesion_diam\n"


def test_split_is_fixed_and_close_to_60_20_20():
    ids = [f"patient-{k}" for k in range(6000)]
    first = [split_of(i) for i in ids]
    assert first == [split_of(i) for i in ids]
    counts = Counter(first)
    assert abs(counts["train"] / 6000 - 0.6) < 0.03
    assert abs(counts["val"] / 6000 - 0.2) < 0.03
    assert abs(counts["test"] / 6000 - 0.2) < 0.03


@pytest.mark.parametrize("tid", ["a", "b", "0218075314855e6ceacca856fcd4c737-S1", "x-S5"])
def test_split_follows_the_documented_hash_rule(tid):
    # the README's rule: u = sha256("interval-growth-split-v1:" + id)[:8] / 2**64
    import hashlib

    digest = hashlib.sha256(("interval-growth-split-v1:" + tid).encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    assert split_of(tid) == ("train" if u < 0.6 else "val" if u < 0.8 else "test")


def test_read_sorts_and_merges_same_day(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(HEADER + "p1,S,56,20\np1,S,0,10\np1,S,0,12\np2,S,-3,5\np2,S,40,0\n")
    trajs = {t.id: t for t in read_measurements(path)}
    assert list(trajs["p1"].days) == [0.0, 56.0]
    assert list(trajs["p1"].diameters) == [11.0, 20.0]
    assert any("same day" in n for n in trajs["p1"].notes)
    assert any("order" in n for n in trajs["p1"].notes)
    assert trajs["p2"].notes == ()
    assert split_trajectories(trajs.values()).keys() == {"train", "val", "test"}


@pytest.mark.parametrize("body, words", [
    ("Pt_hashID,T_days\np,1\n", "no column Lesion_diam"),
    (HEADER + "p,S,abc,3\n", "line 2: T_days"),
    (HEADER + "p,S,1,-4\n", "negative diameter"),
    (HEADER + "p,S,1,nan\n", "not a finite number"),
    (HEADER, "no measurements"),
])
def test_bad_tables_are_refused_in_words(tmp_path, body, words):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(MeasurementTableError, match=words):
        read_measurements(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(MeasurementTableError, match="cannot read"):
        read_measurements(tmp_path / "absent.csv")


def test_shared_data_split_counts():
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "tumor_growth" / "lesion_measurements.csv"
    if not path.is_file():
        pytest.fail(f"shared test data missing: {path}")
    split = split_trajectories(read_measurements(path))
    assert {k: len(v) for k, v in split.items()} == {"train": 438, "val": 177, "test": 150}
    assert all(np.all(np.diff(t.days) > 0) for v in split.values() for t in v)
