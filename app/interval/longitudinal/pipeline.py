"""The tracking pipeline: timeline -> segment -> register -> lesions -> match -> RECIST -> reports.

:func:`run_tracking` is what ``interval track``, ``interval demo``, the viewer and the
tests call.  It works through the timepoints one at a time (read, segment, measure the
lesions, register to the reference, map the lesions into baseline space) so that only
the scans it still needs are held in memory, then matches the lesions across time,
applies RECIST 1.1 and writes every report into the output folder atomically.

Progress and messages go through a :class:`Reporter` (the CLI draws progress bars and
prints; the viewer shows its own); ``cancel()`` returning True stops the run at the next
step with :class:`~interval.core.errors.Cancelled`.

Lesion scores: a model with a confidence section gives each timepoint's confidence map
with its label map; every lesion region's ``score`` is its mean (:func:`.lesions.
extract_lesions`), and a NEW lesion scored below the model's calibrated
``equivocal_below`` is held equivocal by RECIST (unless ``TrackingOptions.recist_rules``
says otherwise).  A label map taken from an earlier run (reuse, retrack) comes without a
confidence map: its regions keep the scores the earlier report gave them when they are
the same regions (same voxel count and box), and the threshold is the earlier report's
when the label source cannot say.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from interval.core.errors import Cancelled, IntervalError
from interval.core.jobs import CancelFn, ProgressFn
from interval.core.volume import Volume
from interval.longitudinal import sparse_volumes as sparse
from interval.longitudinal.model import (
    REG_FAILED,
    LesionMeasurement,
    LongitudinalReport,
    RegistrationResult,
)
from interval.longitudinal.output_folder import prepare_output_folder
from interval.longitudinal.reuse import REUSED_NOTE, ReusePlan, reused_source
from interval.longitudinal.segmentation_source import LabelProvider

if TYPE_CHECKING:
    from interval.longitudinal.recist import RecistRules

REGISTRATION_METHODS = ("rigid", "affine", "deformable")
CORRECTIONS_FILE = "corrections.json"
SEGMENTATION_DIR = "segmentation"
REGISTRATION_DIR = "registration"


@dataclass
class TrackingOptions:
    """How to run the pipeline (the CLI's options)."""

    registration: str = "affine"  # rigid | affine | deformable
    chained: bool = False  # register each follow-up to the previous timepoint, composed
    corrections: Path | None = None  # the reader's sidecar (default: OUT/corrections.json)
    save_label_maps: bool = True  # write each timepoint's label map (NIfTI) into OUT
    reports: bool = True  # HTML, PDF, CSV, SR, SEG (False: report.json only)
    force: bool = False  # write into a folder that holds other files
    forecast: bool = True  # growth forecast of every lesion (the growth-forecast plugin)
    horizon_days: float | None = None  # forecast this many days after the last visit
    # (None: at the next expected visit, the median interval so far)
    forecast_analyzer: str | None = None  # analyzer id (None: the growth-forecast plugin's)
    reuse: bool = True  # take label maps and transforms of an earlier run in OUT (reuse.py)
    # RECIST thresholds; None: RECIST 1.1's, with the segmentation model's calibrated
    # equivocal_below (model.json "confidence") for new lesions
    recist_rules: RecistRules | None = None


@dataclass
class Reporter:
    """Where the pipeline says what it does: ``echo`` lines and ``bar(label)`` progress."""

    echo: Callable[[str], None] = lambda _line: None
    bar: Callable[[str], contextlib.AbstractContextManager[ProgressFn]] | None = None

    @contextlib.contextmanager
    def progress(self, label: str) -> Iterator[ProgressFn | None]:
        if self.bar is None:
            yield None
            return
        with self.bar(label) as fn:
            yield fn


@dataclass
class TimepointData:
    """What the pipeline keeps of one timepoint after its scan has been processed."""

    index: int
    volume: Volume | None  # for the key images: only the regions they show (None until then)
    labels: Volume | None  # the label map's grid (no voxels kept)
    components: np.ndarray | None  # lesion component map on the scan's grid (sparse)
    measurements: list[LesionMeasurement]
    registration: Any  # longitudinal.registration.Registration
    components_in_baseline: np.ndarray | None = None


@dataclass
class TrackingOutcome:
    """The report and the files written (name -> path)."""

    report: LongitudinalReport
    outputs: dict[str, Path] = field(default_factory=dict)
    timepoints: list[TimepointData] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every timepoint registered and measured (warnings aside)."""
        return all(r.status != REG_FAILED for r in self.report.registrations)


class _Phases:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def time(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


def run_tracking(
    selection: Any,
    labels: LabelProvider,
    out_dir: str | Path,
    options: TrackingOptions | None = None,
    *,
    inputs: tuple[str | Path, ...] = (),
    reporter: Reporter | None = None,
    cancel: CancelFn | None = None,
) -> TrackingOutcome:
    """Run the whole pipeline on a :class:`~interval.longitudinal.timeline.TimelineSelection`.

    ``labels`` gives each timepoint's segmentation (a model or files); ``inputs`` are the
    folders the scans came from (the output folder may not lie inside them).  Raises
    :class:`IntervalError` for problems with the data (with a sentence for the reader) and
    :class:`Cancelled` when ``cancel()`` says so.
    """
    from interval.longitudinal import corrections as corrections_mod
    from interval.longitudinal import lesions as lesions_mod
    from interval.longitudinal import matching, recist

    options = options or TrackingOptions()
    reporter = reporter or Reporter()
    if options.registration not in REGISTRATION_METHODS:
        raise IntervalError(f"unknown registration {options.registration!r}; use "
                            + ", ".join(REGISTRATION_METHODS))
    timeline = selection.timeline
    n = len(timeline.timepoints)
    if n == 0:
        raise IntervalError("no timepoint to track: no study with a usable series was found")
    out = prepare_output_folder(out_dir, inputs, force=options.force)
    phases = _Phases()
    t_start = time.perf_counter()
    warnings: list[str] = list(timeline.warnings)
    if n == 1:
        warnings.append("only one timepoint: lesions are measured, but nothing can be matched "
                        "or compared over time")
    report = LongitudinalReport(timeline=timeline, warnings=warnings,
                                interval_version=_version(),
                                created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    plan = _plan_reuse(out, timeline, labels, options, reporter)
    earlier = _earlier_scores(out) if options.reuse else _EarlierScores()
    corrections_path = options.corrections or (out / CORRECTIONS_FILE)
    corrections = corrections_mod.load_corrections(corrections_path)
    data: list[TimepointData] = []
    prior_scans: list[Any] = []  # a temporal model's earlier scans (prior_scans.PriorScan)
    dicom_writer: Any = None  # the process writing the SEG and SR (dicom_export)
    baseline: Any = None  # the reference scans' reduced copies (registration_images)
    previous: Any = None
    try:
        for i, tp in enumerate(timeline.timepoints):
            _check(cancel)
            reporter.echo(f"Timepoint {i + 1}/{n}: {tp.label}, "
                          f"{tp.study_date.isoformat() if tp.study_date else 'date unknown'}, "
                          f"series {tp.series.series_number} ({tp.series.modality})")
            with phases.time("read"), reporter.progress(f"Reading timepoint {i + 1}") as bar:
                volume = selection.load(i, progress=bar, cancel=cancel)
            with phases.time("segment"):
                label_map = plan.label_map(i, volume)
            reused_labels = label_map is not None
            registration = plan.registrations.get(i)
            reused_transform = registration is not None
            wanted = int(getattr(labels, "prior_timepoints", 0) or 0)
            seg_kwargs: dict[str, Any] = {}
            if label_map is None and wanted and i > 0:
                # a temporal model reads the earlier scans in this scan's space: register first
                if registration is None:
                    with phases.time("register"), \
                            reporter.progress(f"Registering timepoint {i + 1}") as bar:
                        reference = previous if options.chained else baseline
                        registration = _register(data, reference, volume, i, options, bar,
                                                 cancel)
                with phases.time("priors"):
                    from interval.longitudinal.prior_scans import priors_on_grid

                    seg_kwargs["priors"], prior_warnings = priors_on_grid(
                        prior_scans, volume, registration, wanted)
                for line in prior_warnings:
                    report.warnings.append(f"timepoint {i + 1}: {line}")
            if label_map is None:
                with phases.time("segment"), \
                        reporter.progress(f"Segmenting timepoint {i + 1}") as bar:
                    label_map = labels.label_map(i, volume, progress=bar, cancel=cancel,
                                                 **seg_kwargs)
                seg_kwargs.clear()
            else:
                reporter.echo(f"  segmentation {REUSED_NOTE}")
            if not reused_labels and i in plan.label_files:
                reporter.echo(f"  warning: {plan.warnings[-1]}")
            source = labels.source(i)
            report.segmentations.append(reused_source(source) if reused_labels else source)
            if options.save_label_maps and getattr(labels, "writes_label_maps", True):
                with phases.time("write"):
                    report.outputs[f"labels_tp{i + 1}"] = (
                        plan.label_files[i].relative_to(out).as_posix() if reused_labels
                        else _save_label_map(out, i, label_map))
            _check(cancel)
            with phases.time("extract"):
                confidence = None if reused_labels else _confidence_map(labels, i)
                extracted = lesions_mod.extract_lesions(label_map, volume, timepoint=i,
                                                        confidence=confidence)
                del confidence
                measurements = extracted.measurements
                if reused_labels or not hasattr(labels, "confidence_map"):
                    measurements = earlier.scored(measurements)
                dtype = sparse.smallest_label_dtype(len(measurements))
                components = sparse.sparse_copy(  # keeps memory only where lesions are
                    extracted.components, sparse.lesion_boxes(measurements, volume.shape, 0),
                    dtype)
                del extracted
                grid = sparse.grid_only(label_map)
                del label_map
            reporter.echo(f"  {len(measurements)} lesion region(s) found")
            if registration is None:
                with phases.time("register"), \
                        reporter.progress(f"Registering timepoint {i + 1}") as bar:
                    reference = previous if options.chained else baseline
                    registration = _register(data, reference, volume, i, options, bar, cancel)
            result: RegistrationResult = registration.result
            if i > 0:
                reused = f", {REUSED_NOTE}" if reused_transform else ""
                reporter.echo(f"  registration ({result.method}{reused}): {result.status}: "
                              f"{result.message}")
            if result.status == REG_FAILED:
                report.warnings.append(
                    f"timepoint {i + 1}: registration failed ({result.message}); its lesions are "
                    "measured but matched by position only with care: check them"
                )
            with phases.time("map"):
                base_grid = grid if i == 0 else data[0].labels
                item = map_to_baseline(i, grid, base_grid, components, measurements,
                                        registration)
            data.append(item)
            if wanted and i + 1 < n:  # kept for the temporal model's next timepoints
                from interval.longitudinal.prior_scans import PriorScan

                prior_scans = [*prior_scans, PriorScan(i, volume, registration)][-wanted:]
            if (i == 0 or options.chained) and _reference_needed(i, n, plan, options.chained):
                with phases.time("register"):  # the registration's reduced copy, not the scan
                    from interval.longitudinal.registration import prepare_reference

                    previous = prepare_reference(volume)
                    baseline = previous if i == 0 else baseline
            elif options.chained:
                previous = None  # the next timepoint's registration is reused
            del volume
            _release_freed_memory()
            with phases.time("write"):
                tfm = (result.transform_file if reused_transform
                       else _save_transform(out, i, registration))
            report.registrations.append(_with_file(result, tfm))
            if tfm is not None:
                report.outputs[f"transform_tp{i + 1}"] = tfm
        baseline = previous = None  # the scans are read again, one by one, for the key images
        report.warnings.extend(plan.warnings)
        _check(cancel)
        with phases.time("match"):
            matched = matching.match_lesions(
                [matching.TimepointLesions(
                    d.index, d.measurements, d.components_in_baseline,
                    _baseline_voxel_ml(data))
                 for d in data],
                corrections=corrections,
                uid_seed=timeline.timepoints[0].study_instance_uid,
            )
        axes = corrections_mod.apply_axis_corrections(  # the reader's RECIST axes
            [m for d in data for m in d.measurements], corrections)
        report.measurements = axes.measurements
        report.warnings.extend(axes.warnings)
        report.tracks = matched.tracks
        report.events = matched.events
        report.warnings.extend(getattr(matched, "warnings", []))
        with phases.time("recist"):
            recist_warnings: list[str] = []
            rules = _recist_rules(options, labels, earlier)
            report.equivocal_below = rules.equivocal_below
            tracks, table = recist.assess(report.tracks, report.measurements, timeline,
                                          registrations=report.registrations,
                                          corrections=corrections, warnings=recist_warnings,
                                          rules=rules)
        report.warnings.extend(recist_warnings)
        report.tracks = tracks
        report.recist = table
        report.corrections = list(matched.corrections) or corrections_mod.applied_operations(
            corrections)
        report.warnings.extend(corrections.warnings)
        report.warnings.extend(getattr(labels, "warnings", []))
        if options.reports and any(selection.files(d.index) for d in data):
            from interval.longitudinal.dicom_export import start_dicom_writer

            # it loads highdicom while the forecast runs (only the reports need it)
            dicom_writer = start_dicom_writer()
        if options.forecast:
            _check(cancel)
            with phases.time("forecast"):
                from interval.longitudinal.forecast import add_forecasts

                add_forecasts(report, horizon_days=options.horizon_days,
                              analyzer_name=options.forecast_analyzer, cancel=cancel)
        if options.reports:  # forecasts.csv, or no stale one from an earlier run
            with phases.time("forecast"):
                from interval.longitudinal.report_csv import update_forecasts_csv

                if (written := update_forecasts_csv(report, out)) is not None:
                    report.outputs["forecasts_csv"] = written
        _check(cancel)
        with reporter.progress("Writing reports") as bar:
            writer, dicom_writer = dicom_writer, None  # handed over
            outputs = _write_reports(report, out, data, selection, options, phases, t_start,
                                     bar, cancel, writer)
        _record_for_reuse(out, report, labels, options, reporter)
    finally:
        labels.close()
        if dicom_writer is not None:
            dicom_writer.close()
    return TrackingOutcome(report=report, outputs=outputs, timepoints=data)


# --- steps ---------------------------------------------------------------------------------


def _check(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled()


def _version() -> str:
    import interval

    return str(interval.__version__)


def _release_freed_memory() -> None:
    """Give memory freed by the last scan back to the system (glibc keeps it otherwise)."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def _plan_reuse(out: Path, timeline: Any, labels: LabelProvider, options: TrackingOptions,
                reporter: Reporter) -> ReusePlan:
    """What this run takes from an earlier run in ``out`` (nothing with ``reuse=False``)."""
    if not options.reuse:
        return ReusePlan()
    from interval.longitudinal.reuse import plan_reuse

    plan = plan_reuse(out, timeline, labels, options.registration, options.chained,
                      options.save_label_maps)
    for line in plan.notes:
        reporter.echo(f"Reuse: {line}")
    for line in plan.warnings:
        reporter.echo(f"Reuse: warning: {line}")
    return plan


