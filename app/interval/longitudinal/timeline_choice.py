"""The reader's timeline choice, kept with the results: saved on *Track*, restored later.

When a run of the Timeline dock finishes, the choice it ran on (the studies ticked, the
baseline, the series the reader swapped, the registration options, the folders) is kept in
the output folder's ``workspace.json``, under the session key :data:`CHOICE_KEY` (the
workspace window's own keys are left as they are; see :mod:`.workspace_store`)::

    {"schema": 1, "patient_id": "...", "scans": "/the/scanned/folder",
     "output": "/the/results", "baseline": "<study UID or null>",
     "registration": "rigid", "forecast": true,
     "studies": [{"study_uid": "...", "date": "2024-01-31", "included": true,
                  "reader_series": false, "stack_uid": "...", "series_uid": "...",
                  "series_number": 3, "series": "#3 Thorax · CT · ..."}, ...]}

When the dock shows that patient again with that output folder, :func:`apply_choice` maps
the saved choice onto the patient's current plan: a study no longer listed, or a swapped
series no longer offered (matched by stack uid, else by Series Instance UID), is skipped
with a note for the reader; a damaged file or entry is ignored with a note, never raised.

No Qt here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interval.core.errors import IntervalError
from interval.longitudinal.pipeline import REGISTRATION_METHODS
from interval.longitudinal.timeline_plan import (
    PatientPlan,
    ReaderChoice,
    StudyOption,
    chosen_stack,
    used_studies,
)
from interval.longitudinal.workspace_store import (
    WORKSPACE_JSON,
    WorkspaceError,
    load_state,
    save_state,
)

CHOICE_KEY = "timeline_choice"
CHOICE_SCHEMA = 1


class ChoiceError(IntervalError):
    """A saved timeline choice that cannot be read (the caller ignores it with a note)."""


@dataclass(frozen=True)
class SavedStudy:
    """One study of the saved choice."""

    study_uid: str
    date: str  # ISO date, for the notes
    included: bool  # ticked (a study before the baseline may be ticked)
    reader_series: bool  # the reader swapped the rule's series for ``stack_uid``
    stack_uid: str  # the stack the run used
    series_uid: str = ""
    series_number: int | None = None
    series: str = ""  # the series as the dock showed it, for the notes


@dataclass(frozen=True)
class SavedChoice:
    """The reader's choice of one run (see the module text)."""

    patient_id: str
    scans: str
    output: str
    baseline: str | None  # the study the reader made the baseline (None: the first ticked)
    studies: tuple[SavedStudy, ...]
    registration: str
    forecast: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {"schema": CHOICE_SCHEMA, "patient_id": self.patient_id, "scans": self.scans,
                "output": self.output, "baseline": self.baseline,
                "registration": self.registration, "forecast": self.forecast,
                "studies": [{"study_uid": s.study_uid, "date": s.date, "included": s.included,
                             "reader_series": s.reader_series, "stack_uid": s.stack_uid,
                             "series_uid": s.series_uid, "series_number": s.series_number,
                             "series": s.series} for s in self.studies]}

    @classmethod
    def from_dict(cls, data: Any) -> SavedChoice:
        """Read :meth:`to_dict`'s form; raises :class:`ChoiceError` when it is not."""
        try:
            if not isinstance(data, dict):
                raise TypeError("not an object")
            schema = data.get("schema")
            if not isinstance(schema, int) or isinstance(schema, bool) or schema > CHOICE_SCHEMA:
                raise ValueError(f"schema {schema!r}")
            studies = tuple(_study(s) for s in _list(data["studies"]))
            baseline = data.get("baseline")
            return cls(patient_id=_str(data["patient_id"]), scans=_str(data.get("scans", "")),
                       output=_str(data.get("output", "")),
                       baseline=None if baseline is None else _str(baseline),
                       studies=studies, registration=_str(data.get("registration", "")),
                       forecast=_bool(data.get("forecast", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ChoiceError(f"the saved timeline choice is damaged ({exc})") from None


@dataclass
class Restored:
    """What :func:`apply_choice` gives the dock: the choice on the current plan, the
    registration options to set (None: keep the dock's) and the notes for the reader."""

    choice: ReaderChoice
    registration: str | None
    forecast: bool | None
    notes: list[str]


def choice_of(plan: PatientPlan, choice: ReaderChoice, *, scans: str | Path,
              output: str | Path, registration: str, forecast: bool) -> SavedChoice:
    """The saved form of the reader's ``choice`` on ``plan``."""
    studies = []
    for study in plan.studies:
        stack = chosen_stack(study, choice)
        option = study.option(stack)
        studies.append(SavedStudy(
            study.study_uid, study.date.isoformat(), study.study_uid not in choice.excluded,
            stack != study.default_stack, stack,
            option.series_uid if option else "", option.series_number if option else None,
            option.text() if option else ""))
    baseline = choice.baseline if plan.study(choice.baseline or "") is not None else None
    return SavedChoice(plan.patient_id, str(scans), str(output), baseline, tuple(studies),
                       registration, bool(forecast))


def apply_choice(plan: PatientPlan, saved: SavedChoice) -> Restored:
    """``saved`` mapped onto ``plan``: what is no longer there is skipped with a note."""
    if saved.patient_id != plan.patient_id:
        return Restored(ReaderChoice(), None, None,
                        ["The results folder holds the choice saved for another patient: "
                         "it is not used."])
    notes: list[str] = []
    choice = ReaderChoice()
    saved_uids = {s.study_uid for s in saved.studies}
    for s in saved.studies:
        study = plan.study(s.study_uid)
        if study is None:
            notes.append(f"The study of {s.date or 'an unknown date'} saved in the choice is "
                         "no longer listed: it is skipped.")
            continue
        if not s.included:
            choice.excluded.add(study.study_uid)
        if s.reader_series:
            stack = _match_series(study, s)
            if stack is None:
                shown = s.series or (f"#{s.series_number}" if s.series_number is not None
                                     else "chosen")
                notes.append(f"The series {shown} chosen for the study of {s.date} is no "
                             "longer there: the rule's series is used.")
            elif stack != study.default_stack:
                choice.series[study.study_uid] = stack
    if saved.baseline is not None:
        if plan.study(saved.baseline) is not None:
            choice.baseline = saved.baseline
            choice.excluded.discard(saved.baseline)
        else:
            notes.append("The baseline saved in the choice is no longer listed: the first "
                         "study ticked is the baseline.")
    used = {s.study_uid for s in used_studies(plan, choice)}
    for study in plan.studies:
        if study.study_uid not in saved_uids:
            state = "it is tracked" if study.study_uid in used else "it is left out"
            notes.append(f"The study of {study.date.isoformat()} is new since the choice was "
                         f"saved: {state}.")
    registration: str | None = saved.registration
    if registration not in REGISTRATION_METHODS:
        if registration:
            notes.append(f"The registration saved ({registration}) is not offered: the "
                         "dock's is kept.")
        registration = None
    return Restored(choice, registration, saved.forecast, notes)


def save_choice(out_dir: str | Path, saved: SavedChoice) -> list[str]:
    """Keep ``saved`` in ``out_dir``'s ``workspace.json`` session (atomically; the other
    session keys are kept).  The folder must hold the run's ``report.json`` when there is
    no readable ``workspace.json`` yet (it is then made from the report, as the workspace
    does on its first open).  Returns notes for the reader; raises :class:`IntervalError`
    subclasses when it cannot be saved."""
    out = Path(out_dir)
    path = out / WORKSPACE_JSON
    try:
        state = load_state(path)
    except WorkspaceError:
        state = None
        damaged = True
    else:
        damaged = False
    if state is not None:
        state.session = {**state.session, CHOICE_KEY: saved.to_dict()}
        save_state(path, state)
        return []
    from interval.longitudinal.workspace import LongitudinalWorkspace  # noqa: PLC0415

    workspace = LongitudinalWorkspace.open(out)  # writes workspace.json from the report
    session = workspace.session
    session[CHOICE_KEY] = saved.to_dict()
    workspace.save_session(session)
    return list(workspace.open_warnings) if damaged else []


def load_choice(out_dir: str | Path) -> tuple[SavedChoice | None, list[str]]:
    """The choice saved in ``out_dir`` (None when there is none) and notes for the reader
    (a damaged file or entry is ignored with a note; nothing is raised)."""
    path = Path(out_dir) / WORKSPACE_JSON
    try:
        if not path.is_file():
            return None, []
        state = load_state(path)
    except (OSError, WorkspaceError) as exc:
        return None, [f"The results folder's workspace file cannot be used ({exc}): no "
                      "saved choice is restored."]
    data = state.session.get(CHOICE_KEY) if state is not None else None
    if data is None:
        return None, []
    try:
        return SavedChoice.from_dict(data), []
    except ChoiceError as exc:
        return None, [f"{str(exc)[:1].upper()}{str(exc)[1:]}: it is not used."]


def _match_series(study: StudyOption, s: SavedStudy) -> str | None:
    """The stack of ``study`` the saved series is now: the same stack uid, else the only
    stack of the same series."""
    if study.option(s.stack_uid) is not None:
        return s.stack_uid
    same = [o for o in study.options if s.series_uid and o.series_uid == s.series_uid]
    return same[0].stack_uid if len(same) == 1 else None


def _study(data: Any) -> SavedStudy:
    if not isinstance(data, dict):
        raise TypeError("a study is not an object")
    number = data.get("series_number")
    if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
        raise TypeError("series_number is not a number")
    date = _str(data.get("date", ""))
    if date:
        dt.date.fromisoformat(date)  # raises ValueError
    return SavedStudy(_str(data["study_uid"]), date, _bool(data.get("included", True)),
                      _bool(data.get("reader_series", False)), _str(data.get("stack_uid", "")),
                      _str(data.get("series_uid", "")), number, _str(data.get("series", "")))


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError("studies is not a list")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{type(value).__name__} where text is expected")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{type(value).__name__} where true/false is expected")
    return value
