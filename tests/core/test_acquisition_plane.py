"""Thin oblique series open in their acquisition plane; the user may switch to patient axes."""

from __future__ import annotations

import numpy as np
import pytest

from interval.core.planes import reslice, screen_markers, view_plane
from interval.core.view_alignment import (
    aligned_view_axes,
    is_thin,
    opens_in_acquisition_plane,
    slice_tilt_deg,
    view_normal_axes,
)
from interval.core.viewer_state import ViewChanged, ViewerState
from interval.core.volume import Volume

MPR = ("axial", "coronal", "sagittal")


def rot_x(deg: float) -> np.ndarray:
    t = np.radians(deg)
    c, s = np.cos(t), np.sin(t)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(deg: float) -> np.ndarray:
    t = np.radians(deg)
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


CORONAL = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # rows L, columns I, normal +P


def image(slices: int, direction: np.ndarray, spacing=(0.8, 0.8, 3.0), n: int = 64) -> Volume:
    arr = np.full((slices, n, n), 1000, dtype=np.int16)
    return Volume(arr, spacing, (-25.0, -25.0, 40.0), direction)


def axes_of(state: ViewerState) -> dict[str, tuple]:
    return {v: (state.view(v).right, state.view(v).down) for v in MPR}


def inside_fraction(vol: Volume, plane) -> float:
    """Share of the volume's pixels that a reslice on ``plane`` finds inside the volume."""
    img = reslice(vol, plane)
    return img.inside.sum() / (vol.size_ijk[0] * vol.size_ijk[1])


