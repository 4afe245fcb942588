"""load_stack / load_dicom on small real DICOM files written here with pydicom."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from interval.core.errors import (
    Cancelled,
    IntervalError,
    IrregularGeometry,
    TooLarge,
    UnsupportedData,
)
from interval.io.dicom import load as load_module
from interval.io.dicom.header import read_header
from interval.io.dicom.load import load_dicom, load_stack
from interval.io.dicom.mosaic import MosaicInfo, demosaic, mosaic_geometry, parse_csa
from interval.io.dicom.policy import DicomReadPolicy
from interval.io.dicom.records import FrameInfo, FrameRef, ImageStack

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def write_series(
    folder: Path,
    positions: Sequence[tuple[float, float, float]],
    *,
    orientation=AXIAL,
    rows: int = 6,
    cols: int = 5,
    pixel_spacing=(0.6, 0.5),
    modality: str = "CT",
    slope: float = 1.0,
    intercept: float = -1024.0,
    window=(40.0, 400.0),
    patient_position: str = "HFS",
    photometric: str = "MONOCHROME2",
    series_uid: str | None = None,
    study_uid: str | None = None,
    seed: int = 0,
) -> tuple[list[Path], np.ndarray, list[str]]:
    """One file per position (named in reverse order); returns paths, stored values, SOP UIDs."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    spp = 3 if photometric == "RGB" else 1
    shape = (len(positions), rows, cols) + ((3,) if spp == 3 else ())
    stored = rng.integers(0, 3000 if spp == 1 else 255, size=shape).astype(np.uint16 if spp == 1 else np.uint8)
    series_uid = series_uid or generate_uid()
    study_uid, frame_uid = study_uid or generate_uid(), generate_uid()
    paths, uids = [], []
    for k, pos in enumerate(positions):
        ds = _base(modality, study_uid, series_uid, frame_uid, patient_position)
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
        ds.PixelSpacing = [str(v) for v in pixel_spacing]
        ds.SliceThickness = "1.25"
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = spp
        ds.PhotometricInterpretation = photometric
        if spp == 3:
            ds.PlanarConfiguration = 0
            ds.BitsAllocated = ds.BitsStored = 8
            ds.HighBit = 7
        else:
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
            ds.RescaleSlope, ds.RescaleIntercept = str(slope), str(intercept)
            ds.WindowCenter, ds.WindowWidth = str(window[0]), str(window[1])
        ds.PixelRepresentation = 0
        ds.PixelData = stored[k].tobytes()
        uid = ds.SOPInstanceUID
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        path = folder / f"im{len(positions) - k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
        uids.append(uid)
    return paths, stored, uids


def _base(modality, study_uid, series_uid, frame_uid, patient_position) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sop_class = CT_STORAGE if modality == "CT" else MR_STORAGE
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = modality
    ds.PatientName, ds.PatientID = "LOAD^TEST", "LT01"
    ds.PatientPosition = patient_position
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.StudyDate, ds.SeriesNumber, ds.SeriesDescription = "20240131", 7, "loader test"
    ds.Manufacturer = "Interval tests"
    return ds


def stack_of(paths: Sequence[Path], uid: str = "stack-1") -> ImageStack:
    frames = []
    for p in paths:
        h = read_header(p)
        frames.extend(FrameRef(h, f) for f in range(h.number_of_frames))
    return ImageStack(uid=uid, frames=frames, label="test")


def zs(*values: float) -> list[tuple[float, float, float]]:
    return [(-20.0, 35.0, z) for z in values]


# --- regular stacks ------------------------------------------------------------------


def test_ct_stack_sorted_along_the_normal_with_hu_and_metadata(tmp_path):
    z = [12.5, 5.0, 10.0, 7.5]  # files not in slice order
    paths, stored, uids = write_series(tmp_path, zs(*z))
    vol = load_stack(stack_of(paths))
    order = np.argsort(z)
    np.testing.assert_array_equal(vol.array, stored[order].astype(np.int32) - 1024)
    assert vol.array.dtype.kind in "iu" or vol.array.dtype == np.float32
    assert vol.spacing == pytest.approx((0.5, 0.6, 2.5))
    assert vol.origin == pytest.approx((-20.0, 35.0, 5.0))
    np.testing.assert_allclose(vol.direction, np.eye(3), atol=1e-9)
    m = vol.metadata
    assert (m.modality, m.units, m.patient_position, m.series_number) == ("CT", "HU", "HFS", 7)
    assert m.default_window is not None and (m.default_window.center, m.default_window.width) == (40.0, 400.0)
    assert m.sop_instance_uids == tuple(uids[i] for i in order)
    assert m.series_description == "loader test" and m.frame_of_reference_uid
    assert m.warnings == ()
    assert m.source == str(tmp_path)


