"""MPR geometry: radiological display planes, markers, spacing, reslicing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from interval.core.planes import (
    Plane,
    align_to_volume,
    display_pixel_spacing,
    orientation_letters,
    reslice,
    screen_markers,
    slice_grid,
    spacing_along,
    view_plane,
)
from interval.core.volume import Volume

HFS = np.eye(3)
# Prone: rows run towards patient right (-x), columns towards anterior (-y).
HFP = np.array([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])
# Sagittal acquisition: i along posterior (+y), j along inferior (-z), k towards right (-x).
SAG = np.array([[0.0, 0, -1.0], [1.0, 0, 0], [0, -1.0, 0]])


def rot_z(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1.0]])


def random_volume(direction: np.ndarray, shape=(6, 7, 8), spacing=(1.0, 1.0, 1.0), seed=0) -> Volume:
    rng = np.random.default_rng(seed)
    arr = rng.integers(-1000, 1000, size=shape).astype(np.int16)
    return Volume(arr, spacing, (5.0, -7.0, 11.0), direction)


# --- standard views and markers ------------------------------------------------------
def test_standard_view_markers_radiological_convention() -> None:
    assert screen_markers(view_plane("axial")) == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert screen_markers(view_plane("coronal")) == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    assert screen_markers(view_plane("sagittal")) == {"left": "A", "right": "P", "top": "S", "bottom": "I"}


def test_view_normals_point_into_the_screen() -> None:
    np.testing.assert_allclose(view_plane("axial").normal, [0, 0, 1])  # from the feet
    np.testing.assert_allclose(view_plane("coronal").normal, [0, 1, 0])  # from the front
    np.testing.assert_allclose(view_plane("sagittal").normal, [-1, 0, 0])  # from the left
    with pytest.raises(ValueError):
        view_plane("oblique")


@pytest.mark.parametrize(
    ("vector", "letters"),
    [
        ((1, 0, 0), "L"), ((-1, 0, 0), "R"), ((0, 1, 0), "P"), ((0, -1, 0), "A"),
        ((0, 0, 1), "S"), ((0, 0, -1), "I"),
        ((math.cos(math.radians(30)), -math.sin(math.radians(30)), 0), "LA"),
        ((-math.sin(math.radians(30)), -math.cos(math.radians(30)), 0), "AR"),
        ((math.cos(math.radians(5)), math.sin(math.radians(5)), 0), "L"),  # 5 degrees: not oblique
        ((1, 1, 1), "LPS"),
        ((-0.2, 0.9, -0.4), "PIR"),
    ],
)
def test_orientation_letters(vector: tuple[float, float, float], letters: str) -> None:
    assert orientation_letters(vector) == letters


def test_oblique_plane_markers_combine_letters() -> None:
    plane = Plane(np.zeros(3), rot_z(30) @ [1, 0, 0], rot_z(30) @ [0, 1, 0])
    # right = (cos 30, sin 30, 0): mostly left, partly posterior
    assert screen_markers(plane) == {"left": "RA", "right": "LP", "top": "AL", "bottom": "PR"}


def test_display_is_in_patient_space_for_any_acquisition() -> None:
    # The axial view's markers do not depend on the volume: they are the plane's.
    for direction in (HFS, HFP, SAG):
        vol = random_volume(direction)
        plane = view_plane("axial", vol.index_to_lps((3, 3, 3)))
        assert screen_markers(plane)["right"] == "L" and screen_markers(plane)["top"] == "A"
        img = reslice(vol, plane)
        assert img.inside.any()


def _marked(direction: np.ndarray) -> tuple[Volume, tuple[int, int]]:
    """A zero volume with one bright voxel at the patient's left-anterior corner of a slice."""
    vol = Volume(np.zeros((9, 9, 9), dtype=np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), direction)
    corners = vol.index_to_lps(np.array([[i, j, k] for i in (0, 8) for j in (0, 8) for k in (0, 8)]))
    centre = corners.mean(axis=0)
    target = centre + np.array([4.0, -4.0, 0.0])  # 4 mm left, 4 mm anterior of the centre
    i, j, k = np.rint(vol.lps_to_index(target)).astype(int)
    vol.array[k, j, i] = 1000
    img = reslice(vol, view_plane("axial", centre))
    rows, cols = np.nonzero(img.pixels == 1000)
    assert len(rows) == 1
    return vol, (int(rows[0]), int(cols[0]))


