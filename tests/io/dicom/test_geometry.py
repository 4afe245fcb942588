"""Slice geometry on synthetic frame records (no files): sorting, spacing, irregularities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from interval.core.errors import UnsupportedData
from interval.io.dicom.geometry import StackGeometry, analyse_stack, describe_gaps, slice_normal
from interval.io.dicom.records import FrameInfo
from interval.io.dicom.regularize import plan_grid, regularize

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
PRONE = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0)  # HFP axial: rows run to patient right, columns anterior


def frames(positions, orientation=AXIAL, spacing=(0.5, 0.8), thickness=None):
    return [
        FrameInfo(
            position=None if p is None else tuple(float(v) for v in p),
            orientation=orientation,
            pixel_spacing=spacing,
            slice_thickness=thickness,
        )
        for p in positions
    ]


def voxel_lps(geom: StackGeometry, i: float, j: float, k: float) -> np.ndarray:
    return np.asarray(geom.origin) + geom.direction @ (np.asarray(geom.spacing) * (i, j, k))


def assert_slices_in_place(geom: StackGeometry, infos):
    """Every slice's first voxel lies exactly at its ImagePositionPatient."""
    for k, idx in enumerate(geom.order):
        np.testing.assert_allclose(voxel_lps(geom, 0, 0, k), infos[idx].position, atol=1e-6)


def test_axial_sorted_from_shuffled_input_with_spacing_from_positions():
    z = [5.0, -2.5, 0.0, 2.5, 7.5]
    infos = frames([(10, 20, v) for v in z], thickness=1.0)  # thickness must not matter
    g = analyse_stack(infos)
    assert g.is_regular
    assert [z[i] for i in g.order] == sorted(z)
    assert g.spacing == pytest.approx((0.8, 0.5, 2.5))  # PixelSpacing is (row, column) spacing
    assert g.origin == (10.0, 20.0, -2.5)
    np.testing.assert_allclose(g.direction, np.eye(3), atol=1e-12)
    assert_slices_in_place(g, infos)


def test_reversed_order_gives_the_same_grid():
    z = [0.0, 2.0, 4.0, 6.0]
    a = analyse_stack(frames([(0, 0, v) for v in z]))
    b = analyse_stack(frames([(0, 0, v) for v in reversed(z)]))
    assert a.origin == b.origin
    np.testing.assert_allclose(a.direction, b.direction)
    assert b.order == (3, 2, 1, 0)


def test_sagittal_stacks_along_the_normal_and_is_right_handed():
    x = [10.0, 11.5, 13.0, 14.5]
    infos = frames([(v, -50, 30) for v in x], SAGITTAL)
    g = analyse_stack(infos)
    np.testing.assert_allclose(slice_normal(SAGITTAL), (-1, 0, 0))
    # sorted along the normal (-x): the first slice is the one furthest to the patient's left
    assert g.origin == (14.5, -50.0, 30.0)
    np.testing.assert_allclose(g.direction[:, 2], (-1, 0, 0))
    assert np.linalg.det(g.direction) == pytest.approx(1.0)
    assert g.spacing[2] == pytest.approx(1.5)
    assert_slices_in_place(g, infos)
    # a pixel one column along lies at +y (anterior->posterior), one row down at -z
    np.testing.assert_allclose(voxel_lps(g, 1, 1, 0) - voxel_lps(g, 0, 0, 0), (0, 0.8, -0.5))


def test_coronal():
    y = [-3.0, 0.0, 3.0]
    infos = frames([(0, v, 0) for v in y], CORONAL)
    g = analyse_stack(infos)
    np.testing.assert_allclose(g.direction[:, 2], (0, 1, 0), atol=1e-12)
    assert g.spacing[2] == pytest.approx(3.0)
    assert_slices_in_place(g, infos)


def test_oblique_stack_keeps_every_slice_in_place():
    rot = _rotation(0.3, 0.5, -0.2)
    row, col, normal = rot[:, 0], rot[:, 1], rot[:, 2]
    start = np.array([-100.0, 40.0, 12.0])
    pos = [start + k * 1.7 * normal for k in (3, 0, 2, 1, 4)]
    infos = frames(pos, tuple(row) + tuple(col))
    g = analyse_stack(infos)
    assert g.is_regular
    assert g.spacing[2] == pytest.approx(1.7)
    np.testing.assert_allclose(g.direction, rot, atol=1e-9)
    assert_slices_in_place(g, infos)


