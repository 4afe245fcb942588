"""Diffusion series: gradient directions read from headers and named in stack labels.

No diffusion-weighted image files with direction tags are in the shared data
(dcm_qa_enh keeps only the reference ``.bval``/``.bvec`` of its Canon DTI
series), so the DWI series here are generated with pydicom: classic MR files
with top-level DiffusionBValue / DiffusionGradientOrientation, classic files
with the diffusion macro (MRDiffusionSequence), and an enhanced MR file whose
per-frame MRDiffusionSequence uses the Canon series' real b-values and
directions.  A real Philips non-diffusion series (b=0, gradient (0, 0, 0))
checks that ordinary series keep their labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from interval.io.dicom.header import read_header
from interval.io.dicom.header_fast import read_header_fast
from interval.io.dicom.index import index_folder
from tests.conftest import DICOM_DATA
from tests.io.dicom.test_grouping import SERIAL, only_series, write_image

CANON_REF = DICOM_DATA / "dcm_qa_enh" / "Ref" / "Canon_DTI_PA-ortho_9000"
PHILIPS_ANAT = DICOM_DATA / "dicom2nifti_testdata" / "tests" / "data" / "philips" / "anatomical" / "001"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
S = 0.7071


def _write_classic_dwi(folder: Path, volumes: list[tuple[float, tuple[float, float, float] | None]],
                       n_slices: int = 2, **extra: object) -> str:
    """One single-frame file per slice and volume; returns the series UID."""
    uid = generate_uid()
    n = 0
    for b, direction in volumes:
        for z in range(n_slices):
            n += 1
            more = dict(extra)
            if direction is not None:
                more["DiffusionGradientOrientation"] = list(direction)
            write_image(folder / f"{n:03d}.dcm", series_uid=uid, instance=n, position=(0, 0, 2.0 * z),
                        DiffusionBValue=b, **more)
    return uid


def _diffusion_item(b: float, direction: tuple[float, float, float] | None, directionality: str) -> Dataset:
    """The MR diffusion macro: b-value, directionality, direction in its own sequence."""
    item = Dataset()
    item.DiffusionBValue = b
    item.DiffusionDirectionality = directionality
    if direction is not None:
        grad = Dataset()
        grad.DiffusionGradientOrientation = list(direction)
        item.DiffusionGradientDirectionSequence = DicomSequence([grad])
    return item


def _write_enhanced_dwi(path: Path, bvals: list[float], bvecs: list[tuple[float, float, float]],
                        n_slices: int = 2) -> str:
    """An enhanced MR file: every volume (b-value, direction) at ``n_slices`` positions."""
    uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ENHANCED_MR
    meta.MediaStorageSOPInstanceUID = sop = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = ENHANCED_MR, sop, "MR"
    ds.PatientName, ds.PatientID = "Dwi^Enhanced", "DWI2"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SeriesNumber = generate_uid(), uid, 9000
    ds.SeriesDescription, ds.InstanceNumber = "DTI_PA-ortho", 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 0
    shared = Dataset()
    ori, meas = Dataset(), Dataset()
    ori.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    meas.PixelSpacing, meas.SliceThickness = [1, 1], 3
    shared.PlaneOrientationSequence = DicomSequence([ori])
    shared.PixelMeasuresSequence = DicomSequence([meas])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    frames = []
    for vol, (b, vec) in enumerate(zip(bvals, bvecs, strict=True), 1):
        for z in range(n_slices):
            item = Dataset()
            pos, content = Dataset(), Dataset()
            pos.ImagePositionPatient = [0, 0, 3.0 * z]
            content.DimensionIndexValues = [vol, z + 1]
            item.PlanePositionSequence = DicomSequence([pos])
            item.FrameContentSequence = DicomSequence([content])
            if b == 0:
                diff = _diffusion_item(0, None, "NONE")
            else:
                diff = _diffusion_item(b, vec, "DIRECTIONAL")
            item.MRDiffusionSequence = DicomSequence([diff])
            frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
    ds.NumberOfFrames = len(frames)
    ds.PixelData = np.zeros((len(frames), 4, 4), dtype=np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return uid


def _canon_scheme() -> tuple[list[float], list[tuple[float, float, float]]]:
    """The b-values and gradient directions of the real Canon DTI series (dcm2niix's reference)."""
    bvals = [float(v) for v in Path(f"{CANON_REF}.bval").read_text().split()]
    rows = [[float(v) for v in line.split()] for line in Path(f"{CANON_REF}.bvec").read_text().splitlines()]
    return bvals, list(zip(rows[0], rows[1], rows[2], strict=True))


# --- headers ------------------------------------------------------------------------------


def test_classic_direction_read_by_both_paths(tmp_path: Path) -> None:
    path = write_image(tmp_path / "dwi.dcm", series_uid=generate_uid(), DiffusionBValue=1000.0,
                       DiffusionGradientOrientation=[S, 0.0, -S], DiffusionDirectionality="DIRECTIONAL")
    slow = read_header(path)
    fast = read_header_fast(path)
    assert fast is not None and fast == slow
    info = slow.frames[0]
    assert info.b_value == 1000.0
    assert info.diffusion_direction == pytest.approx((S, 0.0, -S))
    assert info.diffusion_directionality == "DIRECTIONAL"


def test_classic_without_diffusion_tags_reads_none(tmp_path: Path) -> None:
    path = write_image(tmp_path / "t1.dcm", series_uid=generate_uid())
    info = read_header(path).frames[0]
    assert (info.b_value, info.diffusion_direction, info.diffusion_directionality) == (None, None, "")
    assert read_header_fast(path) == read_header(path)


def test_classic_diffusion_macro_is_read_by_the_full_parser(tmp_path: Path) -> None:
    """A classic file carrying MRDiffusionSequence at top level: the fast path steps aside."""
    item = _diffusion_item(700.0, (0.0, 1.0, 0.0), "DIRECTIONAL")
    path = write_image(tmp_path / "dwi.dcm", series_uid=generate_uid(),
                       MRDiffusionSequence=DicomSequence([item]))
    assert read_header_fast(path) is None
    info = read_header(path).frames[0]
    assert info.b_value == 700.0
    assert info.diffusion_direction == (0.0, 1.0, 0.0)
    assert info.diffusion_directionality == "DIRECTIONAL"


def test_malformed_direction_is_ignored(tmp_path: Path) -> None:
    path = write_image(tmp_path / "dwi.dcm", series_uid=generate_uid(), DiffusionBValue=1000.0,
                       DiffusionGradientOrientation=[1.0, 0.0])
    assert read_header(path).frames[0].diffusion_direction is None
    assert read_header_fast(path) == read_header(path)


def test_enhanced_per_frame_directions(tmp_path: Path) -> None:
    path = tmp_path / "enh.dcm"
    _write_enhanced_dwi(path, [0, 1000, 1000], [(0, 0, 0), (1, 0, 0), (0, S, S)], n_slices=1)
    frames = read_header(path).frames
    assert [f.b_value for f in frames] == [0, 1000, 1000]
    assert [f.diffusion_direction for f in frames] == [None, (1, 0, 0), pytest.approx((0, S, S))]
    assert [f.diffusion_directionality for f in frames] == ["NONE", "DIRECTIONAL", "DIRECTIONAL"]


# --- stacks and labels ------------------------------------------------------------------------


def test_dti_stacks_named_by_direction(tmp_path: Path) -> None:
    dirs = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (S, 0.0, S), (-S, 0.0, S)]
    uid = _write_classic_dwi(tmp_path, [(0.0, None)] + [(2000.0, d) for d in dirs])
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.label for s in se.stacks] == [
        "b=0",
        "b=2000 dir 1 (1.00, 0.00, 0.00)",
        "b=2000 dir 2 (0.00, 1.00, 0.00)",
        "b=2000 dir 3 (0.71, 0.00, 0.71)",
        "b=2000 dir 4 (-0.71, 0.00, 0.71)",
    ]
    assert [s.uid for s in se.stacks] == [f"{uid}#b0"] + [f"{uid}#b2000-dir{k}" for k in range(1, 5)]
    assert all(s.n_frames == 2 for s in se.stacks)


