"""Pixel reading: final values, output types, every transfer syntax, failures before allocation.

Oracles: dcm2niix's reference NIfTI files (dcm_qa_ts, dcm_qa_12bit), SimpleITK
(MONOCHROME1 inversion), pydicom (colour, palette, compressed syntaxes) and
numpy on synthetic files written here.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import apply_color_lut
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

from interval.core.errors import Cancelled, TooLarge, UnreadableFile, UnsupportedData
from interval.io.dicom import _native_read, pixels
from interval.io.dicom.header import read_header
from interval.io.dicom.load import load_stack
from interval.io.dicom.pixels import output_dtype, read_pixels
from interval.io.dicom.policy import DicomReadPolicy
from interval.io.dicom.records import DicomHeader, FrameInfo, FrameRef, ImageStack
from tests.conftest import shared

TS_FILES = [f"{i}.dcm" for i in range(1, 10)]


# --- helpers ----------------------------------------------------------------------------


def refs_of(path: str | Path, frames: list[int] | None = None) -> list[FrameRef]:
    header = read_header(path)
    indices = range(header.number_of_frames) if frames is None else frames
    return [FrameRef(header, i) for i in indices]


def read_file(path: str | Path, frames: list[int] | None = None, **kw) -> np.ndarray:
    return read_pixels(refs_of(path, frames), **kw)


def pydicom_file(name: str) -> str:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom test file {name} missing (pip install pydicom-data)"
    return str(path)


def demosaic_ref(tiles: np.ndarray, n: int = 35, size: int = 64) -> np.ndarray:
    """Siemens mosaic (rows, cols) -> (n, size, size), tiles left to right, top to bottom."""
    per_row = tiles.shape[1] // size
    return np.stack(
        [
            tiles[
                (i // per_row) * size : (i // per_row + 1) * size,
                (i % per_row) * size : (i % per_row + 1) * size,
            ]
            for i in range(n)
        ]
    )


def nifti_zyx(path: Path) -> np.ndarray:
    """dcm2niix output as z, y, x in DICOM row order (dcm2niix flips rows to RAS)."""
    data = np.asarray(nib.load(path).dataobj)
    return np.transpose(data, (2, 1, 0))[:, ::-1, :]


def write_dicom(
    path: Path,
    pixels_: np.ndarray,
    *,
    bits_allocated: int = 16,
    bits_stored: int | None = None,
    signed: bool = False,
    photometric: str = "MONOCHROME2",
    slope: str | None = None,
    intercept: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    raw: bytes | None = None,
    rows: int | None = None,
    cols: int | None = None,
    frames: int | None = None,
    float_data: bool = False,
    z: float = 0.0,
) -> Path:
    """A minimal valid image file; ``raw`` overrides the pixel bytes (for lies and garbage)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.StudyInstanceUID = "1.2.3"
    ds.SeriesInstanceUID = "1.2.3.4"
    ds.ImagePositionPatient = [0, 0, z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    shape = pixels_.shape
    ds.Rows = rows if rows is not None else shape[-2]
    ds.Columns = cols if cols is not None else shape[-1]
    if frames is not None or pixels_.ndim == 3:
        ds.NumberOfFrames = frames if frames is not None else shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits_allocated
    if not float_data:
        ds.BitsStored = bits_stored or bits_allocated
        ds.HighBit = (bits_stored or bits_allocated) - 1
        ds.PixelRepresentation = 1 if signed else 0
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    big = transfer_syntax == ExplicitVRBigEndian
    data = (
        raw
        if raw is not None
        else pixels_.astype(pixels_.dtype.newbyteorder(">" if big else "<")).tobytes()
    )
    if float_data:
        if bits_allocated == 64:
            ds.DoubleFloatPixelData = data
        else:
            ds.FloatPixelData = data
    else:
        ds.PixelData = data
        if bits_allocated > 8:
            ds["PixelData"].VR = "OW"
    ds.save_as(path, implicit_vr=transfer_syntax == ImplicitVRLittleEndian, little_endian=not big)
    return path


def fake_header(**kw) -> DicomHeader:
    """A header record without a file (dtype rules only)."""
    frames = kw.pop("frames", None) or (FrameInfo(None, None, None),)
    base = dict(
        path="/nowhere.dcm",
        kind="image",
        rows=4,
        columns=4,
        bits_allocated=16,
        bits_stored=16,
        photometric_interpretation="MONOCHROME2",
        has_pixel_data=True,
        frames=frames,
        number_of_frames=len(frames),
    )
    base.update(kw)
    return DicomHeader(**base)


def rescaled(slope: float = 1.0, intercept: float = 0.0) -> FrameInfo:
    return FrameInfo(None, None, None, rescale_slope=slope, rescale_intercept=intercept)


# --- dcm2niix reference data -------------------------------------------------------------


def test_nine_transfer_syntaxes_decode_identically_and_match_dcm2niix():
    folder = shared("dcm_qa_ts")
    arrays = {name: read_file(folder / "In" / name) for name in TS_FILES}
    first = arrays["1.dcm"]
    assert first.shape == (1, 384, 384)
    assert first.dtype == np.int16
    for name, arr in arrays.items():
        assert arr.dtype == first.dtype, name
        np.testing.assert_array_equal(arr, first, err_msg=name)
    reference = nifti_zyx(folder / "Ref" / "1.nii")
    np.testing.assert_array_equal(demosaic_ref(first[0]), reference)
    for i in range(2, 10):  # every reference is the same image
        np.testing.assert_array_equal(nifti_zyx(folder / "Ref" / f"{i}.nii"), reference)


@pytest.mark.parametrize(
    ("name", "ref", "signed"),
    [
        ("12bitUnsigned.dcm", "2.nii", False),
        ("12bitUnsigned_0x0F0F.dcm", "3.nii", False),
        ("12bitSigned_0x0F0F.dcm", "4.nii", True),
    ],
)
def test_12bit_with_garbage_high_bits_matches_dcm2niix(name, ref, signed):
    folder = shared("dcm_qa_12bit")
    path = folder / "In" / name
    header = read_header(path)
    with open(path, "rb") as fp:
        fp.seek(header.pixel_data_offset)
        stored = np.frombuffer(fp.read(header.pixel_data_length), "<u2")
    assert (stored >> 12).any(), "the test file should carry garbage above bit 11"
    arr = read_pixels([FrameRef(header)])
    assert arr.dtype == np.int16
    lo, hi = (-2048, 2047) if signed else (0, 4095)
    assert lo <= arr.min() and arr.max() <= hi
    np.testing.assert_array_equal(demosaic_ref(arr[0]), nifti_zyx(folder / "Ref" / ref))
    if signed:
        assert arr.min() < 0  # sign bit 11 honoured, not shown as bright


# --- photometric interpretations -------------------------------------------------------------


@pytest.mark.parametrize("name", ["RG3_UNCR.dcm", "RG3_J2KR.dcm"])
def test_monochrome1_is_inverted_over_the_stored_range_like_itk(name):
    path = pydicom_file(name)
    header = read_header(path)
    assert header.photometric_interpretation == "MONOCHROME1"
    arr = read_file(path)
    raw = pydicom.dcmread(path).pixel_array
    np.testing.assert_array_equal(arr[0], (1 << header.bits_stored) - 1 - raw.astype(np.int64))
    itk = sitk.GetArrayFromImage(sitk.ReadImage(path))
    np.testing.assert_array_equal(arr, itk.astype(np.int64))


def test_monochrome1_with_rescale_matches_itk():
    path = next(Path(pydicom.__file__).parent.glob("data/test_files/dicomdirtests/**/CR1/6154"))
    arr = read_file(path)
    assert arr.dtype == np.float32  # slope 0.684
    itk = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    np.testing.assert_allclose(arr, itk, rtol=0, atol=1e-3)


def test_monochrome1_signed_inverts_to_minus_one_minus_v(tmp_path):
    values = np.array([[-2048, -1, 0, 2047]], dtype=np.int16)
    path = write_dicom(
        tmp_path / "m1.dcm", values, bits_stored=12, signed=True, photometric="MONOCHROME1"
    )
    np.testing.assert_array_equal(read_file(path)[0], -1 - values)


@pytest.mark.parametrize(
    "name",
    [
        "SC_rgb_expb.dcm",
        "SC_rgb_16bit.dcm",
        "SC_rgb_32bit.dcm",
        "SC_rgb_rle.dcm",
        "SC_rgb_rle_16bit.dcm",
        "SC_rgb_expb_16bit.dcm",
    ],
)
def test_rgb_variants_give_the_same_uint8_rgb(name):
    expected = read_file(pydicom_file("SC_rgb.dcm"))
    assert expected.shape == (1, 100, 100, 3) and expected.dtype == np.uint8
    np.testing.assert_array_equal(expected[0, 0, 0], [255, 0, 0])
    np.testing.assert_array_equal(read_file(pydicom_file(name)), expected)


def test_rgb_planar_configuration_and_ybr():
    np.testing.assert_array_equal(
        read_file(pydicom_file("color-pl.dcm")), read_file(pydicom_file("color-px.dcm"))
    )
    rgb = read_file(pydicom_file("SC_rgb.dcm")).astype(int)
    for name in ("SC_ybr_full_uncompressed.dcm", "SC_rgb_jpeg_dcmtk.dcm"):  # YBR -> RGB (rounding)
        assert np.abs(read_file(pydicom_file(name)).astype(int) - rgb).max() <= 8, name
    multi = read_file(pydicom_file("SC_rgb_2frame.dcm"), [1, 0])
    assert multi.shape == (2, 100, 100, 3)


@pytest.mark.parametrize("name", ["OBXXXX1A.dcm", "OBXXXX1A_rle.dcm"])
def test_palette_colour_becomes_rgb(name):
    path = pydicom_file(name)
    ds = pydicom.dcmread(path)
    expected = apply_color_lut(ds.pixel_array, ds)
    expected = (expected >> 8).astype(np.uint8) if expected.dtype == np.uint16 else expected
    arr = read_file(path)
    assert arr.dtype == np.uint8 and arr.shape == (1, 600, 800, 3)
    np.testing.assert_array_equal(arr[0], expected)


# --- byte orders and compressed syntaxes ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("MR_small_bigendian.dcm", "MR_small.dcm"),
        ("MR_small_RLE.dcm", "MR_small.dcm"),
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),
        ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
        ("MR_small_implicit.dcm", "MR_small.dcm"),
        ("emri_small_big_endian.dcm", "emri_small.dcm"),
        ("emri_small_RLE.dcm", "emri_small.dcm"),
        ("emri_small_jpeg_2k_lossless.dcm", "emri_small.dcm"),
        ("rtdose_expb.dcm", "rtdose.dcm"),
        ("rtdose_rle.dcm", "rtdose.dcm"),
    ],
)
def test_byte_order_and_codecs_match_the_native_file(name, reference):
    arr = read_file(pydicom_file(name))
    expected = read_file(pydicom_file(reference))
    assert arr.dtype == expected.dtype
    np.testing.assert_array_equal(arr, expected)
    np.testing.assert_array_equal(
        expected.reshape(-1), pydicom.dcmread(pydicom_file(reference)).pixel_array.reshape(-1)
    )


