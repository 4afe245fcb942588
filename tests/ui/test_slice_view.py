"""SliceView pixels read back headless: DICOM window/level, label overlay, slicing, geometry."""

from __future__ import annotations

import numpy as np
import pytest

from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import WindowLevel
from interval.core.volume import Volume
from interval.ui.slice_view import SliceView, dicom_linear_grey

from .conftest import VIEW_H, VIEW_W

PX_PER_VOXEL = 4  # screen pixels per voxel in the pixel tests
HU_BANDS = (-1000, -300, -160, -100, 0, 40, 41, 120, 238, 239, 240, 1000)


def _make_view(widget, volume: Volume, orientation="native", labels=None) -> SliceView:
    view = SliceView(widget.add_renderer(), orientation)
    view.set_volume(volume)
    if labels is not None:
        view.set_label_map(*labels)
    view.set_mm_per_pixel(view.pixel_mm / PX_PER_VOXEL)
    return view


def _pixel(frame: np.ndarray, view: SliceView, volume: Volume, ijk) -> np.ndarray:
    x, row = view.world_to_display(volume.index_to_lps(ijk))
    return frame[int(row), int(x)].astype(int)


def _band_volume() -> Volume:
    """6 slices of 48 x 20 voxels; along i, bands 4 voxels wide of the values HU_BANDS."""
    a = np.empty((6, 20, 4 * len(HU_BANDS)), np.int16)
    for b, hu in enumerate(HU_BANDS):
        a[:, :, 4 * b : 4 * b + 4] = hu
    return Volume(a, spacing=(0.8, 0.8, 2.5), origin=(-100.0, 50.0, -30.0))


# --- the reference formula -------------------------------------------------------------------


def test_dicom_linear_formula_reference_values() -> None:
    # c=40, w=400: below c-0.5-(w-1)/2 = -160 is black, above c-0.5+(w-1)/2 = 239 white
    got = dicom_linear_grey(np.array([-1000, -160, -159, 40, 239, 240]), 40, 400)
    assert got.tolist() == [0, 0, 1, 128, 255, 255]
    assert dicom_linear_grey(np.array([9, 10]), 10, 1).tolist() == [0, 255]


# --- window / level --------------------------------------------------------------------------


@pytest.mark.parametrize("center,width", [(40, 400), (-600, 1500), (100, 50), (40.5, 1)])
def test_grey_follows_dicom_window_level(vtk_widget, center, width) -> None:
    vol = _band_volume()
    view = _make_view(vtk_widget, vol)
    view.set_window_level(center, width)
    frame = vtk_widget.capture()
    for b, hu in enumerate(HU_BANDS):
        got = _pixel(frame, view, vol, (4 * b + 1.5, 10, 3))
        expected = int(dicom_linear_grey(hu, center, width))
        assert got[0] == got[1] == got[2], f"{hu} HU is not grey: {got}"
        assert abs(got[0] - expected) <= 1, f"{hu} HU at W/L {center}/{width}: {got[0]} != {expected}"


def test_changing_window_changes_grey_as_predicted(vtk_widget) -> None:
    vol = _band_volume()
    view = _make_view(vtk_widget, vol)
    ijk = (4 * HU_BANDS.index(120) + 1.5, 10, 3)
    view.set_window_level(40, 400)
    before = _pixel(vtk_widget.capture(), view, vol, ijk)[0]
    view.set_window_level(120, 80)
    after = _pixel(vtk_widget.capture(), view, vol, ijk)[0]
    assert abs(before - 179) <= 1  # ((120 - 39.5) / 399 + 0.5) * 255 = 179.0
    assert abs(after - 128) <= 1  # the centre of the new window
    assert view.window_level.center == 120 and view.window_level.width == 80


def test_window_defaults_to_metadata(vtk_widget) -> None:
    vol = _band_volume().with_metadata(default_window=WindowLevel(-600, 1500))
    view = _make_view(vtk_widget, vol)
    assert view.window_level == WindowLevel(-600, 1500)


