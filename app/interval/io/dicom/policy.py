"""One policy object for how strictly DICOM is read (instead of scattered flags)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

IrregularAction = Literal["refuse", "as-is", "resample"]


@dataclass(frozen=True)
class DicomReadPolicy:
    """How Interval reads DICOM.

    irregular:
        What to do when slices do not form a regular grid (missing slices,
        uneven spacing, gantry tilt).  ``"refuse"`` (default) raises
        :class:`~interval.core.errors.IrregularGeometry` naming the problems;
        ``"as-is"`` loads the slices in order on their mean spacing and adds a
        warning to the volume; ``"resample"`` places every slice at its true
        position and resamples onto a regular grid (SimpleITK).
    spacing_tolerance:
        Relative deviation of a slice gap from the median gap above which the
        spacing counts as uneven (0.05 = 5 %), as well as an absolute floor of
        ``spacing_tolerance_mm``.
    max_voxel_bytes:
        A stack whose array would need more bytes than this is refused with
        :class:`~interval.core.errors.TooLarge` before anything is allocated.
        ``None`` means "what the machine can hold" (available memory).
    force:
        Also try files without the DICM preamble (old ACR-NEMA style).
    workers:
        Processes for header parsing; ``0`` means one per CPU core.
    """

    irregular: IrregularAction = "refuse"
    spacing_tolerance: float = 0.05
    spacing_tolerance_mm: float = 0.01
    max_voxel_bytes: int | None = None
    force: bool = True
    workers: int = 0


DEFAULT_POLICY = DicomReadPolicy()