def test_frames_come_back_in_the_requested_order():
    path = pydicom_file("emri_small.dcm")
    all_frames = pydicom.dcmread(path).pixel_array
    order = [9, 0, 5, 5, 3]
    for name in ("emri_small.dcm", "emri_small_RLE.dcm", "emri_small_big_endian.dcm"):
        arr = read_file(pydicom_file(name), order)
        np.testing.assert_array_equal(arr, all_frames[order], err_msg=name)


def test_frames_from_several_files_keep_their_order(tmp_path):
    files = [
        write_dicom(tmp_path / f"{i}.dcm", np.full((2, 3), i, np.uint16), z=i) for i in range(5)
    ]
    refs = [FrameRef(read_header(files[i])) for i in (3, 1, 4, 0, 2)]
    np.testing.assert_array_equal(read_pixels(refs)[:, 0, 0], [3, 1, 4, 0, 2])


def test_deflated_file_goes_through_pydicom():
    path = pydicom_file("image_dfl.dcm")
    header = read_header(path)
    # header.py does not flag deflated pixel data as present; read it as the loader would
    header = dataclasses.replace(header, kind="image", has_pixel_data=True)
    arr = read_pixels([FrameRef(header)])
    np.testing.assert_array_equal(arr[0], pydicom.dcmread(path).pixel_array)


