"""View3D pixels read back headless: CT presets, label surfaces, direction matrix."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import WindowLevel
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.ui import view_3d
from interval.ui.screenshot import save_png
from interval.ui.view_3d import BACKGROUND, View3D, present_labels
from interval.ui.view_3d_prep import block_mean, reduced_volume, reduction_factors
from interval.ui.volume_presets import CT_PRESETS, ct_preset, ramp_preset

from .conftest import VIEW_H, VIEW_W

N = 48
RADIUS = 15
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 30000  # background builds on a loaded 2-core CI machine
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


def _frame(qtbot, view: View3D) -> np.ndarray:
    """The frame once everything prepared in the background is in the scene."""
    view.render_now()  # starts pending surface builds
    qtbot.waitUntil(view.is_ready, timeout=WAIT_MS)
    return view.capture()


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


def test_bone_preset_renders_bright_sphere_on_background(qtbot, view, state) -> None:
    state.add_volume(_ct(_sphere()))
    view.set_preset("CT bone")
    frame = _frame(qtbot, view)
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


def test_changing_preset_changes_the_image(qtbot, view, state) -> None:
    state.add_volume(_ct(_sphere()))
    view.set_preset("CT bone")
    bone = _frame(qtbot, view).astype(int)
    view.set_preset("CT soft tissue")
    soft = _frame(qtbot, view).astype(int)
    assert np.abs(bone - soft).mean() > 1.0
    assert np.abs(_centre(bone) - _centre(soft)).max() > 10
    view.set_preset("CT lung")  # 1000 HU is transparent: only a faint lung-HU shell
    lung = _centre(_frame(qtbot, view))
    assert lung.max() < 60 and _centre(bone).min() > 120
    view.set_preset(None)  # automatic: not CT metadata -> grey ramp over the window
    assert view.preset is not None and view.preset.name == "Grey ramp"


def test_label_surface_red_then_hidden(qtbot, view, state) -> None:
    mask = _sphere()
    image_id = state.add_volume(_ct(mask))
    state.set_layer_visible(image_id, False)  # surfaces alone
    table = LabelTable([LabelInfo(1, "sphere", (255, 0, 0))])
    labels = _ct(mask).with_array(mask.astype(np.uint8), labels=table)
    label_id = state.add_volume(labels)
    frame = _frame(qtbot, view)
    _save(frame, "view3d_label.png")
    red = (frame[..., 0].astype(int) > 120) & (frame[..., 1] < 40) & (frame[..., 2] < 40)
    assert red[VIEW_H // 2, VIEW_W // 2]
    assert red.sum() > 500
    assert np.array_equal(frame[0, -1].astype(int), BG)
    state.set_label(label_id, 1, visible=False)
    hidden = _frame(qtbot, view)
    red_after = (hidden[..., 0].astype(int) > 120) & (hidden[..., 1] < 40) & (hidden[..., 2] < 40)
    assert red_after.sum() == 0
    assert np.allclose(_centre(hidden), BG, atol=2)
    state.set_label(label_id, 1, visible=True, color=(0, 0, 255))  # recoloured blue
    blue = _centre(_frame(qtbot, view))
    assert blue[2] > 120 and blue[0] < 40
    state.set_layer_visible(label_id, False)  # hiding the layer hides its surfaces
    assert np.allclose(_centre(_frame(qtbot, view)), BG, atol=2)


def test_two_labels_get_their_own_colours(qtbot, view, state) -> None:
    a = np.zeros((N, N, N), np.uint8)
    zz, yy, xx = np.mgrid[:N, :N, :N]
    a[(xx - 12) ** 2 + (yy - 24) ** 2 + (zz - 24) ** 2 < 64] = 1  # i small: patient right
    a[(xx - 36) ** 2 + (yy - 24) ** 2 + (zz - 24) ** 2 < 64] = 2  # i large: patient left
    table = LabelTable([LabelInfo(1, "r", (255, 0, 0)), LabelInfo(2, "g", (0, 255, 0))])
    state.add_volume(_ct(a > 0).with_array(a, labels=table))
    assert present_labels(state.volumes["volume-1"], [1, 2, 3]) == [1, 2]
    frame = _frame(qtbot, view).astype(int)
    red = (frame[..., 0] > 100) & (frame[..., 1] < 40)
    green = (frame[..., 1] > 100) & (frame[..., 0] < 40)
    assert red.sum() > 100 and green.sum() > 100
    # anterior view: patient's right (label 1) on the screen's left
    assert np.nonzero(red)[1].mean() < VIEW_W / 2 < np.nonzero(green)[1].mean()


def test_direction_matrix_is_honoured(qtbot, view, state) -> None:
    """The same array with the x axis flipped shows its sphere on the other side."""
    mask = _sphere((N / 2 + 10, N / 2, N / 2))  # towards +i
    vid = state.add_volume(_ct(mask))
    view.set_preset("CT bone")
    plain = np.nonzero(_foreground(_frame(qtbot, view)))[1].mean()
    state.remove_volume(vid)
    state.add_volume(_ct(mask, direction=np.diag([-1.0, 1.0, 1.0])))
    flipped_frame = _frame(qtbot, view)
    _save(flipped_frame, "view3d_flipped.png")
    flipped = np.nonzero(_foreground(flipped_frame))[1].mean()
    assert plain > VIEW_W / 2 + 5  # +i = +x = patient left = screen right
    assert flipped < VIEW_W / 2 - 5


def test_no_volume_shows_background(qtbot, view) -> None:
    frame = _frame(qtbot, view)
    assert np.all(np.abs(frame.astype(int) - BG)[: VIEW_H // 2].sum(-1) == 0)


def test_rotation_and_reset_camera(qtbot, view, state) -> None:
    a = np.zeros((N, N, N), np.uint8)
    zz, yy, xx = np.mgrid[:N, :N, :N]
    a[(xx - 12) ** 2 + (yy - 24) ** 2 + (zz - 24) ** 2 < 64] = 1
    a[(xx - 36) ** 2 + (yy - 24) ** 2 + (zz - 24) ** 2 < 64] = 2
    table = LabelTable([LabelInfo(1, "r", (255, 0, 0)), LabelInfo(2, "g", (0, 255, 0))])
    state.add_volume(_ct(a > 0).with_array(a, labels=table))
    front = _frame(qtbot, view).astype(int)
    corner = front[-20:, :20]  # the orientation cube's "A" face, lower left
    assert np.abs(corner - BG).sum(-1).max() > 100
    view.rotate(azimuth=90)  # seen from the side: the two spheres line up
    side = _frame(qtbot, view).astype(int)
    red = (side[..., 0] > 100) & (side[..., 1] < 40)
    green = (side[..., 1] > 100) & (side[..., 0] < 40)
    assert red.sum() + green.sum() < 0.8 * (
        ((front[..., 0] > 100) & (front[..., 1] < 40)).sum()
        + ((front[..., 1] > 100) & (front[..., 0] < 40)).sum()
    )
    view.reset_camera()
    assert np.abs(_frame(qtbot, view).astype(int) - front).max() <= 2


def test_closed_volumes_are_released(qtbot, view, state) -> None:
    mask = _sphere()
    image = _ct(mask)
    labels = image.with_array(mask.astype(np.uint8), labels=LabelTable.for_values([1]))
    arrays = [weakref.ref(image.array), weakref.ref(labels.array)]
    ids = [state.add_volume(image), state.add_volume(labels)]
    _frame(qtbot, view)
    del image, labels
    for vid in ids:
        state.remove_volume(vid)
    _frame(qtbot, view)
    gc.collect()
    assert [ref() is None for ref in arrays] == [True, True]
    assert view.volume_id is None


def test_preset_box_and_reset_button(qtbot, view, state) -> None:
    state.add_volume(_ct(_sphere()))
    box = view.preset_box
    box.setCurrentIndex(box.findData("CT soft tissue"))
    assert view.preset_name == "CT soft tissue"
    view.set_preset("CT lung")
    assert box.currentData() == "CT lung"
    view.set_preset(None)
    assert box.currentIndex() == 0 and view.preset_name is None


# --- background preparation ----------------------------------------------------------------
def _small_budgets(monkeypatch, voxels: int = 20_000) -> None:
    """Make every test volume "large": reduced for rendering and for surfaces."""
    for name in ("VOLUME_BUDGET", "SOFTWARE_VOLUME_BUDGET", "LABEL_BUDGET",
                 "SOFTWARE_LABEL_BUDGET"):
        monkeypatch.setattr(view_3d, name, voxels)


def _extent(volume: Volume) -> np.ndarray:
    """LPS box covered by the voxels (centres +- half a voxel), as (min xyz, max xyz)."""
    nk, nj, ni = volume.shape
    s = np.asarray(volume.spacing, float)
    d = np.asarray(volume.direction, float).reshape(3, 3)
    lo, hi = -0.5 * s, (np.array([ni, nj, nk]) - 0.5) * s
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                        for z in (lo[2], hi[2])])
    pts = corners @ d.T + np.asarray(volume.origin, float)
    return np.stack([pts.min(0), pts.max(0)])


@pytest.mark.parametrize("shape", [(40, 48, 48), (37, 41, 50)])
def test_reduced_volume_covers_the_same_physical_region(shape) -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(-1000, 1000, size=shape).astype(np.int16)
    theta = np.deg2rad(30)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0],
                    [0, 0, 1.0]])
    full = Volume(a, spacing=(0.7, 0.8, 1.5), origin=(10.0, -20.0, 5.0), direction=rot)
    small = reduced_volume(full, 10_000)
    factors = reduction_factors(shape, 10_000)
    assert small.array.size <= 10_000 and small.dtype == full.dtype
    assert np.allclose(small.spacing, np.asarray(full.spacing) * factors[::-1])
    half = 0.5 * np.asarray(small.spacing).max()
    assert np.abs(_extent(small) - _extent(full)).max() <= half + 1e-6
    if all(n % f == 0 for n, f in zip(shape, factors, strict=True)):  # whole blocks: exact
        assert np.allclose(_extent(small), _extent(full))
    # block means: the first reduced voxel is the mean of the first block
    fk, fj, fi = factors
    assert small.array[0, 0, 0] == np.rint(a[:fk, :fj, :fi].mean())
    labels = reduced_volume(full.with_array((a > 0).astype(np.uint8)), 10_000, labels=True)
    assert np.array_equal(labels.array, (a > 0)[::fk, ::fj, ::fi])  # labels stay labels
    assert np.allclose(labels.origin, full.origin)  # strided: first centre unchanged


def test_block_mean_of_integer_and_float_arrays() -> None:
    a = np.arange(4 * 6 * 5, dtype=np.uint8).reshape(4, 6, 5)
    m = block_mean(a, (2, 3, 2))
    assert m.shape == (2, 2, 3) and m.dtype == np.uint8
    assert m[1, 1, 2] == np.rint(a[2:4, 3:6, 4:5].mean())  # a partial block at the edge
    f = block_mean(a.astype(np.float32) / 3, (2, 2, 2))
    assert f.dtype == np.float32 and f[0, 0, 0] == pytest.approx(a[:2, :2, :2].mean() / 3)


def test_fast_quality_renders_a_reduced_copy_in_place(qtbot, view, state, monkeypatch) -> None:
    _small_budgets(monkeypatch)
    ct = _ct(_sphere((N / 2 + 8, N / 2, N / 2)))
    ct = Volume(ct.array, spacing=(1.0, 1.0, 1.0), origin=(-20.0, 5.0, -30.0),
                direction=np.diag([-1.0, 1.0, 1.0]))  # flipped x: placement must follow
    state.add_volume(ct)
    view.set_preset("CT bone")
    fast = _frame(qtbot, view)
    shown = view.shown_volume
    assert shown is not None and shown is not ct and shown.array.size <= 20_000
    fast_bounds = np.array(view._prop.GetBounds())
    view.set_quality("Full")
    assert view.quality_box.currentData() == "Full"
    full = _frame(qtbot, view)
    assert view.shown_volume is ct  # every voxel, no copy
    full_bounds = np.array(view._prop.GetBounds())
    half = 0.5 * max(shown.spacing)
    assert np.abs(fast_bounds - full_bounds).max() <= half + 1e-6
    # the same sphere in the same place on screen
    cf, cfull = (np.argwhere(_foreground(f)).mean(0) for f in (fast, full))
    assert np.abs(cf - cfull).max() < 3
    assert _foreground(fast).sum() > 300


def test_surfaces_appear_after_the_background_build(qtbot, view, state, monkeypatch) -> None:
    _small_budgets(monkeypatch)
    mask = _sphere()
    table = LabelTable([LabelInfo(1, "sphere", (255, 0, 0))])
    state.add_volume(_ct(mask).with_array(mask.astype(np.uint8), labels=table))
    gate = threading.Event()
    real = view_3d.build_label_surfaces

    def gated(*args, **kw):
        gate.wait(20)
        return real(*args, **kw)

    monkeypatch.setattr(view_3d, "build_label_surfaces", gated)
    first = view.capture()  # starts the build; nothing to show yet
    assert view.busy and not view.surfaces_ready()
    text = (np.abs(first.astype(int) - BG).sum(-1) > 150)[VIEW_H // 3 : 2 * VIEW_H // 3]
    assert text.any()  # "Preparing 3-D…" is written in the middle
    red0 = (first[..., 0].astype(int) > 120) & (first[..., 1] < 40)
    assert red0.sum() == 0
    gate.set()
    frame = _frame(qtbot, view)
    red = (frame[..., 0].astype(int) > 120) & (frame[..., 1] < 40) & (frame[..., 2] < 40)
    assert red[VIEW_H // 2, VIEW_W // 2] and red.sum() > 500
    assert not view.busy and not view._busy_text.GetVisibility()  # the text is gone


def test_a_volume_change_while_building_discards_the_stale_result(
    qtbot, view, state, monkeypatch
) -> None:
    _small_budgets(monkeypatch)
    gate, calls, done = threading.Event(), [], []
    real = view_3d.reduced_volume

    def gated(volume, *args, **kw):
        calls.append(volume)
        if len(calls) == 1:  # the first volume's reduction waits until the second one is in
            gate.wait(20)
        out = real(volume, *args)  # ignores cancel: its result does arrive, late
        done.append(volume)
        return out

    monkeypatch.setattr(view_3d, "reduced_volume", gated)
    first = _ct(_sphere())
    first_id = state.add_volume(first)
    view.render_now()  # starts reducing the first volume (blocked)
    assert not view.volume_ready()
    state.remove_volume(first_id)
    second = _ct(_sphere()).with_array(np.full((N, N, N), 500, np.int16))
    state.add_volume(second)
    view.render_now()  # queues the second volume's reduction
    gate.set()  # the stale first result arrives first, and must be dropped
    qtbot.waitUntil(lambda: len(done) == 2, timeout=WAIT_MS)
    qtbot.waitUntil(view.volume_ready, timeout=WAIT_MS)
    assert done[0] is first and done[1] is state.active_volume
    assert view.shown_volume is not None and np.all(view.shown_volume.array == 500)
    qtbot.wait(100)  # nothing else arrives later
    assert np.all(view.shown_volume.array == 500)


def test_removing_layers_and_closing_during_builds(qtbot, state, monkeypatch) -> None:
    _small_budgets(monkeypatch)
    gate = threading.Event()
    real_surfaces, real_volume = view_3d.build_label_surfaces, view_3d.reduced_volume
    monkeypatch.setattr(view_3d, "build_label_surfaces",
                        lambda *a, **kw: (gate.wait(20), real_surfaces(*a, **kw))[1])
    monkeypatch.setattr(view_3d, "reduced_volume",
                        lambda *a, **kw: (gate.wait(20), real_volume(*a, **kw))[1])
    v = View3D(state)
    qtbot.addWidget(v)
    v.resize(VIEW_W, VIEW_H)
    v.show()
    mask = _sphere()
    image_id = state.add_volume(_ct(mask))
    label_id = state.add_volume(_ct(mask).with_array(mask.astype(np.uint8)))
    v.render_now()  # both builds start and block
    assert v.busy
    state.remove_volume(label_id)  # removed during its build
    assert not v._surfaces
    v.render_now()
    threading.Timer(0.3, gate.set).start()  # the workers finish while the view closes
    v.close_view()  # waits for the workers; their results are dropped
    assert not v._surfaces and v.shown_volume is None
    state.remove_volume(image_id)  # no longer observed: nothing happens
    qtbot.wait(50)


def test_refresh_volume_after_an_in_place_change(qtbot, view, state, monkeypatch) -> None:
    """A progressive load fills the array in place: the reduced copy is made again."""
    _small_budgets(monkeypatch)
    ct = _ct(_sphere())
    ct.array[:] = -1000  # nothing loaded yet: air
    state.add_volume(ct)
    view.set_preset("CT bone")
    assert _foreground(_frame(qtbot, view)).sum() == 0
    ct.array[_sphere()] = 1000  # the rest of the series arrives
    view.refresh_volume()
    assert view.busy  # re-reducing
    assert _foreground(_frame(qtbot, view)).sum() > 300
    monkeypatch.setattr(view_3d, "VOLUME_BUDGET", 10**9)  # within budget: no copy
    monkeypatch.setattr(view_3d, "SOFTWARE_VOLUME_BUDGET", 10**9)
    view.refresh_volume()
    _frame(qtbot, view)
    assert view.shown_volume is ct
    ct.array[:] = -1000
    view.refresh_volume()
    assert not view.busy and _foreground(_frame(qtbot, view)).sum() == 0


def test_ct_presets_are_not_applied_to_an_mr(qtbot, view, state) -> None:
    """A CT table (HU) on an MR would render nonsense: the MR gets the grey ramp over its
    window and the box shows Auto with the CT entries disabled; the CT choice comes back
    on the next CT.  An image that does not say what it is (NIfTI) keeps them."""
    from dataclasses import replace

    from interval.core.metadata import VolumeMetadata

    ct = _ct(_sphere())
    ct = Volume(ct.array, ct.spacing, ct.origin, ct.direction, VolumeMetadata(modality="CT"))
    cid = state.add_volume(ct)
    view.set_preset("CT lung")
    assert view.preset.name == "CT lung" and view.preset_box.currentData() == "CT lung"
    state.remove_volume(cid)
    mr = Volume(ct.array.copy(), ct.spacing, ct.origin, ct.direction,
                replace(ct.metadata, modality="MR", units=""))
    mid = state.add_volume(mr)
    assert view.preset.name == "Grey ramp" and view.preset_box.currentIndex() == 0
    model = view.preset_box.model()
    assert not any(model.item(i).isEnabled() for i in range(1, view.preset_box.count()))
    state.set_window(mid, 500.0, 200.0)
    assert view.preset.opacity_at(400.0) == 0.0 and view.preset.opacity_at(600.0) > 0.5
    state.remove_volume(mid)
    state.add_volume(_ct(_sphere()))  # no modality (e.g. NIfTI): CT presets allowed
    assert view.preset.name == "CT lung" and view.preset_box.currentData() == "CT lung"
    assert model.item(1).isEnabled()


def test_volume_button_shows_a_lesion_hidden_inside_the_body(qtbot, view, state) -> None:
    """A small labelled structure inside a rendered body is hidden by the volume
    rendering; the Volume button turns the rendering off so its surface shows."""
    body = _sphere()
    lesion = ((np.mgrid[:N, :N, :N] - N / 2) ** 2).sum(axis=0) < (RADIUS / 3) ** 2
    state.add_volume(_ct(body))
    view.set_preset("CT bone")
    table = LabelTable([LabelInfo(1, "lesion", (255, 0, 0))])
    state.add_volume(_ct(body).with_array(lesion.astype(np.uint8), labels=table))
    qtbot.waitUntil(view.is_ready, timeout=30_000)

    def red_at_centre(frame: np.ndarray) -> bool:
        r, g, b = (int(c) for c in _centre(frame))
        return r > 120 and g < 40 and b < 40

    assert not red_at_centre(_frame(qtbot, view))  # inside the bright body
    view.volume_button.click()
    assert not view.volume_rendering_on
    assert red_at_centre(_frame(qtbot, view))
    view.set_volume_rendering(True)
    assert view.volume_button.isChecked()
    assert not red_at_centre(_frame(qtbot, view))
