"""Lesions that merge and split: the label maps show it (connected components), the ids keep
the truth identity, and the events read off the maps say so."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from interval.io.synthetic import lesion_events, render, sample_patient
from interval.io.synthetic.groups import MIN_GAP_MM, smooth_min

SHAPE = (48, 96, 96)  # 4 x 4 x 7.3 mm voxels: coarse, and still resolved


def _components(mask: np.ndarray) -> np.ndarray:
    """Face-connected components (0 = background), by SimpleITK, independently of the generator."""
    image = sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), False)
    return sitk.GetArrayFromImage(image)


def _scans(seed: int, n: int = 4, **options):
    model = sample_patient(seed, n, n_merge=1, n_split=1, **options)
    grid = model.default_grid(SHAPE)
    return model, [render(model, tp, grid, noise=False) for tp in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planned_merge_and_split_happen_in_the_label_maps(seed):
    model, scans = _scans(seed)
    kinds = sorted(g.kind for g in model.groups)
    assert kinds == ["merge", "split"]
    events = lesion_events([s.lesions for s in scans])
    for group in model.groups:
        k = group.timepoint
        assert 1 <= k < len(scans)
        if group.kind == "merge":
            a, b = group.lesions
            for tp, scan in enumerate(scans):
                ids = scan.lesion_ids
                assert (ids == a).any() and (ids == b).any(), (tp, "both ids stay in the map")
                comp = _components(np.isin(ids, (a, b)))
                shared = set(np.unique(comp[ids == a])) & set(np.unique(comp[ids == b]))
                assert bool(shared) == (tp >= k), (tp, k)  # apart before k, one component from k
            assert ("merge", k, (a, b)) in {(e.kind, e.timepoint, e.lesions) for e in events}
        else:
            (a,) = group.lesions
            for tp, scan in enumerate(scans):
                n_parts = int(_components(scan.lesion_ids == a).max())
                assert n_parts == (2 if tp >= k else 1), (tp, k, n_parts)
                assert scan.lesions[a - 1].n_components == n_parts
            assert ("split", k, (a,)) in {(e.kind, e.timepoint, e.lesions) for e in events}
    assert len(events) == 2  # nothing else merged or split
    # the other lesions stay one component each, and touch nothing
    grouped = {i for g in model.groups for i in g.lesions}
    for scan in scans:
        for t in scan.present_lesions():
            if t.id not in grouped:
                assert t.n_components == 1 and t.touching == (), t


def test_merge_and_split_records_volumes_and_touching():
    model, scans = _scans(3)
    merge = next(g for g in model.groups if g.kind == "merge")
    a, b = merge.lesions
    k = merge.timepoint
    assert scans[k].lesions[a - 1].touching == (b,) and scans[k].lesions[b - 1].touching == (a,)
    assert scans[k - 1].lesions[a - 1].touching == ()
    for scan in scans:
        for t in scan.lesions:  # volume measured on the painted voxels
            voxels = int((scan.lesion_ids == t.id).sum())
            assert t.volume_mm3 == pytest.approx(voxels * scan.grid.voxel_volume, abs=1e-3)
            assert t.present == (voxels > 0)
    # the merging pair grows, the splitting lesion shrinks
    assert scans[-1].lesions[a - 1].volume_mm3 > scans[0].lesions[a - 1].volume_mm3
    split = next(g for g in model.groups if g.kind == "split")
    (c,) = split.lesions
    assert scans[-1].lesions[c - 1].volume_mm3 < scans[0].lesions[c - 1].volume_mm3


def test_two_timepoints_and_no_events():
    model, scans = _scans(4, n=2)
    events = lesion_events([s.lesions for s in scans])
    assert {(e.kind, e.timepoint) for e in events} == {("merge", 1), ("split", 1)}
    plain = sample_patient(4, 3, n_merge=0, n_split=0)
    assert plain.groups == ()
    grid = plain.default_grid(SHAPE)
    assert lesion_events([render(plain, tp, grid, noise=False).lesions for tp in range(3)]) == []


def test_default_is_random_and_sometimes_none():
    counts = [len(sample_patient(seed, 3).groups) for seed in range(12)]
    assert 0 in counts and max(counts) >= 1


def test_parts_of_a_merge_start_well_apart():
    model = sample_patient(5, 5, n_merge=2, n_split=2)
    assert sorted(g.kind for g in model.groups) == ["merge", "merge", "split", "split"]
    by_id = {s.id: s for s in model.lesions}
    for group in model.groups:
        k = group.timepoint
        if group.kind == "merge":
            a, b = (by_id[i] for i in group.lesions)
            before = model.days[k - 1]
            gap = np.linalg.norm(np.subtract(a.centre_body, b.centre_body)) \
                - a.reach(before)[1] - b.reach(before)[1]
        else:
            main, lobe = by_id[group.lesions[0]].parts
            at = model.days[k]
            gap = np.linalg.norm(np.subtract(main.centre_body, lobe.centre_body)) \
                - main.reach(at)[1] - lobe.reach(at)[1]
        assert gap >= MIN_GAP_MM - 1e-9, (group, gap)


def test_smooth_min():
    a = np.array([0.0, 1.0, 5.0, -2.0], np.float32)
    b = np.array([0.0, 3.0, -1.0, 10.0], np.float32)
    assert np.array_equal(smooth_min(a, b, 0.0), np.minimum(a, b))
    s = smooth_min(a, b, 4.0)
    assert np.all(s <= np.minimum(a, b))
    assert s[0] == pytest.approx(-1.0)  # equal distances: min - width / 4
    assert s[3] == -2.0  # far apart: a plain minimum
