"""Write small single-frame projection radiographs (DX/CR) with pydicom, for the VOI tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation


def ramp(rows: int = 16, columns: int = 64, bits: int = 12) -> np.ndarray:
    """Stored values rising along the columns over most of the ``bits`` range (uint16)."""
    top = (1 << bits) - 1
    line = np.linspace(0, top, columns).round().astype(np.uint16)
    return np.repeat(line[None, :], rows, axis=0)


def write_dx(
    path: Path,
    pixels: np.ndarray,
    *,
    bits: int = 12,
    photometric: str = "MONOCHROME2",
    window: tuple[float, float] | None = (2048.0, 4096.0),
    voi_function: str | None = None,
    presentation_shape: str | None = None,
    imager_spacing: tuple[float, float] | None = (0.2, 0.2),
    pixel_spacing: tuple[float, float] | None = None,
    magnification: float | None = None,
    voi_table: tuple[int, int, int, list[int]] | None = None,
    rescale: tuple[float, float] | None = None,
) -> Path:
    """One DX image without patient position (single frame, uint16 stored).

    ``voi_table`` is ``(entries, first mapped, bits, data)`` for a VOI LUT Sequence item.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = DX_SOP_CLASS
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.PatientName = "Test^Projection"
    ds.PatientID = "P1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if window is not None:
        ds.WindowCenter = f"{window[0]:g}"
        ds.WindowWidth = f"{window[1]:g}"
    if voi_function is not None:
        ds.VOILUTFunction = voi_function
    if presentation_shape is not None:
        ds.PresentationLUTShape = presentation_shape
    if imager_spacing is not None:
        ds.ImagerPixelSpacing = [f"{v:g}" for v in imager_spacing]
    if pixel_spacing is not None:
        ds.PixelSpacing = [f"{v:g}" for v in pixel_spacing]
    if magnification is not None:
        ds.EstimatedRadiographicMagnificationFactor = f"{magnification:g}"
    if rescale is not None:
        ds.RescaleSlope = f"{rescale[0]:g}"
        ds.RescaleIntercept = f"{rescale[1]:g}"
    if voi_table is not None:
        entries, first, lut_bits, data = voi_table
        item = Dataset()
        item.LUTDescriptor = [entries, first, lut_bits]
        item.LUTExplanation = "TEST"
        item.LUTData = list(data)
        item["LUTData"].VR = "US"
        item["LUTDescriptor"].VR = "US"
        ds.VOILUTSequence = Sequence([item])
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path
