"""Colour DICOM (RGB, YBR, palette) loads as a ``[k, j, i, 3]`` uint8 RGB Volume with the
colours pydicom's own decoding gives (pydicom's test files, and generated ones)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_color_lut, convert_color_space, pixel_array
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from interval.io.dicom.load import load_dicom
from interval.io.open_path import open_volume

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def _file(name: str) -> str:
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"pydicom test file {name} is not installed")
    return str(path)


def _load(name: str) -> np.ndarray:
    vol = open_volume(_file(name))
    assert vol.is_rgb and vol.array.dtype == np.uint8 and vol.array.shape[3] == 3
    assert vol.shape == vol.array.shape[:3]
    return vol.array


@pytest.mark.parametrize(
    "name,shape",
    [
        ("SC_rgb_jpeg.dcm", (1, 256, 256, 3)),
        ("SC_rgb_dcmtk_+eb+cy+n1.dcm", (1, 100, 100, 3)),
        ("US1_UNCR.dcm", (1, 480, 640, 3)),
        ("OBXXXX1A.dcm", (1, 600, 800, 3)),
        ("OBXXXX1A_2frame.dcm", (2, 600, 800, 3)),
        ("SC_rgb_rle_32bit.dcm", (1, 100, 100, 3)),
        ("ExplVR_BigEnd.dcm", (1, 60, 80, 3)),
        ("GDCMJ2K_TextGBR.dcm", (1, 400, 400, 3)),
    ],
)
def test_colour_files_load_as_rgb_uint8(name, shape) -> None:
    assert _load(name).shape == shape


@pytest.mark.parametrize(
    "name", ["US1_UNCR.dcm", "ExplVR_BigEnd.dcm", "GDCMJ2K_TextGBR.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm"]
)
def test_rgb_and_ybr_equal_pydicoms_rgb(name) -> None:
    got = _load(name)[0]
    expected = pixel_array(_file(name), as_rgb=True)
    np.testing.assert_array_equal(got, expected)
    assert len(np.unique(got.reshape(-1, 3), axis=0)) > 4  # a real colour picture


def test_ybr_full_jpeg_is_converted_to_rgb() -> None:
    name = "SC_rgb_dcmtk_+eb+cy+n1.dcm"
    assert pydicom.dcmread(_file(name)).PhotometricInterpretation == "YBR_FULL"
    ybr = pixel_array(_file(name), as_rgb=False)  # the decoded YCbCr samples
    expected = convert_color_space(ybr, "YBR_FULL", "RGB")
    got = _load(name)[0].astype(int)
    assert np.abs(got - expected.astype(int)).max() <= 1
    assert np.abs(got - ybr.astype(int)).mean() > 20  # not left in YCbCr
    # the same picture as the uncompressed RGB original, within JPEG's losses
    original = _load("SC_rgb.dcm")[0].astype(int)
    diff = np.abs(got - original)
    assert np.median(diff) <= 1 and diff.mean() < 4
    assert got[5, 50].tolist() == pytest.approx([255, 0, 0], abs=3)  # the red band


def test_rle_32_bit_rgb_keeps_the_top_8_bits() -> None:
    got = _load("SC_rgb_rle_32bit.dcm")[0]
    raw = pixel_array(_file("SC_rgb_rle_32bit.dcm"))
    assert raw.dtype == np.uint32
    np.testing.assert_array_equal(got, (raw >> 24).astype(np.uint8))
    np.testing.assert_array_equal(got, _load("SC_rgb.dcm")[0])


@pytest.mark.parametrize("name", ["OBXXXX1A.dcm", "OBXXXX1A_2frame.dcm"])
def test_palette_colour_is_looked_up_and_scaled_to_8_bits(name) -> None:
    ds = pydicom.dcmread(_file(name))
    assert ds.PhotometricInterpretation == "PALETTE COLOR"
    lut = apply_color_lut(ds.pixel_array, ds)  # 16-bit entries
    assert lut.dtype == np.uint16
    got = _load(name)
    np.testing.assert_array_equal(got, (lut >> 8).astype(np.uint8).reshape(got.shape))
    assert (got[..., 0] != got[..., 2]).any()  # really coloured, not grey


def test_jpeg_rgb_pydicom_cannot_read_is_decoded_like_gdcm() -> None:
    import SimpleITK as sitk

    got = _load("SC_rgb_jpeg.dcm")
    expected = sitk.GetArrayFromImage(sitk.ReadImage(_file("SC_rgb_jpeg.dcm")))
    assert np.abs(got.astype(int) - expected.reshape(got.shape).astype(int)).max() <= 2


# --- generated secondary captures -----------------------------------------------------------


def write_rgb_capture(path: Path, rgb: np.ndarray, *, planar: int = 0,
                      spacing: tuple[float, float] | None = (0.5, 0.5)) -> Path:
    """A secondary capture of ``rgb`` (rows, cols, 3) uint8, explicit VR little endian."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "COLOUR^TEST", "CT01", "OT"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "RGB"
    ds.PlanarConfiguration = planar
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if spacing is not None:
        ds.PixelSpacing = [str(s) for s in spacing]
    data = rgb.transpose(2, 0, 1) if planar else rgb
    ds.PixelData = np.ascontiguousarray(data, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _picture() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, size=(12, 17, 3), dtype=np.uint8)


@pytest.mark.parametrize("planar", [0, 1])
def test_planar_configuration_gives_the_same_rgb(tmp_path, planar) -> None:
    picture = _picture()
    vol = load_dicom(write_rgb_capture(tmp_path / "sc.dcm", picture, planar=planar))
    assert vol.is_rgb
    np.testing.assert_array_equal(vol.array[0], picture)
    assert vol.spacing[:2] == pytest.approx((0.5, 0.5))  # measurable in mm


def test_colour_and_grey_volume_have_the_same_grid_api(tmp_path) -> None:
    vol = load_dicom(write_rgb_capture(tmp_path / "sc.dcm", _picture()))
    assert vol.size_ijk == (17, 12, 1)
    labels = vol.with_array(np.zeros(vol.shape, np.uint8))
    assert not labels.is_rgb and labels.same_grid(vol)


def test_colour_volume_goes_to_simpleitk_as_rgb_pixels(tmp_path) -> None:
    import SimpleITK as sitk

    from interval.io.sitk_bridge import to_sitk

    picture = _picture()
    image = to_sitk(load_dicom(write_rgb_capture(tmp_path / "sc.dcm", picture)))
    assert image.GetSize() == (17, 12, 1) and image.GetNumberOfComponentsPerPixel() == 3
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image)[0], picture)
