"""Descriptive metadata a viewer and a report need, independent of the file format."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID", "TABLE")
"""DICOM VOI LUT Functions (PS3.3 C.11.2.1.3), and TABLE for a VOI LUT Sequence table."""


@dataclass(frozen=True)
class VoiLut:
    """A DICOM VOI LUT table (VOI LUT Sequence, PS3.3 C.11.2.1.1) on rescaled values.

    Input ``first`` maps to ``data[0]``, ``first + k`` to ``data[k]``; inputs
    below ``first`` or above the last entry take the first or last entry.  The
    output runs from 0 (black) to ``out_max`` (white), e.g. ``2**bits - 1``.
    """

    first: float
    data: tuple[int, ...]
    out_max: int = 65535
    explanation: str = ""

    @property
    def last(self) -> float:
        """The input mapped to the last entry."""
        return self.first + len(self.data) - 1


@dataclass(frozen=True)
class WindowLevel:
    """A display window: ``center`` and ``width`` in stored (rescaled) units, e.g. HU.

    ``function`` is the DICOM VOI LUT Function (LINEAR, LINEAR_EXACT or SIGMOID)
    applied with ``center`` and ``width``; TABLE means the VOI LUT table ``lut``
    (then ``center`` and ``width`` span the table's input range).
    """

    center: float
    width: float
    name: str = ""
    function: str = "LINEAR"
    lut: VoiLut | None = None

    @property
    def low(self) -> float:
        return self.center - self.width / 2.0

    @property
    def high(self) -> float:
        return self.center + self.width / 2.0


# The warning of an image whose pixel spacing is unknown (taken as 1): its distances and
# areas are in pixels.  One sentence, so that :attr:`VolumeMetadata.length_unit` can tell.
PIXELS_NOT_MM_WARNING = (
    "This image has no usable pixel spacing (missing or zero), so distances and areas are "
    "in pixels, not millimetres."
)


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
    voi_lut: VoiLut | None = None  # the DICOM VOI LUT table, when the images carry one
    # PresentationLUTShape INVERSE on a MONOCHROME2 image: shown inverted (MONOCHROME1 is
    # inverted when read, so its INVERSE shape is that same inversion, not a second one)
    presentation_inverse: bool = False
    sop_instance_uids: tuple[str, ...] = ()  # one per slice, in array order (for DICOM SEG)
    sop_class_uid: str = ""
    source: str = ""  # where it came from, for messages (a folder, a file)
    warnings: tuple[str, ...] = ()
    # "space": the k axis runs through the patient (slices); "time": the frames of a
    # 2-D clip or a time series at one position (k spacing is nominal, no 3-D geometry)
    frame_axis: str = "space"
    frame_times_ms: tuple[float, ...] = ()  # "time": each frame's offset from the first (ms)
    frame_rate_hz: float | None = None  # "time": the acquired frame rate, when known
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @property
    def length_unit(self) -> str:
        """``"mm"``, or ``"px"`` when the pixel spacing is unknown (distances in pixels)."""
        return "px" if PIXELS_NOT_MM_WARNING in self.warnings else "mm"

    def with_warnings(self, *more: str) -> VolumeMetadata:
        """A copy with ``more`` appended to ``warnings``."""
        return replace(self, warnings=self.warnings + tuple(more))
