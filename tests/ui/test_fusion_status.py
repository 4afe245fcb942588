"""Status bar under PET/CT fusion: the CT value and the PET's (SUV, sampled on the PET's
coarser grid) at the cursor; "PET -" outside the PET; the PET's own units without SUV."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.uid import generate_uid
from PySide6.QtCore import Qt

from interval.core.viewer_state import ViewerState
from interval.io.dicom.load import load_dicom
from interval.ui.status_info import status_text
from tests.ui.test_fusion_view import COLD_LPS, CT_HU, HOT_LPS, TIMEOUT_MS, write_ct, write_pet

BELOW_PET = (0.0, 0.0, -16.2)  # on the CT's first slice (z = -16 +- 1), under the PET's (-14 +- 2)


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A CT and a PET (in SUV) of one study and frame of reference."""
    uid, frame = generate_uid(), generate_uid()
    write_ct(tmp_path / "study" / "ct", uid, frame)
    write_pet(tmp_path / "study" / "pt", uid, frame)
    return tmp_path / "study"


def _values(text: str) -> str:
    """The value part of a status text (after position and voxel, before W/L)."""
    parts = text.split(" | ")
    return " | ".join(p for p in parts[2:] if not p.startswith(("W/L", "zoom")))


def test_status_text_shows_ct_and_pet_values(study: Path) -> None:
    ct, pet = load_dicom(study / "ct"), load_dicom(study / "pt")
    state = ViewerState()
    state.add_volume(ct)
    assert _values(status_text(state, "axial", HOT_LPS)) == f"{CT_HU} HU"  # not fused: as before
    pet_id = state.add_fusion(pet, name="PET")
    assert _values(status_text(state, "axial", HOT_LPS)) == f"CT {CT_HU} HU | PET SUVbw 9.00"
    assert _values(status_text(state, "axial", COLD_LPS)) == f"CT {CT_HU} HU | PET SUVbw 0.00"
    # 2 mm (half a PET voxel) from the hot voxel's centre: half its uptake, linearly
    half = (HOT_LPS[0] + 2.0, HOT_LPS[1], HOT_LPS[2])
    assert _values(status_text(state, "axial", half)) == f"CT {CT_HU} HU | PET SUVbw 4.50"
    # on the CT but beyond the PET's extent: a dash
    assert _values(status_text(state, "axial", BELOW_PET)) == f"CT {CT_HU} HU | PET -"
    state.set_layer_visible(pet_id, False)  # a hidden PET is not read out
    assert _values(status_text(state, "axial", HOT_LPS)) == f"{CT_HU} HU"


def test_pet_in_stored_units_shows_them(study: Path) -> None:
    ct, pet = load_dicom(study / "ct"), load_dicom(study / "pt")
    stored = pet.with_metadata(units="Bq/mL").with_array(
        (pet.array * 1000).astype("float32"))  # as if no SUV: the header's unit
    state = ViewerState()
    state.add_volume(ct)
    state.add_fusion(stored)
    assert _values(status_text(state, "axial", HOT_LPS)) == f"CT {CT_HU} HU | PET 9000 Bq/mL"


def test_fused_window_status_bar_shows_both(qtbot, window, study: Path) -> None:
    window.open_path(study)
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)
    uids = {stack.first.modality: uid for uid, stack in window.browser.stacks()}
    window.load_stack(uids["CT"])
    qtbot.waitUntil(lambda: window.loaded_stack_uid == uids["CT"]
                    and window.load_job.state == "finished", timeout=TIMEOUT_MS)
    window._show_cursor_info("axial", HOT_LPS)
    assert "PET" not in window.cursor_info.text()
    window.actions_by_id["fuse_pet_ct"].trigger()  # View > Fuse PET with CT
    qtbot.waitUntil(lambda: len(window.state.fusion_layers()) == 1, timeout=TIMEOUT_MS)
    window._show_cursor_info("axial", HOT_LPS)
    label = window.cursor_info
    assert f"| CT {CT_HU} HU | PET SUVbw 9.00 |" in label.text()
    assert label.textFormat() == Qt.TextFormat.PlainText
