"""The reader's plan of a tracking run before it starts: studies, baseline, series, output.

The viewer's Timeline dock shows, per patient of a :class:`DicomIndex`, the studies by date
with the series :func:`~interval.longitudinal.timeline.build_timeline` would use and why
(:func:`plan_patients`); the reader leaves studies out, picks the baseline and swaps series
(:class:`ReaderChoice`), and :func:`build_selection` turns that into the
:class:`~interval.longitudinal.timeline.TimelineSelection` the pipeline runs on:
``build_timeline`` over the index restricted to the studies kept, with the reader's series
as overrides and the baseline's date.  Studies the reader left out are named in the
timeline's warnings, so the report says so.

:func:`default_output_folder` proposes where the results go: beside the scanned folder
(``<folder>-interval/<patient>``), else in the user's documents; never inside the input
(the rule of :mod:`.output_folder`), never a folder holding someone else's files.

No Qt here; headers only (no pixels are read).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from interval.io.dicom.records import DicomIndex
from interval.longitudinal.output_folder import MARKER
from interval.longitudinal.timeline import (
    NO_ID,
    TimelineError,
    TimelineSelection,
    build_timeline,
)
from interval.longitudinal.timeline_series import Candidate


@dataclass(frozen=True)
class SeriesOption:
    """One series (stack) a timepoint may use, as the reader sees it."""

    stack_uid: str
    series_number: int | None
    description: str
    modality: str
    slices: int
    thickness_mm: float  # the slice spacing the choice rule uses
    orientation: str
    series_uid: str = ""  # its Series Instance UID (a series may hold several stacks)

    def text(self) -> str:
        """``#3 Thorax 1 mm · CT · 300 slices · 1.0 mm · axial``."""
        number = f"#{self.series_number}" if self.series_number is not None else "#?"
        desc = f" {self.description}" if self.description else ""
        plane = f" · {self.orientation}" if self.orientation else ""
        return (f"{number}{desc} · {self.modality or '?'} · {self.slices} slices · "
                f"{_mm(self.thickness_mm)} mm{plane}")


@dataclass(frozen=True)
class StudyOption:
    """One dated study of the patient with the series it may use."""

    study_uid: str
    date: dt.date
    time: str
    description: str
    options: tuple[SeriesOption, ...]
    default_stack: str  # the stack the rule picks
    reason: str  # the rule's reason for it

    def option(self, stack_uid: str) -> SeriesOption | None:
        return next((o for o in self.options if o.stack_uid == stack_uid), None)


@dataclass
class PatientPlan:
    """A patient's studies in timeline order (only those with a usable series)."""

    patient_id: str  # as ``build_timeline(patient_id=)`` takes it
    name: str
    studies: list[StudyOption] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def label(self) -> str:
        """``Doe John (12345)`` (the ID alone when there is no name)."""
        name = self.name.replace("^", " ").strip()
        shown = "" if self.patient_id == NO_ID else self.patient_id
        if name and shown:
            return f"{name} ({shown})"
        return name or shown or NO_ID

    def study(self, study_uid: str) -> StudyOption | None:
        return next((s for s in self.studies if s.study_uid == study_uid), None)


@dataclass
class ReaderChoice:
    """What the reader changed: studies left out, the baseline, series swapped."""

    excluded: set[str] = field(default_factory=set)  # study UIDs
    baseline: str | None = None  # study UID (None: the first study kept)
    series: dict[str, str] = field(default_factory=dict)  # study UID -> stack uid


def plan_patients(index: DicomIndex, *, cancel=None) -> list[PatientPlan]:  # noqa: ANN001
    """Every patient of ``index`` holding images, with the timeline the rule would build.

    A patient whose studies cannot be put on a timeline (no date...) gets no studies and
    the reason as its warning.
    """
    plans: list[PatientPlan] = []
    for patient_id, name in _patients(index):
        try:
            selection = build_timeline([index.root], patient_id=patient_id, index=index,
                                       cancel=cancel)
        except TimelineError as exc:
            plans.append(PatientPlan(patient_id, name, [], [str(exc)]))
            continue
        plans.append(_plan_of(patient_id, name, selection))
    return plans


def used_studies(plan: PatientPlan, choice: ReaderChoice) -> list[StudyOption]:
    """The studies the run will track, oldest first: kept, from the baseline on."""
    kept = [s for s in plan.studies if s.study_uid not in choice.excluded]
    uids = [s.study_uid for s in plan.studies]
    if choice.baseline in uids:
        start = uids.index(choice.baseline)
        kept = [s for s in kept if uids.index(s.study_uid) >= start]
    return kept


def effective_baseline(plan: PatientPlan, choice: ReaderChoice) -> str | None:
    """The study UID that will be the baseline (None when no study is kept)."""
    used = used_studies(plan, choice)
    return used[0].study_uid if used else None


def chosen_stack(study: StudyOption, choice: ReaderChoice) -> str:
    """The stack uid the run uses for ``study`` (the reader's, else the rule's)."""
    wanted = choice.series.get(study.study_uid)
    return wanted if wanted and study.option(wanted) is not None else study.default_stack


