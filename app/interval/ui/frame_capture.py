"""Read rendered frames back from a VTK render window as numpy arrays."""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkRenderingCore import vtkRenderWindow, vtkWindowToImageFilter


def capture(render_window: vtkRenderWindow, *, render: bool = True) -> np.ndarray:
    """The window's frame as ``(h, w, 3)`` uint8 with row 0 at the top.

    Renders first unless ``render`` is False.  Works for on-screen and off-screen
    windows alike (reads the back buffer, so it is independent of window exposure).
    """
    if render:
        render_window.Render()
    grab = vtkWindowToImageFilter()
    grab.SetInput(render_window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.ShouldRerenderOff()
    grab.Update()
    image = grab.GetOutput()
    w, h, _ = image.GetDimensions()
    pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(h, w, -1)
    return np.ascontiguousarray(pixels[::-1, :, :3])
