"""Write a synthetic CT series for the load benchmark (uncompressed explicit VR LE).

Realistic CT header: 512x512 slices, stored ``uint16`` with BitsStored 12 /
HighBit 11 / PixelRepresentation 0, RescaleIntercept -1024, slope 1, axial
orientation, 0.7 mm pixels, 1.25 mm slices, window tags, UIDs.  Pixel data
is a body-shaped ellipse with bone and lungs plus noise.  Files get random
names and are written in random order, so nobody can rely on the file order.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

MARKER = ".complete.json"  # suffix of the marker file beside the folder


def _phantom(rows: int, cols: int, z: float, rng: np.random.Generator) -> np.ndarray:
    """One slice in HU: air, an elliptic body, two lungs, a spine, noise."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cy, cx = rows / 2, cols / 2
    hu = np.full((rows, cols), -1000.0, dtype=np.float32)
    body = ((x - cx) / (0.42 * cols)) ** 2 + ((y - cy) / (0.32 * rows)) ** 2 <= 1
    hu[body] = 40.0
    for side in (-1, 1):
        lung = ((x - cx - side * 0.18 * cols) / (0.12 * cols)) ** 2 + (
            (y - cy + 0.02 * rows) / (0.2 * rows)
        ) ** 2 <= 1 + 0.1 * np.sin(z / 20)
        hu[lung] = -850.0
    spine = (x - cx) ** 2 + (y - cy - 0.22 * rows) ** 2 <= (0.05 * cols) ** 2
    hu[spine] = 700.0
    hu += rng.normal(0, 12, size=hu.shape).astype(np.float32)
    return hu


def write_ct_series(folder: Path, slices: int, size: int, seed: int = 0) -> list[Path]:
    """Write the series into ``folder`` (created); return the file paths (random order)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    study_uid, series_uid, for_uid = generate_uid(), generate_uid(), generate_uid()
    now = datetime(2024, 5, 17, 9, 30)
    spacing, thickness = 0.7, 1.25
    order = rng.permutation(slices)
    paths = []
    for k in order:
        z = -200.0 + k * thickness
        hu = _phantom(size, size, z, rng)
        stored = np.clip(np.round(hu + 1024), 0, 4095).astype(np.uint16)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = now.strftime("%Y%m%d")
        ds.StudyTime = ds.SeriesTime = now.strftime("%H%M%S")
        ds.AcquisitionTime = ds.ContentTime = f"{now:%H%M}{int(k) % 60:02d}.{int(k):06d}"
        ds.AccessionNumber = "BENCH0001"
        ds.Modality = "CT"
        ds.Manufacturer = "Interval Benchmark"
        ds.ManufacturerModelName = "Synthetic CT"
        ds.InstitutionName = "Nowhere"
        ds.StudyDescription = "CT CHEST"
        ds.SeriesDescription = "Synthetic chest 1.25mm"
        ds.PatientName = "Bench^Synthetic"
        ds.PatientID = "BENCH-0001"
        ds.PatientBirthDate = "19600101"
        ds.PatientSex = "O"
        ds.PatientAge = "064Y"
        ds.BodyPartExamined = "CHEST"
        ds.SliceThickness = f"{thickness}"
        ds.KVP = "120"
        ds.DataCollectionDiameter = "500"
        ds.ReconstructionDiameter = f"{spacing * size:.1f}"
        ds.GantryDetectorTilt = "0"
        ds.TableHeight = "150"
        ds.RotationDirection = "CW"
        ds.ExposureTime = "500"
        ds.XRayTubeCurrent = "200"
        ds.Exposure = "100"
        ds.ConvolutionKernel = "B30f"
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = 2
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = int(k) + 1
        ds.ImagePositionPatient = [
            f"{-spacing * size / 2:.2f}",
            f"{-spacing * size / 2:.2f}",
            f"{z:.2f}",
        ]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = f"{z:.2f}"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = size
        ds.Columns = size
        ds.PixelSpacing = [f"{spacing}", f"{spacing}"]
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.PixelData = stored.tobytes()
        path = folder / uuid.UUID(bytes=rng.bytes(16)).hex
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    _marker(folder).write_text(json.dumps({"slices": slices, "size": size, "seed": seed}))
    return paths


def _marker(folder: Path) -> Path:
    """Completion marker beside (not inside) the series folder, so indexers never see it."""
    return folder.parent / (folder.name + MARKER)


def ensure_series(root: Path, slices: int, size: int) -> tuple[Path, bool]:
    """The series folder for these parameters, written unless already complete."""
    folder = root / f"ct_{size}x{size}x{slices}"
    marker = _marker(folder)
    if marker.exists() and folder.is_dir():
        try:
            info = json.loads(marker.read_text())
            if info.get("slices") == slices and info.get("size") == size:
                return folder, True
        except (OSError, ValueError):
            pass
    marker.unlink(missing_ok=True)
    if folder.exists():
        for entry in os.scandir(folder):
            if entry.is_file():
                os.unlink(entry.path)
    write_ct_series(folder, slices, size)
    return folder, False


def series_files(folder: Path) -> list[str]:
    """The DICOM files of a benchmark folder, in directory order."""
    return [e.path for e in os.scandir(folder) if e.is_file()]