def build_selection(plan: PatientPlan, choice: ReaderChoice, index: DicomIndex,
                    paths: Sequence[str | Path] = (), *, cancel=None  # noqa: ANN001
                    ) -> TimelineSelection:
    """The timeline of the reader's choice: ``build_timeline`` on the studies kept, with
    the swapped series as overrides.  Raises :class:`TimelineError` when nothing is kept."""
    used = used_studies(plan, choice)
    if not used:
        raise TimelineError("No study is selected: tick at least one study to track.")
    overrides = [chosen_stack(s, choice) for s in used
                 if chosen_stack(s, choice) != s.default_stack]
    selection = build_timeline(list(paths) or [index.root], patient_id=plan.patient_id,
                               index=restrict_index(index, {s.study_uid for s in used}),
                               series=overrides, baseline=used[0].date, cancel=cancel)
    got = [tp.study_instance_uid for tp in selection.timeline.timepoints]
    if got != [s.study_uid for s in used]:  # the restricted index must give exactly these
        raise TimelineError("The studies chosen could not all be placed on the timeline; "
                            "see the warnings.")
    selection.timeline.warnings.extend(_reader_notes(plan, choice, used))
    return selection


def restrict_index(index: DicomIndex, study_uids: set[str]) -> DicomIndex:
    """A copy of ``index`` holding only the studies ``study_uids`` (records are shared)."""
    patients = [dataclasses.replace(p, studies=[s for s in p.studies
                                                if s.study_instance_uid in study_uids])
                for p in index.patients]
    return DicomIndex(index.root, [p for p in patients if p.studies], [],
                      list(index.warnings))


def default_output_folder(folder: str | Path, patient_id: str, *,
                          fallback: str | Path | None = None) -> Path:
    """Where a run on ``folder`` writes by default: ``<folder>-interval/<patient>`` beside
    the scans when that is writable and outside them, else under ``fallback`` (default:
    the user's documents, ``Interval tracking``).  A folder holding files Interval did
    not write is skipped for ``<patient>-2``, ``-3``..."""
    source = Path(os.path.realpath(Path(folder).expanduser()))
    leaf = _safe(patient_id if patient_id != NO_ID else "") or "patient"
    bases = [source.parent / f"{source.name or 'scans'}-interval"]
    if fallback is None:
        import platformdirs

        fallback = platformdirs.user_documents_path() / "Interval tracking"
    bases.append(Path(fallback) / (_safe(source.name) or "scans"))
    for base in bases:
        if _inside(base, source) or not _writable(base):
            continue
        return _free(base / leaf)
    return _free(bases[-1] / leaf)


# --- helpers --------------------------------------------------------------------------------


def _patients(index: DicomIndex) -> list[tuple[str, str]]:
    """(ID for build_timeline, name) of every patient with an image, each once, sorted."""
    found: dict[str, str] = {}
    for p in index.patients:
        if any(se.stacks for st in p.studies for se in st.series):
            key = p.patient_id or NO_ID
            found[key] = found.get(key) or p.patient_name
    return sorted(found.items())


def _plan_of(patient_id: str, name: str, selection: TimelineSelection) -> PatientPlan:
    studies = []
    for tp, stack, candidates in zip(selection.timeline.timepoints, selection.stacks,
                                     selection.candidates, strict=True):
        options = tuple(_option(c) for c in _ordered(candidates))
        studies.append(StudyOption(
            tp.study_instance_uid, tp.study_date or dt.date.min, tp.study_time,
            tp.study_description, options, stack.uid, tp.series.reason))
    return PatientPlan(patient_id, name or selection.timeline.patient_name, studies,
                       list(selection.timeline.warnings))


def _ordered(candidates: Sequence[Candidate]) -> list[Candidate]:
    def key(c: Candidate) -> tuple:
        number = c.number if c.number is not None else 1 << 31
        return (number, c.stack.uid)

    return sorted(candidates, key=key)


def _option(c: Candidate) -> SeriesOption:
    return SeriesOption(c.stack.uid, c.number, c.series.series_description, c.modality,
                        c.slices, float(c.spacing[2]), c.orientation,
                        c.series.series_instance_uid)


def _reader_notes(plan: PatientPlan, choice: ReaderChoice, used: list[StudyOption]
                  ) -> list[str]:
    notes = []
    first = plan.studies.index(used[0])
    before = plan.studies[:first]
    if before:
        notes.append(f"{len(before)} study(ies) before the baseline chosen by the reader "
                     f"({used[0].date.isoformat()}) are left out.")
    left = [s for s in plan.studies[first:] if s.study_uid in choice.excluded]
    for s in left:
        notes.append(f"The study of {s.date.isoformat()} was left out by the reader.")
    return notes


def _safe(text: str) -> str:
    """A file-name-safe form of ``text`` (letters, digits, ``._-``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:64]


def _inside(path: Path, source: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == source or source in real.parents


def _writable(path: Path) -> bool:
    """Whether ``path`` exists as a writable folder or could be made in one."""
    for p in (path, *path.parents):
        if p.exists():
            return p.is_dir() and os.access(p, os.W_OK)
    return False


def _free(path: Path) -> Path:
    """``path`` or ``path-2``, ``path-3``... : the first that is new, empty or Interval's."""
    n = 1
    candidate = path
    while candidate.exists() and not (
            candidate.is_dir() and ((candidate / MARKER).exists()
                                    or not any(candidate.iterdir()))):
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _mm(value: float) -> str:
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text
