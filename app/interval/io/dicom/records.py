"""Plain records produced by the indexer and consumed by the loader.

They hold only what was parsed from headers (no pixel data) and are
picklable, so header parsing can run in worker processes.

Tree: :class:`DicomIndex` -> :class:`PatientRecord` -> :class:`StudyRecord`
-> :class:`SeriesRecord` -> :class:`ImageStack` (one loadable volume) made of
:class:`FrameRef` (one 2-D frame of one file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from interval.core.metadata import VoiLut

ObjectKind = Literal["image", "seg", "rtstruct", "sr", "pr", "raw", "waveform", "other"]


@dataclass(frozen=True)
class FrameInfo:
    """Per-frame geometry and acquisition values (one per frame of a file).

    Single-frame files have exactly one.  Values that are absent are ``None``.
    """

    position: tuple[float, float, float] | None  # ImagePositionPatient (LPS mm)
    orientation: tuple[float, float, float, float, float, float] | None  # row, column cosines
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns) mm
    slice_thickness: float | None = None
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    window_center: float | None = None
    window_width: float | None = None
    echo_time: float | None = None
    echo_number: int | None = None
    temporal_position: int | None = None  # TemporalPositionIdentifier / Index
    trigger_time: float | None = None
    acquisition_time: str = ""
    b_value: float | None = None
    diffusion_direction: tuple[float, float, float] | None = None  # DiffusionGradientOrientation
    diffusion_directionality: str = ""  # DIRECTIONAL, ISOTROPIC, NONE, BMATRIX (upper case)
    stack_id: str = ""  # enhanced: FrameContentSequence StackID
    in_stack_position: int | None = None
    dimension_index: tuple[int, ...] = ()
    image_type: str = ""  # e.g. ORIGINAL\PRIMARY\M  (magnitude/phase split)
    imager_pixel_spacing: tuple[float, float] | None = None  # ImagerPixelSpacing (detector plane)
    magnification: float | None = None  # EstimatedRadiographicMagnificationFactor
    voi_function: str = ""  # VOILUTFunction: LINEAR (also when empty), LINEAR_EXACT, SIGMOID


@dataclass(frozen=True)
class DicomHeader:
    """What one DICOM file says about itself, parsed without pixel data."""

    path: str
    kind: ObjectKind
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    transfer_syntax_uid: str = ""
    # patient / study / series
    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: date | None = None
    patient_sex: str = ""
    patient_position: str = ""
    study_instance_uid: str = ""
    study_date: date | None = None
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    series_instance_uid: str = ""
    series_number: int | None = None
    series_description: str = ""
    series_date: date | None = None
    modality: str = ""
    frame_of_reference_uid: str = ""
    body_part: str = ""
    manufacturer: str = ""
    instance_number: int | None = None
    acquisition_number: int | None = None
    # image pixel module
    rows: int = 0
    columns: int = 0
    samples_per_pixel: int = 1
    bits_allocated: int = 0
    bits_stored: int = 0
    high_bit: int = 0
    pixel_representation: int = 0
    photometric_interpretation: str = ""
    planar_configuration: int = 0
    presentation_lut_shape: str = ""  # PresentationLUTShape: IDENTITY, INVERSE or empty
    voi_lut: VoiLut | None = None  # the first VOI LUT Sequence table, when present
    number_of_frames: int = 1
    has_pixel_data: bool = False
    float_pixel_data: bool = False
    # where the native (uncompressed) pixel bytes are, for direct reads; None otherwise
    pixel_data_offset: int | None = None
    pixel_data_length: int | None = None
    frames: tuple[FrameInfo, ...] = ()
    # non-image objects: which series / instances they point at
    referenced_series_uids: tuple[str, ...] = ()
    referenced_sop_uids: tuple[str, ...] = ()
    description: str = ""  # e.g. SEG series / content label, SR title

    @property
    def is_multiframe(self) -> bool:
        return self.number_of_frames > 1

    @property
    def is_compressed(self) -> bool:
        from interval.io.dicom.transfer_syntax import is_encapsulated

        return is_encapsulated(self.transfer_syntax_uid)


@dataclass(frozen=True)
class FrameRef:
    """One 2-D frame: a file and the frame inside it (0-based)."""

    header: DicomHeader
    frame: int = 0

    @property
    def info(self) -> FrameInfo:
        return self.header.frames[self.frame]


@dataclass
class ImageStack:
    """Frames of one series that share geometry and acquisition: one loadable volume."""

    uid: str  # stable id: series UID plus a suffix when a series is split
    frames: list[FrameRef]
    label: str = ""  # why it was split off, e.g. "echo 2", "orientation 2"
    warnings: list[str] = field(default_factory=list)

    @property
    def first(self) -> DicomHeader:
        return self.frames[0].header

    @property
    def rows(self) -> int:
        return self.first.rows

    @property
    def columns(self) -> int:
        return self.first.columns

    @property
    def n_frames(self) -> int:
        return len(self.frames)


@dataclass(frozen=True)
class NonImageObject:
    """A SEG, RTSTRUCT, SR, presentation state, raw data... kept beside what it references."""

    header: DicomHeader

    @property
    def kind(self) -> ObjectKind:
        return self.header.kind


@dataclass
class SeriesRecord:
    series_instance_uid: str
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    stacks: list[ImageStack] = field(default_factory=list)
    objects: list[NonImageObject] = field(default_factory=list)  # non-image objects of this series
    attached: list[NonImageObject] = field(default_factory=list)  # others that reference it
    warnings: list[str] = field(default_factory=list)

    @property
    def n_files(self) -> int:
        return len({f.header.path for s in self.stacks for f in s.frames}) + len(self.objects)


@dataclass
class StudyRecord:
    study_instance_uid: str
    study_date: date | None = None
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    series: list[SeriesRecord] = field(default_factory=list)


@dataclass
class PatientRecord:
    patient_id: str
    patient_name: str = ""
    patient_birth_date: date | None = None
    patient_sex: str = ""
    studies: list[StudyRecord] = field(default_factory=list)


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not indexed, and why, in words a person understands."""

    path: str
    reason: str
    series_instance_uid: str = field(default="", compare=False)  # its series, when the header was readable


@dataclass
class DicomIndex:
    """Everything found under a folder: the patient tree plus what was skipped."""

    root: str
    patients: list[PatientRecord] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def iter_series(self):
        for p in self.patients:
            for st in p.studies:
                for se in st.series:
                    yield p, st, se

    def iter_stacks(self):
        for _p, _st, se in self.iter_series():
            yield from se.stacks

    def find_stack(self, uid: str) -> ImageStack | None:
        """The stack with this uid, or the only stack of the series with this UID."""
        for _p, _st, se in self.iter_series():
            for stack in se.stacks:
                if stack.uid == uid:
                    return stack
            if se.series_instance_uid == uid and se.stacks:
                return se.stacks[0]
        return None