@dataclass
class _EarlierScores:
    """The lesion scores and equivocal threshold of the earlier report in OUT (if any)."""

    scores: dict[tuple[int, int], tuple[Any, float]] = field(default_factory=dict)
    equivocal_below: float | None = None

    def scored(self, measurements: list[LesionMeasurement]) -> list[LesionMeasurement]:
        """``measurements`` with the earlier report's score of each region that is the
        same region there (timepoint, component, label, voxel count and box)."""
        import dataclasses

        out = []
        for m in measurements:
            found = self.scores.get(m.key)
            if found is not None and found[0] == _region_key(m) and m.score is None:
                m = dataclasses.replace(m, score=found[1])
            out.append(m)
        return out


def _region_key(m: LesionMeasurement) -> tuple[Any, ...]:
    return (m.label_value, m.voxel_count, tuple(m.bbox_lo), tuple(m.bbox_hi))


def _earlier_scores(out: Path) -> _EarlierScores:
    """What the earlier report in ``out`` says about lesion scores (nothing when there is
    none or it cannot be read: plan_reuse has said why)."""
    from interval.longitudinal.report_json import REPORT_JSON, read_report

    path = out / REPORT_JSON
    if not path.is_file():
        return _EarlierScores()
    try:
        earlier = read_report(path)
    except IntervalError:
        return _EarlierScores()
    scores = {m.key: (_region_key(m), float(m.score)) for m in earlier.measurements
              if m.score is not None}
    below = earlier.equivocal_below
    return _EarlierScores(scores, None if below is None else float(below))


