"""Pipeline step 1: the studies of one patient in date order, one series per timepoint.

:func:`build_timeline` indexes the folders given (headers only), groups the studies by
Patient ID (``id_map`` merges IDs that mean the same patient; a folder holding several
patients is refused unless ``patient_id`` chooses one), orders them by study date and time
and picks one series per study with the rule of :mod:`.timeline_series` (the modality found
in most studies, then axial, thinnest slices, most slices, lowest series number), or the
reader's choice (``series``).  Each choice carries its reason.

Ordering: by StudyDate and StudyTime (a missing time sorts first on its day, and two studies
of one day without times are ordered by their acquisition times, else their study UIDs, with
a warning).  A study without StudyDate takes the SeriesDate of its series, with a warning; a
study without any date cannot be placed on the timeline and is left out, with a warning
(guessing its place would silently mix up baseline and follow-ups).

Every study is its own timepoint, even two on the same day; the same study found in two
folders is one timepoint (the index merges by Study Instance UID).

Logging reports counts only: patient names and IDs never reach a log.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from interval.core.errors import IntervalError, UnreadableFile
from interval.core.jobs import CancelFn, ProgressFn, check_cancel
from interval.core.volume import Volume
from interval.io.dicom.index import index_files, index_folder
from interval.io.dicom.load import load_stack, load_stack_slices
from interval.io.dicom.policy import DEFAULT_POLICY, DicomReadPolicy
from interval.io.dicom.records import (
    DicomIndex,
    ImageStack,
    PatientRecord,
    SeriesRecord,
    StudyRecord,
)
from interval.longitudinal.model import Timeline, TimepointInfo
from interval.longitudinal.timeline_series import (
    Candidate,
    analyse_candidate,
    choose,
    preferred_modality,
    rank_key,
    series_choice,
    study_candidates,
)

log = logging.getLogger(__name__)

NO_ID = "(no patient ID)"


class TimelineError(IntervalError):
    """The data cannot give one patient's timeline (no patient, no image, bad choice)."""


class SeveralPatients(TimelineError):
    """The folders hold several patients and none was chosen; ``patient_ids`` lists them."""

    def __init__(self, message: str, *, patient_ids: Sequence[str]) -> None:
        super().__init__(message)
        self.patient_ids = list(patient_ids)


@dataclass
class TimelineSelection:
    """The timeline and, per timepoint, the chosen stack (to load it, or to cite its files)."""

    timeline: Timeline
    stacks: list[ImageStack]
    index: DicomIndex
    policy: DicomReadPolicy = DEFAULT_POLICY
    candidates: list[list[Candidate]] = field(default_factory=list)  # per timepoint

    def __len__(self) -> int:
        return len(self.stacks)

    def stack(self, i: int) -> ImageStack:
        """The index record of timepoint ``i``'s chosen stack."""
        return self.stacks[i]

    def load(self, i: int, *, progress: ProgressFn | None = None,
             cancel: CancelFn | None = None) -> Volume:
        """Timepoint ``i``'s volume (raises the loader's typed errors, e.g. irregular slices)."""
        return load_stack(self.stacks[i], self.policy, progress=progress, cancel=cancel)

    def load_slices(self, i: int, slices: Sequence[int], *,
                    cancel: CancelFn | None = None) -> Volume:
        """Timepoint ``i``'s volume with only the array slices ``slices`` read (the others
        zero); empty ``slices``: its grid and metadata without reading pixels."""
        return load_stack_slices(self.stacks[i], slices, self.policy, cancel=cancel)

    def files(self, i: int) -> list[Path]:
        """The DICOM files of timepoint ``i``'s chosen stack (sorted, each once)."""
        return sorted({Path(f.header.path) for f in self.stacks[i].frames})


