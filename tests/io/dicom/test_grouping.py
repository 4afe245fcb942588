"""Splitting series into stacks, attaching non-image objects, ordering (synthetic files).

Small DICOM files are written with pydicom into tmp_path by :func:`write_image`
(also used by the other indexer tests).
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from interval.io.dicom.grouping import build_patients, image_type_class, split_stacks
from interval.io.dicom.index import index_folder
from interval.io.dicom.policy import DicomReadPolicy
from interval.io.dicom.records import DicomHeader, FrameInfo

SERIAL = DicomReadPolicy(workers=1)
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


def write_image(
    path: Path,
    *,
    series_uid: str,
    study_uid: str = "1.2.3.4",
    patient_id: str = "P1",
    instance: int = 1,
    position: tuple[float, float, float] | None = (0.0, 0.0, 0.0),
    orientation: tuple[float, ...] | None = AXIAL,
    rows: int = 4,
    cols: int = 4,
    spacing: tuple[float, float] | None = (1.0, 1.0),
    series_number: int = 1,
    study_date: str = "20240101",
    modality: str = "MR",
    image_type: str = "ORIGINAL\\PRIMARY\\M\\ND",
    sop_uid: str | None = None,
    implicit: bool = False,
    n_frames: int = 1,
    **extra: object,
) -> Path:
    """Write one small image (classic multi-frame if ``n_frames`` > 1); ``extra`` sets
    further attributes by keyword."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sop_uid = sop_uid or generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MR_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MR_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    ds.ImageType = image_type.split("\\")
    ds.PatientName = "Test^Patient"
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = study_date
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = list(position)
    if orientation is not None:
        ds.ImageOrientationPatient = list(orientation)
    if spacing is not None:
        ds.PixelSpacing = list(spacing)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    if n_frames > 1:
        ds.NumberOfFrames = n_frames
    ds.PixelData = np.full((n_frames, rows, cols), instance, dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_seg(
    path: Path,
    *,
    referenced_series: str | None = None,
    referenced_sops: tuple[str, ...] = (),
    study_uid: str = "1.2.3.4",
    patient_id: str = "P1",
) -> Path:
    """Write a minimal SEG-class object that references a series and/or instances."""
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SEG_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SEG_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "SEG"
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 99
    segment = Dataset()
    segment.SegmentLabel = "Liver"
    ds.SegmentSequence = DicomSequence([segment])
    item = Dataset()
    if referenced_series:
        item.SeriesInstanceUID = referenced_series
    refs = []
    for sop in referenced_sops:
        ref = Dataset()
        ref.ReferencedSOPClassUID = MR_STORAGE
        ref.ReferencedSOPInstanceUID = sop
        refs.append(ref)
    if refs:
        item.ReferencedInstanceSequence = DicomSequence(refs)
    ds.ReferencedSeriesSequence = DicomSequence([item])
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def only_series(index):
    series = [se for _p, _st, se in index.iter_series()]
    assert len(series) == 1, [s.series_instance_uid for s in series]
    return series[0]


def z_of(stack) -> list[float]:
    return [f.info.position[2] for f in stack.frames]


# --- splitting rules ----------------------------------------------------------------------


def test_two_orientations_split_into_two_stacks(tmp_path: Path) -> None:
    uid = generate_uid()
    for i in range(3):
        write_image(tmp_path / f"ax{i}.dcm", series_uid=uid, instance=i + 1, position=(0, 0, float(i)))
        write_image(
            tmp_path / f"sag{i}.dcm", series_uid=uid, instance=i + 10,
            position=(float(i), 0, 0), orientation=SAGITTAL,
        )
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.uid for s in se.stacks] == [f"{uid}#ori1", f"{uid}#ori2"]
    assert [s.label for s in se.stacks] == ["orientation 1 (axial)", "orientation 2 (sagittal)"]
    assert all(s.n_frames == 3 for s in se.stacks)
    assert {f.info.orientation for f in se.stacks[1].frames} == {SAGITTAL}