def test_bit_packed_single_bit_data():
    path = pydicom_file("liver.dcm")
    header = dataclasses.replace(read_header(path), kind="image")
    arr = read_pixels([FrameRef(header, i) for i in range(header.number_of_frames)])
    assert arr.dtype == np.uint8
    np.testing.assert_array_equal(arr, pydicom.dcmread(path).pixel_array)


# --- values and dtype rules -----------------------------------------------------------------


def test_typical_ct_is_int16_with_hounsfield_values(tmp_path):
    stored = np.array([[0, 24, 1024, 4095]], dtype=np.uint16) | np.uint16(0xA000)  # garbage bits
    path = write_dicom(tmp_path / "ct.dcm", stored, bits_stored=12, intercept="-1024", slope="1")
    arr = read_file(path)
    assert output_dtype(refs_of(path)) == np.int16 == arr.dtype
    np.testing.assert_array_equal(arr[0], [[-1024, -1000, 0, 3071]])


@pytest.mark.parametrize(
    ("stored", "kw", "dtype", "expected"),
    [
        # full 16-bit unsigned with an intercept does not fit int16 -> int32
        (np.array([[0, 65535]], np.uint16), dict(intercept="-1024"), np.int32, [[-1024, 64511]]),
        # negative slope
        (np.array([[0, 65535]], np.uint16), dict(slope="-1"), np.int32, [[0, -65535]]),
        # integer slope 2 on 12 bits: [0, 8190] -> int16
        (
            np.array([[1, 4095]], np.uint16),
            dict(bits_stored=12, slope="2", intercept="-3"),
            np.int16,
            [[-1, 8187]],
        ),
        # non-integer slope -> float32
        (
            np.array([[10, 20]], np.uint16),
            dict(slope="0.5", intercept="1.25"),
            np.float32,
            [[6.25, 11.25]],
        ),
        # signed 16 without rescale stays int16
        (np.array([[-32768, 32767]], np.int16), dict(signed=True), np.int16, [[-32768, 32767]]),
        # unsigned 16 without rescale stays uint16
        (np.array([[0, 65535]], np.uint16), {}, np.uint16, [[0, 65535]]),
        # 8-bit unsigned stays uint8
        (np.array([[0, 255]], np.uint8), dict(bits_allocated=8), np.uint8, [[0, 255]]),
        # 1 bit stored in 8 with garbage, slope 200, intercept -100: [-100, 100] fits int8
        # (the rescale wraps around inside int8 and is still exact)
        (
            np.array([[0xFE, 0x01]], np.uint8),
            dict(bits_allocated=8, bits_stored=1, slope="200", intercept="-100"),
            np.int8,
            [[-100, 100]],
        ),
        # 32-bit unsigned full range -> uint32
        (
            np.array([[0, 2**32 - 1]], np.uint32),
            dict(bits_allocated=32),
            np.uint32,
            [[0, 2**32 - 1]],
        ),
        # 32-bit signed with an intercept does not fit any 32-bit type -> float32
        (
            np.array([[-5, 7]], np.int32),
            dict(bits_allocated=32, signed=True, intercept="10"),
            np.float32,
            [[5, 17]],
        ),
    ],
)
def test_dtype_rules_and_values(tmp_path, stored, kw, dtype, expected):
    path = write_dicom(tmp_path / "x.dcm", stored, **kw)
    assert output_dtype(refs_of(path)) == np.dtype(dtype)
    arr = read_file(path)
    assert arr.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(arr[0], np.array(expected))


