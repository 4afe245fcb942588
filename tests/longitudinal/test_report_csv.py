"""lesions.csv: one row per lesion and timepoint, statuses, added-up values of split lesions,
and no spreadsheet formula injection."""

from __future__ import annotations

import csv
import dataclasses

import pytest

from interval.longitudinal.model import ROLE_TARGET
from interval.longitudinal.report_common import (
    STATUS_ABSENT,
    STATUS_MERGED,
    STATUS_NEW,
    STATUS_PRESENT,
    STATUS_SPLIT,
    lesion_at,
)
from interval.longitudinal.report_csv import COLUMNS, lesion_rows, write_lesions_csv
from tests.longitudinal._equivocal_fixture import EQUIVOCAL_ID, UNSCORED_ID, equivocal_report
from tests.longitudinal._report_fixture import fresh_report, shared_case


@pytest.fixture(scope="module")
def case():
    return shared_case()


def _read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_one_row_per_lesion_and_timepoint_with_the_measured_values(case, tmp_path):
    report = fresh_report(case)
    path = write_lesions_csv(report, tmp_path / "lesions.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["lesions.csv"]
    rows = _read(path)
    assert tuple(rows[0].keys()) == COLUMNS
    n_tp = len(report.timeline.timepoints)
    assert len(rows) == len(report.tracks) * n_tp
    seen = 0
    for row in rows:
        track = report.track(row["lesion_id"])
        t = int(row["timepoint"])
        tp = report.timeline.timepoints[t]
        assert row["date"] == tp.study_date.isoformat()
        assert row["days"] == str(tp.days_from_baseline)
        assert row["role"] == track.role and row["organ"] == track.organ
        comps = track.components_at(t)
        assert row["components"] == ";".join(map(str, comps))
        if not comps:
            assert row["status"] == STATUS_ABSENT
            assert row["volume_ml"] == row["long_axis_mm"] == row["mean_intensity"] == ""
            continue
        seen += 1
        m = report.measurement(t, comps[0])
        assert row["status"] == (STATUS_NEW if t == track.first_seen and t > 0 else STATUS_PRESENT)
        assert float(row["volume_ml"]) == pytest.approx(m.volume_ml, abs=5e-5)
        assert float(row["long_axis_mm"]) == pytest.approx(m.long_axis.length_mm, abs=5e-3)
        assert float(row["short_axis_mm"]) == pytest.approx(m.short_axis.length_mm, abs=5e-3)
        assert float(row["max_diameter_3d_mm"]) == pytest.approx(m.max_diameter_3d_mm, abs=5e-3)
        assert float(row["mean_intensity"]) == pytest.approx(m.mean_intensity, abs=5e-3)
        assert row["intensity_unit"] == "HU"
        for axis, value in zip("xyz", m.centroid_baseline_lps, strict=True):
            assert float(row[f"centroid_{axis}_mm"]) == pytest.approx(value, abs=5e-3)
        expected = m.recist_diameter_mm
        for r in report.recist:  # a target's diameter is the one RECIST counted
            if r.timepoint == t and track.lesion_id in r.target_diameters:
                expected = r.target_diameters[track.lesion_id]
        assert float(row["recist_diameter_mm"]) == pytest.approx(expected, abs=5e-3)
    assert seen >= 5
    assert {r["status"] for r in rows} >= {STATUS_ABSENT, STATUS_NEW, STATUS_PRESENT}


def test_split_and_merged_lesions(case):
    report = fresh_report(case)
    a, b = [t for t in report.tracks if all(t.members.get(i) for i in (0, 1))][:2]
    t = 1
    # b split at t: it owns both components; a merged into b there
    a_comp, b_comp = a.members[t][0], b.members[t][0]
    b.members[t] = [b_comp, a_comp]
    a.merged_into[t] = b.lesion_id
    report.recist = [r for r in report.recist if r.timepoint != t]  # sums from the parts
    item = lesion_at(report, b, t)
    ma, mb = report.measurement(t, a_comp), report.measurement(t, b_comp)
    assert item.status == STATUS_SPLIT
    assert item.volume_ml == pytest.approx(ma.volume_ml + mb.volume_ml)
    assert item.recist_diameter_mm == pytest.approx(ma.recist_diameter_mm + mb.recist_diameter_mm)
    longest = max((ma, mb), key=lambda m: m.long_axis.length_mm)
    assert item.long_axis_mm == longest.long_axis.length_mm
    n = ma.voxel_count + mb.voxel_count
    mean = (ma.voxel_count * ma.mean_intensity + mb.voxel_count * mb.mean_intensity) / n
    assert item.mean_intensity == pytest.approx(mean)
    merged = lesion_at(report, a, t)
    assert merged.status == STATUS_MERGED and merged.merged_into == b.lesion_id
    assert merged.volume_ml is None and not merged.seen
    rows = {(r["lesion_id"], r["timepoint"]): r for r in lesion_rows(report)}
    assert rows[(b.lesion_id, "1")]["components"] == f"{b_comp};{a_comp}"
    assert rows[(a.lesion_id, "1")]["status"] == "merged"
    assert rows[(a.lesion_id, "1")]["merged_into"] == b.lesion_id
    assert rows[(a.lesion_id, "1")]["volume_ml"] == ""


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"y\")", "+1+cmd|' /C calc'!A0",
                                  "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_injection_is_neutralised(case, text):
    report = fresh_report(case)
    report.tracks[0].name = text
    report.tracks[0].organ = text
    row = next(r for r in lesion_rows(report) if r["lesion_id"] == report.tracks[0].lesion_id)
    assert row["name"] == "'" + text and row["organ"] == "'" + text
    # numbers stay numbers, negative ones included
    assert any(r["centroid_x_mm"].startswith("-") for r in lesion_rows(report))


def test_plain_text_is_kept_and_round_trips_through_csv(case, tmp_path):
    report = fresh_report(case)
    report.tracks[0].name = 'liver "met", segment 7; élargi'
    path = write_lesions_csv(report, tmp_path / "lesions.csv")
    row = _read(path)[0]
    assert row["name"] == 'liver "met", segment 7; élargi'


def test_target_lesion_counted_value_wins(case):
    report = fresh_report(case)
    track = next(t for t in report.tracks if t.role == ROLE_TARGET and t.members[0])
    base = report.recist[0]
    report.recist[0] = dataclasses.replace(
        base, target_diameters={**base.target_diameters, track.lesion_id: 42.5})
    assert lesion_at(report, track, 0).recist_diameter_mm == 42.5


def test_score_and_new_lesion_state_per_lesion_and_timepoint(case):
    rows = {(r["lesion_id"], r["timepoint"]): r for r in lesion_rows(equivocal_report(case))}
    assert rows[(EQUIVOCAL_ID, "1")]["score"] == "0.410"
    assert rows[(EQUIVOCAL_ID, "1")]["recist_new_lesion"] == "equivocal"
    assert rows[(EQUIVOCAL_ID, "2")]["score"] == "0.850"
    assert rows[(EQUIVOCAL_ID, "2")]["recist_new_lesion"] == "confirmed"
    assert rows[(EQUIVOCAL_ID, "0")]["score"] == ""  # not seen
    assert rows[(UNSCORED_ID, "1")]["score"] == ""  # no score
    assert rows[(UNSCORED_ID, "1")]["recist_new_lesion"] == "counted"
    assert rows[("L2", "0")]["score"] == "0.900" and rows[("L2", "0")]["recist_new_lesion"] == ""
    # without scores (label files, older reports) the columns are blank
    plain = lesion_rows(fresh_report(case))
    assert all(r["score"] == "" for r in plain)
