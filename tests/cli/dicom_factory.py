"""Small, real DICOM series written with pydicom for CLI and image-file tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass
class WrittenSeries:
    """What was written: the files, the expected HU array [k, j, i] and the geometry."""

    paths: list[Path]
    array: np.ndarray
    series_uid: str
    study_uid: str
    spacing: tuple[float, float, float]  # x, y, z
    origin: tuple[float, float, float]


def write_ct_series(
    folder: Path,
    *,
    n: int = 5,
    rows: int = 8,
    cols: int = 10,
    pixel_spacing: tuple[float, float] = (0.6, 0.5),  # (between rows, between columns)
    positions_z: Sequence[float] | None = None,
    origin: tuple[float, float] = (-12.5, 30.0),
    series_number: int = 3,
    description: str = "Axial test",
    patient_name: str = "TEST^PATIENT",
    patient_id: str = "PID001",
    study_uid: str | None = None,
    series_uid: str | None = None,
    seed: int = 0,
    prefix: str = "img",
) -> WrittenSeries:
    """Write ``n`` axial CT slices (files named in shuffled order) under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    z = list(positions_z) if positions_z is not None else [10.0 + 2.5 * k for k in range(n)]
    n = len(z)
    stored = rng.integers(0, 3000, size=(n, rows, cols), dtype=np.uint16)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = generate_uid()
    order = rng.permutation(n)  # file names do not follow slice order
    paths = []
    for file_no, k in enumerate(order):
        ds = _ct_slice(
            stored[k], rows, cols, pixel_spacing, (origin[0], origin[1], z[k]),
            instance=int(k) + 1, series_number=series_number, description=description,
            patient_name=patient_name, patient_id=patient_id, study_uid=study_uid,
            series_uid=series_uid, frame_uid=frame_uid,
        )
        path = folder / f"{prefix}{file_no:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    hu = stored.astype(np.int32) - 1024
    gap = float(np.median(np.diff(sorted(z)))) if n > 1 else 1.0
    return WrittenSeries(
        paths=paths,
        array=hu,
        series_uid=series_uid,
        study_uid=study_uid,
        spacing=(pixel_spacing[1], pixel_spacing[0], gap),
        origin=(origin[0], origin[1], float(min(z))),
    )


def _ct_slice(
    pixels: np.ndarray, rows: int, cols: int, pixel_spacing: tuple[float, float],
    position: tuple[float, float, float], *, instance: int, series_number: int,
    description: str, patient_name: str, patient_id: str, study_uid: str,
    series_uid: str, frame_uid: str,
) -> Dataset:
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = "20240102"
    ds.StudyTime = "101500"
    ds.StudyDescription = "CT CHEST"
    ds.AccessionNumber = "ACC1"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = description
    ds.Modality = "CT"
    ds.FrameOfReferenceUID = frame_uid
    ds.PatientPosition = "HFS"
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
    ds.ImageOrientationPatient = list(AXIAL)
    ds.PixelSpacing = [str(pixel_spacing[0]), str(pixel_spacing[1])]
    ds.SliceThickness = "2.5"
    ds.Rows = rows
    ds.Columns = cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    return ds


def write_junk(folder: Path, names: Sequence[str] = ("README.txt",)) -> list[Path]:
    """Non-DICOM files that the indexer must skip with a reason."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        p = folder / name
        p.write_text("not a DICOM file, just notes\n" * 4)
        out.append(p)
    return out
