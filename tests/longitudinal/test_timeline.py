"""Timeline: one patient's studies in date order, one series per timepoint, with reasons."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from interval.core.errors import UnreadableFile
from interval.longitudinal.timeline import SeveralPatients, TimelineError, build_timeline

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


# --- a small writer of DICOM studies ------------------------------------------------------


def write_series(folder: Path, *, patient_id: str = "PAT-A", patient_name: str = "TEST^ALPHA",
                 study_uid: str, study_date: str | None = "20240102",
                 study_time: str | None = "101500", series_date: str | None = None,
                 series_number: int = 2, modality: str = "CT", description: str = "Axial",
                 orientation: tuple[float, ...] = AXIAL, n: int = 12, gap: float = 2.5,
                 positions: list[float] | None = None, size: int = 8,
                 image_type: str = "ORIGINAL\\PRIMARY\\AXIAL") -> dict:
    """``n`` slices of one series; returns its UIDs and files."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    frame_uid = generate_uid()
    along = positions if positions is not None else [gap * k for k in range(n)]
    normal = np.cross(orientation[:3], orientation[3:])
    paths = []
    for k, offset in enumerate(along):
        sop = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage if modality == "CT" else MRImageStorage
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = sop
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.StudyInstanceUID = study_uid
        if study_date is not None:
            ds.StudyDate = study_date
        if study_time is not None:
            ds.StudyTime = study_time
        if series_date is not None:
            ds.SeriesDate = series_date
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description
        ds.Modality = modality
        ds.FrameOfReferenceUID = frame_uid
        ds.ImageType = image_type.split("\\")
        ds.InstanceNumber = k + 1
        position = np.array([-10.0, -10.0, 0.0]) + offset * normal
        ds.ImagePositionPatient = [f"{v:.3f}" for v in position]
        ds.ImageOrientationPatient = list(orientation)
        ds.PixelSpacing = ["1.0", "1.0"]
        ds.SliceThickness = str(gap)
        ds.Rows = size
        ds.Columns = size
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.PixelData = np.full((size, size), 1000 + k, dtype="<u2").tobytes()
        path = folder / f"{series_number:03d}_{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return {"series_uid": series_uid, "study_uid": study_uid, "paths": paths}


def _reasons(selection) -> list[str]:
    return [tp.series.reason for tp in selection.timeline.timepoints]


# --- order ---------------------------------------------------------------------------------


def test_studies_are_ordered_by_date_then_time_not_by_folder(tmp_path: Path) -> None:
    late = write_series(tmp_path / "a_first_folder", study_uid=generate_uid(),
                        study_date="20240610", study_time="090000")
    afternoon = write_series(tmp_path / "b", study_uid=generate_uid(), study_date="20240102",
                             study_time="150000")
    morning = write_series(tmp_path / "c", study_uid=generate_uid(), study_date="20240102",
                           study_time="083000")
    selection = build_timeline([tmp_path])
    tps = selection.timeline.timepoints
    assert [tp.study_instance_uid for tp in tps] == [
        morning["study_uid"], afternoon["study_uid"], late["study_uid"]]
    assert [tp.label for tp in tps] == ["baseline", "follow-up 1", "follow-up 2"]
    assert [tp.days_from_baseline for tp in tps] == [0, 0, 160]
    assert [tp.index for tp in tps] == [0, 1, 2]
    assert selection.timeline.patient_id == "PAT-A"
    assert selection.timeline.patient_name == "TEST^ALPHA"


def test_one_study_split_over_two_folders_is_one_timepoint(tmp_path: Path) -> None:
    uid = generate_uid()
    write_series(tmp_path / "part1", study_uid=uid, series_number=2)
    write_series(tmp_path / "part2", study_uid=uid, series_number=3, gap=1.0)
    selection = build_timeline([tmp_path / "part1", tmp_path / "part2"])
    assert len(selection.timeline.timepoints) == 1
    tp = selection.timeline.timepoints[0]
    assert tp.series.series_number == 3  # the thinner of the two, from the second folder
    assert tp.source == str(tmp_path / "part2")


