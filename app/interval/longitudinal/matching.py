"""Lesions matched across timepoints in baseline space: tracks with stable ids.

:func:`match_lesions` walks the timepoints in order.  At each follow-up it matches
the *tracks* known so far (each at its last known position: the components it had
the last time it was seen, so a lesion missing at one scan can be found again
later) to that timepoint's components, all in baseline space (the follow-up's
component map resampled onto the baseline grid by the registration):

* **cost** of track r and component c: ``(1 - Dice) + min(d / gate, 1)`` plus 0.1
  per scan the track was not seen, where Dice is the overlap of r's last
  components with c on the baseline grid and d the distance of their centroids;
  the **gate** is ``gate_mm + 0.5 x the larger sphere-equivalent diameter`` (a big
  lesion's centroid moves more as it grows unevenly).  A pair is allowed when it
  overlaps or ``d <= gate``.
* **optimal assignment** (``scipy.optimize.linear_sum_assignment``) on the cost
  matrix padded with "no match" options, so allowed pairs are always preferred to
  leaving both unmatched;
* **split**: an unmatched component lying mostly (>= ``split_min`` of its voxels) in a
  track that matched another component joins that track, which then has several
  components (RECIST sums their diameters);
* **merge**: an unmatched track whose last region lies >= ``merge_min`` in a
  component matched to another track shares that component.  The larger track
  (volume when last seen; the matched one if it has other parts too) keeps it as its
  own; the others record ``merged_into[t]`` = its id (RECIST gives them 0 mm) and
  follow it from then on (a merged lesion that later splits again stays one track);
  the merge event lists ``(primary, merged)``;
* **new**: any component still unmatched starts a track; **vanished**: a track
  with no component gets ``members[t] = []``.

Without a component map (registration failed) a timepoint is matched by centroid
distance alone, and merges and splits are not recognised (a warning says so).

Lesion ids: baseline lesions ``L1..`` by decreasing baseline volume, then new
lesions in order of appearance (timepoint, then decreasing volume); ties by
centroid.  The reader's corrections (:mod:`.corrections`) are applied afterwards,
and the events are derived from the final tracks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interval.longitudinal.corrections import Correction, CorrectionSet, apply_corrections
from interval.longitudinal.match_tracks import (
    default_name,
    refresh_track,
    seen_timepoints,
    tracking_uid,
    volume_at,
)
from interval.longitudinal.model import (
    EVENT_MATCH,
    EVENT_MERGE,
    EVENT_NEW,
    EVENT_SPLIT,
    EVENT_VANISHED,
    LesionMeasurement,
    MatchEvent,
    Track,
)

DEFAULT_GATE_MM = 20.0
GAP_PENALTY = 0.1  # per scan a track was not seen
_UNMATCHED = 2.5  # cost of leaving a track or a component unmatched
_BIG = 1e6


@dataclass
class TimepointLesions:
    """One timepoint's lesions as the matcher needs them (all positions in baseline space)."""

    timepoint: int
    measurements: Sequence[LesionMeasurement]  # centroid_baseline_lps filled
    components_in_baseline: np.ndarray | None = None  # int32 component map on the baseline grid
    voxel_volume_ml: float = 0.0  # of the baseline grid (informative: volumes come from
    # the measurements, overlaps are counted in voxels)


@dataclass
class MatchResult:
    """Tracks (ids L1..), the events that explain them, and what went wrong."""

    tracks: list[Track]
    events: list[MatchEvent]
    warnings: list[str] = field(default_factory=list)
    corrections: list[dict[str, Any]] = field(default_factory=list)  # as applied


