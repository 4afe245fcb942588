"""The lesion table's rows: the report's values per lesion and timepoint, the per-lesion
changes vs baseline and nadir, role flags and the RECIST header per timepoint."""

from __future__ import annotations

import dataclasses

import pytest

from interval.longitudinal.lesion_rows import build_lesion_rows
from interval.longitudinal.model import ROLE_EXCLUDED
from interval.longitudinal.report_common import STATUS_ABSENT, STATUS_NEW, lesion_at
from interval.longitudinal.workspace_rows import response_rows
from tests.longitudinal._equivocal_fixture import EQUIVOCAL_ID, UNSCORED_ID, equivocal_report
from tests.longitudinal._report_fixture import fresh_report, shared_case


@pytest.fixture(scope="module")
def case():
    return shared_case()


def _pct(value: float, reference: float) -> float:
    return 100.0 * (value - reference) / reference


def test_one_row_per_track_with_the_reports_values(case):
    report = fresh_report(case)
    data = build_lesion_rows(report)
    assert [r.lesion_id for r in data.rows] == [t.lesion_id for t in report.tracks]
    tps = [tp.index for tp in report.timeline.timepoints]
    for row, track in zip(data.rows, report.tracks, strict=True):
        assert (row.name, row.organ, row.is_lymph_node, row.role, row.first_seen) == (
            track.name, track.organ, track.is_lymph_node, track.role, track.first_seen)
        assert [c.timepoint for c in row.cells] == tps
        for cell in row.cells:
            at = lesion_at(report, track, cell.timepoint)
            assert cell.status == at.status
            assert cell.long_axis_mm == at.long_axis_mm
            assert cell.short_axis_mm == at.short_axis_mm
            assert cell.volume_ml == at.volume_ml
            assert cell.recist_diameter_mm == at.recist_diameter_mm
        # exactly one role flag
        flags = (row.is_target, row.is_non_target, row.is_new, row.is_excluded)
        assert sum(flags) == 1
    # the fixture has new lesions (absent at baseline) and targets
    assert any(r.is_new and r.cells[0].status == STATUS_ABSENT
               and r.cells[r.first_seen].status == STATUS_NEW for r in data.rows)
    assert sum(r.is_target for r in data.rows) >= 3


def test_changes_vs_baseline_and_nadir_follow_the_recist_diameters(case):
    report = fresh_report(case)
    data = build_lesion_rows(report)
    counted = {r.timepoint: r.target_diameters for r in report.recist}
    targets = [t.lesion_id for t in report.tracks if t.role == "target"]
    for lid in targets:  # targets: diameters as the RECIST table counted them
        row = data.row(lid)
        d = [counted[t][lid] for t in sorted(counted)]
        assert row.cells[0].change_from_baseline_pct is None
        assert row.cells[0].change_from_nadir_pct is None
        for t in range(1, len(d)):
            cell = row.cells[t]
            if d[0]:
                assert cell.change_from_baseline_pct == pytest.approx(_pct(d[t], d[0]))
            nadir = min(d[:t])
            if nadir:
                assert cell.change_from_nadir_pct == pytest.approx(_pct(d[t], nadir))
            else:
                assert cell.change_from_nadir_pct is None  # a 0 mm nadir has no percentage
    # a lymph node's change is of its short axis
    node = next(r for r in data.rows if r.is_lymph_node and r.is_target)
    base, fu = node.cells[0], node.cells[1]
    assert base.recist_diameter_mm == pytest.approx(base.short_axis_mm)
    assert fu.change_from_baseline_pct == pytest.approx(
        _pct(fu.short_axis_mm, base.short_axis_mm))
    # a new lesion has no baseline; its nadir is its own first value
    new = next(r for r in data.rows if r.is_new and r.first_seen == 1)
    first, later = new.cells[1], new.cells[2]
    assert first.change_from_baseline_pct is None and first.change_from_nadir_pct is None
    assert later.change_from_baseline_pct is None
    assert later.change_from_nadir_pct == pytest.approx(
        _pct(later.recist_diameter_mm, first.recist_diameter_mm))


def test_nadir_is_the_smallest_earlier_value_not_the_baseline(case):
    report = fresh_report(case)
    track = next(t for t in report.tracks if t.role == "non-target" and t.first_seen == 0)
    # shrink the lesion at follow-up 1, so follow-up 2's nadir is follow-up 1
    c1 = track.components_at(1)[0]
    i = next(n for n, m in enumerate(report.measurements) if m.key == (1, c1))
    m = report.measurements[i]
    small = dataclasses.replace(m.long_axis, length_mm=2.5)
    report.measurements[i] = dataclasses.replace(m, long_axis=small)
    row = build_lesion_rows(report).row(track.lesion_id)
    d0 = row.cells[0].recist_diameter_mm
    d2 = row.cells[2].recist_diameter_mm
    assert row.cells[1].change_from_baseline_pct == pytest.approx(_pct(2.5, d0))
    assert row.cells[2].change_from_baseline_pct == pytest.approx(_pct(d2, d0))
    assert row.cells[2].change_from_nadir_pct == pytest.approx(_pct(d2, 2.5))