def test_sagittal_mr_voxels_land_at_their_patient_positions(tmp_path):
    pos = [(x, -40.0, 60.0) for x in (3.0, 0.0, 1.5)]
    paths, stored, _ = write_series(tmp_path, pos, orientation=SAGITTAL, modality="MR", intercept=0.0)
    vol = load_stack(stack_of(paths))
    assert vol.metadata.units == ""
    # array slice k holds the file whose position is the k-th along the normal (-x)
    for k, x in enumerate((3.0, 1.5, 0.0)):
        np.testing.assert_allclose(vol.index_to_lps((0, 0, k)), (x, -40.0, 60.0), atol=1e-6)
        src = [p[0] for p in pos].index(x)
        np.testing.assert_array_equal(vol.array[k], stored[src])
    # column index runs along +y (row cosine), row index along -z (column cosine)
    np.testing.assert_allclose(vol.index_to_lps((2, 3, 0)), (3.0, -40.0 + 2 * 0.5, 60.0 - 3 * 0.6), atol=1e-6)


def test_single_image_is_a_one_slice_volume(tmp_path):
    paths, stored, _ = write_series(tmp_path, zs(4.0))
    vol = load_stack(stack_of(paths))
    assert vol.shape == (1, 6, 5)
    assert vol.spacing[2] == pytest.approx(1.25)  # SliceThickness


def test_monochrome1_is_inverted_and_its_window_mirrored(tmp_path):
    paths, stored, _ = write_series(
        tmp_path, zs(0.0), modality="MR", photometric="MONOCHROME1", intercept=0.0, window=(1000.0, 500.0)
    )
    vol = load_stack(stack_of(paths))
    np.testing.assert_array_equal(vol.array[0], 4095 - stored[0].astype(np.int32))  # 12 bits stored
    assert vol.metadata.default_window.center == 3095.0
    assert vol.metadata.default_window.width == 500.0