class _Sparse:
    """The non-zero voxels of a component map: sorted flat indices and their ids."""

    def __init__(self, components: np.ndarray) -> None:
        flats, ids = [], []
        from interval.longitudinal.lesions import occupied_boxes  # noqa: PLC0415 - scipy

        for box in occupied_boxes(components > 0):
            crop = components[box]
            local = np.nonzero(crop)
            glob = tuple(idx + s.start for idx, s in zip(local, box, strict=True))
            flats.append(np.ravel_multi_index(glob, components.shape).astype(np.int64))
            ids.append(crop[local].astype(np.int64))
        flat = np.concatenate(flats) if flats else np.zeros(0, np.int64)
        order = np.argsort(flat, kind="stable")
        self.flat = flat[order]
        self.ids = np.concatenate(ids)[order] if ids else np.zeros(0, np.int64)
        self.sizes = np.bincount(self.ids) if self.ids.size else np.zeros(1, np.int64)

    def region(self, comps: Sequence[int]) -> np.ndarray:
        return self.flat[np.isin(self.ids, list(comps))]

    def size(self, comps: Sequence[int]) -> int:
        return int(sum(self.sizes[c] for c in comps if c < len(self.sizes)))

    def overlap(self, region: np.ndarray, n_components: int) -> np.ndarray:
        """Voxels of ``region`` (sorted flat indices) in each component 0..n."""
        if region.size == 0 or self.flat.size == 0:
            return np.zeros(n_components + 1, np.int64)
        pos = np.clip(np.searchsorted(self.flat, region), 0, self.flat.size - 1)
        hit = self.flat[pos] == region
        return np.bincount(self.ids[pos[hit]], minlength=n_components + 1)[: n_components + 1]


@dataclass
class _Lesion:
    """A track while matching (internal key; ids are given at the end)."""

    key: int
    members: dict[int, list[int]] = field(default_factory=dict)
    merged_into: dict[int, int] = field(default_factory=dict)  # timepoint -> primary key
    follows: int | None = None  # merged: mirrors this primary from then on
    last: int | None = None


def _centroid(ms: Sequence[LesionMeasurement]) -> np.ndarray:
    pts = np.array([m.centroid_baseline_lps or m.centroid_lps for m in ms], dtype=np.float64)
    w = np.array([max(m.volume_ml, 1e-9) for m in ms])
    return (pts * w[:, None]).sum(axis=0) / w.sum()


def _eq_diameter(volume_ml: float) -> float:
    return float((6.0 * max(volume_ml, 0.0) * 1000.0 / np.pi) ** (1.0 / 3.0))


