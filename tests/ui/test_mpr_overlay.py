"""On-image text of MprView read back headless: corners, scale bar, markers, anonymised
screenshots, the On-image text action."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from PySide6.QtGui import QImage

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.ui.mpr_view import MARKER_COLOUR, TEXT_COLOUR, VIEW_COLOURS, WARNING_COLOUR, MprView

PATIENT = "Zyxwabcd^Quentin"
SHOWN_NAME = "Zyxwabcd, Quentin"
NOMINAL = ("This image has no position in the patient (e.g. a projection X-ray); it is shown "
           "with a nominal placement, so positions and directions are not anatomical.")


def _volume(warnings: tuple[str, ...] = ()) -> Volume:
    a = np.zeros((20, 48, 48), np.int16)
    a[:, 12:36, 12:36] = 100
    md = VolumeMetadata(
        patient_name=PATIENT, patient_id="ID-99887", study_date=datetime.date(2023, 7, 14),
        study_time="101500", study_description="CT ABDOMEN", series_number=4,
        series_description="AX 2mm", modality="CT", units="HU",
        default_window=WindowLevel(40, 400), warnings=warnings,
    )
    return Volume(a, spacing=(1.0, 1.0, 2.0), origin=(-24.0, -24.0, -20.0), metadata=md)


def make_view(qtbot, state: ViewerState, view_id: str, size: int = 300) -> MprView:
    view = MprView(state, view_id)
    qtbot.addWidget(view)
    view.resize(size, size)
    view.show()
    qtbot.waitUntil(lambda: tuple(view.vtk.GetRenderWindow().GetSize()) == (size, size))
    return view


def _near(frame: np.ndarray, colour: tuple[float, float, float], tol: int) -> np.ndarray:
    want = np.rint(np.asarray(colour) * 255).astype(int)
    return np.abs(frame.astype(int) - want).max(axis=2) <= tol


def _rows_cols(box: tuple[float, float, float, float], h: int) -> tuple[slice, slice]:
    """A display box (y up) as frame rows and columns (row 0 at the top)."""
    x0, x1, y0, y1 = box  # pixel (x, y) is frame column x, row h - 1 - y; edges included
    return slice(max(int(h - 1 - y1), 0), int(h - y0)), slice(max(int(x0), 0), int(x1) + 1)


# --- orientation letters ----------------------------------------------------------------
def test_no_letters_without_a_volume(qtbot) -> None:
    state = ViewerState()
    view = make_view(qtbot, state, "axial")
    frame = view.capture()
    assert view.markers() == {"left": "", "right": "", "top": "", "bottom": ""}
    assert _near(frame, MARKER_COLOUR, 40).sum() == 0  # nothing drawn
    assert view.shown_texts() == ["Axial"]
    vid = state.add_volume(_volume())
    assert view.markers() == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert _near(view.capture(), MARKER_COLOUR, 40).sum() > 40
    state.remove_volume(vid)
    assert set(view.markers().values()) == {""}
    assert _near(view.capture(), MARKER_COLOUR, 40).sum() == 0
    view.close_view()


def test_no_letters_on_an_image_without_anatomical_orientation(qtbot) -> None:
    state = ViewerState()
    state.add_volume(_volume((NOMINAL,)))
    for kind in ("axial", "coronal", "sagittal"):
        view = make_view(qtbot, state, kind)
        view.set_crosshair_visible(False)  # the sagittal line is yellow too
        frame = view.capture()
        assert set(view.markers().values()) == {""}, kind
        assert _near(frame, MARKER_COLOUR, 40).sum() == 0
        assert "orientation not anatomical" in view.warning_text()
        assert _near(frame, WARNING_COLOUR, 40).sum() > 40  # the warning says why
        view.close_view()


# --- corner texts, layout ---------------------------------------------------------------
def test_corner_texts_follow_the_slice_window_and_zoom(qtbot) -> None:
    state = ViewerState()
    vid = state.add_volume(_volume())
    view = make_view(qtbot, state, "axial")
    texts = view.corner_texts()
    assert texts.top_left.splitlines()[:2] == [SHOWN_NAME, "ID: ID-99887"]
    assert texts.top_right.splitlines() == ["Series 4: AX 2mm", "CT"]
    n, total, _ = view.slice_counter()
    z = float(state.crosshair[2])
    assert texts.bottom_left.splitlines() == [
        f"Axial  {n}/{total}  (k {n - 1})", f"Z: {z:g} mm", "Spacing: 2 mm"]
    state.step_slice("axial", 3)
    assert view.corner_texts().bottom_left.splitlines()[1] == f"Z: {z + 6:g} mm"
    state.set_window(vid, 50, 350)
    state.set_zoom("axial", 2.0)
    assert view.corner_texts().bottom_right.splitlines() == ["W/L 350/50", "Zoom 2.00x"]
    shown = "\n".join(view.shown_texts())
    assert SHOWN_NAME in shown and "Series 4: AX 2mm" in shown and "Zoom 2.00x" in shown
    view.close_view()


def test_top_letter_and_crosshair_never_cross_the_header_text(qtbot) -> None:
    """QA: the sagittal "S" overlapped the header text and the crosshair lines ran
    through it.  Every text sits on a dark box the lines pass under, and the top letter
    stays clear of the corner texts at every size."""
    state = ViewerState()
    state.add_volume(_volume())
    for size in (180, 260, 400):
        view = make_view(qtbot, state, "sagittal", size=size)
        # the vertical line (the coronal plane) through the top-left text
        x_mm = view.display_to_lps(30.0, size / 2.0)
        state.set_crosshair((state.crosshair[0], float(x_mm[1]), state.crosshair[2]))
        frame = view.capture()
        letter = view.overlays.box(view.overlays.markers["top"])
        assert letter is not None and view.markers()["top"] == "S"
        for key, actor in view.overlays.corners.items():
            box = view.overlays.box(actor)
            if box is None:
                continue
            if key.startswith("top"):
                overlap_x = min(letter[1], box[1]) - max(letter[0], box[0])
                overlap_y = min(letter[3], box[3]) - max(letter[2], box[2])
                assert overlap_x <= 0 or overlap_y <= 0, (size, key, letter, box)
            rows, cols = _rows_cols((box[0] + 1, box[1] - 1, box[2] + 1, box[3] - 1), size)
            for kind in ("axial", "coronal"):  # inside the box: the lines pass under it
                assert _near(frame[rows, cols], VIEW_COLOURS[kind], 2).sum() == 0, (size, key)
        line = _near(frame, VIEW_COLOURS["coronal"], 2)
        assert line[:, 28:33].sum() > size / 3  # the line is there, below the text
        view.close_view()


# --- scale bar ----------------------------------------------------------------------------
def _bar_length_px(frame: np.ndarray) -> int:
    """The longest horizontal run of the bar's colour (text glyphs have short runs)."""
    near = _near(frame, TEXT_COLOUR, 12)
    best = 0
    for row in near:
        run = 0
        for v in row:
            run = run + 1 if v else 0
            best = max(best, run)
    return best


