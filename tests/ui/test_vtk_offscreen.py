"""Headless VTK inside Qt: the window recipe, frame read-back, numpy <-> vtkImageData."""

from __future__ import annotations

import os

import numpy as np
import pytest
import vtkmodules.qt
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkRenderingCore import vtkRenderer

from interval.core.volume import Volume
from interval.ui import vtk_setup
from interval.ui.frame_capture import capture
from interval.ui.vtk_image import image_array, mark_modified, numpy_to_image, volume_to_image
from interval.ui.vtk_widget import make_offscreen_render_window

from .conftest import VIEW_H, VIEW_W

# The suite runs headless (tests/conftest.py sets QT_QPA_PLATFORM=offscreen); run with
# QT_QPA_PLATFORM=xcb under xvfb-run to check the on-screen recipe with the same tests.
OFFSCREEN = vtk_setup.is_offscreen()


def test_setup_selects_window_class_and_qwidget_base() -> None:
    assert vtkmodules.qt.QVTKRWIBase == "QWidget"
    if OFFSCREEN:
        # EGL by default; VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow selects OSMesa
        wanted = os.environ["VTK_DEFAULT_OPENGL_WINDOW"]
        assert wanted in ("vtkEGLRenderWindow", "vtkOSOpenGLRenderWindow")
        assert vtk_setup.offscreen_window_class().__name__ == wanted
    else:
        assert vtk_setup.is_x11()


def test_widget_window_matches_the_platform(vtk_widget) -> None:
    rw = vtk_widget.GetRenderWindow()
    assert vtk_widget.offscreen == OFFSCREEN
    if OFFSCREEN:
        assert rw.GetOffScreenRendering() == 1
        assert rw.IsA(vtk_setup.offscreen_window_class().__name__)
        rw.SetWindowInfo("12345")  # what QVTKRenderWindowInteractor does with winId(): ignored
    else:
        assert rw.IsA("vtkXOpenGLRenderWindow")
        window_id = rw.GetGenericWindowId()  # a SWIG-style pointer string "_<hex>_p_void"
        assert int(window_id.split("_")[1], 16) == int(vtk_widget.winId())
    ren = vtk_widget.add_renderer()
    ren.SetBackground(1.0, 0.0, 0.0)
    assert (vtk_widget.capture() == (255, 0, 0)).all()


def test_capture_has_widget_size_and_exact_background(vtk_widget) -> None:
    ren = vtk_widget.add_renderer()
    ren.SetBackground(0.2, 0.4, 0.6)
    frame = vtk_widget.capture()
    assert frame.shape == (VIEW_H, VIEW_W, 3)
    assert frame.dtype == np.uint8
    assert (frame == (51, 102, 153)).all()


