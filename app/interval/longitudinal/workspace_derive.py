"""The workspace's report re-derived from the automatic matching and the correction list.

:func:`derive` is what runs after every reader action: the whole correction list is
applied again to the *automatic* tracks and measurements (kept in ``workspace.json``), as
the pipeline does on a rerun (:func:`~.corrections.apply_corrections`,
:func:`~.corrections.apply_axis_corrections`), then RECIST 1.1 is assessed again
(:func:`~.recist.assess`).  Events are re-derived from the final tracks by the matcher's
own rule (:func:`~.matching._events`); without the component maps (not kept in the
output folder) the Dice overlap of an event is taken from the automatic event with the
same lesions' components, else left unknown.

:func:`recover_auto` finds the automatic matching of a report opened for the first time.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from interval.longitudinal import corrections as corr_mod
from interval.longitudinal.corrections import Correction
from interval.longitudinal.match_tracks import seen_timepoints
from interval.longitudinal.model import LongitudinalReport, MatchEvent, Track

_NO_OVERLAP = object()


@dataclass
class Derived:
    """The report after the corrections, and what the reader changed in it."""

    report: LongitudinalReport
    reader_links: set[tuple[str, int]] = field(default_factory=set)
    axis_changes: dict[tuple[int, int], dict[str, tuple[float, float]]] = field(
        default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def derive(base: LongitudinalReport, auto_tracks: Sequence[Track],
           auto_events: Sequence[MatchEvent], auto_measurements: Sequence[Any],
           corrections: Sequence[Correction], *, baked: int = 0) -> Derived:
    """``base`` (its timeline, registrations, forecasts...) with tracks, measurements,
    events, RECIST and the applied corrections re-derived from the automatic ones.

    The first ``baked`` corrections are already in ``auto_tracks`` (see
    :mod:`.workspace_store`): they are applied to the measurements and roles again (both
    idempotent) but not to the tracks.
    """
    from interval.longitudinal.recist import RecistRules, assess  # noqa: PLC0415

    report = copy.copy(base)
    warnings: list[str] = []
    axis = corr_mod.apply_axis_corrections(auto_measurements, corrections)
    measurements = axis.measurements
    index = {(m.timepoint, m.component): m for m in measurements}
    seed = base.timeline.timepoints[0].study_instance_uid if base.timeline.timepoints else ""
    outcome = corr_mod.apply_corrections(list(auto_tracks), index, list(corrections[baked:]),
                                         seed=seed)
    warnings.extend(outcome.warnings)
    times = sorted(tp.index for tp in base.timeline.timepoints)
    tracks = outcome.tracks
    for track in tracks:  # as match_lesions leaves them: every timepoint, in order
        for t in times:
            track.members.setdefault(t, [])
        track.members = dict(sorted(track.members.items()))
        if not seen_timepoints(track):
            warnings.append(f"{track.lesion_id} has no component at any timepoint.")
    tracks.sort(key=lambda tr: (int(tr.lesion_id[1:]) if tr.lesion_id[1:].isdigit() else 10**9,
                                tr.lesion_id))
    recist_warnings: list[str] = []
    tracks, table = assess(tracks, measurements, base.timeline,
                           registrations=base.registrations, corrections=list(corrections),
                           warnings=recist_warnings,
                           rules=RecistRules(equivocal_below=base.equivocal_below))
    warnings.extend(w for w in recist_warnings if w not in warnings)
    report.measurements = measurements
    report.tracks = tracks
    report.recist = table
    report.events = _events(tracks, measurements, times, auto_events, outcome.reader_links)
    report.corrections = _applied(corrections, baked, outcome.applied, axis.applied)
    report.warnings = [w for w in base.warnings if not w.startswith("Correction ")] + [
        w for w in warnings if w not in base.warnings]
    return Derived(report, outcome.reader_links, axis.changed, warnings)


def _applied(corrections: Sequence[Correction], baked: int, track_records: list[dict[str, Any]],
             axis_records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every correction as applied, in sidecar order (track and axis records joined)."""
    out: list[dict[str, Any]] = []
    tracks = iter(track_records)
    axes = iter(axis_records)
    for n, corr in enumerate(corrections):
        if corr.op in corr_mod.OPS_AXIS:
            out.append(next(axes))
            if n >= baked:
                next(tracks)  # the track applier only checked its anchor
        elif n < baked:
            out.append({**corr.to_dict(), "status": "applied",
                        "message": "applied before the workspace was opened"})
        else:
            out.append(next(tracks))
    return out


