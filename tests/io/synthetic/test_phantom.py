"""The in-memory synthetic phantom: anatomy, HU, lesions over time, pose, determinism."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from interval.io.synthetic import (
    LABELS,
    LESION,
    LYMPH_NODE,
    generate_phantom,
    label_table,
    sample_patient,
    true_point_mapping,
)
from interval.io.synthetic.lesions import axial_diameters, equivalent_diameter
from interval.io.synthetic.phantom import (
    AORTA,
    BONE,
    DEFAULT_FOV_MM,
    HEART,
    KIDNEY,
    LIVER,
    LUNG,
    MAX_GAP_DAYS,
    MIN_GAP_DAYS,
    SPLEEN,
    STOMACH,
)

SHAPE = (96, 160, 160)  # the training-sized case


@pytest.fixture(scope="module")
def scans():
    """Seed 0 at its three timepoints."""
    return [generate_phantom(0, SHAPE, timepoint=t) for t in range(3)]


def _eroded(mask: np.ndarray, times: int = 1) -> np.ndarray:
    out = mask.copy()
    for _ in range(times):
        src = out.copy()
        for axis in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[axis], hi[axis] = slice(1, None), slice(None, -1)
            out[tuple(lo)] &= src[tuple(hi)]
            out[tuple(hi)] &= src[tuple(lo)]
    return out


def test_arrays_and_grid(scans):
    scan = scans[0]
    assert scan.ct.shape == scan.labels.shape == scan.lesion_ids.shape == SHAPE
    assert scan.ct.dtype == np.int16
    assert scan.labels.dtype == np.uint8 and scan.lesion_ids.dtype == np.uint8
    # the default spacing covers the default field of view, centred on the scanner centre
    nz, ny, nx = SHAPE
    assert scan.spacing == pytest.approx((DEFAULT_FOV_MM[0] / nx, DEFAULT_FOV_MM[1] / ny,
                                          DEFAULT_FOV_MM[2] / nz), abs=1e-6)
    centre = np.array(scan.origin) + (np.array([nx, ny, nz]) - 1) / 2 * np.array(scan.spacing)
    assert centre == pytest.approx(sample_patient(0).scanner_centre, abs=1e-4)
    assert int(scan.ct.min()) >= -1024 and int(scan.ct.max()) <= 3071
    # every scan of a patient lies on the same grid; the label maps on it too
    for other in scans[1:]:
        assert other.grid == scan.grid
    ct_vol, lab_vol = scan.ct_volume(), scan.label_volume()
    assert lab_vol.same_grid(ct_vol) and lab_vol.is_label_map
    assert ct_vol.metadata.modality == "CT" and ct_vol.metadata.units == "HU"


def test_every_organ_is_drawn_with_plausible_hu(scans):
    scan = scans[0]
    expected = {
        LIVER: (45, 80), SPLEEN: (35, 65), KIDNEY: (15, 55), LUNG: (-900, -760),
        AORTA: (25, 60), HEART: (25, 65), BONE: (180, 1100), STOMACH: (-1000, 60),
    }
    for value, (lo, hi) in expected.items():
        mask = _eroded(scan.labels == value)
        assert mask.sum() > 50, f"{LABELS[value]} missing"
        median = float(np.median(scan.ct[mask]))
        assert lo <= median <= hi, f"{LABELS[value]}: median {median} HU outside {lo}..{hi}"
    # air around the patient, fat under the skin somewhere, dense cortical bone somewhere
    assert abs(float(np.median(scan.ct[:, :4, :4])) + 1000) < 15
    assert np.count_nonzero((scan.ct > -130) & (scan.ct < -70) & (scan.labels == 0)) > 10_000
    assert np.percentile(scan.ct[scan.labels == BONE], 99) > 500


def test_noise_is_realistic(scans):
    spleen = _eroded(scans[0].labels == SPLEEN, 2)
    sd = float(scans[0].ct[spleen].std())
    assert 5 <= sd <= 20
    # noise is drawn anew for every scan
    assert not np.array_equal(scans[0].ct[:, :8, :8], scans[1].ct[:, :8, :8])


def test_label_table_is_fixed():
    table = label_table()
    assert {i.value: i.name for i in table} == LABELS
    assert LABELS[LESION] == "lesion" and LABELS[LIVER] == "liver"
    assert LABELS[LYMPH_NODE] == "lymph node" and list(LABELS) == list(range(1, 11))



def test_label_colours_are_distinct():
    """Every pair of labels differs clearly in colour (the old anatomical set was all salmon)."""
    colours = [np.asarray(i.color, dtype=float) for i in label_table()]
    closest = min(np.linalg.norm(a - b) for n, a in enumerate(colours) for b in colours[n + 1:])
    assert closest > 60, closest

def test_lesion_ids_match_the_lesion_labels(scans):
    for scan in scans:
        assert np.array_equal(scan.lesion_ids > 0, np.isin(scan.labels, (LESION, LYMPH_NODE)))
        ids = set(np.unique(scan.lesion_ids)) - {0}
        assert ids == {t.id for t in scan.lesions if t.present}
        for t in scan.present_lesions():  # nodes carry label 10, the other lesions label 9
            painted = set(np.unique(scan.labels[scan.lesion_ids == t.id]))
            assert painted == ({LYMPH_NODE} if t.organ == "lymph node" else {LESION}), t


def _ordinary(model):
    """The organ lesions that are neither lymph nodes nor part of a merge or split."""
    grouped = {i for g in model.groups for i in g.lesions}
    return [s for s in model.lesions if s.organ != "lymph node" and s.id not in grouped]


def test_lesions_grow_shrink_and_appear(scans):
    model = sample_patient(0)
    kinds = {s.kind for s in model.lesions}
    assert {"grow", "shrink", "appear"} <= kinds
    assert 3 <= len(_ordinary(model)) <= 6
    by_id = {s.id: [scan.lesions[s.id - 1] for scan in scans] for s in model.lesions}
    for spec in _ordinary(model):
        states = by_id[spec.id]
        assert [t.id for t in states] == [spec.id] * 3
        vols = [t.volume_mm3 for t in states]
        nominal = [t.nominal_volume_mm3 for t in states]
        if spec.kind == "grow":
            assert vols[0] < vols[1] < vols[2] and nominal[0] < nominal[1] < nominal[2]
            assert vols[2] > 1.5 * vols[0]
        elif spec.kind == "shrink":
            assert vols[0] > vols[1] > vols[2] > 0
            assert vols[2] < 0.7 * vols[0]
        elif spec.kind == "appear":
            assert not states[0].present and vols[0] == 0 and nominal[0] == 0
            assert states[2].present and vols[2] > 0
        for t in states:
            if t.present:
                # the voxels agree with the analytic shape; RECIST diameter is sensible
                assert t.volume_mm3 == pytest.approx(t.nominal_volume_mm3, rel=0.35)
                d = equivalent_diameter(t.volume_mm3)
                assert 0.7 * d <= t.longest_diameter_mm <= 2.2 * d
                assert t.short_diameter_mm <= t.longest_diameter_mm + 1e-6
    appear = [s for s in model.lesions if s.kind == "appear"]
    assert any(by_id[s.id][1].present for s in appear), "one lesion appears at the first follow-up"


def test_lesions_lie_in_their_organ(scans):
    model = sample_patient(0)
    grouped = {i for g in model.groups for i in g.lesions}
    for tp, scan in enumerate(scans):
        plain = generate_phantom(0, SHAPE, timepoint=tp, lesions=False, noise=False)
        for spec in model.lesions:
            voxels = scan.lesion_ids == spec.id
            if not voxels.any():
                continue
            under = plain.labels[voxels]
            allowed = (KIDNEY, 0) if spec.organ == "kidney" else (spec.host_label,)
            assert np.isin(under, allowed).all(), spec
            assert np.mean(under == spec.host_label) > 0.6
            # visible: it differs from the organ it replaced (inside it: blur dims its rim)
            inner = _eroded(voxels)
            if inner.sum() >= 20:
                contrast = float(np.median(scan.ct[inner])) - float(np.median(plain.ct[inner]))
                assert abs(contrast) > 12, (spec.id, contrast)
            # the recorded centroid is that of the voxels, and the nominal centre (of the
            # main part, so not for a split lesion or a bridged pair) lies near it
            k, j, i = np.nonzero(voxels)
            centroid = np.array(scan.origin) + np.array(scan.spacing) * np.array(
                [i.mean(), j.mean(), k.mean()])
            truth = scan.lesions[spec.id - 1]
            assert np.linalg.norm(centroid - np.array(truth.centroid_lps)) < 0.01
            if spec.id not in grouped:
                assert np.linalg.norm(centroid - np.array(truth.centre_lps)) < 6.0


def test_patient_moves_a_little_between_scans():
    # rigid motion only (deform=False): the organs' centroid follows the pose exactly
    model = sample_patient(0, deform=False)
    scans = [generate_phantom(0, SHAPE, timepoint=t, deform=False, noise=False) for t in range(3)]
    base = model.poses[0]
    # organs wholly inside the field of view and never replaced by lesions
    organs = (SPLEEN, HEART)
    before = _centroid(scans[0], organs)
    for tp in (1, 2):
        pose = model.poses[tp]
        shift = np.linalg.norm(pose.t - base.t)
        angle = np.degrees(np.arccos(np.clip((np.trace(pose.r @ base.r.T) - 1) / 2, -1, 1)))
        assert 2.0 <= shift <= 15.0 and 0.1 <= angle <= 3.5
        # the anatomy really moved: the organs' centroid follows the rigid transform
        predicted = (pose.relative_to(base) @ np.append(before, 1.0))[:3]
        moved = _centroid(scans[tp], organs)
        assert np.linalg.norm(moved - before) > 1.0
        assert np.linalg.norm(moved - predicted) < 1.0
        assert np.allclose(true_point_mapping(model, tp, before[None])[0], predicted)


def _centroid(scan, labels: tuple[int, ...]) -> np.ndarray:
    k, j, i = np.nonzero(np.isin(scan.labels, labels))
    return np.array(scan.origin) + np.array(scan.spacing) * np.array([i.mean(), j.mean(), k.mean()])


def test_same_seed_same_bytes_other_seed_differs():
    digest = lambda s: hashlib.sha256(  # noqa: E731
        s.ct.tobytes() + s.labels.tobytes() + s.lesion_ids.tobytes()).hexdigest()
    options = {"n_timepoints": 4, "n_merge": 1, "n_split": 1, "n_nodes": 3}
    a = generate_phantom(3, (32, 64, 64), timepoint=2, **options)
    sample_patient.cache_clear()  # the patient drawn again from the seed, not from the cache
    b = generate_phantom(3, (32, 64, 64), timepoint=2, **options)
    c = generate_phantom(4, (32, 64, 64), timepoint=2, **options)
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)
    assert a.lesions == b.lesions and a.deformation == b.deformation


def test_seeds_vary_the_anatomy():
    sizes = []
    for seed in range(4):
        scan = generate_phantom(seed, (32, 64, 64), noise=False)
        sizes.append(tuple(int((scan.labels == v).sum()) for v in (LIVER, SPLEEN, KIDNEY, LUNG)))
        assert (scan.labels == LIVER).any() and (scan.labels == LUNG).any()
    assert len(set(sizes)) == 4


def test_many_seeds_have_every_course():
    all_gaps = []
    for seed in range(25):
        model = sample_patient(seed)
        assert {"grow", "shrink", "appear"} <= {s.kind for s in model.lesions}, seed
        assert len(model.dates) == 3 and model.days[0] == 0
        gaps = [(b - a).days for a, b in zip(model.dates, model.dates[1:], strict=False)]
        # irregular: 5 to 16 weeks apart (a weekend date moves to the Monday)
        assert all(MIN_GAP_DAYS <= g <= MAX_GAP_DAYS + 2 for g in gaps), gaps
        assert all(d.weekday() < 5 for d in model.dates)
        all_gaps += gaps
    assert len(set(all_gaps)) > 20 and max(all_gaps) - min(all_gaps) > 50


def test_irregular_intervals_and_the_regular_option():
    for n in (1, 2, 5, 8):
        model = sample_patient(11, n_timepoints=n)
        assert len(model.dates) == n == len(model.poses) == len(model.deformations)
        assert list(model.days) == sorted(set(model.days))  # distinct and increasing
        gaps = np.diff(model.days)
        assert np.all((gaps >= MIN_GAP_DAYS) & (gaps <= MAX_GAP_DAYS + 2)), gaps
    assert len(set(np.diff(sample_patient(11, n_timepoints=8).days))) > 3  # not one step
    regular = sample_patient(11, n_timepoints=4, months_between=3)
    assert all(80 <= g <= 100 for g in np.diff(regular.days)), regular.days
    assert regular.dates[0] == sample_patient(11, n_timepoints=4).dates[0]
    for bad in ({"n_timepoints": 0}, {"n_timepoints": 9}, {"months_between": 0},
                {"n_timepoints": 1, "n_merge": 1}, {"n_nodes": 5}):
        with pytest.raises(ValueError):
            sample_patient(11, **bad)


def test_options():
    one = sample_patient(5, n_timepoints=1)
    assert len(one.dates) == 1 and all(s.kind != "appear" for s in one.lesions)
    assert one.groups == () and one.deformations == (None,)
    four = sample_patient(5, n_lesions=4)
    assert len(_ordinary(four)) == 4
    assert len(sample_patient(5, n_lesions=4, n_merge=0, n_split=0, n_nodes=0).lesions) == 4
    scan = generate_phantom(5, (16, 32, 32), spacing=(3.0, 3.0, 5.0))
    assert scan.spacing == (3.0, 3.0, 5.0)
    with pytest.raises(ValueError):
        generate_phantom(5, (16, 32, 32), timepoint=3)


def test_axial_diameters_of_a_rectangle():
    mask = np.zeros((3, 10, 10), bool)
    mask[1, 2:5, 3:8] = True  # 3 rows x 5 columns of 1 mm pixels
    longest, short = axial_diameters(mask, (1.0, 1.0, 2.0))
    assert longest == pytest.approx(np.hypot(5, 3), abs=0.05)
    assert short == pytest.approx(30 / np.hypot(5, 3), abs=0.1)  # width across the diagonal
    assert axial_diameters(np.zeros((2, 4, 4), bool), (1.0, 1.0, 1.0)) == (0.0, 0.0)
