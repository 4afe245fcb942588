"""File > Export report of the longitudinal workspace: the reports with the reader's work.

The workspace's current report (corrections applied, RECIST re-assessed) gets the
reader's sign-off (``signed_off_by``, ``signed_off_at``) and the list of values the reader
changed (``reader_changes``), and is written as ``interval track`` writes it:

* with the scans (found again at the timeline's ``source`` folders, the same series by
  Series Instance UID) and each timepoint's label map (``labels_tpN`` in the outputs, or
  the ``--labels`` file the segmentation came from): every output, DICOM SEG/SR and key
  images included, by :func:`~.report_bundle.write_reports`;
* otherwise report.json, lesions.csv, report.html and report.pdf (charts, no key images),
  and a warning says why the DICOM SEG/SR and key images were not made again (the files
  of the earlier run are left as they were).

The component maps are made again from the label maps (:func:`~.lesions.extract_lesions`
numbers components the same way for the same label map); if their regions do not match
the report's lesions, no DICOM object is made for that timepoint.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interval.core.errors import IntervalError

if TYPE_CHECKING:
    from interval.core.volume import Volume
    from interval.longitudinal.model import LongitudinalReport
    from interval.longitudinal.workspace import ExportResult, LongitudinalWorkspace

_IMAGE_WARNINGS = ("No DICOM SEG/SR for ", "DICOM SEG/SR and key images were not made")


def export(ws: LongitudinalWorkspace, name: str, *, images: bool = True) -> ExportResult:
    from interval.longitudinal.workspace import ExportResult  # noqa: PLC0415

    out = ws.out_dir
    report = copy.deepcopy(ws.report)
    report.signed_off_by = name
    report.signed_off_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report.reader_changes = ws.reader_changes()
    report.warnings = [w for w in report.warnings if not w.startswith(_IMAGE_WARNINGS)]
    before = len(report.warnings)
    scans = _scans(report, out) if images else None
    if scans is None or isinstance(scans, str):
        why = scans if isinstance(scans, str) else "not asked for"
        report.warnings.append(f"DICOM SEG/SR and key images were not made again: {why}; the "
                               "files of the earlier run, if any, are unchanged.")
        outputs = _write_without_images(report, out)
    else:
        from interval.longitudinal.report_bundle import write_reports  # noqa: PLC0415

        volumes, comps, labels, files = scans
        outputs = write_reports(report, out, volumes=volumes, component_maps=comps,
                                series_files=files, label_volumes=labels)
    return ExportResult({k: Path(v) for k, v in outputs.items()}, report.warnings[before:])


def _write_without_images(report: LongitudinalReport, out: Path) -> dict[str, Path]:
    from interval.longitudinal.report_charts import render_charts  # noqa: PLC0415
    from interval.longitudinal.report_csv import LESIONS_CSV, write_lesions_csv  # noqa: PLC0415
    from interval.longitudinal.report_html import REPORT_HTML, write_report_html  # noqa: PLC0415
    from interval.longitudinal.report_json import REPORT_JSON, write_report_json  # noqa: PLC0415
    from interval.longitudinal.report_pdf import REPORT_PDF, write_report_pdf  # noqa: PLC0415

    written: dict[str, Path] = {}
    charts = render_charts(report)
    written["lesions_csv"] = write_lesions_csv(report, out / LESIONS_CSV)
    written["report_html"] = write_report_html(report, out / REPORT_HTML, charts=charts)
    write_report_pdf(report, out / REPORT_PDF, charts=charts)
    written["report_pdf"] = out / REPORT_PDF
    report.outputs.update({k: v.relative_to(out).as_posix() for k, v in written.items()})
    report.outputs["report_json"] = REPORT_JSON
    written["report_json"] = write_report_json(report, out / REPORT_JSON)
    return written


def _scans(report: LongitudinalReport, out: Path) -> tuple[list[Any], ...] | str:
    """(volumes, component maps, label volumes, DICOM files) per timepoint, or why not."""
    from interval.io.segmentation import load_segmentation, place_on_grid  # noqa: PLC0415
    from interval.longitudinal.lesions import extract_lesions  # noqa: PLC0415
    from interval.longitudinal.timeline import build_timeline  # noqa: PLC0415

    tps = report.timeline.timepoints
    missing = [tp.label for tp in tps if not tp.source or not Path(tp.source).exists()]
    if missing:
        return f"the scans of {', '.join(missing)} are not found where they were read from"
    try:
        selection = build_timeline(sorted({tp.source for tp in tps}),
                                   patient_id=report.timeline.patient_id or None)
    except IntervalError as exc:
        return f"the scans cannot be indexed again ({exc})"
    by_uid = {tp.series.series_instance_uid: n
              for n, tp in enumerate(selection.timeline.timepoints)}
    volumes: list[Volume | None] = []
    comps: list[Any] = []
    labels: list[Volume | None] = []
    files: list[Any] = []
    for tp in tps:
        n = by_uid.get(tp.series.series_instance_uid)
        if n is None:
            return f"the series used for {tp.label} is no longer among the scans found"
        label_path = _label_path(report, out, tp.index)
        if label_path is None:
            return f"the label map of {tp.label} is not found"
        try:
            volume = selection.load(n)
            label_map = place_on_grid(load_segmentation(label_path), volume)
            extracted = extract_lesions(label_map, None, timepoint=tp.index)
        except IntervalError as exc:
            return f"{tp.label} cannot be read again ({exc})"
        found = {m.component: m.voxel_count for m in extracted.measurements}
        wanted = {m.component: m.voxel_count for m in report.measurements
                  if m.timepoint == tp.index}
        if found != wanted:
            return f"the lesion regions of {tp.label} differ from the report's"
        volumes.append(volume)
        comps.append(extracted.components)
        labels.append(label_map)
        files.append(selection.files(n))
    return volumes, comps, labels, files


def _label_path(report: LongitudinalReport, out: Path, t: int) -> Path | None:
    rel = report.outputs.get(f"labels_tp{t + 1}")
    if rel and (out / rel).is_file():
        return out / rel
    for s in report.segmentations:
        if s.timepoint == t and s.path and Path(s.path).is_file():
            return Path(s.path)
    return None
