"""Key images: one tile per lesion and timepoint with outline and axes, radiological
orientation whatever the acquisition direction, the mapped position of a lesion not seen,
and the display window."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from PIL import Image

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.volume import Volume
from interval.longitudinal.key_images import (
    LONG_AXIS,
    OUTLINE,
    SHORT_AXIS,
    field_of_view_mm,
    lesion_crop,
    render_key_images,
    render_tile,
    tile_plane,
)
from interval.longitudinal.model import (
    REG_FAILED,
    REG_IDENTITY,
    REG_OK,
    ROLE_EXCLUDED,
    ROLE_TARGET,
    LongitudinalReport,
    RegistrationResult,
    SeriesChoice,
    Timeline,
    TimepointInfo,
    Track,
)
from interval.longitudinal.report_common import as_component_volume, lesion_at, shown_tracks
from tests.longitudinal._report_fixture import fresh_report, measure, shared_case


@pytest.fixture(scope="module")
def case():
    return shared_case()


def _rgb(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def _has(rgb: np.ndarray, colour) -> bool:
    return bool(np.all(rgb == np.asarray(colour, np.uint8), axis=-1).any())


def test_a_tile_per_lesion_and_timepoint(case):
    report = fresh_report(case)
    report.tracks[-1].role = ROLE_EXCLUDED  # excluded lesions get no images
    comps = [as_component_volume(c, v) for c, v in zip(case.component_maps, case.volumes,
                                                       strict=True)]
    tiles = render_key_images(report, case.volumes, comps)
    n_tp = len(report.timeline.timepoints)
    shown = shown_tracks(report)
    assert len(tiles) == len(shown) * n_tp == (len(report.tracks) - 1) * n_tp
    assert [t.lesion_id for t in tiles[::n_tp]] == [t.lesion_id for t in shown]
    assert shown[0].role == ROLE_TARGET  # targets first
    not_seen = 0
    for tile in tiles:
        track = report.track(tile.lesion_id)
        item = lesion_at(report, track, tile.timepoint)
        rgb = _rgb(tile.png)
        assert rgb.shape[:2] == (tile.height, tile.width)
        assert report.timeline.timepoints[tile.timepoint].label in tile.caption
        assert track.name in tile.caption
        assert tile.name == f"{track.lesion_id}_tp{tile.timepoint + 1}.png"
        if item.seen:
            assert tile.seen and "LA " in tile.caption
            assert _has(rgb, OUTLINE)
            if item.long_axis_mm > 2:  # a one-voxel lesion has no axis to draw
                assert _has(rgb, LONG_AXIS)
            if item.short_axis_mm > 2:
                assert _has(rgb, SHORT_AXIS)
        else:
            not_seen += 1
            assert not tile.seen and "not seen" in tile.caption
            assert not _has(rgb, OUTLINE)
            assert rgb[: tile.width // 2].std() > 5  # the anatomy at its mapped position
    assert not_seen >= 2


def test_every_tile_of_a_lesion_has_the_same_field_of_view(case):
    report = fresh_report(case)
    track = max(report.tracks, key=lambda t: sum(bool(c) for c in t.members.values()))
    items = [lesion_at(report, track, tp.index) for tp in report.timeline.timepoints]
    fov = field_of_view_mm(items)
    largest = max(m.max_diameter_3d_mm for it in items for m in it.measurements)
    assert fov == pytest.approx(max(40.0, 2 * largest + 20))
    comps = [as_component_volume(c, v) for c, v in zip(case.component_maps, case.volumes,
                                                       strict=True)]
    crops = [lesion_crop(report, it, case.volumes[it.timepoint], comps[it.timepoint],
                         fov_mm=fov, size_px=100) for it in items]
    for crop in crops:
        assert crop is not None
        assert crop.mm_per_pixel == pytest.approx(fov / 100)
        assert crop.grey.shape[1] in (100, 101)


# --- geometry on a hand-made volume ----------------------------------------------------------


def _phantom(flip_i: bool = False, flip_j: bool = False, modality: str = "CT",
             window: WindowLevel | None = None):
    """40 HU with a 100 HU lesion at the centre and a 1000 HU marker 8 mm to the patient's
    left (+x) and one 8 mm anterior (-y): 1 mm voxels."""
    arr = np.full((9, 41, 41), 40, np.int16)
    comp = np.zeros(arr.shape, np.int32)
    k, j, i = np.indices(arr.shape)
    lesion = (k - 4) ** 2 + (j - 20) ** 2 + (i - 20) ** 2 <= 9
    arr[lesion] = 100
    comp[lesion] = 1
    arr[4, 20, 28] = 1000  # patient left of the lesion (x larger)
    arr[4, 12, 20] = 1000  # anterior of it (y smaller)
    origin = np.array([-20.0, -20.0, 0.0])
    direction = np.eye(3)
    if flip_i:
        arr, comp = arr[:, :, ::-1], comp[:, :, ::-1]
        direction[0, 0] = -1.0
        origin[0] = 20.0
    if flip_j:
        arr, comp = arr[:, ::-1], comp[:, ::-1]
        direction[1, 1] = -1.0
        origin[1] = 20.0
    meta = VolumeMetadata(modality=modality, default_window=window)
    vol = Volume(np.ascontiguousarray(arr), (1.0, 1.0, 2.0), tuple(origin), direction, meta)
    comps = vol.with_array(np.ascontiguousarray(comp))
    return vol, comps


def _tiny_report(image: Volume, comps: Volume, *, registrations=None, absent_at=None):
    n = 2 if absent_at is not None else 1
    choice = SeriesChoice("1.2.3", "1.2.3", 1, "CT", "axial", image.size_ijk, image.spacing,
                          "axial", "only one")
    tps = [TimepointInfo(t, "baseline" if t == 0 else f"follow-up {t}", f"1.2.{t}",
                         dt.date(2024, 1, 1) + dt.timedelta(days=90 * t), "", 90 * t, choice)
           for t in range(n)]
    m = measure(comps.array == 1, image, 0, 1, "liver", np.eye(4))
    members = {0: [1]} | ({absent_at: []} if absent_at is not None else {})
    track = Track("L1", "1.2.3.4", "L1 liver", "liver", False, role=ROLE_TARGET,
                  members=members)
    regs = registrations or [RegistrationResult(0, 0, "identity", REG_IDENTITY, "")]
    return LongitudinalReport(Timeline("P", "Doe^Jane", tps), registrations=regs,
                              measurements=[m], tracks=[track])


@pytest.mark.parametrize(("flip_i", "flip_j"), [(False, False), (True, False), (False, True),
                                                (True, True)])
def test_radiological_orientation_whatever_the_direction(flip_i, flip_j):
    """Patient left on image right, anterior at top: the same image for every storage order."""
    ref_img, ref_comp = _phantom()
    vol, comps = _phantom(flip_i, flip_j)
    crops = []
    for image, comp in ((ref_img, ref_comp), (vol, comps)):
        report = _tiny_report(image, comp)
        item = lesion_at(report, report.tracks[0], 0)
        crops.append(lesion_crop(report, item, image, comp, fov_mm=40.0, size_px=40))
    ref, crop = crops
    np.testing.assert_array_equal(crop.grey, ref.grey)
    np.testing.assert_array_equal(crop.mask, ref.mask)
    rows, cols = np.nonzero(crop.mask)
    centre = (rows.mean(), cols.mean())
    bright = np.argwhere(crop.grey == 255)
    left = [p for p in bright if abs(p[0] - centre[0]) < 1]
    front = [p for p in bright if abs(p[1] - centre[1]) < 1]
    assert left and left[0][1] > centre[1] + 5  # patient left: image right
    assert front and front[0][0] < centre[0] - 5  # anterior: image top
    assert crop.markers == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    (r0, c0), (r1, c1), is_long = next(a for a in crop.axes if a[2])
    assert is_long and np.hypot(r1 - r0, c1 - c0) * crop.mm_per_pixel == pytest.approx(
        lesion_at(_tiny_report(vol, comps), _tiny_report(vol, comps).tracks[0], 0).long_axis_mm)


def test_absent_lesion_is_shown_at_its_mapped_position():
    image, comps = _phantom()
    shift = np.eye(4)
    shift[:3, 3] = (6.0, -4.0, 2.0)  # baseline LPS -> follow-up LPS
    regs = [RegistrationResult(0, 0, "identity", REG_IDENTITY, ""),
            RegistrationResult(1, 0, "affine", REG_OK, "", matrix=tuple(map(tuple, shift)))]
    report = _tiny_report(image, comps, registrations=regs, absent_at=1)
    item = lesion_at(report, report.tracks[0], 1)
    assert not item.seen
    plane = tile_plane(report, item, image, comps)
    expected = np.asarray(report.measurements[0].centroid_lps) + shift[:3, 3]
    np.testing.assert_allclose(plane.origin, expected, atol=1e-9)
    tile = render_tile(report, item, image, comps, fov_mm=40.0, size_px=40)
    assert "not seen" in tile.caption and not tile.seen
    # chained registrations compose: 1 -> 0 and 2 -> 1
    step = np.eye(4)
    step[:3, 3] = (1.0, 2.0, 0.0)
    regs2 = regs[:1] + [RegistrationResult(1, 0, "affine", REG_OK, "",
                                           matrix=tuple(map(tuple, shift))),
                        RegistrationResult(2, 1, "affine", REG_OK, "",
                                           matrix=tuple(map(tuple, step)))]
    report2 = _tiny_report(image, comps, registrations=regs2, absent_at=1)
    report2.timeline.timepoints.append(
        TimepointInfo(2, "follow-up 2", "1.2.9", None, "", None,
                      report2.timeline.timepoints[0].series))
    report2.tracks[0].members[2] = []
    plane2 = tile_plane(report2, lesion_at(report2, report2.tracks[0], 2), image, comps)
    np.testing.assert_allclose(plane2.origin, expected + step[:3, 3], atol=1e-9)


def test_failed_registration_says_the_position_is_unknown():
    image, comps = _phantom()
    regs = [RegistrationResult(0, 0, "identity", REG_IDENTITY, ""),
            RegistrationResult(1, 0, "affine", REG_FAILED, "body overlap 0.2")]
    report = _tiny_report(image, comps, registrations=regs, absent_at=1)
    item = lesion_at(report, report.tracks[0], 1)
    assert lesion_crop(report, item, image, comps, fov_mm=40.0) is None
    tile = render_tile(report, item, image, comps, fov_mm=40.0, size_px=60)
    assert "position here is unknown" in tile.caption
    assert _rgb(tile.png).shape[1] == 60
    no_image = render_tile(report, lesion_at(report, report.tracks[0], 0), None, None,
                           fov_mm=40.0, size_px=60)
    assert "no image for this timepoint" in no_image.caption


@pytest.mark.parametrize(("modality", "window", "grey_of_40"), [
    ("CT", None, 128),  # CT abdomen window W400 L40 when the series has none
    ("CT", WindowLevel(240.0, 400.0), 0),  # the series' own window
    ("MR", None, 0),  # MR: 1st-99th percentile of the crop (40 is the lowest value)
])
def test_display_window(modality, window, grey_of_40):
    image, comps = _phantom(modality=modality, window=window)
    report = _tiny_report(image, comps)
    crop = lesion_crop(report, lesion_at(report, report.tracks[0], 0), image, comps,
                       fov_mm=40.0, size_px=40)
    background = int(np.median(crop.grey[:5, :5]))
    assert abs(background - grey_of_40) <= 1
