"""Frames in time: 2-D clips and time series at one position load as one Volume along k."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from interval.core.errors import UnsupportedData
from interval.io.dicom.index import index_files, index_folder
from interval.io.dicom.load import load_dicom, load_stack
from interval.io.dicom.policy import DicomReadPolicy
from interval.io.dicom.time_frames import frame_timing, is_time_stack
from tests.io.dicom.test_grouping import SAGITTAL, write_image

SERIAL = DicomReadPolicy(workers=1)
XA_STORAGE = "1.2.840.10008.5.1.4.1.1.12.1"


def write_clip(
    path: Path, n: int = 4, *, frame_time: float | None = 33.3, **extra: object
) -> np.ndarray:
    """A multi-frame XA clip without patient position; frame k holds 10 * k + a ramp."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = XA_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = XA_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "XA"
    ds.PatientID = "P1"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = 6, 8
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = n
    if frame_time is not None:
        ds.FrameTime = frame_time
        ds.FrameIncrementPointer = 0x00181063
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    pixels = (10 * np.arange(n)[:, None, None] + np.arange(48).reshape(6, 8)).astype(np.uint16)
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return pixels


def _copy(name: str, tmp_path: Path) -> Path:
    src = get_testdata_file(name)
    assert src is not None, f"pydicom-data lacks {name}"
    return Path(shutil.copy(src, tmp_path / name))


def test_emri_small_loads_as_ten_time_frames(tmp_path: Path) -> None:
    path = _copy("emri_small.dcm", tmp_path)
    vol = load_dicom(path)
    assert vol.shape == (10, 64, 64)
    assert vol.metadata.frame_axis == "time"
    expected = pydicom.dcmread(path).pixel_array
    np.testing.assert_array_equal(vol.array, expected)
    assert vol.spacing == (1.0, 1.0, 1.0)  # no spacing in the file: pixels
    assert vol.metadata.length_unit == "px"
    assert any("nominal placement" in w for w in vol.metadata.warnings)
    assert vol.metadata.frame_times_ms == ()  # no FrameTime in this file


def test_palette_ultrasound_clip_is_two_frames_not_refused_for_position(tmp_path: Path) -> None:
    path = _copy("OBXXXX1A_2frame.dcm", tmp_path)
    stack = next(index_files([path], root=tmp_path, policy=SERIAL).iter_stacks())
    assert stack.n_frames == 2 and is_time_stack(stack.frames)
    timing = frame_timing(stack.frames)
    assert timing.order == (0, 1)
    assert timing.times_ms == () and timing.rate_hz is None  # the file has no FrameTime
    try:
        vol = load_stack(stack)
    except UnsupportedData as exc:  # colour: whatever the colour path says, never "no position"
        assert "position" not in str(exc)
        return
    assert vol.shape == (2, 600, 800)
    assert vol.metadata.frame_axis == "time"
    # the B-mode region is in cm: 0.02623 cm -> 0.2623 mm (the Doppler region is not spatial)
    assert vol.spacing[0] == pytest.approx(0.262288, abs=1e-5)
    assert vol.spacing[1] == pytest.approx(0.262288, abs=1e-5)


def test_xa_clip_has_frame_times_and_rate_from_frame_time(tmp_path: Path) -> None:
    pixels = write_clip(tmp_path / "clip.dcm", 4, ImagerPixelSpacing=[0.2, 0.25])
    vol = load_dicom(tmp_path / "clip.dcm")
    assert vol.metadata.frame_axis == "time" and vol.metadata.modality == "XA"
    np.testing.assert_array_equal(vol.array, pixels)
    assert vol.metadata.frame_times_ms == pytest.approx((0.0, 33.3, 66.6, 99.9))
    assert vol.metadata.frame_rate_hz == pytest.approx(1000.0 / 33.3)
    assert vol.spacing == pytest.approx((0.25, 0.2, 1.0))  # (columns, rows, nominal k)
    np.testing.assert_allclose(vol.direction, np.eye(3))
    assert not any("in pixels" in w for w in vol.metadata.warnings)
    assert any("detector plane" in w for w in vol.metadata.warnings)  # as for a single X-ray


def test_xa_clip_spacing_is_corrected_by_the_estimated_magnification(tmp_path: Path) -> None:
    write_clip(tmp_path / "clip.dcm", 3, ImagerPixelSpacing=[0.2, 0.25],
               EstimatedRadiographicMagnificationFactor=1.25)
    vol = load_dicom(tmp_path / "clip.dcm")
    assert vol.spacing == pytest.approx((0.2, 0.16, 1.0))
    assert any("estimated at the patient" in w for w in vol.metadata.warnings)


def test_frame_time_vector_gives_uneven_frame_times(tmp_path: Path) -> None:
    write_clip(tmp_path / "clip.dcm", 4, frame_time=None, FrameTimeVector=[0, 40, 40, 80])
    vol = load_dicom(tmp_path / "clip.dcm")
    assert vol.metadata.frame_times_ms == pytest.approx((0.0, 40.0, 80.0, 160.0))
    assert vol.metadata.frame_rate_hz == pytest.approx(25.0)  # the median step


def test_cine_rate_without_frame_time(tmp_path: Path) -> None:
    write_clip(tmp_path / "clip.dcm", 3, frame_time=None, CineRate=15)
    vol = load_dicom(tmp_path / "clip.dcm")
    assert vol.metadata.frame_times_ms == () and vol.metadata.frame_rate_hz == 15.0


