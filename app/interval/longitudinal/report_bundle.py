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
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from interval.core.atomic import atomic_path
from interval.core.errors import Cancelled, IntervalError
from interval.core.jobs import CancelFn, ProgressFn, check_cancel
from interval.core.jobs import report as report_progress
from interval.core.volume import Volume
from interval.longitudinal.model import LongitudinalReport
from interval.longitudinal.report_common import (
    ReportError,
    as_component_volume,
    component_ids,
)

KEY_IMAGE_DIR = "key_images"
DICOM_DIR = "dicom"
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
) -> dict[str, Path]:
    """Write all reports into ``out_dir``; returns output name -> path.

    Per timepoint ``t`` (lists in timepoint order): ``volumes[t]`` the image (None when not
    kept: its key images say so), ``component_maps[t]`` the lesion component map (an int
    array on ``label_volumes[t]``'s grid, or on ``volumes[t]``'s when no label map is
    given, or a :class:`Volume`), ``series_files[t]`` the DICOM files of the series used
    (for the SEG and SR).  ``timings`` (if given) receives seconds per output.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise ReportError("the output folder does not exist", path=out)
    n = len(report.timeline.timepoints)
    comps = [_components(report, t, component_maps, label_volumes, volumes) for t in range(n)]
    written: dict[str, Path] = {}
    clock = _Clock(timings)

    def step(k: int) -> None:
        check_cancel(cancel)
        report_progress(progress, k, _STEPS)

    step(0)
    with clock("dicom"):
        written.update(_write_dicom(report, out, volumes, comps, series_files, cancel))
    step(1)
    from interval.longitudinal.key_images import render_key_images  # noqa: PLC0415

    with clock("key_images"):
        images = render_key_images(report, volumes, comps,
                                   include_non_targets=include_non_targets)
        folder = out / KEY_IMAGE_DIR
        folder.mkdir(exist_ok=True)
        for k in images:
            path = folder / k.name
            _write_bytes(path, k.png)
            written[f"key_image_{path.stem}"] = path
    step(2)
    from interval.longitudinal.report_charts import render_charts  # noqa: PLC0415

    with clock("charts"):
        charts = render_charts(report, include_non_targets=include_non_targets)
    step(3)
    from interval.longitudinal.report_csv import LESIONS_CSV, write_lesions_csv  # noqa: PLC0415

    with clock("csv"):
        written["lesions_csv"] = write_lesions_csv(report, out / LESIONS_CSV)
    step(4)
    from interval.longitudinal.report_html import REPORT_HTML, write_report_html  # noqa: PLC0415

    with clock("html"):
        written["report_html"] = write_report_html(report, out / REPORT_HTML, charts=charts,
                                                   key_images=images)
    step(5)
    from interval.longitudinal.report_pdf import REPORT_PDF, write_report_pdf  # noqa: PLC0415

    with clock("pdf"):
        write_report_pdf(report, out / REPORT_PDF, charts=charts, key_images=images)
        written["report_pdf"] = out / REPORT_PDF
    step(6)
    from interval.longitudinal.report_json import REPORT_JSON, write_report_json  # noqa: PLC0415

    report.outputs.update({k: _relative(v, out) for k, v in written.items()})
    report.outputs["report_json"] = REPORT_JSON
    with clock("json"):
        written["report_json"] = write_report_json(report, out / REPORT_JSON)
    step(_STEPS)
    return written


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
        report.warnings.append(
            f"The lesion map of timepoint {t + 1} does not match its image grid; its key "
            "images and DICOM objects were not made.")
        return None
    return as_component_volume(comp, grid, component_ids(report, t))


def _write_dicom(report: LongitudinalReport, out: Path, volumes: Sequence[Volume | None],
                 comps: Sequence[Volume | None],
                 series_files: Sequence[Sequence[str | Path] | None],
                 cancel: CancelFn | None) -> dict[str, Path]:
    """The SEG and SR of every timepoint that has DICOM sources; problems become warnings."""
    from interval.longitudinal.dicom_sr import write_timepoint_sr  # noqa: PLC0415
    from interval.longitudinal.report_seg import write_timepoint_seg  # noqa: PLC0415

    written: dict[str, Path] = {}
    folder = out / DICOM_DIR
    for tp in report.timeline.timepoints:
        check_cancel(cancel)
        t = tp.index
        files = list(series_files[t] or []) if t < len(series_files) else []
        image = volumes[t] if t < len(volumes) else None
        comp = comps[t] if t < len(comps) else None
        if not files or image is None or comp is None:
            why = ("its DICOM files are not known" if not files else
                   "its image was not kept" if image is None else "it has no lesion map")
            report.warnings.append(f"No DICOM SEG/SR for {tp.label}: {why}.")
            continue
        try:
            folder.mkdir(exist_ok=True)
            seg = write_timepoint_seg(report, t, comp, image, files,
                                      folder / f"tp{t + 1}_seg.dcm")
            if seg is None:
                report.warnings.append(f"No DICOM SEG/SR for {tp.label}: no tracked lesion "
                                       "is present there.")
                continue
            written[f"seg_tp{t + 1}"] = seg.path
            sr = write_timepoint_sr(report, t, seg, folder / f"tp{t + 1}_sr.dcm")
            written[f"sr_tp{t + 1}"] = sr.path
        except Cancelled:
            raise
        except IntervalError as exc:
            report.warnings.append(f"No DICOM SEG/SR for {tp.label}: {exc}")
    return written