def _confidence_map(labels: LabelProvider, i: int) -> Volume | None:
    """Timepoint ``i``'s confidence map from the label provider (released there)."""
    get = getattr(labels, "confidence_map", None)
    return None if get is None else get(i, release=True)


def _recist_rules(options: TrackingOptions, labels: LabelProvider,
                  earlier: _EarlierScores) -> RecistRules:
    """The caller's rules, else RECIST 1.1's with the model's equivocal threshold (the
    label provider's; for one that cannot say, e.g. an earlier run's saved label maps,
    the earlier report's)."""
    from interval.longitudinal.recist import RecistRules

    if options.recist_rules is not None:
        return options.recist_rules
    if hasattr(labels, "equivocal_below"):
        below = getattr(labels, "equivocal_below", None)
    else:
        below = earlier.equivocal_below
    return RecistRules(equivocal_below=None if below is None else float(below))


def _reference_needed(i: int, n: int, plan: ReusePlan, chained: bool) -> bool:
    """Whether timepoint ``i``'s reduced copy is needed: a later registration is computed."""
    if chained:
        return i + 1 < n and (i + 1) not in plan.registrations
    return any(j not in plan.registrations for j in range(1, n))


def _record_for_reuse(out: Path, report: LongitudinalReport, labels: LabelProvider,
                      options: TrackingOptions, reporter: Reporter) -> None:
    """``OUT/reuse.json`` for the next run (a failure only costs that run's reuse)."""
    from interval.longitudinal.reuse import write_record

    try:
        write_record(out, report, labels, options.registration, options.chained)
    except (OSError, IntervalError, ValueError) as exc:
        reporter.echo(f"warning: the reuse record could not be written ({exc}); the next run "
                      "computes everything again")