@pytest.mark.parametrize("direction", [HFS, HFP, SAG], ids=["supine", "prone", "sagittal"])
def test_left_anterior_voxel_shows_top_right_in_axial(direction: np.ndarray) -> None:
    _vol, (row, col) = _marked(direction)
    assert (row, col) == (0, 8)  # top row (anterior), last column (patient left)


def test_prone_axial_is_the_array_flipped_both_ways() -> None:
    vol = random_volume(HFP)
    img = reslice(vol, view_plane("axial", vol.index_to_lps((0, 0, 2))))
    np.testing.assert_array_equal(img.pixels, vol.array[2, ::-1, ::-1])


def test_axial_reslice_of_axial_volume_is_the_slice() -> None:
    vol = random_volume(HFS, spacing=(0.7, 0.7, 2.5))
    img = reslice(vol, view_plane("axial", vol.index_to_lps((1, 2, 4))))
    np.testing.assert_array_equal(img.pixels, vol.array[4])
    assert img.inside.all()
    lin = reslice(vol, view_plane("axial", vol.index_to_lps((1, 2, 4))), order="linear")
    np.testing.assert_allclose(lin.pixels, vol.array[4], atol=1e-3)


def test_sagittal_view_of_sagittal_acquisition_is_the_slice() -> None:
    vol = random_volume(SAG)
    img = reslice(vol, view_plane("sagittal", vol.index_to_lps((0, 0, 3))))
    np.testing.assert_array_equal(img.pixels, vol.array[3])


def test_coronal_of_axial_volume_runs_superior_to_inferior() -> None:
    vol = random_volume(HFS, shape=(6, 7, 8), spacing=(1.0, 1.0, 1.0))
    img = reslice(vol, view_plane("coronal", vol.index_to_lps((0, 3, 0))))
    np.testing.assert_array_equal(img.pixels, vol.array[::-1, 3, :])


@pytest.mark.parametrize("direction", [HFS, HFP, SAG, rot_z(30) @ SAG], ids=["hfs", "hfp", "sag", "oblique"])
def test_plane_through_a_voxel_returns_its_value(direction: np.ndarray) -> None:
    vol = random_volume(direction, spacing=(0.8, 1.1, 2.0))
    ijk = (5, 2, 3)
    point = vol.index_to_lps(ijk)
    for kind in ("axial", "coronal", "sagittal"):
        plane = align_to_volume(view_plane(kind, point), vol)
        native = (spacing_along(vol, plane.right), spacing_along(vol, plane.down))
        # square display pixels: the pixel nearest the point samples the voxel
        img = reslice(vol, plane)
        row, col = np.rint(img.grid.uv_to_pixel(plane.to_uv(point))).astype(int)
        assert img.pixels[row, col] == vol.array[3, 2, 5], kind
        # native pixels: the voxel centre is a pixel centre, for both interpolations
        for order in ("nearest", "linear"):
            img = reslice(vol, plane, order=order, spacing=native)
            row, col = img.grid.uv_to_pixel(plane.to_uv(point))
            assert row == pytest.approx(round(row), abs=1e-6) and col == pytest.approx(round(col), abs=1e-6)
            value = img.pixels[round(row), round(col)]
            assert value == pytest.approx(float(vol.array[3, 2, 5]), abs=1e-3), (kind, order)


def test_linear_reslice_of_a_linear_ramp_is_exact_on_an_oblique_plane() -> None:
    shape = (20, 22, 24)
    vol = Volume(np.zeros(shape, dtype=np.float64), (1.0, 1.2, 1.5), (3.0, 4.0, 5.0), rot_z(20) @ SAG)
    k, j, i = np.indices(shape)
    lps = vol.index_to_lps(np.stack([i, j, k], axis=-1).astype(float))
    coef = np.array([0.3, -1.7, 2.2])
    vol.array[...] = lps @ coef + 10.0
    centre = vol.index_to_lps((12, 11, 10))
    tilt = rot_z(25)
    plane = Plane(centre, tilt @ [1, 0, 0.2], tilt @ [0, 1, -0.3])
    img = reslice(vol, plane, order="linear", fill=np.nan)
    rows, cols = np.indices(img.grid.shape)
    truth = img.grid.pixel_to_lps(rows, cols) @ coef + 10.0
    idx = vol.lps_to_index(img.grid.pixel_to_lps(rows, cols))
    interior = np.all((idx >= 0) & (idx <= np.array(vol.size_ijk) - 1), axis=-1)
    assert interior.sum() > 200
    np.testing.assert_allclose(img.pixels[interior], truth[interior], atol=1e-9)
    assert img.inside[interior].all()


