"""Process-wide VTK/Qt settings; import this before any VTK window or Qt widget exists.

Two ways to run:

* **On a display** (X11, or Wayland through XWayland): VTK's window for the platform
  (``vtkXOpenGLRenderWindow`` on Linux) is embedded in the Qt widget through its
  window id, as ``QVTKRenderWindowInteractor`` does.
* **Offscreen** (``QT_QPA_PLATFORM=offscreen``, or Linux with neither ``DISPLAY`` nor
  ``WAYLAND_DISPLAY``): Qt has no native windows, so VTK renders into its own
  off-screen surface through EGL (Mesa llvmpipe on a CPU-only machine, the GPU's EGL
  where there is one) and frames are read back with ``vtkWindowToImageFilter``.
  ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow`` makes the ``vtkRenderWindow()``
  factory agree.  ``vtkOSOpenGLRenderWindow`` (OSMesa) is the fallback when EGL has no
  usable display and libOSMesa is installed.

Why ``QVTKRWIBase = "QWidget"``: with the ``offscreen`` Qt platform ``QOpenGLWidget``
is unsupported ("QOpenGLWidget is not supported on this platform") and on a real
display VTK's Python widget only embeds through a native window id anyway; the
``QWidget`` base works in both cases.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from functools import cache

OFFSCREEN_ENV = "QT_QPA_PLATFORM"
VTK_WINDOW_ENV = "VTK_DEFAULT_OPENGL_WINDOW"
EGL_WINDOW = "vtkEGLRenderWindow"
OSMESA_WINDOW = "vtkOSOpenGLRenderWindow"


def is_offscreen() -> bool:
    """Whether Qt runs without native windows (headless tests, CI, servers)."""
    platform = os.environ.get(OFFSCREEN_ENV, "").split(":")[0].strip().lower()
    if platform in ("offscreen", "minimal"):
        return True
    if platform:
        return False
    return sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def is_x11() -> bool:
    """Whether Qt draws through X11 (xcb), where VTK embeds an X window."""
    if is_offscreen() or not sys.platform.startswith("linux"):
        return False
    platform = os.environ.get(OFFSCREEN_ENV, "").split(":")[0].strip().lower()
    return platform == "xcb" or (not platform and bool(os.environ.get("DISPLAY")))


def configure() -> None:
    """Set the environment and VTK's Qt binding choices (idempotent, cheap)."""
    if is_offscreen():
        os.environ.setdefault(VTK_WINDOW_ENV, EGL_WINDOW)
    elif (
        sys.platform.startswith("linux")
        and os.environ.get("WAYLAND_DISPLAY")
        and os.environ.get("DISPLAY")
        and not os.environ.get(OFFSCREEN_ENV)
    ):
        # VTK's X11 window cannot be embedded in a native Wayland surface: use XWayland.
        os.environ[OFFSCREEN_ENV] = "xcb"
    import vtkmodules.qt

    vtkmodules.qt.PyQtImpl = "PySide6"
    vtkmodules.qt.QVTKRWIBase = "QWidget"


@cache
def offscreen_window_class() -> type:
    """The VTK render window class for headless rendering.

    ``VTK_DEFAULT_OPENGL_WINDOW`` decides (EGL by default, ``vtkOSOpenGLRenderWindow``
    for OSMesa); OSMesa is also the fallback when there is no libEGL at all.
    """
    import vtkmodules.vtkRenderingOpenGL2 as gl2

    wanted = os.environ.get(VTK_WINDOW_ENV, EGL_WINDOW)
    has_osmesa = ctypes.util.find_library("OSMesa") is not None
    if wanted == OSMESA_WINDOW and has_osmesa:
        return gl2.vtkOSOpenGLRenderWindow
    if ctypes.util.find_library("EGL") is None and has_osmesa:
        return gl2.vtkOSOpenGLRenderWindow
    return gl2.vtkEGLRenderWindow