def _register(data: list[TimepointData], reference: Any, volume: Volume, i: int,
              options: TrackingOptions, bar: ProgressFn | None, cancel: CancelFn | None) -> Any:
    from interval.longitudinal import registration as reg

    if i == 0:
        return reg.identity_registration(volume, 0)
    if reference is None:
        raise IntervalError("internal: the reference scan was released too early")
    ref_index = data[i - 1].index if options.chained else 0
    outcome = reg.register(reference, volume, method=options.registration,
                           timepoint=i, reference=ref_index, progress=bar, cancel=cancel)
    if options.chained and ref_index > 0:
        outcome = reg.compose(data[ref_index].registration, outcome)
    return outcome


def map_to_baseline(i: int, grid: Volume, base_grid: Volume | None, components: np.ndarray,
                    measurements: list[LesionMeasurement], registration: Any) -> TimepointData:
    """Centroids and the component map of timepoint ``i`` in baseline space."""
    import dataclasses

    if i == 0:
        measurements = [dataclasses.replace(m, centroid_baseline_lps=m.centroid_lps)
                        for m in measurements]
        in_baseline: np.ndarray | None = components
    elif registration.result.status == REG_FAILED or base_grid is None:
        in_baseline = None
    else:
        in_baseline = sparse.components_in_reference(registration, components, grid,
                                                     measurements, base_grid)
        if measurements:
            points = np.array([m.centroid_lps for m in measurements], dtype=np.float64)
            mapped = registration.to_reference(points)
            measurements = [dataclasses.replace(m, centroid_baseline_lps=tuple(map(float, p)))
                            for m, p in zip(measurements, mapped, strict=True)]
    return TimepointData(i, None, grid, components, measurements, registration, in_baseline)


