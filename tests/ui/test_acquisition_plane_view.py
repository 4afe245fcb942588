"""A single oblique image fills its view (not a band); the View menu switches the axes."""

from __future__ import annotations

import numpy as np

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.planes import screen_markers
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.ui.mpr_view import MprView

VIEW_PX = 200


def rot_x(deg: float) -> np.ndarray:
    t = np.radians(deg)
    c, s = np.cos(t), np.sin(t)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def bright_image(slices: int, direction: np.ndarray, n: int = 64) -> Volume:
    """``slices`` of ``n`` x ``n`` voxels of 1 mm (slices 1 mm apart), all 1000."""
    md = VolumeMetadata(modality="CT", units="HU", default_window=WindowLevel(500, 200))
    origin = -direction @ np.array([(n - 1) / 2, (n - 1) / 2, (slices - 1) / 2])
    arr = np.full((slices, n, n), 1000, dtype=np.int16)
    return Volume(arr, (1.0, 1.0, 1.0), tuple(origin), direction, md)


def make_view(qtbot, state: ViewerState, view_id: str) -> MprView:
    view = MprView(state, view_id)
    qtbot.addWidget(view)
    view.resize(VIEW_PX, VIEW_PX)
    view.show()
    qtbot.waitUntil(lambda: tuple(view.vtk.GetRenderWindow().GetSize()) == (VIEW_PX, VIEW_PX))
    view.set_crosshair_visible(False)
    view.set_annotations_visible(False)
    return view


def filled_fraction(view: MprView, vol: Volume) -> float:
    """Share of bright pixels inside the on-screen box of the image's four corners."""
    frame = view.capture()
    ni, nj, _ = vol.size_ijk
    corners = vol.index_to_lps(
        np.array([[i, j, 0.0] for i in (-0.5, ni - 0.5) for j in (-0.5, nj - 0.5)])
    )
    xy = np.array([view.lps_to_display(c) for c in corners])
    x0, x1 = int(np.ceil(xy[:, 0].min())) + 1, int(np.floor(xy[:, 0].max())) - 1
    r0, r1 = int(np.ceil(xy[:, 1].min())) + 1, int(np.floor(xy[:, 1].max())) - 1
    assert x1 - x0 > VIEW_PX // 2 and r1 - r0 > VIEW_PX // 4, "the image box is on screen"
    box = frame[max(r0, 0) : min(r1, VIEW_PX), max(x0, 0) : min(x1, VIEW_PX), 0]
    return float((box >= 128).mean())


def test_single_oblique_image_fills_its_view(qtbot) -> None:
    """One axial image with a 5.5 degree gantry tilt: whole in the axial view by default;
    with patient axes the axial view cuts it to a band (1 mm / sin 5.5 deg = 10 mm of 64)."""
    state = ViewerState()
    vol = bright_image(1, rot_x(5.5))
    state.add_volume(vol)
    assert state.view_axes_mode == "volume"
    view = make_view(qtbot, state, "axial")
    assert filled_fraction(view, vol) > 0.97
    state.use_patient_axes()
    assert filled_fraction(view, vol) < 0.4
    state.rotate_to_volume_plane()
    assert filled_fraction(view, vol) > 0.97
    assert view.markers() == screen_markers(state.plane("axial"))


def test_markers_follow_the_aligned_view_direction(qtbot) -> None:
    state = ViewerState()
    state.add_volume(bright_image(5, rot_x(20.0), n=100))  # 5 mm across 100 mm: thin
    axial = make_view(qtbot, state, "axial")
    sagittal = make_view(qtbot, state, "sagittal")
    assert axial.markers() == screen_markers(state.plane("axial"))
    assert axial.markers() == {"left": "R", "right": "L", "top": "AI", "bottom": "PS"}
    assert sagittal.markers() == screen_markers(state.plane("sagittal"))
    assert sagittal.markers()["top"] == "SA"
    state.use_patient_axes()
    assert axial.markers() == {"left": "R", "right": "L", "top": "A", "bottom": "P"}


def test_view_menu_axes_actions_follow_and_set_the_state(window) -> None:
    ids = window.actions_by_id
    volume_action, patient_action = ids["rotate_to_volume_plane"], ids["patient_axes"]
    assert not volume_action.isEnabled()  # nothing shown yet
    state = window.state
    single = state.add_volume(bright_image(1, rot_x(5.5)), name="tilted")
    assert volume_action.isEnabled() and volume_action.isChecked() and not patient_action.isChecked()
    patient_action.trigger()
    assert state.view_axes_mode == "patient" and state.view("axial").right is None
    assert patient_action.isChecked() and not volume_action.isChecked()
    thick = state.add_volume(bright_image(60, np.eye(3)), name="thick")
    state.set_active_volume(thick)
    assert patient_action.isChecked()
    volume_action.trigger()
    assert state.view_axes_choice(thick) == "volume" and volume_action.isChecked()
    state.set_active_volume(single)  # its own choice comes back, and the menu shows it
    assert state.view_axes_mode == "patient" and patient_action.isChecked()
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    assert {volume_action, patient_action} <= set(view_menu.actions())
