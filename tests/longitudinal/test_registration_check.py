"""The registration check on a real ``interval track`` output folder (tiny generated
patient tracked with its truth label maps): the follow-up on the baseline's grid, the fused
and checkerboard pictures, the verdict text, and a re-run registration saved and used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from interval.io.sitk_bridge import to_sitk
from interval.longitudinal import registration_check as rc
from interval.longitudinal import registration_rerun as rr
from interval.longitudinal.model import REG_FAILED
from interval.longitudinal.workspace import LongitudinalWorkspace
from tests.longitudinal._tracked_patient import track_tiny_patient

TISSUE_HU = -500.0  # above: body (air is about -1000 HU)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    root = tmp_path_factory.mktemp("reg-check")
    run = track_tiny_patient(root, 3, 2)
    return run.out, {t: run.selection.load(t) for t in (0, 1)}


@pytest.fixture
def out_copy(tracked, tmp_path) -> Path:
    return Path(shutil.copytree(tracked[0], tmp_path / "out"))


def _pair(tracked, k: int | None = None, thickness: int = 1) -> rc.CheckPair:
    out, scans = tracked
    ws = LongitudinalWorkspace.open(out)
    reg = next(r for r in ws.report.registrations if r.timepoint == 1)
    transform = rc.load_transform(out, reg)
    base = scans[0]
    k = base.shape[0] // 2 if k is None else k
    return rc.resample_pair(base, scans[1], transform, k, thickness)


def test_follow_up_is_resampled_with_the_saved_transform(tracked) -> None:
    out, scans = tracked
    pair = _pair(tracked)
    base, follow = scans[0], scans[1]
    assert pair.baseline.shape == pair.follow_up.shape == base.shape[1:]
    # a few pixels checked against the transform by hand (linear interpolation in follow-up)
    ws = LongitudinalWorkspace.open(out)
    reg = next(r for r in ws.report.registrations if r.timepoint == 1)
    tx = sitk.ReadTransform(str(out / reg.transform_file))
    moving = sitk.Cast(to_sitk(follow), sitk.sitkFloat32)
    for j, i in ((40, 40), (30, 50), (55, 20)):
        p = base.index_to_lps((i, j, pair.k))
        q = tx.TransformPoint(tuple(float(v) for v in p))
        idx = moving.TransformPhysicalPointToContinuousIndex(q)
        expected = _trilinear(sitk.GetArrayFromImage(moving), idx)
        assert pair.follow_up[j, i] == pytest.approx(expected, abs=0.5)
    # registered: the body masks agree far better than the unregistered scans
    identity = rc.resample_pair(base, follow, sitk.AffineTransform(3), pair.k)
    dice_reg = _dice(pair.baseline > TISSUE_HU, pair.follow_up > TISSUE_HU)
    dice_raw = _dice(identity.baseline > TISSUE_HU, identity.follow_up > TISSUE_HU)
    assert dice_reg > 0.9 and dice_reg >= dice_raw


def test_fused_image_shows_both_scans(tracked) -> None:
    pair = _pair(tracked)
    window = rc.SOFT_TISSUE
    rgb = rc.check_image(pair, "fused", window)
    base_tissue = rc.to_grey(pair.baseline, window) > 0.3
    follow_tissue = (rc.to_grey(pair.follow_up, window) > 0.3) & pair.inside
    assert base_tissue.sum() > 100 and follow_tissue.sum() > 100
    assert (rgb[..., 1][base_tissue] > 70).all()  # baseline in green
    assert (rgb[..., 0][follow_tissue] > 70).all()  # follow-up in magenta (red + blue)
    assert np.array_equal(rgb[..., 0], rgb[..., 2])
    assert (rgb[..., 1][~base_tissue & (rc.to_grey(pair.baseline, window) == 0)] == 0).all()
    both = base_tissue & follow_tissue
    assert both.sum() > 100  # registered: mostly grey where both have tissue
    # the balance dims one source
    only_base = rc.check_image(pair, "fused", window, blend=0.0)
    assert (only_base[..., 0] == 0).all() and (only_base[..., 1] == rgb[..., 1]).all()


def test_checkerboard_alternates_the_sources(tracked) -> None:
    pair = _pair(tracked, thickness=3)
    assert pair.thickness == 3
    window = rc.SOFT_TISSUE
    rgb = rc.check_image(pair, "checkerboard", window, tile_px=8)
    mask = rc.checker_mask(pair.baseline.shape, 8)
    assert not mask[0, 0] and mask[0, 8] and mask[8, 0] and not mask[8, 8]
    base = np.rint(rc.to_grey(pair.baseline, window) * 255)
    follow = np.rint(np.where(pair.inside, rc.to_grey(pair.follow_up, window), 0) * 255)
    assert np.array_equal(rgb[..., 0][~mask], base[~mask])
    assert np.array_equal(rgb[..., 0][mask], follow[mask])
    assert not np.array_equal(base, follow)  # two different sources, really alternating
    blend = rc.check_image(pair, "blend", window, blend=1.0)
    assert np.array_equal(blend[..., 0], follow.astype(np.uint8))
    with pytest.raises(rc.RegistrationCheckError):
        rc.check_image(pair, "overlay", window)
    with pytest.raises(rc.RegistrationCheckError):
        rc.resample_pair(tracked[1][0], tracked[1][1], sitk.AffineTransform(3), 999)


def test_verdict_text_matches_the_report(tracked) -> None:
    ws = LongitudinalWorkspace.open(tracked[0])
    reg = next(r for r in ws.report.registrations if r.timepoint == 1)
    data = json.loads((tracked[0] / "report.json").read_text())
    saved = next(r for r in data["registrations"] if r["timepoint"] == 1)
    text = rc.verdict_text(reg, "follow-up 1", "baseline")
    assert f"{saved['metric']:.4f}" in text
    assert f"{saved['body_overlap']:.3f}" in text
    assert saved["method"] in text and saved["message"] in text
    assert text.startswith("follow-up 1 registered to baseline: rigid")


def test_failed_registration_cannot_be_shown(tracked) -> None:
    ws = LongitudinalWorkspace.open(tracked[0])
    import dataclasses

    reg = next(r for r in ws.report.registrations if r.timepoint == 1)
    with pytest.raises(rc.RegistrationCheckError, match="failed"):
        rc.load_transform(tracked[0], dataclasses.replace(reg, status=REG_FAILED))


def test_rerun_is_saved_and_moves_the_mapping(tracked, out_copy: Path) -> None:
    _, scans = tracked
    ws = LongitudinalWorkspace.open(out_copy)
    old = next(r for r in ws.report.registrations if r.timepoint == 1)
    old_text = (out_copy / old.transform_file).read_bytes()
    points = [m.centroid_lps for m in ws.report.measurements if m.timepoint == 0]
    before = [ws.point_in(1, p) for p in points]
    new = rr.rerun_registration(scans[0], scans[1], 1, "affine")
    assert new.result.status != REG_FAILED
    saved = rr.save_rerun(out_copy, new, old)
    assert saved.transform_file == old.transform_file  # the pipeline's file name
    assert (out_copy / (old.transform_file + ".bak")).read_bytes() == old_text
    regs, warnings = rr.registrations_in_use(ws.report, out_copy)
    assert warnings == []
    assert next(r for r in regs if r.timepoint == 1) == saved
    rr.reload_point_mapping(ws, regs)
    tx = sitk.ReadTransform(str(out_copy / saved.transform_file))
    for p, b in zip(points, before, strict=True):
        q = ws.point_in(1, p)
        assert q == pytest.approx(tx.TransformPoint(tuple(p)), abs=1e-6)
        assert np.linalg.norm(np.subtract(q, b)) < 8.0  # the same anatomy within 1 voxel
        back = ws.point_in(0, q, from_timepoint=1)
        assert back == pytest.approx(p, abs=1e-3)
    # opened again: the re-run is still the one in use
    ws2 = LongitudinalWorkspace.open(out_copy)
    regs2, _ = rr.registrations_in_use(ws2.report, out_copy)
    assert next(r for r in regs2 if r.timepoint == 1) == saved


def test_mapping_follows_the_saved_transform(tracked, out_copy: Path) -> None:
    """A re-run 6 mm away from the old one moves the linked positions by those 6 mm."""
    ws = LongitudinalWorkspace.open(out_copy)
    old = next(r for r in ws.report.registrations if r.timepoint == 1)
    new = shifted_registration(out_copy, old, (6.0, 0.0, 0.0))
    points = [m.centroid_lps for m in ws.report.measurements if m.timepoint == 0]
    before = np.array([ws.point_in(1, p) for p in points])
    saved = rr.save_rerun(out_copy, new, old)
    rr.reload_point_mapping(ws, rr.registrations_in_use(ws.report, out_copy)[0])
    after = np.array([ws.point_in(1, p) for p in points])
    assert after - before == pytest.approx(np.tile([6.0, 0.0, 0.0], (len(points), 1)), abs=1e-6)
    assert (out_copy / saved.transform_file).is_file()


def test_deformable_rerun_replaces_the_linear_file(tracked, out_copy: Path) -> None:
    ws = LongitudinalWorkspace.open(out_copy)
    old = next(r for r in ws.report.registrations if r.timepoint == 1)
    new = shifted_registration(out_copy, old, (0.0, 0.0, 0.0), deformable=True)
    saved = rr.save_rerun(out_copy, new, old)
    assert saved.transform_file.endswith(".h5")
    assert not (out_copy / old.transform_file).exists()
    assert (out_copy / (old.transform_file + ".bak")).is_file()


def test_failed_rerun_is_not_saved_and_bad_record_warns(tracked, out_copy: Path) -> None:
    _, scans = tracked
    ws = LongitudinalWorkspace.open(out_copy)
    old = next(r for r in ws.report.registrations if r.timepoint == 1)
    empty = scans[1].with_array(np.full(scans[1].shape, -1000, dtype=scans[1].array.dtype))
    failed = rr.rerun_registration(scans[0], empty, 1, "rigid")
    assert failed.result.status == REG_FAILED
    with pytest.raises(rr.RerunError, match="failed"):
        rr.save_rerun(out_copy, failed, old)
    assert not (out_copy / rr.RERUN_JSON).exists()
    with pytest.raises(rr.RerunError, match="unknown"):
        rr.rerun_registration(scans[0], scans[1], 1, "magic")
    (out_copy / rr.RERUN_JSON).write_text("{not json", encoding="utf-8")
    regs, warnings = rr.registrations_in_use(ws.report, out_copy)
    assert regs == ws.report.registrations and "cannot be read" in warnings[0]


# --- helpers --------------------------------------------------------------------------------


def shifted_registration(out: Path, old, shift, *, deformable: bool = False
                         ) -> rr.Registration:
    """The saved registration of ``old``, then a translation by ``shift`` mm; with
    ``deformable`` a (zero) B-spline before it, so it is saved as a composite ``.h5``."""
    import dataclasses

    from interval.longitudinal.registration import Registration

    tx = sitk.ReadTransform(str(out / old.transform_file))
    composite = sitk.CompositeTransform([sitk.TranslationTransform(3, shift), tx])
    linear = np.asarray(old.matrix, dtype=np.float64)
    move = np.eye(4)
    move[:3, 3] = shift
    linear = move @ linear  # the old transform, then the shift (as the composite)
    merged = sitk.AffineTransform(3)
    merged.SetMatrix(tuple(linear[:3, :3].ravel()))
    merged.SetTranslation(tuple(linear[:3, 3]))
    for p in ((0.0, 0.0, 0.0), (50.0, -20.0, 10.0)):
        assert merged.TransformPoint(p) == pytest.approx(composite.TransformPoint(p), abs=1e-6)
    if deformable:
        bspline = sitk.BSplineTransform(3)
        result = dataclasses.replace(old, method="deformable", transform_file=None)
        return Registration(result, sitk.CompositeTransform([merged, bspline]), linear, bspline)
    result = dataclasses.replace(old, method="affine", transform_file=None)
    return Registration(result, merged, linear)


def _trilinear(array: np.ndarray, idx) -> float:
    i, j, k = idx
    i0, j0, k0 = int(np.floor(i)), int(np.floor(j)), int(np.floor(k))
    fi, fj, fk = i - i0, j - j0, k - k0
    total = 0.0
    for dk, wk in ((0, 1 - fk), (1, fk)):
        for dj, wj in ((0, 1 - fj), (1, fj)):
            for di, wi in ((0, 1 - fi), (1, fi)):
                w = wk * wj * wi
                if w:
                    total += w * float(array[k0 + dk, j0 + dj, i0 + di])
    return total


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / max(1, int(a.sum() + b.sum()))