def _baseline_voxel_ml(data: list[TimepointData]) -> float:
    base = data[0].labels if data else None
    return float(base.voxel_volume_mm3()) / 1000.0 if base is not None else 0.0


def _with_file(result: RegistrationResult, path: str | None) -> RegistrationResult:
    import dataclasses

    return dataclasses.replace(result, transform_file=path) if path else result


def _save_transform(out: Path, i: int, registration: Any) -> str | None:
    if i == 0 or registration.result.status == REG_FAILED:
        return None
    folder = out / REGISTRATION_DIR
    folder.mkdir(exist_ok=True)
    ref = registration.result.reference
    suffix = ".h5" if registration.result.method == "deformable" else ".tfm"
    path = registration.save(folder / f"tp{i + 1}_to_tp{ref + 1}{suffix}")
    return Path(path).relative_to(out).as_posix()


def _save_label_map(out: Path, i: int, label_map: Volume) -> str:
    from interval.io.image_files import write_image
    from interval.io.label_tables import json_sidecar_path, write_label_json

    folder = out / SEGMENTATION_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"tp{i + 1}_labels.nii.gz"
    write_image(label_map, path)
    if label_map.labels is not None:
        write_label_json(label_map.labels, json_sidecar_path(path))
    return path.relative_to(out).as_posix()


