"""The demo's pipeline: a synthetic patient, tracked end to end, scored against its truth.

:func:`run_demo` writes (or reuses) a synthetic patient as real CT DICOM files
(:func:`interval.io.synthetic.patient.generate_patient`: several scans at irregular
intervals, lesions that grow, shrink, appear, vanish, merge and split, lymph nodes,
the body moved and deformed between scans), then runs the same tracking pipeline as
``interval track`` on its DICOM folder (:func:`interval.longitudinal.pipeline.run_tracking`):
segmentation of every scan by a plugin's model (default: the first-party U-Net) in a
child process, registration, lesion matching, RECIST 1.1 and every report.  Because the
truth is known, it finally scores the run (:mod:`interval.longitudinal.demo_evaluation`:
Dice per label, lesions found, links between timepoints, RECIST responses) and writes
``evaluation.json`` + ``evaluation.md`` beside the reports.

``segment=False`` (``--no-segment``) tracks the generator's ground-truth label maps
instead of a model's: the pipeline's own accuracy without the model's errors.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs

from interval.core.errors import IntervalError
from interval.io.synthetic.patient import (
    SyntheticPatient,
    generate_patient,
    is_complete,
    read_synthetic_patient,
)
from interval.io.synthetic.phantom import DEFAULT_SHAPE

Echo = Callable[[str], None]
# The single-timepoint U-Net: the temporal model (phantom-unet-temporal) finds a few more
# lesions at follow-ups but has more false positives and takes 1.7x the time per scan on the
# CPU (the issue allows the demo 1.5x); plugins/interval_unet/README.md has the numbers.
DEFAULT_MODEL = "phantom-unet"
DEFAULT_TIMEPOINTS = 4
EVALUATION_JSON = "evaluation.json"
EVALUATION_MD = "evaluation.md"
DISCLAIMER = ("Synthetic data, not for clinical use: a generated phantom patient segmented by "
              "a demonstration model.")
_COURSE = {"grow": "grows", "shrink": "shrinks", "appear": "appears", "vanish": "vanishes",
           "stable": "stable"}
# files and folders a previous demo run wrote into the patient's folder
_RESULT_FILES = (EVALUATION_JSON, EVALUATION_MD, "report.json", "report.md", "report.html",
                 "report.pdf", "lesions.csv", "forecasts.csv", ".interval-track")
_RESULT_DIRS = ("segmentation", "registration", "sr", "seg", "key_images", "dicom")


def default_demo_dir(seed: int) -> Path:
    """Where the demo keeps its data when no folder is given (the user's cache folder)."""
    return platformdirs.user_cache_path("interval") / "demo" / f"seed-{seed}"


def run_demo(
    out_dir: Path | None,
    seed: int,
    echo: Echo = print,
    *,
    shape: tuple[int, int, int] | None = None,
    n_timepoints: int = DEFAULT_TIMEPOINTS,
    spacing: tuple[float, float, float] | None = None,
    segment: bool = True,
    model: str = DEFAULT_MODEL,
    device: str = "auto",
    memory_limit_bytes: int | None = None,
    registration: str = "affine",
    forecast: bool = True,
    horizon_days: float | None = None,
    reporter: Any = None,
    cancel: Callable[[], bool] | None = None,
) -> int:
    """Generate (or reuse) patient ``seed``, track it, score it; 0 when all went well.

    ``shape`` (nz, ny, nx) is the size of each scan (default 140 x 256 x 256); ``model``
    names a segmentation model of an installed plugin (``segment=False``: the ground
    truth's label maps are tracked instead); ``device`` is auto, cpu, cuda, cuda:N or mps;
    ``forecast`` adds each lesion's growth forecast (the growth-forecast plugin), at
    ``horizon_days`` after the last scan (None: at the next expected scan);
    ``reporter`` (a :class:`~interval.longitudinal.pipeline.Reporter`) gets the progress
    of each step (``echo`` the lines); ``cancel()`` returning True stops the run.  Returns 1 when a scan could
    not be loaded or registered; raises :class:`IntervalError` for a missing model or
    unusable files and :class:`~interval.core.errors.Cancelled` when cancelled.
    """
    from interval.longitudinal.demo_evaluation import evaluate, evaluation_lines, write_evaluation
    from interval.longitudinal.model_lookup import find_segmentation_model
    from interval.longitudinal.pipeline import Reporter, TrackingOptions, run_tracking
    from interval.longitudinal.segmentation_source import FileLabels, ModelLabels
    from interval.longitudinal.summary import summary_lines
    from interval.longitudinal.timeline import build_timeline

    t_start = time.perf_counter()
    root = Path(out_dir) if out_dir is not None else default_demo_dir(seed)
    shape = tuple(int(n) for n in (shape or DEFAULT_SHAPE))  # type: ignore[assignment]
    echo(f"Interval demo: synthetic patient, seed {seed}")
    labels: Any = None
    if segment:
        hint = ("run `interval plugins` to see the installed models and refused plugins, choose "
                "another with --model, or run `interval demo --no-segment`")
        entry = find_segmentation_model(model, modality="CT", hint=hint)
        labels = ModelLabels(entry, device=device, memory_limit_bytes=memory_limit_bytes,
                             describe="demonstration model, not for clinical use")
        labels.prestart()  # the child imports torch while the patient is written and read
    try:
        generate_start = time.perf_counter()
        patient = _patient(root, seed, shape, n_timepoints, spacing, echo)
        generate_seconds = time.perf_counter() - generate_start
        _show_truth(echo, patient)
        if labels is None:
            labels = FileLabels([tp.labels_path for tp in patient.timepoints])
        reporter = Reporter(echo=echo, bar=getattr(reporter, "bar", None))
        with reporter.progress("Indexing") as bar:
            selection = build_timeline([patient.dicom_dir], progress=bar, cancel=cancel)
        echo("")
        options = TrackingOptions(registration=registration, force=True, forecast=forecast,
                                  horizon_days=horizon_days)
        outcome = run_tracking(selection, labels, root, options, inputs=(patient.dicom_dir,),
                               reporter=reporter, cancel=cancel)
        labels = None  # run_tracking closed it
        evaluation = evaluate(patient, outcome, segmented=segment)
        evaluation["timings_s"] = {"generate": generate_seconds, **outcome.report.timings,
                                   "demo_total": time.perf_counter() - t_start}
        write_evaluation(root, evaluation)
    finally:
        if labels is not None:
            labels.close()
    echo("")
    for line in summary_lines(outcome.report):
        echo(line)
    echo("")
    for line in evaluation_lines(evaluation):
        echo(line)
    echo("")
    names = {"report_html": "Report (HTML)", "report_pdf": "Report (PDF)",
             "lesions_csv": "Lesions (CSV)"}
    for key, title in names.items():
        if key in outcome.outputs:
            echo(f"{title}: {outcome.outputs[key]}")
    if "forecasts_csv" in outcome.report.outputs:
        echo(f"Growth forecasts (CSV): {root / outcome.report.outputs['forecasts_csv']}")
    from interval.longitudinal.summary import timing_table

    echo(timing_table(outcome.report.timings))
    echo(f"Report: {root / 'report.json'}; evaluation against the truth: {root / EVALUATION_MD}")
    echo(DISCLAIMER)
    return 0 if outcome.ok and not evaluation.get("problems") else 1


def _patient(root: Path, seed: int, shape: tuple[int, int, int], n_timepoints: int,
             spacing: tuple[float, float, float] | None, echo: Echo) -> SyntheticPatient:
    """The synthetic patient in ``root``: reused when complete and the same, else written."""
    if is_complete(root, seed=seed, shape=shape, n_timepoints=n_timepoints) and (
        spacing is None or _same_spacing(read_synthetic_patient(root).spacing, spacing)
    ):
        echo(f"Using the synthetic patient already in {root}")
        return read_synthetic_patient(root)
    nz, ny, nx = shape
    echo(f"Writing {n_timepoints} CT scans of {nx} x {ny} x {nz} voxels as DICOM to {root} ...")
    patient = generate_patient(root, seed, n_timepoints, shape, spacing, keep_arrays=False)
    remove_old_results(root)  # they belonged to the patient just replaced
    echo(f"  done in {patient.seconds:.1f} s")
    return patient


def _same_spacing(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(abs(float(x) - float(y)) < 1e-6 for x, y in zip(a, b, strict=True))


def remove_old_results(root: Path) -> None:
    """Delete a previous run's results (only the files and folders the demo writes)."""
    import shutil

    for name in _RESULT_FILES:
        with contextlib.suppress(OSError):
            (root / name).unlink()
    for name in _RESULT_DIRS:
        folder = root / name
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)


def _show_truth(echo: Echo, patient: SyntheticPatient) -> None:
    """The generated truth: scans, motion, and each lesion's course."""
    echo("")
    echo(f"Patient {patient.patient_id} (synthetic), sex {patient.patient_sex}; "
         f"{len(patient.timepoints)} scans")
    for tp in patient.timepoints:
        when = "baseline" if tp.index == 0 else f"+{tp.day} days"
        moved = ""
        if tp.index > 0:
            sx, sy, sz = tp.shift_mm
            moved = (f"; moved x {sx:+.1f}, y {sy:+.1f}, z {sz:+.1f} mm, rotated "
                     f"{tp.rotation_deg:.1f}°")
        echo(f"  scan {tp.index + 1}  {tp.study_date.isoformat()}  {when}{moved}")
    echo("Lesions (ground truth: volume mL / longest axial diameter mm)")
    by_id: dict[int, list[Any]] = {}
    for tp in patient.lesions:
        for t in tp:
            by_id.setdefault(t.id, []).append(t)
    for lid, states in sorted(by_id.items()):
        first = states[0]
        cells = "".join(
            f"{(f'{t.volume_mm3 / 1000:.2f} / {t.longest_diameter_mm:.0f}') if t.present else '-':<15}"
            for t in sorted(states, key=lambda t: t.timepoint)
        )
        course = _COURSE.get(first.kind, first.kind)
        echo(f"  #{lid:<3} {first.organ:<11} {course:<9} {cells}".rstrip())


def demo_segmentations(root: Path) -> dict[str, Path]:
    """Series instance UID -> the label map the demo wrote for it (from ``report.json``).

    The label maps the run wrote (a model's), or those it was given (``--no-segment``: the
    ground truth).  Empty when the report is missing or damaged: the viewer then opens
    the patient without overlays.
    """
    import json

    try:
        report = json.loads((root / "report.json").read_text(encoding="utf-8"))
        outputs = report.get("outputs") or {}
        given = {int(s["timepoint"]): s.get("path") or "" for s in report.get("segmentations", [])}
        out: dict[str, Path] = {}
        for tp in report["timeline"]["timepoints"]:
            index = int(tp["index"])
            rel = outputs.get(f"labels_tp{index + 1}")
            path = root / rel if rel else Path(given[index]) if given.get(index) else None
            if path is not None and path.is_file():
                out[str(tp["series"]["series_instance_uid"])] = path
        return out
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def valid_device(device: str) -> bool:
    """Whether ``device`` is a device name the engine understands."""
    return re.match(r"^(auto|cpu|mps|cuda(:\d+)?)$", str(device).strip().lower()) is not None


__all__ = ["DEFAULT_MODEL", "DEFAULT_TIMEPOINTS", "default_demo_dir", "demo_segmentations",
           "remove_old_results", "run_demo", "IntervalError"]
