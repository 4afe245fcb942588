"""PET/CT fusion read back headless: a PET (in SUV, on a coarser grid) in colour over the
grey CT of the same frame of reference; refused for different frames of reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from interval.core.fusion_rule import NOT_SAME_FRAME
from interval.core.viewer_state import ImageLayer, ViewerState
from interval.io.dicom.load import load_dicom
from interval.ui.main_window import MainWindow
from interval.ui.slice_view import dicom_linear_grey
from tests.ui.test_mpr_view import grey_at, make_view

TIMEOUT_MS = 60_000
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
CT_HU = 40  # soft tissue everywhere: grey 128 under the 40/400 window
HOT = (8, 8, 4)  # PET voxel (i, j, k) with high uptake
HOT_LPS = (2.0, 2.0, 2.0)  # its centre: PET origin (-30, -30, -14) + 4 mm * (8, 8, 4)
COLD_LPS = (-20.0, 10.0, 2.0)  # over 20 mm (5 PET voxels) away: no uptake at all
SUV_HOT = 9.0  # above the 0-5 SUV window: the top colour (red)


def _base(ds: Dataset, sop_class: str, study: str, frame: str, series: str, k: int) -> None:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientWeight = "FUSION^TEST", "FUS01", "75"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = "20240131"
    ds.StudyTime = "095000"
    ds.InstanceNumber = k + 1
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15


def write_ct(folder: Path, study: str, frame: str) -> None:
    """16 axial 64 x 64 slices, 1 mm pixels every 2 mm from z = -16, all 40 HU."""
    folder.mkdir(parents=True, exist_ok=True)
    series = generate_uid()
    for k in range(16):
        ds = Dataset()
        _base(ds, CT_STORAGE, study, frame, series, k)
        ds.Modality, ds.SeriesNumber, ds.SeriesDescription = "CT", 2, "CT body"
        ds.ImagePositionPatient = ["-32", "-32", f"{-16 + 2 * k}"]
        ds.PixelSpacing, ds.SliceThickness = ["1", "1"], "2"
        ds.Rows = ds.Columns = 64
        ds.PixelRepresentation = 1
        ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
        ds.WindowCenter, ds.WindowWidth = "40", "400"
        ds.PixelData = np.full((64, 64), CT_HU + 1024, np.int16).tobytes()
        ds.save_as(folder / f"ct{k:02d}.dcm", enforce_file_format=True)


def write_pet(folder: Path, study: str, frame: str) -> float:
    """8 axial 16 x 16 slices, 4 mm voxels from (-30, -30, -14), in Bq/mL with what SUVbw
    needs; zero everywhere but one hot voxel (:data:`HOT`).  Returns its stored value."""
    folder.mkdir(parents=True, exist_ok=True)
    series = generate_uid()
    # SUVbw = Bq/mL * weight (g) / decayed dose: injection at 09:00, series at 10:00
    decayed = 370e6 * 2.0 ** (-3600.0 / 6586.2)
    stored = round(SUV_HOT * decayed / 75000.0)
    for k in range(8):
        ds = Dataset()
        _base(ds, PET_STORAGE, study, frame, series, k)
        ds.Modality, ds.SeriesNumber, ds.SeriesDescription = "PT", 3, "PET AC"
        ds.SeriesTime, ds.AcquisitionTime = "100000", "100000"
        ds.Units, ds.DecayCorrection = "BQML", "START"
        ds.CorrectedImage = ["DECY", "ATTN"]
        drug = Dataset()
        drug.RadiopharmaceuticalStartTime = "090000"
        drug.RadionuclideTotalDose = "370000000"
        drug.RadionuclideHalfLife = "6586.2"
        ds.RadiopharmaceuticalInformationSequence = [drug]
        ds.ImagePositionPatient = ["-30", "-30", f"{-14 + 4 * k}"]
        ds.PixelSpacing, ds.SliceThickness = ["4", "4"], "4"
        ds.Rows = ds.Columns = 16
        ds.PixelRepresentation = 0
        ds.RescaleSlope, ds.RescaleIntercept = "1", "0"
        pixels = np.zeros((16, 16), np.uint16)
        if k == HOT[2]:
            pixels[HOT[1], HOT[0]] = stored
        ds.PixelData = pixels.tobytes()
        ds.save_as(folder / f"pt{k:02d}.dcm", enforce_file_format=True)
    return float(stored)


@pytest.fixture
def pet_ct(tmp_path: Path) -> Path:
    """A study with a CT and a PET sharing one frame of reference."""
    study, frame = generate_uid(), generate_uid()
    write_ct(tmp_path / "study" / "ct", study, frame)
    write_pet(tmp_path / "study" / "pt", study, frame)
    return tmp_path / "study"


def _plain(view):  # noqa: ANN001, ANN202 - an MprView
    """``view`` without crosshair and texts (they would cover the probed pixels)."""
    view.set_crosshair_visible(False)
    view.set_annotations_visible(False)
    return view


def _is_fused_red(pixel: np.ndarray, grey: int) -> bool:
    """Half red over the CT grey: R well above the grey, G and B well below R."""
    r, g, b = (int(c) for c in pixel)
    return r >= grey + 50 and g <= r - 80 and b <= r - 80


# --- the view ----------------------------------------------------------------------------
def test_pet_hot_voxel_is_red_over_the_grey_ct_where_it_is(qtbot, pet_ct: Path) -> None:
    ct, pet = load_dicom(pet_ct / "ct"), load_dicom(pet_ct / "pt")
    assert pet.metadata.units == "SUVbw"
    assert float(pet.array.max()) == pytest.approx(SUV_HOT, rel=0.01)
    state = ViewerState()
    ct_id = state.add_volume(ct)
    pet_id = state.add_fusion(pet, name="PET")
    state.set_crosshair(HOT_LPS)
    view = _plain(make_view(qtbot, state, "axial"))
    grey = int(dicom_linear_grey(CT_HU, 40, 400))

    frame = view.capture()
    assert _is_fused_red(grey_at(frame, view, HOT_LPS), grey)
    assert grey_at(frame, view, COLD_LPS).tolist() == [grey] * 3  # below the low end: pure CT
    # the colour sits on the hot voxel: 8 mm (two PET voxels) to the right it is gone
    assert grey_at(frame, view, (HOT_LPS[0] - 8.0, HOT_LPS[1], HOT_LPS[2])).tolist() == [grey] * 3

    state.set_layer_colormap(pet_id, "hot")  # above the window: white in "hot"
    r, g, b = grey_at(view.capture(), view, HOT_LPS).tolist()
    assert min(r, g, b) >= grey + 50
    state.set_layer_opacity(pet_id, 1.0)
    state.set_layer_colormap(pet_id, "pet")
    assert grey_at(view.capture(), view, HOT_LPS).tolist() == [255, 0, 0]
    state.set_window(pet_id, 15.0, 10.0)  # 10-20 SUV: the hot voxel is now below the low end
    assert grey_at(view.capture(), view, HOT_LPS).tolist() == [grey] * 3
    state.set_window(pet_id, 2.5, 5.0)
    state.set_layer_visible(pet_id, False)
    assert grey_at(view.capture(), view, HOT_LPS).tolist() == [grey] * 3
    state.set_layer_visible(pet_id, True)
    state.remove_volume(pet_id)
    assert grey_at(view.capture(), view, HOT_LPS).tolist() == [grey] * 3
    assert view.slice_view.image_overlay_keys == ()
    assert state.active_volume_id == ct_id


def test_fusion_stays_in_place_on_the_coronal_view(qtbot, pet_ct: Path) -> None:
    state = ViewerState()
    state.add_volume(load_dicom(pet_ct / "ct"))
    state.add_fusion(load_dicom(pet_ct / "pt"))
    state.set_crosshair(HOT_LPS)
    view = _plain(make_view(qtbot, state, "coronal"))
    grey = int(dicom_linear_grey(CT_HU, 40, 400))
    frame = view.capture()
    assert _is_fused_red(grey_at(frame, view, HOT_LPS), grey)
    assert grey_at(frame, view, (HOT_LPS[0], HOT_LPS[1], HOT_LPS[2] - 10.0)).tolist() == [grey] * 3


# --- opening from the window -------------------------------------------------------------
def _open(qtbot, window: MainWindow, folder: Path) -> dict[str, str]:
    """Open ``folder``; modality -> stack uid."""
    window.open_path(folder)
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)
    return {stack.first.modality: uid for uid, stack in window.browser.stacks()}


def _load(qtbot, window: MainWindow, uid: str) -> None:
    window.load_stack(uid)
    qtbot.waitUntil(lambda: window.loaded_stack_uid == uid and window.load_job.state == "finished",
                    timeout=TIMEOUT_MS)


def _fusion_layer(window: MainWindow) -> ImageLayer:
    (layer,) = window.state.fusion_layers()
    return layer


def test_opening_the_pet_over_its_ct_offers_fusion(qtbot, window, pet_ct, monkeypatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(window, "ask_fusion", lambda text: asked.append(text) or True)
    uids = _open(qtbot, window, pet_ct)
    _load(qtbot, window, uids["CT"])
    ct = window.state.active_volume
    assert ct is not None and ct.metadata.modality == "CT" and asked == []
    window.load_stack(uids["PT"])
    qtbot.waitUntil(lambda: len(window.state.fusion_layers()) == 1, timeout=TIMEOUT_MS)
    assert len(asked) == 1 and "same frame of reference" in asked[0]
    assert window.state.active_volume is ct  # the CT stays the grey image
    layer = _fusion_layer(window)
    assert (layer.colormap, layer.opacity) == ("pet", 0.5)
    assert (layer.window.low, layer.window.high) == (0.0, 5.0)
    assert "fusion" in window.message.text()

    window.state.set_crosshair(HOT_LPS)
    view = _plain(window._mpr_view("axial"))
    grey = int(dicom_linear_grey(CT_HU, 40, 400))
    frame = view.capture()
    assert _is_fused_red(grey_at(frame, view, HOT_LPS), grey)
    assert grey_at(frame, view, COLD_LPS).tolist() == [grey] * 3

    # the colour map can be changed from the layers panel
    # colour map and colour range from the layers panel
    panel = window.layers_panel
    assert panel is not None
    panel.select_layer(layer.id)
    assert panel.colormap.isEnabled()
    assert (panel.range_low.value(), panel.range_high.value()) == (0.0, 5.0)
    panel.colormap.setCurrentIndex(panel.colormap.findData("hot"))
    assert _fusion_layer(window).colormap == "hot"
    panel.range_high.setValue(20.0)
    panel.range_low.setValue(10.0)  # the hot voxel (9 SUV) is now below the low end
    assert (_fusion_layer(window).window.low, _fusion_layer(window).window.high) == (10.0, 20.0)
    assert grey_at(view.capture(), view, HOT_LPS).tolist() == [grey] * 3
    panel.select_layer(window.state.active_volume_id)
    assert not panel.colormap.isEnabled() and not panel.range_low.isEnabled()


def test_opening_the_ct_over_its_pet_keeps_the_ct_grey(qtbot, window, pet_ct, monkeypatch) -> None:
    monkeypatch.setattr(window, "ask_fusion", lambda text: True)
    uids = _open(qtbot, window, pet_ct)
    _load(qtbot, window, uids["PT"])
    pet = window.state.active_volume
    window.load_stack(uids["CT"])
    qtbot.waitUntil(lambda: len(window.state.fusion_layers()) == 1, timeout=TIMEOUT_MS)
    assert window.state.active_volume.metadata.modality == "CT"
    layer = _fusion_layer(window)
    assert window.state.volume(layer.volume_id) is pet
    assert (layer.colormap, layer.opacity, layer.window.low, layer.window.high) == ("pet", 0.5, 0.0, 5.0)


def test_declining_the_offer_opens_the_pet_alone(qtbot, window, pet_ct, monkeypatch) -> None:
    monkeypatch.setattr(window, "ask_fusion", lambda text: False)
    uids = _open(qtbot, window, pet_ct)
    _load(qtbot, window, uids["CT"])
    _load(qtbot, window, uids["PT"])
    assert window.state.active_volume.metadata.modality == "PT"
    assert window.state.fusion_layers() == ()
    assert len(window.state.volumes) == 1


def test_different_frames_of_reference_are_refused(qtbot, window, tmp_path, monkeypatch) -> None:
    study = generate_uid()
    write_ct(tmp_path / "study" / "ct", study, generate_uid())
    write_pet(tmp_path / "study" / "pt", study, generate_uid())
    asked: list[str] = []
    monkeypatch.setattr(window, "ask_fusion", lambda text: asked.append(text) or True)
    uids = _open(qtbot, window, tmp_path / "study")
    _load(qtbot, window, uids["CT"])
    assert window.fuse_pet_ct() is None  # View > Fuse PET with CT
    assert window.message.text() == NOT_SAME_FRAME
    assert window.fuse_stack(uids["PT"]) is None
    assert window.state.fusion_layers() == () and len(window.state.volumes) == 1
    _load(qtbot, window, uids["PT"])  # opening the PET is not offered as a fusion: it opens alone
    assert asked == [] and window.state.active_volume.metadata.modality == "PT"


def test_fuse_action_finds_the_pet_of_the_shown_ct(qtbot, window, pet_ct) -> None:
    uids = _open(qtbot, window, pet_ct)
    _load(qtbot, window, uids["CT"])
    window.actions_by_id["fuse_pet_ct"].trigger()
    qtbot.waitUntil(lambda: len(window.state.fusion_layers()) == 1, timeout=TIMEOUT_MS)
    assert window.state.active_volume.metadata.modality == "CT"
    assert window.state.volume(_fusion_layer(window).volume_id).metadata.modality == "PT"