# --- the rule -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("slices", "direction", "tilt", "spacing", "n"),
    [
        # one axial CT image with a 5.5 degree gantry tilt
        (1, rot_x(5.5), 5.5, (0.8, 0.8, 3.0), 64),
        # a single 1 mm coronal reformat, 192 mm wide, tilted 0.9 degrees (3 mm across)
        (1, rot_x(0.9) @ CORONAL, 0.9, (1.5, 1.5, 1.0), 128),
        # a short disc-angled stack: 5 x 3 mm across 102 mm
        (5, rot_y(20.0), 20.0, (0.8, 0.8, 3.0), 128),
    ],
    ids=["axial-5.5deg", "coronal-0.9deg", "stack-20deg"],
)
def test_thin_oblique_series_opens_in_its_acquisition_plane(slices, direction, tilt, spacing, n) -> None:
    vol = image(slices, direction, spacing, n)
    assert is_thin(vol) and slice_tilt_deg(vol) == pytest.approx(tilt, abs=1e-6)
    assert opens_in_acquisition_plane(vol)
    state = ViewerState()
    seen: list[ViewChanged] = []
    state.events.view.connect(seen.append)
    state.add_volume(vol)
    assert state.view_axes_choice() == "auto" and state.view_axes_mode == "volume"
    assert sorted(e.view_id for e in seen) == sorted(MPR)  # each MPR view turned, once
    # the crosshair sits on the middle slice, so the views cut the image
    ijk = vol.lps_to_index(state.crosshair)
    assert ijk[2] == pytest.approx((slices - 1) // 2, abs=1e-9)
    # one view shows the whole image; with patient axes none does (a band at most)
    whole = [v for v in MPR if inside_fraction(vol, state.plane(v)) > 0.99]
    assert len(whole) == 1
    normal = np.cross(vol.direction[:, 0], vol.direction[:, 1])
    assert abs(float(state.plane(whole[0]).normal @ normal)) == pytest.approx(1.0)
    state.use_patient_axes()
    assert all(state.view(v).right is None for v in MPR)
    assert max(inside_fraction(vol, state.plane(v)) for v in MPR) < 0.9
    state.rotate_to_volume_plane()
    assert inside_fraction(vol, state.plane(whole[0])) > 0.99


def test_a_single_image_shows_whole_in_its_view_even_off_centre() -> None:
    """The crosshair is moved onto the single slice when the image becomes active."""
    state = ViewerState()
    state.add_volume(image(30, np.eye(3)), "thick")
    state.set_crosshair(state.volume("thick").index_to_lps((2.0, 60.0, 29.0)))
    vol = image(1, rot_x(5.5))
    state.add_volume(vol, "single")
    state.set_active_volume("single")
    assert state.view_axes_mode == "volume"
    assert vol.lps_to_index(state.crosshair)[2] == pytest.approx(0.0, abs=1e-9)
    assert inside_fraction(vol, state.plane("axial")) > 0.99
    assert state.slice_count("axial") == 1


def test_thick_axial_volume_and_thin_straight_series_stay_on_patient_axes() -> None:
    thick = image(60, rot_x(20.0))  # oblique, but 180 mm through 51 mm in-plane: not thin
    assert not is_thin(thick) and not opens_in_acquisition_plane(thick)
    straight = image(1, np.eye(3))  # thin, but on the patient axes
    assert is_thin(straight) and not opens_in_acquisition_plane(straight)
    noisy = image(1, rot_x(1e-4))  # DICOM rounding noise is not an oblique acquisition
    assert not opens_in_acquisition_plane(noisy)
    for vol in (thick, straight, noisy, image(40, np.eye(3))):
        state = ViewerState()
        seen: list[ViewChanged] = []
        state.events.view.connect(seen.append)
        state.add_volume(vol)
        assert state.view_axes_mode == "patient" and not seen
        assert all(axes == (None, None) for axes in axes_of(state).values())


def test_thin_rule_uses_extent_across_the_slices() -> None:
    # 12 slices x 3 mm = 36 mm across, 64 x 0.8 = 51.2 mm in-plane: 70 %, not thin
    assert not is_thin(image(12, rot_x(10.0)))
    # 5 slices (15 mm) at 1 mm in-plane (64 mm): 23 %, thin
    assert is_thin(image(5, rot_x(10.0), spacing=(1.0, 1.0, 3.0)))
    # a thin axis other than k (e.g. a volume stored as i-slices) is found too
    assert is_thin(Volume(np.zeros((64, 64, 2), np.int16), (3.0, 1.0, 1.0)))


def test_aligned_axes_give_each_view_a_different_plane_even_at_45_degrees() -> None:
    vol = image(3, rot_x(45.0))
    axes = view_normal_axes(vol)
    assert sorted(axes.values()) == [0, 1, 2]
    aligned = aligned_view_axes(vol)
    normals = [np.cross(*map(np.asarray, aligned[k])) for k in MPR]
    assert abs(np.linalg.det(np.array(normals))) == pytest.approx(1.0)


def test_markers_from_the_aligned_plane_are_oblique_letters() -> None:
    state = ViewerState()
    state.add_volume(image(5, rot_x(20.0), n=128))
    plane = state.plane("axial")
    # the image rows tilt 20 degrees from anterior towards inferior
    np.testing.assert_allclose(plane.normal, rot_x(20.0)[:, 2], atol=1e-12)
    assert screen_markers(plane) == {"left": "R", "right": "L", "top": "AI", "bottom": "PS"}
    assert screen_markers(view_plane("axial")) == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    sagittal = screen_markers(state.plane("sagittal"))
    assert sagittal["top"] == "SA" and sagittal["left"] == "AI"


def test_user_choice_sticks_per_volume_across_switching() -> None:
    state = ViewerState()
    a = state.add_volume(image(1, rot_x(5.5)), "a")
    b = state.add_volume(image(40, np.eye(3)), "b")
    assert state.view_axes_mode == "volume"
    state.use_patient_axes()
    assert state.view_axes_choice() == "patient" and state.view_axes_mode == "patient"
    state.set_active_volume(b)
    assert state.view_axes_choice() == "auto" and state.view_axes_mode == "patient"
    state.rotate_to_volume_plane()  # any series may be shown in its own plane
    assert state.view_axes_mode == "volume"
    np.testing.assert_allclose(state.plane("axial").normal, [0, 0, 1], atol=1e-12)
    state.set_active_volume(a)
    assert state.view_axes_choice(a) == "patient" and state.view_axes_choice(b) == "volume"
    assert all(axes == (None, None) for axes in axes_of(state).values())  # a's choice, kept
    state.set_view_axes_mode("auto")  # forget it: a opens in its plane again
    assert state.view_axes_mode == "volume" and state.view("axial").right is not None
    with pytest.raises(ValueError):
        state.set_view_axes_mode("oblique")  # type: ignore[arg-type]
    # closing a volume forgets its choice; the next active one applies its own
    state.use_patient_axes()
    state.remove_volume(a)
    assert state.active_volume_id == b and state.view_axes_mode == "volume"
    state.remove_volume(b)
    assert state.view_axes_mode == "patient" and state.view("axial").right is None


def test_sheared_single_image_aligns_to_its_true_slice_normal() -> None:
    """A gantry-tilted grid loaded as-is: rows and columns tilted, k along z."""
    tilt = rot_x(5.5)
    direction = np.column_stack([tilt[:, 0], tilt[:, 1], [0.0, 0.0, 1.0]])
    vol = image(1, direction)
    assert opens_in_acquisition_plane(vol)
    state = ViewerState()
    state.add_volume(vol)
    np.testing.assert_allclose(state.plane("axial").normal, tilt[:, 2], atol=1e-12)
    assert inside_fraction(vol, state.plane("axial")) > 0.99
