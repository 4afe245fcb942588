"""SUV (body weight) of PET series: the factor, its refusals, and PET volumes loaded in SUVbw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from interval.core.metadata import VolumeMetadata
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.io.dicom.header import read_header
from interval.io.dicom.load import load_dicom, load_stack, load_stack_slices
from interval.io.dicom.records import FrameRef, ImageStack
from interval.io.dicom.suv import SuvUnavailable, decayed_dose, parse_tm, suv_factor
from interval.ui.status_info import status_text, window_text

PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
DOSE = 370e6  # Bq (370 MBq)
F18_HALF_LIFE = 6586.2  # s
WEIGHT = 75.0  # kg
SLOPES = (0.25, 0.5, 0.37)  # per slice, as PET scanners write them
INTERCEPTS = (0.0, 0.0, 2.0)


def write_pet(
    folder: Path,
    *,
    weight: str | None = "75",
    decay: str = "START",
    injection: str = "090000",  # RadiopharmaceuticalStartTime; the series starts at 10:00
    series_time: str = "100000",
    corrected: tuple[str, ...] = ("DECY", "ATTN", "SCAT"),
    units: str = "BQML",
    start_datetime: str | None = None,
) -> np.ndarray:
    """Three axial 4x5 slices, each acquired 3 minutes after the last; returns the stored values."""
    folder.mkdir(parents=True, exist_ok=True)
    stored = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5) * 1000 + 500
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    for k in range(3):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = PET_STORAGE
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.Modality = "PT"
        ds.PatientName, ds.PatientID = "SUV^TEST", "SUV01"
        if weight is not None:
            ds.PatientWeight = weight
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = "20240131"
        ds.SeriesTime = series_time
        ds.AcquisitionTime = f"10{3 * k:02d}00"  # per bed position: later than the series
        ds.Units, ds.DecayCorrection = units, decay
        ds.CorrectedImage = list(corrected)
        drug = Dataset()
        drug.Radiopharmaceutical = "Fluorodeoxyglucose"
        drug.RadiopharmaceuticalStartTime = injection
        if start_datetime is not None:
            drug.RadiopharmaceuticalStartDateTime = start_datetime
        drug.RadionuclideTotalDose = str(DOSE)
        drug.RadionuclideHalfLife = str(F18_HALF_LIFE)
        ds.RadiopharmaceuticalInformationSequence = [drug]
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = ["-10", "-20", f"{2.0 * k:.1f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.PixelSpacing, ds.SliceThickness = ["4", "4"], "2"
        ds.Rows, ds.Columns = 4, 5
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = str(SLOPES[k]), str(INTERCEPTS[k])
        ds.WindowCenter, ds.WindowWidth = "20000", "40000"  # Bq/mL, as scanners write them
        ds.PixelData = stored[k].tobytes()
        ds.save_as(folder / f"pt{k:02d}.dcm", enforce_file_format=True)
    return stored


def bq_ml(stored: np.ndarray) -> np.ndarray:
    """The activity concentration the files store: stored * slope + intercept, per slice."""
    return np.stack([stored[k] * SLOPES[k] + INTERCEPTS[k] for k in range(3)])


def stack_in(folder: Path) -> ImageStack:
    frames = [FrameRef(read_header(p)) for p in sorted(folder.glob("*.dcm"))]
    return ImageStack(uid="pet", frames=frames)


# --- the loaded volume ------------------------------------------------------------------


def test_pet_series_loads_in_suv_bw_computed_by_hand(tmp_path):
    stored = write_pet(tmp_path / "pet")
    vol = load_dicom(tmp_path / "pet")
    # voxel (i=3, j=2) of slice 2: stored 2*20000 + 2*5000 + 3*1000 + 500 = 53500,
    # slope 0.37, intercept 2 -> 19797 Bq/mL
    value = 53500 * 0.37 + 2.0
    assert stored[2, 2, 3] == 53500
    # 60 minutes from the injection (09:00) to the series start (10:00): the per-slice
    # acquisition times (10:00, 10:03, 10:06) do not count, the images are corrected to START
    decayed = 370e6 * 2.0 ** (-3600.0 / 6586.2)  # about 253.3 MBq left at 10:00
    suv = value * (75.0 * 1000.0) / decayed  # 75 kg as grams
    assert suv == pytest.approx(5.8614, abs=1e-3)
    assert vol.metadata.units == "SUVbw"
    assert vol.dtype == np.float32
    assert float(vol.array[2, 2, 3]) == pytest.approx(suv, rel=1e-6)
    factor = 75000.0 / decayed
    np.testing.assert_allclose(vol.array, bq_ml(stored) * factor, rtol=1e-6)
    assert vol.metadata.extra["suv_bw_factor"] == pytest.approx(factor, rel=1e-12)
    wl = vol.metadata.default_window
    assert wl is not None and (wl.low, wl.high) == (0.0, 5.0)
    assert not vol.metadata.warnings


def test_missing_weight_keeps_bq_per_ml_with_a_plain_warning(tmp_path):
    stored = write_pet(tmp_path / "pet", weight=None)
    vol = load_dicom(tmp_path / "pet")
    assert vol.metadata.units == "Bq/mL"
    np.testing.assert_allclose(vol.array, bq_ml(stored), rtol=1e-6)
    (warning,) = vol.metadata.warnings
    assert warning == (
        "Values are shown in Bq/mL, not as SUV. "
        "SUV needs the patient's weight, which this series does not give."
    )
    wl = vol.metadata.default_window
    assert wl is not None and (wl.center, wl.width) == (20000.0, 40000.0)  # the file's own


def test_admin_decay_correction_uses_the_whole_dose(tmp_path):
    stored = write_pet(tmp_path / "pet", decay="ADMIN")
    vol = load_dicom(tmp_path / "pet")
    assert vol.metadata.units == "SUVbw"
    # corrected to the injection already: SUV = Bq/mL * 75000 g / 370e6 Bq
    np.testing.assert_allclose(vol.array, bq_ml(stored) * 75000.0 / 370e6, rtol=1e-6)


def test_injection_after_the_scan_is_refused(tmp_path):
    stored = write_pet(tmp_path / "pet", injection="103000")
    vol = load_dicom(tmp_path / "pet")
    assert vol.metadata.units == "Bq/mL"
    np.testing.assert_allclose(vol.array, bq_ml(stored), rtol=1e-6)
    assert any("injection time given is after the start of the scan" in w
               for w in vol.metadata.warnings)


def test_progressive_load_reports_suv_from_the_first_slice(tmp_path):
    stored = write_pet(tmp_path / "pet")
    factor = 75000.0 / decayed_dose(DOSE, F18_HALF_LIFE, 3600.0)
    seen = []

    def on_partial(volume: Volume, filled: np.ndarray) -> None:
        k = int(np.flatnonzero(filled)[0])
        seen.append((volume.metadata.units, float(volume.array[k, 0, 0]), float(bq_ml(stored)[k, 0, 0])))

    vol = load_stack(stack_in(tmp_path / "pet"), on_partial=on_partial)
    assert seen and all(units == "SUVbw" for units, _v, _b in seen)
    assert all(v == pytest.approx(b * factor, rel=1e-6) for _u, v, b in seen)
    assert vol.metadata.units == "SUVbw"


def test_reading_some_slices_gives_suv_too(tmp_path):
    stored = write_pet(tmp_path / "pet")
    factor = 75000.0 / decayed_dose(DOSE, F18_HALF_LIFE, 3600.0)
    vol = load_stack_slices(stack_in(tmp_path / "pet"), [1])
    assert vol.metadata.units == "SUVbw"
    np.testing.assert_allclose(vol.array[1], bq_ml(stored)[1] * factor, rtol=1e-6)
    assert not vol.array[0].any()


def test_status_bar_shows_suv_values_and_window():
    md = VolumeMetadata(modality="PT", units="SUVbw")
    vol = Volume(np.full((2, 3, 4), 4.367, np.float32), metadata=md)
    state = ViewerState()
    vid = state.add_volume(vol)
    state.set_window(vid, 2.5, 5.0)
    text = status_text(state, "axial", (1.0, 1.0, 1.0))
    assert "| 4.37 SUVbw |" in text
    assert "W/L 5/2.5 SUV" in text
    assert window_text(Volume(np.zeros((1, 2, 2), np.float32),
                              metadata=VolumeMetadata(modality="PT", units="Bq/mL")),
                       40000, 20000) == "W/L 40000/20000"


# --- the factor itself ------------------------------------------------------------------


def _header(**over: object) -> dict[str, object]:
    drug = {
        "RadiopharmaceuticalStartTime": "090000",
        "RadionuclideTotalDose": "370000000",
        "RadionuclideHalfLife": "6586.2",
    }
    seq = "RadiopharmaceuticalInformationSequence"
    drug.update({k: v for k, v in over.items() if k.startswith("Radio") and k != seq})
    header: dict[str, object] = {
        "Modality": "PT", "Units": "BQML", "CorrectedImage": ["ATTN", "DECY"],
        "DecayCorrection": "START", "PatientWeight": "75", "SeriesDate": "20240131",
        "SeriesTime": "100000", "AcquisitionDate": "20240131", "AcquisitionTime": "100000",
        seq: [drug],
    }
    header.update({k: v for k, v in over.items() if not k.startswith("Radio") or k == seq})
    return header


def _refusal(**over: object) -> str:
    result = suv_factor(_header(**over))
    assert isinstance(result, SuvUnavailable), result
    return result.reason


def test_factor_of_a_header_and_of_a_dataset_agree():
    expected = 75000.0 / (370e6 * 2.0 ** (-3600.0 / 6586.2))
    assert suv_factor(_header()) == pytest.approx(expected, rel=1e-12)
    ds = Dataset()
    for key, value in _header().items():
        if key != "RadiopharmaceuticalInformationSequence":
            setattr(ds, key, value)
    drug = Dataset()
    drug.RadiopharmaceuticalStartTime = "090000"
    drug.RadionuclideTotalDose, drug.RadionuclideHalfLife = "370000000", "6586.2"
    ds.RadiopharmaceuticalInformationSequence = [drug]
    assert suv_factor(ds) == pytest.approx(expected, rel=1e-12)


def test_start_datetime_wins_over_start_time_and_crosses_midnight():
    # injected 23:30 the day before a 00:30 series: one hour
    over = {"SeriesTime": "003000", "AcquisitionTime": "003000",
            "RadiopharmaceuticalStartDateTime": "20240130233000.000000",
            "RadiopharmaceuticalStartTime": "233000"}
    expected = 75000.0 / (370e6 * 2.0 ** (-3600.0 / 6586.2))
    assert suv_factor(_header(**over)) == pytest.approx(expected, rel=1e-12)


def test_a_series_made_after_the_scan_uses_the_earliest_acquisition():
    # SeriesTime 11:00 (reconstructed later), acquisitions from 10:30: 90 minutes of decay
    over = {"SeriesTime": "110000", "AcquisitionTime": "104500"}
    result = suv_factor(_header(**over), acquisition_times=["103000", "20240131104000"])
    expected = 75000.0 / (370e6 * 2.0 ** (-5400.0 / 6586.2))
    assert result == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("over", "words"),
    [
        ({"PatientWeight": "0"}, "needs the patient's weight"),
        ({"PatientWeight": "750"}, "weight given (750 kg) is not plausible"),
        ({"RadionuclideTotalDose": "0"}, "needs the injected dose"),
        ({"RadionuclideTotalDose": "370"}, "(370 Bq) is not plausible (it should be in becquerels)"),
        ({"RadionuclideHalfLife": ""}, "needs the radionuclide half-life"),
        ({"RadiopharmaceuticalStartTime": ""}, "needs the injection time"),
        ({"RadiopharmaceuticalStartTime": "100001"}, "after the start of the scan"),
        ({"RadiopharmaceuticalStartDateTime": "20240130080000"}, "more than 24 hours before"),
        ({"Units": "CNTS"}, "units are 'CNTS'"),
        ({"Units": ""}, "units are not given"),
        ({"DecayCorrection": "NONE"}, "decay correction is 'NONE'"),
        ({"CorrectedImage": ["ATTN"]}, "not say it is corrected for decay"),
        ({"CorrectedImage": "DECY"}, "not say it is corrected for attenuation"),
        ({"RadiopharmaceuticalInformationSequence": []}, "radiopharmaceutical information"),
        ({"SeriesTime": "", "AcquisitionTime": "", "SeriesDate": ""}, "scan date and time"),
    ],
)
def test_missing_or_implausible_values_are_refused_in_words(over, words):
    assert words in _refusal(**over)


def test_gml_is_already_suv():
    assert suv_factor(_header(Units="GML")) == 1.0


def test_dicom_times():
    assert parse_tm("093015.5").total_seconds() == 9 * 3600 + 30 * 60 + 15.5
    assert parse_tm("09:30").total_seconds() == 9 * 3600 + 30 * 60
    assert parse_tm("0930") == parse_tm("093000")
    assert parse_tm("25") is None and parse_tm("") is None and parse_tm("x") is None
