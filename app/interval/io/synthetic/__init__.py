"""Synthetic CT patients for the demo, tests and training: anatomy, lesions, DICOM.

In memory (pure numpy, fast)::

    from interval.io.synthetic import generate_phantom
    scan = generate_phantom(seed=7, shape=(96, 160, 160), timepoint=1)
    scan.ct, scan.labels, scan.lesion_ids, scan.lesions   # HU, label map, ids, truth

On disk (real CT DICOM, one study per timepoint, plus ground truth)::

    from interval.io.synthetic import generate_patient
    patient = generate_patient("out/", seed=7)

Modules: :mod:`.phantom` (anatomy, rendering, label table), :mod:`.lesions`
(shapes and growth curves), :mod:`.grid` (scanner grid and patient pose),
:mod:`.dicom_writer` (CT series files), :mod:`.patient` (the patient on disk).
The disk side (pydicom, SimpleITK) is imported only when used.
"""

from __future__ import annotations

from typing import Any

from interval.io.synthetic.phantom import (
    DEFAULT_SHAPE,
    LABELS,
    LESION,
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
    "DEFAULT_SHAPE", "LABELS", "LESION", "LesionTruth", "PatientModel", "Phantom",
    "generate_phantom", "label_table", "render", "sample_patient", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