@pytest.mark.parametrize("zoom", [1.0, 3.0])
def test_scale_bar_length_matches_its_label(qtbot, zoom: float) -> None:
    state = ViewerState()
    state.add_volume(_volume())
    view = make_view(qtbot, state, "axial")
    view.set_crosshair_visible(False)
    state.set_zoom("axial", zoom)
    frame = view.capture()
    shown = view.scale_bar()
    assert shown is not None
    mm, px = shown
    assert px == pytest.approx(mm / view.slice_view.mm_per_pixel)
    assert view.mm_per_pixel == pytest.approx(view.slice_view.mm_per_pixel)  # offscreen: ratio 1
    assert f"{mm:g} mm" in view.shown_texts()
    assert abs(_bar_length_px(frame) - px) <= 2.5
    assert 12 <= px <= 0.25 * 300
    view.close_view()


def test_scale_bar_changes_with_zoom(qtbot) -> None:
    state = ViewerState()
    state.add_volume(_volume())
    view = make_view(qtbot, state, "axial")
    view.capture()
    fitted = view.scale_bar()
    state.set_zoom("axial", 4.0)
    view.capture()
    zoomed = view.scale_bar()
    assert fitted is not None and zoomed is not None and zoomed[0] < fitted[0]
    view.close_view()



def test_scale_bar_and_rulers_say_pixels_without_a_pixel_spacing(qtbot) -> None:
    """An image whose pixel spacing is unknown (taken as 1) must not claim millimetres."""
    from interval.core.measurements import Measurement, Ruler, describe
    from interval.core.metadata import PIXELS_NOT_MM_WARNING

    state = ViewerState()
    vid = state.add_volume(_volume((PIXELS_NOT_MM_WARNING,)))
    assert state.volume(vid).metadata.length_unit == "px"
    view = make_view(qtbot, state, "axial")
    view.capture()
    shown = view.scale_bar()
    assert shown is not None
    texts = view.shown_texts()
    assert f"{shown[0]:g} px" in texts and f"{shown[0]:g} mm" not in texts
    ruler = Measurement(1, Ruler((0.0, 0.0, 0.0), (3.0, 4.0, 0.0)))
    assert describe(ruler, "", "px") == "5.0 px" and describe(ruler) == "5.0 mm"
    view.close_view()

