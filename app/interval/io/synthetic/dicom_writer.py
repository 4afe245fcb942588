"""Write an axial HU array as a real CT DICOM series (one file per slice).

CT Image Storage, explicit VR little endian, unsigned 16-bit pixels with 12
bits stored (HU + 1024, RescaleIntercept -1024) as many scanners write them.
Files are named ``IM0001.dcm`` ... with instance 1 the most superior slice.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

from interval.core.jobs import CancelFn, ProgressFn, check_cancel, report
from interval.io.synthetic.grid import Grid

MANUFACTURER = "Interval synthetic"
RESCALE_INTERCEPT = -1024
BITS_STORED = 12


def make_uid(*parts: object) -> str:
    """A valid DICOM UID determined only by ``parts`` (same parts, same UID)."""
    return generate_uid(entropy_srcs=["interval-synthetic", *(str(p) for p in parts)])


@dataclass(frozen=True)
class SeriesTags:
    """Who, what and when for one CT series (every value already decided by the caller)."""

    patient_name: str
    patient_id: str
    patient_birth_date: date
    patient_sex: str
    study_instance_uid: str
    study_date: date
    study_time: str  # HHMMSS
    study_id: str
    study_description: str
    accession_number: str
    series_instance_uid: str
    series_number: int
    series_description: str
    frame_of_reference_uid: str
    body_part: str = "CHESTABDOMEN"
    windows: tuple[tuple[float, float, str], ...] = ((40, 400, "SOFT TISSUE"), (-600, 1500, "LUNG"))


def _ds(value: float) -> str:
    """A decimal string of at most 16 characters, without trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")[:16]
    return "0" if text in ("-0", "") else text


def _base_dataset(tags: SeriesTags, grid: Grid) -> Dataset:
    nz, ny, nx = grid.shape
    sx, sy, sz = grid.spacing
    d8 = tags.study_date.strftime("%Y%m%d")
    ds = Dataset()  # the file meta information is written by _file_meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate = d8
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = d8
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = tags.study_time
    ds.AccessionNumber = tags.accession_number
    ds.Modality = "CT"
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = "Interval synthetic data (not a real patient)"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = tags.study_description
    ds.SeriesDescription = tags.series_description
    ds.ManufacturerModelName = "Phantom generator"
    ds.PatientName = tags.patient_name
    ds.PatientID = tags.patient_id
    ds.PatientBirthDate = tags.patient_birth_date.strftime("%Y%m%d")
    ds.PatientSex = tags.patient_sex
    age = (tags.study_date - tags.patient_birth_date).days // 365
    ds.PatientAge = f"{min(max(age, 0), 999):03d}Y"
    ds.BodyPartExamined = tags.body_part
    ds.SliceThickness = _ds(sz)
    ds.KVP = "120"
    ds.DataCollectionDiameter = _ds(500.0)
    ds.ReconstructionDiameter = _ds(max(nx * sx, ny * sy))
    ds.ConvolutionKernel = "STANDARD"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = tags.study_instance_uid
    ds.SeriesInstanceUID = tags.series_instance_uid
    ds.StudyID = tags.study_id
    ds.SeriesNumber = tags.series_number
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = tags.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ny
    ds.Columns = nx
    ds.PixelSpacing = [_ds(sy), _ds(sx)]
    ds.BitsAllocated = 16
    ds.BitsStored = BITS_STORED
    ds.HighBit = BITS_STORED - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = [_ds(c) for c, _w, _n in tags.windows]
    ds.WindowWidth = [_ds(w) for _c, w, _n in tags.windows]
    ds.WindowCenterWidthExplanation = [n for _c, _w, n in tags.windows]
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    return ds


def stored_values(ct: np.ndarray) -> np.ndarray:
    """HU (int16) -> stored unsigned 12-bit values (little-endian uint16)."""
    hu = np.clip(ct, RESCALE_INTERCEPT, RESCALE_INTERCEPT + (1 << BITS_STORED) - 1)
    return (hu.astype(np.int32) - RESCALE_INTERCEPT).astype("<u2")