def test_directions_numbered_in_acquisition_order_per_shell(tmp_path: Path) -> None:
    """Two shells with the same scheme; b=0 repeated; a direction acquired twice."""
    x, y = (1.0, 0.0, 0.0), (0.0, -1.0, 0.0)
    _write_classic_dwi(tmp_path, [(0.0, None), (1000.0, y), (1000.0, x), (2000.0, y), (0.0, None),
                                  (2000.0, x), (1000.0, y)])
    se = only_series(index_folder(tmp_path, SERIAL))
    labels = [s.label for s in se.stacks]
    assert labels == [
        "b=0, volume 1",
        "b=0, volume 2",
        "b=1000 dir 1 (0.00, -1.00, 0.00), volume 1",
        "b=1000 dir 1 (0.00, -1.00, 0.00), volume 2",
        "b=1000 dir 2 (1.00, 0.00, 0.00)",
        "b=2000 dir 1 (0.00, -1.00, 0.00)",
        "b=2000 dir 2 (1.00, 0.00, 0.00)",
    ]
    assert len(set(labels)) == len(labels) == len({s.uid for s in se.stacks})


def test_isotropic_trace_and_unknown_direction(tmp_path: Path) -> None:
    uid = generate_uid()
    n = 0
    for b, direction, directionality in ((1000.0, (0.0, 0.0, 1.0), "DIRECTIONAL"),
                                         (1000.0, None, "ISOTROPIC"),
                                         (1000.0, (0.0, 0.0, 0.0), "")):
        for z in range(2):
            n += 1
            more: dict[str, object] = {"DiffusionBValue": b}
            if direction is not None:
                more["DiffusionGradientOrientation"] = list(direction)
            if directionality:
                more["DiffusionDirectionality"] = directionality
            write_image(tmp_path / f"{n}.dcm", series_uid=uid, instance=n, position=(0, 0, float(z)), **more)
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.label for s in se.stacks] == ["b=1000 dir 1 (0.00, 0.00, 1.00)", "b=1000 isotropic", "b=1000"]