def test_orientation_within_tolerance_is_one_stack(tmp_path: Path) -> None:
    uid = generate_uid()
    for i in range(4):
        jitter = 1e-5 * i
        write_image(
            tmp_path / f"{i}.dcm", series_uid=uid, instance=i + 1, position=(0, 0, float(i)),
            orientation=(1.0 - jitter, jitter, 0.0, 0.0, 1.0, jitter),
        )
    se = only_series(index_folder(tmp_path, SERIAL))
    assert len(se.stacks) == 1 and se.stacks[0].uid == uid and se.stacks[0].label == ""


def test_two_echoes_split_and_sorted(tmp_path: Path) -> None:
    uid = generate_uid()
    n = 0
    for echo, te in ((2, 30.0), (1, 10.0)):
        for z in range(3):
            n += 1
            write_image(
                tmp_path / f"e{echo}_{z}.dcm", series_uid=uid, instance=n, position=(0, 0, float(z)),
                EchoNumbers=echo, EchoTime=te,
            )
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.label for s in se.stacks] == ["echo 1 (TE 10 ms)", "echo 2 (TE 30 ms)"]
    assert [s.uid for s in se.stacks] == [f"{uid}#echo1", f"{uid}#echo2"]
    assert {f.info.echo_time for f in se.stacks[1].frames} == {30.0}
    assert z_of(se.stacks[0]) == [0.0, 1.0, 2.0]


def test_echo_times_without_echo_numbers_split(tmp_path: Path) -> None:
    uid = generate_uid()
    for i, te in enumerate((5.0, 5.0, 9.5, 9.5)):
        write_image(tmp_path / f"{i}.dcm", series_uid=uid, instance=i + 1, position=(0, 0, float(i % 2)), EchoTime=te)
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.label for s in se.stacks] == ["echo 1 (TE 5 ms)", "echo 2 (TE 9.5 ms)"]


def test_repeated_positions_split_into_ordered_volumes(tmp_path: Path) -> None:
    """fMRI-like: 3 volumes of 4 slices, told apart only by instance order (like GE EPI)."""
    uid = generate_uid()
    names = []
    for vol in range(3):
        for z in range(4):
            instance = vol * 4 + z + 1
            names.append(instance)
            write_image(
                tmp_path / f"file{instance:03d}.dcm", series_uid=uid, instance=instance,
                position=(0, 0, float(3 - z)),  # descending slices within a volume
            )
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.label for s in se.stacks] == ["volume 1", "volume 2", "volume 3"]
    assert [s.uid for s in se.stacks] == [f"{uid}#vol1", f"{uid}#vol2", f"{uid}#vol3"]
    for k, stack in enumerate(se.stacks):
        assert z_of(stack) == [0.0, 1.0, 2.0, 3.0]  # sorted along the slice normal
        assert sorted(f.header.instance_number for f in stack.frames) == list(range(4 * k + 1, 4 * k + 5))


def test_repeated_positions_use_temporal_position_over_instance_order(tmp_path: Path) -> None:
    uid = generate_uid()
    instances = list(range(1, 7))
    random.Random(3).shuffle(instances)  # instance order says nothing about time here
    i = 0
    for t in (2, 1):
        for z in range(3):
            write_image(
                tmp_path / f"{i}.dcm", series_uid=uid, instance=instances[i], position=(0, 0, float(z)),
                TemporalPositionIdentifier=t,
            )
            i += 1
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.label for s in se.stacks] == ["volume 1", "volume 2"]
    assert {f.info.temporal_position for f in se.stacks[0].frames} == {1}
    assert {f.info.temporal_position for f in se.stacks[1].frames} == {2}


def test_mixed_matrix_sizes_split(tmp_path: Path) -> None:
    uid = generate_uid()
    for i in range(2):
        write_image(tmp_path / f"a{i}.dcm", series_uid=uid, instance=i + 1, position=(0, 0, float(i)), rows=4, cols=4)
        write_image(tmp_path / f"b{i}.dcm", series_uid=uid, instance=i + 3, position=(0, 0, float(i)), rows=6, cols=5)
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [(s.rows, s.columns) for s in se.stacks] == [(4, 4), (6, 5)]
    assert [s.label for s in se.stacks] == ["image size 1 (4x4)", "image size 2 (5x6)"]
    assert all(s.n_frames == 2 for s in se.stacks)