def test_outside_volume_is_black(vtk_widget) -> None:
    _make_view(vtk_widget, _band_volume())
    frame = vtk_widget.capture()
    # 48 x 20 voxels at 4 px each = 192 x 80 px centred in 240 x 200: rows 0-50 are outside
    assert (frame[:50] == 0).all()
    assert (frame[VIEW_H // 2, VIEW_W // 2] > 0).all()


# --- label overlay ---------------------------------------------------------------------------


def _label_case():
    vol = Volume(np.full((5, 16, 20), 60, np.int16), spacing=(1.0, 1.0, 3.0), origin=(5.0, 6.0, 7.0))
    rng = np.random.default_rng(3)
    lab = np.zeros(vol.shape, np.uint8)
    lab[2] = rng.choice([0, 0, 0, 1, 2, 7], size=(16, 20))
    lab[2, 0, :] = 0  # keep the first row background
    lab[1, :, :] = 2  # the neighbouring slice is all label 2
    table = LabelTable([
        LabelInfo(1, "liver", (255, 0, 0)),
        LabelInfo(2, "tumour", (0, 255, 0)),
        LabelInfo(7, "vessel", (20, 40, 250)),
    ])
    return vol, vol.with_array(lab, labels=table), table


def test_overlay_colours_exactly_the_labelled_voxels(vtk_widget) -> None:
    vol, lab, table = _label_case()
    view = _make_view(vtk_widget, vol, labels=(lab, None, 1.0))
    view.set_window_level(40, 400)
    view.set_slice_index(2)
    frame = vtk_widget.capture()
    grey = int(dicom_linear_grey(60, 40, 400))
    counted = 0
    for j in range(16):
        for i in range(20):
            value = int(lab.array[2, j, i])
            expected = table[value].color if value else (grey, grey, grey)
            got = tuple(_pixel(frame, view, vol, (i, j, 2)))
            assert max(abs(g - e) for g, e in zip(got, expected, strict=True)) <= 1, (i, j, got)
            counted += value > 0
    assert counted > 50


def test_hidden_label_and_opacity(vtk_widget) -> None:
    vol, lab, table = _label_case()
    view = _make_view(vtk_widget, vol, labels=(lab, None, 1.0))
    view.set_window_level(40, 400)
    view.set_slice_index(2)
    table.set_visible(1, False)
    view.set_label_table(table)
    view.set_label_opacity(0.5)
    frame = vtk_widget.capture()
    grey = int(dicom_linear_grey(60, 40, 400))
    ones = np.argwhere(lab.array[2] == 1)[0]
    twos = np.argwhere(lab.array[2] == 2)[0]
    assert tuple(_pixel(frame, view, vol, (ones[1], ones[0], 2))) == (grey, grey, grey)
    half = _pixel(frame, view, vol, (twos[1], twos[0], 2))
    np.testing.assert_allclose(half, [grey / 2, (grey + 255) / 2, grey / 2], atol=2)


def test_label_map_on_another_grid_lands_in_patient_space(vtk_widget) -> None:
    vol, _, _ = _label_case()
    # a label grid cropped from the volume's: voxel (0,0,0) of it is voxel (4, 3, 1) of vol
    crop = np.zeros((3, 6, 8), np.int16)
    crop[1, 2, 5] = 1
    origin = tuple(vol.index_to_lps((4, 3, 1)))
    lab = Volume(crop, vol.spacing, origin, labels=LabelTable([LabelInfo(1, "x", (255, 0, 255))]))
    view = _make_view(vtk_widget, vol, labels=(lab, None, 1.0))
    view.set_slice_index(2)
    frame = vtk_widget.capture()
    assert tuple(_pixel(frame, view, vol, (9, 5, 2))) == (255, 0, 255)
    assert tuple(_pixel(frame, view, vol, (8, 5, 2))) != (255, 0, 255)
    assert tuple(_pixel(frame, view, vol, (9, 6, 2))) != (255, 0, 255)
    view.set_label_map(None)
    assert tuple(_pixel(vtk_widget.capture(), view, vol, (9, 5, 2))) != (255, 0, 255)


# --- slicing ---------------------------------------------------------------------------------


def test_slice_index_change_shows_that_slice(vtk_widget) -> None:
    a = np.zeros((6, 12, 12), np.int16)
    for k in range(6):
        a[k] = 100 * k
        a[k, k + 2, 3] = 1000  # a marker moving down one row per slice
    vol = Volume(a, spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, -10.0))
    view = _make_view(vtk_widget, vol)
    view.set_window_level(500, 1000)
    view.set_interpolation("nearest")
    assert view.slice_count == 6
    for k in (0, 3, 5, 1):
        view.set_slice_index(k)
        assert view.slice_index == k
        assert view.slice_position == pytest.approx(-10.0 + 2.0 * k)
        frame = vtk_widget.capture()
        expected = int(dicom_linear_grey(100 * k, 500, 1000))
        assert abs(_pixel(frame, view, vol, (8, 8, k))[0] - expected) <= 1
        assert _pixel(frame, view, vol, (3, k + 2, k))[0] == 255
        assert _pixel(frame, view, vol, (3, k + 3, k))[0] < 255


def test_step_stays_inside_the_volume(vtk_widget) -> None:
    vol = Volume(np.zeros((4, 8, 8), np.int16), spacing=(1, 1, 3), origin=(0, 0, 100))
    view = _make_view(vtk_widget, vol)
    view.set_slice_index(0)
    view.step(-1)
    assert view.slice_index == 0
    view.step(2)
    assert view.slice_index == 2 and view.slice_position == pytest.approx(106.0)
    view.step(10)
    assert view.slice_index == 3
    assert view.slice_range() == (100.0, 109.0)
    assert view.slice_spacing == 3.0


# --- geometry: direction cosines and screen orientation ----------------------------------------

MARKER = {"centre": 1000, "x": 600, "y": 300, "z": -300}
# screen offsets (columns right, rows down) of +10 mm along each LPS axis, per view
EXPECTED_OFFSETS = {
    "axial": {"x": (1, 0), "y": (0, 1)},  # seen from the feet: patient left right, posterior down
    "coronal": {"x": (1, 0), "z": (0, -1)},  # seen from the front: superior up
    "sagittal": {"y": (1, 0), "z": (0, -1)},  # seen from the left: anterior on the left
    "native": {"x": (0, 1), "y": (-1, 0)},  # i axis = -y on the right, j axis = +x downwards
}


def _oriented_volume() -> tuple[Volume, np.ndarray]:
    """Rotated, flipped voxel axes with 3-voxel marker cubes at P and P + 10 mm along x, y, z."""
    direction = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    a = np.zeros((31, 31, 31), np.int16)
    vol = Volume(a, spacing=(1.0, 1.0, 1.0), origin=(5.0, -7.0, 12.0), direction=direction)
    centre = vol.index_to_lps((15, 15, 15))
    for name, value in MARKER.items():
        offset = np.zeros(3) if name == "centre" else 10.0 * np.eye(3)["xyz".index(name)]
        i, j, k = np.rint(vol.lps_to_index(centre + offset)).astype(int)
        a[k - 1 : k + 2, j - 1 : j + 2, i - 1 : i + 2] = value
    return vol, centre


@pytest.mark.parametrize("orientation", list(EXPECTED_OFFSETS))
def test_views_honour_direction_cosines(vtk_widget, orientation) -> None:
    vol, centre = _oriented_volume()
    view = _make_view(vtk_widget, vol, orientation)
    view.set_window_level(0, 2001)
    view.set_slice_position(float(centre @ view.normal))
    view.center_on(centre)
    mm_per_px = 0.25
    view.set_mm_per_pixel(mm_per_px)
    frame = vtk_widget.capture()
    cx, cy = VIEW_W // 2, VIEW_H // 2
    assert frame[cy, cx, 0] == dicom_linear_grey(MARKER["centre"], 0, 2001)
    for axis, (dx, dy) in EXPECTED_OFFSETS[orientation].items():
        x = cx + int(dx * 10 / mm_per_px)
        y = cy + int(dy * 10 / mm_per_px)
        expected = int(dicom_linear_grey(MARKER[axis], 0, 2001))
        assert abs(int(frame[y, x, 0]) - expected) <= 1, (orientation, axis, frame[y, x])
    # and world_to_display agrees with the independent arithmetic above
    x, row = view.world_to_display(centre + (10.0, 0.0, 0.0))
    dx, dy = EXPECTED_OFFSETS[orientation].get("x", (None, None))
    if dx is not None:
        assert (x, row) == pytest.approx((cx + dx * 40, cy + dy * 40), abs=0.01)
    np.testing.assert_allclose(view.display_to_world(cx, cy), centre, atol=1e-6)


# --- several label overlays ----------------------------------------------------------------------


def _two_layer_case():
    """A 60 HU volume; overlay "organs" (1 red, 2 green) and "lesions" (5 blue) on slice 2."""
    a = np.full((5, 16, 20), 60, np.int16)
    vol = Volume(a, spacing=(1.0, 1.0, 3.0), origin=(5.0, 6.0, 7.0))
    organs = np.zeros(vol.shape, np.uint8)
    organs[2, 2:8, 2:10] = 1
    organs[2, 10:14, 2:10] = 2
    lesions = np.zeros(vol.shape, np.uint16)
    lesions[2, 2:8, 12:18] = 5  # disjoint from the organs
    lesions[2, 4:6, 4:7] = 5  # inside organ 1
    organ_table = LabelTable(
        [LabelInfo(1, "liver", (255, 0, 0)), LabelInfo(2, "kidney", (0, 255, 0))]
    )
    lesion_table = LabelTable([LabelInfo(5, "lesion 5", (0, 0, 255))])
    return (
        vol,
        vol.with_array(organs, labels=organ_table),
        organ_table,
        vol.with_array(lesions, labels=lesion_table),
        lesion_table,
    )


def _expected_frame(vol, layers) -> np.ndarray:
    """Expected colour of every voxel of slice 2 at opacity 1: the top visible label wins."""
    grey = int(dicom_linear_grey(60, 40, 400))
    out = np.full((*vol.shape[1:], 3), grey, int)
    for lab, table in layers:  # bottom first
        for info in table:
            if info.visible:
                out[lab.array[2] == info.value] = info.color
    return out


def _assert_slice(frame, view, vol, expected) -> None:
    for j in range(vol.shape[1]):
        for i in range(vol.shape[2]):
            got = _pixel(frame, view, vol, (i, j, 2))
            assert np.abs(got - expected[j, i]).max() <= 1, (i, j, got.tolist(), expected[j, i])


def _two_layer_view(vtk_widget):
    vol, organs, organ_table, lesions, lesion_table = _two_layer_case()
    view = _make_view(vtk_widget, vol)
    view.set_window_level(40, 400)
    view.set_slice_index(2)
    view.add_label_overlay("organs", organs, organ_table, opacity=1.0)
    view.add_label_overlay("lesions", lesions, lesion_table, opacity=1.0)
    return view, vol, (organs, organ_table), (lesions, lesion_table)


def test_two_overlays_both_drawn_top_wins_where_labelled(vtk_widget) -> None:
    view, vol, organs, lesions = _two_layer_view(vtk_widget)
    assert view.label_overlay_keys == ("organs", "lesions")
    frame = vtk_widget.capture()
    expected = _expected_frame(vol, [organs, lesions])
    _assert_slice(frame, view, vol, expected)
    # disjoint parts keep their own colour; the overlap shows the top (lesion) colour
    assert tuple(_pixel(frame, view, vol, (14, 3, 2))) == (0, 0, 255)
    assert tuple(_pixel(frame, view, vol, (3, 3, 2))) == (255, 0, 0)
    assert tuple(_pixel(frame, view, vol, (5, 5, 2))) == (0, 0, 255)
    assert tuple(_pixel(frame, view, vol, (3, 11, 2))) == (0, 255, 0)
    # restacked: the organs now cover the lesion inside organ 1
    view.set_label_order(["lesions", "organs"])
    assert view.label_overlay_keys == ("lesions", "organs")
    frame = vtk_widget.capture()
    _assert_slice(frame, view, vol, _expected_frame(vol, [lesions, organs]))
    assert tuple(_pixel(frame, view, vol, (5, 5, 2))) == (255, 0, 0)


def test_hiding_top_overlay_or_one_lower_label(vtk_widget) -> None:
    view, vol, organs, lesions = _two_layer_view(vtk_widget)
    view.set_label_visible(False, "lesions")
    frame = vtk_widget.capture()
    _assert_slice(frame, view, vol, _expected_frame(vol, [organs]))
    assert tuple(_pixel(frame, view, vol, (5, 5, 2))) == (255, 0, 0)  # the lower one shows
    view.set_label_visible(True, "lesions")
    organ_table = organs[1]
    organ_table.set_visible(1, False)
    view.set_label_table(organ_table, "organs")
    frame = vtk_widget.capture()
    _assert_slice(frame, view, vol, _expected_frame(vol, [organs, lesions]))
    grey = int(dicom_linear_grey(60, 40, 400))
    assert tuple(_pixel(frame, view, vol, (3, 3, 2))) == (grey, grey, grey)  # liver gone
    assert tuple(_pixel(frame, view, vol, (3, 11, 2))) == (0, 255, 0)  # kidney kept
    assert tuple(_pixel(frame, view, vol, (5, 5, 2))) == (0, 0, 255)  # lesion kept
    view.remove_label_overlay("lesions")
    assert view.label_overlay_keys == ("organs",)
    frame = vtk_widget.capture()
    assert tuple(_pixel(frame, view, vol, (14, 3, 2))) == (grey, grey, grey)


def test_overlay_opacities_blend_in_order(vtk_widget) -> None:
    view, vol, organs, lesions = _two_layer_view(vtk_widget)
    view.set_label_opacity(0.5, "lesions")
    frame = vtk_widget.capture()
    grey = int(dicom_linear_grey(60, 40, 400))
    # on the liver (pure red at opacity 1), half blue on top
    np.testing.assert_allclose(_pixel(frame, view, vol, (5, 5, 2)), [127.5, 0, 127.5], atol=2)
    # on grey, half blue
    np.testing.assert_allclose(
        _pixel(frame, view, vol, (14, 3, 2)), [grey / 2, grey / 2, (grey + 255) / 2], atol=2
    )


def test_default_overlay_api_sits_among_keyed_overlays(vtk_widget) -> None:
    view, vol, organs, lesions = _two_layer_view(vtk_widget)
    view.remove_label_overlay("organs")
    view.set_label_map(organs[0], organs[1], 1.0)  # the default overlay, added on top
    assert view.labels is organs[0]
    assert view.label_overlay_keys[-1] != "lesions"
    frame = vtk_widget.capture()
    assert tuple(_pixel(frame, view, vol, (5, 5, 2))) == (255, 0, 0)
    assert tuple(_pixel(frame, view, vol, (14, 3, 2))) == (0, 0, 255)
    view.set_label_mode("outline")
    assert view.label_mode == "outline"
    frame = vtk_widget.capture()
    grey = int(dicom_linear_grey(60, 40, 400))
    assert tuple(_pixel(frame, view, vol, (3, 11, 2))) == (grey, grey, grey)  # kidney interior
    assert tuple(_pixel(frame, view, vol, (5, 5, 2))) == (0, 0, 255)  # the lesion below shows
    assert tuple(_pixel(frame, view, vol, (14, 3, 2))) == (0, 0, 255)  # lesions stay filled
    view.set_label_map(None)
    assert view.labels is None and view.label_overlay_keys == ("lesions",)