def test_big_endian_signed_12_bit_with_garbage(tmp_path):
    values = np.array([[-2048, -1, 0, 2047, 5]], dtype=np.int16)
    garbage = (values.view(np.uint16) & 0x0FFF) | 0x5000
    path = write_dicom(
        tmp_path / "be.dcm",
        garbage,
        bits_stored=12,
        signed=True,
        transfer_syntax=ExplicitVRBigEndian,
    )
    np.testing.assert_array_equal(read_file(path)[0], values)


def test_per_frame_rescale_differing_between_files_gives_float32(tmp_path):
    a = write_dicom(tmp_path / "a.dcm", np.array([[100]], np.uint16), slope="1", intercept="0")
    b = write_dicom(
        tmp_path / "b.dcm", np.array([[100]], np.uint16), slope="0.25", intercept="-3", z=1
    )
    refs = [FrameRef(read_header(a)), FrameRef(read_header(b))]
    assert output_dtype(refs) == np.float32
    np.testing.assert_allclose(read_pixels(refs)[:, 0, 0], [100.0, 22.0])


@pytest.mark.parametrize("bits", [32, 64])
def test_float_pixel_data_is_float32(tmp_path, bits):
    values = np.array([[-1.5, 0.0, 3.25e3, 7.0]], dtype=np.float32 if bits == 32 else np.float64)
    path = write_dicom(
        tmp_path / "pm.dcm", values, bits_allocated=bits, float_data=True, slope="2", intercept="1"
    )
    header = read_header(path)
    assert header.float_pixel_data
    arr = read_file(path)
    assert arr.dtype == np.float32
    np.testing.assert_allclose(arr[0], values * 2 + 1)


