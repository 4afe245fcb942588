"""Registration of follow-ups: accuracy against known truth, verdicts, files, inverse, cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from interval.core.errors import Cancelled
from interval.core.volume import Volume
from interval.io.sitk_bridge import from_sitk, to_sitk
from interval.io.synthetic import generate_patient
from interval.io.synthetic.deformation import true_point_mapping
from interval.longitudinal.body_mask import body_mask
from interval.longitudinal.model import REG_FAILED, REG_IDENTITY, REG_OK
from interval.longitudinal.registration import (
    Registration,
    RegistrationError,
    compose,
    identity_registration,
    register,
)
from interval.longitudinal.registration_transforms import affine_transform, linear_matrix
from tests.conftest import shared

SHAPE = (100, 96, 96)  # slices, rows, columns: 384 x 384 x 350 mm
SPACING = (4.0, 4.0, 3.5)  # x, y, z mm


def _patient(root: Path, seed: int, n: int = 2, deform: bool = True):
    return generate_patient(root / f"p{seed}", seed=seed, n_timepoints=n, shape=SHAPE,
                            spacing=SPACING, ground_truth=False, deform=deform)


def _body_points(volume: Volume, step: int = 23) -> np.ndarray:
    """LPS points of the baseline body mask (every ``step``-th voxel)."""
    mask = sitk.GetArrayFromImage(body_mask(sitk.Cast(to_sitk(volume), sitk.sitkFloat32),
                                            ct=True)).astype(bool)
    kji = np.argwhere(mask)[::step]
    return volume.index_to_lps(kji[:, ::-1].astype(np.float64))


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt((np.linalg.norm(a - b, axis=1) ** 2).mean()))


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:3, :3].T + matrix[:3, 3]


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory):
    """Generated patient 0 (with its breathing deformation), 3 timepoints, arrays kept."""
    return _patient(tmp_path_factory.mktemp("reg"), 0, n=3)


@pytest.fixture(scope="module")
def registered(patient) -> Registration:
    base, follow = (p.ct_volume() for p in patient.phantoms[:2])
    return register(base, follow, timepoint=1, reference=0)


# --- the body mask ------------------------------------------------------------------------------


def test_body_mask_fills_the_lungs_and_leaves_the_table_out(patient) -> None:
    phantom = patient.phantoms[0]
    image = sitk.Cast(to_sitk(phantom.ct_volume()), sitk.sitkFloat32)
    mask = sitk.GetArrayFromImage(body_mask(image, ct=True)).astype(bool)
    assert mask[phantom.labels == 4].all()  # lungs (below -500 HU) count as body
    assert mask[phantom.labels > 0].all()
    dense_outside = (phantom.ct > -500) & (phantom.labels == 0) & ~mask
    rows = np.nonzero(dense_outside.any(axis=(0, 2)))[0]
    body_rows = np.nonzero(mask.any(axis=(0, 2)))[0]
    assert rows.size and rows.max() > body_rows.max()  # the table, below the back, is out
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(
        mask.astype(np.uint8))))
    assert labels.max() == 1  # one piece
    empty = sitk.Image(image.GetSize(), sitk.sitkFloat32) - 1000.0
    assert not sitk.GetArrayFromImage(body_mask(empty, ct=True)).any()
    assert not sitk.GetArrayFromImage(body_mask(empty, ct=False)).any()


# --- accuracy on generated patients ----------------------------------------------------------


def _check_recovers_pose(patient, method: str) -> Registration:
    base, follow = (p.ct_volume() for p in patient.phantoms[:2])
    reg = register(base, follow, method=method, timepoint=1, reference=0)
    points = _body_points(base)
    rigid_truth = _apply(patient.timepoints[1].from_baseline_matrix, points)
    full_truth = true_point_mapping(patient, 1, points)
    estimate = reg.to_moving(points)
    assert reg.result.status == REG_OK, reg.result.message
    # the known rigid shift within 1 mm RMS over the body ...
    assert _rms(estimate, rigid_truth) < 1.0
    # ... and, against the whole truth (pose + breathing), no worse than the pose itself
    assert _rms(estimate, full_truth) < _rms(rigid_truth, full_truth) + 0.5
    return reg


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rigid_recovers_the_pose_of_generated_patients(tmp_path: Path, seed: int) -> None:
    reg = _check_recovers_pose(_patient(tmp_path, seed), "rigid")
    assert reg.result.method == "rigid"


def test_affine_default_recovers_the_pose_and_keeps_rigid(patient) -> None:
    reg = _check_recovers_pose(patient, "affine")
    # scans that differ by a pose and breathing gain nothing from 6 more parameters
    assert reg.result.method == "rigid"
    assert "rigid result is used" in reg.result.message


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4, 12))
def test_affine_recovers_the_pose_of_more_patients(tmp_path: Path, seed: int) -> None:
    _check_recovers_pose(_patient(tmp_path, seed), "affine")


def test_affine_recovers_a_real_change_of_scale(tmp_path: Path) -> None:
    p = _patient(tmp_path, 5, deform=False)
    base, follow = (ph.ct_volume() for ph in p.phantoms)
    # the follow-up as if the patient had shrunk by 4 % across (weight loss): the voxel at
    # y shows what the original follow-up shows at shrink(y)
    centre = np.asarray(follow.index_to_lps(np.array(follow.size_ijk) / 2.0))
    shrink = np.eye(4)
    shrink[:3, :3] = np.diag([1.04, 1.04, 1.0])
    shrink[:3, 3] = centre - shrink[:3, :3] @ centre
    image = to_sitk(follow)
    resampled = sitk.Resample(image, image, affine_transform(shrink), sitk.sitkLinear, -1024.0)
    moved = from_sitk(resampled, follow.metadata)
    reg = register(base, moved, method="affine", timepoint=1, reference=0)
    assert reg.result.status == REG_OK, reg.result.message
    assert reg.result.method == "affine"
    points = _body_points(base)
    truth = _apply(np.linalg.inv(shrink) @ p.timepoints[1].from_baseline_matrix, points)
    assert _rms(reg.to_moving(points), truth) < 1.0
    scales = np.linalg.svd(np.asarray(reg.result.matrix)[:3, :3], compute_uv=False)
    assert sorted(scales)[:2] == pytest.approx([1 / 1.04] * 2, abs=0.006)


@pytest.mark.slow
def test_deformable_brings_lesions_closer_than_rigid(patient) -> None:
    base, follow = (p.ct_volume() for p in patient.phantoms[:2])
    truths = {t.id: t for t in patient.lesions[1] if t.present}
    lesions = [t for t in patient.lesions[0] if t.present and t.id in truths]
    centres = np.array([t.centre_lps for t in lesions])
    target = np.array([truths[t.id].centre_lps for t in lesions])
    rigid = register(base, follow, method="rigid", timepoint=1, reference=0)
    deformable = register(base, follow, method="deformable", timepoint=1, reference=0)
    assert deformable.result.method == "deformable", deformable.result.message
    assert deformable.result.status == REG_OK
    assert _rms(deformable.to_moving(centres), target) < 0.85 * _rms(rigid.to_moving(centres),
                                                                    target)
    points = _body_points(base, step=97)
    full = true_point_mapping(patient, 1, points)
    assert _rms(deformable.to_moving(points), full) <= _rms(rigid.to_moving(points), full) + 0.1
    # the inverse of the deformation, by iteration, and the saved composite transform
    moved = deformable.to_moving(points)
    assert np.abs(deformable.to_reference(moved) - points).max() < 1e-3
    path = deformable.save(Path(patient.root) / "deformable")
    assert path.suffix == ".h5"
    read = sitk.ReadTransform(str(path))
    again = np.array([read.TransformPoint(tuple(q)) for q in points[:50]])
    assert np.abs(again - moved[:50]).max() < 1e-6


# --- the real brain MR pair --------------------------------------------------------------------


@pytest.fixture(scope="module")
def brain_pair() -> tuple[Volume, Volume]:
    from interval.io.dicom.index import index_folder
    from interval.io.dicom.load import load_stack

    index = index_folder(shared("dcm_qa_xa30"))
    stacks = sorted(index.iter_stacks(), key=lambda s: s.first.series_number)
    assert [s.first.series_description for s in stacks] == ["anat-T1w_acq-tfl"] * 2
    a, b = (load_stack(s) for s in stacks)
    return a, b


def _head_points(volume: Volume) -> np.ndarray:
    mask = sitk.GetArrayFromImage(body_mask(sitk.Cast(to_sitk(volume), sitk.sitkFloat32),
                                            ct=False)).astype(bool)
    assert mask.mean() > 0.15  # the whole head, not a sliver
    kji = np.argwhere(mask)[::11]
    return volume.index_to_lps(kji[:, ::-1].astype(np.float64))


def test_brain_pair_forward_and_backward_agree(brain_pair) -> None:
    a, b = brain_pair
    forward = register(a, b, method="rigid", timepoint=1, reference=0)
    backward = register(b, a, method="rigid", timepoint=0, reference=1)
    for reg in (forward, backward):
        assert reg.result.status == REG_OK, reg.result.message
    points = _head_points(a)
    round_trip = backward.to_moving(forward.to_moving(points))
    error = np.linalg.norm(round_trip - points, axis=1)
    assert error.max() < 0.5  # every point of the head, not only on average


def test_brain_motion_is_recovered_in_both_directions(brain_pair) -> None:
    a, _b = brain_pair
    # a known head motion (6 degrees about an oblique axis, 9 mm), applied to the placement of
    # the voxels, not to the voxels: no interpolation, an oblique grid for the registration
    motion = sitk.Euler3DTransform()
    motion.SetCenter(tuple(a.index_to_lps(np.array(a.size_ijk) / 2.0)))
    motion.SetRotation(np.radians(4.0), np.radians(-3.0), np.radians(2.5))
    motion.SetTranslation((6.0, -5.0, 4.0))
    m = linear_matrix(motion)  # a's LPS -> the moved head's LPS
    moved = Volume(a.array, a.spacing, tuple(_apply(m, np.array([a.origin]))[0]),
                   m[:3, :3] @ a.direction, a.metadata)
    forward = register(moved, a, method="rigid", timepoint=1, reference=0)
    backward = register(a, moved, method="rigid", timepoint=0, reference=1)
    for reg in (forward, backward):
        assert reg.result.status == REG_OK, reg.result.message
    angle = np.degrees(np.arccos((np.trace(m[:3, :3]) - 1) / 2))
    assert forward.result.rotation_deg == pytest.approx(angle, abs=0.2)
    points = _head_points(a)
    assert _rms(backward.to_moving(points), _apply(m, points)) < 0.25
    moved_points = _apply(m, points)
    assert _rms(forward.to_moving(moved_points), points) < 0.25
    assert np.linalg.norm(forward.to_moving(backward.to_moving(points)) - points,
                          axis=1).max() < 0.25


# --- verdicts ----------------------------------------------------------------------------------


def _part(volume: Volume, k0: int, k1: int) -> Volume:
    return Volume(np.ascontiguousarray(volume.array[k0:k1]), volume.spacing,
                  tuple(volume.index_to_lps((0, 0, k0))), volume.direction, volume.metadata)


def test_another_body_region_is_reported_failed(patient) -> None:
    base, follow = (p.ct_volume() for p in patient.phantoms[:2])
    n = base.shape[0]
    chest, abdomen = _part(base, n - 45, n), _part(follow, 0, 45)
    reg = register(chest, abdomen, method="rigid", timepoint=1, reference=0)
    assert reg.result.status == REG_FAILED
    assert "do not match better here than nearby" in reg.result.message
    # the body outlines alone would have passed: that is why the match is checked inside
    assert reg.result.body_overlap is not None and reg.result.body_overlap > 0.85
    with pytest.raises(RegistrationError, match="failed"):
        reg.to_reference(np.zeros((1, 3)))
    with pytest.raises(RegistrationError):
        reg.resample_labels(abdomen, chest)
    assert reg.to_moving(np.zeros((1, 3)), force=True).shape == (1, 3)


def test_noise_and_empty_scans_are_reported_failed(patient) -> None:
    base = _part(patient.phantoms[0].ct_volume(), 30, 70)
    rng = np.random.default_rng(1)
    noise = base.with_array(rng.integers(-1000, 1000, base.shape).astype(np.int16))
    reg = register(base, noise, method="rigid", timepoint=1, reference=0)
    assert reg.result.status == REG_FAILED
    empty = base.with_array(np.full(base.shape, -1000, np.int16))
    reg = register(base, empty, timepoint=1, reference=0)
    assert reg.result.status == REG_FAILED
    assert "no body was found in the follow-up scan" in reg.result.message


def test_a_follow_up_covering_less_of_the_body_still_registers(patient) -> None:
    base, follow = (p.ct_volume() for p in patient.phantoms[:2])
    n = base.shape[0]
    chest_only = _part(follow, n // 2, n)  # the follow-up covers the upper half only
    reg = register(base, chest_only, method="rigid", timepoint=1, reference=0)
    assert reg.result.status == REG_OK, reg.result.message
    points = _body_points(base)
    rigid_truth = _apply(patient.timepoints[1].from_baseline_matrix, points)
    k = chest_only.lps_to_index(rigid_truth)[:, 2]
    covered = (k > 10) & (k < chest_only.shape[0] - 10)
    assert covered.mean() > 0.2
    assert _rms(reg.to_moving(points[covered]), rigid_truth[covered]) < 1.0


# --- the Registration object ---------------------------------------------------------------------


def test_result_describes_the_transform(registered: Registration, patient) -> None:
    r = registered.result
    assert (r.timepoint, r.reference) == (1, 0)
    assert r.metric is not None and r.metric < 0  # Mattes MI: lower is better
    assert 0.95 < r.body_overlap <= 1.0
    matrix = np.asarray(r.matrix)
    assert np.allclose(matrix, linear_matrix(registered.transform), atol=1e-6)
    truth = patient.timepoints[1]
    assert r.rotation_deg == pytest.approx(truth.rotation_deg, abs=0.3)
    assert np.linalg.norm(np.subtract(r.translation_mm, truth.shift_mm)) < 1.5
    assert r.seconds > 0


def test_to_reference_is_the_exact_inverse(registered: Registration) -> None:
    points = np.random.default_rng(0).uniform(-150, 150, (200, 3)) + [0, 0, -300]
    moved = registered.to_moving(points)
    assert np.abs(registered.to_reference(moved) - points).max() < 1e-9
    # the same as SimpleITK applying the transform
    direct = np.array([registered.transform.TransformPoint(tuple(p)) for p in points[:20]])
    assert np.abs(direct - moved[:20]).max() < 1e-9
    assert registered.to_moving(points[0]).shape == (1, 3)
    with pytest.raises(ValueError):
        registered.to_moving(np.zeros((3, 2)))


def test_resample_labels_puts_the_follow_up_organs_on_the_baseline(registered, patient) -> None:
    base, follow = patient.phantoms[:2]
    labels = follow.label_volume()
    on_base = registered.resample_labels(labels, base.ct_volume())
    assert on_base.shape == base.labels.shape and on_base.dtype == labels.array.dtype
    for organ in (1, 2, 3):  # liver, spleen, kidney: moved with the body and breathing
        a, b = on_base == organ, base.labels == organ
        unaligned = follow.labels == organ
        dice = 2 * (a & b).sum() / (a.sum() + b.sum())
        before = 2 * (unaligned & b).sum() / (unaligned.sum() + b.sum())
        assert dice > 0.75 and dice > before + 0.05


def test_save_writes_a_tfm_atomically_that_itk_reads_back(registered, tmp_path: Path) -> None:
    path = registered.save(tmp_path / "out" / "tp2_to_tp1.tfm", relative_to=tmp_path)
    assert path == tmp_path / "out" / "tp2_to_tp1.tfm"
    assert registered.result.transform_file == "out/tp2_to_tp1.tfm"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["tp2_to_tp1.tfm"]
    read = sitk.ReadTransform(str(path))
    points = np.random.default_rng(2).uniform(-100, 100, (30, 3))
    again = np.array([read.TransformPoint(tuple(p)) for p in points])
    assert np.abs(again - registered.to_moving(points)).max() < 1e-6
    # a wrong suffix is corrected
    assert registered.save(tmp_path / "x.h5").suffix == ".tfm"


def test_registration_is_deterministic(patient, registered: Registration) -> None:
    base, follow = (p.ct_volume() for p in patient.phantoms[:2])
    again = register(base, follow, timepoint=1, reference=0)
    # the same samples and steps; multi-threaded sums may differ in the last digits only
    assert np.allclose(np.asarray(again.result.matrix), np.asarray(registered.result.matrix),
                       rtol=0, atol=1e-6)


def test_progress_counts_levels_and_cancel_stops(patient) -> None:
    base, follow = (p.ct_volume() for p in patient.phantoms[:2])
    seen: list[tuple[int, int]] = []
    register(base, follow, method="rigid", timepoint=1, reference=0,
             progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]  # rigid: shrink 4, 2, 1
    calls = [0]

    def cancel_soon() -> bool:
        calls[0] += 1
        return calls[0] > 30  # checked before the stages and at every iteration

    with pytest.raises(Cancelled):
        register(base, follow, timepoint=1, reference=0, cancel=cancel_soon)
    assert calls[0] < 45  # it stopped promptly, not after the remaining levels' iterations
    with pytest.raises(Cancelled):
        register(base, follow, timepoint=1, reference=0, cancel=lambda: True)


def test_identity_and_unknown_method(patient, tmp_path: Path) -> None:
    base = patient.phantoms[0].ct_volume()
    ident = identity_registration(base, 0)
    assert ident.result.status == REG_IDENTITY and ident.result.method == "identity"
    points = np.array([[1.0, 2.0, 3.0]])
    assert np.array_equal(ident.to_moving(points), points)
    assert ident.save(tmp_path / "id").suffix == ".tfm"
    with pytest.raises(RegistrationError, match="Unknown registration method"):
        register(base, base, method="elastic", timepoint=1, reference=0)


def test_compose_chains_registrations(patient) -> None:
    volumes = [p.ct_volume() for p in patient.phantoms]
    one = register(volumes[0], volumes[1], method="rigid", timepoint=1, reference=0)
    two = register(volumes[1], volumes[2], method="rigid", timepoint=2, reference=1)
    chained = compose(one, two)
    assert (chained.result.timepoint, chained.result.reference) == (2, 0)
    assert np.allclose(np.asarray(chained.result.matrix), two.linear @ one.linear)
    points = _body_points(volumes[0])
    truth = _apply(patient.timepoints[2].from_baseline_matrix, points)
    assert _rms(chained.to_moving(points), truth) < 1.0
    assert np.abs(chained.to_reference(chained.to_moving(points)) - points).max() < 1e-9
    with pytest.raises(RegistrationError, match="Cannot chain"):
        compose(two, one)


def test_compose_with_a_deformation_inverts_by_iteration(registered, tmp_path: Path) -> None:
    # a known smooth B-spline (no optimisation needed) chained after a linear registration
    grid = sitk.Image([20, 20, 20], sitk.sitkFloat32)
    grid.SetSpacing((20.0, 20.0, 20.0))
    grid.SetOrigin((-200.0, -200.0, -500.0))
    bspline = sitk.BSplineTransformInitializer(grid, [3, 3, 3], order=3)
    bspline.SetParameters(np.random.default_rng(3).normal(0, 4, bspline.GetNumberOfParameters()
                                                          ).tolist())
    linear = identity_registration(None, 1)
    deformed = Registration(
        result=linear.result.__class__(timepoint=2, reference=1, method="deformable",
                                       status=REG_OK, message="known"),
        transform=sitk.CompositeTransform([linear.transform, bspline]), linear=np.eye(4),
        deformation=bspline)
    chained = compose(registered, deformed)
    points = np.random.default_rng(4).uniform(-120, 120, (100, 3)) + [0, 0, -300]
    moved = chained.to_moving(points)
    expected = np.array([bspline.TransformPoint(tuple(p)) for p in registered.to_moving(points)])
    assert np.abs(moved - expected).max() < 1e-9
    assert np.abs(chained.to_reference(moved) - points).max() < 1e-3
    assert chained.save(tmp_path / "chain.tfm").suffix == ".h5"
