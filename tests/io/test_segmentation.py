"""Segmentations: DICOM SEG / label-map files loaded and placed on an image by geometry."""

from __future__ import annotations

import numpy as np
import pytest

from interval.core.errors import IntervalError, UnsupportedData
from interval.core.labels import LabelTable
from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume
from interval.io.dicom.load import load_dicom
from interval.io.segmentation import (
    GeometryMismatch,
    load_segmentation,
    load_segmentation_groups,
    place_on_grid,
)
from tests.conftest import shared

SEGS = ("dcmqi_data", "data", "segmentations")
HD = ("highdicom_test_files", "data", "test_files")
TS = ("totalsegmentator_ref", "tests", "reference_files")

# (image folder, DICOM SEG, matching NRRD label map, segments to keep)
DCMQI_PAIRS = [
    ("24x38x3/image", "24x38x3/seg/label.seg", "24x38x3/nrrd/label.nrrd", None),
    ("23x38x3/image", "23x38x3/seg/label.seg", "23x38x3/nrrd/label.nrrd", None),
    ("ct-3slice", "liver.dcm", "liver_seg.nrrd", None),
    ("ct-3slice", "partial_overlaps.dcm", "partial_overlaps-2.nrrd", [2]),
    ("ct-3slice", "partial_overlaps.dcm", "partial_overlaps-3.nrrd", [3]),
    ("24x38x3/image", "sparse-labelmap-noppv.dcm", "sparse_labelmap_noppv_seg.nrrd", None),
    ("24x38x3/image", "sparse-labelmap-ppv5.dcm", "sparse_labelmap_ppv5_seg.nrrd", None),
]


@pytest.mark.parametrize("image,seg,nrrd,segments", DCMQI_PAIRS, ids=[p[1] + str(p[3]) for p in DCMQI_PAIRS])
def test_dicom_seg_matches_nrrd_on_the_ct(image, seg, nrrd, segments) -> None:
    ct = load_dicom(shared(*SEGS, *image.split("/")))
    from_seg = place_on_grid(load_segmentation(shared(*SEGS, *seg.split("/")), segments=segments), ct)
    from_nrrd = place_on_grid(load_segmentation(shared(*SEGS, *nrrd.split("/"))), ct)
    expected = from_nrrd.array
    if "ppv5" in nrrd:  # dcmqi wrote its pixel padding value 5 in the slice the SEG omits
        expected = np.where(expected == 5, 0, expected)
    assert from_seg.shape == ct.shape
    assert np.count_nonzero(expected) > 100
    np.testing.assert_array_equal(from_seg.array, expected)


def test_seg_label_table_names_and_cielab_colours() -> None:
    vol = load_segmentation(shared(*SEGS, "liver.dcm"))
    assert vol.metadata.modality == "SEG" and vol.metadata.frame_of_reference_uid
    (liver,) = list(vol.labels)
    assert liver.value == 1 and liver.name == "Liver"
    assert liver.color == (221, 130, 101)  # CIELab (41661, 41167, 40792): Slicer's liver colour


def test_overlapping_segments_highest_number_wins_with_warning() -> None:
    path = shared(*SEGS, "partial_overlaps.dcm")
    merged = load_segmentation(path)
    assert [i.name for i in merged.labels] == ["GREEN", "ORANGE", "PURPLE", "LIGHT_BLUE", "DARK_BLUE"]
    assert merged.metadata.warnings and "highest segment number" in merged.metadata.warnings[0]
    seg3 = load_segmentation(path, segments=[3]).array == 3
    seg2 = load_segmentation(path, segments=[2]).array == 2
    both = seg2 & seg3
    assert both.any()
    assert np.all(merged.array[both] >= 3)  # 3 (or a higher overlapping segment) wins over 2


def test_overlapping_segments_split_into_non_overlapping_groups() -> None:
    path = shared(*SEGS, "partial_overlaps.dcm")
    groups = load_segmentation_groups(path)
    assert len(groups) >= 2
    seen = sorted(i.value for g in groups for i in g.labels)
    assert seen == [1, 2, 3, 4, 5]
    for n in seen:  # every segment keeps all its voxels in its group
        single = load_segmentation(path, segments=[n]).array == n
        (group,) = [g for g in groups if n in g.labels]
        np.testing.assert_array_equal(group.array == n, single)


