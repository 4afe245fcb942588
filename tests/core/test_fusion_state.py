"""Fusion layers (PET over CT) in the ViewerState, colour maps and the PET/CT pairing rule."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from interval.core.colormaps import COLORMAP_NAMES, colormap_table
from interval.core.fusion_rule import NOT_SAME_FRAME, ct_first, fusion_refusal, is_pet_ct_pair
from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.viewer_state import ImageLayer, LayerChanged, ViewerState
from interval.core.volume import Volume

SUV_0_5 = WindowLevel(2.5, 5.0, "SUV 0-5")


def _ct() -> Volume:
    meta = VolumeMetadata(modality="CT", units="HU", study_instance_uid="1.2.3",
                          frame_of_reference_uid="1.2.3.9")
    return Volume(np.zeros((8, 16, 16), np.int16), (1.0, 1.0, 2.0), (-8.0, -8.0, -8.0), metadata=meta)


def _pet() -> Volume:
    meta = VolumeMetadata(modality="PT", units="SUVbw", study_instance_uid="1.2.3",
                          frame_of_reference_uid="1.2.3.9", default_window=SUV_0_5)
    arr = np.zeros((4, 4, 4), np.float32)
    arr[2, 2, 2] = 12.0
    return Volume(arr, (4.0, 4.0, 4.0), (-8.0, -8.0, -8.0), metadata=meta)


def _labels(image: Volume) -> Volume:
    lab = np.zeros(image.shape, np.uint8)
    lab[2:4, 4:8, 4:8] = 1
    return image.with_array(lab, labels=LabelTable([LabelInfo(1, "lesion", (255, 0, 0))]))


# --- colour maps ------------------------------------------------------------------------
def test_colour_maps_are_256_rgb_tables_with_the_documented_ends() -> None:
    for name in COLORMAP_NAMES:
        table = colormap_table(name)
        assert table.shape == (256, 3) and table.dtype == np.uint8
        assert table[0].tolist() == [0, 0, 0]  # the low end is black in every map
    assert colormap_table("grey")[128].tolist() == [128, 128, 128]
    assert colormap_table("hot")[255].tolist() == [255, 255, 255]
    assert colormap_table("pet")[255].tolist() == [255, 0, 0]  # highest uptake: red
    hot = colormap_table("hot").astype(int)
    assert (np.diff(hot.sum(axis=1)) >= 0).all()  # "hot" only gets brighter
    with pytest.raises(ValueError, match="unknown colour map"):
        colormap_table("jet")


# --- the pairing rule --------------------------------------------------------------------
def _facts(modality: str, study: str = "1.2.3", frame: str = "1.2.3.9") -> SimpleNamespace:
    return SimpleNamespace(modality=modality, study_instance_uid=study, frame_of_reference_uid=frame)


def test_pet_ct_pair_needs_one_ct_one_pt_of_the_same_study() -> None:
    assert is_pet_ct_pair(_facts("CT"), _facts("PT"))
    assert is_pet_ct_pair(_facts("pt"), _facts("CT"))
    assert not is_pet_ct_pair(_facts("CT"), _facts("CT"))
    assert not is_pet_ct_pair(_facts("CT"), _facts("MR"))
    assert not is_pet_ct_pair(_facts("CT"), _facts("PT", study="4.5.6"))
    assert not is_pet_ct_pair(_facts("CT", study=""), _facts("PT", study=""))
    assert ct_first(_facts("CT"), _facts("PT")) and not ct_first(_facts("PT"), _facts("CT"))


def test_fusion_is_refused_unless_the_frames_of_reference_match() -> None:
    assert fusion_refusal(_facts("CT"), _facts("PT")) == ""
    assert fusion_refusal(_facts("CT"), _facts("PT", frame="7.7")) == NOT_SAME_FRAME
    assert fusion_refusal(_facts("CT", frame=""), _facts("PT", frame="")) == NOT_SAME_FRAME
    assert "registration" in NOT_SAME_FRAME
    # the metadata of loaded volumes works as well as index headers
    assert fusion_refusal(_ct().metadata, _pet().metadata) == ""


# --- the state ---------------------------------------------------------------------------
def test_add_fusion_keeps_the_ct_active_and_puts_the_pet_above_it() -> None:
    state = ViewerState()
    ct_id = state.add_volume(_ct())
    crosshair = state.crosshair
    seg_id = state.add_volume(_labels(state.volume(ct_id)))
    pet_id = state.add_fusion(_pet(), name="PET")
    assert state.active_volume_id == ct_id
    assert state.crosshair == crosshair
    layer = state.layer(pet_id)
    assert isinstance(layer, ImageLayer)
    assert (layer.fusion, layer.colormap, layer.opacity) == (True, "pet", 0.5)
    assert layer.window == SUV_0_5  # the volume's SUV default window
    assert [lay.id for lay in state.layers] == [ct_id, pet_id, seg_id]  # labels stay on top
    assert state.fusion_layers() == (layer,)
    assert state.active_image_layer_id() == ct_id
    assert state.layer(ct_id).fusion is False and state.layer(ct_id).colormap == "grey"


def test_fusion_window_colormap_and_opacity_are_events() -> None:
    state = ViewerState()
    state.add_volume(_ct())
    pet_id = state.add_fusion(_pet(), colormap="hot", window=WindowLevel(3.0, 4.0), opacity=0.7)
    layer = state.layer(pet_id)
    assert (layer.colormap, layer.window.low, layer.window.high, layer.opacity) == ("hot", 1.0, 5.0, 0.7)
    seen: list[LayerChanged] = []
    state.events.layer.connect(seen.append)
    state.set_layer_colormap(pet_id, "pet")
    state.set_layer_colormap(pet_id, "pet")  # no change: no event
    state.set_window(pet_id, 2.5, 5.0)
    assert [(e.layer_id, e.what) for e in seen] == [(pet_id, "colormap"), (pet_id, "window")]
    assert state.layer(pet_id).colormap == "pet"
    with pytest.raises(ValueError, match="unknown colour map"):
        state.set_layer_colormap(pet_id, "jet")


def test_fusion_needs_an_active_image_and_an_image_volume() -> None:
    state = ViewerState()
    with pytest.raises(ValueError, match="open an image"):
        state.add_fusion(_pet())
    ct_id = state.add_volume(_ct())
    with pytest.raises(ValueError, match="label map"):
        state.add_fusion(_labels(state.volume(ct_id)))
    seg_id = state.add_volume(_labels(state.volume(ct_id)))
    with pytest.raises(TypeError):
        state.set_layer_colormap(seg_id, "hot")


def test_an_existing_pet_layer_becomes_the_fusion_layer_of_a_ct_made_active() -> None:
    """The reverse opening: PET shown first, then its CT; the CT becomes the grey image."""
    state = ViewerState()
    pet_id = state.add_volume(_pet())
    ct_id = state.add_volume(_ct())
    with state.events.batch():
        state.set_active_volume(ct_id)
        state.fuse_layer(pet_id, colormap="pet", window=SUV_0_5, opacity=0.5)
    assert state.active_volume_id == ct_id
    assert [lay.id for lay in state.layers] == [ct_id, pet_id]
    assert [lay.id for lay in state.fusion_layers()] == [pet_id]
    state.unfuse_layer(pet_id)
    assert state.fusion_layers() == ()


def test_closing_the_ct_makes_the_pet_the_plain_active_image() -> None:
    state = ViewerState()
    ct_id = state.add_volume(_ct())
    pet_id = state.add_fusion(_pet())
    state.remove_volume(ct_id)
    assert state.active_volume_id == pet_id
    assert state.fusion_layers() == ()  # the active volume is never drawn over itself
    state.remove_volume(pet_id)
    assert state.layers == () and state.active_volume_id is None
