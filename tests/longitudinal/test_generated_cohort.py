"""Issue 10's correctness bar on 50 random generated patients, label maps = the truth.

Every patient (3-6 scans at irregular intervals, lesions that appear, vanish, merge and
split, lymph nodes, the body moved and deformed between scans) goes through the real
pipeline: DICOM folder -> timeline -> registration -> lesions -> matching -> RECIST.
Over the cohort at least 98% of the lesion links must be correct (and found), and the
RECIST response of every follow-up must equal the one computed from the true lesion
identities.  The cohort is split in five groups of ten so that pytest-xdist runs them
in parallel; each group must meet the bar on its own (stricter than the cohort).
"""

from __future__ import annotations

import numpy as np
import pytest

from interval.io.synthetic.patient import generate_patient
from interval.longitudinal.demo_evaluation import evaluate
from interval.longitudinal.pipeline import TrackingOptions, run_tracking
from interval.longitudinal.segmentation_source import FileLabels
from interval.longitudinal.timeline import build_timeline

SHAPE = (40, 80, 80)  # the whole phantom field of view on a coarse grid
GROUPS = 5
PER_GROUP = 10


def _one(tmp_path, seed: int) -> dict:
    rng = np.random.default_rng([seed, 77])
    n = int(rng.integers(3, 7))
    patient = generate_patient(tmp_path / f"p{seed}", seed, n, SHAPE, keep_arrays=False)
    selection = build_timeline([patient.dicom_dir])
    labels = FileLabels([tp.labels_path for tp in patient.timepoints])
    outcome = run_tracking(selection, labels, tmp_path / f"out{seed}",
                           TrackingOptions(registration="rigid", reports=False),
                           inputs=(patient.dicom_dir,))
    evaluation = evaluate(patient, outcome, segmented=False)
    evaluation["registrations"] = [r.status for r in outcome.report.registrations]
    evaluation["events"] = [e.kind for e in outcome.report.events]
    return evaluation


@pytest.mark.slow
@pytest.mark.parametrize("group", range(GROUPS))
def test_links_and_recist_over_generated_patients(tmp_path, group) -> None:
    made = correct = truth = recovered = 0
    disagreements = []
    kinds: set[str] = set()
    for seed in range(500 + group * PER_GROUP, 500 + (group + 1) * PER_GROUP):
        ev = _one(tmp_path, seed)
        assert "failed" not in ev["registrations"], (seed, ev["registrations"])
        links = ev["links"]
        made += links["links_made"]
        correct += links["links_correct"]
        truth += links["truth_links_detectable"]
        recovered += links["truth_links_recovered"]
        recist = ev["recist"]
        assert "per_timepoint" in recist, (seed, recist)
        disagreements += [(seed, r) for r in recist["per_timepoint"]
                          if r["timepoint"] > 1 and r["run"] != r["truth"]]
        kinds.update(ev["events"])
    precision, recall = correct / made, recovered / truth
    print(f"group {group}: {correct}/{made} links correct, {recovered}/{truth} true links found; "
          f"events {sorted(kinds)}")
    assert precision >= 0.98 and recall >= 0.98, (precision, recall)
    assert not disagreements, disagreements
    assert {"new", "vanished"} & kinds  # the cohort exercises more than plain matches