def _events(tracks: list[Track], measurements: Sequence[Any], times: list[int],
            auto_events: Sequence[MatchEvent], reader: set[tuple[str, int]]) -> list[MatchEvent]:
    from interval.longitudinal.matching import (  # noqa: PLC0415
        TimepointLesions,
        _events,
        _Matcher,
    )

    by_tp: dict[int, list[Any]] = {t: [] for t in times}
    for m in measurements:
        by_tp.setdefault(m.timepoint, []).append(m)
    matcher = _Matcher([TimepointLesions(t, ms) for t, ms in sorted(by_tp.items())],
                       0.0, 0.0, 0.0)
    events = _events(tracks, matcher, reader)
    known = {_key(e): e.overlap for e in auto_events}
    return [dataclasses.replace(e, overlap=known[_key(e)]) if _key(e) in known else e
            for e in events]


def _key(e: MatchEvent) -> tuple[Any, ...]:
    return (e.kind, e.from_timepoint, e.to_timepoint, e.components_from, e.components_to)


def recover_auto(report: LongitudinalReport, corrections: Sequence[Correction]
                 ) -> tuple[list[Track], list[MatchEvent], list[Any], int, list[str]]:
    """The automatic matching behind ``report``: (tracks, events, measurements, baked,
    warnings).

    A report made without corrections holds it as is.  A report made with corrections:
    the lesions are matched again by centroid (the component maps are not kept) and the
    result is used if the report's corrections turn it into exactly the report's tracks;
    otherwise the report's tracks are the starting point and its corrections are *baked*
    (kept, but they can no longer be undone here; a warning says so).
    """
    ops = [c for c in corrections]
    track_ops = [c for c in ops if c.op not in corr_mod.OPS_AXIS]
    measurements = list(report.measurements)
    if not report.corrections or not track_ops:
        return (copy.deepcopy(report.tracks), list(report.events), measurements, 0, [])
    from interval.longitudinal.matching import TimepointLesions, match_lesions  # noqa: PLC0415

    by_tp: dict[int, list[Any]] = {tp.index: [] for tp in report.timeline.timepoints}
    for m in measurements:
        by_tp.setdefault(m.timepoint, []).append(m)
    seed = report.timeline.timepoints[0].study_instance_uid if report.timeline.timepoints else ""
    plain = match_lesions([TimepointLesions(t, ms) for t, ms in sorted(by_tp.items())],
                          uid_seed=seed)
    again = match_lesions([TimepointLesions(t, ms) for t, ms in sorted(by_tp.items())],
                          uid_seed=seed, corrections=ops)
    if _same_tracks(again.tracks, report.tracks):
        return plain.tracks, plain.events, measurements, 0, []
    n = len(report.corrections)
    return (copy.deepcopy(report.tracks), list(report.events), measurements, n,
            [f"The first {n} correction(s) were made before this workspace kept the automatic "
             "matching; they stay applied and cannot be undone here."])


def _same_tracks(a: Sequence[Track], b: Sequence[Track]) -> bool:
    def shape(ts: Sequence[Track]) -> list[tuple[Any, ...]]:
        return sorted((t.lesion_id, tuple(sorted((k, tuple(v)) for k, v in t.members.items())),
                       tuple(sorted(t.merged_into.items()))) for t in ts)

    return shape(a) == shape(b)
