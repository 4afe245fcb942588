"""ViewerState: volumes, layers, windows, crosshair, layout, views, slice stepping, cine."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.viewer_state import (
    CrosshairChanged,
    ImageLayer,
    LabelLayer,
    LayerChanged,
    ViewerState,
)
from interval.core.volume import Volume

SAG = np.array([[0.0, 0, -1.0], [1.0, 0, 0], [0, -1.0, 0]])  # i->P, j->I, k->R


def ct(shape=(10, 12, 14), spacing=(0.7, 0.7, 2.5), direction=None) -> Volume:
    arr = np.arange(np.prod(shape), dtype=np.int16).reshape(shape)
    meta = VolumeMetadata(modality="CT", default_window=WindowLevel(35, 90, "DICOM"))
    return Volume(arr, spacing, (-10.0, 20.0, -30.0), np.eye(3) if direction is None else direction, meta)


def seg_for(vol: Volume) -> Volume:
    table = LabelTable([LabelInfo(1, "Liver", (255, 0, 0)), LabelInfo(2, "Tumour", (0, 255, 0))])
    return vol.with_array(np.zeros(vol.shape, dtype=np.uint8), labels=table)


class Log:
    def __init__(self, state: ViewerState) -> None:
        self.events: list[tuple[str, object]] = []
        for name, sig in state.events.signals.items():
            sig.connect(lambda e, n=name: self.events.append((n, e)))

    def names(self) -> list[str]:
        return [n for n, _ in self.events]


def test_first_image_becomes_active_with_crosshair_at_centre_and_dicom_window() -> None:
    state = ViewerState()
    vol = ct()
    vid = state.add_volume(vol)
    assert state.active_volume_id == vid and state.active_volume is vol
    np.testing.assert_allclose(state.crosshair, vol.index_to_lps((6, 5, 4)))
    layer = state.layer(vid)
    assert isinstance(layer, ImageLayer)
    assert layer.window == WindowLevel(35, 90, "DICOM")
    assert state.layers == (layer,)


def test_adding_notifies_each_signal_once() -> None:
    state = ViewerState()
    log = Log(state)
    state.add_volume(ct(), "ct")
    assert sorted(log.names()) == ["active_volume", "crosshair", "layers", "volumes"]
    with pytest.raises(ValueError):
        state.add_volume(ct(), "ct")


def test_crosshair_change_notifies_observers_once() -> None:
    state = ViewerState()
    seen: list[CrosshairChanged] = []
    state.events.crosshair.connect(seen.append)
    state.set_crosshair((1.0, 2.0, 3.0))
    state.set_crosshair(np.array([1.0, 2.0, 3.0]))  # same point: no event
    assert seen == [CrosshairChanged((1.0, 2.0, 3.0))]
    with state.events.batch():
        state.set_crosshair((4.0, 5.0, 6.0))
        state.set_crosshair((7.0, 8.0, 9.0))
    assert seen[1:] == [CrosshairChanged((7.0, 8.0, 9.0))]
    with pytest.raises(ValueError):
        state.set_crosshair((np.nan, 0, 0))


def test_dead_observer_stops_receiving() -> None:
    class View:
        calls = 0

        def on_crosshair(self, _: CrosshairChanged) -> None:
            View.calls += 1

    state = ViewerState()
    view = View()
    state.events.crosshair.connect(view.on_crosshair)
    state.set_crosshair((1.0, 0.0, 0.0))
    del view
    gc.collect()
    state.set_crosshair((2.0, 0.0, 0.0))
    assert View.calls == 1


def test_window_invert_visibility_opacity_per_layer() -> None:
    state = ViewerState()
    a = state.add_volume(ct(), "a")
    b = state.add_volume(ct(), "b")
    log = Log(state)
    state.set_window(a, 400, 1800)
    state.set_window(a, 400, 1800)  # unchanged: no event
    state.apply_preset(b, "lung")
    state.set_invert(a, True)
    state.set_layer_visible(b, False)
    state.set_layer_opacity(b, 3.0)  # clipped
    assert state.window(a) == WindowLevel(400, 1800)
    assert state.window(b) == WindowLevel(-600, 1500, "Lung")
    assert state.layer(a).invert is True  # type: ignore[union-attr]
    assert state.layer(b).visible is False and state.layer(b).opacity == 1.0
    whats = [(e.layer_id, e.what) for _, e in log.events if isinstance(e, LayerChanged)]
    assert whats == [("a", "window"), ("b", "window"), ("a", "invert"), ("b", "visible")]
    state.set_window(a, 0, -5)
    assert state.window(a).width > 0


def test_label_layer_per_label_colour_name_visibility_and_mode() -> None:
    state = ViewerState()
    vid = state.add_volume(ct(), "ct")
    vol = state.volume(vid)
    sid = state.add_volume(seg_for(vol), "seg")
    assert state.active_volume_id == "ct"  # label maps never become active
    layer = state.layer(sid)
    assert isinstance(layer, LabelLayer) and layer.mode == "fill"
    events: list[LayerChanged] = []
    state.events.layer.connect(events.append)
    state.set_label(sid, 2, name="Lesion 1", color=(0, 0, 300), visible=False)
    state.set_label_mode(sid, "outline")
    info = state.layer(sid).labels[2]  # type: ignore[union-attr]
    assert info == LabelInfo(2, "Lesion 1", (0, 0, 255), False)
    assert state.volume(sid).labels[2].name == "Tumour"  # the volume's own table is untouched
    assert [e.what for e in events] == ["labels", "mode"]
    with pytest.raises(TypeError):
        state.set_window(sid, 0, 1)
    with pytest.raises(TypeError):
        state.set_label(vid, 1, name="x")
    with pytest.raises(ValueError):
        state.set_label_mode(sid, "wire")  # type: ignore[arg-type]


def test_move_and_remove_layers() -> None:
    state = ViewerState()
    a = state.add_volume(ct(), "a")
    b = state.add_volume(ct(), "b")
    s = state.add_volume(seg_for(state.volume(a)), "s")
    state.move_layer(s, 0)
    assert [lay.id for lay in state.layers] == ["s", "a", "b"]
    state.move_layer(s, -1)
    assert [lay.id for lay in state.layers] == ["a", "b", "s"]
    log = Log(state)
    state.remove_volume(a)
    assert [lay.id for lay in state.layers] == ["b", "s"]
    assert state.active_volume_id == b
    assert sorted(log.names()) == ["active_volume", "layers", "volumes"]
    state.remove_volume(b)
    assert state.active_volume_id is None
    with pytest.raises(KeyError):
        state.remove_volume("nope")


def test_layout_and_views() -> None:
    state = ViewerState()
    assert state.layout == "1x3" and state.visible_views() == ("axial", "coronal", "sagittal")
    state.set_layout("1x1", "coronal")
    assert state.visible_views() == ("coronal",)
    state.set_layout("2x2")
    assert state.visible_views() == ("axial", "coronal", "sagittal", "3d")
    with pytest.raises(ValueError):
        state.set_layout("3x3")
    state.set_zoom("axial", 2.0)
    state.set_pan("axial", (5.0, -3.0))
    assert state.view("axial").zoom == 2.0 and state.view("axial").pan == (5.0, -3.0)
    assert state.view("coronal").zoom == 1.0  # independent per view
    with pytest.raises(ValueError):
        state.set_zoom("axial", 0.0)
    state.reset_view("axial")
    assert state.view("axial").zoom == 1.0 and state.view("axial").pan == (0.0, 0.0)


def test_planes_pass_through_the_crosshair() -> None:
    state = ViewerState()
    state.set_crosshair((1.0, 2.0, 3.0))
    for view_id in ("axial", "coronal", "sagittal"):
        np.testing.assert_allclose(state.plane(view_id).origin, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(state.plane("axial").normal, [0, 0, 1])
    with pytest.raises(ValueError):
        state.plane("3d")
    state.set_view_axes("axial", (1.0, 1.0, 0.0), (-1.0, 1.0, 0.0))
    np.testing.assert_allclose(state.plane("axial").right, [2**-0.5, 2**-0.5, 0])
    state.set_view_axes("axial", None, None)
    np.testing.assert_allclose(state.plane("axial").right, [1, 0, 0])


def test_slice_stepping_moves_by_voxel_spacing_along_each_normal() -> None:
    state = ViewerState()
    vol = ct(shape=(10, 12, 14), spacing=(0.7, 0.8, 2.5))
    state.add_volume(vol)
    assert state.slice_step("axial") == pytest.approx(2.5)
    assert state.slice_step("coronal") == pytest.approx(0.8)
    assert state.slice_step("sagittal") == pytest.approx(0.7)
    assert (state.slice_count("axial"), state.slice_count("coronal"), state.slice_count("sagittal")) == (10, 12, 14)
    assert state.slice_index("axial") == 4
    before = np.array(state.crosshair)
    seen: list[CrosshairChanged] = []
    state.events.crosshair.connect(seen.append)
    assert state.step_slice("axial", 2) == 6
    np.testing.assert_allclose(np.array(state.crosshair) - before, [0, 0, 5.0])
    assert len(seen) == 1
    assert state.step_slice("axial", 100) == 9  # clamped at the last slice
    np.testing.assert_allclose(state.crosshair, vol.index_to_lps((6, 5, 9)))
    assert state.step_slice("axial", 100) == 9 and len(seen) == 2  # no move, no event
    # the sagittal normal points into the screen, towards patient right: slice 0 is leftmost
    assert state.set_slice_index("sagittal", 0) == 0
    np.testing.assert_allclose(state.crosshair, vol.index_to_lps((13, 5, 9)))
    assert state.step_slice("sagittal", 3) == 3
    np.testing.assert_allclose(state.crosshair, vol.index_to_lps((10, 5, 9)))


def test_slice_stepping_on_a_sagittal_acquisition() -> None:
    state = ViewerState()
    vol = ct(shape=(8, 9, 10), spacing=(0.5, 0.6, 3.0), direction=SAG)
    state.add_volume(vol)
    assert state.slice_step("axial") == pytest.approx(0.6)  # j runs along S/I
    assert state.slice_step("sagittal") == pytest.approx(3.0)  # k runs along L/R
    assert state.slice_count("axial") == 9
    z0 = state.crosshair[2]
    state.step_slice("axial", 1)  # towards superior
    assert state.crosshair[2] == pytest.approx(z0 + 0.6)


def test_stepping_without_a_volume_is_an_error() -> None:
    with pytest.raises(ValueError):
        ViewerState().step_slice("axial")


def test_cine_loop_and_bounce() -> None:
    state = ViewerState()
    state.add_volume(ct(shape=(3, 4, 5)))
    state.set_slice_index("axial", 1)
    state.set_cine(playing=True, view_id="axial", fps=20.0)
    assert state.cine.playing and state.cine.fps == 20.0
    assert [state.cine_tick() for _ in range(4)] == [2, 0, 1, 2]
    state.set_cine(mode="bounce")
    assert [state.cine_tick() for _ in range(5)] == [1, 0, 1, 2, 1]
    assert state.cine.direction == -1
    with pytest.raises(ValueError):
        state.set_cine(fps=0)
    with pytest.raises(KeyError):
        state.set_cine(view_id="nope")


def test_crosshair_is_clamped_to_the_active_volume() -> None:
    state = ViewerState()
    vol = ct(shape=(10, 12, 14), spacing=(0.7, 0.8, 2.5))
    state.add_volume(vol)
    inside = tuple(float(x) for x in vol.index_to_lps((3, 4, 5)))
    state.set_crosshair(inside)
    assert state.crosshair == inside  # inside: unchanged
    # a click on the black border beyond i = 13 and j < 0, on slice k = 5
    state.set_crosshair(vol.index_to_lps((40.0, -7.5, 5.0)))
    np.testing.assert_allclose(vol.lps_to_index(state.crosshair), [13, 0, 5], atol=1e-9)
    state.set_crosshair(vol.index_to_lps((-3.0, 2.0, 99.0)))
    np.testing.assert_allclose(vol.lps_to_index(state.crosshair), [0, 2, 9], atol=1e-9)
    assert state.slice_index("axial") == 9
    # opt out (and no clamping without a volume)
    state.set_crosshair((500.0, 0.0, 0.0), clamp=False)
    assert state.crosshair == (500.0, 0.0, 0.0)
    assert ViewerState().clamp_to_volume((500.0, 1.0, 2.0)) == (500.0, 1.0, 2.0)


def test_crosshair_clamping_in_an_oblique_volume() -> None:
    state = ViewerState()
    vol = ct(direction=SAG)
    state.add_volume(vol)
    state.set_crosshair(vol.index_to_lps((-20.0, 5.0, 30.0)))
    np.testing.assert_allclose(vol.lps_to_index(state.crosshair), [0, 5, 9], atol=1e-9)