class _Matcher:
    def __init__(self, timepoints: Sequence[TimepointLesions], gate_mm: float,
                 merge_min: float, split_min: float) -> None:
        self.tps = sorted(timepoints, key=lambda tp: tp.timepoint)
        self.gate_mm, self.merge_min, self.split_min = gate_mm, merge_min, split_min
        self.index = {(m.timepoint, m.component): m for tp in self.tps for m in tp.measurements}
        self.comps = {tp.timepoint: sorted(m.component for m in tp.measurements)
                      for tp in self.tps}
        self.sparse: dict[int, _Sparse] = {}
        self.warnings: list[str] = []
        grid = next((tp.components_in_baseline.shape for tp in self.tps
                     if tp.components_in_baseline is not None), None)
        for tp in self.tps:
            if tp.components_in_baseline is not None and tp.components_in_baseline.shape != grid:
                self.warnings.append(
                    f"Timepoint {tp.timepoint}: its component map is not on the baseline grid "
                    f"({tp.components_in_baseline.shape} instead of {grid}); it was ignored.")
            elif tp.components_in_baseline is not None:
                self.sparse[tp.timepoint] = _Sparse(tp.components_in_baseline)
            elif tp is not self.tps[0]:
                self.warnings.append(
                    f"Timepoint {tp.timepoint} has no component map in baseline space: its "
                    "lesions were matched by centroid distance only, and merges and splits "
                    "were not looked for.")
            if any(m.centroid_baseline_lps is None for m in tp.measurements) and tp is not self.tps[0]:
                self.warnings.append(
                    f"Timepoint {tp.timepoint}: some lesions have no position in baseline space; "
                    "their own scanner position was used.")
        self.lesions: list[_Lesion] = []

    def ms(self, t: int, comps: Sequence[int]) -> list[LesionMeasurement]:
        return [self.index[(t, c)] for c in comps if (t, c) in self.index]

    def new(self, t: int, comps: list[int]) -> _Lesion:
        les = _Lesion(key=len(self.lesions), members={t: comps}, last=t)
        self.lesions.append(les)
        return les

    def run(self) -> None:
        if not self.tps:
            return
        first = self.tps[0].timepoint
        for c in self.comps[first]:
            self.new(first, [c])
        for tp in self.tps[1:]:
            self.step(tp.timepoint)

    def step(self, t: int) -> None:
        """Match the tracks to timepoint ``t``: one row per component a track had when
        last seen (so the parts of a split lesion are followed each on its own)."""
        cols = self.comps[t]
        active = [les for les in self.lesions if les.follows is None and les.last is not None]
        rows = [(k, c) for k, les in enumerate(active) for c in les.members[les.last or 0]]
        n, m, nt = len(rows), len(cols), len(active)
        inter = np.zeros((n, m))
        size_r = np.zeros(n)
        size_c = np.zeros(m)
        cost = np.full((n, m), _BIG)
        dist = np.zeros((n, m))
        radius = np.zeros(n)
        cur = self.sparse.get(t)
        if cur is not None:
            size_c = np.array([cur.size([c]) for c in cols], dtype=np.float64)
        col_ms = [self.index[(t, c)] for c in cols]
        for r, (k, comp) in enumerate(rows):
            last = active[k].last
            assert last is not None
            prev = self.sparse.get(last)
            if prev is not None and cur is not None:
                region = prev.region([comp])
                size_r[r] = region.size
                counts = cur.overlap(region, max(cols, default=0))
                inter[r] = [counts[c] for c in cols]
            part = self.ms(last, [comp])
            centre = _centroid(part)
            eq_r = _eq_diameter(sum(x.volume_ml for x in part))
            radius[r] = 0.5 * eq_r
            for j, cm in enumerate(col_ms):
                d = float(np.linalg.norm(_centroid([cm]) - centre))
                gate = self.gate_mm + 0.5 * max(eq_r, _eq_diameter(cm.volume_ml))
                denom = size_r[r] + size_c[j]
                dc = 2.0 * inter[r, j] / denom if denom > 0 else 0.0
                dist[r, j] = d
                if dc > 0 or d <= gate:
                    cost[r, j] = (1.0 - dc) + min(d / gate, 1.0) + GAP_PENALTY * (t - last - 1)
        pairs = self.assign(cost)
        owner = {j: rows[r][0] for r, j in pairs}  # column -> track (index in active)
        got: dict[int, list[int]] = {}
        for j, k in owner.items():
            got.setdefault(k, []).append(cols[j])
        # Track-level overlaps (a track's parts are disjoint, so they add up).
        by_track = np.zeros((nt, n))
        for r, (k, _c) in enumerate(rows):
            by_track[k, r] = 1.0
        inter_t = by_track @ inter
        size_t = by_track @ size_r
        for j in range(m):
            if j in owner:
                continue
            k = self._split_parent(j, inter_t, size_c, dist, radius, rows, got, cur is not None)
            if k is not None:
                got[k].append(cols[j])
                owner[j] = k
        sharing: dict[int, list[int]] = {}  # column -> unmatched tracks merging into it
        for k in range(nt):
            if k in got or size_t[k] == 0 or m == 0:
                continue
            frac = inter_t[k] / size_t[k]
            j = int(np.argmax(frac))
            if frac[j] >= self.merge_min and j in owner:
                sharing.setdefault(j, []).append(k)
        for k, comps in got.items():
            active[k].members[t] = sorted(comps)
            active[k].last = t
        for j, merged in sharing.items():
            group = [owner[j], *merged]
            vols = {g: self._volume_before(active[g], t) for g in group}
            primary = min(group, key=lambda g: (-vols[g], active[g].key))
            comps = active[owner[j]].members[t]
            if len(comps) > 1:  # the owner has other parts too: it stays the primary
                primary = owner[j]
            for g in group:
                les = active[g]
                les.members[t] = list(comps) if g == primary else [cols[j]]
                les.last = t
                if g != primary:
                    les.merged_into[t] = active[primary].key
                    les.follows = active[primary].key
            if primary != owner[j]:  # the owner keeps only the shared component
                active[owner[j]].members[t] = [cols[j]]
        for j in range(m):
            if j not in owner:
                self.new(t, [cols[j]])
        for les in active:
            if les.follows is None and t not in les.members:
                les.members[t] = []
        for les in self.lesions:  # followers mirror their primary
            if les.follows is not None and t not in les.members:
                primary_les = self.primary(les)
                les.members[t] = list(primary_les.members.get(t, []))
                les.merged_into[t] = primary_les.key
                if les.members[t]:
                    les.last = t

    def _split_parent(self, j: int, inter_t: np.ndarray, size_c: np.ndarray, dist: np.ndarray,
                      radius: np.ndarray, rows: list[tuple[int, int]], got: dict[int, list[int]],
                      has_map: bool) -> int | None:
        """The matched track an unmatched component split off from, if any."""
        if not got:
            return None
        if size_c[j] > 0:
            frac = inter_t[:, j] / size_c[j]
            k = int(np.argmax(frac))
            return k if frac[k] >= self.split_min and k in got else None
        if not has_map:
            return None
        # Too small to survive resampling onto the baseline grid: within 2 mm plus the
        # equivalent radius of one of a matched track's parts counts as split off it.
        near = [(dist[r, j], k) for r, (k, _c) in enumerate(rows)
                if k in got and dist[r, j] <= radius[r] + 2.0]
        return min(near)[1] if near else None

    def _volume_before(self, les: _Lesion, t: int) -> float:
        seen = [tp for tp, comps in les.members.items() if comps and tp < t]
        if not seen:
            return 0.0
        last = max(seen)
        return sum(x.volume_ml for x in self.ms(last, les.members[last]))

    def primary(self, les: _Lesion) -> _Lesion:
        """The track ``les`` follows since it merged (itself if it never merged)."""
        seen = {les.key}
        while les.follows is not None and les.follows not in seen:
            seen.add(les.follows)
            les = self.lesions[les.follows]
        return les

    @staticmethod
    def assign(cost: np.ndarray) -> list[tuple[int, int]]:
        n, m = cost.shape
        if n == 0 or m == 0:
            return []
        big = np.full((n + m, m + n), _BIG)
        big[:n, :m] = cost
        big[:n, m:][np.diag_indices(n)] = _UNMATCHED
        big[n:, :m][np.diag_indices(m)] = _UNMATCHED
        big[n:, m:] = 0.0
        from scipy.optimize import linear_sum_assignment  # noqa: PLC0415 - 0.6 s import,
        # only when lesions are matched (the workspace derives events without it)

        rr, cc = linear_sum_assignment(big)
        return [(int(r), int(c)) for r, c in zip(rr, cc, strict=True)
                if r < n and c < m and cost[r, c] < _BIG]


