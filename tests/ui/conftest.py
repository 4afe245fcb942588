"""Fixtures for headless VTK/Qt tests (QT_QPA_PLATFORM=offscreen from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import interval.ui  # noqa: F401  (configures VTK before any window exists)
from interval.ui.vtk_widget import VtkWidget

VIEW_W, VIEW_H = 240, 200


@pytest.fixture
def vtk_widget(qtbot) -> Iterator[VtkWidget]:
    """A shown :class:`VtkWidget` of ``VIEW_W`` x ``VIEW_H`` pixels."""
    widget = VtkWidget()
    qtbot.addWidget(widget)
    widget.resize(VIEW_W, VIEW_H)
    widget.show()
    qtbot.waitUntil(lambda: tuple(widget.GetRenderWindow().GetSize()) == (VIEW_W, VIEW_H))
    yield widget
    widget.Finalize()


@pytest.fixture
def config_dir(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A fresh settings folder for the test (the user's real settings are never read)."""
    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


@pytest.fixture
def window(qtbot, config_dir):
    """A shown 1200x760 main window with fresh settings; shut down after the test."""
    from interval.ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1200, 760)
    w.show()
    yield w
    w.shutdown()