def test_generated_patient_gives_its_timepoints_files_and_volumes(tmp_path: Path) -> None:
    from interval.io.synthetic import generate_patient

    patient = generate_patient(tmp_path / "p", seed=4, n_timepoints=3, shape=(40, 64, 64),
                               ground_truth=False, keep_arrays=False)
    selection = build_timeline([patient.dicom_dir])
    tps = selection.timeline.timepoints
    assert [tp.study_date for tp in tps] == [t.study_date for t in patient.timepoints]
    assert [tp.series.series_instance_uid for tp in tps] == [
        t.series_instance_uid for t in patient.timepoints]
    assert [tp.days_from_baseline for tp in tps] == [t.day for t in patient.timepoints]
    for i, record in enumerate(patient.timepoints):
        assert selection.files(i) == sorted(record.series_dir.glob("*.dcm"))
        volume = selection.load(i)
        assert volume.shape == (40, 64, 64)
        assert volume.metadata.series_instance_uid == record.series_instance_uid
    assert tps[0].series.reason.startswith("axial CT")


# --- the series rule --------------------------------------------------------------------------


def test_series_rule_axial_then_thinnest_then_most_slices(tmp_path: Path) -> None:
    uid = generate_uid()
    write_series(tmp_path, study_uid=uid, series_number=2, gap=5.0, n=12)
    write_series(tmp_path, study_uid=uid, series_number=3, gap=2.5, n=12)
    write_series(tmp_path, study_uid=uid, series_number=4, gap=2.5, n=20)
    write_series(tmp_path, study_uid=uid, series_number=5, gap=1.0, n=30, orientation=CORONAL,
                 description="Coronal")
    write_series(tmp_path, study_uid=uid, series_number=7, gap=0.5, n=3, description="Scout")
    selection = build_timeline([tmp_path])
    choice = selection.timeline.timepoints[0].series
    assert choice.series_number == 4
    assert choice.orientation == "axial"
    assert choice.dimensions == (8, 8, 20)
    assert choice.spacing == pytest.approx((1.0, 1.0, 2.5))
    assert choice.candidates == 4  # the 3-slice scout is not a volume
    assert choice.reason == "axial CT, 2.5 mm, 20 slices; most slices of 2 axial CT series at 2.5 mm"
    assert any("series 7" in w and "only 3 slice" in w for w in selection.timeline.warnings)


def test_series_rule_reasons_name_the_deciding_criterion(tmp_path: Path) -> None:
    one, two, three = generate_uid(), generate_uid(), generate_uid()
    write_series(tmp_path / "a", study_uid=one, study_date="20240101", series_number=2, gap=5.0)
    write_series(tmp_path / "a", study_uid=one, study_date="20240101", series_number=3, gap=1.0)
    write_series(tmp_path / "a", study_uid=one, study_date="20240101", series_number=4, gap=3.0)
    write_series(tmp_path / "b", study_uid=two, study_date="20240201", series_number=6,
                 gap=0.5, orientation=CORONAL)
    write_series(tmp_path / "b", study_uid=two, study_date="20240201", series_number=5, gap=2.0)
    write_series(tmp_path / "c", study_uid=three, study_date="20240301", series_number=9)
    write_series(tmp_path / "c", study_uid=three, study_date="20240301", series_number=8)
    reasons = _reasons(build_timeline([tmp_path]))
    assert reasons[0] == "axial CT, 1.0 mm, 12 slices; thinnest of 3 axial CT series"
    assert reasons[1] == "axial CT, 2.0 mm, 12 slices; the only axial CT series"
    assert reasons[2] == ("axial CT, 2.5 mm, 12 slices; lowest series number of 2 axial CT "
                          "series at 2.5 mm with 12 slices")