def _default_seed(timepoints: Sequence[TimepointLesions]) -> str:
    h = hashlib.sha256()
    for tp in sorted(timepoints, key=lambda x: x.timepoint)[:1]:
        for m in sorted(tp.measurements, key=lambda x: x.component):
            h.update(repr((m.component, m.voxel_count, m.centroid_lps)).encode())
    return "auto-" + h.hexdigest()[:32]


def _to_tracks(matcher: _Matcher, seed: str) -> list[Track]:
    index = matcher.index
    first = matcher.tps[0].timepoint if matcher.tps else 0

    def first_seen(les: _Lesion) -> int:
        return min(t for t, c in les.members.items() if c)

    def order(les: _Lesion) -> tuple[Any, ...]:
        t = first_seen(les)
        ms = matcher.ms(t, les.members[t])
        vol = sum(x.volume_ml for x in ms)
        centre = tuple(float(v) for v in _centroid(ms))
        return (0 if t == first else 1, t, -vol, centre, min(les.members[t]))

    ordered = sorted(matcher.lesions, key=order)
    ids = {les.key: f"L{n}" for n, les in enumerate(ordered, start=1)}
    tracks = []
    for les in ordered:
        lid = ids[les.key]
        track = Track(lesion_id=lid, tracking_uid=tracking_uid(seed, lid), name="",
                      organ="unknown", is_lymph_node=False,
                      members={t: sorted(c) for t, c in sorted(les.members.items())},
                      merged_into={t: ids[k] for t, k in sorted(les.merged_into.items())})
        refresh_track(track, index)
        track.name = default_name(lid, track.organ)
        tracks.append(track)
    return tracks


