"""Synthetic CT patients for the demo, tests and training: anatomy, lesions, DICOM.

In memory (pure numpy, fast)::

    from interval.io.synthetic import generate_phantom
    scan = generate_phantom(seed=7, shape=(96, 160, 160), timepoint=1)
    scan.ct, scan.labels, scan.lesion_ids, scan.lesions   # HU, label map, ids, truth

On disk (real CT DICOM, one study per timepoint, plus ground truth)::

    from interval.io.synthetic import generate_patient
    patient = generate_patient("out/", seed=7, n_timepoints=5)
    patient.events                                   # merges and splits, as painted
    true_point_mapping(patient, 2, baseline_points)  # truth: rigid pose + deformation

Modules: :mod:`.phantom` (anatomy, rendering, label table), :mod:`.lesions`
(shapes and growth curves), :mod:`.groups` (lesions that merge or split),
:mod:`.nodes` (lymph nodes), :mod:`.deformation` (breathing and posture, the
point-mapping truth), :mod:`.events` (merge/split events read off the label
maps), :mod:`.grid` (scanner grid and patient pose), :mod:`.dicom_writer` (CT
series files), :mod:`.patient` (the patient on disk).  The disk side (pydicom,
SimpleITK) is imported only when used.
"""

from __future__ import annotations

from typing import Any

from interval.io.synthetic.deformation import (
    Deformation,
    deformation_displacement,
    rigid_from_baseline,
    true_point_mapping,
)
from interval.io.synthetic.events import LesionEvent, lesion_events
from interval.io.synthetic.groups import LesionGroup
from interval.io.synthetic.phantom import (
    DEFAULT_SHAPE,
    LABELS,
    LESION,
    LYMPH_NODE,
    LesionTruth,
    PatientModel,
    Phantom,
    generate_phantom,
    label_table,
    render,
    sample_patient,
)

_LAZY = {
    "generate_patient": "interval.io.synthetic.patient",
    "read_synthetic_patient": "interval.io.synthetic.patient",
    "SyntheticPatient": "interval.io.synthetic.patient",
    "TimepointRecord": "interval.io.synthetic.patient",
}

__all__ = [
    "DEFAULT_SHAPE", "LABELS", "LESION", "LYMPH_NODE", "Deformation", "LesionEvent",
    "LesionGroup", "LesionTruth", "PatientModel", "Phantom", "deformation_displacement",
    "generate_phantom", "label_table", "lesion_events", "render", "rigid_from_baseline",
    "sample_patient", "true_point_mapping", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
