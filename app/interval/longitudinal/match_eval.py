"""Score lesion tracks against known identities: link precision and recall.

A *link* is a pair ``(t_prev, a, t, b)``: component ``a`` at timepoint ``t_prev`` and
component ``b`` at ``t`` belong to the same lesion, where ``t_prev`` is the last
timepoint before ``t`` at which that lesion was seen (so a lesion missing at one scan
links across the gap).  Predicted links come from the tracks (every pair of
components of one track at consecutive sightings); true links from an identity map:
for each timepoint, the true lesion ids each component covers.  A component
covering two true lesions (a merge) takes part in the links of both; a lesion in two
components (a split) links to both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from interval.longitudinal.model import Track

Link = tuple[int, int, int, int]  # (t_prev, component at t_prev, t, component at t)


@dataclass(frozen=True)
class LinkScores:
    """How many links were made, how many are true, and which ones went wrong."""

    predicted: int
    truth: int
    correct: int
    false_links: tuple[Link, ...]
    missed_links: tuple[Link, ...]

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.truth if self.truth else 1.0


def component_identities(components: np.ndarray, truth_ids: np.ndarray, *,
                         min_fraction: float = 0.1) -> dict[int, frozenset[int]]:
    """Component id -> the true lesion ids it covers (same grid).

    A true lesion belongs to a component when their overlap is at least ``min_fraction``
    of the component or of the true lesion; a component overlapping no lesion that much
    takes its largest overlap (none if it overlaps nothing: a false positive).
    """
    if components.shape != truth_ids.shape:
        raise ValueError("the component map and the identity map must share one grid")
    mask = (components > 0) | (truth_ids > 0)
    comp = components[mask].astype(np.int64)
    ids = truth_ids[mask].astype(np.int64)
    comp_sizes = np.bincount(comp)
    id_sizes = np.bincount(ids)
    both = (comp > 0) & (ids > 0)
    out: dict[int, set[int]] = {int(c): set() for c in np.unique(comp[comp > 0])}
    if both.any():
        pairs, counts = np.unique(np.stack([comp[both], ids[both]]), axis=1, return_counts=True)
        best: dict[int, tuple[int, int]] = {}
        for (c, t), n in zip(pairs.T.tolist(), counts.tolist(), strict=True):
            if n >= min_fraction * comp_sizes[c] or n >= min_fraction * id_sizes[t]:
                out[c].add(t)
            if n > best.get(c, (0, 0))[1]:
                best[c] = (t, n)
        for c, (t, _n) in best.items():
            if not out[c]:
                out[c].add(t)
    return {c: frozenset(v) for c, v in out.items()}


def predicted_links(tracks: Iterable[Track]) -> set[Link]:
    """Links made by ``tracks`` (between consecutive sightings of each track)."""
    links: set[Link] = set()
    for track in tracks:
        seen = sorted(t for t, comps in track.members.items() if comps)
        for a, b in zip(seen, seen[1:], strict=False):
            links.update((a, ca, b, cb) for ca in track.members[a] for cb in track.members[b])
    return links


def true_links(identities: Mapping[int, Mapping[int, Iterable[int]]]) -> set[Link]:
    """Links implied by ``identities`` (timepoint -> component -> true lesion ids)."""
    where: dict[int, dict[int, list[int]]] = {}  # lesion -> timepoint -> components
    for t, comps in identities.items():
        for c, ids in comps.items():
            for lesion in ids:
                where.setdefault(lesion, {}).setdefault(t, []).append(c)
    links: set[Link] = set()
    for per_t in where.values():
        seen = sorted(per_t)
        for a, b in zip(seen, seen[1:], strict=False):
            links.update((a, ca, b, cb) for ca in per_t[a] for cb in per_t[b])
    return links


def link_scores(tracks: Sequence[Track],
                identities: Mapping[int, Mapping[int, Iterable[int]]]) -> LinkScores:
    """Precision and recall of the links of ``tracks`` against ``identities``."""
    made = predicted_links(tracks)
    truth = true_links(identities)
    good = made & truth
    return LinkScores(len(made), len(truth), len(good),
                      tuple(sorted(made - truth)), tuple(sorted(truth - made)))
