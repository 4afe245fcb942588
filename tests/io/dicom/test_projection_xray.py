"""Projection radiographs (CR/DX): pixel spacing, VOI functions, VOI LUT tables, inversion."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_voi, apply_windowing

from interval.core.measurements import distance_mm
from interval.core.metadata import WindowLevel
from interval.core.voi import voi_grey
from interval.core.window_presets import apply_window
from interval.io.dicom.header import read_header
from interval.io.dicom.header_fast import read_header_fast
from interval.io.dicom.load import load_dicom

from .projection_xray import ramp, write_dx


def _copy(name: str, tmp_path):
    src = get_testdata_file(name)
    assert src is not None, f"{name} missing from pydicom's test data"
    return shutil.copy(src, tmp_path / name)


# --- pixel spacing ------------------------------------------------------------------------


def test_cr_with_zero_pixel_spacing_loads_in_pixels_with_a_warning(tmp_path) -> None:
    # RG1_UNCR stores PixelSpacing 0.000\0.000 and no ImagerPixelSpacing
    vol = load_dicom(_copy("RG1_UNCR.dcm", tmp_path))
    assert vol.shape == (1, 1955, 1841)
    assert vol.spacing[:2] == (1.0, 1.0)
    assert any("no usable pixel spacing" in w for w in vol.metadata.warnings)
    assert any("nominal placement" in w for w in vol.metadata.warnings)


@pytest.mark.parametrize("name", ["6154", "6247", "6278"])
def test_cr_uses_imager_pixel_spacing_at_the_detector(tmp_path, name) -> None:
    vol = load_dicom(_copy(name, tmp_path))
    ds = pydicom.dcmread(get_testdata_file(name))
    row, col = (float(v) for v in ds.ImagerPixelSpacing)
    assert vol.spacing[:2] == pytest.approx((col, row))
    assert any("detector plane" in w for w in vol.metadata.warnings)
    # ten columns apart measure ten imager pixel spacings in mm
    a, b = vol.index_to_lps((2, 3, 0)), vol.index_to_lps((12, 3, 0))
    assert distance_mm(a, b) == pytest.approx(10 * col)


def test_cr_monochrome1_window_is_mirrored_with_the_rescale(tmp_path) -> None:
    vol = load_dicom(_copy("6154", tmp_path))  # 12 bits, slope 0.684, intercept 200
    k = 0.684 * 4095 + 2 * 200.0
    wl = vol.metadata.default_window
    assert wl is not None and wl.function == "LINEAR"
    assert wl.center == pytest.approx(k - 1600.0) and wl.width == 2800.0
    assert not vol.metadata.presentation_inverse


def test_magnification_factor_gives_the_patient_plane_spacing(tmp_path) -> None:
    path = write_dx(tmp_path / "m.dcm", ramp(), imager_spacing=(0.2, 0.15), magnification=1.25)
    vol = load_dicom(path)
    assert vol.spacing[:2] == pytest.approx((0.15 / 1.25, 0.2 / 1.25))
    assert any("magnification 1.25" in w for w in vol.metadata.warnings)


def test_pixel_spacing_wins_over_imager_pixel_spacing(tmp_path) -> None:
    path = write_dx(tmp_path / "p.dcm", ramp(), imager_spacing=(0.2, 0.2), pixel_spacing=(0.1, 0.1))
    vol = load_dicom(path)
    assert vol.spacing[:2] == pytest.approx((0.1, 0.1))
    assert not any("detector plane" in w for w in vol.metadata.warnings)


# --- header fields ------------------------------------------------------------------------


def test_header_reads_projection_fields_alike_on_both_paths(tmp_path) -> None:
    path = write_dx(
        tmp_path / "h.dcm", ramp(), voi_function="SIGMOID", presentation_shape="INVERSE",
        magnification=1.1,
    )
    fast, full = read_header_fast(path), read_header(path)
    assert fast is not None and fast == full
    info = full.frames[0]
    assert info.imager_pixel_spacing == (0.2, 0.2) and info.magnification == pytest.approx(1.1)
    assert info.voi_function == "SIGMOID" and full.presentation_lut_shape == "INVERSE"


def test_voi_lut_table_is_read_like_pydicom_applies_it(tmp_path) -> None:
    src = get_testdata_file("vlut_04.dcm")
    header = read_header(src)
    ds = pydicom.dcmread(src)
    lut = header.voi_lut
    assert lut is not None and len(lut.data) == 256 and lut.first == 0 and lut.out_max == 65535
    x = np.arange(-3, 260)
    expected = apply_voi(x.astype(np.int32), ds).astype(np.float64)
    wl = WindowLevel(128.0, 256.0, function="TABLE", lut=lut)
    np.testing.assert_array_equal(voi_grey(x, wl), np.floor(expected * 255.0 / 65535.0 + 0.5))


def test_voi_lut_table_becomes_the_default_window_without_a_window(tmp_path) -> None:
    vol = load_dicom(_copy("vlut_04.dcm", tmp_path))
    wl = vol.metadata.default_window
    assert wl is not None and wl.function == "TABLE" and wl.lut is vol.metadata.voi_lut
    assert (wl.lut.first, wl.lut.last) == (0.0, 255.0)


def test_monochrome1_voi_table_is_mirrored(tmp_path) -> None:
    data = [int(v) for v in np.linspace(0, 255, 64) ** 2 // 255]  # a curve, 8 bits
    path = write_dx(
        tmp_path / "t.dcm", ramp(bits=6, columns=64), bits=6, photometric="MONOCHROME1",
        window=None, voi_table=(64, 0, 8, data),
    )
    vol = load_dicom(path)
    wl = vol.metadata.default_window
    assert wl is not None and wl.function == "TABLE"
    stored = np.arange(64)
    shown = voi_grey(63 - stored, wl)  # the loader reads MONOCHROME1 v as 63 - v
    # MONOCHROME1: the table's output is shown with white for its minimum
    np.testing.assert_array_equal(shown, 255 - np.floor(np.asarray(data) * 255 / 255 + 0.5))


def test_sigmoid_function_is_read_and_mirrored_for_monochrome1(tmp_path) -> None:
    m2 = load_dicom(write_dx(tmp_path / "a.dcm", ramp(), voi_function="SIGMOID", window=(1000, 800)))
    assert m2.metadata.default_window == WindowLevel(1000.0, 800.0, function="SIGMOID")
    m1 = load_dicom(
        write_dx(tmp_path / "b.dcm", ramp(), photometric="MONOCHROME1", voi_function="SIGMOID", window=(1000, 800))
    )
    wl = m1.metadata.default_window
    assert wl is not None and wl.function == "SIGMOID" and wl.center == 4095 - 1000
    x = np.array([0.0, 500.0, 1000.0, 1400.0, 4095.0])
    # displayed grey of stored x (read as 4095 - x) = 255 - sigmoid(x); only the rounding
    # of an exact half (127.5 at the centre) may differ by one level
    original = voi_grey(x, WindowLevel(1000, 800, function="SIGMOID"))
    np.testing.assert_allclose(voi_grey(4095 - x, wl), 255 - original, atol=1)
    assert voi_grey(4095 - 500.0, wl) == 255 - voi_grey(500.0, WindowLevel(1000, 800, function="SIGMOID"))


@pytest.mark.parametrize(
    "shape,photometric,inverse",
    [("INVERSE", "MONOCHROME2", True), ("IDENTITY", "MONOCHROME2", False),
     ("INVERSE", "MONOCHROME1", False), (None, "MONOCHROME2", False)],
)
def test_presentation_lut_shape_inverse_flag(tmp_path, shape, photometric, inverse) -> None:
    path = write_dx(tmp_path / "s.dcm", ramp(), photometric=photometric, presentation_shape=shape)
    assert load_dicom(path).metadata.presentation_inverse is inverse


# --- the VOI functions --------------------------------------------------------------------


def _dataset(center: float, width: float, function: str) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored = 8
    ds.PixelRepresentation = 0
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = center, width, function
    return ds


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_voi_functions_match_pydicom(function) -> None:
    x = np.arange(0, 256, dtype=np.float64)
    expected = apply_windowing(x.copy(), _dataset(100.0, 61.0, function))
    got = apply_window(x, 100.0, 61.0, function=function)
    np.testing.assert_array_equal(got, np.floor(expected + 0.5).astype(np.uint8))


def test_linear_exact_and_linear_differ_as_the_formulas_say() -> None:
    x = np.array([70.0, 90.0])
    linear = apply_window(x, 100.0, 61.0)
    exact = apply_window(x, 100.0, 61.0, function="LINEAR_EXACT")
    # LINEAR: ((x - 99.5) / 60 + 0.5) * 255; LINEAR_EXACT: ((x - 100) / 61 + 0.5) * 255
    assert linear.tolist() == [2, 87] and exact.tolist() == [2, 86]
    big = np.arange(65536 * 2, dtype=np.uint16) % 4096  # the lookup-table path agrees
    np.testing.assert_array_equal(
        apply_window(big, 2000.0, 301.0, function="SIGMOID"),
        apply_window(big.astype(np.float64), 2000.0, 301.0, function="SIGMOID"),
    )
