"""ViewLayout: 1x1 / 1x3 / 2x2 arrangement, double-click maximise/restore, screenshot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import interval.ui.view_layout as view_layout_module
from interval.core.viewer_state import ViewerState
from interval.io.synthetic.phantom import generate_phantom
from interval.ui.view_layout import ViewLayout

from ..conftest import REPO_ROOT
from .test_mpr_view import send_mouse

ARTIFACTS = REPO_ROOT / "test-artifacts"


def _layout(qtbot, state: ViewerState, w: int = 600, h: int = 500) -> ViewLayout:
    lay = ViewLayout(state)
    qtbot.addWidget(lay)
    lay.resize(w, h)
    lay.show()
    qtbot.waitUntil(lambda: lay.views["axial"].isVisible())
    return lay


def _shown(lay: ViewLayout) -> set[str]:
    out = {vid for vid, v in lay.views.items() if v.isVisible()}
    if lay._view_3d is not None and lay._view_3d.isVisible():
        out.add("3d")
    return out


def test_layouts_and_double_click_maximise(qtbot, monkeypatch) -> None:
    # Without a 3-D module the slot shows a placeholder.
    real_import = view_layout_module.importlib.import_module

    def no_3d(name: str):
        if name == "interval.ui.view_3d":
            raise ImportError(name)
        return real_import(name)

    monkeypatch.setattr(view_layout_module.importlib, "import_module", no_3d)
    state = ViewerState()
    lay = _layout(qtbot, state)
    assert state.layout == "1x3" and _shown(lay) == {"axial", "coronal", "sagittal"}
    geo = {k: v.geometry() for k, v in lay.views.items()}
    assert geo["axial"].x() < geo["coronal"].x() < geo["sagittal"].x()
    assert geo["axial"].y() == geo["coronal"].y() == geo["sagittal"].y()

    lay.set_layout("2x2")
    qtbot.waitUntil(lambda: lay.view_3d.isVisible())
    assert _shown(lay) == {"axial", "coronal", "sagittal", "3d"}
    assert lay.view_3d.text() == "3-D view"
    g3 = lay.view_3d.geometry()
    assert (
        g3.x() > lay.views["sagittal"].geometry().x()
        and g3.y() > lay.views["coronal"].geometry().y()
    )

    send_mouse(lay.views["coronal"].vtk, "double", 20, 20)
    assert state.layout == "1x1" and state.focused_view == "coronal"
    qtbot.waitUntil(lambda: _shown(lay) == {"coronal"})
    qtbot.waitUntil(lambda: lay.views["coronal"].width() > 500)
    send_mouse(lay.views["coronal"].vtk, "double", 20, 20)
    assert state.layout == "2x2"
    qtbot.waitUntil(lambda: _shown(lay) == {"axial", "coronal", "sagittal", "3d"})

    send_mouse(lay.view_3d, "double", 20, 20)  # the 3-D slot maximises too
    assert state.layout == "1x1" and state.focused_view == "3d"
    qtbot.waitUntil(lambda: _shown(lay) == {"3d"})
    send_mouse(lay.view_3d, "double", 20, 20)
    assert state.layout == "2x2"

    state.set_layout("1x1", "sagittal")
    qtbot.waitUntil(lambda: _shown(lay) == {"sagittal"})
    lay.toggle_maximise("sagittal")
    assert state.layout == "2x2"
    lay.close_views()


def test_2x2_screenshot_of_a_generated_series(qtbot) -> None:
    phantom = generate_phantom(seed=2, shape=(40, 96, 96))
    state = ViewerState()
    state.set_layout("2x2")
    lay = _layout(qtbot, state, 640, 560)
    state.add_volume(phantom.ct_volume(), name="phantom")
    qtbot.waitUntil(lambda: _shown(lay) == {"axial", "coronal", "sagittal", "3d"})
    qtbot.waitUntil(lambda: lay.views["sagittal"].vtk.GetRenderWindow().GetSize()[0] > 250)
    frame = lay.capture()
    assert frame.shape == (560, 640, 3)
    for vid in ("axial", "coronal", "sagittal"):
        g = lay.views[vid].geometry()
        tile = frame[g.y() : g.y() + g.height(), g.x() : g.x() + g.width()]
        assert tile.mean() > 20, f"{vid} view is empty"
        assert (tile == lay.views[vid].capture()).all()
    ARTIFACTS.mkdir(exist_ok=True)
    path: Path = ARTIFACTS / "view_layout_2x2.png"
    Image.fromarray(np.ascontiguousarray(frame)).save(path)
    assert path.stat().st_size > 1000
    lay.close_views()
