"""A decubitus-like MR T1 head series whose first slices lie outside the head.

:func:`head_volume` is the voxel array (slice, row, column): Rician-like noise
(0..~12) everywhere, and from slice ``EDGE`` on an ellipsoidal "head" of
~250..1100 (scalp bright, brain mid-grey, CSF dark).  :func:`write_hfdl_series`
writes it as one MR file per slice (PatientPosition HFDL), each with the window a
scanner that windows every slice would give, except the edge slices, whose noise
gave WindowCenter 4 / WindowWidth 8 -- the first window in array order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

N_SLICES, SIZE = 20, 64
EDGE = 3  # slices 0..EDGE-1 (array order) hold only background noise
EDGE_WINDOW = (4.0, 8.0)
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"

WindowOf = Callable[[int], "tuple[float, float] | None"]


def head_volume(seed: int = 0) -> np.ndarray:
    """The (N_SLICES, SIZE, SIZE) uint16 voxels; slice ``N_SLICES // 2`` crosses the head's middle."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(
        np.arange(N_SLICES), np.arange(SIZE), np.arange(SIZE), indexing="ij"
    )
    zc = (EDGE + N_SLICES) / 2.0
    r = np.sqrt(((z - zc) / ((N_SLICES - EDGE) / 2.0)) ** 2 + ((y - 32) / 28.0) ** 2
                + ((x - 32) / 24.0) ** 2)
    noise = np.hypot(rng.normal(0, 4, r.shape), rng.normal(0, 4, r.shape))
    tissue = np.where(r > 0.85, 1000.0, np.where(r < 0.25, 250.0, 600.0 - 200.0 * r))
    values = np.where(r <= 1.0, tissue + rng.normal(0, 40, r.shape), noise)
    values[:EDGE] = noise[:EDGE]  # outside the head whatever the ellipsoid says
    return np.clip(np.round(values), 0, 4095).astype(np.uint16)


def per_slice_window(k: int) -> tuple[float, float] | None:
    """The scanner's window of array slice ``k``: 4/8 on the edge, ~600/1200 in the head."""
    return EDGE_WINDOW if k < EDGE else (600.0 + k, 1200.0 + 2 * k)


def write_hfdl_series(folder: Path, window_of: WindowOf = per_slice_window) -> list[Path]:
    """One MR file per slice of :func:`head_volume`, array slice ``k`` at z = 2k
    (files named in reverse order); ``window_of(k)`` is its (WC, WW), or None: no tags."""
    folder.mkdir(parents=True, exist_ok=True)
    voxels = head_volume()
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for k in range(N_SLICES):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = MR_STORAGE
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.Modality, ds.PatientID, ds.PatientName = "MR", "HFDL01", "DECUBITUS^HEAD"
        ds.PatientPosition = "HFDL"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SeriesNumber, ds.SeriesDescription = 3, "T1 decubitus"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = ["-16", "-16", f"{2.0 * k:.1f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.PixelSpacing = ["0.5", "0.5"]
        ds.SliceThickness = "2"
        ds.Rows = ds.Columns = SIZE
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        window = window_of(k)
        if window is not None:
            ds.WindowCenter, ds.WindowWidth = f"{window[0]:g}", f"{window[1]:g}"
        ds.PixelData = voxels[k].astype("<u2").tobytes()
        path = folder / f"im{N_SLICES - k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
