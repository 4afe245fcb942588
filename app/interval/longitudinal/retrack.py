"""Make the matching and RECIST again with the registrations in use (the reader's re-runs).

A registration the reader re-ran in the check view (:mod:`.registration_rerun`) changes
where points map, but not the report: the lesions were matched across time, and RECIST
assessed, with the tracking's registrations.  :func:`retrack` runs the pipeline again on the
same inputs into the same output folder, where :mod:`.reuse` takes what it can as it is:

* the **timeline**: the scans are indexed again at the report's sources and each timepoint's
  study and series (stack uid) found again (:func:`rebuild_selection`); the report's own
  timeline (dates, reasons, warnings) is kept;
* the **label maps**: those the first run saved (``OUT/segmentation/tpN_labels.nii.gz``,
  with the model's facts as their source, so they are reused) or the label files the first
  run was given (:func:`saved_labels`); nothing is segmented again;
* the **transforms**: the same requested method and chaining as the first run
  (``OUT/reuse.json``), so every saved transform is reused, the reader's re-run in place of
  the one it replaced;
* the reader's **corrections** (``OUT/corrections.json``) are applied again by the pipeline;
  the viewer's session (``OUT/workspace.json``) is not touched (opening the folder again
  takes the new automatic matching and keeps the session).

Only matching, RECIST, the forecast (as before: on or off, same day) and the reports are
computed.  ``report.json`` is written last and atomically: a cancelled or failed run leaves
the previous one.  A signed-off report is replaced by an unsigned one (the result says so):
the reader exports it again to sign it off.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interval.core.errors import Cancelled, IntervalError
from interval.core.jobs import CancelFn, ProgressFn, check_cancel
from interval.core.volume import Volume
from interval.longitudinal.model import LongitudinalReport, SegmentationSource

StepFn = Callable[[str], None]


class RetrackError(IntervalError):
    """The report cannot be made again (scans or label maps gone, no reuse record...)."""


@dataclass
class RetrackResult:
    """The new report, its folder and what the reader should know."""

    out_dir: Path
    report: LongitudinalReport
    notes: list[str] = field(default_factory=list)  # what the reader should know
    lines: list[str] = field(default_factory=list)  # every line the pipeline said


# --- is it needed? ---------------------------------------------------------------------------


def registrations_changed(report: LongitudinalReport, out_dir: str | Path) -> bool:
    """True when the registrations in use (the reader's re-runs) differ from those
    ``report`` was made with: the matching and RECIST can be made again."""
    from interval.longitudinal.registration_rerun import registrations_in_use

    in_use, _warnings = registrations_in_use(report, out_dir)
    return not same_registrations(in_use, report.registrations)


def same_registrations(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Whether two lists of :class:`RegistrationResult` are the same (as saved in JSON)."""
    return [_plain(r) for r in a] == [_plain(r) for r in b]


# --- the pieces --------------------------------------------------------------------------------


def rebuild_selection(report: LongitudinalReport, *, progress: ProgressFn | None = None,
                      cancel: CancelFn | None = None) -> Any:
    """The :class:`~interval.longitudinal.timeline.TimelineSelection` of ``report``: its
    studies and series (stack uids) found again at its timepoints' sources, with the
    report's timeline.  Raises :class:`RetrackError` when a source, study or series is gone."""
    from interval.io.dicom.index import index_files, index_folder
    from interval.longitudinal.timeline import NO_ID, build_timeline
    from interval.longitudinal.timeline_plan import restrict_index

    tps = report.timeline.timepoints
    if not tps:
        raise RetrackError("the report has no timepoint")
    missing = [tp.label for tp in tps if not tp.source or not Path(tp.source).exists()]
    if missing:
        raise RetrackError(f"the scans of {', '.join(missing)} are not found where they were "
                           "read from (moved or deleted?): the report cannot be made again")
    paths = list(dict.fromkeys(tp.source for tp in tps))
    try:
        if len(paths) == 1 and Path(paths[0]).is_dir():
            index = index_folder(paths[0], progress=progress, cancel=cancel)
        else:
            index = index_files(paths, progress=progress, cancel=cancel)
    except IntervalError as exc:
        if isinstance(exc, Cancelled):
            raise
        raise RetrackError(f"the scans cannot be indexed again ({exc})") from None
    check_cancel(cancel)
    wanted = {tp.study_instance_uid for tp in tps}
    index = restrict_index(index, wanted)
    found = {st.study_instance_uid for p in index.patients for st in p.studies}
    lost = [tp.label for tp in tps if tp.study_instance_uid not in found]
    if lost:
        raise RetrackError(f"the study of {', '.join(lost)} is no longer among the scans at "
                           "its source: the report cannot be made again")
    patient = report.timeline.patient_id or NO_ID  # the IDs merged as in the first run
    id_map = {p.patient_id: patient for p in index.patients}
    try:
        selection = build_timeline(paths, index=index, id_map=id_map,
                                   series=[tp.series.stack_uid for tp in tps], cancel=cancel)
    except IntervalError as exc:
        if isinstance(exc, Cancelled):
            raise
        raise RetrackError(f"the series of the report cannot be used again ({exc})") from None
    got = [(tp.study_instance_uid, s.uid)
           for tp, s in zip(selection.timeline.timepoints, selection.stacks, strict=True)]
    if got != [(tp.study_instance_uid, tp.series.stack_uid) for tp in tps]:
        raise RetrackError("the scans at the sources no longer give the report's timeline "
                           "(studies or series changed): the report cannot be made again")
    selection.timeline = copy.deepcopy(report.timeline)  # its reasons and warnings, as made
    return selection


class SavedLabels:
    """The label maps of an earlier run as a label provider: read from their files, each
    with the source the earlier run recorded (so a saved label map is reused as it is)."""

    def __init__(self, paths: Sequence[Path], sources: Sequence[SegmentationSource],
                 writes_label_maps: bool) -> None:
        from interval.longitudinal.segmentation_source import FileLabels

        self._files = FileLabels(paths)
        self._sources = list(sources)
        self.writes_label_maps = writes_label_maps
        self.warnings = self._files.warnings

    def label_map(self, index: int, volume: Volume, *, progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None) -> Volume:
        return self._files.label_map(index, volume, progress=progress, cancel=cancel)

    def source(self, index: int) -> SegmentationSource:
        return self._sources[index]

    def close(self) -> None:
        return None


def saved_labels(report: LongitudinalReport, out_dir: str | Path) -> SavedLabels:
    """The label maps ``report`` was made from: ``OUT/segmentation/tpN_labels.nii.gz`` when
    the first run saved them (a model's), else the label files it was given.  Raises
    :class:`RetrackError` when one is gone."""
    from interval.longitudinal.reuse import REUSED_NOTE

    out = Path(out_dir)
    sources = {s.timepoint: s for s in report.segmentations}
    paths: list[Path] = []
    kept: list[SegmentationSource] = []
    saved = 0
    for tp in report.timeline.timepoints:
        i = tp.index
        source = sources.get(i)
        rel = report.outputs.get(f"labels_tp{i + 1}")
        if rel:
            path, saved = out / rel, saved + 1
        elif source is not None and source.kind == "file" and source.path:
            path = Path(source.path)
        else:
            raise RetrackError(f"the report does not say where the label map of {tp.label} "
                               "is: the report cannot be made again")
        if not path.is_file():
            raise RetrackError(f"the label map of {tp.label} ({path.name}) is missing: the "
                               "report cannot be made again")
        if source is None:
            source = SegmentationSource(i, "file", f"label map {path.name}", path=str(path))
        description = source.description
        while description.endswith(f"; {REUSED_NOTE}"):
            description = description[: -len(f"; {REUSED_NOTE}")]
        paths.append(path)
        kept.append(dataclasses.replace(source, description=description))
    if 0 < saved < len(paths):
        raise RetrackError("the report names saved label maps for some timepoints only: "
                           "the report cannot be made again")
    return SavedLabels(paths, kept, writes_label_maps=saved > 0)


def tracking_options(report: LongitudinalReport, out_dir: str | Path) -> Any:
    """The :class:`~interval.longitudinal.pipeline.TrackingOptions` of the run that made
    ``report``: its requested registration method and chaining (``OUT/reuse.json``, which
    must belong to this report: else nothing could be reused and the reader's re-runs would
    be lost), reports and forecast as before."""
    from interval.longitudinal.pipeline import REGISTRATION_METHODS, TrackingOptions
    from interval.longitudinal.reuse import RECORD

    out = Path(out_dir)
    try:
        record = json.loads((out / RECORD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        record = None
    if not isinstance(record, dict) or record.get("report_created") != report.created:
        raise RetrackError(f"this folder holds no reuse record of its report ({RECORD}): the "
                           "saved transforms cannot be reused; run the tracking again")
    settings = [e["registration"] for e in record.get("timepoints", [])
                if isinstance(e, dict) and isinstance(e.get("registration"), dict)]
    method, chained = "affine", False
    if settings:
        method, chained = settings[0].get("method"), bool(settings[0].get("chained"))
    if method not in REGISTRATION_METHODS:
        raise RetrackError(f"the reuse record names an unknown registration ({method!r})")
    forecast = bool(report.forecasts or report.forecast_source)
    return TrackingOptions(
        registration=str(method), chained=chained,
        reports=bool({"report_html", "report_pdf"} & set(report.outputs)),
        forecast=forecast, horizon_days=_horizon(report) if forecast else None)


# --- the run -------------------------------------------------------------------------------------


def retrack(out_dir: str | Path, *, workspace: Any = None, progress: ProgressFn | None = None,
            step: StepFn | None = None, cancel: CancelFn | None = None) -> RetrackResult:
    """Make ``OUT/report.json`` (and the other reports) again with the registrations in use.

    ``workspace`` (the open :class:`~interval.longitudinal.workspace.LongitudinalWorkspace`)
    is checked first: its corrections must be those saved in ``corrections.json`` (they
    always are: each action saves them), else nothing is run.  ``step(text)`` is told each
    step and line of the pipeline, ``progress(done, total)`` the step's progress.  Raises
    :class:`RetrackError` (sources gone...), other :class:`IntervalError` from the pipeline
    and :class:`~interval.core.errors.Cancelled`; the previous report stays in those cases.
    """
    from interval.longitudinal.pipeline import Reporter, run_tracking
    from interval.longitudinal.report_json import REPORT_JSON, read_report

    out = Path(out_dir)
    if workspace is not None:
        check_workspace_saved(workspace, out)
    report = read_report(out / REPORT_JSON)
    options = tracking_options(report, out)
    _say(step, "Finding the scans again")
    selection = rebuild_selection(report, progress=progress, cancel=cancel)
    labels = saved_labels(report, out)
    lines: list[str] = []

    def echo(line: str) -> None:
        lines.append(line)
        _say(step, line)

    reporter = Reporter(echo=echo, bar=_bar(step, progress))
    outcome = run_tracking(selection, labels, out, options,
                           inputs=tuple(dict.fromkeys(tp.source for tp
                                                      in report.timeline.timepoints)),
                           reporter=reporter, cancel=cancel)
    notes = [line.removeprefix("Reuse: warning: ") for line in lines
             if line.startswith("Reuse: warning: ")]
    if report.signed_off_by:
        notes.append("The signed-off report was made again without the sign-off: export it "
                     "to sign it off again.")
    return RetrackResult(out, outcome.report, notes, lines)


def check_workspace_saved(workspace: Any, out_dir: str | Path) -> None:
    """Raise :class:`RetrackError` when ``workspace`` (of ``out_dir``) holds corrections that
    ``corrections.json`` does not: the retrack would drop them."""
    from interval.longitudinal.corrections import SIDECAR_NAME, load_corrections

    out = Path(out_dir)
    if Path(workspace.out_dir).resolve() != out.resolve():
        raise RetrackError("the workspace is of another output folder")
    on_disk = load_corrections(out / SIDECAR_NAME).corrections
    if list(on_disk) != list(workspace.corrections):
        raise RetrackError("the corrections made in the workspace are not all saved in "
                           f"{SIDECAR_NAME}: the report is not made again (they would be lost)")


def _bar(step: StepFn | None, progress: ProgressFn | None
         ) -> Callable[[str], contextlib.AbstractContextManager[ProgressFn]]:
    @contextlib.contextmanager
    def bar(label: str) -> Iterator[ProgressFn]:
        _say(step, label)
        yield progress or (lambda _done, _total: None)

    return bar


def _say(step: StepFn | None, text: str) -> None:
    if step is not None:
        step(text)


def _horizon(report: LongitudinalReport) -> float | None:
    """The forecast horizon the report was made with (None: the next expected visit)."""
    from interval.longitudinal.forecast import default_target_day, visit_days

    targets = {f.target_day for f in report.forecasts if f.target_day is not None}
    days = visit_days(report)
    if len(targets) != 1 or not days:
        return None
    target = targets.pop()
    default = default_target_day(days)
    if default is not None and abs(target - default) < 1e-6:
        return None
    return float(target - max(days)) if target > max(days) else None


def _plain(result: Any) -> Any:
    return json.loads(json.dumps(dataclasses.asdict(result), allow_nan=False))