def test_pixel_spacing_split(tmp_path: Path) -> None:
    uid = generate_uid()
    for i in range(2):
        write_image(tmp_path / f"a{i}.dcm", series_uid=uid, instance=i + 1, position=(0, 0, float(i)), spacing=(0.5, 0.5))
        write_image(tmp_path / f"b{i}.dcm", series_uid=uid, instance=i + 3, position=(0, 0, float(i)), spacing=(0.8, 0.8))
    se = only_series(index_folder(tmp_path, SERIAL))
    assert len(se.stacks) == 2
    assert [s.frames[0].info.pixel_spacing for s in se.stacks] == [(0.5, 0.5), (0.8, 0.8)]
    assert se.stacks[0].label.startswith("pixel spacing 1")


def test_magnitude_and_phase_split(tmp_path: Path) -> None:
    uid = generate_uid()
    for i in range(2):
        write_image(tmp_path / f"p{i}.dcm", series_uid=uid, instance=i + 1, position=(0, 0, float(i)), image_type="ORIGINAL\\PRIMARY\\P\\ND")
        write_image(tmp_path / f"m{i}.dcm", series_uid=uid, instance=i + 3, position=(0, 0, float(i)), image_type="ORIGINAL\\PRIMARY\\M\\ND")
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.label for s in se.stacks] == ["magnitude", "phase"]
    assert [s.uid for s in se.stacks] == [f"{uid}#mag", f"{uid}#phase"]


def test_image_type_classes() -> None:
    assert image_type_class("ORIGINAL\\PRIMARY\\M\\ND") == "magnitude"
    assert image_type_class("ORIGINAL\\PRIMARY\\P\\ND") == "phase"
    assert image_type_class("ORIGINAL\\PRIMARY\\R_FFE\\R\\FFE") == "real"
    assert image_type_class("ORIGINAL\\PRIMARY\\T1\\FIELD_MAP") == "field map"
    assert image_type_class("ORIGINAL\\PRIMARY\\AXIAL") == ""
    assert image_type_class("") == ""


def test_b_values_split_then_volumes(tmp_path: Path) -> None:
    """DWI-like: b=0 once, b=1000 in two directions (repeated positions)."""
    uid = generate_uid()
    n = 0
    for b in (0.0, 1000.0, 1000.0):
        for z in range(2):
            n += 1
            write_image(tmp_path / f"{n}.dcm", series_uid=uid, instance=n, position=(0, 0, float(z)), DiffusionBValue=b)
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.label for s in se.stacks] == ["b=0", "b=1000, volume 1", "b=1000, volume 2"]
    assert [s.uid for s in se.stacks] == [f"{uid}#b0", f"{uid}#b1000-vol1", f"{uid}#b1000-vol2"]


def test_mosaic_files_are_one_stack_each(tmp_path: Path) -> None:
    uid = generate_uid()
    for i in range(3):
        write_image(
            tmp_path / f"{i}.dcm", series_uid=uid, instance=i + 1, position=(-100, -100, 0), rows=8, cols=8,
            image_type="ORIGINAL\\PRIMARY\\M\\ND\\MOSAIC", AcquisitionNumber=i + 1,
        )
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.label for s in se.stacks] == ["volume 1", "volume 2", "volume 3"]
    assert [s.frames[0].header.acquisition_number for s in se.stacks] == [1, 2, 3]


def test_single_mosaic_is_not_split(tmp_path: Path) -> None:
    uid = generate_uid()
    write_image(tmp_path / "m.dcm", series_uid=uid, image_type="ORIGINAL\\PRIMARY\\M\\ND\\MOSAIC")
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.uid for s in se.stacks] == [uid]


def test_images_without_position_stay_one_stack(tmp_path: Path) -> None:
    """Secondary captures / projection images: the loader decides what they are."""
    uid = generate_uid()
    for i in range(3):
        write_image(tmp_path / f"{i}.dcm", series_uid=uid, instance=3 - i, position=None, orientation=None, spacing=None, modality="OT")
    se = only_series(index_folder(tmp_path, SERIAL))
    assert len(se.stacks) == 1
    assert [f.header.instance_number for f in se.stacks[0].frames] == [1, 2, 3]


