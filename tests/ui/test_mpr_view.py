"""MprView pixels read back headless: slice stepping, W/L drag, orientation, crosshair."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.planes import view_plane
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.io.synthetic.phantom import generate_phantom
from interval.ui.interaction import page_size, window_drag, window_sensitivity
from interval.ui.mpr_view import MARKER_COLOUR, VIEW_COLOURS, MprView
from interval.ui.slice_view import dicom_linear_grey

VIEW_PX = 200


# --- helpers ---------------------------------------------------------------------------------
def make_view(qtbot, state: ViewerState, view_id: str, size: int = VIEW_PX) -> MprView:
    view = MprView(state, view_id)
    qtbot.addWidget(view)
    view.resize(size, size)
    view.show()
    qtbot.waitUntil(lambda: tuple(view.vtk.GetRenderWindow().GetSize()) == (size, size))
    return view


def send_mouse(widget, kind, x: float, y: float, button=Qt.MouseButton.LeftButton) -> None:
    types = {
        "press": QMouseEvent.Type.MouseButtonPress,
        "move": QMouseEvent.Type.MouseMove,
        "release": QMouseEvent.Type.MouseButtonRelease,
        "double": QMouseEvent.Type.MouseButtonDblClick,
    }
    held = Qt.MouseButton.NoButton if kind == "release" else button
    pos = QPointF(x, y)
    ev = QMouseEvent(
        types[kind], pos, widget.mapToGlobal(pos), button, held, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, ev)


def send_wheel(widget, delta_y: int) -> None:
    pos = QPointF(50, 50)
    ev = QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, delta_y),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, ev)


def send_key(widget, key: Qt.Key) -> None:
    QApplication.sendEvent(
        widget, QKeyEvent(QKeyEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier)
    )


def grey_at(frame: np.ndarray, view: MprView, lps) -> np.ndarray:
    x, row = view.lps_to_display(lps)
    return frame[int(row), int(x)].astype(int)


# --- slice stepping ----------------------------------------------------------------------------
def _ramp_volume() -> Volume:
    """20 axial slices of 32 x 32 voxels; slice k holds 10 * k HU everywhere."""
    a = np.repeat((np.arange(20, dtype=np.int16) * 10)[:, None, None], 32, axis=1)
    a = np.repeat(a, 32, axis=2)
    md = VolumeMetadata(modality="CT", units="HU", default_window=WindowLevel(95, 256))
    return Volume(a, spacing=(1.0, 1.0, 2.0), origin=(-16.0, -16.0, -20.0), metadata=md)


def test_slice_index_follows_wheel_and_keys(qtbot) -> None:
    state = ViewerState()
    vol = _ramp_volume()
    state.add_volume(vol)
    view = make_view(qtbot, state, "axial")
    probe_ijk = (6.0, 6.0)  # away from the crosshair lines through the centre

    def shown_slice() -> int:
        """The slice whose HU is rendered at the probe (grey = HU + 33 under W/L 95/256)."""
        k = state.slice_index("axial")
        frame = view.capture()
        g = grey_at(frame, view, vol.index_to_lps((*probe_ijk, k)))
        assert g[0] == g[1] == g[2]
        candidates = [
            s for s in range(20) if abs(int(dicom_linear_grey(10 * s, 95, 256)) - g[0]) <= 1
        ]
        assert len(candidates) == 1, g
        return candidates[0]

    start = state.slice_index("axial")
    assert start == 9 and shown_slice() == 9
    send_wheel(view.vtk, -120)  # towards the user: next slice
    assert state.slice_index("axial") == 10 and shown_slice() == 10
    send_wheel(view.vtk, 240)  # two notches away: two slices back
    assert state.slice_index("axial") == 8 and shown_slice() == 8
    send_key(view.vtk, Qt.Key.Key_Down)
    assert shown_slice() == 9
    send_key(view.vtk, Qt.Key.Key_Up)
    send_key(view.vtk, Qt.Key.Key_Up)
    assert shown_slice() == 7
    send_key(view.vtk, Qt.Key.Key_PageDown)
    assert page_size(20) == 2 and shown_slice() == 9
    send_key(view.vtk, Qt.Key.Key_PageUp)
    send_key(view.vtk, Qt.Key.Key_PageUp)
    assert shown_slice() == 5
    send_key(view.vtk, Qt.Key.Key_End)
    assert shown_slice() == 19
    send_wheel(view.vtk, -120)  # clamped at the last slice
    assert shown_slice() == 19
    send_key(view.vtk, Qt.Key.Key_Home)
    assert shown_slice() == 0
    assert view.corner_texts().bottom_left.splitlines()[0] == "Axial  1/20  (k 0)"


# --- window / level ------------------------------------------------------------------------------
def _block_volume() -> Volume:
    """Background 0 HU with a 120 HU block in the upper-left quarter of every axial slice."""
    a = np.zeros((10, 40, 40), np.int16)
    a[:, 2:18, 2:18] = 120
    a[0, 0, 0] = -1000  # a realistic CT range for the drag sensitivity
    a[0, 0, 1] = 2000
    md = VolumeMetadata(modality="CT", units="HU", default_window=WindowLevel(40, 400))
    return Volume(a, spacing=(1.0, 1.0, 3.0), origin=(0.0, 0.0, 0.0), metadata=md)


def test_left_drag_changes_grey_of_known_region_as_dicom_formula(qtbot) -> None:
    state = ViewerState()
    vol = _block_volume()
    vid = state.add_volume(vol)
    view = make_view(qtbot, state, "axial")
    probe = vol.index_to_lps((10.0, 10.0, state.slice_index("axial")))
    before = grey_at(view.capture(), view, probe)
    assert abs(before[0] - int(dicom_linear_grey(120, 40, 400))) <= 1  # 179

    x0, y0, dx, dy = 150.0, 150.0, -60.0, 40.0
    send_mouse(view.vtk, "press", x0, y0)
    send_mouse(view.vtk, "move", x0 + dx / 2, y0 + dy / 2)
    send_mouse(view.vtk, "move", x0 + dx, y0 + dy)
    send_mouse(view.vtk, "release", x0 + dx, y0 + dy)

    k = window_sensitivity(-1000, 2000)
    c, w = window_drag(40, 400, dx, dy, k)
    assert (c, w) == pytest.approx((40 + 40 * 3.0, 400 - 60 * 3.0))  # level up, narrower
    wl = state.window(vid)
    assert (wl.center, wl.width) == pytest.approx((c, w))
    assert state.crosshair == pytest.approx(
        tuple(vol.index_to_lps((19, 19, 4)))
    )  # a drag is no click
    after = grey_at(view.capture(), view, probe)
    expected = int(dicom_linear_grey(120, c, w))  # ((120 - 159.5) / 219 + 0.5) * 255 = 81
    assert after[0] == after[1] == after[2]
    assert abs(after[0] - expected) <= 1 and abs(after[0] - before[0]) > 50
    assert view.corner_texts().bottom_right.splitlines()[0] == f"W/L {round(w)}/{round(c)}"  # CT: whole HU

    send_key(view.vtk, Qt.Key.Key_I)  # invert
    inverted = grey_at(view.capture(), view, probe)
    assert state.layer(vid).invert and abs(inverted[0] - (255 - expected)) <= 1


def test_right_drag_zooms_and_middle_drag_pans(qtbot) -> None:
    state = ViewerState()
    vol = _block_volume()
    state.add_volume(vol)
    view = make_view(qtbot, state, "axial")
    mm_fit = view.slice_view.mm_per_pixel
    send_mouse(view.vtk, "press", 100, 120, Qt.MouseButton.RightButton)
    send_mouse(view.vtk, "move", 100, 50, Qt.MouseButton.RightButton)  # up: zoom in
    send_mouse(view.vtk, "release", 100, 50, Qt.MouseButton.RightButton)
    zoom = state.view("axial").zoom
    assert zoom > 1.5
    assert view.slice_view.mm_per_pixel == pytest.approx(mm_fit / zoom)

    point = view.display_to_lps(80, 90)
    send_mouse(view.vtk, "press", 80, 90, Qt.MouseButton.MiddleButton)
    send_mouse(view.vtk, "move", 110, 70, Qt.MouseButton.MiddleButton)
    send_mouse(view.vtk, "release", 110, 70, Qt.MouseButton.MiddleButton)
    x, row = view.lps_to_display(point)
    assert (x, row) == pytest.approx((110, 70), abs=0.51)  # the image followed the mouse

    send_key(view.vtk, Qt.Key.Key_R)
    assert state.view("axial").zoom == 1.0 and state.view("axial").pan == (0.0, 0.0)
    assert view.slice_view.mm_per_pixel == pytest.approx(mm_fit)


# --- orientation -----------------------------------------------------------------------------------
L_HU, A_HU, S_HU = 1000, 600, 300
WL = WindowLevel(500, 1001)

ACQUISITIONS = {
    # direction columns = LPS directions of the i, j, k axes
    "axial HFS": np.eye(3),
    "axial HFP (prone)": np.diag([-1.0, -1.0, 1.0]),
    "axial FFS": np.diag([-1.0, 1.0, -1.0]),
    "sagittal": np.array([[0.0, 0, -1], [1, 0, 0], [0, -1, 0]]),  # i -> P, j -> I, k -> R
    "coronal": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),  # i -> L, j -> I, k -> P
}


def _marker_volume(direction: np.ndarray) -> Volume:
    """21^3 voxels of 2 mm centred on LPS 0, with blocks at patient left, anterior, superior."""
    n, sp = 21, 2.0
    origin = -direction @ np.full(3, (n - 1) / 2 * sp)
    a = np.zeros((n, n, n), np.int16)
    vol = Volume(a, spacing=(sp, sp, sp), origin=tuple(origin), direction=direction)
    for lps, hu in (((14, 0, 0), L_HU), ((0, -14, 0), A_HU), ((0, 0, 14), S_HU)):
        i, j, k = np.rint(vol.lps_to_index(lps)).astype(int)
        a[k - 1 : k + 2, j - 1 : j + 2, i - 1 : i + 2] = hu
    return vol


def _centroid(frame: np.ndarray, hu: int) -> tuple[float, float]:
    g = int(dicom_linear_grey(hu, WL.center, WL.width))
    grey = (frame[..., 0] == frame[..., 1]) & (frame[..., 1] == frame[..., 2])
    rows, cols = np.nonzero(grey & (np.abs(frame[..., 0].astype(int) - g) <= 1))
    assert len(rows) > 20, f"{hu} HU block not on screen"
    return float(cols.mean()), float(rows.mean())


@pytest.mark.parametrize("acquisition", list(ACQUISITIONS))
def test_orientation_markers_and_anatomy_positions(qtbot, acquisition) -> None:
    state = ViewerState()
    vol = _marker_volume(ACQUISITIONS[acquisition])
    vid = state.add_volume(vol)
    state.set_window(vid, WL.center, WL.width)
    assert state.crosshair == pytest.approx((0.0, 0.0, 0.0))
    expected_letters = {
        "axial": {"left": "R", "right": "L", "top": "A", "bottom": "P"},
        "coronal": {"left": "R", "right": "L", "top": "S", "bottom": "I"},
        "sagittal": {"left": "A", "right": "P", "top": "S", "bottom": "I"},
    }
    mid = VIEW_PX / 2
    for kind in ("axial", "coronal", "sagittal"):
        view = make_view(qtbot, state, kind)
        assert view.markers() == expected_letters[kind]
        view.set_crosshair_visible(False)
        view.set_annotations_visible(False)
        frame = view.capture()
        if kind in ("axial", "coronal"):
            x, _ = _centroid(frame, L_HU)
            assert x > mid + 10, f"{acquisition} {kind}: patient left not on screen right"
        if kind in ("axial", "sagittal"):
            x, row = _centroid(frame, A_HU)
            if kind == "axial":
                assert row < mid - 10, f"{acquisition} axial: anterior not at the top"
            else:
                assert x < mid - 10, f"{acquisition} sagittal: anterior not on screen left"
        if kind in ("coronal", "sagittal"):
            _, row = _centroid(frame, S_HU)
            assert row < mid - 10, f"{acquisition} {kind}: superior not at the top"
        view.close_view()


def test_marker_letters_are_drawn_at_the_edges(qtbot) -> None:
    state = ViewerState()
    state.add_volume(_marker_volume(np.eye(3)))
    view = make_view(qtbot, state, "axial")
    frame = view.capture().astype(int)
    colour = np.array([round(c * 255) for c in MARKER_COLOUR])
    near = np.abs(frame - colour).max(axis=2) <= 40
    rows, cols = np.nonzero(near)
    assert near[:, -25:].sum() > 10  # "L" at the right edge
    assert near[:, :25].sum() > 10  # "R" at the left edge
    assert near[:25, 60:140].sum() > 10  # "A" at the top edge
    # "P" at the bottom, above the slice text when that reaches the middle (a 200 px view)
    assert near[-int(0.4 * frame.shape[0]):, 60:140].sum() > 10
    assert len(rows) < 0.05 * frame.shape[0] * frame.shape[1]


# --- crosshair --------------------------------------------------------------------------------------
def _line_colour(kind: str) -> np.ndarray:
    return np.array([round(c * 255) for c in VIEW_COLOURS[kind]])


def _has_colour(frame: np.ndarray, colour: np.ndarray) -> np.ndarray:
    return np.abs(frame.astype(int) - colour).max(axis=-1) <= 2


def test_click_moves_all_views_to_the_same_lps_point(qtbot) -> None:
    phantom = generate_phantom(seed=1, shape=(40, 96, 96))
    state = ViewerState()
    state.add_volume(phantom.ct_volume())
    views = {k: make_view(qtbot, state, k) for k in ("axial", "coronal", "sagittal")}
    axial_z = views["axial"].slice_view.slice_position

    send_mouse(views["axial"].vtk, "press", 60, 130)
    send_mouse(views["axial"].vtk, "release", 60, 130)
    clicked = views["axial"].display_to_lps(60, 130)
    assert state.crosshair == pytest.approx(tuple(clicked))
    assert views["axial"].slice_view.slice_position == pytest.approx(axial_z)
    for kind, view in views.items():
        normal = view_plane(kind).normal
        assert view.slice_view.slice_position == pytest.approx(float(clicked @ normal), abs=1e-6)
        assert np.allclose(view.slice_view.normal, normal)

    # The click lands on screen at (60, 130) in the axial view; the other views show the
    # crosshair lines through the projection of the same point.
    for kind in ("coronal", "sagittal"):
        view = views[kind]
        frame = view.capture()
        x, row = view.lps_to_display(clicked)
        horizontal = _has_colour(frame, _line_colour("axial"))  # the axial plane's trace
        vertical_kind = "sagittal" if kind == "coronal" else "coronal"
        vertical = _has_colour(frame, _line_colour(vertical_kind))
        line_rows = np.nonzero(horizontal.sum(axis=1) > VIEW_PX // 2)[0]
        line_cols = np.nonzero(vertical.sum(axis=0) > VIEW_PX // 2)[0]
        assert len(line_rows) and abs(line_rows.mean() - row) <= 1.5, (kind, line_rows, row)
        assert len(line_cols) and abs(line_cols.mean() - x) <= 1.5, (kind, line_cols, x)

    # Stepping the coronal view moves the crosshair, so the axial view's line follows.
    state.step_slice("coronal", 3)
    assert views["sagittal"].slice_view.slice_position == pytest.approx(
        float(clicked @ view_plane("sagittal").normal)
    )
    assert views["axial"].slice_view.slice_position == pytest.approx(axial_z)


# --- label layer -------------------------------------------------------------------------------------
def test_label_layer_from_state_is_drawn_and_follows_its_settings(qtbot) -> None:
    from interval.core.labels import LabelInfo, LabelTable

    state = ViewerState()
    vol = _block_volume()
    state.add_volume(vol)
    lab = np.zeros(vol.shape, np.uint8)
    lab[:, 22:36, 22:36] = 3
    lid = state.add_volume(
        vol.with_array(lab, labels=LabelTable([LabelInfo(3, "lesion", (255, 0, 0))]))
    )
    state.set_layer_opacity(lid, 1.0)
    view = make_view(qtbot, state, "axial")
    k = state.slice_index("axial")
    inside, outside = vol.index_to_lps((30.0, 30.0, k)), vol.index_to_lps((10.0, 30.0, k))
    frame = view.capture()
    assert grey_at(frame, view, inside).tolist() == [255, 0, 0]
    g = int(dicom_linear_grey(0, 40, 400))
    assert grey_at(frame, view, outside).tolist() == [g, g, g]
    state.set_label(lid, 3, color=(0, 0, 255))
    assert grey_at(view.capture(), view, inside).tolist() == [0, 0, 255]
    state.set_layer_visible(lid, False)
    assert grey_at(view.capture(), view, inside).tolist() == [g, g, g]
    state.set_layer_visible(lid, True)
    state.set_label_mode(lid, "outline")
    frame = view.capture()
    assert grey_at(frame, view, inside).tolist() == [g, g, g]  # the interior is not filled
    edge = np.array(view.lps_to_display(vol.index_to_lps((21.5, 30.0, k))))  # the block's left edge
    row = frame[int(edge[1]), int(edge[0]) - 3 : int(edge[0]) + 4].tolist()
    assert [0, 0, 255] in row and row.count([0, 0, 255]) <= 2, row


def test_cursor_moves_report_the_lps_point_for_the_status_bar(qtbot) -> None:
    from interval.ui.status_info import status_text

    state = ViewerState()
    vol = _block_volume()
    state.add_volume(vol)
    view = make_view(qtbot, state, "axial")
    k = state.slice_index("axial")
    x, row = view.lps_to_display(vol.index_to_lps((10, 10, k)))
    with qtbot.waitSignal(view.cursor_moved, timeout=2000) as blocker:
        send_mouse(view.vtk, "move", x, row, Qt.MouseButton.NoButton)
    view_id, lps = blocker.args
    assert view_id == "axial"
    assert np.allclose(lps, vol.index_to_lps((10, 10, k)), atol=view.mm_per_pixel)
    assert f"voxel (10, 10, {k}) | 120 HU | W/L 400/40 | zoom 100%" in status_text(
        state, view_id, lps
    )


def test_anisotropic_voxels_are_shown_at_true_aspect(qtbot) -> None:
    """A 20 x 20 mm square in x-z made of 0.5 mm x 4 mm voxels is square on the coronal screen."""
    a = np.zeros((20, 8, 160), np.int16)  # k: 4 mm, j: 1 mm, i: 0.5 mm
    a[5:10, :, 60:100] = 1000  # x 30..50 mm, z 20..40 mm
    vol = Volume(
        a, spacing=(0.5, 1.0, 4.0), metadata=VolumeMetadata(default_window=WindowLevel(500, 1000))
    )
    state = ViewerState()
    state.add_volume(vol)
    view = make_view(qtbot, state, "coronal")
    view.set_crosshair_visible(False)
    view.set_annotations_visible(False)
    frame = view.capture()
    rows, cols = np.nonzero(
        frame[..., 0] >= 128
    )  # half-way: the voxel edges under linear interpolation
    width_px, height_px = cols.max() - cols.min() + 1, rows.max() - rows.min() + 1
    assert abs(width_px - height_px) <= 2, (width_px, height_px)
    assert width_px == pytest.approx(20.0 / view.slice_view.mm_per_pixel, abs=2)


def test_oblique_view_axes_from_the_state(qtbot) -> None:
    state = ViewerState()
    state.add_volume(_marker_volume(np.eye(3)))
    view = make_view(qtbot, state, "axial")
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    state.set_view_axes("axial", (c, -s, 0.0), (s, c, 0.0))  # rotated 30 degrees about z
    plane = state.plane("axial")
    assert np.allclose(view.slice_view.right, plane.right)
    assert np.allclose(view.slice_view.up, -plane.down)
    assert view.markers() == {"left": "RP", "right": "LA", "top": "AR", "bottom": "PL"}
    # the anatomy follows: patient left (+x) is right and down: u = 14 cos 30, v = 14 sin 30
    view.set_crosshair_visible(False)
    view.set_annotations_visible(False)
    state.set_window(state.active_volume_id, WL.center, WL.width)
    x, row = _centroid(view.capture(), L_HU)
    lx, lrow = view.lps_to_display((14.0, 0.0, 0.0))
    assert (x, row) == pytest.approx((lx, lrow), abs=1.5)
    assert x > VIEW_PX / 2 + 10 and row > VIEW_PX / 2 + 3
    state.set_view_axes("axial", None, None)
    assert view.markers() == {"left": "R", "right": "L", "top": "A", "bottom": "P"}


def test_all_visible_label_layers_are_drawn_in_layer_order(qtbot) -> None:
    """Opening a second segmentation must not hide the first one (QA: organs vanished)."""
    from interval.core.labels import LabelInfo, LabelTable

    state = ViewerState()
    vol = _block_volume()
    state.add_volume(vol)
    organs = np.zeros(vol.shape, np.uint8)
    organs[:, 22:36, 22:36] = 1  # "liver"
    organs[:, 22:36, 4:12] = 2  # "kidney"
    oid = state.add_volume(
        vol.with_array(
            organs,
            labels=LabelTable(
                [LabelInfo(1, "liver", (255, 0, 0)), LabelInfo(2, "kidney", (0, 255, 0))]
            ),
        )
    )
    state.set_layer_opacity(oid, 1.0)
    view = make_view(qtbot, state, "axial")
    view.set_crosshair_visible(False)
    k = state.slice_index("axial")
    liver, kidney = vol.index_to_lps((24.0, 24.0, k)), vol.index_to_lps((6.0, 30.0, k))
    lesion_in_liver = vol.index_to_lps((30.0, 30.0, k))
    lesion_alone = vol.index_to_lps((30.0, 8.0, k))
    assert grey_at(view.capture(), view, liver).tolist() == [255, 0, 0]

    lesions = np.zeros(vol.shape, np.uint16)
    lesions[:, 28:33, 28:33] = 4  # inside the liver
    lesions[:, 6:10, 28:33] = 9  # on background
    lid = state.add_volume(
        vol.with_array(
            lesions,
            labels=LabelTable(
                [LabelInfo(4, "lesion 4", (0, 0, 255)), LabelInfo(9, "lesion 9", (255, 0, 255))]
            ),
        )
    )
    state.set_layer_opacity(lid, 1.0)
    g = int(dicom_linear_grey(0, 40, 400))
    frame = view.capture()
    assert grey_at(frame, view, liver).tolist() == [255, 0, 0]  # the organs are still drawn
    assert grey_at(frame, view, kidney).tolist() == [0, 255, 0]
    assert grey_at(frame, view, lesion_in_liver).tolist() == [0, 0, 255]  # the top layer wins
    assert grey_at(frame, view, lesion_alone).tolist() == [255, 0, 255]
    assert view.slice_view.label_overlay_keys == (oid, lid)

    state.set_layer_visible(lid, False)  # hiding the top layer shows the lower one
    frame = view.capture()
    assert grey_at(frame, view, lesion_in_liver).tolist() == [255, 0, 0]
    assert grey_at(frame, view, lesion_alone).tolist() == [g, g, g]
    state.set_layer_visible(lid, True)

    state.set_label(oid, 1, visible=False)  # one label of the lower layer: only it goes
    frame = view.capture()
    assert grey_at(frame, view, liver).tolist() == [g, g, g]
    assert grey_at(frame, view, kidney).tolist() == [0, 255, 0]
    assert grey_at(frame, view, lesion_in_liver).tolist() == [0, 0, 255]
    state.set_label(oid, 1, visible=True)

    state.move_layer(lid, 1)  # the lesions under the organs now
    frame = view.capture()
    assert view.slice_view.label_overlay_keys == (lid, oid)
    assert grey_at(frame, view, lesion_in_liver).tolist() == [255, 0, 0]
    assert grey_at(frame, view, lesion_alone).tolist() == [255, 0, 255]

    state.remove_volume(oid)  # closing one segmentation leaves the other
    frame = view.capture()
    assert view.slice_view.label_overlay_keys == (lid,)
    assert grey_at(frame, view, liver).tolist() == [g, g, g]
    assert grey_at(frame, view, lesion_in_liver).tolist() == [0, 0, 255]


# --- slice counters agree with the status bar's voxel index ---------------------------------------
@pytest.mark.parametrize("acquisition", list(ACQUISITIONS))
def test_slice_counters_run_with_the_status_bar_voxel_index(qtbot, acquisition) -> None:
    from interval.ui.status_info import status_text, voxel_index

    state = ViewerState()
    direction = ACQUISITIONS[acquisition]
    vol = _marker_volume(direction)
    state.add_volume(vol)
    views = {kind: make_view(qtbot, state, kind, size=120) for kind in ("axial", "coronal",
                                                                        "sagittal")}
    for kind, view in views.items():
        normal = view_plane(kind, state.crosshair).normal
        axis = int(np.argmax(np.abs(direction.T @ normal)))  # the voxel axis across this view
        for step in (0, 3, -7, 2):
            state.step_slice(kind, step)
            ijk = voxel_index(vol, state.crosshair)
            n, total, name = view.slice_counter()
            assert name == "ijk"[axis] and total == vol.size_ijk[axis]
            assert n - 1 == ijk[axis], f"{acquisition} {kind}: counter against voxel index"
            first = view.corner_texts().bottom_left.splitlines()[0]
            assert first == f"{kind.capitalize()}  {n}/{total}  ({name} {ijk[axis]})"
            shown = status_text(state, kind, state.crosshair)
            assert f"voxel ({ijk[0]}, {ijk[1]}, {ijk[2]})" in shown
    for view in views.values():
        view.close_view()


# --- a warning drawn on the image for irregular volumes --------------------------------------------
def _orange(frame: np.ndarray) -> int:
    from interval.ui.mpr_view import WARNING_COLOUR

    want = np.rint(np.asarray(WARNING_COLOUR) * 255).astype(int)
    return int((np.abs(frame.astype(int) - want).max(axis=2) <= 40).sum())


def test_as_is_warning_is_drawn_on_the_image_while_the_volume_is_shown(qtbot) -> None:
    from interval.ui.mpr_view import image_warning

    state = ViewerState()
    regular = _block_volume()
    md = VolumeMetadata(modality="CT", units="HU", default_window=WindowLevel(40, 400),
                        patient_name="Doe^Jane", patient_id="P-7",
                        warnings=("Loaded as-is although the slices do not form a regular grid "
                                  "(1 slice missing); they are shown 3.00 mm apart, so distances "
                                  "across slices are not exact.",))
    irregular = Volume(regular.array.copy(), (1.0, 1.0, 3.0), (0.0, 0.0, 0.0), metadata=md)
    assert image_warning(regular) == ""
    assert image_warning(irregular).startswith("Irregular slice spacing")
    vid = state.add_volume(regular)
    view = make_view(qtbot, state, "axial", size=260)
    view.set_crosshair_visible(False)
    assert view.warning_text() == "" and _orange(view.capture()) == 0
    state.remove_volume(vid)
    vid = state.add_volume(irregular)
    assert "distances across slices\nare approximate" in view.warning_text()
    frame = view.capture()
    orange = _orange(frame)
    assert orange > 60  # the words are drawn, in the warning colour
    rows, cols = np.nonzero(np.abs(frame.astype(int) - np.rint(
        np.asarray((1.0, 0.45, 0.1)) * 255).astype(int)).max(axis=2) <= 40)
    assert rows.max() < 260 * 0.5 and cols.min() < 20  # top left, below the corner text
    from interval.ui.mpr_view import TEXT_COLOUR

    grey = np.rint(np.asarray(TEXT_COLOUR) * 255).astype(int)
    top_left = np.abs(frame[:, :130].astype(int) - grey).max(axis=2) <= 10  # name and ID
    corner_rows = np.nonzero(top_left[: 260 // 2].any(axis=1))[0]
    assert len(corner_rows) and rows.min() > corner_rows.max()  # below the patient lines
    state.step_slice("axial", 2)  # stays while the volume is shown, on every slice
    assert _orange(view.capture()) > 60
    state.remove_volume(vid)
    state.add_volume(regular)
    assert _orange(view.capture()) == 0
    view.close_view()


def test_top_letter_moves_below_the_corner_text_in_a_narrow_view(qtbot) -> None:
    """In a wide view the top orientation letter is at the top edge; in a narrow one the
    top-left text (patient, study) reaches the middle, and the letter goes just below it
    instead of being drawn over the patient's name (QA: sagittal "S" over the header)."""
    vol = _ramp_volume()
    md = replace(vol.metadata, patient_name="Bartholomew^Maximilian", patient_id="1234567",
                 study_description="CT THORAX ABDOMEN")
    state = ViewerState()
    state.add_volume(Volume(vol.array, vol.spacing, vol.origin, metadata=md))
    wide = make_view(qtbot, state, "sagittal", size=400)
    wide.capture()
    assert wide.top_marker_position()[1] == pytest.approx(0.99)
    narrow = make_view(qtbot, state, "sagittal", size=150)
    frame = narrow.capture()
    x, y = narrow.top_marker_position()
    text = narrow.overlays.box(narrow.overlays.corners["top_left"])
    letter = narrow.overlays.box(narrow.overlays.markers["top"])
    assert text is not None and letter is not None
    assert text[1] > 150 / 2 - 10  # the corner text does reach the middle
    assert letter[3] <= text[2]  # the letter's top is at or below the text's bottom
    assert narrow.markers()["top"] == "S" and y > 0.3  # still near the top
    assert frame.shape[0] == 150
