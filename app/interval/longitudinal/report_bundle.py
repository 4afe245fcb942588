"""Write every report of a longitudinal analysis into the output folder.

:func:`write_reports` writes, each file atomically::

    OUT/
      report.json                 the whole analysis (schema: :mod:`.report_json`), last
      lesions.csv                 one row per lesion and timepoint (:mod:`.report_csv`)
      report.html                 self-contained page (:mod:`.report_html`)
      report.pdf                  the same on A4 (:mod:`.report_pdf`)
      key_images/L1_tp1.png ...   one tile per lesion and timepoint (:mod:`.key_images`)
      dicom/tp1_seg.dcm ...       DICOM SEG of the tracked lesions per timepoint (:mod:`.report_seg`)
      dicom/tp1_sr.dcm ...        DICOM SR TID 1500 per timepoint (:mod:`.dicom_sr`)

File names number timepoints from 1 (``tp1`` is the baseline), as the pipeline's other
outputs do.  The DICOM objects need the source DICOM files of a timepoint; a timepoint
without them (an image file, not DICOM) or whose SEG/SR cannot be made gets a warning in
``report.warnings`` instead, and everything else is still written.  The paths written are
recorded in ``report.outputs`` (relative to OUT) before ``report.json`` is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interval.core.atomic import atomic_path
from interval.core.jobs import CancelFn, ProgressFn, check_cancel
from interval.core.jobs import report as report_progress
from interval.core.volume import Volume
from interval.longitudinal.dicom_export import DicomExport, plan_jobs, start_dicom_writer
from interval.longitudinal.model import LongitudinalReport
from interval.longitudinal.report_common import (
    ReportError,
    as_component_volume,
    component_ids,
)

KEY_IMAGE_DIR = "key_images"
_STEPS = 7


def write_reports(
    report: LongitudinalReport,
    out_dir: str | Path,
    *,
    volumes: Sequence[Volume | None],
    component_maps: Sequence[np.ndarray | Volume | None],
    series_files: Sequence[Sequence[str | Path] | None],
    label_volumes: Sequence[Volume | None] = (),
    include_non_targets: bool = True,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    timings: dict[str, float] | None = None,
    dicom: DicomExport | None = None,
    writer_process: bool = True,
) -> dict[str, Path]:
    """Write all reports into ``out_dir``; returns output name -> path.

    Per timepoint ``t`` (lists in timepoint order): ``volumes[t]`` the image (None when not
    kept: its key images say so), ``component_maps[t]`` the lesion component map (an int
    array on ``label_volumes[t]``'s grid, or on ``volumes[t]``'s when no label map is
    given, or a :class:`Volume`), ``series_files[t]`` the DICOM files of the series used
    (for the SEG and SR).  ``timings`` (if given) receives seconds per output.

    The SEG and SR are written by a helper process while the pages are made here
    (:mod:`.dicom_export`): ``dicom`` is that export begun earlier with
    :func:`start_dicom_export` (this finishes it), else it begins now;
    ``writer_process=False`` writes them in this process.
    """
    out = Path(out_dir)
    if not out.is_dir():
        if dicom is not None:
            dicom.close()
        raise ReportError("the output folder does not exist", path=out)
    clock = _Clock(timings)

    def step(k: int) -> None:
        check_cancel(cancel)
        report_progress(progress, k, _STEPS)

    n = len(report.timeline.timepoints)
    comps = [_components(report, t, component_maps, label_volumes, volumes) for t in range(n)]
    if dicom is None:
        with clock("dicom"):
            dicom = start_dicom_export(report, out, images=volumes, component_maps=comps,
                                       series_files=series_files, cancel=cancel,
                                       writer_process=writer_process)
    with dicom:  # runs beside the pages
        step(1)
        pages = _Pages(report, out, volumes, comps, clock, include_non_targets)
        pages.write(step)
        with clock("dicom"):  # the wait for the writer (or the writing itself)
            outcome = dicom.result()
    written = pages.written
    written.update(outcome.written)
    if outcome.warnings:  # the pages must say so too: written again
        report.warnings.extend(outcome.warnings)
        pages.write_html_pdf()
    step(6)
    from interval.longitudinal.report_json import REPORT_JSON, write_report_json  # noqa: PLC0415

    report.outputs.update({k: _relative(v, out) for k, v in written.items()})
    report.outputs["report_json"] = REPORT_JSON
    with clock("json"):
        written["report_json"] = write_report_json(report, out / REPORT_JSON)
    step(_STEPS)
    return written


def start_dicom_export(
    report: LongitudinalReport,
    out_dir: str | Path,
    *,
    images: Sequence[Volume | None],
    component_maps: Sequence[np.ndarray | Volume | None],
    series_files: Sequence[Sequence[str | Path] | None],
    label_volumes: Sequence[Volume | None] = (),
    cancel: CancelFn | None = None,
    dicom_writer: Any | None = None,
    writer_process: bool = True,
) -> DicomExport:
    """Begin writing the SEG and SR of every timepoint (see :func:`write_reports`, which
    takes the result as ``dicom``); the report must be final but for its warnings.

    ``images`` need only give each timepoint's grid and SOP Instance UIDs (their voxels
    are not read); ``dicom_writer`` is a process from
    :func:`~.dicom_export.start_dicom_writer` (taken over), else one starts now.  A
    timepoint without DICOM sources or lesions gets a warning in ``report.warnings``.
    """
    process = dicom_writer
    try:
        n = len(report.timeline.timepoints)
        comps = [_components(report, t, component_maps, label_volumes, images)
                 for t in range(n)]
        jobs, skipped = plan_jobs(report, Path(out_dir), images, comps, series_files)
        report.warnings.extend(skipped)
        if process is None and jobs and writer_process:
            process = start_dicom_writer()
        export = DicomExport(report, jobs, process, cancel)
        process = None  # the export owns it now
        return export
    finally:
        if process is not None:
            process.close()


class _Pages:
    """The key images, charts, CSV, HTML and PDF of a report."""

    def __init__(self, report: LongitudinalReport, out: Path,
                 volumes: Sequence[Volume | None], comps: Sequence[Volume | None],
                 clock: _Clock, include_non_targets: bool) -> None:
        self.report, self.out, self.volumes, self.comps = report, out, volumes, comps
        self.clock = clock
        self.include_non_targets = include_non_targets
        self.written: dict[str, Path] = {}
        self.images: list[Any] = []
        self.charts: Any = None

    def write(self, step: Callable[[int], None]) -> None:
        """Steps 1 to 5: key images, charts, CSV, HTML, PDF."""
        from interval.longitudinal.key_images import render_key_images  # noqa: PLC0415
        from interval.longitudinal.report_charts import render_charts  # noqa: PLC0415
        from interval.longitudinal.report_csv import (  # noqa: PLC0415
            LESIONS_CSV,
            write_lesions_csv,
        )

        with self.clock("key_images"):
            self.images = render_key_images(self.report, self.volumes, self.comps,
                                            include_non_targets=self.include_non_targets)
            folder = self.out / KEY_IMAGE_DIR
            folder.mkdir(exist_ok=True)
            for k in self.images:
                path = folder / k.name
                _write_bytes(path, k.png)
                self.written[f"key_image_{path.stem}"] = path
        step(2)
        with self.clock("charts"):
            self.charts = render_charts(self.report,
                                        include_non_targets=self.include_non_targets)
        step(3)
        with self.clock("csv"):
            self.written["lesions_csv"] = write_lesions_csv(self.report,
                                                            self.out / LESIONS_CSV)
        step(4)
        self.write_html_pdf(step)

    def write_html_pdf(self, step: Callable[[int], None] | None = None) -> None:
        """Steps 4 to 5: the HTML page and the PDF."""
        from interval.longitudinal.report_html import (  # noqa: PLC0415
            REPORT_HTML,
            write_report_html,
        )
        from interval.longitudinal.report_pdf import REPORT_PDF, write_report_pdf  # noqa: PLC0415

        with self.clock("html"):
            self.written["report_html"] = write_report_html(
                self.report, self.out / REPORT_HTML, charts=self.charts,
                key_images=self.images)
        if step is not None:
            step(5)
        with self.clock("pdf"):
            write_report_pdf(self.report, self.out / REPORT_PDF, charts=self.charts,
                             key_images=self.images)
            self.written["report_pdf"] = self.out / REPORT_PDF


class _Clock:
    """``with clock("name"):`` adds the seconds to ``timings["report:name"]``."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self._name = ""
        self._start = 0.0

    def __call__(self, name: str) -> _Clock:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        if self.timings is not None:
            key = f"report:{self._name}"
            self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - self._start


def _relative(path: Path, out: Path) -> str:
    try:
        return path.relative_to(out).as_posix()
    except ValueError:
        return str(path)


def _write_bytes(path: Path, data: bytes) -> None:
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise ReportError(f"could not write the file ({exc.strerror or exc})", path=path) from exc


def _components(report: LongitudinalReport, t: int,
                component_maps: Sequence[np.ndarray | Volume | None],
                label_volumes: Sequence[Volume | None],
                volumes: Sequence[Volume | None]) -> Volume | None:
    """Timepoint ``t``'s component map as a Volume (None, with a warning, if unusable)."""
    comp = component_maps[t] if t < len(component_maps) else None
    if comp is None:
        return None
    grid = label_volumes[t] if t < len(label_volumes) and label_volumes[t] is not None else None
    if grid is None and t < len(volumes):
        grid = volumes[t]
    if not isinstance(comp, Volume) and grid is not None and np.shape(comp) != grid.shape:
        warning = (f"The lesion map of timepoint {t + 1} does not match its image grid; its "
                   "key images and DICOM objects were not made.")
        if warning not in report.warnings:  # asked again by write_reports
            report.warnings.append(warning)
        return None
    return as_component_volume(comp, grid, component_ids(report, t))
