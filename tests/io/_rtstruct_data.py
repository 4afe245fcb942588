"""Generated DICOM for the RTSTRUCT and study-browser tests: a small CT series and an
RT Structure Set drawn on it (written with pydicom, nothing copied)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

RTSTRUCT_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"


@dataclass
class CtSeries:
    """What was written: where, and the UIDs an RTSTRUCT refers to."""

    folder: Path
    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    sop_uids: list[str]
    z: list[float]  # slice positions (mm), in file order
    origin_xy: tuple[float, float]
    pixel_spacing: float
    shape: tuple[int, int, int]  # (slices, rows, columns)


def _base(ds: Dataset, *, patient_id: str, study_uid: str, study_time: str) -> None:
    ds.PatientName = "Test^Rt"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = "20240305"
    ds.StudyTime = study_time
    ds.StudyDescription = "RT study"
    ds.AccessionNumber = "A1"
    ds.StudyID = "1"


def write_ct_series(
    folder: Path,
    *,
    n_slices: int = 8,
    rows: int = 48,
    cols: int = 48,
    pixel_spacing: float = 1.0,
    thickness: float = 2.0,
    origin_xy: tuple[float, float] = (-24.0, -24.0),
    study_uid: str | None = None,
    study_time: str = "101500",
    patient_position: str = "HFS",
    series_number: int = 1,
    description: str = "CT body",
    patient_id: str = "RT1",
) -> CtSeries:
    """An axial CT series of ``n_slices`` single-frame files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    for_uid = generate_uid()
    sops: list[str] = []
    zs: list[float] = []
    rng = np.random.default_rng(series_number)
    for k in range(n_slices):
        sop = generate_uid()
        z = k * thickness
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        _base(ds, patient_id=patient_id, study_uid=study_uid, study_time=study_time)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop
        ds.Modality = "CT"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description
        ds.FrameOfReferenceUID = for_uid
        ds.PatientPosition = patient_position
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [origin_xy[0], origin_xy[1], z]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [pixel_spacing, pixel_spacing]
        ds.SliceThickness = thickness
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.PixelData = rng.integers(-100, 100, (rows, cols), dtype=np.int16).tobytes()
        ds.save_as(folder / f"ct_{k:03d}.dcm", enforce_file_format=True)
        sops.append(sop)
        zs.append(z)
    return CtSeries(folder, study_uid, series_uid, for_uid, sops, zs, origin_xy,
                    pixel_spacing, (n_slices, rows, cols))


@dataclass
class Roi:
    """One ROI to write: its polygons are ``(n, 2)`` x/y mm, each drawn at every z listed."""

    number: int
    name: str
    color: tuple[int, int, int]
    polygons: Sequence[np.ndarray]
    z: Sequence[float]


def square(cx: float, cy: float, half: float) -> np.ndarray:
    """A square polygon (x/y mm), counter-clockwise."""
    return np.array([[cx - half, cy - half], [cx + half, cy - half],
                     [cx + half, cy + half], [cx - half, cy + half]])


def write_rtstruct(path: Path, ct: CtSeries, rois: Sequence[Roi], *, label: str = "Plan") -> str:
    """An RTSTRUCT on ``ct`` (same study and frame of reference); returns its SOP UID."""
    sop = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTSTRUCT_CLASS
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    _base(ds, patient_id="RT1", study_uid=ct.study_uid, study_time="101500")
    ds.SOPClassUID = RTSTRUCT_CLASS
    ds.SOPInstanceUID = sop
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 99
    ds.SeriesDescription = "Structures"
    ds.StructureSetLabel = label
    ref_series = Dataset()
    ref_series.SeriesInstanceUID = ct.series_uid
    ref_series.ContourImageSequence = [_image_ref(s) for s in ct.sop_uids]
    ref_study = Dataset()
    ref_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref_study.ReferencedSOPInstanceUID = ct.study_uid
    ref_study.RTReferencedSeriesSequence = [ref_series]
    ref_for = Dataset()
    ref_for.FrameOfReferenceUID = ct.frame_of_reference_uid
    ref_for.RTReferencedStudySequence = [ref_study]
    ds.ReferencedFrameOfReferenceSequence = [ref_for]
    ds.StructureSetROISequence = []
    ds.ROIContourSequence = []
    for roi in rois:
        item = Dataset()
        item.ROINumber = roi.number
        item.ReferencedFrameOfReferenceUID = ct.frame_of_reference_uid
        item.ROIName = roi.name
        item.ROIGenerationAlgorithm = "MANUAL"
        ds.StructureSetROISequence.append(item)
        contour_item = Dataset()
        contour_item.ReferencedROINumber = roi.number
        contour_item.ROIDisplayColor = list(roi.color)
        contour_item.ContourSequence = []
        for z in roi.z:
            k = ct.z.index(z) if z in ct.z else 0
            for poly in roi.polygons:
                c = Dataset()
                c.ContourImageSequence = [_image_ref(ct.sop_uids[k])]
                c.ContourGeometricType = "CLOSED_PLANAR"
                c.NumberOfContourPoints = len(poly)
                pts = np.column_stack([poly, np.full(len(poly), z)])
                c.ContourData = [f"{v:.4f}" for v in pts.reshape(-1)]
                contour_item.ContourSequence.append(c)
        ds.ROIContourSequence.append(contour_item)
    ds.save_as(path, enforce_file_format=True)
    return sop


def _image_ref(sop: str) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = CTImageStorage
    ref.ReferencedSOPInstanceUID = sop
    return ref
