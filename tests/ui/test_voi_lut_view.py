"""Rendered grey levels of projection radiographs: VOI functions, VOI LUT tables, inversion."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from interval.core.metadata import WindowLevel
from interval.core.voi import voi_grey
from interval.core.volume import Volume
from interval.io.dicom.load import load_dicom
from interval.ui.slice_view import SliceView
from tests.io.dicom.projection_xray import ramp, write_dx

PX_PER_VOXEL = 3


def _view(widget, vol: Volume, px: int = PX_PER_VOXEL) -> SliceView:
    view = SliceView(widget.add_renderer())
    view.set_volume(vol)
    view.set_interpolation("nearest")  # one voxel value per screen pixel: exact greys
    view.set_mm_per_pixel(view.pixel_mm / px)
    return view


def _greys(widget, view: SliceView, vol: Volume, columns, row: int = 4) -> np.ndarray:
    """The rendered grey (red channel) at the centre of voxels (i, row) for each column i."""
    frame = widget.capture()
    out = []
    for i in columns:
        x, y = view.world_to_display(vol.index_to_lps((i, row, 0)))
        rgb = frame[int(y), int(x)].astype(int)
        assert rgb[0] == rgb[1] == rgb[2], f"not grey: {rgb}"
        out.append(rgb[0])
    return np.array(out)


def _values(vol: Volume, columns, row: int = 4) -> np.ndarray:
    return np.array([float(vol.array[0, row, i]) for i in columns])


def test_sigmoid_renders_the_dicom_formula(vtk_widget, tmp_path) -> None:
    c, w = 2000.0, 1500.0
    vol = load_dicom(write_dx(tmp_path / "s.dcm", ramp(8, 64), voi_function="SIGMOID", window=(c, w)))
    view = _view(vtk_widget, vol)
    assert view.window_level.function == "SIGMOID"
    cols = range(0, 64, 3)
    expected = 255.0 / (1.0 + np.exp(-4.0 * (_values(vol, cols) - c) / w))
    got = _greys(vtk_widget, view, vol, cols)
    assert np.max(np.abs(got - expected)) <= 2, list(zip(got, expected.round(1), strict=True))
    # the grey is not linear: the middle is steeper than a linear window of that width
    assert got[0] > 0 and got[-1] < 255


def test_sigmoid_is_kept_when_the_window_changes(vtk_widget, tmp_path) -> None:
    vol = load_dicom(write_dx(tmp_path / "s.dcm", ramp(8, 64), voi_function="SIGMOID", window=(2000, 1500)))
    view = _view(vtk_widget, vol)
    view.set_window_level(1000.0, 600.0)
    assert view.window_level == WindowLevel(1000.0, 600.0, function="SIGMOID")
    cols = range(0, 64, 5)
    expected = voi_grey(_values(vol, cols), view.window_level)
    assert np.max(np.abs(_greys(vtk_widget, view, vol, cols) - expected)) <= 2


def test_linear_exact_and_linear_render_their_own_formulas(vtk_widget, tmp_path) -> None:
    pixels = np.repeat((1968 + np.arange(64, dtype=np.uint16))[None, :], 8, axis=0)  # 1968..2031
    cols = range(28, 36)  # values 1996..2003 around the centre
    rendered = {}
    for function in ("LINEAR", "LINEAR_EXACT"):
        vol = load_dicom(write_dx(tmp_path / f"{function}.dcm", pixels, voi_function=function, window=(2000, 3)))
        view = _view(vtk_widget, vol)
        got = _greys(vtk_widget, view, vol, cols)
        expected = voi_grey(_values(vol, cols), WindowLevel(2000.0, 3.0, function=function))
        assert np.max(np.abs(got - expected)) <= 1, (function, got, expected)
        rendered[function] = got
        view.close()
    # LINEAR w=3: 1999 -> 64, 2000 -> 191, 2001 -> 255; LINEAR_EXACT: 43, 128, 213
    assert rendered["LINEAR"][3:6].tolist() == pytest.approx([64, 191, 255], abs=1)
    assert rendered["LINEAR_EXACT"][3:6].tolist() == pytest.approx([43, 128, 213], abs=1)


def test_voi_lut_table_maps_pixels_as_the_table_says(vtk_widget, tmp_path) -> None:
    data = [int(v) for v in (np.linspace(0, 1, 64) ** 3 * 1023).round()]  # a 10-bit curve
    vol = load_dicom(
        write_dx(tmp_path / "t.dcm", ramp(8, 64, bits=6), bits=6, window=None, voi_table=(64, 0, 10, data))
    )
    view = _view(vtk_widget, vol)
    assert view.window_level.function == "TABLE"
    cols = range(0, 64, 3)
    expected = np.floor(np.array([data[int(v)] for v in _values(vol, cols)]) * 255 / 1023 + 0.5)
    got = _greys(vtk_widget, view, vol, cols)
    assert np.max(np.abs(got - expected)) <= 1, list(zip(got, expected, strict=True))
    # another window is a plain linear one; the table's own centre and width bring it back
    view.set_window_level(20.0, 30.0)
    assert view.window_level.function == "LINEAR"
    assert np.max(np.abs(_greys(vtk_widget, view, vol, cols) - voi_grey(_values(vol, cols), WindowLevel(20, 30)))) <= 1
    view.set_window_level(32.0, 64.0)  # centre first + n/2, width n
    assert view.window_level.function == "TABLE"


def test_pydicom_vlut_04_table_is_rendered(vtk_widget, tmp_path) -> None:
    vol = load_dicom(shutil.copy(get_testdata_file("vlut_04.dcm"), tmp_path / "vlut_04.dcm"))
    view = _view(vtk_widget, vol, px=1)
    cols = range(250, 262)
    row = 256
    expected = voi_grey(_values(vol, cols, row), vol.metadata.default_window)
    got = _greys(vtk_widget, view, vol, cols, row)
    assert np.max(np.abs(got - expected)) <= 1


def test_presentation_lut_shape_inverse_renders_inverted(vtk_widget, tmp_path) -> None:
    cols = range(0, 64, 7)
    plain = load_dicom(write_dx(tmp_path / "p.dcm", ramp(8, 64)))
    inverse = load_dicom(write_dx(tmp_path / "i.dcm", ramp(8, 64), presentation_shape="INVERSE"))
    v1 = _view(vtk_widget, plain)
    g_plain = _greys(vtk_widget, v1, plain, cols)
    v1.close()
    v2 = _view(vtk_widget, inverse)
    g_inverse = _greys(vtk_widget, v2, inverse, cols)
    assert np.max(np.abs(g_inverse - (255 - g_plain))) <= 1
    assert g_plain[0] < 10 and g_inverse[0] > 245
    v2.set_invert(True)  # the user's invert flips it back
    assert np.max(np.abs(_greys(vtk_widget, v2, inverse, cols) - g_plain)) <= 1


@pytest.mark.parametrize("shape", [None, "INVERSE"])
def test_monochrome1_is_inverted_once(vtk_widget, tmp_path, shape) -> None:
    stored = ramp(8, 64)
    vol = load_dicom(write_dx(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1", presentation_shape=shape))
    view = _view(vtk_widget, vol)
    cols = range(0, 64, 7)
    got = _greys(vtk_widget, view, vol, cols)
    # low stored values are white; grey = 255 - LINEAR(stored) of the file's window 2048/4096
    linear = voi_grey(stored[4, list(cols)].astype(float), WindowLevel(2048.0, 4096.0))
    assert np.max(np.abs(got - (255 - linear))) <= 1
    assert got[0] > 245 and got[-1] < 10


def test_viewer_shows_sigmoid_and_inverse_through_its_state(qtbot, tmp_path) -> None:
    """The MPR view (state -> layer window) keeps the DICOM VOI function and the inversion."""
    from interval.core.viewer_state import ViewerState
    from interval.ui.mpr_view import MprView
    from tests.ui.test_mpr_view import grey_at

    stored = np.repeat((np.arange(64, dtype=np.uint16) * 64)[None, :], 64, axis=0)  # 0..4032
    vol = load_dicom(
        write_dx(tmp_path / "v.dcm", stored, voi_function="SIGMOID", window=(2000, 1500), presentation_shape="INVERSE")
    )
    state = ViewerState()
    state.add_volume(vol)
    view = MprView(state, "axial")
    qtbot.addWidget(view)
    view.resize(240, 240)
    view.show()
    # a warning line (nominal placement) may take some of the height: wait for any size
    qtbot.waitUntil(lambda: min(view.vtk.GetRenderWindow().GetSize()) > 100)
    view.slice_view.set_interpolation("nearest")
    view.vtk.GetRenderWindow().Render()
    frame = view.vtk.capture()
    for i in (12, 24, 28, 38, 46):  # row 44: below the centre's crosshair, away from corner text
        got = grey_at(frame, view, vol.index_to_lps((i, 44, 0)))
        sig = 255.0 / (1.0 + np.exp(-4.0 * (float(stored[44, i]) - 2000.0) / 1500.0))
        assert abs(got[0] - (255 - sig)) <= 2, (i, got, 255 - sig)
