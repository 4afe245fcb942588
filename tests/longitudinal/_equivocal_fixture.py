"""The report writers' case with segmentation scores and an equivocal new lesion.

Built on :mod:`._report_fixture`'s hand-made report (the RECIST engine's equivocal rule
is tested in ``test_recist``; here only what the writers show matters):

* every region scores 0.90, except L1 (new at follow-up 1): 0.41 there, 0.85 at
  follow-up 2, and L3 (new at follow-up 1): no score at all (shown as "-");
* the threshold is 0.62: follow-up 1 holds L1 equivocal and counts L3; follow-up 2
  counts L1, confirming the equivocal finding of follow-up 1.
"""

from __future__ import annotations

import dataclasses

from interval.longitudinal.model import PD, LongitudinalReport
from tests.longitudinal._report_fixture import ReportCase, fresh_report

THRESHOLD = 0.62
EQUIVOCAL_ID = "L1"  # equivocal at follow-up 1, confirmed at follow-up 2
UNSCORED_ID = "L3"  # no score anywhere
SCORES = {(EQUIVOCAL_ID, 1): 0.41, (EQUIVOCAL_ID, 2): 0.85}
OTHER_SCORE = 0.9


def equivocal_report(case: ReportCase) -> LongitudinalReport:
    """A fresh copy of ``case``'s report with the scores and RECIST rows above."""
    report = fresh_report(case)
    owner = {(t, c): track.lesion_id for track in report.tracks
             for t, comps in track.members.items() for c in comps}
    measurements = []
    for m in report.measurements:
        lid = owner.get((m.timepoint, m.component), "")
        score = None if lid == UNSCORED_ID else SCORES.get((lid, m.timepoint), OTHER_SCORE)
        measurements.append(dataclasses.replace(m, score=score))
    report.measurements = measurements
    report.equivocal_below = THRESHOLD
    r1, r2 = report.recist[1], report.recist[2]
    assert r1.new_lesions == (EQUIVOCAL_ID, UNSCORED_ID), "the fixture changed"
    report.recist[1] = dataclasses.replace(
        r1, new_lesions=(UNSCORED_ID,), equivocal_new_lesions=(EQUIVOCAL_ID,),
        reason=f"New lesion(s) {UNSCORED_ID}; {EQUIVOCAL_ID} (new, confidence 0.41, below "
               "0.62): equivocal, PD only if a later scan confirms it. Overall PD.")
    report.recist[2] = dataclasses.replace(
        r2, new_lesions=(EQUIVOCAL_ID,), confirmed_new_lesions={EQUIVOCAL_ID: 1},
        overall_response=PD,
        reason=f"New lesion(s) {EQUIVOCAL_ID}; {EQUIVOCAL_ID} confirms the equivocal new "
               "lesion first seen at follow-up 1: progression dates from that scan. "
               "Overall PD.")
    return report
