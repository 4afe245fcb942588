"""Qt widgets and VTK views over the core state.

Import :mod:`interval.ui.vtk_setup` (done here) before any VTK render window or
Qt widget exists: it picks the OpenGL window class for headless runs.
"""

from interval.ui import vtk_setup as _vtk_setup  # noqa: F401  (side effect: configure first)