def test_capture_rows_are_top_down(vtk_widget) -> None:
    top, bottom = vtkRenderer(), vtkRenderer()
    top.SetViewport(0.0, 0.5, 1.0, 1.0)
    top.SetBackground(1.0, 0.0, 0.0)
    bottom.SetViewport(0.0, 0.0, 1.0, 0.5)
    bottom.SetBackground(0.0, 0.0, 1.0)
    vtk_widget.add_renderer(top)
    vtk_widget.add_renderer(bottom)
    frame = vtk_widget.capture()
    assert (frame[: VIEW_H // 2 - 1] == (255, 0, 0)).all()
    assert (frame[VIEW_H // 2 + 1 :] == (0, 0, 255)).all()


def test_widget_resize_changes_frame_size(vtk_widget, qtbot) -> None:
    vtk_widget.add_renderer().SetBackground(0.0, 1.0, 0.0)
    vtk_widget.resize(120, 90)
    qtbot.waitUntil(lambda: tuple(vtk_widget.GetRenderWindow().GetSize()) == (120, 90))
    frame = vtk_widget.capture()
    assert frame.shape == (90, 120, 3)
    assert (frame == (0, 255, 0)).all()


def test_standalone_offscreen_window_without_qt() -> None:
    rw = make_offscreen_render_window()
    rw.SetSize(64, 32)
    ren = vtkRenderer()
    ren.SetBackground(0.0, 0.0, 1.0)
    rw.AddRenderer(ren)
    frame = capture(rw)
    assert frame.shape == (32, 64, 3)
    assert (frame == (0, 0, 255)).all()
    rw.Finalize()


# --- numpy -> vtkImageData ---------------------------------------------------------------


def _oblique_volume() -> Volume:
    a = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    c, s = np.cos(0.3), np.sin(0.3)
    direction = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([1, -1, -1])
    return Volume(a, spacing=(0.5, 0.75, 2.0), origin=(10.0, -20.0, 30.0), direction=direction)


def test_image_shares_memory_with_volume() -> None:
    vol = _oblique_volume()
    image = volume_to_image(vol)
    scalars = vtk_to_numpy(image.GetPointData().GetScalars())
    assert np.shares_memory(scalars, vol.array)
    assert image_array(image) is vol.array
    vol.array[2, 3, 4] = 999
    mark_modified(image)
    assert image.GetScalarComponentAsDouble(4, 3, 2, 0) == 999


def test_image_geometry_matches_volume() -> None:
    vol = _oblique_volume()
    image = volume_to_image(vol)
    assert image.GetDimensions() == vol.size_ijk
    assert image.GetSpacing() == vol.spacing
    assert image.GetOrigin() == vol.origin
    for ijk in [(0, 0, 0), (5, 4, 3), (2, 1, 3)]:
        expected = vol.index_to_lps(ijk)
        got = [0.0, 0.0, 0.0]
        image.TransformContinuousIndexToPhysicalPoint([float(v) for v in ijk], got)
        np.testing.assert_allclose(got, expected, atol=1e-9)
        assert image.GetScalarComponentAsDouble(*ijk, 0) == vol.array[ijk[2], ijk[1], ijk[0]]


def test_image_refuses_hidden_copies() -> None:
    a = np.zeros((4, 5, 6), np.int16)
    with pytest.raises(ValueError, match="contiguous"):
        numpy_to_image(a[:, :, ::2])
    with pytest.raises(ValueError, match="3-D"):
        numpy_to_image(np.zeros((5, 6), np.int16))


def test_bool_mask_is_viewed_as_uint8() -> None:
    mask = np.zeros((2, 3, 4), bool)
    mask[1, 2, 3] = True
    image = numpy_to_image(mask)
    assert image.GetScalarTypeAsString() == "unsigned char"
    assert np.shares_memory(vtk_to_numpy(image.GetPointData().GetScalars()), mask)
    assert image.GetScalarComponentAsDouble(3, 2, 1, 0) == 1


def _drag(widget) -> None:
    """Left-button drag sent as Qt events (QTest.mouseMove sends no event offscreen)."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    steps = [
        (QEvent.Type.MouseButtonPress, QPointF(100, 100), left, left),
        (QEvent.Type.MouseMove, QPointF(130, 115), none, left),
        (QEvent.Type.MouseMove, QPointF(160, 130), none, left),
        (QEvent.Type.MouseButtonRelease, QPointF(160, 130), left, none),
    ]
    for kind, pos, button, buttons in steps:
        event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)


def test_passive_interaction_keeps_the_camera(vtk_widget) -> None:
    from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera

    ren = vtk_widget.add_renderer()
    cam = ren.GetActiveCamera()
    vtk_widget.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
    start = cam.GetPosition()
    _drag(vtk_widget)  # a camera style rotates: proves the drag reaches VTK
    assert cam.GetPosition() != pytest.approx(start)
    vtk_widget.set_passive_interaction()
    moved = cam.GetPosition()
    seen = []
    vtk_widget.AddObserver("MouseMoveEvent", lambda *_: seen.append(1))
    _drag(vtk_widget)
    assert cam.GetPosition() == pytest.approx(moved)
    assert len(seen) == 2