def test_linear_between_slices_is_the_average() -> None:
    vol = random_volume(HFS, spacing=(1.0, 1.0, 3.0))
    plane = view_plane("axial", vol.index_to_lps((0, 0, 2.5)))
    img = reslice(vol, plane, order="linear")
    expected = (vol.array[2].astype(float) + vol.array[3]) / 2
    np.testing.assert_allclose(img.pixels, expected, atol=1e-3)
    assert img.pixels.dtype == np.float32


def test_plane_outside_volume_is_fill() -> None:
    vol = random_volume(HFS)
    plane = view_plane("axial", vol.index_to_lps((0, 0, 50)))
    img = reslice(vol, plane, fill=-2048)
    assert not img.inside.any() and (img.pixels == -2048).all()
    lin = reslice(vol, plane, order="linear", fill=-2048)
    assert (lin.pixels == -2048).all()


# --- spacing and grids -------------------------------------------------------------------
def test_spacing_along_axes_and_diagonals() -> None:
    vol = random_volume(HFS, spacing=(0.7, 0.8, 5.0))
    assert spacing_along(vol, (1, 0, 0)) == pytest.approx(0.7)
    assert spacing_along(vol, (0, -1, 0)) == pytest.approx(0.8)
    assert spacing_along(vol, (0, 0, 1)) == pytest.approx(5.0)
    iso = random_volume(HFS, spacing=(1.0, 1.0, 3.0))
    assert spacing_along(iso, (1, 1, 0)) == pytest.approx(math.sqrt(2))
    sag = random_volume(SAG, spacing=(0.5, 0.6, 4.0))  # k runs along x
    assert spacing_along(sag, (1, 0, 0)) == pytest.approx(4.0)
    assert spacing_along(sag, (0, 0, 1)) == pytest.approx(0.6)


def test_display_pixels_are_square_at_the_finest_in_plane_spacing() -> None:
    vol = random_volume(HFS, shape=(10, 20, 30), spacing=(0.7, 0.8, 5.0))
    assert display_pixel_spacing(vol, view_plane("axial")) == pytest.approx(0.7)
    assert display_pixel_spacing(vol, view_plane("coronal")) == pytest.approx(0.7)
    assert display_pixel_spacing(vol, view_plane("sagittal")) == pytest.approx(0.8)
    grid = slice_grid(vol, view_plane("coronal", vol.index_to_lps((0, 0, 0))))
    assert grid.spacing == (pytest.approx(0.7), pytest.approx(0.7))
    assert grid.shape == (math.floor(10 * 5.0 / 0.7), 30)  # all of 50 mm at 0.7 mm pixels


def test_plane_maps_between_screen_and_lps() -> None:
    plane = view_plane("sagittal", (10.0, 20.0, 30.0))
    p = plane.to_lps(3.0, -4.0)  # 3 mm right on screen = posterior, 4 mm up = superior
    np.testing.assert_allclose(p, [10.0, 23.0, 34.0])
    np.testing.assert_allclose(plane.to_uv(p), [3.0, -4.0])
    assert plane.distance((7.0, 0.0, 0.0)) == pytest.approx(3.0)  # toward patient right is +
    moved = plane.shifted(2.0).through(plane.shifted(2.0).origin)
    np.testing.assert_allclose(moved.origin, [8.0, 20.0, 30.0])
    with pytest.raises(ValueError):
        Plane(np.zeros(3), np.array([1.0, 0, 0]), np.array([2.0, 0, 0]))


def test_align_to_volume_follows_oblique_acquisition() -> None:
    vol = random_volume(rot_z(30))
    plane = align_to_volume(view_plane("axial"), vol)
    np.testing.assert_allclose(plane.right, rot_z(30) @ [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(plane.normal, [0, 0, 1], atol=1e-12)
    assert screen_markers(plane)["right"] == "LP"