def test_prone_patient_orientation():
    infos = frames([(120, 90, z) for z in (0.0, -3.0, 3.0)], PRONE)
    g = analyse_stack(infos)
    np.testing.assert_allclose(g.direction[:, 0], (-1, 0, 0))
    np.testing.assert_allclose(g.direction[:, 1], (0, -1, 0))
    np.testing.assert_allclose(g.direction[:, 2], (0, 0, 1))
    assert g.origin == (120.0, 90.0, -3.0)
    # one column along moves to the patient's right (-x in LPS)
    np.testing.assert_allclose(voxel_lps(g, 1, 0, 0), (120 - 0.8, 90, -3))


def test_missing_slices_are_named_with_their_positions():
    z = [40.0, 42.5, 45.0, 52.5, 55.0]
    g = analyse_stack(frames([(0, 0, v) for v in z]))
    assert g.problems == ("2 slices missing between 45.0 mm and 52.5 mm",)
    assert g.spacing[2] == pytest.approx(2.5)  # median gap for as-is loading


def test_one_missing_slice():
    g = analyse_stack(frames([(0, 0, v) for v in (0.0, 5.0, 10.0, 20.0)]))
    assert g.problems == ("1 slice missing between 10.0 mm and 20.0 mm",)


def test_uneven_spacing():
    g = analyse_stack(frames([(0, 0, v) for v in (0.0, 2.5, 5.0, 7.5, 11.5)]))
    assert g.problems == ("uneven slice spacing 2.5-4.0 mm",)


def test_small_jitter_within_tolerance_is_regular():
    g = analyse_stack(frames([(0, 0, v) for v in (0.0, 2.51, 5.0, 7.49, 10.0)]))
    assert g.is_regular
    assert g.spacing[2] == pytest.approx(2.5)


def test_gantry_tilt_is_detected_and_the_stacking_direction_kept():
    t = math.radians(12.0)
    orientation = (1.0, 0.0, 0.0, 0.0, math.cos(t), -math.sin(t))
    infos = frames([(0, 0, 5.0 * k) for k in range(5)], orientation)
    g = analyse_stack(infos)
    assert g.problems == ("gantry tilt 12.0°",)
    assert g.tilt_deg == pytest.approx(12.0)
    np.testing.assert_allclose(g.direction[:, 2], (0, 0, 1), atol=1e-12)
    np.testing.assert_allclose(g.normal, (0, math.sin(t), math.cos(t)), atol=1e-12)
    assert_slices_in_place(g, infos)  # as-is placement still puts each slice where it was


def test_slices_off_a_straight_line():
    pos = [(0, 0, 0), (0, 0, 2), (3, 0, 4), (0, 0, 6)]
    g = analyse_stack(frames(pos))
    assert any("not on a straight line" in p for p in g.problems)


def test_duplicate_positions_are_refused_with_an_explanation():
    with pytest.raises(UnsupportedData, match="share their position") as err:
        analyse_stack(frames([(0, 0, 0), (0, 0, 2), (0, 0, 2), (0, 0, 4)]))
    assert "separate stacks" in str(err.value)


def test_all_images_at_one_position():
    with pytest.raises(UnsupportedData, match="All 4 images lie at the same position"):
        analyse_stack(frames([(0, 0, 61.5)] * 4))


def test_mixed_orientation_is_not_a_volume():
    infos = frames([(0, 0, 0), (0, 0, 1)]) + frames([(0, 0, 0)], SAGITTAL) + frames([(0, 0, 0)], CORONAL)
    with pytest.raises(UnsupportedData, match="3 different orientations") as err:
        analyse_stack(infos)
    assert "axial" in str(err.value) and "sagittal" in str(err.value)


def test_images_without_position_cannot_be_stacked():
    with pytest.raises(UnsupportedData, match="no position in the patient"):
        analyse_stack(frames([None, None, None]))


