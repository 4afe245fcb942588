"""The ``interval info`` tree: a JSON-ready description of what a path holds.

Built from headers only (no pixel data): a :class:`DicomIndex` for DICOM, or
an :class:`ImageInfo` for NIfTI/NRRD/MetaImage.  The keys are stable and
documented in the README; text output is rendered from the same tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

import interval
from interval.core.errors import IntervalError
from interval.io.dicom.geometry import analyse_stack
from interval.io.dicom.load import frame_infos
from interval.io.dicom.mosaic import is_mosaic, mosaic_geometry, read_mosaic_info
from interval.io.dicom.policy import DEFAULT_POLICY, DicomReadPolicy
from interval.io.dicom.records import DicomIndex, ImageStack, NonImageObject, SeriesRecord
from interval.io.dicom.time_frames import describe_time_stack, is_time_stack
from interval.io.dicom.transfer_syntax import describe, is_encapsulated
from interval.io.image_files import ImageInfo

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class StackGeometry:
    """Grid of a stack as its headers describe it."""

    dimensions: tuple[int, int, int]  # (columns, rows, slices) = (i, j, k)
    spacing: tuple[float | None, float | None, float | None]  # (x, y, z) mm
    orientation: str  # "axial", "coronal", "sagittal", "axial oblique"..., "" if unknown
    warnings: tuple[str, ...] = ()


def stack_geometry(stack: ImageStack, policy: DicomReadPolicy = DEFAULT_POLICY) -> StackGeometry:
    """Dimensions, spacing and plane of ``stack`` from its frames' headers (no pixels)."""
    dims = (stack.columns, stack.rows, stack.n_frames)
    if not stack.frames or any(not f.header.frames for f in stack.frames):
        return StackGeometry(dims, (None, None, None), "", ("frames without geometry",))
    if stack.n_frames == 1 and is_mosaic(stack.first):
        return _mosaic_geometry(stack)
    try:
        # the loader's own per-frame geometry (classic multi-frame positions included),
        # so `info` describes exactly the grid `convert` will load
        infos = frame_infos(list(stack.frames))
        if is_time_stack(stack.frames, infos):  # a 2-D clip or a time series at one position
            pixel, normal, summary, notes = describe_time_stack(stack.frames)
            plane = "" if normal is None else _plane(normal)
            return StackGeometry(dims, (pixel[1], pixel[0], None), plane, (summary, *notes))
        geo = analyse_stack(
            infos,
            spacing_tolerance=policy.spacing_tolerance,
            spacing_tolerance_mm=policy.spacing_tolerance_mm,
        )
    except IntervalError as exc:
        ps = stack.frames[0].info.pixel_spacing
        spacing = (ps[1], ps[0], None) if ps else (None, None, None)
        return StackGeometry(dims, spacing, "", (f"cannot be loaded as one volume: {exc.message}",))
    orientation = "" if geo.nominal else _plane(geo.normal)
    return StackGeometry(
        dims, tuple(float(s) for s in geo.spacing), orientation,  # type: ignore[arg-type]
        tuple(geo.problems) + tuple(geo.warnings),
    )


def _mosaic_geometry(stack: ImageStack) -> StackGeometry:
    """A Siemens mosaic: the tiles are the slices (reads the CSA header, not the pixels)."""
    header = stack.first
    try:
        info = read_mosaic_info(header)
        _origin, direction, spacing = mosaic_geometry(
            header.frames[0], info, header.rows, header.columns
        )
    except IntervalError as exc:
        return StackGeometry(
            (header.columns, header.rows, 1), (None, None, None), "", (f"mosaic: {exc.message}",)
        )
    return StackGeometry(
        (info.tile_cols, info.tile_rows, info.n_images), spacing, _plane(direction[:, 2]),
    )


def _plane(normal: np.ndarray) -> str:
    axis = int(np.argmax(np.abs(normal)))
    name = ("sagittal", "coronal", "axial")[axis]
    return name if abs(normal[axis]) > 0.9999 else f"{name} oblique"


# --- tree ---------------------------------------------------------------------------