def test_classic_multiframe_positions_follow_spacing_between_slices(tmp_path):
    ds = _base("MR", generate_uid(), generate_uid(), generate_uid(), "HFS")
    ds.NumberOfFrames = 3
    ds.ImagePositionPatient = ["1", "2", "3"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = ["0.7", "0.7"]
    ds.SpacingBetweenSlices = "2.5"
    ds.Rows, ds.Columns = 4, 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    data = np.arange(48, dtype=np.uint16).reshape(3, 4, 4)
    ds.PixelData = data.tobytes()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = tmp_path / "mf.dcm"
    ds.save_as(path, enforce_file_format=True)
    vol = load_stack(stack_of([path]))
    np.testing.assert_array_equal(vol.array, data)
    assert vol.spacing[2] == pytest.approx(2.5)
    np.testing.assert_allclose(vol.index_to_lps((0, 0, 2)), (1, 2, 8))


# --- irregular stacks ------------------------------------------------------------------


def test_missing_slice_is_refused_by_default_with_the_problem_in_words(tmp_path):
    paths, _, _ = write_series(tmp_path, zs(0.0, 2.5, 5.0, 10.0))
    with pytest.raises(IrregularGeometry) as err:
        load_stack(stack_of(paths))
    assert err.value.problems == ["1 slice missing between 5.0 mm and 10.0 mm"]
    assert "1 slice missing between 5.0 mm and 10.0 mm" in str(err.value)
    assert "resampled" in str(err.value)


def test_as_is_loads_in_order_on_the_median_spacing_with_a_warning(tmp_path):
    paths, stored, _ = write_series(tmp_path, zs(0.0, 2.5, 5.0, 10.0))
    vol = load_stack(stack_of(paths), DicomReadPolicy(irregular="as-is"))
    assert vol.shape == (4, 6, 5) and vol.spacing[2] == pytest.approx(2.5)
    assert "1 slice missing" in vol.metadata.warnings[0]
    np.testing.assert_array_equal(vol.array, stored.astype(np.int32) - 1024)


def test_resample_puts_slices_in_place_and_interpolates_the_gap(tmp_path):
    paths, stored, _ = write_series(tmp_path, zs(0.0, 2.5, 5.0, 10.0))
    vol = load_stack(stack_of(paths), DicomReadPolicy(irregular="resample"))
    hu = stored.astype(np.float64) - 1024
    assert vol.shape == (5, 6, 5) and vol.spacing[2] == pytest.approx(2.5)
    np.testing.assert_array_equal(vol.array[:3], hu[:3])
    np.testing.assert_array_equal(vol.array[4], hu[3])
    np.testing.assert_allclose(vol.array[3], (hu[2] + hu[3]) / 2, atol=0.5)
    assert any("Resampled" in w for w in vol.metadata.warnings)
    assert vol.metadata.sop_instance_uids == ()  # slices no longer match source images


def test_gantry_tilt_refused_then_resampled_onto_an_orthogonal_grid(tmp_path):
    t = math.radians(10.0)
    orientation = (1.0, 0.0, 0.0, 0.0, math.cos(t), -math.sin(t))
    paths, _, _ = write_series(tmp_path, zs(0.0, 3.0, 6.0, 9.0), orientation=orientation)
    with pytest.raises(IrregularGeometry, match=r"gantry tilt 10\.0°"):
        load_stack(stack_of(paths))
    vol = load_stack(stack_of(paths), DicomReadPolicy(irregular="resample"))
    np.testing.assert_allclose(vol.direction.T @ vol.direction, np.eye(3), atol=1e-9)
    assert vol.spacing[2] == pytest.approx(3.0 * math.cos(t))
    # as-is keeps the slices where they are on a sheared grid
    sheared = load_stack(stack_of(paths), DicomReadPolicy(irregular="as-is"))
    np.testing.assert_allclose(sheared.index_to_lps((0, 0, 3)), (-20.0, 35.0, 9.0), atol=1e-6)
    assert "sheared" in sheared.metadata.warnings[0]


def test_duplicate_positions_explain_that_the_stack_should_be_split(tmp_path):
    paths, _, _ = write_series(tmp_path, zs(0.0, 2.0, 2.0, 4.0))
    with pytest.raises(UnsupportedData, match="separate stacks"):
        load_stack(stack_of(paths))


def test_colour_series_loads_as_rgb_in_slice_order(tmp_path):
    z = [1.0, 0.0, 2.0]  # files not in slice order
    paths, stored, _ = write_series(tmp_path, zs(*z), photometric="RGB")
    vol = load_stack(stack_of(paths))
    assert vol.is_rgb and vol.array.shape == (3, 6, 5, 3) and vol.shape == (3, 6, 5)
    np.testing.assert_array_equal(vol.array, stored[np.argsort(z)])
    assert vol.spacing == pytest.approx((0.5, 0.6, 1.0))
    seen = []
    progressive = load_stack(stack_of(paths), on_partial=lambda v, filled: seen.append(v.is_rgb))
    assert seen and all(seen) and progressive.is_rgb
    np.testing.assert_array_equal(progressive.array, vol.array)


# --- memory, progress, cancel -----------------------------------------------------------


def test_too_large_is_refused_before_reading_pixels(tmp_path, monkeypatch):
    paths, _, _ = write_series(tmp_path, zs(0.0, 1.0, 2.0))

    def boom(*_a, **_k):
        raise AssertionError("pixels must not be read")

    monkeypatch.setattr(load_module.pixels, "read_pixels", boom)
    with pytest.raises(TooLarge, match="memory"):
        load_stack(stack_of(paths), DicomReadPolicy(max_voxel_bytes=100))


def test_memory_limit_defaults_to_available_memory(tmp_path, monkeypatch):
    paths, _, _ = write_series(tmp_path, zs(0.0, 1.0))

    class Tiny:
        available = 10

    monkeypatch.setattr(load_module.psutil, "virtual_memory", lambda: Tiny())
    with pytest.raises(TooLarge):
        load_stack(stack_of(paths))


def test_cancel_stops_loading(tmp_path):
    paths, _, _ = write_series(tmp_path, zs(0.0, 1.0))
    with pytest.raises(Cancelled):
        load_stack(stack_of(paths), cancel=lambda: True)


def test_progress_is_reported(tmp_path):
    paths, _, _ = write_series(tmp_path, zs(0.0, 1.0, 2.0))
    calls = []
    load_stack(stack_of(paths), progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1]


# --- load_dicom ----------------------------------------------------------------------------


def test_load_dicom_from_a_folder_a_file_and_by_uid(tmp_path):
    a_paths, a_stored, _ = write_series(tmp_path / "a", zs(0.0, 1.0, 2.0), seed=1)
    b_paths, _, _ = write_series(tmp_path / "b", zs(0.0, 1.0), seed=2)
    vol = load_dicom(tmp_path / "a")
    np.testing.assert_array_equal(vol.array, a_stored.astype(np.int32) - 1024)
    one = load_dicom(b_paths[0])
    assert one.shape[0] == 1
    with pytest.raises(IntervalError, match="choose one of") as err:
        load_dicom(tmp_path)
    a_uid = read_header(a_paths[0]).series_instance_uid
    b_uid = read_header(b_paths[0]).series_instance_uid
    assert a_uid in str(err.value) and b_uid in str(err.value)
    assert load_dicom(tmp_path, b_uid).shape[0] == 2
    assert load_dicom(tmp_path, series_or_stack_uid=a_uid).shape[0] == 3
    with pytest.raises(IntervalError, match="No series or stack"):
        load_dicom(tmp_path, "1.2.3.4")


def test_a_series_split_into_stacks_needs_a_stack_uid(tmp_path):
    uid, study = generate_uid(), generate_uid()
    write_series(tmp_path / "ax", zs(0.0, 1.0), series_uid=uid, study_uid=study, seed=3)
    sag = [(x, 0.0, 0.0) for x in (0.0, 2.0, 4.0)]
    write_series(tmp_path / "sag", sag, orientation=SAGITTAL, series_uid=uid, study_uid=study, seed=4)
    with pytest.raises(IntervalError, match="holds 2 image stacks") as err:
        load_dicom(tmp_path, uid)
    stack_uids = [w.split(" — ")[0] for w in str(err.value).split("choose one of: ")[1].split("; ")]
    assert len(stack_uids) == 2 and all(s.startswith(uid) for s in stack_uids)
    shapes = sorted(load_dicom(tmp_path, s).shape[0] for s in stack_uids)
    assert shapes == [2, 3]


def test_load_dicom_of_a_missing_path(tmp_path):
    with pytest.raises(IntervalError, match="does not exist"):
        load_dicom(tmp_path / "nope")


# --- mosaic pieces ---------------------------------------------------------------------------


def test_demosaic_cuts_tiles_row_by_row():
    info = MosaicInfo(n_images=5, tiles_per_side=3, tile_rows=2, tile_cols=3, slice_normal=None, slice_spacing=4.0)
    mosaic = np.zeros((6, 9), dtype=np.int16)
    for t in range(9):
        r, c = divmod(t, 3)
        mosaic[r * 2 : r * 2 + 2, c * 3 : c * 3 + 3] = t
    tiles = demosaic(mosaic, info)
    assert tiles.shape == (5, 2, 3)
    assert [int(t[0, 0]) for t in tiles] == [0, 1, 2, 3, 4]


def test_mosaic_origin_moves_from_the_mosaic_corner_to_the_first_tile():
    info = MosaicInfo(n_images=4, tiles_per_side=2, tile_rows=64, tile_cols=64, slice_normal=(0.0, 0.0, -1.0), slice_spacing=3.0)
    frame = FrameInfo(position=(-100.0, -120.0, 10.0), orientation=AXIAL, pixel_spacing=(2.0, 3.0))
    origin, direction, spacing = mosaic_geometry(frame, info, rows=128, cols=128)
    # half the extra size: 32 columns * 3 mm along x, 32 rows * 2 mm along y
    assert origin == pytest.approx((-100.0 + 96.0, -120.0 + 64.0, 10.0))
    np.testing.assert_allclose(direction[:, 2], (0, 0, -1))  # CSA normal sign wins
    assert spacing == (3.0, 2.0, 3.0)


def test_parse_csa_reads_sv10_items():
    def tag(name: str, values: list[str]) -> bytes:
        out = struct.pack("<64si4siii", name.encode(), len(values), b"IS\0\0", 6, len(values), 77)
        for v in values:
            data = v.encode() + b"\0"
            out += struct.pack("<4i", len(data), len(data), 77, len(data))
            out += data + b"\0" * (-len(data) % 4)
        return out

    blob = b"SV10\4\3\2\1" + struct.pack("<II", 2, 77)
    blob += tag("NumberOfImagesInMosaic", ["35"]) + tag("SliceNormalVector", ["0.0", "0.1", "0.99"])
    parsed = parse_csa(blob)
    assert parsed["NumberOfImagesInMosaic"] == ["35"]
    assert parsed["SliceNormalVector"] == ["0.0", "0.1", "0.99"]


def test_rt_dose_frames_placed_by_grid_frame_offset_vector() -> None:
    """Classic multi-frame RT dose: frame positions from GridFrameOffsetVector (as GDCM does)."""
    import pydicom.data
    import SimpleITK as sitk

    from interval.io.dicom.load import load_dicom

    path = pydicom.data.get_testdata_file("rtdose.dcm")
    volume = load_dicom(path)
    reference = sitk.ReadImage(path)
    assert volume.size_ijk == reference.GetSize()
    np.testing.assert_allclose(volume.spacing, reference.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(volume.origin, reference.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(volume.direction.ravel(), reference.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayViewFromImage(reference))
