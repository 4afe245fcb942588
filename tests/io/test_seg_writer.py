"""write_dicom_seg: a label map on a synthetic CT series, saved as DICOM SEG and read back."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest

from interval.core.errors import UnsupportedData
from interval.core.labels import LabelInfo, LabelTable
from interval.io.dicom.load import load_dicom
from interval.io.seg_writer import AlgorithmInfo, write_dicom_seg
from interval.io.segmentation import load_segmentation, place_on_grid
from interval.io.synthetic.dicom_writer import SeriesTags, make_uid, write_ct_series
from interval.io.synthetic.grid import Grid


def _tags(tag: str) -> SeriesTags:
    return SeriesTags(
        patient_name="SEG^TEST", patient_id="SEG1", patient_birth_date=date(1970, 1, 1),
        patient_sex="O", study_instance_uid=make_uid(tag, "study"), study_date=date(2024, 5, 6),
        study_time="101500", study_id="1", study_description="seg writer test",
        accession_number="A1", series_instance_uid=make_uid(tag, "series"), series_number=2,
        series_description="axial", frame_of_reference_uid=make_uid(tag, "for"),
    )


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A 6-slice 12x10 CT series and its loaded Volume."""
    folder = tmp_path_factory.mktemp("ct")
    grid = Grid.centred((6, 10, 12), (0.8, 0.7, 2.5), (5.0, -3.0, 40.0))
    ct = np.random.default_rng(1).integers(-200, 200, grid.shape).astype(np.int16)
    files = write_ct_series(ct, grid, folder, _tags("a"))
    return files, load_dicom(folder)


def _labels(volume, table):
    array = np.zeros(volume.shape, np.uint8)
    array[1:4, 2:6, 3:8] = 1
    array[2:5, 5:9, 6:11] = 2  # touches label 1
    array[5, 0, 0] = 3
    return volume.with_array(array, labels=table).with_metadata(modality="SEG")


TABLE = LabelTable([LabelInfo(1, "liver", (221, 130, 101)),
                    LabelInfo(2, "liver lesion", (255, 255, 0)),
                    LabelInfo(3, "spleen", (20, 90, 230))])


def test_round_trip_voxels_names_colours_and_references(series, tmp_path):
    files, volume = series
    labels = _labels(volume, TABLE)
    out = tmp_path / "seg.dcm"
    written = write_dicom_seg(labels, out, files[::-1],  # any order of the source files
                              algorithm=AlgorithmInfo("phantom-unet", "1.0.0", "org.test"))
    assert written.path == out and out.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["seg.dcm"]  # no temporary file left
    back = load_segmentation(out)
    on_grid = place_on_grid(back, volume)
    np.testing.assert_array_equal(on_grid.array, labels.array)
    assert [(i.value, i.name) for i in back.labels] == [(1, "liver"), (2, "liver lesion"),
                                                        (3, "spleen")]
    for info in back.labels:  # CIELab round trip within a unit per channel
        assert np.abs(np.subtract(info.color, TABLE[info.value].color)).max() <= 1

    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert ds.StudyInstanceUID == volume.metadata.study_instance_uid
    assert ds.FrameOfReferenceUID == volume.metadata.frame_of_reference_uid
    ref_series = ds.ReferencedSeriesSequence[0]
    assert ref_series.SeriesInstanceUID == volume.metadata.series_instance_uid
    referenced = {item.ReferencedSOPInstanceUID for item in ref_series.ReferencedInstanceSequence}
    assert referenced == set(volume.metadata.sop_instance_uids)
    seg_item = ds.SegmentSequence[1]
    assert seg_item.SegmentAlgorithmType == "AUTOMATIC"
    algo = seg_item.SegmentationAlgorithmIdentificationSequence[0]
    assert algo.AlgorithmName == "phantom-unet" and algo.AlgorithmVersion == "1.0.0"
    assert algo.AlgorithmFamilyCodeSequence[0].CodeMeaning == "Artificial Intelligence"
    assert seg_item.SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Lesion"
    assert ds.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Liver"
    # each frame points at the source image at its position
    by_uid = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID:
              pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient for f in files}
    for frame in ds.PerFrameFunctionalGroupsSequence:
        src = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        pos = frame.PlanePositionSequence[0].ImagePositionPatient
        np.testing.assert_allclose([float(v) for v in pos], [float(v) for v in by_uid[src]])


def test_label_values_with_gaps_become_consecutive_segments(series, tmp_path):
    files, volume = series
    table = LabelTable([LabelInfo(2, "kidney", (0, 200, 0)), LabelInfo(7, "tumour", (200, 0, 0))])
    array = np.zeros(volume.shape, np.uint8)
    array[0:2, 1:3, 1:3] = 7
    array[3, 4:6, 4:6] = 2
    written = write_dicom_seg(volume.with_array(array, labels=table), tmp_path / "g.dcm", files)
    assert written.segment_numbers == {2: 1, 7: 2}
    back = place_on_grid(load_segmentation(tmp_path / "g.dcm"), volume)
    expected = np.select([array == 2, array == 7], [1, 2], 0)
    np.testing.assert_array_equal(back.array, expected)
    assert [i.name for i in back.labels] == ["kidney", "tumour"]
    ds = pydicom.dcmread(tmp_path / "g.dcm", stop_before_pixels=True)
    assert ds.SegmentSequence[0].SegmentAlgorithmType == "MANUAL"


