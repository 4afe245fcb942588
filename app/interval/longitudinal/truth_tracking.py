"""The reference a tracking run of a synthetic patient is judged against.

Lesions are measured on the generator's truth label maps with the same extraction as
any run (:func:`interval.longitudinal.lesions.extract_lesions`), but followed across
time by their TRUE identities (the lesion-id maps) instead of by registration and
matching; RECIST 1.1 is then applied with the same rules.  Comparing a run's responses
with these tells whether registration and matching changed a clinical answer.
"""

from __future__ import annotations

from typing import Any

from interval.io.image_files import read_image
from interval.io.segmentation import load_segmentation
from interval.longitudinal.lesions import extract_lesions
from interval.longitudinal.match_eval import component_identities
from interval.longitudinal.model import LesionMeasurement, LongitudinalReport, Timeline, Track


def truth_tracks(identities: dict[int, dict[int, frozenset[int]]],
                 measurements: list[LesionMeasurement], n_timepoints: int) -> list[Track]:
    """One track per true lesion id; a region covering several lesions (a merge) belongs to
    all of them and counts for the largest (the others are ``merged_into`` it)."""
    size = {(m.timepoint, m.component): m.volume_ml for m in measurements}
    tracks: dict[int, Track] = {}
    for t in range(n_timepoints):
        for comp, ids in sorted(identities.get(t, {}).items()):
            for lesion in sorted(ids):
                track = tracks.setdefault(lesion, Track(
                    f"T{lesion}", f"2.25.{lesion}", f"true lesion {lesion}", "", False,
                    first_seen=t))
                track.members.setdefault(t, []).append(comp)
    # a merged region counts once: for the lesion that had the largest volume before
    for t in range(n_timepoints):
        owners: dict[int, list[int]] = {}
        for lesion, track in tracks.items():
            for comp in track.members.get(t, []):
                owners.setdefault(comp, []).append(lesion)
        for lesions in owners.values():
            if len(lesions) < 2:
                continue
            primary = max(lesions, key=lambda les: _previous_volume(tracks[les], t, size))
            for lesion in lesions:
                if lesion != primary:
                    tracks[lesion].merged_into[t] = tracks[primary].lesion_id
    by_key = {(m.timepoint, m.component): m for m in measurements}
    for track in tracks.values():
        first = next((by_key[(t, c)] for t in sorted(track.members) for c in track.members[t]
                      if (t, c) in by_key), None)
        if first is not None:
            track.organ = first.organ
            track.is_lymph_node = first.is_lymph_node
        for t in range(n_timepoints):
            track.members.setdefault(t, [])
    return [tracks[k] for k in sorted(tracks)]


def _previous_volume(track: Track, t: int, size: dict[tuple[int, int], float]) -> float:
    for s in range(t - 1, -1, -1):
        comps = track.members.get(s, [])
        if comps:
            return sum(size.get((s, c), 0.0) for c in comps)
    return 0.0


def truth_report(patient: Any, timeline: Timeline) -> LongitudinalReport:
    """Lesions measured on the truth label maps, tracked by true identity, with RECIST."""
    from interval.longitudinal import recist

    by_series = {tp.series_instance_uid: tp for tp in patient.timepoints}
    measurements: list[LesionMeasurement] = []
    identities: dict[int, dict[int, frozenset[int]]] = {}
    for info in timeline.timepoints:
        truth = by_series[info.series.series_instance_uid]
        labels = load_segmentation(truth.labels_path)
        ids = read_image(truth.lesion_ids_path)
        extracted = extract_lesions(labels, None, timepoint=info.index)
        measurements += extracted.measurements
        identities[info.index] = component_identities(extracted.components, ids.array)
    tracks = truth_tracks(identities, measurements, len(timeline.timepoints))
    tracks, table = recist.assess(tracks, measurements, timeline)
    return LongitudinalReport(timeline=timeline, measurements=measurements, tracks=tracks,
                              recist=table)