def build_timeline(
    paths: Sequence[str | Path],
    *,
    patient_id: str | None = None,
    id_map: Mapping[str, str] | None = None,
    series: Sequence[str] | None = None,
    baseline: dt.date | None = None,
    policy: DicomReadPolicy | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    index: DicomIndex | None = None,
) -> TimelineSelection:
    """The timeline of one patient from ``paths`` (folders or files; or a ready ``index``).

    ``id_map`` maps Patient IDs as found to the ID they stand for (merging them);
    ``patient_id`` chooses a patient (as found or as mapped); ``series`` items override the
    choice per timepoint: a Series Instance UID, an Interval stack uid or a series number
    (an item applies to every study holding a match); ``baseline``: studies before this
    date are left out (with a warning), the first remaining one is the baseline.

    Raises :class:`SeveralPatients`, :class:`TimelineError` (no images, no dated study, a
    ``patient_id`` or ``series`` item that matches nothing, an override that cannot be
    loaded), :class:`~interval.core.errors.UnreadableFile` (a path that does not exist) and
    :class:`~interval.core.errors.Cancelled`.  One timepoint is not an error.
    """
    policy = policy or DEFAULT_POLICY
    if index is None:
        index = _index(paths, policy, progress, cancel)
    check_cancel(cancel)
    warnings: list[str] = []
    records, chosen_id = _patient(index, patient_id, dict(id_map or {}))
    studies = _merge_studies(records)
    dated = _dated_studies(studies, warnings)
    if not dated:
        raise TimelineError("None of this patient's studies has a date (StudyDate or "
                            "SeriesDate), so they cannot be put in order.")
    if baseline is not None:
        dated = _from_baseline(dated, baseline, warnings)
    selection = _choose_series(dated, series or [], policy, warnings)
    check_cancel(cancel)
    timepoints, stacks, considered = [], [], []
    first_date = selection[0][1] if selection else None
    for n, (study, date, chosen, reason, cands) in enumerate(selection):
        timepoints.append(TimepointInfo(
            index=n, label="baseline" if n == 0 else f"follow-up {n}",
            study_instance_uid=study.study_instance_uid, study_date=date,
            study_time=study.study_time,
            days_from_baseline=(date - first_date).days if first_date else None,
            series=series_choice(chosen, reason, len(cands)),
            accession_number=study.accession_number, study_description=study.study_description,
            source=_source(chosen.stack, paths, index),
        ))
        stacks.append(chosen.stack)
        considered.append(cands)
    first = records[0]
    timeline = Timeline(
        patient_id=chosen_id if chosen_id != NO_ID else "",
        patient_name=next((r.patient_name for r in records if r.patient_name), ""),
        timepoints=timepoints,
        patient_birth_date=next((r.patient_birth_date for r in records if r.patient_birth_date),
                                first.patient_birth_date),
        patient_sex=next((r.patient_sex for r in records if r.patient_sex), ""),
        warnings=warnings,
    )
    log.info("timeline: %d studies, %d timepoints, %d warnings", len(studies), len(timepoints),
             len(warnings))
    return TimelineSelection(timeline, stacks, index, policy, considered)


# --- steps -------------------------------------------------------------------------------


def _index(paths: Sequence[str | Path], policy: DicomReadPolicy, progress: ProgressFn | None,
           cancel: CancelFn | None) -> DicomIndex:
    items = [Path(p) for p in paths]
    if not items:
        raise TimelineError("No folder or file was given.")
    if len(items) == 1 and items[0].is_dir():
        return index_folder(items[0], policy, progress=progress, cancel=cancel)
    for p in items:
        if not p.exists():
            raise UnreadableFile("folder or file not found", path=p)
    return index_files(items, policy=policy, progress=progress, cancel=cancel)


def _patient(index: DicomIndex, wanted: str | None, id_map: dict[str, str]
             ) -> tuple[list[PatientRecord], str]:
    """The records of the chosen patient (merged through ``id_map``) and its ID."""
    groups: dict[str, list[PatientRecord]] = {}
    for p in index.patients:
        if any(se.stacks for st in p.studies for se in st.series):
            key = id_map.get(p.patient_id, p.patient_id) or NO_ID
            groups.setdefault(key, []).append(p)
    if not groups:
        detail = " ".join(index.warnings[:2])
        raise TimelineError("No DICOM images were found" + (f": {detail}" if detail else "."))
    ids = sorted(groups)
    if wanted is not None:
        key = id_map.get(wanted, wanted) or NO_ID
        if key not in groups:
            raise TimelineError(f"No patient with ID {wanted!r} here; the IDs found are: "
                                f"{', '.join(ids)}.")
        return groups[key], key
    if len(groups) > 1:
        raise SeveralPatients(
            f"These folders hold {len(groups)} patients (IDs: {', '.join(ids)}); choose one "
            "(--patient ID), or map IDs that belong to the same patient onto one.",
            patient_ids=ids)
    return groups[ids[0]], ids[0]


def _merge_studies(records: Sequence[PatientRecord]) -> list[StudyRecord]:
    """The studies of all ``records``; one study under two IDs is merged into one."""
    by_uid: dict[str, StudyRecord] = {}
    for record in records:
        for study in record.studies:
            if not any(se.stacks for se in study.series):
                continue
            if study.study_instance_uid in by_uid:
                by_uid[study.study_instance_uid].series.extend(study.series)
            else:
                by_uid[study.study_instance_uid] = StudyRecord(
                    study.study_instance_uid, study.study_date, study.study_time,
                    study.study_description, study.accession_number, list(study.series))
    return list(by_uid.values())


def _dated_studies(studies: Sequence[StudyRecord], warnings: list[str]
                   ) -> list[tuple[StudyRecord, dt.date]]:
    """Studies with their dates, oldest first (see the module text for the rules)."""
    out: list[tuple[StudyRecord, dt.date]] = []
    for study in studies:
        date = study.study_date
        if date is None:
            series_dates = sorted(h.series_date for se in study.series for s in se.stacks
                                  for h in (s.first,) if h.series_date is not None)
            if series_dates:
                date = series_dates[0]
                warnings.append(f"A study ({_describe(study)}) has no study date; the date of "
                                f"its series, {date.isoformat()}, is used.")
            else:
                warnings.append(f"A study ({_describe(study)}) has no date at all and is left "
                                "out: its place on the timeline is unknown.")
                continue
        out.append((study, date))
    out.sort(key=lambda sd: (sd[1], _time_key(sd[0].study_time), _acquisition(sd[0]),
                             sd[0].study_instance_uid))
    for (a, da), (b, db) in zip(out, out[1:], strict=False):
        if da == db and not (a.study_time and b.study_time):
            warnings.append(f"Two studies of {da.isoformat()} lack a study time; they are "
                            "ordered by acquisition time (or study UID).")
    return out