def write_ct_series(
    ct: np.ndarray,
    grid: Grid,
    folder: str | Path,
    tags: SeriesTags,
    *,
    sop_uid: Callable[[int], str] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    done_before: int = 0,
    total: int | None = None,
) -> list[Path]:
    """Write ``ct`` (HU, ``[k, j, i]``, axial on ``grid``) into ``folder``; return the files.

    ``sop_uid(instance_number)`` gives each file's SOPInstanceUID (default:
    derived from the series UID).  ``progress`` is called per file with
    ``done_before + files written`` out of ``total``.

    pydicom encodes the attributes common to every slice once; each file is
    then assembled from those bytes and the few per-slice elements.
    """
    if ct.shape != grid.shape:
        raise ValueError(f"array shape {ct.shape} differs from the grid {grid.shape}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nz = grid.shape[0]
    total = nz if total is None else total
    uid_for = sop_uid or (lambda n: make_uid(tags.series_instance_uid, "sop", n))
    chunks = _fixed_chunks(_base_dataset(tags, grid))
    stored = stored_values(ct)
    positions = grid.slice_positions()
    paths = []
    for n in range(1, nz + 1):
        check_cancel(cancel)
        k = nz - n  # instance 1 is the most superior slice
        uid = uid_for(n)
        pixels = stored[k].tobytes()
        body = b"".join((
            chunks[0], _element(0x00080018, "UI", uid),
            chunks[1], _element(0x00200013, "IS", str(n)),
            chunks[2], _element(0x00200032, "DS", "\\".join(_ds(v) for v in positions[k])),
            chunks[3], _element(0x00201041, "DS", _ds(positions[k][2])),
            chunks[4], _element(0x7FE00010, "OW", pixels),
        ))
        path = folder / f"IM{n:04d}.dcm"
        with open(path, "wb") as fp:
            fp.write(b"\0" * 128 + b"DICM" + _file_meta(uid) + body)
        paths.append(path)
        report(progress, done_before + n, total)
    return paths


# --- byte-level encoding (explicit VR little endian) -----------------------------------

_LONG_VRS = {"OB", "OW", "OF", "OD", "OL", "SQ", "UC", "UR", "UT", "UN"}
_VARIABLE = (0x00080018, 0x00200013, 0x00200032, 0x00201041, 0x7FE00010)


def _element(tag: int, vr: str, value: str | bytes) -> bytes:
    """One data element in explicit VR little endian, padded to even length."""
    data = value.encode("ascii") if isinstance(value, str) else value
    if len(data) % 2:
        data += b"\0" if vr in ("UI", "OB") else b" "
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
    if vr in _LONG_VRS:
        return head + b"\0\0" + struct.pack("<I", len(data)) + data
    return head + struct.pack("<H", len(data)) + data


def _file_meta(sop_instance_uid: str) -> bytes:
    body = b"".join((
        _element(0x00020001, "OB", b"\0\1"),
        _element(0x00020002, "UI", str(CTImageStorage)),
        _element(0x00020003, "UI", sop_instance_uid),
        _element(0x00020010, "UI", str(ExplicitVRLittleEndian)),
        _element(0x00020012, "UI", str(PYDICOM_IMPLEMENTATION_UID)),
        _element(0x00020013, "SH", "INTERVAL_SYN_1"),
    ))
    return _element(0x00020000, "UL", struct.pack("<I", len(body))) + body


def _fixed_chunks(ds: Dataset) -> list[bytes]:
    """The dataset's elements (without file meta) encoded by pydicom, split around the
    per-slice tags: five byte strings to interleave with them."""
    groups: list[Dataset] = [Dataset() for _ in range(len(_VARIABLE))]
    for elem in ds:
        slot = sum(1 for t in _VARIABLE if int(elem.tag) > t)
        if int(elem.tag) not in _VARIABLE:
            groups[slot].add(elem)
    out = []
    for group in groups:
        buf = DicomBytesIO()
        buf.is_little_endian = True
        buf.is_implicit_VR = False
        write_dataset(buf, group)
        out.append(buf.getvalue())
    return out