def test_labelmap_segmentation_type(series, tmp_path):
    files, volume = series
    labels = _labels(volume, TABLE)
    write_dicom_seg(labels, tmp_path / "lm.dcm", files, segmentation_type="LABELMAP")
    back = place_on_grid(load_segmentation(tmp_path / "lm.dcm"), volume)
    np.testing.assert_array_equal(back.array, labels.array)


def test_wrong_grid_is_refused_and_nothing_written(series, tmp_path):
    files, volume = series
    shifted = _labels(volume, TABLE)
    shifted = type(shifted)(shifted.array, shifted.spacing,
                            (shifted.origin[0], shifted.origin[1], shifted.origin[2] + 1.0),
                            shifted.direction, shifted.metadata, shifted.labels)
    with pytest.raises(UnsupportedData, match="grid"):
        write_dicom_seg(shifted, tmp_path / "x.dcm", files)
    with pytest.raises(UnsupportedData, match="no source image"):
        write_dicom_seg(_labels(volume, TABLE), tmp_path / "x.dcm", files[:2])
    assert list(tmp_path.iterdir()) == []


def test_sources_from_two_series_are_refused(series, tmp_path):
    files, volume = series
    grid = Grid.centred((6, 10, 12), (0.8, 0.7, 2.5), (5.0, -3.0, 40.0))
    other = write_ct_series(np.zeros(grid.shape, np.int16), grid, tmp_path / "b", _tags("b"))
    with pytest.raises(UnsupportedData, match="several series"):
        write_dicom_seg(_labels(volume, TABLE), tmp_path / "x.dcm", files + other)
    assert all(Path(f).is_file() for f in files)


def test_real_ct_with_31_labels_and_empty_uids_in_its_headers(tmp_path):
    """TotalSegmentator's reference CT (JPEG 2000, SOP Class/Instance UIDs only in the file
    meta) and its 31-label map with values up to 117: SEG segments 1..31, same voxels."""
    from tests.conftest import shared

    root = shared("totalsegmentator_ref", "tests", "reference_files")
    ct = load_dicom(root / "example_ct_dicom")
    labels = place_on_grid(load_segmentation(root / "example_seg_dicom.nii.gz"), ct)
    files = sorted((root / "example_ct_dicom").iterdir())
    written = write_dicom_seg(labels, tmp_path / "ts.dcm", files,
                              algorithm=AlgorithmInfo("TotalSegmentator", "2.0"))
    assert sorted(written.segment_numbers.values()) == list(range(1, 32))
    lut = np.zeros(256, np.uint8)
    for value, number in written.segment_numbers.items():
        lut[value] = number
    back = place_on_grid(load_segmentation(tmp_path / "ts.dcm"), ct)
    np.testing.assert_array_equal(back.array, lut[labels.array])
    assert [i.name for i in back.labels] == [i.name for i in labels.labels]
    ds = pydicom.dcmread(tmp_path / "ts.dcm", stop_before_pixels=True)
    refs = {i.ReferencedSOPInstanceUID
            for i in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert refs == {pydicom.dcmread(f, stop_before_pixels=True).file_meta.MediaStorageSOPInstanceUID
                    for f in files}


def test_save_segmentation_by_extension(series, tmp_path):
    from interval.io.seg_writer import save_segmentation

    files, volume = series
    labels = _labels(volume, TABLE)
    nifti = save_segmentation(labels, tmp_path / "a.nii.gz")
    assert [p.name for p in nifti] == ["a.nii.gz", "a.labels.json"]
    back = load_segmentation(tmp_path / "a.nii.gz")  # names come back from the sidecar
    np.testing.assert_array_equal(back.array, labels.array)
    assert [(i.value, i.name, i.color) for i in back.labels] == [
        (i.value, i.name, i.color) for i in TABLE]
    assert save_segmentation(labels, tmp_path / "b.dcm", sources=files) == [tmp_path / "b.dcm"]
    with pytest.raises(UnsupportedData, match="save it as NIfTI"):
        save_segmentation(labels, tmp_path / "c.dcm")
    assert not (tmp_path / "c.dcm").exists()


def test_segment_names_in_any_language_survive(series, tmp_path):
    """The SEG is written in UTF-8 (ISO_IR 192), not in the source's Latin-1."""
    files, volume = series
    table = LabelTable([LabelInfo(1, "Leber", (221, 130, 101)),
                        LabelInfo(2, "Läsion 肝", (255, 255, 0)),
                        LabelInfo(3, "Селезёнка", (20, 90, 230))])
    out = tmp_path / "seg.dcm"
    write_dicom_seg(_labels(volume, table), out, files)
    assert pydicom.dcmread(out).SpecificCharacterSet == "ISO_IR 192"
    back = load_segmentation(out)
    assert [i.name for i in back.labels] == ["Leber", "Läsion 肝", "Селезёнка"]