def _from_baseline(dated: list[tuple[StudyRecord, dt.date]], baseline: dt.date,
                   warnings: list[str]) -> list[tuple[StudyRecord, dt.date]]:
    kept = [(s, d) for s, d in dated if d >= baseline]
    dropped = len(dated) - len(kept)
    if dropped:
        warnings.append(f"{dropped} study(ies) before the baseline date {baseline.isoformat()} "
                        "are left out.")
    if not kept:
        raise TimelineError(f"No study on or after the baseline date {baseline.isoformat()}; "
                            f"the latest is of {dated[-1][1].isoformat()}.")
    return kept


def _choose_series(dated: list[tuple[StudyRecord, dt.date]], overrides: Sequence[str],
                   policy: DicomReadPolicy, warnings: list[str]) -> list[tuple]:
    """Per dated study: (study, date, chosen candidate, reason, candidates considered)."""
    found = []
    for study, date in dated:
        candidates, rejected = study_candidates(study, policy)
        for r in rejected:
            warnings.append(f"Study of {date.isoformat()}: {_series_label(r.series)} is not "
                            f"used: {r.reason}.")
        for se in study.series:
            warnings.extend(f"Study of {date.isoformat()}: {_series_label(se)}: {w}"
                            for w in se.warnings if "could not be read" in w)
        found.append((study, date, candidates))
    modality = preferred_modality(c for _s, _d, c in found)
    used: set[str] = set()
    out = []
    for study, date, candidates in found:
        override = _override(study, date, overrides, policy, used)
        if override is not None:
            out.append((study, date, override[0], override[1], candidates or [override[0]]))
            continue
        if not candidates:
            warnings.append(f"The study of {date.isoformat()} ({_describe(study)}) has no image "
                            "series that can be loaded as a volume and is left out.")
            continue
        chosen, reason = choose(candidates, modality)
        out.append((study, date, chosen, reason, candidates))
    unused = [item for item in overrides if item not in used]
    if unused:
        raise TimelineError(f"No series matching {', '.join(repr(u) for u in unused)} was "
                            "found in this patient's studies (give a series UID, a stack uid "
                            "or a series number; `interval info` lists them).")
    return out


def _override(study: StudyRecord, date: dt.date, overrides: Sequence[str],
              policy: DicomReadPolicy, used: set[str]) -> tuple[Candidate, str] | None:
    """The reader's choice for ``study``: the first override item matching one of its stacks."""
    chosen: tuple[Candidate, str] | None = None
    for item in overrides:
        key = str(item).strip()
        matches = [(se, st) for se in study.series for st in se.stacks
                   if key in (st.uid, se.series_instance_uid)
                   or (key.isdigit() and se.series_number == int(key))]
        if not matches:
            continue
        used.add(item)
        if chosen is not None:
            continue
        results = [analyse_candidate(study, se, st, policy,
                                     not any("could not be read" in w for w in se.warnings))
                   for se, st in matches]
        good = [r for r in results if isinstance(r, Candidate)]
        if not good:
            raise TimelineError(f"The series chosen for the study of {date.isoformat()} "
                                f"({key!r}) cannot be used: {results[0]}.")
        best = sorted(good, key=rank_key)[0]
        chosen = best, f"{best.describe()}; chosen by the reader ({key!r})"
    return chosen


# --- small helpers -----------------------------------------------------------------------


def _time_key(study_time: str) -> str:
    digits = "".join(ch for ch in study_time if ch.isdigit() or ch == ".")
    return digits.ljust(6, "0") if digits else ""


def _acquisition(study: StudyRecord) -> str:
    times = [f.info.acquisition_time for se in study.series for st in se.stacks
             for f in st.frames[:1] if f.info.acquisition_time]
    return min(times) if times else ""


def _describe(study: StudyRecord) -> str:
    n = sum(len(se.stacks) > 0 for se in study.series)
    what = f'"{study.study_description}", ' if study.study_description else ""
    return f"{what}{n} image series"


def _series_label(series: SeriesRecord) -> str:
    number = f"series {series.series_number}" if series.series_number is not None else "a series"
    desc = f' "{series.series_description}"' if series.series_description else ""
    return number + desc


def _source(stack: ImageStack, paths: Sequence[str | Path], index: DicomIndex) -> str:
    """The path given that holds ``stack``'s first file (else the index root)."""
    first = Path(stack.first.path).resolve()
    for p in paths:
        root = Path(p).resolve()
        if first == root or root in first.parents:
            return str(p)
    return index.root
