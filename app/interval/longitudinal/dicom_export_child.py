"""Write the DICOM SEG and SR of one or more timepoints: the code that runs in the writer's
process (see :mod:`.dicom_export`), and in this one when that process cannot be used.

:func:`write_job` writes one timepoint (its SEG, then its SR referencing it) and turns an
:class:`~interval.core.errors.IntervalError` into a warning for the reader.
:func:`write_dicom_in_child` is the model-process target: it rebuilds the report from its
JSON, each job from plain data and its label slices from a shared-memory array, and
answers with plain data only (which objects were written, the warnings).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interval.core.errors import Cancelled, IntervalError
from interval.core.jobs import CancelFn, ProgressFn, check_cancel
from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume
from interval.longitudinal.model import LongitudinalReport, report_from_dict

MAX_WARNING_CHARS = 500


@dataclass
class DicomJob:
    """The SEG and SR of one timepoint: what :func:`.report_seg.lesion_slices` gave, the
    image's geometry, the source files and where to write."""

    timepoint: int
    label: str  # the timepoint's label, for warnings
    slices: list[int]  # the grid's slice indices holding lesions, ascending
    stack: np.ndarray  # their label values (len(slices) x rows x columns)
    values: dict[str, int]  # lesion_id -> label value
    table: LabelTable
    grid: Volume  # geometry and SOP Instance UIDs of the image (its array is not read)
    files: list[str]
    seg_path: Path
    sr_path: Path

    @property
    def frames(self) -> dict[int, np.ndarray]:
        """Slice index -> its label values (views of :attr:`stack`)."""
        return {k: self.stack[n] for n, k in enumerate(self.slices)}

    def plain(self) -> dict[str, Any]:
        """The job as JSON-able data; its :attr:`stack` travels apart."""
        g = self.grid
        return {
            "timepoint": self.timepoint, "label": self.label,
            "slices": list(self.slices), "values": dict(self.values),
            "table": [[i.value, i.name, list(i.color)] for i in self.table],
            "grid": {"shape": list(g.shape), "spacing": list(g.spacing),
                     "origin": list(g.origin),
                     "direction": [float(v) for v in np.asarray(g.direction).ravel()],
                     "sop_instance_uids": list(g.metadata.sop_instance_uids)},
            "files": [str(f) for f in self.files],
            "seg_path": str(self.seg_path), "sr_path": str(self.sr_path),
        }

    @classmethod
    def from_plain(cls, data: dict[str, Any], stack: np.ndarray) -> DicomJob:
        """The job :meth:`plain` and its :attr:`stack` describe."""
        g = data["grid"]
        shape = tuple(int(n) for n in g["shape"])
        grid = Volume(np.broadcast_to(np.zeros((), np.uint8), shape),
                      spacing=tuple(g["spacing"]), origin=tuple(g["origin"]),
                      direction=np.asarray(g["direction"], dtype=np.float64).reshape(3, 3),
                      metadata=VolumeMetadata(sop_instance_uids=tuple(
                          str(u) for u in g["sop_instance_uids"])))
        slices = [int(k) for k in data["slices"]]
        if stack.shape[0] != len(slices):
            raise ValueError("the label slices do not match the job")
        table = LabelTable([LabelInfo(int(v), str(name), tuple(int(c) for c in color))
                            for v, name, color in data["table"]])
        return cls(
            timepoint=int(data["timepoint"]), label=str(data["label"]),
            slices=slices, stack=stack,
            values={str(k): int(v) for k, v in data["values"].items()}, table=table,
            grid=grid, files=[str(f) for f in data["files"]],
            seg_path=Path(data["seg_path"]), sr_path=Path(data["sr_path"]),
        )


@dataclass
class JobResult:
    """What :func:`write_job` did: which objects it wrote, or why not."""

    timepoint: int
    seg: bool = False
    sr: bool = False
    warning: str | None = None

    def plain(self) -> dict[str, Any]:
        return {"timepoint": self.timepoint, "seg": self.seg, "sr": self.sr,
                "warning": self.warning}


def write_job(report: LongitudinalReport, job: DicomJob) -> JobResult:
    """Write ``job``'s SEG and SR; a problem with the data becomes the result's warning."""
    from interval.longitudinal.dicom_sr import write_timepoint_sr  # noqa: PLC0415 - heavy
    from interval.longitudinal.report_seg import write_seg_of_slices  # noqa: PLC0415

    result = JobResult(job.timepoint)
    try:
        job.seg_path.parent.mkdir(exist_ok=True)
        seg = write_seg_of_slices(report, job.timepoint, job.frames, job.values, job.table,
                                  job.grid, job.files, job.seg_path)
        if seg is None:
            result.warning = (f"No DICOM SEG/SR for {job.label}: no tracked lesion is present "
                              "there.")
            return result
        result.seg = True
        write_timepoint_sr(report, job.timepoint, seg, job.sr_path)
        result.sr = True
    except Cancelled:
        raise
    except IntervalError as exc:
        result.warning = f"No DICOM SEG/SR for {job.label}: {exc}"[:MAX_WARNING_CHARS]
    except OSError as exc:
        result.warning = (f"No DICOM SEG/SR for {job.label}: the folder could not be written "
                          f"({exc.strerror or exc})")[:MAX_WARNING_CHARS]
    return result


def write_jobs(report: LongitudinalReport, jobs: Sequence[DicomJob],
               cancel: CancelFn | None = None,
               progress: ProgressFn | None = None) -> list[JobResult]:
    """:func:`write_job` for every job, in order (cancel is looked at between them)."""
    results = []
    for n, job in enumerate(jobs):
        check_cancel(cancel)
        if progress is not None:
            progress(n, len(jobs))
        results.append(write_job(report, job))
    if progress is not None:
        progress(len(jobs), len(jobs))
    return results


def write_dicom_in_child(
    arrays: dict[str, np.ndarray],
    *,
    report_json: str,
    jobs: list[dict[str, Any]],
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The writer process's job: ``jobs`` (plain data, frames in ``arrays["frames<n>"]``)."""
    report = report_from_dict(json.loads(report_json))
    built = [DicomJob.from_plain(j, np.asarray(arrays[f"frames{n}"]))
             for n, j in enumerate(jobs)]
    results = write_jobs(report, built, cancel=cancel, progress=progress)
    return {}, {"results": [r.plain() for r in results]}
