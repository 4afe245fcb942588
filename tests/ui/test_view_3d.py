"""View3D pixels read back headless: CT presets, label surfaces, direction matrix."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import WindowLevel
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.ui.screenshot import save_png
from interval.ui.view_3d import BACKGROUND, View3D, present_labels
from interval.ui.volume_presets import CT_PRESETS, ct_preset, ramp_preset

from .conftest import VIEW_H, VIEW_W

N = 48
RADIUS = 15
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BG = np.round(np.asarray(BACKGROUND) * 255).astype(int)


def _sphere(centre=(N / 2, N / 2, N / 2)) -> np.ndarray:
    zz, yy, xx = np.mgrid[:N, :N, :N]
    ci, cj, ck = centre
    return (xx - ci) ** 2 + (yy - cj) ** 2 + (zz - ck) ** 2 < RADIUS**2


def _ct(mask: np.ndarray, direction=None) -> Volume:
    a = np.full(mask.shape, -1000, np.int16)
    a[mask] = 1000  # bone-bright sphere in air
    return Volume(
        a,
        spacing=(1.0, 1.0, 1.0),
        origin=(-N / 2, -N / 2, -N / 2),
        direction=np.eye(3) if direction is None else np.asarray(direction, float),
    )


@pytest.fixture
def state() -> ViewerState:
    return ViewerState()


@pytest.fixture
def view(qtbot, state) -> Iterator[View3D]:
    v = View3D(state)
    qtbot.addWidget(v)
    v.resize(VIEW_W, VIEW_H + v.toolbar.sizeHint().height())
    v.show()
    qtbot.waitUntil(lambda: v.vtk.isVisible())
    v.resize(VIEW_W, v.height() + VIEW_H - v.vtk.height())  # the VTK area is VIEW_W x VIEW_H
    qtbot.waitUntil(lambda: tuple(v.vtk.GetRenderWindow().GetSize()) == (VIEW_W, VIEW_H))
    yield v
    v.close_view()


def _save(frame: np.ndarray, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    save_png(frame, ARTIFACTS / name)


def _centre(frame: np.ndarray) -> np.ndarray:
    h, w, _ = frame.shape
    return frame[h // 2 - 2 : h // 2 + 3, w // 2 - 2 : w // 2 + 3].reshape(-1, 3).mean(0)


def _foreground(frame: np.ndarray) -> np.ndarray:
    """Pixels differing from the background, ignoring the orientation cube (lower left)."""
    fg = np.abs(frame.astype(int) - BG).sum(-1) > 30
    h, w = fg.shape
    fg[int(h * 0.75) :, : int(w * 0.25)] = False
    return fg


def test_presets_are_piecewise_linear_in_hu() -> None:
    bone = ct_preset("ct BONE")
    assert bone.opacity_at(-1000) == 0.0 and bone.opacity_at(1000) > 0.6
    lung = ct_preset("CT lung")
    assert lung.opacity_at(-500) == pytest.approx(0.15) and lung.opacity_at(1000) == 0.0
    assert set(CT_PRESETS) >= {"CT bone", "CT soft tissue", "CT lung", "CT angio/vessels"}
    ramp = ramp_preset(WindowLevel(100, 200))
    assert ramp.opacity_at(0) == 0.0 and ramp.opacity_at(200) == pytest.approx(0.6)
    with pytest.raises(KeyError):
        ct_preset("MR brain")


def test_bone_preset_renders_bright_sphere_on_background(view, state) -> None:
    state.add_volume(_ct(_sphere()))
    view.set_preset("CT bone")
    frame = view.capture()
    _save(frame, "view3d_bone.png")
    assert view.render_mode in ("gpu", "cpu")
    centre = _centre(frame)
    r, g, b = view.preset.color_at(1000)  # warm ivory: r > g > b
    assert r > g > b
    assert centre.min() > 120  # bright
    assert centre[0] > centre[2] + 15  # the preset's warm hue, not grey or blue
    assert np.array_equal(frame[0, -1].astype(int), BG)  # corner: background
    assert np.array_equal(frame[0, 0].astype(int), BG)
    # the sphere is round and centred: foreground spans about the same in x and y
    rows, cols = np.nonzero(_foreground(frame))
    assert abs(cols.mean() - VIEW_W / 2) < 4 and abs(rows.mean() - VIEW_H / 2) < 4
    assert abs((cols.max() - cols.min()) - (rows.max() - rows.min())) < 5


def test_changing_preset_changes_the_image(view, state) -> None:
    state.add_volume(_ct(_sphere()))
    view.set_preset("CT bone")
    bone = view.capture().astype(int)
    view.set_preset("CT soft tissue")
    soft = view.capture().astype(int)
    assert np.abs(bone - soft).mean() > 1.0
    assert np.abs(_centre(bone) - _centre(soft)).max() > 10
    view.set_preset("CT lung")  # 1000 HU is transparent: only a faint lung-HU shell
    lung = _centre(view.capture())
    assert lung.max() < 60 and _centre(bone).min() > 120
    view.set_preset(None)  # automatic: not CT metadata -> grey ramp over the window
    assert view.preset is not None and view.preset.name == "Grey ramp"


def test_label_surface_red_then_hidden(view, state) -> None:
    mask = _sphere()
    image_id = state.add_volume(_ct(mask))
    state.set_layer_visible(image_id, False)  # surfaces alone
    table = LabelTable([LabelInfo(1, "sphere", (255, 0, 0))])
    labels = _ct(mask).with_array(mask.astype(np.uint8), labels=table)
    label_id = state.add_volume(labels)
    frame = view.capture()
    _save(frame, "view3d_label.png")
    red = (frame[..., 0].astype(int) > 120) & (frame[..., 1] < 40) & (frame[..., 2] < 40)
    assert red[VIEW_H // 2, VIEW_W // 2]
    assert red.sum() > 500
    assert np.array_equal(frame[0, -1].astype(int), BG)
    state.set_label(label_id, 1, visible=False)
    hidden = view.capture()
    red_after = (hidden[..., 0].astype(int) > 120) & (hidden[..., 1] < 40) & (hidden[..., 2] < 40)
    assert red_after.sum() == 0
    assert np.allclose(_centre(hidden), BG, atol=2)
    state.set_label(label_id, 1, visible=True, color=(0, 0, 255))  # recoloured blue
    blue = _centre(view.capture())
    assert blue[2] > 120 and blue[0] < 40
    state.set_layer_visible(label_id, False)  # hiding the layer hides its surfaces
    assert np.allclose(_centre(view.capture()), BG, atol=2)


def test_two_labels_get_their_own_colours(view, state) -> None:
    a = np.zeros((N, N, N), np.uint8)
    zz, yy, xx = np.mgrid[:N, :N, :N]
    a[(xx - 12) ** 2 + (yy - 24) ** 2 + (zz - 24) ** 2 < 64] = 1  # i small: patient right
    a[(xx - 36) ** 2 + (yy - 24) ** 2 + (zz - 24) ** 2 < 64] = 2  # i large: patient left
    table = LabelTable([LabelInfo(1, "r", (255, 0, 0)), LabelInfo(2, "g", (0, 255, 0))])
    state.add_volume(_ct(a > 0).with_array(a, labels=table))
    assert present_labels(state.volumes["volume-1"], [1, 2, 3]) == [1, 2]
    frame = view.capture().astype(int)
    red = (frame[..., 0] > 100) & (frame[..., 1] < 40)
    green = (frame[..., 1] > 100) & (frame[..., 0] < 40)
    assert red.sum() > 100 and green.sum() > 100
    # anterior view: patient's right (label 1) on the screen's left
    assert np.nonzero(red)[1].mean() < VIEW_W / 2 < np.nonzero(green)[1].mean()


def test_direction_matrix_is_honoured(view, state) -> None:
    """The same array with the x axis flipped shows its sphere on the other side."""
    mask = _sphere((N / 2 + 10, N / 2, N / 2))  # towards +i
    vid = state.add_volume(_ct(mask))
    view.set_preset("CT bone")
    plain = np.nonzero(_foreground(view.capture()))[1].mean()
    state.remove_volume(vid)
    state.add_volume(_ct(mask, direction=np.diag([-1.0, 1.0, 1.0])))
    flipped_frame = view.capture()
    _save(flipped_frame, "view3d_flipped.png")
    flipped = np.nonzero(_foreground(flipped_frame))[1].mean()
    assert plain > VIEW_W / 2 + 5  # +i = +x = patient left = screen right
    assert flipped < VIEW_W / 2 - 5


def test_no_volume_shows_background(view) -> None:
    frame = view.capture()
    assert np.all(np.abs(frame.astype(int) - BG)[: VIEW_H // 2].sum(-1) == 0)


def test_rotation_and_reset_camera(view, state) -> None:
    a = np.zeros((N, N, N), np.uint8)
    zz, yy, xx = np.mgrid[:N, :N, :N]
    a[(xx - 12) ** 2 + (yy - 24) ** 2 + (zz - 24) ** 2 < 64] = 1
    a[(xx - 36) ** 2 + (yy - 24) ** 2 + (zz - 24) ** 2 < 64] = 2
    table = LabelTable([LabelInfo(1, "r", (255, 0, 0)), LabelInfo(2, "g", (0, 255, 0))])
    state.add_volume(_ct(a > 0).with_array(a, labels=table))
    front = view.capture().astype(int)
    corner = front[-20:, :20]  # the orientation cube's "A" face, lower left
    assert np.abs(corner - BG).sum(-1).max() > 100
    view.rotate(azimuth=90)  # seen from the side: the two spheres line up
    side = view.capture().astype(int)
    red = (side[..., 0] > 100) & (side[..., 1] < 40)
    green = (side[..., 1] > 100) & (side[..., 0] < 40)
    assert red.sum() + green.sum() < 0.8 * (
        ((front[..., 0] > 100) & (front[..., 1] < 40)).sum()
        + ((front[..., 1] > 100) & (front[..., 0] < 40)).sum()
    )
    view.reset_camera()
    assert np.abs(view.capture().astype(int) - front).max() <= 2


def test_closed_volumes_are_released(view, state) -> None:
    mask = _sphere()
    image = _ct(mask)
    labels = image.with_array(mask.astype(np.uint8), labels=LabelTable.for_values([1]))
    arrays = [weakref.ref(image.array), weakref.ref(labels.array)]
    ids = [state.add_volume(image), state.add_volume(labels)]
    view.capture()
    del image, labels
    for vid in ids:
        state.remove_volume(vid)
    view.capture()
    gc.collect()
    assert [ref() is None for ref in arrays] == [True, True]
    assert view.volume_id is None


def test_preset_box_and_reset_button(view, state) -> None:
    state.add_volume(_ct(_sphere()))
    box = view.preset_box
    box.setCurrentIndex(box.findData("CT soft tissue"))
    assert view.preset_name == "CT soft tissue"
    view.set_preset("CT lung")
    assert box.currentData() == "CT lung"
    view.set_preset(None)
    assert box.currentIndex() == 0 and view.preset_name is None