def test_headers_carry_the_recist_result_per_timepoint(case):
    report = fresh_report(case)
    data = build_lesion_rows(report)
    assert [h.timepoint for h in data.timepoints] == [0, 1, 2]
    assert [h.label for h in data.timepoints] == ["baseline", "follow-up 1", "follow-up 2"]
    for h, r in zip(data.timepoints, report.recist, strict=True):
        assert (h.sum_mm, h.overall_response, h.target_response, h.non_target_response,
                h.new_lesions, h.reason) == (r.sum_mm, r.overall_response, r.target_response,
                                             r.non_target_response, tuple(r.new_lesions),
                                             r.reason)
        assert h.sum_change_from_baseline_pct == r.change_from_baseline_pct
    assert data.timepoints[0].is_baseline and not data.timepoints[1].is_baseline
    assert "day" in data.timepoints[1].title  # the date / day is in the title


def test_excluded_role_and_missing_recist(case):
    report = fresh_report(case)
    report.tracks[0].role = ROLE_EXCLUDED
    report.recist = [r for r in report.recist if r.timepoint != 2]
    data = build_lesion_rows(report)
    assert data.rows[0].is_excluded and not data.rows[0].is_new
    h2 = data.timepoints[2]
    assert h2.overall_response == "" and h2.sum_mm is None
    assert "not assessed" in h2.reason
    assert data.row("nope") is None


def test_cells_carry_regions_positions_axes_and_reader_marks(case):
    report = fresh_report(case)
    track = next(t for t in report.tracks if t.role == "target")
    data = build_lesion_rows(report, {(track.lesion_id, 1): frozenset({"long_axis"})},
                             {track.lesion_id: frozenset({"name"})})
    row = data.row(track.lesion_id)
    assert row.tracking_uid == track.tracking_uid and row.reader_changed == {"name"}
    assert row.cells[1].reader_changed == {"long_axis"} and row.cells[0].reader_changed == set()
    for cell in row.cells:
        at = lesion_at(report, track, cell.timepoint)
        assert cell.components == at.components
        if at.main is not None:
            assert cell.centroid_lps == at.main.centroid_lps
            assert cell.long_axis == at.main.long_axis and cell.short_axis == at.main.short_axis
    v0, v1 = row.cells[0].volume_ml, row.cells[1].volume_ml
    assert row.cells[1].volume_change_from_baseline_pct == pytest.approx(_pct(v1, v0))
    # a new lesion has no volume change vs a baseline it was not at
    new = next(r for r in data.rows if r.is_new)
    assert all(c.volume_change_from_baseline_pct is None for c in new.cells)


def test_scores_equivocal_and_confirmed_new_lesions(case):
    report = equivocal_report(case)
    data = build_lesion_rows(report)
    h1, h2 = data.timepoints[1], data.timepoints[2]
    assert h1.new_lesions == (UNSCORED_ID,) and h1.equivocal_new_lesions == (EQUIVOCAL_ID,)
    assert h2.new_lesions == (EQUIVOCAL_ID,) and h2.confirmed_new_lesions == (EQUIVOCAL_ID,)
    assert h2.equivocal_new_lesions == ()
    row = data.row(EQUIVOCAL_ID)
    assert [c.score for c in row.cells] == [None, pytest.approx(0.41), pytest.approx(0.85)]
    assert [c.new_lesion for c in row.cells] == ["", "equivocal", "confirmed"]
    assert not row.equivocal  # confirmed later
    unscored = data.row(UNSCORED_ID)
    assert unscored.cells[1].score is None and unscored.cells[1].new_lesion == "counted"
    assert data.row("L2").cells[0].score == pytest.approx(0.9)
    responses = response_rows(report)  # the workspace's RECIST rows list them too
    assert responses[1].equivocal_new_lesions == (EQUIVOCAL_ID,)
    assert responses[1].new_lesions == (UNSCORED_ID,)
    assert responses[2].confirmed_new_lesions == {EQUIVOCAL_ID: 1}
    # never confirmed: the row stays equivocal
    report.recist[2] = dataclasses.replace(report.recist[2], new_lesions=(),
                                           confirmed_new_lesions={},
                                           equivocal_new_lesions=(EQUIVOCAL_ID,))
    assert build_lesion_rows(report).row(EQUIVOCAL_ID).equivocal
    assert not build_lesion_rows(report).row(UNSCORED_ID).equivocal
