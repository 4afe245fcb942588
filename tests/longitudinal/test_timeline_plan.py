"""The reader's plan of a tracking run: patients, choices, the default output folder."""

from __future__ import annotations

import pytest

from interval.io.dicom.index import index_folder
from interval.io.synthetic.patient import generate_patient
from interval.longitudinal.output_folder import MARKER
from interval.longitudinal.timeline import TimelineError
from interval.longitudinal.timeline_plan import (
    ReaderChoice,
    build_selection,
    default_output_folder,
    plan_patients,
    restrict_index,
    used_studies,
)

SHAPE = (12, 32, 32)
SPACING = (12.0, 12.0, 29.0)


@pytest.fixture(scope="module")
def two_patients(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan") / "scans"
    a = generate_patient(root / "a", 1, 3, SHAPE, SPACING, keep_arrays=False,
                         ground_truth=False)
    b = generate_patient(root / "b", 2, 2, SHAPE, SPACING, keep_arrays=False,
                         ground_truth=False)
    return root, a, b, index_folder(root)


def test_every_patient_is_planned_with_its_studies_by_date(two_patients) -> None:
    _root, a, b, index = two_patients
    assert a.patient_id != b.patient_id
    plans = {p.patient_id: p for p in plan_patients(index)}
    assert set(plans) == {a.patient_id, b.patient_id}
    for patient in (a, b):
        plan = plans[patient.patient_id]
        assert [s.study_uid for s in plan.studies] == [
            tp.study_instance_uid for tp in patient.timepoints]
        assert [s.date for s in plan.studies] == [tp.study_date for tp in patient.timepoints]
        for study, tp in zip(plan.studies, patient.timepoints, strict=True):
            assert study.option(study.default_stack) is not None
            assert study.reason.startswith("axial CT")
            # each series option names its series (a saved choice finds it again by it)
            assert study.option(study.default_stack).series_uid == tp.series_instance_uid


def test_the_choice_becomes_the_timeline(two_patients) -> None:
    root, a, _b, index = two_patients
    plan = next(p for p in plan_patients(index) if p.patient_id == a.patient_id)
    uids = [tp.study_instance_uid for tp in a.timepoints]
    choice = ReaderChoice(excluded={uids[2]}, baseline=uids[1])
    assert [s.study_uid for s in used_studies(plan, choice)] == [uids[1]]
    selection = build_selection(plan, choice, index, [root])
    assert [tp.study_instance_uid for tp in selection.timeline.timepoints] == [uids[1]]
    notes = " ".join(selection.timeline.warnings)
    assert "before the baseline chosen by the reader" in notes
    assert "left out by the reader" in notes
    with pytest.raises(TimelineError, match="No study is selected"):
        build_selection(plan, ReaderChoice(excluded=set(uids)), index, [root])


def test_restrict_index_keeps_only_the_studies_named(two_patients) -> None:
    _root, a, _b, index = two_patients
    keep = {a.timepoints[0].study_instance_uid}
    small = restrict_index(index, keep)
    assert [st.study_instance_uid for p in small.patients for st in p.studies] == list(keep)
    assert sum(len(p.studies) for p in index.patients) == 5  # the original is untouched


def test_default_output_folder_is_beside_the_scans_and_never_someone_elses(tmp_path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    out = default_output_folder(scans, "PAT 1/x", fallback=tmp_path / "docs")
    assert out == tmp_path / "scans-interval" / "PAT_1_x"
    out.mkdir(parents=True)
    (out / "thesis.docx").write_text("mine")  # another's files: the next name is used
    assert default_output_folder(scans, "PAT 1/x", fallback=tmp_path / "docs") == \
        out.with_name("PAT_1_x-2")
    (out / MARKER).write_text("")  # an earlier run's folder is reused
    assert default_output_folder(scans, "PAT 1/x", fallback=tmp_path / "docs") == out


def test_default_output_folder_falls_back_when_beside_is_not_writable(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    parent = tmp_path / "readonly"
    scans = parent / "scans"
    scans.mkdir(parents=True)
    real_access = os.access
    monkeypatch.setattr(os, "access",  # as for a user without write access (tests run as root)
                        lambda p, mode: False if str(p).startswith(str(parent))
                        else real_access(p, mode))
    assert default_output_folder(scans, "P", fallback=tmp_path / "docs") == \
        tmp_path / "docs" / "scans" / "P"


def test_default_output_folder_is_never_inside_the_scans(tmp_path) -> None:
    # beside the root of the file system is inside it: the fallback is used
    out = default_output_folder("/", "P", fallback=tmp_path / "docs")
    assert out == tmp_path / "docs" / "scans" / "P"
