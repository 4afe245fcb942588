"""One slice of a volume rendered off-screen and read back, as ``interval --self-test`` does.

The frame goes through the viewer's own :class:`~interval.ui.slice_view.SliceView`
(reslice, DICOM window/level, grey table) into a VTK render window that draws
off-screen on every platform (EGL or OSMesa without a display), so nothing appears on
the screen.  :func:`start_qt` first makes sure Qt itself starts: with Qt's
``offscreen`` platform when there is no display.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from interval.core.metadata import WindowLevel
from interval.core.volume import Volume

_APP: object = None  # the QApplication this module made (kept alive for the process)


def no_display() -> bool:
    """Whether this is Linux with neither an X11 nor a Wayland display."""
    return sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def start_qt() -> str:
    """Start Qt (a QApplication, unless one runs already) and return its platform name.

    Without a display ``QT_QPA_PLATFORM`` is set to ``offscreen`` first (only when no
    QApplication exists yet: the platform cannot change afterwards).
    """
    global _APP
    from PySide6.QtCore import QCoreApplication

    if QCoreApplication.instance() is None and no_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from interval.ui import vtk_setup

    vtk_setup.configure()
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    if QCoreApplication.instance() is None:
        _APP = QApplication(["interval"])
    return QGuiApplication.platformName()


@dataclass(frozen=True)
class RenderedSlice:
    """A frame (``(h, w, 3)`` uint8, row 0 at the top), where the asked points fell on it
    (``(x, row)`` each) and the window/level it was drawn with."""

    frame: np.ndarray
    points: list[tuple[float, float]]
    window: WindowLevel


def render_middle_slice(volume: Volume, points_lps: Sequence[Sequence[float]], *,
                        size: tuple[int, int] = (160, 160)) -> RenderedSlice:
    """Draw the middle axial slice of ``volume`` fitted to ``size`` (w, h) pixels, with the
    volume's own window (its DICOM window, else its value range), and read it back."""
    from vtkmodules.vtkRenderingCore import vtkRenderer

    from interval.ui.frame_capture import capture
    from interval.ui.slice_view import SliceView

    window = _offscreen_window()
    window.SetSize(*size)
    renderer = vtkRenderer()
    window.AddRenderer(renderer)
    view = SliceView(renderer, "axial")
    try:
        view.set_volume(volume)
        frame = capture(window)
        points = [view.world_to_display(p) for p in points_lps]
        return RenderedSlice(frame, points, view.window_level)
    finally:
        view.close()
        window.Finalize()


def _offscreen_window():  # -> vtkRenderWindow
    from interval.ui import vtk_setup
    from interval.ui.vtk_widget import make_offscreen_render_window

    if vtk_setup.is_offscreen():
        return make_offscreen_render_window()
    from vtkmodules.vtkRenderingCore import vtkRenderWindow

    window = vtkRenderWindow()  # the platform's window, drawing into an off-screen buffer
    window.SetOffScreenRendering(1)
    window.SetMultiSamples(0)
    return window
