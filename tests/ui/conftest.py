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