def _slices_of(selection: Any, i: int, slices: Sequence[int]) -> Volume:
    """Timepoint ``i`` with only ``slices`` read (a selection without that reads it whole)."""
    load_slices = getattr(selection, "load_slices", None)
    return load_slices(i, slices) if load_slices is not None else selection.load(i)


def _write_reports(report: LongitudinalReport, out: Path, data: list[TimepointData],
                   selection: Any, options: TrackingOptions, phases: _Phases,
                   t_start: float, progress: ProgressFn | None = None,
                   cancel: CancelFn | None = None,
                   dicom_writer: Any = None) -> dict[str, Path]:
    from interval.longitudinal.report_bundle import write_reports
    from interval.longitudinal.report_json import write_report_json

    outputs: dict[str, Path] = {}
    if not options.reports and dicom_writer is not None:
        dicom_writer.close()
    report.timings = dict(phases.seconds)
    report.timings["total"] = time.perf_counter() - t_start
    t0 = time.perf_counter()
    if options.reports:
        from interval.longitudinal.report_bundle import start_dicom_export

        grids = [_slices_of(selection, d.index, ()) for d in data]  # geometry only
        dicom = start_dicom_export(  # the SEG and SR are written while the rest is made
            report, out, images=grids, component_maps=[d.components for d in data],
            series_files=[selection.files(d.index) for d in data],
            label_volumes=[d.labels for d in data], cancel=cancel,
            dicom_writer=dicom_writer)
        with dicom:
            phases.seconds["report"] = time.perf_counter() - t0
            with phases.time("read"):  # again: only the slices the key images show
                for d, grid in zip(data, grids, strict=True):
                    boxes = sparse.key_image_boxes(report, d.index, grid)
                    ks = sorted({k for lo, hi in boxes for k in range(lo[0], hi[0])})
                    image = _slices_of(selection, d.index, ks)
                    d.volume = image.with_array(sparse.sparse_copy(image.array, boxes))
                    del image
                _release_freed_memory()  # the slices read whole, kept only where shown
            t0 = time.perf_counter()
            written = write_reports(
                report, out,
                volumes=[d.volume for d in data],
                component_maps=[d.components for d in data],
                series_files=[selection.files(d.index) for d in data],
                label_volumes=[d.labels for d in data],
                progress=progress, cancel=cancel, dicom=dicom,
            )
        outputs.update({k: Path(v) for k, v in written.items()})
        report.outputs.update({k: Path(v).relative_to(out).as_posix()
                               for k, v in written.items() if k != "report_json"})
    # report.json itself: milliseconds
    phases.seconds["report"] = phases.seconds.get("report", 0.0) + time.perf_counter() - t0
    report.timings = dict(phases.seconds)
    report.timings["total"] = time.perf_counter() - t_start
    outputs["report_json"] = Path(write_report_json(report, out / "report.json"))
    return outputs