def test_output_dtype_rules_on_headers():
    ct = fake_header(bits_stored=12, frames=(rescaled(1, -1024),))
    assert output_dtype([FrameRef(ct)]) == np.int16
    ge_ct = fake_header(bits_stored=16, pixel_representation=1, frames=(rescaled(1, -1024),))
    assert output_dtype([FrameRef(ge_ct)]) == np.int32  # declared range -33792..31743
    pet = fake_header(frames=(rescaled(0.0123, 0), rescaled(0.0456, 0)))
    assert output_dtype([FrameRef(pet, 0), FrameRef(pet, 1)]) == np.float32
    rgb = fake_header(
        samples_per_pixel=3, bits_allocated=8, bits_stored=8, photometric_interpretation="RGB"
    )
    assert output_dtype([FrameRef(rgb)]) == np.uint8
    assert pixels.output_shape([FrameRef(rgb)] * 2) == (2, 4, 4, 3)
    double = fake_header(bits_allocated=64, float_pixel_data=True)
    assert output_dtype([FrameRef(double)]) == np.float32
    for header in (ct, ge_ct, pet, rgb, double):
        assert output_dtype([FrameRef(header)]) != np.float64


def test_expected_dtype_is_the_optimistic_sibling_of_the_worst_case():
    def both(header: DicomHeader) -> tuple[np.dtype, np.dtype]:
        refs = [FrameRef(header)]
        return pixels.expected_dtype(refs), output_dtype(refs)

    ge_ct = fake_header(bits_stored=16, pixel_representation=1, frames=(rescaled(1, -1024),))
    assert both(ge_ct) == (np.int16, np.int32)
    full_u16 = fake_header(frames=(rescaled(1, 1000),))  # results >= 0: unsigned guess
    assert both(full_u16) == (np.uint16, np.int32)
    # the narrow type cannot even hold stored 0's result: no point in guessing
    u8_far = fake_header(bits_allocated=8, bits_stored=8, frames=(rescaled(1, -1024),))
    assert both(u8_far) == (np.int16, np.int16)
    s16_far = fake_header(pixel_representation=1, frames=(rescaled(1, 70000),))
    assert both(s16_far) == (np.int32, np.int32)
    # equal wherever the declared range already fits the stored width, or float/colour
    for header in (
        fake_header(bits_stored=12, frames=(rescaled(1, -1024),)),
        fake_header(frames=(rescaled(0.5, 0),)),
        fake_header(bits_allocated=32, bits_stored=32, pixel_representation=1),
        fake_header(
            samples_per_pixel=3, bits_allocated=8, bits_stored=8, photometric_interpretation="RGB"
        ),
    ):
        assert both(header)[0] == both(header)[1]