def test_tiny_direction_noise_is_one_direction(tmp_path: Path) -> None:
    """Slices of one volume whose directions differ in the 4th decimal stay one stack."""
    uid = generate_uid()
    for z, d in enumerate([(S, 0.0, S), (S + 2e-4, -1e-4, S)]):
        write_image(tmp_path / f"a{z}.dcm", series_uid=uid, instance=z + 1, position=(0, 0, float(z)),
                    DiffusionBValue=0.0)
        write_image(tmp_path / f"b{z}.dcm", series_uid=uid, instance=z + 3, position=(0, 0, float(z)),
                    DiffusionBValue=1000.0, DiffusionGradientOrientation=list(d))
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.label for s in se.stacks] == ["b=0", "b=1000 dir 1 (0.71, 0.00, 0.71)"]
    assert [s.n_frames for s in se.stacks] == [2, 2]


def test_without_directions_labels_are_unchanged(tmp_path: Path) -> None:
    """No DiffusionGradientOrientation: volumes of a shell are still told apart by number."""
    _write_classic_dwi(tmp_path, [(0.0, None), (1000.0, None), (1000.0, None)])
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.label for s in se.stacks] == ["b=0", "b=1000, volume 1", "b=1000, volume 2"]


def test_b0_with_zero_direction_is_not_split(tmp_path: Path) -> None:
    """Non-diffusion MR written with b=0 and gradient (0, 0, 0) (as Philips does) stays one stack."""
    _write_classic_dwi(tmp_path, [(0.0, (0.0, 0.0, 0.0))], n_slices=3)
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [(s.label, s.n_frames) for s in se.stacks] == [("", 3)]


@pytest.mark.skipif(not Path(f"{CANON_REF}.bvec").is_file(), reason="dcm_qa_enh reference not available")
def test_enhanced_dti_with_real_scheme_has_distinct_labels(tmp_path: Path) -> None:
    bvals, bvecs = _canon_scheme()
    assert len(bvals) == 13 and bvals.count(0) == 1
    uid = _write_enhanced_dwi(tmp_path / "dti.dcm", bvals, bvecs)
    se = only_series(index_folder(tmp_path, SERIAL))
    labels = [s.label for s in se.stacks]
    assert len(labels) == 13 and len(set(labels)) == 13
    assert labels[0] == "b=0"
    for k, (label, vec) in enumerate(zip(labels[1:], bvecs[1:], strict=True), 1):
        x, y, z = (round(c, 2) + 0.0 for c in vec)
        assert label == f"b=1500 dir {k} ({x:.2f}, {y:.2f}, {z:.2f})"
    assert se.stacks[1].uid == f"{uid}#b1500-dir1"
    assert all(s.n_frames == 2 for s in se.stacks)


@pytest.mark.skipif(not PHILIPS_ANAT.is_dir(), reason="dicom2nifti test data not available")
def test_real_philips_b0_series_keeps_its_labels() -> None:
    """Real Philips files with b=0 and gradient (0, 0, 0): read, but no diffusion split."""
    files = sorted(PHILIPS_ANAT.iterdir())
    infos = [read_header(f).frames[0] for f in files]
    assert all(i.b_value == 0 and i.diffusion_direction == (0.0, 0.0, 0.0) for i in infos)
    assert all(read_header_fast(f) == read_header(f) for f in files)
    se = only_series(index_folder(PHILIPS_ANAT, SERIAL))
    assert [s.label for s in se.stacks] == [""]
