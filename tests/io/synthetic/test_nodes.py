"""Lymph nodes: label 10 in the organ map, oval soft tissue in the fat beside the vessels and
airways, normal and pathological sizes, some changing over time."""

from __future__ import annotations

import numpy as np
import pytest

from interval.io.synthetic import LESION, LYMPH_NODE, render, sample_patient
from interval.io.synthetic.lesions import NODE
from interval.io.synthetic.phantom import AORTA

SHAPE = (48, 128, 128)  # 3 mm in-plane: small nodes still measurable


@pytest.fixture(scope="module")
def cases():
    out = []
    for seed in range(3):
        model = sample_patient(seed, 3, n_nodes=3, n_merge=0, n_split=0)
        grid = model.default_grid(SHAPE)
        scans = [render(model, tp, grid) for tp in range(3)]
        plain = render(model, 0, grid, noise=False, lesions=False)
        out.append((model, scans, plain))
    return out


def test_nodes_are_painted_with_their_own_label(cases):
    for model, scans, _plain in cases:
        nodes = [s for s in model.lesions if s.organ == NODE]
        assert len(nodes) == 3 and all(s.label == LYMPH_NODE and s.site for s in nodes)
        for scan in scans:
            for t in scan.present_lesions():
                painted = set(np.unique(scan.labels[scan.lesion_ids == t.id]))
                assert painted == ({LYMPH_NODE} if t.organ == NODE else {LESION}), t
                if t.organ == NODE:
                    assert t.n_components == 1 and t.site


def test_nodes_lie_in_fat_beside_the_great_vessels_and_look_like_soft_tissue(cases):
    for _model, scans, plain in cases:
        scan = scans[0]
        for t in scan.present_lesions():
            if t.organ != NODE:
                continue
            voxels = scan.lesion_ids == t.id
            assert np.all(plain.labels[voxels] == 0)  # never over an organ, vessel or bone
            assert np.median(plain.ct[voxels]) < -20  # it replaced fat
            inner = voxels.copy()  # away from the rim (the blur mixes in the fat around)
            for axis in range(3):
                inner &= np.roll(voxels, 1, axis) & np.roll(voxels, -1, axis)
            if inner.sum() >= 5:
                assert 20 <= np.median(scan.ct[inner]) <= 70  # 30-60 HU tissue, with noise
            # within 5 cm of the aorta or the mediastinum's airway/oesophagus axis
            k, j, i = np.nonzero(voxels)
            centre = np.array([k.mean(), j.mean(), i.mean()])
            aorta = np.argwhere(plain.labels == AORTA)
            dist = np.min(np.linalg.norm((aorta - centre) * scan.spacing[::-1], axis=1))
            assert dist < 50 or t.site in ("right paratracheal", "right paraesophageal"), (t, dist)


def test_normal_and_pathological_sizes_and_courses(cases):
    shorts, changes = [], []
    for model, scans, _plain in cases:
        for spec in model.lesions:
            if spec.organ != NODE:
                continue
            states = [s.lesions[spec.id - 1] for s in scans]
            measured = [t.short_diameter_mm for t in states if t.present]
            assert all(4.0 <= d <= 27.0 for d in measured), measured  # 6-25 mm + one voxel
            assert all(t.short_diameter_mm <= t.longest_diameter_mm for t in states)
            shorts += measured
            if states[0].present and states[-1].present:
                changes.append(states[-1].volume_mm3 / states[0].volume_mm3)
    assert min(shorts) < 10.0 and max(shorts) >= 15.0  # normal and pathological nodes
    assert max(changes) > 1.3 and min(changes) < 0.8  # some grow, some shrink
    kinds = {s.kind for m, _s, _p in cases for s in m.lesions if s.organ == NODE}
    assert {"stable", "grow"} <= kinds


def test_node_count_option():
    assert sum(s.organ == NODE for s in sample_patient(7, 3, n_nodes=0).lesions) == 0
    default = [sum(s.organ == NODE for s in sample_patient(seed, 3).lesions) for seed in range(8)]
    assert all(1 <= n <= 3 for n in default)
    with pytest.raises(ValueError):
        sample_patient(7, 3, n_nodes=9)
