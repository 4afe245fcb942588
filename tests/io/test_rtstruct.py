"""RTSTRUCT reading and rasterising onto a generated CT series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interval.core.errors import UnsupportedData
from interval.io.dicom.index import index_folder
from interval.io.dicom.load import load_dicom
from interval.io.rtstruct import fill_polygon, read_rtstruct, rtstruct_label_maps
from tests.io._rtstruct_data import Roi, square, write_ct_series, write_rtstruct


def _polygon_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


@pytest.mark.parametrize("poly", [
    np.array([[2.3, 3.7], [20.6, 4.1], [18.2, 30.4], [5.1, 25.5]]),
    np.array([[10.0, 2.5], [30.5, 20.0], [10.0, 37.5], [1.0, 20.0]]),
    square(20.2, 21.7, 9.4),
    np.array([[20.0, 2.0], [36.0, 34.0], [4.0, 34.0]]),  # triangle
])
def test_filled_area_matches_the_polygon_within_its_border(poly: np.ndarray) -> None:
    mask = fill_polygon((40, 40), poly)
    area = _polygon_area(poly)
    perimeter = float(np.linalg.norm(np.roll(poly, -1, axis=0) - poly, axis=1).sum())
    assert abs(int(mask.sum()) - area) <= perimeter / 2 + 1
    # reversed vertex order, and a polygon partly off the grid: the visible part is the same
    assert np.array_equal(fill_polygon((40, 40), poly[::-1]), mask)
    big = fill_polygon((80, 80), poly + 20.0)  # the whole polygon, 20 pixels in
    assert big.sum() == mask.sum()
    assert np.array_equal(fill_polygon((40, 40), poly - 20.0), big[40:, 40:])


def test_fill_follows_pixel_centres_and_even_odd() -> None:
    mask = fill_polygon((10, 10), np.array([[1.5, 1.5], [4.5, 1.5], [4.5, 3.5], [1.5, 3.5]]))
    assert mask.sum() == 3 * 2
    assert mask[2:4, 2:5].all() and not mask[1].any() and not mask[:, 5].any()
    # a pentagram drawn in one stroke: its centre is crossed twice, so it is outside
    angles = np.deg2rad(-90 + 144 * np.arange(5))
    star = np.column_stack([20 + 15 * np.cos(angles), 20 + 15 * np.sin(angles)])
    mask = fill_polygon((40, 40), star)
    assert not mask[20, 20] and mask[8, 20]  # centre out, the top point in
    assert fill_polygon((10, 10), star[:2]).sum() == 0  # two points are not a polygon


@pytest.fixture
def ct_with_rtstruct(tmp_path: Path):
    ct = write_ct_series(tmp_path / "ct", n_slices=8, rows=64, cols=64, pixel_spacing=0.8)
    body = Roi(1, "Body", (0, 255, 0), [square(0.0, 0.0, 15.0)], z=ct.z[1:7])
    # Tumour inside Body (overlap: it goes to a second label map), with a hole on one slice
    tumour = Roi(2, "GTV", (255, 0, 0), [square(2.0, 1.0, 6.1)], z=ct.z[3:5])
    ring = Roi(3, "Ring", (10, 20, 250), [square(21.5, 21.5, 5.5), square(21.5, 21.5, 2.0)],
               z=[ct.z[2]])
    path = tmp_path / "rs.dcm"
    write_rtstruct(path, ct, [body, tumour, ring], label="Plan A")
    return ct, path


def test_read_rtstruct_keeps_names_colours_and_polygons(ct_with_rtstruct) -> None:
    ct, path = ct_with_rtstruct
    structure = read_rtstruct(path)
    assert structure.label == "Plan A"
    assert structure.frame_of_reference_uid == ct.frame_of_reference_uid
    assert [(r.number, r.name, r.color) for r in structure.rois] == [
        (1, "Body", (0, 255, 0)), (2, "GTV", (255, 0, 0)), (3, "Ring", (10, 20, 250))]
    assert [len(r.polygons) for r in structure.rois] == [6, 2, 2]
    assert structure.rois[0].polygons[0].shape == (4, 3)


def test_rasterised_rois_match_their_polygons(ct_with_rtstruct) -> None:
    ct, path = ct_with_rtstruct
    image = load_dicom(ct.folder)
    maps = rtstruct_label_maps(path, image)
    assert len(maps) == 2  # GTV overlaps Body: it is kept in its own label map
    first, second = maps
    assert first.same_grid(image) and second.same_grid(image)
    names = {v.value: (v.name, v.color) for m in maps for v in m.labels}
    assert names == {1: ("Body", (0, 255, 0)), 2: ("GTV", (255, 0, 0)),
                     3: ("Ring", (10, 20, 250))}
    assert {v.value for v in first.labels} == {1, 3}
    px = ct.pixel_spacing
    # Body: 30 mm square on slices 1..6 (not 0, 7), area within a voxel border
    body = first.array == 1
    assert not body[0].any() and not body[7].any()
    for k in range(1, 7):
        side = 30.0 / px
        assert abs(int(body[k].sum()) - side * side) <= 2 * side + 1
    # the square is where the contour says, in LPS
    kk, jj, ii = np.nonzero(body)
    centre = image.index_to_lps(np.array([ii.mean(), jj.mean(), kk.mean()]))
    assert np.allclose(centre[:2], [0.0, 0.0], atol=px)
    # Ring: the inner square is a hole (xor of the two contours on the slice)
    ring = first.array[2] == 3
    side_out, side_in = 11.0 / px, 4.0 / px
    assert abs(int(ring.sum()) - (side_out**2 - side_in**2)) <= 2 * (side_out + side_in) + 2
    j, i = np.rint(image.lps_to_index(np.array([21.5, 21.5, ct.z[2]]))[[1, 0]]).astype(int)
    assert not ring[j, i]
    # GTV only on slices 3 and 4
    gtv = second.array == 2
    assert [bool(gtv[k].any()) for k in range(8)] == [False] * 3 + [True] * 2 + [False] * 3
    side = 12.2 / px
    assert abs(int(gtv[3].sum()) - side * side) <= 2 * side + 1
    assert first.metadata.modality == "RTSTRUCT"
    assert first.metadata.series_description == "Plan A"


def test_rtstruct_of_another_scan_is_refused(ct_with_rtstruct, tmp_path: Path) -> None:
    _ct, path = ct_with_rtstruct
    other = write_ct_series(tmp_path / "other", n_slices=4)
    with pytest.raises(UnsupportedData, match="another scan"):
        rtstruct_label_maps(path, load_dicom(other.folder))


def test_rtstruct_is_attached_to_its_series(ct_with_rtstruct) -> None:
    ct, path = ct_with_rtstruct
    index = index_folder(path.parent)
    series = {se.series_instance_uid: se for _p, _st, se in index.iter_series()}
    assert ct.series_uid in series
    attached = series[ct.series_uid].attached
    assert [(o.kind, o.header.path) for o in attached] == [("rtstruct", str(path))]