# --- toggles ------------------------------------------------------------------------------
def test_on_image_text_toggle_keeps_letters_and_warning(qtbot) -> None:
    state = ViewerState()
    state.add_volume(_volume(("Loaded as-is although the slices do not form a regular grid",)))
    view = make_view(qtbot, state, "axial")
    view.set_crosshair_visible(False)
    with_text = view.capture()
    view.set_overlay_text_visible(False)
    without = view.capture()
    shown = view.shown_texts()
    assert not any(SHOWN_NAME in t or "Zoom" in t or t.endswith(" mm") for t in shown)
    assert {"R", "L", "A", "P"} <= set(shown) and view.warning_text() in shown
    assert view.scale_bar() is None
    assert _near(without, TEXT_COLOUR, 3).sum() < _near(with_text, TEXT_COLOUR, 3).sum() / 4
    view.set_overlay_text_visible(True)
    view.capture()
    assert SHOWN_NAME in "\n".join(view.shown_texts()) and view.scale_bar() is not None
    view.set_annotations_visible(False)
    view.capture()
    assert view.shown_texts() == [] and view.scale_bar() is None
    view.close_view()


# --- anonymised screenshots -----------------------------------------------------------------
def _png(path) -> np.ndarray:
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    bits = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return bits[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


def test_anonymised_screenshot_leaves_out_only_the_patient_text(qtbot, tmp_path, monkeypatch) -> None:
    from interval.ui import screenshot

    state = ViewerState()
    state.add_volume(_volume())
    view = make_view(qtbot, state, "axial")
    normal = _png(screenshot.save_view(view.vtk, tmp_path / "normal.png"))
    seen: list[list[str]] = []
    real = screenshot.view_image

    def spy(widget):
        seen.append(view.shown_texts())
        return real(widget)

    monkeypatch.setattr(screenshot, "view_image", spy)
    top_left = view.overlays.box(view.overlays.corners["top_left"])  # the patient's lines, before
    anon = _png(screenshot.save_view(view.vtk, tmp_path / "anon.png", anonymised=True))
    during = "\n".join(seen[-1])
    for value in (SHOWN_NAME, "Zyxwabcd", "ID-99887", "2023-07-14"):
        assert value not in during
    assert "CT ABDOMEN" in during and "Series 4: AX 2mm" in during
    # the pictures differ only where the patient's lines were
    assert top_left is not None
    diff = np.abs(normal.astype(int) - anon.astype(int)).max(axis=2) > 0
    assert diff.any()
    rows, cols = _rows_cols(top_left, normal.shape[0])
    outside = diff.copy()
    outside[rows, cols] = False
    assert not outside.any()
    # and everything is back after
    assert not view.anonymised and SHOWN_NAME in "\n".join(view.shown_texts())
    np.testing.assert_array_equal(view.capture(), normal)
    view.close_view()


def test_anonymised_layout_screenshot_and_restore_on_failure(qtbot, tmp_path, monkeypatch) -> None:
    from interval.ui import screenshot
    from interval.ui.view_layout import ViewLayout

    state = ViewerState()
    state.add_volume(_volume())
    layout = ViewLayout(state)
    qtbot.addWidget(layout)
    layout.resize(900, 300)
    layout.show()
    qtbot.waitUntil(lambda: all(v.vtk.GetRenderWindow().GetSize()[0] > 100
                                for v in layout.views.values()))
    seen: list[str] = []
    real = screenshot.view_image
    monkeypatch.setattr(screenshot, "view_image",
                        lambda w: (seen.extend(w._owner.shown_texts()), real(w))[1])
    screenshot.save_layout(layout, tmp_path / "layout.png", anonymised=True)
    assert len(seen) >= 3 and not any("Zyxwabcd" in t for t in seen)
    assert all(SHOWN_NAME in "\n".join(v.shown_texts()) for v in layout.views.values())

    def broken(_w):
        raise RuntimeError("capture failed")

    monkeypatch.setattr(screenshot, "view_image", broken)
    with pytest.raises(RuntimeError):
        screenshot.save_layout(layout, tmp_path / "broken.png", anonymised=True)
    assert not any(v.anonymised for v in layout.views.values())  # put back anyway
    layout.close_views()


# --- the main window's actions --------------------------------------------------------------
def test_on_image_text_action_and_anonymised_screenshot_actions(qtbot, window, tmp_path) -> None:
    from interval.ui.overlay_actions import mpr_views, save_anonymised_screenshot

    action = window.actions_by_id["overlay_text"]
    assert action.isCheckable() and action.isChecked() and action.shortcut().toString() == "T"
    views = mpr_views(window)
    assert len(views) == 3 and all(v.overlay_text_visible for v in views)
    action.trigger()
    assert not any(v.overlay_text_visible for v in views)
    action.trigger()
    assert all(v.overlay_text_visible for v in views)
    file_ids = [a.objectName() for a in window.menuBar().actions()[0].menu().actions()]
    at = file_ids.index("screenshot_layout")
    assert file_ids[at + 1: at + 3] == ["screenshot_view_anonymised",
                                        "screenshot_layout_anonymised"]
    window.state.add_volume(_volume())
    path = save_anonymised_screenshot(window, "layout", tmp_path / "views.png")
    image = QImage(str(path))
    assert (image.width(), image.height()) == (window.views.width(), window.views.height())
    assert not any(v.anonymised for v in views)


def test_ruler_colour_is_not_the_crosshair_or_letter_colour() -> None:
    from interval.ui.measure_tools import LINE_COLOUR

    for other in (*VIEW_COLOURS.values(), MARKER_COLOUR, WARNING_COLOUR, TEXT_COLOUR):
        assert max(abs(a - b) for a, b in zip(LINE_COLOUR, other, strict=True)) > 0.3


# --- header text is drawn as plain text ------------------------------------------------------
_MATHTEXT_SCRIPT = r'''
import numpy as np
from PySide6.QtWidgets import QApplication
app = QApplication([])
import interval.ui  # noqa: F401
from interval.core.metadata import VolumeMetadata
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.ui.mpr_view import MprView
import vtkmodules.vtkRenderingMatplotlib  # noqa: F401  (VTK's "$...$" formulas)
md = VolumeMetadata(patient_name="Doe^$\\alpha$", study_description="$\\sum_i x_i$")
state = ViewerState()
state.add_volume(Volume(np.zeros((4, 16, 16), np.int16), metadata=md))
view = MprView(state, "axial")
view.resize(300, 300)
view.show()
view.capture()
print("SHOWN", "\n".join(view.shown_texts()).replace("\n", "|"))
view.close_view()
'''


def test_dollar_signs_in_headers_are_not_drawn_as_formulas(tmp_path) -> None:
    """With VTK's MathText module loaded (a plugin may load it), "$...$" in a header
    would be drawn as a formula; the view escapes it, so the text is drawn as it is."""
    import os
    import subprocess
    import sys

    pytest.importorskip("matplotlib")
    script = tmp_path / "mathtext_probe.py"
    script.write_text(_MATHTEXT_SCRIPT)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SHOWN Doe, $\\alpha$|$\\sum_i x_i$|" in done.stdout
    assert "MathText" not in done.stderr  # VTK warns when it draws a formula


def test_corner_actors_hold_escaped_dollars(qtbot) -> None:
    state = ViewerState()
    md = VolumeMetadata(study_description="Cost $5 $6")
    state.add_volume(Volume(np.zeros((4, 16, 16), np.int16), metadata=md))
    view = make_view(qtbot, state, "axial")
    assert view.overlays.corners["top_left"].GetInput() == "Cost \\$5 \\$6"
    assert "Cost $5 $6" in view.shown_texts()
    view.close_view()


def test_real_dicom_series_shows_its_header_and_slice_thickness(qtbot, tmp_path) -> None:
    """A pydicom-written CT series: the DICOM SliceThickness (2.5 mm, slices 3 mm apart)
    in the plane of the slices, the spacing in the reformatted planes."""
    from interval.io.dicom.load import load_dicom
    from tests.cli.dicom_factory import write_ct_series

    write_ct_series(tmp_path / "ct", n=5, positions_z=(0.0, 3.0, 6.0, 9.0, 12.0),
                    patient_name="Roe^Richard", patient_id="RR-1")
    vol = load_dicom(tmp_path / "ct")
    assert vol.metadata.extra["slice_thickness"] == pytest.approx(2.5)
    state = ViewerState()
    state.add_volume(vol)
    axial = make_view(qtbot, state, "axial")
    texts = axial.corner_texts()
    assert texts.top_left.splitlines()[:2] == ["Roe, Richard", "ID: RR-1"]
    assert texts.top_right.splitlines() == ["Series 3: Axial test", "CT"]
    assert texts.bottom_left.splitlines()[1:] == [
        f"Z: {float(state.crosshair[2]):g} mm", "Thick: 2.5 mm"]
    coronal = make_view(qtbot, state, "coronal")
    assert coronal.corner_texts().bottom_left.splitlines()[2] == "Spacing: 0.6 mm"
    axial.close_view()
    coronal.close_view()
