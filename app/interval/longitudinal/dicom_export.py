"""The DICOM SEG and SR of every timepoint, written by a helper process beside the reports.

highdicom is slow to start (its import and the standard's 22 MB module table: about half a
second of one core, holding the GIL) and builds its objects in pure Python.  Done in this
process it would add to every report's time and stall the viewer's UI thread, so the
objects are written in a model process (:class:`interval.ai.runner.ModelProcess`:
spawned, plain data back, memory limit, cancel) running :mod:`.dicom_export_child`:

* :func:`start_dicom_writer` starts it ahead of time (the pipeline does so before the
  growth forecast, so highdicom is loaded by the time the reports are written);
* :func:`plan_jobs` prepares one :class:`DicomJob` per timepoint here (the label slices of
  the tracked lesions, the image's geometry, the source files);
* :class:`DicomExport` hands the jobs over and waits in a thread of its own, while the
  caller renders the key images and writes the HTML and PDF; :meth:`DicomExport.result`
  collects what was written.

When the process cannot be used (it does not start, it crashes or runs out of memory)
the same code runs here (:func:`.dicom_export_child.write_jobs`): nothing is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interval.core.errors import Cancelled
from interval.core.jobs import CancelFn
from interval.core.volume import Volume
from interval.longitudinal.dicom_export_child import DicomJob, JobResult, write_jobs
from interval.longitudinal.model import LongitudinalReport

log = logging.getLogger(__name__)

CHILD_TARGET = "interval.longitudinal.dicom_export_child:write_dicom_in_child"
PRELOAD = ("interval.longitudinal.dicom_tables",)
DICOM_DIR = "dicom"
TIMEOUT_S = 600.0


@dataclass
class DicomOutcome:
    """The objects written (output name -> path) and the warnings for the reader."""

    written: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def start_dicom_writer() -> Any | None:
    """A writer process starting now (None if none can be started: the objects are then
    written in this process)."""
    try:
        from interval.ai.runner import ModelProcess  # noqa: PLC0415

        return ModelProcess(preload=PRELOAD)
    except Exception as exc:  # noqa: BLE001 - any failure to start: write here instead
        log.warning("the DICOM writer process could not start (%s); writing here", exc)
        return None


def plan_jobs(report: LongitudinalReport, out: Path, volumes: Sequence[Volume | None],
              comps: Sequence[Volume | None],
              series_files: Sequence[Sequence[str | Path] | None],
              ) -> tuple[list[DicomJob], list[str]]:
    """One job per timepoint that has DICOM sources, an image and a lesion map; a warning
    for every other timepoint (and for one without a tracked lesion)."""
    from interval.longitudinal.report_seg import lesion_slices  # noqa: PLC0415

    jobs: list[DicomJob] = []
    warnings: list[str] = []
    for tp in report.timeline.timepoints:
        t = tp.index
        files = list(series_files[t] or []) if t < len(series_files) else []
        image = volumes[t] if t < len(volumes) else None
        comp = comps[t] if t < len(comps) else None
        if not files or image is None or comp is None:
            why = ("its DICOM files are not known" if not files else
                   "its image was not kept" if image is None else "it has no lesion map")
            warnings.append(f"No DICOM SEG/SR for {tp.label}: {why}.")
            continue
        frames, values, table = lesion_slices(report, t, comp, image)
        if not values or not frames:
            warnings.append(f"No DICOM SEG/SR for {tp.label}: no tracked lesion is present "
                            "there.")
            continue
        ks = sorted(frames)
        stack = np.stack([frames[k] for k in ks])  # one array, handed over as it is
        del frames
        jobs.append(DicomJob(t, tp.label, ks, stack, values, table, image,
                             [str(f) for f in files], out / DICOM_DIR / f"tp{t + 1}_seg.dcm",
                             out / DICOM_DIR / f"tp{t + 1}_sr.dcm"))
    return jobs, warnings


class DicomExport:
    """Write ``jobs`` in ``process`` (a :func:`start_dicom_writer` result, which this takes
    over) from a thread of its own; :meth:`result` waits for it.  With no process, or
    when the process fails, the jobs are written in the calling thread by :meth:`result`.

    The report is copied (as JSON) when this starts: later changes do not reach the SR.
    Use as a context manager (or call :meth:`close`) so the process always ends.
    """

    def __init__(self, report: LongitudinalReport, jobs: Sequence[DicomJob],
                 process: Any | None, cancel: CancelFn | None = None) -> None:
        self._report = report
        self._jobs = list(jobs)
        self._process = process
        self._cancel = cancel
        self._results: list[JobResult] | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if not self._jobs:
            self.close()
            return
        if process is not None:
            from interval.longitudinal.report_json import report_json_text  # noqa: PLC0415

            kwargs = {"report_json": report_json_text(report),
                      "jobs": [j.plain() for j in self._jobs]}
            arrays = {f"frames{n}": j.stack for n, j in enumerate(self._jobs)}
            self._thread = threading.Thread(target=self._run, args=(arrays, kwargs),
                                            name="interval-dicom-export", daemon=True)
            self._thread.start()

    def _run(self, arrays: dict[str, np.ndarray], kwargs: dict[str, Any]) -> None:
        try:
            _, info = self._process.run(CHILD_TARGET, arrays, kwargs, cancel=self._cancel,
                                        timeout=TIMEOUT_S)
            self._results = _checked(info, self._jobs)
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._error = exc

    def result(self) -> DicomOutcome:
        """Wait for the objects; write them here if the process could not."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.close()
        if isinstance(self._error, Cancelled):
            raise Cancelled()
        if self._results is None and self._jobs:
            if self._error is not None:
                log.warning("the DICOM writer process failed (%s); writing here",
                            type(self._error).__name__)
            self._results = write_jobs(self._report, self._jobs, cancel=self._cancel)
        outcome = DicomOutcome()
        for job, res in zip(self._jobs, self._results or [], strict=True):
            if res.seg and job.seg_path.is_file():
                outcome.written[f"seg_tp{job.timepoint + 1}"] = job.seg_path
            if res.sr and job.sr_path.is_file():
                outcome.written[f"sr_tp{job.timepoint + 1}"] = job.sr_path
            if res.warning:
                outcome.warnings.append(res.warning)
        return outcome

    def close(self) -> None:
        """Stop the process (if it still runs); idempotent."""
        if self._process is not None:
            self._process.close()
            if self._thread is None:
                self._process = None

    def __enter__(self) -> DicomExport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _checked(info: Any, jobs: Sequence[DicomJob]) -> list[JobResult]:
    """The process's answer, checked: one result per job, in order, of the right types."""
    from interval.longitudinal.dicom_export_child import MAX_WARNING_CHARS  # noqa: PLC0415

    results = info.get("results") if isinstance(info, dict) else None
    if not isinstance(results, list) or len(results) != len(jobs):
        raise ValueError("the DICOM writer answered with the wrong number of results")
    out = []
    for job, r in zip(jobs, results, strict=True):
        if (not isinstance(r, dict) or r.get("timepoint") != job.timepoint
                or not isinstance(r.get("seg"), bool) or not isinstance(r.get("sr"), bool)
                or not isinstance(r.get("warning"), (str, type(None)))):
            raise ValueError("the DICOM writer's answer is malformed")
        warning = r["warning"][:MAX_WARNING_CHARS] if r["warning"] else None
        out.append(JobResult(job.timepoint, r["seg"], r["sr"], warning))
    return out
