"""The terminal summary: the RECIST table counts equivocal new lesions apart from counted
ones, and the lesion lines show each lesion's confidence per timepoint."""

from __future__ import annotations

import pytest

from interval.longitudinal.summary import lesion_lines, recist_lines
from tests.longitudinal._equivocal_fixture import EQUIVOCAL_ID, UNSCORED_ID, equivocal_report
from tests.longitudinal._report_fixture import fresh_report, shared_case


@pytest.fixture(scope="module")
def case():
    return shared_case()


def test_recist_lines_count_new_and_equivocal_new_lesions_apart(case):
    lines = recist_lines(equivocal_report(case))
    assert lines[1].split()[-3:] == ["new", "equiv", "overall"]
    rows = [line.split() for line in lines[2:] if line.startswith("  ") and
            not line.startswith("      ")]
    # tp, date, sum, vs base, vs nadir, target, non-target, new, equiv, overall
    assert [(r[-3], r[-2], r[-1]) for r in rows] == [("-", "-", "baseline"), ("1", "1", "PD"),
                                                     ("1", "-", "PD")]
    assert any("equivocal, PD only if a later scan confirms it" in line for line in lines)


def test_lesion_lines_show_the_confidence_and_mark_equivocal_ones(case):
    lines = lesion_lines(equivocal_report(case))
    assert "confidence" in lines[0] and "? = equivocal new lesion" in lines[0]
    by_id = {line.split()[0]: line.split() for line in lines[1:]}
    assert by_id[EQUIVOCAL_ID][-3:] == ["-", "0.63/6/0.41?", "2.83/15/0.85"]
    assert by_id[UNSCORED_ID][-2].endswith("/-")  # seen, no score
    assert by_id["L2"][3].endswith("/0.90")
    plain = lesion_lines(fresh_report(case))  # no scores: "-" everywhere, nothing marked
    assert not any("?" in line for line in plain[1:])
