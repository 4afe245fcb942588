"""A Qt widget holding a VTK render window, on a real display or headless.

On a display this is VTK's stock ``QVTKRenderWindowInteractor`` (``QWidget`` base).

Headless (``QT_QPA_PLATFORM=offscreen``) the stock widget hands VTK the Qt window id
through ``SetWindowInfo``; the offscreen Qt platform has no native window behind that
id, and an EGL window given a foreign id treats it as "external" and never creates
its own GL context (garbage frames, "Failed to initialize OpenGL functions", or an
abort).  So there the widget is given a render window whose ``SetWindowInfo`` is
ignored, with off-screen rendering switched on; frames are read back with
:func:`interval.ui.frame_capture.capture`, never ``QWidget.grab()``.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from interval.ui import vtk_setup

vtk_setup.configure()

import vtkmodules.vtkInteractionStyle  # noqa: E402,F401  (registers interactor styles)
import vtkmodules.vtkRenderingOpenGL2  # noqa: E402,F401  (registers the OpenGL factories)
from vtkmodules.qt.QVTKRenderWindowInteractor import (  # noqa: E402
    QVTKRenderWindowInteractor,
)
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleUser  # noqa: E402
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow  # noqa: E402

from interval.ui.frame_capture import capture  # noqa: E402


def _ignore_window_info(self: vtkRenderWindow, info: str) -> None:
    """Drop the Qt window id: the off-screen window must make its own GL context."""


@cache
def _offscreen_render_window_type() -> type:
    base = vtk_setup.offscreen_window_class()
    return type(f"Offscreen{base.__name__}", (base,), {"SetWindowInfo": _ignore_window_info})


def _prepare(rw: vtkRenderWindow) -> vtkRenderWindow:
    rw.SetMultiSamples(0)  # exact pixels: no multisample blur on image edges
    return rw


def make_offscreen_render_window() -> vtkRenderWindow:
    """A render window that draws off-screen and ignores any native window id."""
    rw = _offscreen_render_window_type()()
    rw.SetOffScreenRendering(1)
    return _prepare(rw)


def make_onscreen_render_window() -> vtkRenderWindow:
    """The platform's window for embedding in a native Qt window.

    On X11 this is ``vtkXOpenGLRenderWindow`` even when ``VTK_DEFAULT_OPENGL_WINDOW``
    names EGL (an EGL window given an X window id would not render).
    """
    if vtk_setup.is_x11():
        from vtkmodules.vtkRenderingOpenGL2 import vtkXOpenGLRenderWindow

        return _prepare(vtkXOpenGLRenderWindow())
    return _prepare(vtkRenderWindow())


class VtkWidget(QVTKRenderWindowInteractor):
    """A ``QVTKRenderWindowInteractor`` that also works with the offscreen Qt platform."""

    def __init__(self, parent: object = None, **kw: object) -> None:
        self._offscreen = vtk_setup.is_offscreen()
        if "rw" not in kw:
            kw["rw"] = (
                make_offscreen_render_window() if self._offscreen else make_onscreen_render_window()
            )
        super().__init__(parent, **kw)
        self._initialized = False

    def showEvent(self, event: object) -> None:  # noqa: N802  (Qt override)
        """Initialise the VTK interactor the first time the widget is shown."""
        super().showEvent(event)
        if not self._initialized:
            self._initialized = True
            self.Initialize()

    def set_passive_interaction(self) -> None:
        """Mouse and keys no longer move the camera (for views that own their camera,
        like :class:`~interval.ui.slice_view.SliceView`); observers still get the events."""
        self._Iren.SetInteractorStyle(vtkInteractorStyleUser())

    @property
    def offscreen(self) -> bool:
        """Whether VTK renders off-screen (no native window behind the widget)."""
        return self._offscreen

    @property
    def render_window(self) -> vtkRenderWindow:
        return self.GetRenderWindow()

    def add_renderer(self, renderer: vtkRenderer | None = None) -> vtkRenderer:
        """Add (or create and add) a renderer to the render window and return it."""
        renderer = renderer or vtkRenderer()
        self.GetRenderWindow().AddRenderer(renderer)
        return renderer

    def render_now(self) -> None:
        """Render synchronously (``Render()`` only schedules a Qt paint)."""
        self.GetRenderWindow().Render()

    def capture(self) -> np.ndarray:
        """The current frame as ``(h, w, 3)`` uint8, rows top-down."""
        return capture(self.GetRenderWindow())