@pytest.mark.parametrize("name", ["seg_image_ct_binary.dcm", "seg_image_ct_binary_overlap.dcm",
                                  "seg_image_ct_binary_single_frame.dcm"])
def test_highdicom_binary_segs_load(name) -> None:
    vol = load_segmentation(shared(*HD, name))
    assert vol.is_label_map and np.count_nonzero(vol.array) > 0
    assert set(np.unique(vol.array)) <= {0} | {i.value for i in vol.labels}


def test_fractional_seg_threshold_half() -> None:
    import highdicom as hd

    path = shared(*HD, "seg_image_ct_true_fractional.dcm")
    fractions = hd.seg.segread(str(path)).get_volume(rescale_fractional=True).array[..., 0]
    vol = load_segmentation(path)
    assert 0 < np.count_nonzero(fractions >= 0.5) < np.count_nonzero(fractions > 0)
    np.testing.assert_array_equal(vol.array == 1, fractions >= 0.5)
    binary_frac = load_segmentation(shared(*HD, "seg_image_ct_binary_fractional.dcm"))
    np.testing.assert_array_equal(binary_frac.array, load_segmentation(shared(*HD, "seg_image_ct_binary.dcm")).array)


@pytest.mark.parametrize("name", ["seg_image_sm_control_labelmap.dcm", "seg_image_sm_numbers.dcm",
                                  "seg_image_cr_binary.dcm"])
def test_segs_outside_patient_space_are_refused_in_words(name) -> None:
    with pytest.raises(UnsupportedData) as info:
        load_segmentation(shared(*HD, name))
    assert "patient space" in str(info.value)


def test_not_a_seg_is_refused_in_words() -> None:
    with pytest.raises(IntervalError):
        load_segmentation(shared(*HD, "ct_image.dcm"))


def test_totalsegmentator_nifti_on_its_ct_is_exact_without_resampling(monkeypatch) -> None:
    import SimpleITK as sitk

    ct = load_dicom(shared(*TS, "example_ct_dicom"))
    seg = load_segmentation(shared(*TS, "example_seg_dicom.nii.gz"))
    # The NIfTI stores the rows flipped (direction y = -1): the same voxel centres, another order.
    def no_resampling(*_a, **_k):
        raise AssertionError("resampled although the voxel centres coincide")
    monkeypatch.setattr(sitk, "ResampleImageFilter", no_resampling)
    placed = place_on_grid(seg, ct)
    assert placed.same_grid(ct)
    np.testing.assert_array_equal(placed.array, seg.array[:, ::-1, :])
    # once on the CT grid, placing again shares the array (no copy)
    again = place_on_grid(placed, ct)
    assert np.shares_memory(again.array, placed.array)
    # a labelled voxel keeps its LPS position
    k, j, i = np.argwhere(seg.array > 0)[0]
    lps = seg.index_to_lps((i, j, k))
    ci, cj, ck = np.rint(ct.lps_to_index(lps)).astype(int)
    assert placed.array[ck, cj, ci] == seg.array[k, j, i]


def _image(shape=(20, 30, 40), spacing=(1.0, 1.0, 2.0), origin=(-10.0, 5.0, 100.0), for_uid="1.2.3"):
    meta = VolumeMetadata(frame_of_reference_uid=for_uid, modality="CT")
    return Volume(np.zeros(shape, np.int16), spacing, origin, np.eye(3), meta)


def test_coarser_shifted_grid_is_resampled_by_nearest_neighbour_at_the_right_place() -> None:
    image = _image()
    # labels: 2x coarser in-plane, shifted by 3 mm in x and 1 mm in y (not voxel-aligned halves)
    arr = np.zeros((10, 15, 20), np.uint8)
    arr[4, 6, 7] = 3
    labels = Volume(arr, (2.0, 2.0, 4.0), (-7.0, 6.0, 100.0), np.eye(3),
                    VolumeMetadata(frame_of_reference_uid="1.2.3"), LabelTable.for_values([3]))
    placed = place_on_grid(labels, image)
    assert placed.same_grid(image) and placed.labels == labels.labels
    centre = labels.index_to_lps((7, 6, 4))  # LPS of the labelled voxel's centre
    ci, cj, ck = np.rint(image.lps_to_index(centre)).astype(int)
    assert placed.array[ck, cj, ci] == 3
    # every image voxel labelled 3 lies within the labelled voxel's box (nearest neighbour)
    idx = np.argwhere(placed.array == 3)[:, ::-1]
    lps = image.index_to_lps(idx.astype(float))
    assert np.all(np.abs(lps - centre) <= np.array([1.0, 1.0, 2.0]) + 1e-6)
    assert len(idx) == 2 * 2 * 2  # a 2x2x4 mm voxel covers 2x2x2 image voxels
    assert set(np.unique(placed.array)) == {0, 3}