def index_tree(index: DicomIndex, path: str | Path, kind: str) -> dict[str, Any]:
    """The JSON tree for a DICOM folder or file."""
    root = Path(index.root) if index.root else Path(path)
    patients = []
    n_studies = n_series = n_stacks = n_files = 0
    for patient in index.patients:
        studies = []
        for study in patient.studies:
            series_list = []
            for series in study.series:
                series_list.append(_series_tree(series, root))
                n_stacks += len(series.stacks)
                n_files += series.n_files
            n_series += len(study.series)
            studies.append(
                {
                    "study_instance_uid": study.study_instance_uid,
                    "date": _iso(study.study_date),
                    "time": study.study_time,
                    "description": study.study_description,
                    "accession_number": study.accession_number,
                    "series": series_list,
                }
            )
        n_studies += len(patient.studies)
        patients.append(
            {
                "patient_id": patient.patient_id,
                "patient_name": patient.patient_name,
                "birth_date": _iso(patient.patient_birth_date),
                "sex": patient.patient_sex,
                "studies": studies,
            }
        )
    return {
        "schema": SCHEMA_VERSION,
        "interval_version": interval.__version__,
        "path": str(path),
        "kind": kind,
        "summary": {
            "patients": len(index.patients),
            "studies": n_studies,
            "series": n_series,
            "stacks": n_stacks,
            "files": n_files,
            "skipped": len(index.skipped),
        },
        "patients": patients,
        "image": None,
        "skipped": [{"path": _rel(s.path, root), "reason": s.reason} for s in index.skipped],
        "warnings": list(index.warnings),
    }


def image_tree(info: ImageInfo, path: str | Path) -> dict[str, Any]:
    """The JSON tree for a NIfTI/NRRD/MetaImage file (header only)."""
    dim = len(info.size)
    direction = np.asarray(info.direction, dtype=np.float64).reshape(dim, dim)
    normal = direction[:3, 2] if dim >= 3 else np.array([0.0, 0.0, 1.0])
    warnings = []
    if dim > 3 and info.size[3] > 1:
        warnings.append(f"{dim}-D image with {info.size[3]} volumes; only 3-D images can be loaded")
    if info.components > 1:
        warnings.append(f"{info.components} values per voxel (colour/vector image)")
    return {
        "schema": SCHEMA_VERSION,
        "interval_version": interval.__version__,
        "path": str(path),
        "kind": "image-file",
        "summary": {"patients": 0, "studies": 0, "series": 0, "stacks": 1, "files": 1, "skipped": 0},
        "patients": [],
        "image": {
            "format": info.format,
            "dimensions": list(info.size),
            "spacing": [_num(s) for s in info.spacing],
            "origin": [_num(o) for o in info.origin],
            "direction": [[_num(v) for v in row] for row in direction.tolist()],
            "orientation": _plane(normal[:3] / (np.linalg.norm(normal[:3]) or 1.0)),
            "dtype": info.dtype,
            "components": info.components,
        },
        "skipped": [],
        "warnings": warnings,
    }


def _series_tree(series: SeriesRecord, root: Path) -> dict[str, Any]:
    return {
        "series_instance_uid": series.series_instance_uid,
        "series_number": series.series_number,
        "modality": series.modality,
        "description": series.series_description,
        "files": series.n_files,
        "stacks": [_stack_tree(s) for s in series.stacks],
        "objects": [_object_tree(o, root) for o in series.objects],
        "attached": [_object_tree(o, root) for o in series.attached],
        "warnings": list(series.warnings),
    }


def _stack_tree(stack: ImageStack) -> dict[str, Any]:
    geo = stack_geometry(stack)
    ts = stack.first.transfer_syntax_uid
    warnings = list(dict.fromkeys([*stack.warnings, *geo.warnings]))
    return {
        "uid": stack.uid,
        "label": stack.label,
        "dimensions": list(geo.dimensions),
        "spacing": [_num(s) for s in geo.spacing],
        "slice_count": stack.n_frames,
        "orientation": geo.orientation,
        "multiframe": stack.first.is_multiframe,
        "transfer_syntax": describe(ts),
        "compressed": is_encapsulated(ts),
        "warnings": warnings,
    }


def _object_tree(obj: NonImageObject, root: Path) -> dict[str, Any]:
    h = obj.header
    return {
        "kind": obj.kind,
        "modality": h.modality,
        "description": h.description or h.series_description,
        "series_instance_uid": h.series_instance_uid,
        "sop_instance_uid": h.sop_instance_uid,
        "sop_class_uid": h.sop_class_uid,
        "path": _rel(h.path, root),
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    return float(round(float(value), 6))


def _rel(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