def test_different_pixel_spacings_are_not_one_volume():
    infos = frames([(0, 0, 0)]) + frames([(0, 0, 1)], spacing=(0.6, 0.6))
    with pytest.raises(UnsupportedData, match="pixel spacings"):
        analyse_stack(infos)


def test_single_slice_uses_slice_thickness_or_one():
    g = analyse_stack(frames([(1, 2, 3)], thickness=5.0))
    assert g.spacing == pytest.approx((0.8, 0.5, 5.0))
    assert g.origin == (1.0, 2.0, 3.0)
    assert analyse_stack(frames([(1, 2, 3)])).spacing[2] == 1.0


def test_single_image_without_geometry_gets_a_nominal_placement_and_a_warning():
    g = analyse_stack([FrameInfo(position=None, orientation=None, pixel_spacing=(0.2, 0.3))])
    assert g.nominal
    assert g.spacing == pytest.approx((0.3, 0.2, 1.0))
    np.testing.assert_allclose(g.direction, np.eye(3))
    assert "no position in the patient" in g.warnings[0]


def test_describe_gaps_limits_the_list():
    along = np.array([0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16], dtype=float)
    out = describe_gaps(along, along)
    assert len(out) == 5 and out[-1] == "slices missing in 1 more places"


# --- regularize -------------------------------------------------------------------------


def test_resampling_fills_a_missing_slice_by_linear_interpolation():
    z = [0.0, 2.0, 4.0, 8.0]
    g = analyse_stack(frames([(0, 0, v) for v in z], spacing=(1.0, 1.0)))
    data = np.stack([np.full((3, 4), v * 10, dtype=np.int16) for v in z])
    grid = plan_grid(g, 3, 4)
    out = regularize(data, grid)
    assert out.dtype == np.int16 and out.shape == (5, 3, 4)
    assert [int(s[0, 0]) for s in out] == [0, 20, 40, 60, 80]
    assert grid.origin == (0.0, 0.0, 0.0) and grid.spacing == (1.0, 1.0, 2.0)


def test_resampling_a_tilted_stack_shifts_slices_onto_an_orthogonal_grid():
    # 45° tilt with a row spacing of sqrt(1/2) mm: slice k (k mm along z) is k/sqrt(2) mm
    # along the normal and exactly k rows sideways, so the expected output is exact
    t = math.radians(45.0)
    orientation = (1.0, 0.0, 0.0, 0.0, math.cos(t), -math.sin(t))
    pos = [(0.0, 0.0, float(k)) for k in range(3)]
    g = analyse_stack(frames(pos, orientation, spacing=(math.sqrt(0.5), 1.0)))
    assert g.tilt_deg == pytest.approx(45.0)
    data = np.arange(1, 3 * 4 * 2 + 1, dtype=np.int16).reshape(3, 4, 2)
    grid = plan_grid(g, 4, 2)
    out = regularize(data, grid)
    np.testing.assert_allclose(grid.direction.T @ grid.direction, np.eye(3), atol=1e-12)
    assert grid.shape == (3, 6, 2)
    assert grid.spacing == pytest.approx((1.0, math.sqrt(0.5), math.sqrt(0.5)))
    np.testing.assert_allclose(grid.origin, (0.0, -1.0, 1.0), atol=1e-12)
    for k in range(3):
        np.testing.assert_array_equal(out[k, 2 - k : 6 - k], data[k])
        assert np.all(np.delete(out[k], np.arange(2 - k, 6 - k), axis=0) == 1)  # filled with the minimum
        # each input voxel's world position maps onto the output voxel holding its value
        world = np.asarray(pos[k]) + 3 * math.sqrt(0.5) * g.column_cosine
        idx = np.linalg.solve(grid.direction * np.asarray(grid.spacing), world - grid.origin)
        np.testing.assert_allclose(idx, (0, 5 - k, k), atol=1e-9)


def _rotation(a: float, b: float, c: float) -> np.ndarray:
    ca, sa, cb, sb, cc, sc = math.cos(a), math.sin(a), math.cos(b), math.sin(b), math.cos(c), math.sin(c)
    rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rz = np.array([[cc, -sc, 0], [sc, cc, 0], [0, 0, 1]])
    return rz @ ry @ rx
