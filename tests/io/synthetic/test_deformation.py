"""The non-rigid deformation between scans: drawn consistently with the truth mapping, smooth,
bounded, zero where it does not apply, mean-free over the body (the pose stays the rigid part)."""

from __future__ import annotations

import numpy as np
import pytest

from interval.io.synthetic import (
    deformation_displacement,
    render,
    rigid_from_baseline,
    sample_patient,
    true_point_mapping,
)
from interval.io.synthetic.deformation import GridWarp
from interval.io.synthetic.grid import BodySampler
from interval.io.synthetic.phantom import HEART, KIDNEY, LIVER, LUNG, SPLEEN

SHAPE = (48, 96, 96)


def _eroded(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    for axis in range(3):
        out &= np.roll(mask, 1, axis) & np.roll(mask, -1, axis)
    return out


def _nearest(grid, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k, j, i) arrays of the voxels nearest to LPS points, and which lie inside the grid."""
    idx = np.rint((points - np.array(grid.origin)) / np.array(grid.spacing)).astype(int)
    inside = np.all((idx >= 0) & (idx < np.array(grid.shape[::-1])), axis=1)
    return idx[:, ::-1].T, inside


def _body_points(model, scan, n: int = 6000) -> np.ndarray:
    """Baseline LPS of voxels in the body (tissue, not the table), a random sample."""
    k, j, i = np.nonzero(scan.ct > -500)
    pts = scan.grid.index_to_lps(np.stack([i, j, k], axis=1))
    pts = pts[model.poses[0].to_body(pts)[:, 1] < model.anatomy.b_post]  # drop the table
    return pts[np.random.default_rng(0).choice(len(pts), size=min(n, len(pts)), replace=False)]


def _best_rigid(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rotation and translation taking points ``p`` to ``q`` (Kabsch)."""
    pc, qc = p.mean(axis=0), q.mean(axis=0)
    u, _s, vt = np.linalg.svd((p - pc).T @ (q - qc))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ u.T))])
    r = vt.T @ d @ u.T
    return r, qc - r @ pc


def test_baseline_is_the_reference_and_follow_ups_deform():
    model = sample_patient(0, 4)
    assert model.deformations[0] is None and all(d is not None for d in model.deformations[1:])
    pts = np.array([[0.0, 0.0, -400.0], [50.0, -20.0, -380.0]])
    assert np.array_equal(true_point_mapping(model, 0, pts), pts)
    assert np.allclose(rigid_from_baseline(model, 0), np.eye(4))
    for tp in (1, 2, 3):
        rigid = rigid_from_baseline(model, tp)
        assert np.allclose(rigid, model.poses[tp].relative_to(model.poses[0]))
        assert not np.allclose(true_point_mapping(model, tp, pts), pts @ rigid[:3, :3].T + rigid[:3, 3])
    assert not np.any(sample_patient(0, 4, deform=False).deformations)
    with pytest.raises(ValueError):
        true_point_mapping(model, 4, pts)
    with pytest.raises(ValueError):
        true_point_mapping(model, 1, pts[0])


def test_each_voxel_is_drawn_from_where_the_true_mapping_says():
    """Exact link between drawing and truth: the body point sampled at a follow-up voxel,
    placed at the baseline, maps back onto that voxel's centre."""
    model = sample_patient(1, 3)
    grid = model.default_grid(SHAPE)
    for tp in (1, 2):
        deformation, pose = model.deformations[tp], model.poses[tp]
        sampler = BodySampler(grid, pose, GridWarp(deformation, grid.shape, grid.spacing,
                                                   grid.origin))
        x, y, z = sampler.coords(sampler.full())
        kji = np.stack([np.random.default_rng(tp).integers(0, n, 3000) for n in grid.shape], axis=1)
        body = np.stack([c[kji[:, 0], kji[:, 1], kji[:, 2]] for c in (x, y, z)], axis=1)
        centres = grid.index_to_lps(kji[:, ::-1])
        assert np.abs(body - (pose.to_body(centres) - deformation.displacement(centres))).max() < 1e-3
        mapped = true_point_mapping(model, tp, model.poses[0].to_lps(body.astype(np.float64)))
        assert np.abs(mapped - centres).max() < 1e-3


def test_the_drawn_anatomy_follows_the_true_mapping():
    model = sample_patient(1, 3, n_merge=0, n_split=0)
    grid = model.default_grid(SHAPE)
    base = render(model, 0, grid, noise=False, lesions=False)
    organs = np.isin(base.labels, (LIVER, SPLEEN, KIDNEY, LUNG, HEART))
    k, j, i = np.nonzero(_eroded(organs))
    x0 = grid.index_to_lps(np.stack([i, j, k], axis=1))
    truth = base.labels[k, j, i]
    for tp in (1, 2):
        follow = render(model, tp, grid, noise=False, lesions=False)
        moved = np.linalg.norm(deformation_displacement(model, tp, x0), axis=1) > 3.0
        rigid = rigid_from_baseline(model, tp)
        miss = {}
        for name, y in (("true", true_point_mapping(model, tp, x0)),
                        ("rigid", x0 @ rigid[:3, :3].T + rigid[:3, 3])):
            (kk, jj, ii), inside = _nearest(grid, y)
            other = follow.labels[kk[inside], jj[inside], ii[inside]] != truth[inside]
            miss[name] = (other.mean(), other[moved[inside]].mean())
        print(f"tp {tp}: organ label mismatch (all, moved > 3 mm): true mapping {miss['true']}, "
              f"rigid only {miss['rigid']}; {moved.sum()} of {len(moved)} points moved > 3 mm")
        assert moved.sum() > 200
        assert miss["true"][0] < 0.02 and miss["true"][1] < 0.03  # nearest-voxel rounding only
        assert miss["rigid"][1] > miss["true"][1]  # the deformation is really drawn