def _events(tracks: list[Track], matcher: _Matcher, reader: set[tuple[str, int]]) -> list[MatchEvent]:
    """The events that explain the final tracks (see :class:`~.model.MatchEvent`)."""
    times = [tp.timepoint for tp in matcher.tps]
    events: list[MatchEvent] = []
    for track in tracks:
        prev_t: int | None = None
        prev: list[int] = []
        for t in times:
            comps = track.components_at(t)
            source = "reader" if (track.lesion_id, t) in reader else "auto"
            merged = track.merged_into.get(t)
            if merged is not None:
                if prev_t is not None and track.merged_into.get(prev_t) is None:
                    events.append(MatchEvent(
                        EVENT_MERGE, prev_t, t, (merged, track.lesion_id), tuple(prev),
                        tuple(comps), *_measure(matcher, prev_t, prev, t, comps), source=source))
            elif comps and prev_t is None:
                if t != times[0]:
                    events.append(MatchEvent(EVENT_NEW, None, t, (track.lesion_id,),
                                             (), tuple(comps), source=source))
            elif comps and prev_t is not None:
                kind = EVENT_SPLIT if len(comps) > max(len(prev), 1) else EVENT_MATCH
                events.append(MatchEvent(kind, prev_t, t, (track.lesion_id,), tuple(prev),
                                         tuple(comps), *_measure(matcher, prev_t, prev, t, comps),
                                         source=source))
            elif not comps and prev_t is not None and prev_t == _previous(times, t):
                events.append(MatchEvent(EVENT_VANISHED, prev_t, t, (track.lesion_id,),
                                         tuple(prev), (), source=source))
            if comps:
                prev_t, prev = t, comps
    events.sort(key=lambda e: (e.to_timepoint, e.lesions))
    return events


def _previous(times: list[int], t: int) -> int | None:
    i = times.index(t)
    return times[i - 1] if i > 0 else None


def _measure(matcher: _Matcher, ta: int, ca: list[int], tb: int,
             cb: list[int]) -> tuple[float | None, float | None]:
    ma, mb = matcher.ms(ta, ca), matcher.ms(tb, cb)
    dist = float(np.linalg.norm(_centroid(ma) - _centroid(mb))) if ma and mb else None
    sa, sb = matcher.sparse.get(ta), matcher.sparse.get(tb)
    if sa is None or sb is None:
        return None, dist
    region = sa.region(ca)
    counts = sb.overlap(region, max(cb, default=0))
    inter = float(sum(counts[c] for c in cb))
    denom = region.size + sb.size(cb)
    return (2.0 * inter / denom if denom else 0.0), dist


def match_lesions(
    timepoints: Sequence[TimepointLesions],
    *,
    gate_mm: float = DEFAULT_GATE_MM,
    corrections: CorrectionSet | Sequence[Correction] | None = None,
    uid_seed: str = "",
    merge_min: float = 0.1,
    split_min: float = 0.1,
) -> MatchResult:
    """Tracks of the lesions of ``timepoints`` (the first one is the baseline).

    ``uid_seed`` makes the tracking UIDs (pass the baseline StudyInstanceUID); by
    default it is derived from the baseline lesions.  ``corrections`` (the reader's
    sidecar) are applied after the automatic matching; operations that no longer fit
    become warnings.
    """
    matcher = _Matcher(timepoints, gate_mm, merge_min, split_min)
    matcher.run()
    seed = uid_seed or _default_seed(timepoints)
    tracks = _to_tracks(matcher, seed)
    warnings = list(matcher.warnings)
    applied: list[dict[str, Any]] = []
    reader: set[tuple[str, int]] = set()
    if corrections:
        outcome = apply_corrections(tracks, matcher.index, corrections, seed=seed)
        tracks, applied, reader = outcome.tracks, outcome.applied, outcome.reader_links
        warnings.extend(outcome.warnings)
    for track in tracks:
        for t in (tp.timepoint for tp in matcher.tps):
            track.members.setdefault(t, [])
        track.members = dict(sorted(track.members.items()))
        if not seen_timepoints(track):
            warnings.append(f"{track.lesion_id} has no component at any timepoint.")
    tracks.sort(key=lambda tr: (int(tr.lesion_id[1:]) if tr.lesion_id[1:].isdigit() else 10**9,
                                tr.lesion_id))
    return MatchResult(tracks, _events(tracks, matcher, reader), warnings, applied)


__all__ = ["DEFAULT_GATE_MM", "MatchResult", "TimepointLesions", "match_lesions", "volume_at"]
