"""PET/CT fusion kept across a series switch, headless: the PET fused over a CT comes back
with its settings when the reader returns to that CT (from memory, or reloaded when it
was released); another CT of the PET's frame of reference is offered the fusion, never
fused silently."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from interval.core.viewer_state import ImageLayer
from interval.ui.main_window import MainWindow
from tests.ui.test_fusion_view import TIMEOUT_MS, write_ct, write_pet

HOT_WINDOW = (1.0, 7.0)  # the PET's window changed by the reader (low, high)


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """CT ``ct1`` and PET ``pt`` in one frame of reference, CT ``ct2`` in the same frame,
    CT ``other`` in another one -- all of one study."""
    uid, frame = generate_uid(), generate_uid()
    write_ct(tmp_path / "study" / "ct1", uid, frame)
    write_ct(tmp_path / "study" / "ct2", uid, frame)
    write_ct(tmp_path / "study" / "other", uid, generate_uid())
    write_pet(tmp_path / "study" / "pt", uid, frame)
    return tmp_path / "study"


def _open(qtbot, window: MainWindow, folder: Path) -> dict[str, str]:
    """Open ``folder``; sub-folder name -> stack uid."""
    window.open_path(folder)
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)
    return {Path(stack.first.path).parent.name: uid for uid, stack in window.browser.stacks()}


def _load(qtbot, window: MainWindow, uid: str) -> None:
    window.load_stack(uid)
    qtbot.waitUntil(lambda: window.loaded_stack_uid == uid and window.load_job.state == "finished",
                    timeout=TIMEOUT_MS)


def _fusion(window: MainWindow) -> ImageLayer:
    (layer,) = window.state.fusion_layers()
    return layer


def _settings(layer: ImageLayer) -> tuple:
    return (layer.colormap, layer.opacity, layer.window.low, layer.window.high, layer.visible)


def _fused_and_tuned(qtbot, window: MainWindow, uids: dict[str, str]) -> tuple:
    """CT ``ct1`` shown with the PET fused over it, in "hot", opacity 0.8, 1-7 SUV."""
    _load(qtbot, window, uids["ct1"])
    window.load_stack(uids["pt"])  # offered, accepted
    qtbot.waitUntil(lambda: len(window.state.fusion_layers()) == 1, timeout=TIMEOUT_MS)
    layer = _fusion(window)
    low, high = HOT_WINDOW
    window.state.set_layer_colormap(layer.id, "hot")
    window.state.set_layer_opacity(layer.id, 0.8)
    window.state.set_window(layer.id, (low + high) / 2, high - low)
    return _settings(_fusion(window))


def test_fusion_comes_back_from_memory_after_a_switch(qtbot, window, study, monkeypatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(window, "ask_fusion", lambda text: asked.append(text) or True)
    uids = _open(qtbot, window, study)
    tuned = _fused_and_tuned(qtbot, window, uids)
    assert tuned == ("hot", 0.8, *HOT_WINDOW, True) and len(asked) == 1
    pet = window.state.volume(_fusion(window).volume_id)
    fusion_job = window.fusion_job

    _load(qtbot, window, uids["other"])  # another frame of reference: not offered, alone
    assert window.state.fusion_layers() == () and len(window.state.volumes) == 1
    assert len(asked) == 1

    _load(qtbot, window, uids["ct1"])  # back: the fusion returns as it was, without asking
    assert len(asked) == 1
    assert window.state.active_volume.metadata.modality == "CT"
    assert _settings(_fusion(window)) == tuned
    assert window.state.volume(_fusion(window).volume_id) is pet  # from memory
    assert window.fusion_job is fusion_job  # nothing reloaded
    assert len(window.state.volumes) == 2


def test_a_released_pet_is_reloaded_in_the_background(qtbot, window, study, monkeypatch) -> None:
    monkeypatch.setattr(window, "ask_fusion", lambda text: True)
    uids = _open(qtbot, window, study)
    tuned = _fused_and_tuned(qtbot, window, uids)
    fusion_job = window.fusion_job
    _load(qtbot, window, uids["other"])
    window._fusion_memory().release()  # e.g. memory wanted for another PET
    gc.collect()
    assert window._fusion_memory().volume(uids["pt"]) is None  # nothing else held it

    _load(qtbot, window, uids["ct1"])
    assert window.fusion_job is not fusion_job  # the PET is read again, in the background
    qtbot.waitUntil(lambda: len(window.state.fusion_layers()) == 1, timeout=TIMEOUT_MS)
    assert _settings(_fusion(window)) == tuned
    assert window.state.volume(_fusion(window).volume_id).metadata.modality == "PT"


def test_another_ct_of_the_frame_is_offered_the_fusion(qtbot, window, study, monkeypatch) -> None:
    answers: list[bool] = [True]  # fuse the PET over ct1
    asked: list[str] = []
    monkeypatch.setattr(window, "ask_fusion", lambda text: asked.append(text) or answers.pop(0))
    uids = _open(qtbot, window, study)
    tuned = _fused_and_tuned(qtbot, window, uids)
    pet = window.state.volume(_fusion(window).volume_id)

    answers.append(False)  # ct2: declined -> it opens alone
    _load(qtbot, window, uids["ct2"])
    assert len(asked) == 2 and "same frame of reference" in asked[1]
    assert window.state.fusion_layers() == () and len(window.state.volumes) == 1

    _load(qtbot, window, uids["ct1"])  # ct1 keeps its own fusion: not asked again
    assert len(asked) == 2 and _settings(_fusion(window)) == tuned

    answers.append(True)  # ct2 again: accepted -> the same PET over it, same settings
    _load(qtbot, window, uids["ct2"])
    assert len(asked) == 3
    qtbot.waitUntil(lambda: len(window.state.fusion_layers()) == 1, timeout=TIMEOUT_MS)
    assert window._loaded_volume is window.state.active_volume
    assert window.loaded_stack_uid == uids["ct2"]
    assert window.state.volume(_fusion(window).volume_id) is pet
    assert _settings(_fusion(window)) == tuned
    assert answers == []
