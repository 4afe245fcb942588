"""Start the viewer: one QApplication, the main window, optionally a path to open."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from interval.ui import vtk_setup

vtk_setup.configure()  # before any Qt widget or VTK window exists

from PySide6.QtWidgets import QApplication  # noqa: E402


def application() -> QApplication:
    """The process's QApplication (created on first use, reused after)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Interval")
        app.setOrganizationName("Interval")
    return app  # type: ignore[return-value]


def create_window(path: str | None = None, segmentations: dict[str, Path] | None = None):
    """A shown :class:`MainWindow`, opening ``path`` in the background when given.

    ``segmentations`` (series instance UID -> label file) are added as layers whenever
    their series is loaded (:meth:`MainWindow.attach_segmentation`).
    """
    from interval.ui.main_window import MainWindow

    application()
    window = MainWindow()
    window.show()
    for series_uid, seg in (segmentations or {}).items():
        window.attach_segmentation(series_uid, seg)
    if path:
        window.open_path(path)
    return window


def run_viewer(path: str | None = None, segmentations: dict[str, Path] | None = None) -> int:
    """Show the viewer (opening ``path`` if given) and run until it is closed."""
    start = time.perf_counter()
    app = application()
    window = create_window(path, segmentations)
    window.startup_seconds = time.perf_counter() - start
    try:
        return int(app.exec())
    finally:
        from shiboken6 import isValid

        if isValid(window):  # closing it already did this; quitting otherwise did not
            window.shutdown()