def test_modality_found_in_most_studies_wins_then_ct_on_a_tie(tmp_path: Path) -> None:
    one, two = generate_uid(), generate_uid()
    write_series(tmp_path / "a", study_uid=one, study_date="20240101", series_number=2,
                 modality="CT", gap=0.5)
    write_series(tmp_path / "a", study_uid=one, study_date="20240101", series_number=3,
                 modality="MR", gap=3.0)
    write_series(tmp_path / "b", study_uid=two, study_date="20240201", series_number=3,
                 modality="MR", gap=3.0)
    selection = build_timeline([tmp_path])
    assert [tp.series.modality for tp in selection.timeline.timepoints] == ["MR", "MR"]
    # a tie (one CT study, one MR study): CT is preferred, the MR-only study falls back
    tie = tmp_path / "tie"
    write_series(tie / "a", study_uid=generate_uid(), study_date="20240101", modality="CT")
    write_series(tie / "b", study_uid=generate_uid(), study_date="20240201", modality="MR")
    tps = build_timeline([tie]).timeline.timepoints
    assert [tp.series.modality for tp in tps] == ["CT", "MR"]
    assert "no usable CT series in this study, MR used" in tps[1].series.reason


def test_override_by_series_number_uid_and_stack_uid(tmp_path: Path) -> None:
    one, two = generate_uid(), generate_uid()
    write_series(tmp_path / "a", study_uid=one, study_date="20240101", series_number=2, gap=1.0)
    thick_a = write_series(tmp_path / "a", study_uid=one, study_date="20240101",
                           series_number=3, gap=5.0)
    write_series(tmp_path / "b", study_uid=two, study_date="20240201", series_number=2, gap=1.0)
    thick_b = write_series(tmp_path / "b", study_uid=two, study_date="20240201",
                           series_number=3, gap=5.0)
    by_number = build_timeline([tmp_path], series=["3"])
    assert [tp.series.series_instance_uid for tp in by_number.timeline.timepoints] == [
        thick_a["series_uid"], thick_b["series_uid"]]
    assert all("chosen by the reader ('3')" in r for r in _reasons(by_number))
    by_uid = build_timeline([tmp_path], series=[thick_b["series_uid"]])
    tps = by_uid.timeline.timepoints
    assert tps[0].series.series_number == 2  # the rule, no override for this study
    assert "thinnest" in tps[0].series.reason
    assert tps[1].series.series_instance_uid == thick_b["series_uid"]
    stack_uid = by_uid.stack(1).uid
    by_stack = build_timeline([tmp_path], series=[stack_uid])
    assert by_stack.stack(1).uid == stack_uid
    with pytest.raises(TimelineError, match="'9.9.9'"):
        build_timeline([tmp_path], series=["9.9.9"])


# --- patients -----------------------------------------------------------------------------------


def test_two_patients_are_refused_unless_one_is_chosen(tmp_path: Path) -> None:
    write_series(tmp_path / "a", patient_id="PAT-A", study_uid=generate_uid())
    b = write_series(tmp_path / "b", patient_id="PAT-B", patient_name="TEST^BETA",
                     study_uid=generate_uid(), study_date="20240301")
    with pytest.raises(SeveralPatients) as info:
        build_timeline([tmp_path])
    assert info.value.patient_ids == ["PAT-A", "PAT-B"]
    assert "PAT-A" in str(info.value) and "PAT-B" in str(info.value)
    chosen = build_timeline([tmp_path], patient_id="PAT-B")
    assert chosen.timeline.patient_id == "PAT-B"
    assert chosen.timeline.patient_name == "TEST^BETA"
    assert [tp.study_instance_uid for tp in chosen.timeline.timepoints] == [b["study_uid"]]
    with pytest.raises(TimelineError, match="PAT-C"):
        build_timeline([tmp_path], patient_id="PAT-C")