def test_time_series_of_separate_files_at_one_position_orders_by_trigger_time(tmp_path: Path) -> None:
    """An MR series at one sagittal position: one stack (not four), frames by trigger time."""
    uid = generate_uid()
    triggers = {1: 300.0, 2: 0.0, 3: 200.0, 4: 100.0}  # instance -> TriggerTime (ms)
    for instance, trigger in triggers.items():
        write_image(
            tmp_path / f"{instance}.dcm", series_uid=uid, instance=instance,
            position=(12.0, -30.0, 40.0), orientation=SAGITTAL, spacing=(0.8, 0.7),
            TriggerTime=trigger,
        )
    stacks = list(index_folder(tmp_path, SERIAL).iter_stacks())
    assert [s.n_frames for s in stacks] == [4]
    vol = load_stack(stacks[0])
    assert vol.metadata.frame_axis == "time"
    # write_image fills each file with its instance number: time order is 2, 4, 3, 1
    assert [int(vol.array[k, 0, 0]) for k in range(4)] == [2, 4, 3, 1]
    assert vol.metadata.frame_times_ms == pytest.approx((0.0, 100.0, 200.0, 300.0))
    assert vol.metadata.frame_rate_hz == pytest.approx(10.0)
    # the in-plane geometry is the real one
    assert vol.origin == pytest.approx((12.0, -30.0, 40.0))
    np.testing.assert_allclose(vol.direction[:, 0], SAGITTAL[:3])
    np.testing.assert_allclose(vol.direction[:, 1], SAGITTAL[3:])
    assert vol.spacing == pytest.approx((0.7, 0.8, 1.0))
    assert not any("nominal" in w for w in vol.metadata.warnings)


def test_single_frame_images_without_position_become_one_clip(tmp_path: Path) -> None:
    uid = generate_uid()
    for instance, time in ((1, "101500.5"), (2, "101500"), (3, "101501")):
        write_image(
            tmp_path / f"{instance}.dcm", series_uid=uid, instance=instance, position=None,
            orientation=None, spacing=None, modality="US", AcquisitionTime=time,
        )
    stack = next(index_folder(tmp_path, SERIAL).iter_stacks())
    vol = load_stack(stack)
    assert vol.metadata.frame_axis == "time"
    assert [int(vol.array[k, 0, 0]) for k in range(3)] == [2, 1, 3]
    assert vol.metadata.frame_times_ms == pytest.approx((0.0, 500.0, 1000.0))


def test_slices_at_different_positions_stay_a_volume(tmp_path: Path) -> None:
    uid = generate_uid()
    for z in range(3):
        write_image(tmp_path / f"{z}.dcm", series_uid=uid, instance=z + 1, position=(0, 0, 2.0 * z))
    stack = next(index_folder(tmp_path, SERIAL).iter_stacks())
    assert not is_time_stack(stack.frames)
    vol = load_stack(stack)
    assert vol.metadata.frame_axis == "space" and vol.spacing[2] == pytest.approx(2.0)


# --- 3-D + time: the volumes of one series ---------------------------------------------------


def write_dynamic(folder: Path, n_volumes: int = 3, n_slices: int = 2) -> str:
    """A DCE-like series: ``n_volumes`` volumes of ``n_slices`` axial slices, 30 s apart;
    each file is filled with 10 * volume + slice."""
    uid = generate_uid()
    instance = 1
    for v in range(n_volumes):
        for z in range(n_slices):
            path = folder / f"v{v}_z{z}.dcm"
            write_image(
                path, series_uid=uid, instance=instance, position=(0.0, 0.0, 3.0 * z),
                AcquisitionTime=_tm(12 * 3600 + 30 * v),
            )
            ds = pydicom.dcmread(path)
            ds.PixelData = np.full((4, 4), 10 * v + z, np.uint16).tobytes()
            ds.save_as(path)
            instance += 1
    return uid


def _tm(seconds: int) -> str:
    return f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"


def test_volumes_of_a_dynamic_series_are_siblings_in_time(tmp_path: Path) -> None:
    from interval.io.dicom.time_series import volume_siblings, volume_times_ms

    uid = write_dynamic(tmp_path)
    index = index_folder(tmp_path, SERIAL)
    stacks = list(index.iter_stacks())
    assert [s.label for s in stacks] == ["volume 1", "volume 2", "volume 3"]
    siblings = volume_siblings(index, f"{uid}#vol2")
    assert [s.uid for s in siblings] == [f"{uid}#vol1", f"{uid}#vol2", f"{uid}#vol3"]
    assert volume_times_ms(siblings) == pytest.approx((0.0, 30000.0, 60000.0))
    assert [int(load_stack(s).array[1, 0, 0]) for s in siblings] == [1, 11, 21]


def test_a_plain_volume_has_no_siblings(tmp_path: Path) -> None:
    from interval.io.dicom.time_series import volume_siblings

    uid = generate_uid()
    for z in range(3):
        write_image(tmp_path / f"{z}.dcm", series_uid=uid, instance=z + 1, position=(0, 0, 2.0 * z))
    index = index_folder(tmp_path, SERIAL)
    assert volume_siblings(index, uid) == []
    assert volume_siblings(index, "no-such-stack") == []