# --- GE-style CT: signed 16 bits stored, intercept -1024 ---------------------------------------


def _signed_ct_series(
    folder: Path,
    n: int,
    overflow: tuple[int, int] | None = None,
    intercept: int = -1024,
    size: tuple[int, int] = (24, 20),
) -> tuple[list[Path], np.ndarray]:
    """Signed 16-bit CT files (stored -1000..2000); ``overflow=(file, value)`` plants one value."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    stored = rng.integers(-1000, 2001, size=(n, *size), dtype=np.int16)
    stored[0, 0, 0], stored[-1, -1, -1] = -1000, 2000
    if overflow is not None:
        stored[overflow[0], 5, 7] = overflow[1]
    paths = [
        write_dicom(
            folder / f"ge{i:03d}.dcm",
            stored[i],
            signed=True,
            bits_stored=16,
            slope="1",
            intercept=str(intercept),
            z=float(i),
        )
        for i in range(n)
    ]
    return paths, stored.astype(np.int32) + intercept


def _refs(paths: list[Path]) -> list[FrameRef]:
    return [FrameRef(read_header(p)) for p in paths]


@pytest.mark.parametrize("n", [4, 40])  # serial and threaded reads
def test_ge_style_ct_is_int16_with_exact_values(tmp_path, n):
    paths, expected = _signed_ct_series(tmp_path, n)
    refs = _refs(paths)
    assert output_dtype(refs) == np.int32  # declared -33792..31743: the worst case
    assert pixels.expected_dtype(refs) == np.int16
    arr = read_pixels(refs)
    assert arr.dtype == np.int16
    np.testing.assert_array_equal(arr, expected)


@pytest.mark.parametrize(
    ("n", "overflow", "intercept"),
    [
        (4, (2, -32000), -1024),  # -33024 < -32768
        (40, (37, -32768), -1024),  # padding value -32768 -> -33792, threaded read
        (40, (0, 32000), 1024),  # 33024 > 32767, in the first file
    ],
)
def test_ge_style_ct_falls_back_to_int32_when_a_value_does_not_fit(
    tmp_path, n, overflow, intercept
):
    paths, expected = _signed_ct_series(tmp_path, n, overflow, intercept, size=(128, 128))
    refs = _refs(paths)
    assert pixels.expected_dtype(refs) == np.int16
    calls: list[tuple[int, int]] = []
    tracemalloc.start()
    try:
        arr = read_pixels(refs, progress=lambda d, t: calls.append((d, t)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert arr.dtype == np.int32
    np.testing.assert_array_equal(arr, expected)  # no wrap-around anywhere
    assert arr.min() == expected.min() and arr.max() == expected.max()
    # the int16 attempt (half of arr.nbytes) is freed before the int32 array is allocated
    assert peak < arr.nbytes * 1.25
    # progress keeps counting upwards through the second read and ends complete
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1][0] == calls[-1][1] >= n


def test_fallback_still_respects_the_size_limit(tmp_path):
    paths, _ = _signed_ct_series(tmp_path, 4, overflow=(1, -32768))
    refs = _refs(paths)
    narrow = 4 * 24 * 20 * 2
    assert read_pixels(_refs(_signed_ct_series(tmp_path / "ok", 4)[0]), max_bytes=narrow).dtype == (
        np.int16
    )
    with pytest.raises(TooLarge):
        read_pixels(refs, max_bytes=narrow)  # int32 needs twice that


def _rle_signed_ct(path: Path, stored: np.ndarray) -> Path:
    write_dicom(path, stored, signed=True, slope="1", intercept="-1024")
    ds = pydicom.dcmread(path, force=True)
    ds.compress(RLELossless)
    ds.save_as(path, enforce_file_format=True)
    assert read_header(path).transfer_syntax_uid == RLELossless
    return path


def test_compressed_signed_ct_checks_values_and_falls_back(tmp_path):
    good = _rle_signed_ct(tmp_path / "good.dcm", np.array([[-1000, 0], [2000, 5]], np.int16))
    arr = read_file(good)
    assert arr.dtype == np.int16
    np.testing.assert_array_equal(arr[0], [[-2024, -1024], [976, -1019]])

    bad = _rle_signed_ct(tmp_path / "bad.dcm", np.array([[-1000, -32768], [2000, 5]], np.int16))
    arr = read_file(bad)
    assert arr.dtype == np.int32
    np.testing.assert_array_equal(arr[0], [[-2024, -33792], [976, -1019]])


@pytest.mark.parametrize("name", ["CT_small.dcm", "693_J2KR.dcm"])
def test_pydicom_ge_ct_files_load_as_int16(name):
    path = pydicom_file(name)
    ds = pydicom.dcmread(path)
    assert (ds.PixelRepresentation, ds.BitsStored, float(ds.RescaleIntercept)) == (1, 16, -1024)
    arr = read_file(path)
    assert arr.dtype == np.int16
    expected = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
    np.testing.assert_array_equal(arr[0], expected)


def test_load_stack_gives_an_int16_volume_for_ge_style_ct(tmp_path):
    paths, expected = _signed_ct_series(tmp_path, 5)
    stack = ImageStack(uid="ge", frames=_refs(paths[::-1]), label="test")
    # the worst case (int32) would exceed this limit; the int16 volume fits it
    policy = DicomReadPolicy(max_voxel_bytes=expected.size * 2)
    vol = load_stack(stack, policy)
    assert vol.array.dtype == np.int16
    np.testing.assert_array_equal(vol.array, expected)  # sorted by z = file order

    bad_paths, bad_expected = _signed_ct_series(tmp_path / "bad", 5, overflow=(3, -32000))
    vol = load_stack(ImageStack(uid="ge-bad", frames=_refs(bad_paths), label="test"))
    assert vol.array.dtype == np.int32
    np.testing.assert_array_equal(vol.array, bad_expected)


# --- errors, sizes, memory ---------------------------------------------------------------------


def test_header_claiming_huge_image_is_refused_before_allocating(tmp_path):
    path = write_dicom(tmp_path / "huge.dcm", np.zeros((2, 2), np.uint16), rows=60000, cols=60000)
    refs = refs_of(path)
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match=r"6\.7 GiB") as err:
            read_pixels(refs, max_bytes=1 << 30)
        assert "limit" in str(err.value)
        # within the limit, the file's own size gives it away: nothing is allocated either
        with pytest.raises(UnreadableFile, match="shorter than its image size"):
            read_pixels(refs, max_bytes=1 << 40)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


def test_too_large_for_available_memory(tmp_path):
    path = write_dicom(
        tmp_path / "huge.dcm", np.zeros((2, 2), np.uint16), rows=60000, cols=60000, frames=1000
    )
    with pytest.raises(TooLarge, match="would need .* TiB of memory; only .* available"):
        read_file(path)


def test_truncated_files_name_what_is_missing(tmp_path):
    with pytest.raises(UnreadableFile, match="cut short: 62 bytes of image data are missing"):
        read_file(pydicom_file("MR_truncated.dcm"))
    path = tmp_path / "cut.dcm"
    shutil.copy(pydicom_file("MR_small.dcm"), path)
    refs = refs_of(path)
    header = refs[0].header
    end = header.pixel_data_offset + 64 * 64 * 2
    with open(path, "r+b") as fp:  # cut after the header was indexed
        fp.truncate(end - 1000)
    with pytest.raises(UnreadableFile, match="1,000 bytes of image data are missing") as err:
        read_pixels(refs)
    assert err.value.path == path


def test_missing_file_is_unreadable(tmp_path):
    path = write_dicom(tmp_path / "gone.dcm", np.zeros((2, 2), np.uint16))
    refs = refs_of(path)
    path.unlink()
    with pytest.raises(UnreadableFile, match="not found"):
        read_pixels(refs)


def test_unsupported_transfer_syntax_is_named(tmp_path):
    path = tmp_path / "mpeg.dcm"
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    ds.save_as(path)
    with pytest.raises(UnsupportedData, match="MPEG2 Main Profile"):
        read_file(path)


@pytest.mark.parametrize("name", ["9.dcm", "4.dcm"])  # JPEG 2000, RLE
def test_corrupt_compressed_data_is_unreadable(tmp_path, name):
    ds = pydicom.dcmread(shared("dcm_qa_ts", "In", name))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame[: len(frame) // 2]])
    path = tmp_path / name
    ds.save_as(path)
    with pytest.raises(UnreadableFile, match="could not be decoded"):
        read_file(path)


def test_mixed_sizes_are_refused(tmp_path):
    a = write_dicom(tmp_path / "a.dcm", np.zeros((2, 3), np.uint16))
    b = write_dicom(tmp_path / "b.dcm", np.zeros((3, 3), np.uint16))
    with pytest.raises(UnsupportedData, match="different sizes"):
        read_pixels([FrameRef(read_header(a)), FrameRef(read_header(b))])


def test_frame_out_of_range_is_refused():
    header = read_header(pydicom_file("emri_small.dcm"))
    with pytest.raises(UnreadableFile, match="frame 11 does not exist"):
        read_pixels([FrameRef(header, 10)])


def _series(tmp_path: Path, n: int, size: int = 64) -> tuple[list[FrameRef], np.ndarray]:
    rng = np.random.default_rng(1)
    stored = rng.integers(0, 4096, size=(n, size, size), dtype=np.uint16)
    refs = []
    for i in range(n):
        path = write_dicom(
            tmp_path / f"s{i:03d}.dcm",
            stored[i] | np.uint16(0x3000),
            bits_stored=12,
            intercept="-1024",
            slope="1",
            z=i,
        )
        refs.append(FrameRef(read_header(path)))
    return refs, stored.astype(np.int16) - 1024


@pytest.mark.parametrize("n", [5, 40])  # serial and threaded reads
def test_series_values_progress_and_single_array_memory(tmp_path, n):
    refs, expected = _series(tmp_path, n, size=128)
    calls: list[tuple[int, int]] = []
    tracemalloc.start()
    try:
        arr = read_pixels(refs, progress=lambda d, t: calls.append((d, t)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(arr, expected)
    assert arr.dtype == np.int16 and arr.flags.c_contiguous
    # one output array, no full-size temporary (in-place conversion)
    assert peak < arr.nbytes + 2 * 2**20
    assert calls[0] == (0, n) and calls[-1] == (n, n)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.mark.parametrize("n", [5, 40])  # serial and threaded reads
def test_cancel_stops_between_files(tmp_path, monkeypatch, n):
    refs, _ = _series(tmp_path, n, size=16)
    with pytest.raises(Cancelled):
        read_pixels(refs, cancel=lambda: True)
    # slow every file down so the threaded reader is still busy when the cancel comes
    slow_read = _native_read.NativeReader.read_file

    def read_slowly(self, *args):
        time.sleep(0.02)
        return slow_read(self, *args)

    monkeypatch.setattr(_native_read.NativeReader, "read_file", read_slowly)
    seen: list[int] = []
    with pytest.raises(Cancelled):
        read_pixels(
            refs, progress=lambda d, t: seen.append(d) if d else None, cancel=lambda: bool(seen)
        )
    assert seen and seen[-1] < n


def test_error_in_a_threaded_read_reaches_the_caller(tmp_path):
    refs, _ = _series(tmp_path, 40, size=16)
    bad = refs[23].header.path
    size = Path(bad).stat().st_size
    with open(bad, "r+b") as fp:
        fp.truncate(size - 10)
    with pytest.raises(UnreadableFile) as err:
        read_pixels(refs)
    assert err.value.path == Path(bad)


def test_native_and_compressed_files_in_one_stack():
    native, rle = pydicom_file("MR_small.dcm"), pydicom_file("MR_small_RLE.dcm")
    refs = [FrameRef(read_header(rle)), FrameRef(read_header(native))]
    arr = read_pixels(refs)
    expected = pydicom.dcmread(native).pixel_array
    np.testing.assert_array_equal(arr, np.stack([expected, expected]))
