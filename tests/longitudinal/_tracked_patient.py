"""A tiny generated patient tracked with its ground-truth label maps (shared test data).

The same small run serves the workspace, registration-check, timepoint-view and
axis-drag tests: three 40x80x80 CT timepoints, rigid registration, no forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interval.io.synthetic.patient import generate_patient
from interval.longitudinal.pipeline import TrackingOptions, run_tracking
from interval.longitudinal.segmentation_source import FileLabels
from interval.longitudinal.timeline import build_timeline

SHAPE = (40, 80, 80)
SPACING = (4.0, 4.0, 8.0)


@dataclass(frozen=True)
class TrackedPatient:
    """The generated patient, its timeline selection and the tracking's output folder."""

    patient: Any
    selection: Any
    out: Path


def track_tiny_patient(root: Path, seed: int, n_timepoints: int = 3) -> TrackedPatient:
    """Generate a patient under ``root`` and run ``interval track``'s pipeline on it into
    ``root / "out"`` with the truth label maps."""
    patient = generate_patient(root / "patient", seed, n_timepoints, SHAPE, SPACING,
                               keep_arrays=False)
    selection = build_timeline([patient.dicom_dir])
    labels = FileLabels([tp.labels_path for tp in patient.timepoints])
    run_tracking(selection, labels, root / "out",
                 TrackingOptions(registration="rigid", forecast=False),
                 inputs=(patient.dicom_dir,))
    return TrackedPatient(patient, selection, root / "out")