def test_stable_lesion_centroids_follow_the_true_mapping():
    checked, rigid_errors = 0, []
    for seed in range(3):
        model = sample_patient(seed, 3, n_nodes=4)
        grid = model.default_grid((64, 128, 128))
        scans = [render(model, tp, grid, noise=False) for tp in range(3)]
        grouped = {i for g in model.groups for i in g.lesions}
        voxel = max(grid.spacing)
        for tp in (1, 2):
            for a, b in zip(scans[0].lesions, scans[tp].lesions, strict=True):
                if a.id in grouped or not (a.present and b.present):
                    continue
                if abs(b.nominal_volume_mm3 / a.nominal_volume_mm3 - 1) > 0.15:
                    continue  # growing shapes move their centroid
                mapped = true_point_mapping(model, tp, np.array([a.centroid_lps]))[0]
                assert np.linalg.norm(mapped - b.centroid_lps) < voxel, (seed, tp, a.id)
                rigid = rigid_from_baseline(model, tp)
                rigid_errors.append(np.linalg.norm(
                    rigid[:3, :3] @ a.centroid_lps + rigid[:3, 3] - b.centroid_lps))
                checked += 1
    assert checked >= 6
    print(f"{checked} stable lesions; rigid-only centroid errors up to {max(rigid_errors):.2f} mm")


def test_magnitude_is_bounded_and_the_pose_stays_the_best_rigid_fit():
    rows = []
    for seed in range(4):
        model = sample_patient(seed, 3)
        grid = model.default_grid(SHAPE)
        base = render(model, 0, grid, noise=False, lesions=False)
        x0 = _body_points(model, base)
        for tp in (1, 2):
            follow = render(model, tp, grid, noise=False, lesions=False)
            rigid = rigid_from_baseline(model, tp)
            r = x0 @ rigid[:3, :3].T + rigid[:3, 3]
            y = true_point_mapping(model, tp, x0)
            d = np.linalg.norm(y - r, axis=1)
            fr, ft = _best_rigid(r, y)
            offset = np.sqrt(np.mean(np.sum((r @ fr.T + ft - r) ** 2, axis=1)))
            rows.append((seed, tp, d.max(), np.sqrt(np.mean(d**2)), np.abs((y - r).mean(axis=0)).max(),
                         offset, *follow.deformation_mm))
    print("\nseed tp  max mm  RMS mm  |mean| mm  best-rigid vs pose (RMS mm)  recorded max/RMS")
    for seed, tp, peak, rms, mean, offset, rec_peak, rec_rms in rows:
        print(f"{seed:4d} {tp:2d} {peak:7.2f} {rms:7.2f} {mean:9.2f} {offset:12.2f} "
              f"{rec_peak:24.2f}/{rec_rms:.2f}")
    a = np.array(rows)
    assert np.all(a[:, 2] < 12.0) and np.all(a[:, 3] < 3.0)  # bounded
    assert np.median(a[:, 2]) > 3.0  # but real: several mm somewhere in every scan
    assert np.all(a[:, 4] < 0.3)  # mean-free over the body
    assert np.all(a[:, 5] < 0.4)  # the pose is the rigid part
    assert np.all(a[:, 6] < 12.0) and np.all(np.abs(a[:, 7] - a[:, 3]) < 0.6)


def test_smooth_invertible_and_zero_where_it_does_not_apply():
    model = sample_patient(2, 3)
    deformation, pose = model.deformations[2], model.poses[2]
    rng = np.random.default_rng(1)
    centre = np.array(pose.t)
    pts = centre + rng.uniform([-150, -100, -170], [150, 100, 170], size=(3000, 3))
    u = deformation.displacement(pts)
    step = rng.normal(size=(3000, 3))
    step *= 2.0 / np.linalg.norm(step, axis=1, keepdims=True)
    gradient = np.linalg.norm(deformation.displacement(pts + step) - u, axis=1) / 2.0
    assert gradient.max() < 0.35  # smooth and gentle: strains well below 1 (invertible)
    # forward (truth mapping) then backward (what rendering samples) gives the point back
    body = pose.to_body(pts)
    y = deformation.locate(pose.r, pose.t, body)
    assert np.allclose(pose.to_body(y) - deformation.displacement(y), body, atol=1e-6)
    # nothing moves on the table, far outside the body, or at the spine (craniocaudally)
    table = np.array([[centre[0] + x, deformation.table_y + 2.0, centre[2]] for x in (-100, 0, 100)])
    assert np.allclose(deformation.displacement(table), 0.0)
    outside = np.array([[centre[0] + 230.0, centre[1], z] for z in (centre[2] - 100, centre[2] + 50)])
    assert np.allclose(deformation.displacement(outside)[:, 2], 0.0)
    spine = np.array([[*deformation.spine_xy, deformation.diaphragm_z]])
    assert abs(deformation.displacement(spine)[0, 2]) < 1e-9
    assert abs(deformation.displacement(np.array([[*deformation.centre_xy,
                                                   deformation.diaphragm_z]]))[0, 2]) > 1.0
