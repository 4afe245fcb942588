"""PET fusion kept across a series switch: the settings and PET volumes kept per CT, and
which fused PET is offered over another CT of its study and frame of reference."""

from __future__ import annotations

import gc
from types import SimpleNamespace

import numpy as np

from interval.core.fusion_memory import FusionMemory, KeptFusion, fusion_to_offer
from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume

SUV_1_7 = WindowLevel(4.0, 6.0, "")


def _volume(modality: str, frame: str = "1.2.3.9", study: str = "1.2.3") -> Volume:
    meta = VolumeMetadata(modality=modality, study_instance_uid=study,
                          frame_of_reference_uid=frame)
    return Volume(np.zeros((4, 4, 4), np.float32), (4.0, 4.0, 4.0), (0.0, 0.0, 0.0),
                  metadata=meta)


def _kept(pet_key: str = "pet-stack", opacity: float = 0.3) -> KeptFusion:
    return KeptFusion(pet_key, "PET AC", "hot", SUV_1_7, opacity, False)


def _facts(modality: str, frame: str = "1.2.3.9", study: str = "1.2.3") -> SimpleNamespace:
    return SimpleNamespace(modality=modality, study_instance_uid=study,
                           frame_of_reference_uid=frame)


def test_kept_fusion_takes_the_layer_settings() -> None:
    state = ViewerState()
    state.add_volume(_volume("CT"))
    vid = state.add_fusion(_volume("PT"), colormap="hot", window=SUV_1_7, opacity=0.3, name="PET AC")
    state.set_layer_visible(vid, False)
    (layer,) = state.fusion_layers()
    assert KeptFusion.of_layer(layer, "pet-stack") == _kept()


def test_remembered_fusion_comes_back_once_with_its_pet_in_memory() -> None:
    memory, pet = FusionMemory(), _volume("PT")
    memory.remember("ct-1", [(_kept(), pet)])
    assert memory.has("ct-1") and not memory.has("ct-2")
    ((kept, volume),) = memory.take("ct-1")
    assert kept == _kept() and volume is pet
    assert not memory.has("ct-1") and memory.take("ct-1") == []  # shown again: forgotten here


def test_remembering_nothing_forgets_the_series() -> None:
    memory = FusionMemory()
    memory.remember("ct-1", [(_kept(), _volume("PT"))])
    memory.remember("ct-1", [])  # the reader removed the fusion before switching
    assert not memory.has("ct-1")


def test_the_pinned_pet_stays_in_memory_without_other_holders() -> None:
    memory = FusionMemory(pinned=1)
    memory.remember("ct-1", [(_kept("pet-a"), _volume("PT"))])
    gc.collect()
    ((_k, volume),) = memory.take("ct-1")
    assert volume is not None


def test_an_older_pet_is_released_and_must_be_reloaded() -> None:
    memory = FusionMemory(pinned=1)
    memory.remember("ct-1", [(_kept("pet-a"), _volume("PT"))])
    memory.remember("ct-3", [(_kept("pet-b"), _volume("PT", study="4.5.6"))])  # pins pet-b only
    gc.collect()
    ((kept, volume),) = memory.take("ct-1")
    assert kept.pet_stack_uid == "pet-a" and volume is None  # released: reload it
    ((_k, volume_b),) = memory.take("ct-3")
    assert volume_b is not None


def test_a_released_pet_still_held_elsewhere_is_reused() -> None:
    memory, pet = FusionMemory(pinned=1), _volume("PT")
    memory.remember("ct-1", [(_kept(), pet)])
    memory.release()
    gc.collect()
    assert memory.take("ct-1")[0][1] is pet  # the test still holds it: no reload needed


def test_release_and_clear() -> None:
    memory = FusionMemory()
    memory.remember("ct-1", [(_kept(), _volume("PT"))])
    memory.release()
    gc.collect()
    assert memory.has("ct-1") and memory.take("ct-1")[0][1] is None
    memory.remember("ct-1", [(_kept(), _volume("PT"))])
    memory.clear()
    assert not memory.has("ct-1") and memory.volume("pet-stack") is None


def test_fusion_is_offered_over_another_ct_of_the_same_frame_only() -> None:
    pet = _facts("PT")
    assert fusion_to_offer(_facts("CT"), [pet]) == 0
    assert fusion_to_offer(_facts("CT"), [_facts("PT", frame="9.9"), pet]) == 1
    assert fusion_to_offer(_facts("CT", frame="9.9"), [pet]) is None  # needs a registration
    assert fusion_to_offer(_facts("CT", frame=""), [_facts("PT", frame="")]) is None
    assert fusion_to_offer(_facts("CT", study="7.7"), [pet]) is None  # another study
    assert fusion_to_offer(_facts("MR"), [pet]) is None
    assert fusion_to_offer(_facts("PT"), [pet]) is None  # a PET is not fused over a PET
    assert fusion_to_offer(_facts("CT"), []) is None
