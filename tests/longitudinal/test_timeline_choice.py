"""The reader's timeline choice kept with the results: form, matching, workspace.json."""

from __future__ import annotations

import dataclasses
import json

import pytest

from interval.core.errors import IntervalError
from interval.io.dicom.index import index_folder
from interval.io.synthetic.patient import generate_patient
from interval.longitudinal.timeline_choice import (
    CHOICE_KEY,
    SavedChoice,
    apply_choice,
    choice_of,
    load_choice,
    save_choice,
)
from interval.longitudinal.timeline_plan import (
    ReaderChoice,
    SeriesOption,
    plan_patients,
    used_studies,
)
from interval.longitudinal.workspace_store import (
    WORKSPACE_JSON,
    WorkspaceState,
    load_state,
    save_state,
)

SHAPE = (12, 32, 32)
SPACING = (12.0, 12.0, 29.0)


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    root = tmp_path_factory.mktemp("choice") / "scans"
    generate_patient(root, 1, 3, SHAPE, SPACING, keep_arrays=False, ground_truth=False)
    (plan,) = plan_patients(index_folder(root))
    assert len(plan.studies) == 3
    return plan


def _with_second_series(plan):
    """The plan with a second (made-up) stack offered for the middle study."""
    middle = plan.studies[1]
    extra = SeriesOption("extra-stack", 99, "extra", "CT", 6, 58.0, "axial", "extra-series")
    studies = list(plan.studies)
    studies[1] = dataclasses.replace(middle, options=(*middle.options, extra))
    return dataclasses.replace(plan, studies=studies)


def _saved(plan, choice):
    return choice_of(plan, choice, scans="/scans", output="/out", registration="rigid",
                     forecast=False)


def test_the_choice_round_trips_through_plain_json(plan) -> None:
    plan = _with_second_series(plan)
    uids = [s.study_uid for s in plan.studies]
    choice = ReaderChoice(excluded={uids[0]}, baseline=uids[1],
                          series={uids[1]: "extra-stack"})
    saved = _saved(plan, choice)
    data = json.loads(json.dumps(saved.to_dict()))
    again = SavedChoice.from_dict(data)
    assert again == saved
    assert data["studies"][1]["series_uid"] == "extra-series"
    restored = apply_choice(plan, again)
    assert restored.notes == []
    assert restored.choice == choice
    assert (restored.registration, restored.forecast) == ("rigid", False)
    assert used_studies(plan, restored.choice) == plan.studies[1:]


def test_what_is_no_longer_there_is_skipped_with_a_note(plan) -> None:
    full = _with_second_series(plan)
    uids = [s.study_uid for s in full.studies]
    saved = _saved(full, ReaderChoice(excluded={uids[2]}, baseline=uids[0],
                                      series={uids[1]: "extra-stack"}))
    # now: the first study is gone, the extra series too, the last study still unticked
    now = dataclasses.replace(plan, studies=plan.studies[1:])
    restored = apply_choice(now, saved)
    assert restored.choice.excluded == {uids[2]}
    assert restored.choice.series == {}
    assert restored.choice.baseline is None
    text = "\n".join(restored.notes)
    assert f"study of {full.studies[0].date.isoformat()} saved in the choice is no longer" in text
    assert "#99 extra" in text and "no longer there: the rule's series is used" in text
    assert "baseline saved in the choice is no longer listed" in text
    assert [s.study_uid for s in used_studies(now, restored.choice)] == [uids[1]]


def test_a_series_is_found_again_by_its_uid_and_new_studies_are_named(plan) -> None:
    full = _with_second_series(plan)
    uids = [s.study_uid for s in full.studies]
    saved = _saved(full, ReaderChoice(series={uids[1]: "extra-stack"}))
    saved = dataclasses.replace(saved, studies=saved.studies[1:])  # saved before study 1
    renamed = dataclasses.replace(full.studies[1].options[-1], stack_uid="extra-stack-2")
    studies = list(full.studies)
    studies[1] = dataclasses.replace(studies[1], options=(*studies[1].options[:-1], renamed))
    restored = apply_choice(dataclasses.replace(full, studies=studies), saved)
    assert restored.choice.series == {uids[1]: "extra-stack-2"}
    assert restored.notes == [f"The study of {full.studies[0].date.isoformat()} is new since "
                              "the choice was saved: it is tracked."]


def test_another_patients_choice_is_not_applied(plan) -> None:
    saved = dataclasses.replace(_saved(plan, ReaderChoice(excluded={plan.studies[0].study_uid})),
                                patient_id="someone else")
    restored = apply_choice(plan, saved)
    assert restored.choice == ReaderChoice()
    assert "another patient" in restored.notes[0]


def test_saving_keeps_the_other_session_keys_and_the_fingerprint(plan, tmp_path) -> None:
    layout = {"geometry": "abc", "columns": [1, 2]}
    save_state(tmp_path / WORKSPACE_JSON,
               WorkspaceState("fp", [], [], [], 0, {"workspace_window": layout}))
    saved = _saved(plan, ReaderChoice(excluded={plan.studies[2].study_uid}))
    assert save_choice(tmp_path, saved) == []
    state = load_state(tmp_path / WORKSPACE_JSON)
    assert state.report_fingerprint == "fp"
    assert state.session["workspace_window"] == layout
    assert state.session[CHOICE_KEY] == saved.to_dict()
    assert load_choice(tmp_path) == (saved, [])
    assert not list(tmp_path.glob("*.tmp*"))


def test_without_a_workspace_file_it_needs_the_report(plan, tmp_path) -> None:
    with pytest.raises(IntervalError, match="report.json"):
        save_choice(tmp_path, _saved(plan, ReaderChoice()))
    assert not (tmp_path / WORKSPACE_JSON).exists()


def test_damaged_files_and_entries_are_ignored_with_a_note(plan, tmp_path) -> None:
    assert load_choice(tmp_path) == (None, [])
    path = tmp_path / WORKSPACE_JSON
    path.write_text("{ not json", encoding="utf-8")
    saved, notes = load_choice(tmp_path)
    assert saved is None and "workspace file cannot be used" in notes[0]
    save_state(path, WorkspaceState("fp", [], [], [], 0,
                                    {CHOICE_KEY: {"schema": 1, "studies": "no"}}))
    saved, notes = load_choice(tmp_path)
    assert saved is None and "saved timeline choice is damaged" in notes[0]
    save_state(path, WorkspaceState("fp", [], [], [], 0, {"workspace_window": {}}))
    assert load_choice(tmp_path) == (None, [])