def test_identical_grid_shares_the_array() -> None:
    image = _image()
    labels = image.with_array(np.ones(image.shape, np.uint8), labels=LabelTable.for_values([1]))
    placed = place_on_grid(labels, image)
    assert placed.array is labels.array


def test_oblique_label_grid_is_resampled_in_patient_space() -> None:
    image = _image(shape=(10, 40, 40), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    arr = np.zeros((10, 20, 20), np.uint8)
    arr[5, 10, 10] = 1
    labels = Volume(arr, (1.0, 1.0, 1.0), (5.0, 5.0, 0.0), rot, VolumeMetadata(), LabelTable.for_values([1]))
    placed = place_on_grid(labels, image)
    centre = labels.index_to_lps((10, 10, 5))
    ci, cj, ck = np.rint(image.lps_to_index(centre)).astype(int)
    assert placed.array[ck, cj, ci] == 1


def test_different_frame_of_reference_is_refused() -> None:
    image = _image()
    labels = _image(for_uid="9.9.9").with_array(np.ones((20, 30, 40), np.uint8), labels=LabelTable.for_values([1]))
    with pytest.raises(GeometryMismatch, match="different scan"):
        place_on_grid(labels, image)


def test_non_overlapping_volumes_are_refused() -> None:
    image = _image()
    far = Volume(np.ones((5, 5, 5), np.uint8), (1.0, 1.0, 1.0), (500.0, 500.0, 500.0), np.eye(3),
                 VolumeMetadata(frame_of_reference_uid="1.2.3"), LabelTable.for_values([1]))
    with pytest.raises(GeometryMismatch, match="do not overlap"):
        place_on_grid(far, image)


def test_dicom_seg_on_another_scan_is_refused() -> None:
    ct = load_dicom(shared(*SEGS, "ct-3slice"))
    with pytest.raises(GeometryMismatch):
        place_on_grid(load_segmentation(shared(*SEGS, "24x38x3", "seg", "label.seg")), ct)


def test_overlap_warning_is_logged_without_the_file_name(caplog) -> None:
    import logging

    with caplog.at_level(logging.DEBUG, logger="interval"):
        vol = load_segmentation(shared(*SEGS, "partial_overlaps.dcm"))
    assert vol.metadata.warnings
    messages = [r.getMessage() for r in caplog.records]
    assert any("overlap" in m for m in messages)
    assert not any("partial_overlaps" in m or "segmentations" in m for m in messages)


def test_totalsegmentator_map_gets_its_class_names_and_distinct_colours() -> None:
    import re

    import nibabel as nib

    path = shared(*TS, "example_seg_dicom.nii.gz")
    seg = load_segmentation(path)
    # the names TotalSegmentator embedded (a Caret label table in a NIfTI extension)
    (ext,) = nib.load(str(path)).header.extensions
    embedded = {int(k): n for k, n in re.findall(
        rb'<Label Key="(\d+)"[^>]*><!\[CDATA\[([^\]]*)\]\]>', ext.get_content())}
    assert len(embedded) == 117
    present = sorted(int(v) for v in np.unique(seg.array) if v)
    assert [i.value for i in seg.labels] == present  # only the classes in this map
    assert [i.name for i in seg.labels] == [embedded[v].decode() for v in present]
    assert "liver" in [i.name for i in seg.labels]
    # TotalSegmentator's own colours repeat (a dozen over 117 classes): defaults instead
    colors = [i.color for i in seg.labels]
    assert len(colors) >= 20 and len(set(colors)) == len(colors)
    assert seg.metadata.warnings == ()


def test_dcmqi_nrrd_label_maps_keep_default_names() -> None:
    vol = load_segmentation(shared(*SEGS, "liver_seg.nrrd"))  # a plain NRRD, no Segment keys
    assert [i.name for i in vol.labels] == [f"Label {v}" for v in np.unique(vol.array) if v]
    assert vol.metadata.warnings == ()
