"""Matching lesions across timepoints: shifts, new, vanished, re-found, merge, split, ids."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from interval.core.labels import LabelTable
from interval.core.volume import Volume
from interval.longitudinal.lesions import extract_lesions
from interval.longitudinal.match_eval import (
    component_identities,
    link_scores,
    predicted_links,
    true_links,
)
from interval.longitudinal.matching import TimepointLesions, match_lesions
from interval.longitudinal.model import (
    EVENT_MATCH,
    EVENT_MERGE,
    EVENT_NEW,
    EVENT_SPLIT,
    EVENT_VANISHED,
    Track,
)

TABLE = LabelTable.from_names({1: "liver", 9: "lesion"})
SHAPE = (40, 64, 128)
SPACING = (1.0, 1.0, 1.0)


def _paint(balls, bridges=()) -> np.ndarray:
    a = np.zeros(SHAPE, np.uint8)
    a[5:35, 5:60, 5:123] = 1
    k, j, i = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    for (ck, cj, ci), r in balls:
        a[(k - ck) ** 2 + (j - cj) ** 2 + (i - ci) ** 2 <= r * r] = 9
    for box in bridges:
        a[box] = 9
    return a


def _timepoint(t: int, balls, bridges=(), *, with_map: bool = True) -> TimepointLesions:
    """A timepoint already in baseline space (as after a perfect registration)."""
    vol = Volume(_paint(balls, bridges), SPACING, labels=TABLE)
    ex = extract_lesions(vol, timepoint=t)
    ms = [dataclasses.replace(m, centroid_baseline_lps=m.centroid_lps) for m in ex.measurements]
    return TimepointLesions(t, ms, ex.components if with_map else None, 0.001)


def _track_at(tracks: list[Track], t: int, centre_i: float, tp: TimepointLesions) -> Track:
    """The track holding the component whose centroid i (x) is nearest ``centre_i``."""
    comp = min(tp.measurements, key=lambda m: abs(m.centroid_lps[0] - centre_i)).component
    return next(tr for tr in tracks if comp in tr.components_at(t) and t not in tr.merged_into)


def test_known_shift_new_vanished_and_refound() -> None:
    base = [((20, 30, 20), 8), ((20, 30, 60), 4), ((20, 30, 95), 6)]
    tps = [
        _timepoint(0, base),
        # residual misregistration of (1, 2, 3) voxels; the small lesion is gone; a new one
        _timepoint(1, [((21, 32, 23), 9), ((21, 32, 98), 6), ((30, 52, 40), 5)]),
        # the small lesion is back where it was; the new one stays
        _timepoint(2, [((21, 31, 22), 9), ((20, 30, 61), 4), ((21, 32, 98), 5),
                       ((30, 52, 41), 6)]),
    ]
    res = match_lesions(tps)
    assert [t.lesion_id for t in res.tracks] == ["L1", "L2", "L3", "L4"]
    big = _track_at(res.tracks, 0, 20, tps[0])
    small = _track_at(res.tracks, 0, 60, tps[0])
    assert big.lesion_id == "L1" and small.lesion_id == "L3"  # decreasing baseline volume
    assert all(big.components_at(t) for t in range(3))
    assert small.components_at(1) == [] and small.components_at(2)  # vanished, re-found
    new = next(t for t in res.tracks if t.first_seen == 1)
    assert new.lesion_id == "L4" and new.components_at(2)
    kinds = {(e.kind, e.to_timepoint, e.lesions) for e in res.events}
    assert (EVENT_VANISHED, 1, ("L3",)) in kinds
    assert (EVENT_NEW, 1, ("L4",)) in kinds
    refound = next(e for e in res.events if e.lesions == ("L3",) and e.to_timepoint == 2)
    assert refound.kind == EVENT_MATCH and refound.from_timepoint == 0
    assert refound.overlap is not None and refound.overlap > 0.5
    assert not res.warnings


def test_far_move_beyond_the_gate_is_new_plus_vanished() -> None:
    tps = [_timepoint(0, [((20, 30, 20), 5)]), _timepoint(1, [((20, 30, 80), 5)])]
    res = match_lesions(tps, gate_mm=20.0)
    assert len(res.tracks) == 2
    assert {e.kind for e in res.events} == {EVENT_VANISHED, EVENT_NEW}
    # A wide gate links them (no overlap, but within the distance).
    assert len(match_lesions(tps, gate_mm=60.0).tracks) == 1


def test_merge_and_split() -> None:
    tps = [
        _timepoint(0, [((20, 30, 40), 7), ((20, 30, 58), 5), ((20, 30, 95), 8)]),
        _timepoint(1, [((20, 30, 40), 8), ((20, 30, 58), 6), ((20, 30, 89), 5), ((20, 30, 101), 5)],
                   bridges=[(slice(18, 23), slice(28, 33), slice(40, 58))]),
        _timepoint(2, [((20, 30, 40), 8), ((20, 30, 58), 6), ((20, 30, 89), 6), ((20, 30, 101), 4)],
                   bridges=[(slice(18, 23), slice(28, 33), slice(40, 58))]),
    ]
    res = match_lesions(tps)
    split = _track_at(res.tracks, 0, 95, tps[0])
    assert len(split.components_at(1)) == 2 and len(split.components_at(2)) == 2
    larger = _track_at(res.tracks, 0, 40, tps[0])
    smaller = next(t for t in res.tracks if 1 in t.merged_into)
    assert smaller.merged_into == {1: larger.lesion_id, 2: larger.lesion_id}
    assert smaller.components_at(1) == larger.components_at(1)  # both point to the component
    assert larger.lesion_id not in {t for tr in res.tracks for t in tr.merged_into.values()
                                    if tr is larger}
    assert len(res.tracks) == 3  # nothing new: the parts and the merged lesion are known
    events = {(e.kind, e.to_timepoint): e for e in res.events}
    assert events[(EVENT_SPLIT, 1)].lesions == (split.lesion_id,)
    assert events[(EVENT_MERGE, 1)].lesions == (larger.lesion_id, smaller.lesion_id)
    assert (EVENT_MERGE, 2) not in events and (EVENT_SPLIT, 2) not in events  # told once


def test_ids_and_uids_are_deterministic() -> None:
    base = [((20, 30, 20), 4), ((20, 30, 60), 8), ((20, 30, 95), 6)]
    fu = [((20, 30, 20), 4), ((20, 30, 60), 8), ((20, 30, 95), 6), ((10, 50, 30), 3),
          ((10, 50, 90), 5)]
    tps = [_timepoint(0, base), _timepoint(1, fu)]
    a = match_lesions(tps, uid_seed="1.2.3.4")
    sizes = [sum(m.volume_ml for m in tps[0].measurements if m.component in t.components_at(0))
             for t in a.tracks if t.first_seen == 0]
    assert sizes == sorted(sizes, reverse=True)  # L1.. by decreasing baseline volume
    new = [t for t in a.tracks if t.first_seen == 1]
    assert [t.lesion_id for t in new] == ["L4", "L5"]
    new_vol = [sum(m.volume_ml for m in tps[1].measurements if m.component in t.components_at(1))
               for t in new]
    assert new_vol == sorted(new_vol, reverse=True)
    # Same input (even in another order): same ids and UIDs; another seed: other UIDs.
    shuffled = [dataclasses.replace(tp, measurements=list(reversed(tp.measurements)))
                for tp in reversed(tps)]
    b = match_lesions(shuffled, uid_seed="1.2.3.4")
    assert [(t.lesion_id, t.tracking_uid, t.members) for t in a.tracks] == \
           [(t.lesion_id, t.tracking_uid, t.members) for t in b.tracks]
    c = match_lesions(tps, uid_seed="1.2.3.5")
    assert {t.tracking_uid for t in a.tracks}.isdisjoint({t.tracking_uid for t in c.tracks})
    for t in a.tracks:
        assert t.tracking_uid.startswith("2.25.") and len(t.tracking_uid) <= 64
        assert t.name == f"{t.lesion_id} liver"


def test_centroid_only_when_the_map_is_missing() -> None:
    tps = [_timepoint(0, [((20, 30, 20), 6), ((20, 30, 80), 6)]),
           _timepoint(1, [((20, 31, 24), 6), ((20, 30, 83), 6)], with_map=False)]
    res = match_lesions(tps)
    assert len(res.tracks) == 2 and all(t.components_at(1) for t in res.tracks)
    assert any("centroid distance only" in w for w in res.warnings)
    match = [e for e in res.events if e.kind == EVENT_MATCH]
    assert len(match) == 2 and all(e.overlap is None and e.distance_mm for e in match)
    # A map on another grid is not compared voxel by voxel with the baseline's.
    wrong = dataclasses.replace(tps[1], components_in_baseline=np.zeros((4, 4, 4), np.int32))
    res = match_lesions([tps[0], wrong])
    assert len(res.tracks) == 2 and any("not on the baseline grid" in w for w in res.warnings)


def test_single_timepoint_and_no_lesions() -> None:
    res = match_lesions([_timepoint(0, [((20, 30, 20), 6)])])
    assert [t.members for t in res.tracks] == [{0: [1]}] and res.events == []
    empty = match_lesions([_timepoint(0, []), _timepoint(1, [])])
    assert empty.tracks == [] and empty.events == []


# --- scoring helper ------------------------------------------------------------------------


def test_link_scores_count_wrong_and_missed_links() -> None:
    identities = {0: {1: {7}, 2: {8}}, 1: {1: {7, 8}}, 2: {1: {7}, 2: {8}}}  # merge, then split
    truth = true_links(identities)
    assert truth == {(0, 1, 1, 1), (0, 2, 1, 1), (1, 1, 2, 1), (1, 1, 2, 2)}
    right = [Track("L1", "", "", "liver", False, members={0: [1], 1: [1], 2: [1]}),
             Track("L2", "", "", "liver", False, members={0: [2], 1: [1], 2: [2]},
                   merged_into={1: "L1"})]
    assert predicted_links(right) == truth
    s = link_scores(right, identities)
    assert (s.precision, s.recall) == (1.0, 1.0)
    wrong = [Track("L1", "", "", "liver", False, members={0: [1], 1: [1], 2: [2]}),
             Track("L2", "", "", "liver", False, members={0: [2], 1: [], 2: [1]})]
    s = link_scores(wrong, identities)
    assert s.false_links == ((0, 2, 2, 1),)
    assert set(s.missed_links) == {(0, 2, 1, 1), (1, 1, 2, 1)}
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(2 / 4)


def test_component_identities() -> None:
    comps = np.zeros((1, 4, 6), np.int32)
    truth = np.zeros_like(comps)
    comps[0, :, :4] = 1  # one component covering two true lesions (a merge)
    truth[0, :, :2], truth[0, :, 2:4] = 5, 6
    comps[0, 0, 5] = 2  # a false positive
    assert component_identities(comps, truth) == {1: frozenset({5, 6}), 2: frozenset()}


# --- generated patients (the generator's truth stands in for the registration) -------------


def _to_baseline(model, grid, t: int, comps: np.ndarray) -> np.ndarray:
    """Timepoint ``t``'s component map on the baseline grid (nearest neighbour, true motion),
    evaluated only in boxes around each component."""
    from interval.io.synthetic import rigid_from_baseline, true_point_mapping

    if t == 0:
        return comps.copy()
    out = np.zeros(comps.shape, np.int32)
    aff, inv_aff = grid.affine, np.linalg.inv(grid.affine)
    back = np.linalg.inv(rigid_from_baseline(model, t))
    size = np.array(comps.shape[::-1])
    for c in np.unique(comps[comps > 0]):
        ijk = np.argwhere(comps == c)[:, ::-1].astype(np.float64)
        approx = (ijk @ aff[:3, :3].T + aff[:3, 3]) @ back[:3, :3].T + back[:3, 3]
        idx = approx @ inv_aff[:3, :3].T + inv_aff[:3, 3]
        margin = 15.0 / np.asarray(grid.spacing)
        lo = np.maximum(np.floor(idx.min(0) - margin), 0).astype(int)
        hi = np.minimum(np.ceil(idx.max(0) + margin) + 1, size).astype(int)
        grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)], indexing="ij")
        q = np.stack([g.ravel() for g in grids], 1)
        moved = true_point_mapping(model, t, q @ aff[:3, :3].T + aff[:3, 3])
        f = np.rint(moved @ inv_aff[:3, :3].T + inv_aff[:3, 3]).astype(int)
        ok = np.all((f >= 0) & (f < size), axis=1)
        hit = np.zeros(len(q), bool)
        hit[ok] = comps[f[ok, 2], f[ok, 1], f[ok, 0]] == c
        out[q[hit, 2], q[hit, 1], q[hit, 0]] = c
    return out


@pytest.mark.slow
@pytest.mark.parametrize("seed", [4, 10])
def test_generated_patients_links_are_right(seed: int) -> None:
    from interval.io.synthetic import render, sample_patient

    n = 4
    model = sample_patient(seed, n, n_merge=1, n_split=1)
    grid = model.default_grid((48, 96, 96))
    tps, identities = [], {}
    for t in range(n):
        scan = render(model, t, grid, noise=False)
        labels = scan.label_volume()
        ex = extract_lesions(labels, timepoint=t)
        in_base = _to_baseline(model, grid, t, ex.components)
        ms = []
        for m in ex.measurements:
            where = np.argwhere(in_base == m.component)
            centre = (labels.index_to_lps(where.mean(axis=0)[::-1]) if len(where)
                      else np.asarray(m.centroid_lps))
            ms.append(dataclasses.replace(m, centroid_baseline_lps=tuple(map(float, centre))))
        tps.append(TimepointLesions(t, ms, in_base, labels.voxel_volume_mm3() / 1000.0))
        identities[t] = component_identities(ex.components, scan.lesion_ids)
    res = match_lesions(tps)
    scores = link_scores(res.tracks, identities)
    assert scores.truth > 10
    assert scores.false_links == () and scores.missed_links == ()
    assert {e.kind for e in res.events} >= {EVENT_MERGE, EVENT_SPLIT}