def test_same_position_single_images_are_one_time_series(tmp_path: Path) -> None:
    """A repeat of one slice over time (bolus tracking, dynamic): one stack of frames in
    acquisition order (the loader shows it as frames in time, see test_time_frames)."""
    uid = generate_uid()
    for i in range(3):
        write_image(tmp_path / f"{i}.dcm", series_uid=uid, instance=i + 1, position=(0, 0, 5.0), AcquisitionNumber=10 - i)
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.n_frames for s in se.stacks] == [3] and se.stacks[0].uid == uid
    assert [f.header.acquisition_number for f in se.stacks[0].frames] == [8, 9, 10]


def test_classic_multiframe_files_are_not_split(tmp_path: Path) -> None:
    """Frames of a classic multi-frame file share one position: one stack per file."""
    uid = generate_uid()
    write_image(tmp_path / "a.dcm", series_uid=uid, instance=1, n_frames=5)
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [s.n_frames for s in se.stacks] == [5] and se.stacks[0].uid == uid
    write_image(tmp_path / "b.dcm", series_uid=uid, instance=2, n_frames=3)
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [(s.label, s.n_frames) for s in se.stacks] == [("file 1", 5), ("file 2", 3)]
    assert [f.frame for f in se.stacks[0].frames] == [0, 1, 2, 3, 4]


def test_stack_uids_do_not_depend_on_file_order(tmp_path: Path) -> None:
    uid = generate_uid()
    for vol in range(2):
        for z in range(3):
            write_image(
                tmp_path / f"{vol}_{z}.dcm", series_uid=uid, instance=vol * 3 + z + 1,
                position=(0, 0, float(z)), EchoNumbers=1 + (z % 1),
            )
    first = index_folder(tmp_path, SERIAL)
    headers = [f.header for s in first.iter_stacks() for f in s.frames]
    shuffled = list(reversed(headers))
    patients, _dups = build_patients(shuffled)
    again = [s for p in patients for st in p.studies for se in st.series for s in se.stacks]
    assert [(s.uid, [f.header.path for f in s.frames]) for s in first.iter_stacks()] == [
        (s.uid, [f.header.path for f in s.frames]) for s in again
    ]


# --- enhanced multi-frame (records built directly) -----------------------------------------


def _enhanced_header(frames: list[FrameInfo], path: str = "/x/enh.dcm") -> DicomHeader:
    return DicomHeader(
        path=path, kind="image", sop_instance_uid=generate_uid(), series_instance_uid="9.9",
        rows=4, columns=4, number_of_frames=len(frames), frames=tuple(frames), has_pixel_data=True,
    )


def test_enhanced_frames_split_by_stack_id() -> None:
    base = FrameInfo(position=(0, 0, 0), orientation=AXIAL, pixel_spacing=(1, 1))
    frames = [replace(base, position=(0, 0, float(z)), stack_id=sid) for sid in ("2", "1") for z in range(3)]
    stacks = split_stacks("9.9", [_enhanced_header(frames)])
    assert [s.label for s in stacks] == ["stack 1", "stack 2"]
    assert [{f.info.stack_id for f in s.frames} for s in stacks] == [{"1"}, {"2"}]
    assert all(s.n_frames == 3 for s in stacks)


def test_enhanced_frames_split_by_dimension_index() -> None:
    """Two volumes in one file, told apart only by a dimension index component."""
    base = FrameInfo(position=(0, 0, 0), orientation=AXIAL, pixel_spacing=(1, 1))
    frames = [
        replace(base, position=(0, 0, float(z)), dimension_index=(1, z + 1, t))
        for z in range(3)
        for t in (2, 1)
    ]
    stacks = split_stacks("9.9", [_enhanced_header(frames)])
    assert [s.label for s in stacks] == ["volume 1", "volume 2"]
    assert [{f.info.dimension_index[2] for f in s.frames} for s in stacks] == [{1}, {2}]
    assert [f.frame for f in stacks[0].frames] == [1, 3, 5]


# --- non-image objects ----------------------------------------------------------------------


def test_seg_attached_by_series_uid(tmp_path: Path) -> None:
    uid = generate_uid()
    for i in range(2):
        write_image(tmp_path / "ct" / f"{i}.dcm", series_uid=uid, instance=i + 1, position=(0, 0, float(i)))
    write_seg(tmp_path / "seg" / "seg.dcm", referenced_series=uid)
    index = index_folder(tmp_path, SERIAL)
    se = only_series(index)  # the SEG's own series is folded into the attachment
    assert se.series_instance_uid == uid
    assert [o.kind for o in se.attached] == ["seg"]
    assert se.attached[0].header.description == "Liver"
    assert se.objects == [] and se.warnings == []


