"""The synthetic patient on disk: valid CT DICOM, UIDs, dates, ground truth, determinism."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from interval.core.errors import Cancelled, IntervalError
from interval.io.synthetic.patient import (
    MANIFEST,
    generate_patient,
    is_complete,
    read_synthetic_patient,
)

SHAPE = (24, 64, 64)
UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    return generate_patient(tmp_path_factory.mktemp("syn") / "patient", seed=0, shape=SHAPE)


def _files(series_dir: Path) -> list[Path]:
    return sorted(series_dir.glob("IM*.dcm"))


def test_layout_and_manifest(patient):
    root = patient.root
    assert (root / MANIFEST).is_file()
    assert is_complete(root, seed=0, shape=SHAPE, n_timepoints=3)
    assert not is_complete(root, seed=1)
    assert not is_complete(root, shape=(25, 64, 64))
    assert len(patient.timepoints) == 3
    for tp in patient.timepoints:
        assert tp.series_dir.is_relative_to(patient.dicom_dir)
        assert len(_files(tp.series_dir)) == SHAPE[0] == tp.n_files
        assert tp.labels_path.is_file() and tp.lesion_ids_path.is_file()
    assert (patient.ground_truth_dir / "lesions.json").is_file()


def test_every_file_is_a_valid_ct_image(patient):
    sop_uids = set()
    for tp in patient.timepoints:
        phantom = patient.phantoms[tp.index]
        positions = []
        for path in _files(tp.series_dir):
            ds = pydicom.dcmread(path)
            assert ds.preamble == b"\0" * 128
            assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
            assert ds.file_meta.MediaStorageSOPClassUID == CTImageStorage == ds.SOPClassUID
            assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
            assert ds.Modality == "CT" and ds.Manufacturer == "Interval synthetic"
            assert "SYNTHETIC" in str(ds.PatientName) and ds.PatientID == patient.patient_id
            assert ds.StudyInstanceUID == tp.study_instance_uid
            assert ds.SeriesInstanceUID == tp.series_instance_uid
            assert ds.FrameOfReferenceUID == tp.frame_of_reference_uid
            assert ds.StudyDate == tp.study_date.strftime("%Y%m%d")
            assert ds.BodyPartExamined and ds.SeriesNumber == tp.series_number
            assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
            assert [float(v) for v in ds.PixelSpacing] == pytest.approx(
                [patient.spacing[1], patient.spacing[0]])
            assert float(ds.SliceThickness) == pytest.approx(patient.spacing[2])
            assert float(ds.WindowWidth[0]) > 0
            # stored values + rescale give the phantom's HU exactly
            k = round((float(ds.ImagePositionPatient[2]) - patient.origin[2]) / patient.spacing[2])
            hu = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
            assert np.array_equal(hu, phantom.ct[k])
            assert ds.InstanceNumber == SHAPE[0] - k  # instance 1 is the most superior slice
            positions.append(k)
            sop_uids.add(ds.SOPInstanceUID)
            for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID,
                        ds.FrameOfReferenceUID):
                assert len(uid) <= 64 and UID.match(uid), uid
        assert sorted(positions) == list(range(SHAPE[0]))
    assert len(sop_uids) == 3 * SHAPE[0]


def test_studies_are_distinct_and_months_apart(patient):
    tps = patient.timepoints
    for attr in ("study_instance_uid", "series_instance_uid", "frame_of_reference_uid",
                 "accession_number"):
        assert len({getattr(t, attr) for t in tps}) == 3, attr
    for a, b in zip(tps, tps[1:], strict=False):
        gap = (b.study_date - a.study_date).days
        assert 80 <= gap <= 100
        assert b.day - a.day == gap
    assert tps[0].day == 0


def test_simpleitk_reads_the_same_volume_and_geometry(patient):
    for tp in patient.timepoints:
        reader = sitk.ImageSeriesReader()
        names = reader.GetGDCMSeriesFileNames(str(tp.series_dir))
        reader.SetFileNames(names)
        image = reader.Execute()
        assert np.array_equal(sitk.GetArrayFromImage(image), patient.phantoms[tp.index].ct)
        assert image.GetOrigin() == pytest.approx(patient.origin, abs=1e-4)
        assert image.GetSpacing() == pytest.approx(patient.spacing, abs=1e-4)
        assert image.GetDirection() == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
        # the ground-truth label maps lie on the same grid
        for path, array in ((tp.labels_path, patient.phantoms[tp.index].labels),
                            (tp.lesion_ids_path, patient.phantoms[tp.index].lesion_ids)):
            labels = sitk.ReadImage(str(path))
            assert labels.GetSize() == image.GetSize()
            assert labels.GetOrigin() == pytest.approx(image.GetOrigin(), abs=1e-4)
            assert labels.GetSpacing() == pytest.approx(image.GetSpacing(), abs=1e-4)
            assert labels.GetDirection() == pytest.approx(image.GetDirection())
            assert np.array_equal(sitk.GetArrayFromImage(labels), array)


def test_dcm2niix_converts_a_series(patient, tmp_path):
    import dcm2niix  # a test dependency; ships the binary

    exe = str(dcm2niix.bin)
    tp = patient.timepoints[1]
    run = subprocess.run([exe, "-z", "n", "-b", "n", "-f", "scan", "-o", str(tmp_path),
                          str(tp.series_dir)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    image = nib.load(tmp_path / "scan.nii")
    data = np.asarray(image.dataobj, dtype=np.float64)
    assert data.shape == SHAPE[::-1]
    # same values (dcm2niix may reorder axes, so compare as multisets), same voxel size
    ct = patient.phantoms[1].ct
    assert np.array_equal(np.sort(data.ravel()), np.sort(ct.ravel().astype(np.float64)))
    assert image.header.get_zooms() == pytest.approx(patient.spacing, abs=1e-3)


def test_ground_truth_json(patient):
    truth = json.loads((patient.ground_truth_dir / "lesions.json").read_text())
    assert [t["study_instance_uid"] for t in truth["timepoints"]] == [
        t.study_instance_uid for t in patient.timepoints]
    assert {d["name"] for d in truth["label_table"]} >= {"liver", "lung", "kidney", "lesion"}
    kinds = {les["kind"] for les in truth["lesions"]}
    assert {"grow", "shrink", "appear"} <= kinds
    for les in truth["lesions"]:
        assert [t["timepoint"] for t in les["timepoints"]] == [0, 1, 2]
        if les["kind"] == "appear":
            assert not les["timepoints"][0]["present"]
    shifts = [np.linalg.norm(t["shift_from_baseline_mm"]) for t in truth["timepoints"]]
    assert shifts[0] == 0 and all(1.0 < s < 15.0 for s in shifts[1:])
    assert all(abs(t["rotation_from_baseline_deg"]) < 3.5 for t in truth["timepoints"])


def test_read_back(patient):
    again = read_synthetic_patient(patient.root)
    assert again.timepoints == patient.timepoints
    assert again.lesions == patient.lesions
    assert again.trajectories == patient.trajectories
    assert again.shape == patient.shape and again.origin == pytest.approx(patient.origin)
    assert again.phantoms is None


def test_same_seed_same_files_other_seed_differs(patient, tmp_path):
    again = generate_patient(tmp_path / "again", seed=0, shape=SHAPE, ground_truth=False,
                             keep_arrays=False)
    for a, b in zip(patient.timepoints, again.timepoints, strict=True):
        for fa, fb in zip(_files(a.series_dir), _files(b.series_dir), strict=True):
            assert fa.read_bytes() == fb.read_bytes()
    other = generate_patient(tmp_path / "other", seed=1, shape=SHAPE, keep_arrays=False)
    a = pydicom.dcmread(_files(patient.timepoints[0].series_dir)[10])
    b = pydicom.dcmread(_files(other.timepoints[0].series_dir)[10])
    assert a.PixelData != b.PixelData
    assert a.StudyInstanceUID != b.StudyInstanceUID and a.PatientID != b.PatientID


def test_folder_rules(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(IntervalError, match="other files"):
        generate_patient(foreign, seed=2, shape=(8, 32, 32))
    assert (foreign / "notes.txt").read_text() == "mine"
    assert not (foreign / "DICOM").exists()
    # a previous synthetic patient is replaced, files of others beside it are kept
    ours = tmp_path / "ours"
    generate_patient(ours, seed=2, shape=(8, 32, 32), n_timepoints=2)
    (ours / "results.txt").write_text("kept")
    generate_patient(ours, seed=3, shape=(6, 32, 32), n_timepoints=2)
    assert is_complete(ours, seed=3, shape=(6, 32, 32))
    assert (ours / "results.txt").read_text() == "kept"
    assert len(list((ours / "DICOM").rglob("*.dcm"))) == 12


def test_progress_and_cancel(tmp_path):
    calls = []
    generate_patient(tmp_path / "p", seed=4, shape=(5, 32, 32), n_timepoints=2,
                     progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (10, 10) and len(calls) == 10
    with pytest.raises(Cancelled):
        generate_patient(tmp_path / "c", seed=4, shape=(5, 32, 32), cancel=lambda: True)
    assert not is_complete(tmp_path / "c")
