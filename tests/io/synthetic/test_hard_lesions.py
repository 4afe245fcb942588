"""Opt-in hard lesions (issue 13): low contrast, on the organ border (kidney: exophytic).

Off by default: every seed renders exactly as before the option existed.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from interval.io.synthetic import generate_phantom, sample_patient
from interval.io.synthetic.lesions import HARD_STYLES, NODE, PAINT_OVER
from interval.io.synthetic.phantom import KIDNEY, LESION, LIVER, LYMPH_NODE

SMALL = (40, 64, 64)
# sha256 of ct, labels and lesion_ids at SMALL, computed before hard lesions were added.
PINNED = {
    (0, 0): "04cd203b2346a9e5ccc6967599d21448ae108bc449ed8886a122c8602c69846e",
    (3, 1): "38263a88b173a1ead3400e0517ec8262ba99c289105d0e3488c33c59ea50822e",
}
SHAPE = (48, 96, 96)  # 4 mm in-plane: enough voxels per lesion, still fast
SEED, TP = 0, 2  # hard at probability 1: kidney lesions 2 (low contrast) and 4 (on the border)
HOST = {"liver": LIVER, "kidney": KIDNEY}


def _digest(scan) -> str:
    h = hashlib.sha256()
    for a in (scan.ct, scan.labels, scan.lesion_ids):
        h.update(a.tobytes())
    return h.hexdigest()


def _organ_lesions(model):
    grouped = {i for g in model.groups for i in g.lesions}
    return [s for s in model.lesions if s.organ != NODE and s.id not in grouped]


def _grow(mask: np.ndarray) -> np.ndarray:
    """``mask`` dilated by one voxel along each axis in turn (a 3x3x3 box)."""
    out = mask.copy()
    for axis in range(3):
        src = out.copy()
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(1, None), slice(None, -1)
        out[tuple(lo)] |= src[tuple(hi)]
        out[tuple(hi)] |= src[tuple(lo)]
    return out


@pytest.fixture(scope="module")
def hard():
    """Seed 0 at its last scan, every organ lesion hard: with and without lesions, noisy
    (same noise in both) and noise-free."""
    kw = {"timepoint": TP, "hard_lesions": 1.0}
    return {
        "model": sample_patient(SEED, hard_lesions=1.0),
        "ct": generate_phantom(SEED, SHAPE, **kw),
        "ct_bare": generate_phantom(SEED, SHAPE, lesions=False, **kw),
        "clean": generate_phantom(SEED, SHAPE, noise=False, **kw),
        "clean_bare": generate_phantom(SEED, SHAPE, noise=False, lesions=False, **kw),
    }


@pytest.mark.parametrize(("seed", "tp"), sorted(PINNED))
def test_default_render_unchanged(seed, tp):
    assert _digest(generate_phantom(seed, SMALL, timepoint=tp)) == PINNED[(seed, tp)]
    assert _digest(generate_phantom(seed, SMALL, timepoint=tp, hard_lesions=0.0)) == PINNED[(seed, tp)]


def test_default_patient_has_no_hard_lesions():
    model = sample_patient(0)
    assert all(s.hard == "" for s in model.lesions)
    assert sample_patient(0, hard_lesions=0.0).lesions == model.lesions


def test_probability_out_of_range_is_refused():
    with pytest.raises(ValueError, match="hard_lesions"):
        sample_patient(0, hard_lesions=1.5)


def test_every_organ_lesion_is_hard_at_probability_one(hard):
    usual = sample_patient(SEED)
    organ = _organ_lesions(hard["model"])
    assert organ and all(s.hard in HARD_STYLES for s in organ)
    assert {s.hard for s in organ} >= {"contrast", "border"}
    # the same lesion kinds; merging and splitting lesions are left as they were
    assert sorted(s.kind for s in organ) == sorted(s.kind for s in _organ_lesions(usual))
    grouped = [s for s in hard["model"].lesions if s not in organ and s.organ != NODE]
    assert [s.centre_body for s in grouped] == \
        [s.centre_body for s in usual.lesions if s not in _organ_lesions(usual) and s.organ != NODE]


@pytest.mark.parametrize("seed", range(4))
def test_low_contrast_attenuation(seed):
    model = sample_patient(seed, hard_lesions=1.0)
    contrast = [s for s in _organ_lesions(model) if "contrast" in s.hard]
    assert contrast
    for s in contrast:
        if s.organ == "lung":  # ground glass
            assert -650 <= s.hu <= -450
        else:
            assert 8 <= abs(s.hu - model.anatomy.hu[s.organ]) <= 20
        assert s.core_hu == s.hu


def test_low_contrast_lesions_render_close_to_their_organ(hard):
    """CT with lesions minus CT without (same noise) over a lesion's voxels in its organ."""
    ct = hard["ct"].ct.astype(np.float64) - hard["ct_bare"].ct
    bare_labels, ids = hard["ct_bare"].labels, hard["ct"].lesion_ids
    checked = usual = 0
    for s in _organ_lesions(hard["model"]):
        if s.organ not in HOST:
            continue
        mask = (ids == s.id) & (bare_labels == HOST[s.organ])
        if mask.sum() < 10:
            continue
        diff = float(ct[mask].mean())
        if "contrast" in s.hard:
            assert 2 <= abs(diff) <= 20, (s.id, diff)
            checked += 1
        else:
            assert abs(diff) > 25, (s.id, diff)  # the usual contrast, for comparison
            usual += 1
    assert checked >= 2 and usual >= 1


def test_kidney_border_lesion_bulges_into_the_fat(hard):
    kidney = [s for s in _organ_lesions(hard["model"]) if s.organ == "kidney" and "border" in s.hard]
    assert kidney
    mask = hard["clean"].lesion_ids == kidney[0].id
    under = hard["clean_bare"].labels[mask]  # what the lesion covers
    assert mask.sum() >= 20
    assert np.mean(under == 0) >= 0.3  # outside the kidney ...
    assert np.mean(under == KIDNEY) >= 0.2  # ... and in it
    assert np.any(hard["clean_bare"].ct[mask & (hard["clean_bare"].labels == 0)] < -50)  # fat


def test_liver_border_lesions_reach_the_liver_surface(hard):
    border = [s for s in _organ_lesions(hard["model"]) if s.organ == "liver" and "border" in s.hard]
    ids, bare = hard["clean"].lesion_ids, hard["clean_bare"].labels
    seen = 0
    for s in border:
        mask = ids == s.id
        if mask.sum() < 5:
            continue
        assert np.all(bare[mask] == LIVER)  # painted over the liver only
        assert np.any(bare[_grow(mask)] != LIVER)  # but against its surface
        seen += 1
    assert seen


def test_labels_are_painted_where_the_ct_changes(hard):
    clean, bare = hard["clean"], hard["clean_bare"]
    painted = np.isin(clean.labels, (LESION, LYMPH_NODE))
    assert painted.sum() > 100
    assert np.array_equal(clean.labels[~painted], bare.labels[~painted])
    organ = {s.id: s.organ for s in hard["model"].lesions}
    for lid in np.unique(clean.lesion_ids[clean.lesion_ids > 0]):
        under = bare.labels[clean.lesion_ids == lid]
        assert np.all(np.isin(under, PAINT_OVER[organ[int(lid)]])), lid
    changed = clean.ct != bare.ct
    assert np.mean(changed[painted]) >= 0.98  # lesions show in the CT ...
    assert not np.any(changed & ~_grow(painted))  # ... and only there (plus the 3-tap blur)
