"""Descriptive metadata a viewer and a report need, independent of the file format."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date


@dataclass(frozen=True)
class WindowLevel:
    """A display window: ``center`` and ``width`` in stored (rescaled) units, e.g. HU."""

    center: float
    width: float
    name: str = ""

    @property
    def low(self) -> float:
        return self.center - self.width / 2.0

    @property
    def high(self) -> float:
        return self.center + self.width / 2.0


@dataclass(frozen=True)
class VolumeMetadata:
    """Who, what and when of a volume. Every field is optional (NIfTI carries none of them)."""

    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: date | None = None
    patient_sex: str = ""
    patient_position: str = ""  # DICOM PatientPosition, e.g. HFS, FFS, HFP
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
    units: str = ""  # "HU" for CT, "" when unknown
    default_window: WindowLevel | None = None
    sop_instance_uids: tuple[str, ...] = ()  # one per slice, in array order (for DICOM SEG)
    sop_class_uid: str = ""
    source: str = ""  # where it came from, for messages (a folder, a file)
    warnings: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def with_warnings(self, *more: str) -> VolumeMetadata:
        """A copy with ``more`` appended to ``warnings``."""
        return replace(self, warnings=self.warnings + tuple(more))