def test_id_map_merges_mismatched_ids(tmp_path: Path) -> None:
    first = write_series(tmp_path / "old", patient_id="12345", study_uid=generate_uid(),
                         study_date="20230105")
    second = write_series(tmp_path / "new", patient_id="H-12345", study_uid=generate_uid(),
                          study_date="20230705")
    selection = build_timeline([tmp_path], id_map={"12345": "H-12345"})
    assert selection.timeline.patient_id == "H-12345"
    assert [tp.study_instance_uid for tp in selection.timeline.timepoints] == [
        first["study_uid"], second["study_uid"]]
    # the ID as found also chooses the merged patient
    again = build_timeline([tmp_path], id_map={"12345": "H-12345"}, patient_id="12345")
    assert len(again.timeline.timepoints) == 2


def test_logs_hold_counts_but_no_patient_data(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    write_series(tmp_path, patient_id="SECRET-ID-77", patient_name="SECRET^NAME",
                 study_uid=generate_uid())
    with caplog.at_level(logging.DEBUG):
        build_timeline([tmp_path])
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "timeline: 1 studies, 1 timepoints" in text
    assert "SECRET" not in text


# --- dates and the baseline ----------------------------------------------------------------------


def test_baseline_date_drops_earlier_studies(tmp_path: Path) -> None:
    for day in ("20230101", "20230601", "20231201"):
        write_series(tmp_path / day, study_uid=generate_uid(), study_date=day)
    selection = build_timeline([tmp_path], baseline=dt.date(2023, 5, 1))
    tps = selection.timeline.timepoints
    assert [tp.study_date for tp in tps] == [dt.date(2023, 6, 1), dt.date(2023, 12, 1)]
    assert tps[0].label == "baseline" and tps[0].days_from_baseline == 0
    assert any("before the baseline date 2023-05-01" in w for w in selection.timeline.warnings)
    with pytest.raises(TimelineError, match="2024-01-01"):
        build_timeline([tmp_path], baseline=dt.date(2024, 1, 1))


def test_missing_study_date_uses_series_date_or_leaves_the_study_out(tmp_path: Path) -> None:
    write_series(tmp_path / "a", study_uid=generate_uid(), study_date="20240301")
    fallback = write_series(tmp_path / "b", study_uid=generate_uid(), study_date=None,
                            series_date="20240105")
    write_series(tmp_path / "c", study_uid=generate_uid(), study_date=None, study_time=None)
    selection = build_timeline([tmp_path])
    tps = selection.timeline.timepoints
    assert len(tps) == 2
    assert tps[0].study_instance_uid == fallback["study_uid"]
    assert tps[0].study_date == dt.date(2024, 1, 5)
    warnings = " ".join(selection.timeline.warnings)
    assert "the date of its series, 2024-01-05, is used" in warnings
    assert "no date at all and is left out" in warnings


# --- bad input ---------------------------------------------------------------------------------


def test_unreadable_and_irregular_series_are_reported_not_chosen(tmp_path: Path) -> None:
    uid = generate_uid()
    good = write_series(tmp_path, study_uid=uid, series_number=2, gap=3.0)
    broken = write_series(tmp_path, study_uid=uid, series_number=3, gap=1.0)
    write_series(tmp_path, study_uid=uid, series_number=4, gap=0.5,
                 positions=[0.5 * k for k in range(12) if k != 6], description="Gappy")
    damaged = broken["paths"][-1]  # the last slice: the rest still forms a regular grid
    damaged.write_bytes(damaged.read_bytes()[:-40])  # cut into the pixel data
    selection = build_timeline([tmp_path])
    choice = selection.timeline.timepoints[0].series
    assert choice.series_instance_uid == good["series_uid"]
    assert choice.candidates == 2  # the series with a gap cannot be loaded
    warnings = " ".join(selection.timeline.warnings)
    assert 'series 3 "Axial": 1 file(s) of this series could not be read' in warnings
    assert 'series 4 "Gappy" is not used: its slices do not form a regular grid' in warnings
    assert "every complete series was considered first" in choice.reason


def test_no_images_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not DICOM\n")
    with pytest.raises(TimelineError, match="No DICOM images were found"):
        build_timeline([tmp_path])
    with pytest.raises(UnreadableFile):
        build_timeline([tmp_path / "missing", tmp_path])
    with pytest.raises(TimelineError, match="No folder"):
        build_timeline([])