def test_seg_attached_by_instance_uid(tmp_path: Path) -> None:
    uid = generate_uid()
    sop = generate_uid()
    write_image(tmp_path / "ct" / "0.dcm", series_uid=uid, sop_uid=sop)
    write_seg(tmp_path / "seg.dcm", referenced_sops=(sop,))
    se = only_series(index_folder(tmp_path, SERIAL))
    assert [o.kind for o in se.attached] == ["seg"]


def test_unresolved_seg_stays_in_its_series_with_warning(tmp_path: Path) -> None:
    write_image(tmp_path / "ct.dcm", series_uid=generate_uid())
    write_seg(tmp_path / "seg.dcm", referenced_series=generate_uid())
    index = index_folder(tmp_path, SERIAL)
    series = [se for _p, _st, se in index.iter_series()]
    seg_series = [se for se in series if se.objects]
    assert len(series) == 2 and len(seg_series) == 1
    assert seg_series[0].objects[0].kind == "seg"
    assert "not in this folder" in seg_series[0].warnings[0]
    assert all(not se.attached for se in series)


# --- ordering, duplicates, missing UIDs ------------------------------------------------------


def test_series_sorted_by_number_and_studies_by_date(tmp_path: Path) -> None:
    for n in (12, 3, 7):
        write_image(tmp_path / f"late_{n}.dcm", series_uid=generate_uid(), study_uid="1.9", study_date="20240301", series_number=n)
    write_image(tmp_path / "early.dcm", series_uid=generate_uid(), study_uid="1.8", study_date="20230105", series_number=1)
    index = index_folder(tmp_path, SERIAL)
    assert len(index.patients) == 1
    studies = index.patients[0].studies
    assert [st.study_instance_uid for st in studies] == ["1.8", "1.9"]
    assert [se.series_number for se in studies[1].series] == [3, 7, 12]


def test_duplicate_instances_listed_as_skipped(tmp_path: Path) -> None:
    uid = generate_uid()
    sop = generate_uid()
    write_image(tmp_path / "a" / "x.dcm", series_uid=uid, sop_uid=sop)
    write_image(tmp_path / "b" / "x.dcm", series_uid=uid, sop_uid=sop)
    index = index_folder(tmp_path, SERIAL)
    se = only_series(index)
    assert se.stacks[0].n_frames == 1
    assert [s.path for s in index.skipped] == [str(tmp_path / "b" / "x.dcm")]
    assert "duplicate" in index.skipped[0].reason


def test_files_without_series_uid_grouped_by_folder(tmp_path: Path) -> None:
    for folder in ("one", "two"):
        for i in range(2):
            write_image(tmp_path / folder / f"{i}.dcm", series_uid="", instance=i + 1, position=(0, 0, float(i)))
    index = index_folder(tmp_path, SERIAL)
    series = [se for _p, _st, se in index.iter_series()]
    assert len(series) == 2
    assert all(se.stacks[0].n_frames == 2 for se in series)
    assert all(se.series_instance_uid.startswith("no-series-uid-") for se in series)
    assert all("no Series Instance UID" in se.warnings[0] for se in series)
    assert index_folder(tmp_path, SERIAL).find_stack(series[0].stacks[0].uid) is not None


def test_two_patients_are_kept_apart(tmp_path: Path) -> None:
    uid = generate_uid()
    write_image(tmp_path / "a.dcm", series_uid=uid, patient_id="A")
    write_image(tmp_path / "b.dcm", series_uid=generate_uid(), patient_id="B", study_uid="5.6")
    index = index_folder(tmp_path, SERIAL)
    assert sorted(p.patient_id for p in index.patients) == ["A", "B"]


def test_reused_sop_uid_for_different_images_keeps_all() -> None:
    """dcm_qa_12bit: one SOPInstanceUID for three different images (as dcm2niix, keep all)."""
    from interval.io.dicom.index import index_folder
    from tests.conftest import shared

    index = index_folder(shared("dcm_qa_12bit", "In"))
    assert not index.skipped
    assert sum(1 for _ in index.iter_stacks()) == 3
