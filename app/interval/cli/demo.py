"""``interval demo``: write a synthetic patient as DICOM, load it, segment it, report.

The patient (3 CT scans months apart, lesions that grow, shrink and appear, a
small shift of the patient between scans) comes from
:func:`interval.io.synthetic.patient.generate_patient`.  It is reused when the
folder already holds a complete one of the same seed and size, and written
again otherwise.  Then the files go through the same path as any DICOM folder:
:func:`~interval.io.dicom.index.index_folder` and
:func:`~interval.io.dicom.load.load_stack`.

Unless ``segment=False`` (``--no-segment``), every scan is then segmented by a
plugin's model (default: the first-party U-Net "phantom-unet") in a child process
(:func:`interval.ai.runner.run_segmentation`; the first child starts before the
DICOM files are read, so torch's import overlaps the loading), with a progress
bar and Ctrl-C to cancel.  The result is compared with the generator's ground
truth (Dice per label, lesion volumes; :mod:`interval.ai.metrics`) and written to
``OUT/segmentation/`` (``tpN_<model>.nii.gz`` + ``.labels.json``, and a DICOM SEG
``tpN_<model>_seg.dcm`` referencing the source series) and ``OUT/report.json`` +
``OUT/report.md``, all atomically.  The summary goes to ``echo`` (stdout), never
to the log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from interval.core.errors import IntervalError
from interval.core.volume import Volume
from interval.io.dicom.index import index_folder
from interval.io.dicom.load import load_stack
from interval.io.image_files import read_image
from interval.io.synthetic.patient import (
    SyntheticPatient,
    TimepointRecord,
    generate_patient,
    is_complete,
    read_synthetic_patient,
)
from interval.io.synthetic.phantom import (
    AORTA,
    BONE,
    DEFAULT_SHAPE,
    KIDNEY,
    LESION,
    LIVER,
    LUNG,
    SPLEEN,
    LesionTruth,
)

Echo = Callable[[str], None]
_ORGANS = ((LIVER, "liver"), (SPLEEN, "spleen"), (KIDNEY, "kidney"), (LUNG, "lung"),
           (AORTA, "aorta"), (BONE, "bone"))
_COURSE = {"grow": "grows", "shrink": "shrinks", "appear": "appears", "vanish": "vanishes",
           "stable": "stable"}
DEFAULT_MODEL = "phantom-unet"
SEGMENTATION_DIR = "segmentation"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
DISCLAIMER = ("Synthetic data, not for clinical use: a generated phantom patient segmented by "
              "a demonstration model.")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass
class _Loaded:
    """One loaded scan: the volume, its image stack, its ground truth (or None), load time."""

    volume: Volume
    stack: Any
    truth: np.ndarray | None
    seconds: float


@dataclass
class _Phases:
    """Seconds per phase of the demo, in the order they ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + float(value)


def default_demo_dir(seed: int) -> Path:
    """Where the demo keeps its data when no folder is given (the user's cache folder)."""
    return platformdirs.user_cache_path("interval") / "demo" / f"seed-{seed}"


def options_from_args(args: Any) -> dict[str, Any]:
    """``run_demo`` keyword arguments from the ``demo`` subcommand's parsed options
    (``--no-segment``, ``--model``, ``--device``, ``--progress``); absent ones keep defaults."""
    return {
        "segment": not bool(getattr(args, "no_segment", False)),
        "model": str(getattr(args, "model", None) or DEFAULT_MODEL),
        "device": str(getattr(args, "device", None) or "auto"),
        "progress": bool(getattr(args, "progress", False)),
    }


def segmentation_path(root: Path, timepoint: int, model: str = DEFAULT_MODEL) -> Path:
    """Where the demo writes the label map of scan ``timepoint`` (1-based) in ``root``."""
    return root / SEGMENTATION_DIR / f"tp{timepoint}_{_slug(model)}.nii.gz"


def demo_segmentations(root: Path) -> dict[str, Path]:
    """Series instance UID -> the label map this demo wrote for it (from ``report.json``).

    Empty when the demo did not segment (``--no-segment``) or the report is missing or
    damaged: the viewer then opens the patient without overlays.
    """
    try:
        report = json.loads((root / REPORT_JSON).read_text(encoding="utf-8"))
        out: dict[str, Path] = {}
        for tp in report.get("timepoints", []):
            nifti = (tp.get("files") or {}).get("nifti")
            if nifti and (root / nifti).is_file():
                out[str(tp["series_instance_uid"])] = root / nifti
        return out
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def run_demo(
    out_dir: Path | None,
    seed: int,
    echo: Echo = print,
    *,
    shape: tuple[int, int, int] | None = None,
    n_timepoints: int = 3,
    spacing: tuple[float, float, float] | None = None,
    segment: bool = True,
    model: str = DEFAULT_MODEL,
    device: str = "auto",
    progress: bool = False,
    cancel: Callable[[], bool] | None = None,
) -> int:
    """Generate (or reuse), index, load, summarise and (``segment``) segment patient ``seed``.

    ``shape`` (nz, ny, nx) is the size of each scan (default 140 x 256 x 256);
    ``spacing`` (x, y, z mm) defaults to covering the standard field of view.
    ``model`` names a segmentation model of an installed plugin; ``device`` is auto,
    cpu, cuda, cuda:N or mps; ``progress`` draws progress bars on stderr even when it
    is not a terminal; ``cancel()`` returning True stops the segmentation (Ctrl-C
    does too).  Returns 0 when every scan loaded, matched its ground truth and was
    segmented, 1 otherwise.  File and data problems, and a model that is missing or
    fails, raise :class:`~interval.core.errors.IntervalError`; a cancel raises
    :class:`~interval.core.errors.Cancelled`.
    """
    t_start = time.perf_counter()
    phases = _Phases()
    root = Path(out_dir) if out_dir is not None else default_demo_dir(seed)
    shape = tuple(int(n) for n in (shape or DEFAULT_SHAPE))  # type: ignore[assignment]
    device = str(device).strip().lower()
    if segment and not _DEVICE.match(device):
        raise IntervalError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    echo(f"Interval demo: synthetic patient, seed {seed}")
    entry = _find_model(model) if segment else None
    processes: list[Any] = []
    try:
        if entry is not None:  # the child imports torch and the engine while we read
            processes.append(_start_process())
        patient = _patient(root, seed, shape, n_timepoints, spacing, echo, phases)
        start = time.perf_counter()
        index = index_folder(patient.dicom_dir)
        phases.add("index", time.perf_counter() - start)
        n_files = sum(se.n_files for _p, _st, se in index.iter_series())
        n_studies = sum(len(p.studies) for p in index.patients)
        n_series = sum(1 for _ in index.iter_series())
        echo(f"Indexed {n_files} files in {time.perf_counter() - start:.1f} s: "
             f"{_plural(len(index.patients), 'patient')}, "
             f"{_plural(n_studies, 'study', 'studies')}, "
             f"{_plural(n_series, 'series', 'series')}, {len(index.skipped)} skipped")
        age = (patient.timepoints[0].study_date - patient.patient_birth_date).days // 365
        echo("")
        echo(f"Patient {patient.patient_id} (synthetic), sex {patient.patient_sex}, "
             f"{age} years old at the first scan")
        problems: list[str] = []
        loaded: dict[int, _Loaded] = {}
        for tp in patient.timepoints:
            problems += _show_timepoint(echo, index, patient, tp, loaded)
        phases.add("load", sum(item.seconds for item in loaded.values()))
        echo("")
        _show_lesion_table(echo, patient)
        echo("")
        echo(f"DICOM: {patient.dicom_dir}")
        echo(f"Ground truth (label maps, lesions.json): {patient.ground_truth_dir}")
        if entry is not None:
            echo("")
            _segment_and_report(root, patient, loaded, entry, device, processes, echo, phases,
                                problems, progress, cancel, t_start)
    finally:
        for process in processes:
            process.close()
    for problem in problems:
        echo(f"problem: {problem}")
    return 1 if problems else 0


def _patient(root: Path, seed: int, shape: tuple[int, int, int], n_timepoints: int,
             spacing: tuple[float, float, float] | None, echo: Echo,
             phases: _Phases) -> SyntheticPatient:
    """The synthetic patient in ``root``: reused when complete and the same, else written."""
    if is_complete(root, seed=seed, shape=shape, n_timepoints=n_timepoints) and (
        spacing is None or _same_spacing(read_synthetic_patient(root).spacing, spacing)
    ):
        echo(f"Using the synthetic patient already in {root}")
        return read_synthetic_patient(root)
    nz, ny, nx = shape
    echo(f"Writing {n_timepoints} CT scans of {nx} x {ny} x {nz} voxels as DICOM to {root} ...")
    start = time.perf_counter()
    patient = generate_patient(root, seed, n_timepoints, shape, spacing, keep_arrays=False)
    _remove_old_results(root)  # they belonged to the patient just replaced
    phases.add("generate", time.perf_counter() - start)
    echo(f"  done in {patient.seconds:.1f} s")
    return patient


def _same_spacing(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    if len(a) != len(b):
        return False
    return all(abs(float(x) - float(y)) < 1e-6 for x, y in zip(a, b, strict=True))


def _remove_old_results(root: Path) -> None:
    """Delete a previous run's segmentations and reports (files this demo wrote only)."""
    for name in (REPORT_JSON, REPORT_MD):
        with contextlib.suppress(OSError):
            (root / name).unlink()
    folder = root / SEGMENTATION_DIR
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and re.match(r"^\.?tp\d+_", path.name):
                with contextlib.suppress(OSError):
                    path.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _show_timepoint(echo: Echo, index, patient: SyntheticPatient, tp: TimepointRecord,
                    loaded: dict[int, _Loaded] | None = None) -> list[str]:
    """Load one scan, print what it is, organ HU and lesions; return problems found.

    The loaded scan (and its ground truth, when on its grid) goes into ``loaded``."""
    when = "baseline" if tp.index == 0 else f"+{round(tp.day / 30.44)} months ({tp.day} days)"
    echo("")
    stack = index.find_stack(tp.series_instance_uid)
    if stack is None:
        echo(f"Scan {tp.index + 1}  {tp.study_date.isoformat()}  {when}: not found in the index")
        return [f"scan {tp.index + 1} was not found by the indexer"]
    start = time.perf_counter()
    volume = load_stack(stack)
    seconds = time.perf_counter() - start
    md = volume.metadata
    echo(f"Scan {tp.index + 1}  {tp.study_date.isoformat()}  {when}   "
         f"{md.modality} series {md.series_number} \"{md.series_description}\"")
    nx, ny, nz = volume.size_ijk
    sp = " x ".join(f"{s:.2f}" for s in volume.spacing)
    echo(f"  {nx} x {ny} x {nz} voxels, {sp} mm, loaded in {seconds:.2f} s")
    problems = []
    labels = _labels_for(tp, volume, problems)
    if loaded is not None:
        loaded[tp.index] = _Loaded(volume, stack, labels, seconds)
    if labels is not None:
        stats = _organ_stats(volume.array, labels)
        echo("  HU mean ± sd: " + " | ".join(f"{n} {m:.0f} ± {s:.0f}" for n, m, s in stats))
    present = [t for t in patient.lesions[tp.index] if t.present]
    absent = [t for t in patient.lesions[tp.index] if not t.present]
    text = "; ".join(f"#{t.id} {t.organ} {_ml(t.volume_mm3)} mL, {t.longest_diameter_mm:.0f} mm"
                     for t in present) or "none"
    if absent:
        text += "   (not visible: " + ", ".join(f"#{t.id}" for t in absent) + ")"
    echo(f"  lesions: {text}")
    if tp.index > 0:
        sx, sy, sz = tp.shift_mm
        echo(f"  patient moved since baseline: {np.linalg.norm(tp.shift_mm):.1f} mm "
             f"(x {sx:+.1f}, y {sy:+.1f}, z {sz:+.1f}), rotated {tp.rotation_deg:.1f}°")
    return problems


def _labels_for(tp: TimepointRecord, volume: Volume, problems: list[str]) -> np.ndarray | None:
    """The ground-truth label array of ``tp`` if it lies on the loaded volume's grid."""
    if tp.labels_path is None or not tp.labels_path.is_file():
        return None
    try:
        labels = read_image(tp.labels_path)
    except IntervalError as exc:
        problems.append(f"scan {tp.index + 1}: ground truth unreadable ({exc})")
        return None
    if not labels.same_grid(volume):
        problems.append(f"scan {tp.index + 1}: the ground truth does not lie on the loaded grid")
        return None
    return labels.array


def _organ_stats(ct: np.ndarray, labels: np.ndarray) -> list[tuple[str, float, float]]:
    """Mean and sd of HU inside each organ, one voxel away from its border."""
    out = []
    for value, name in _ORGANS:
        mask = _erode(labels == value)
        if mask.sum() < 20:
            continue
        values = ct[mask].astype(np.float64)
        out.append((name, float(values.mean()), float(values.std())))
    return out


def _erode(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(1, None), slice(None, -1)
        out[tuple(lo)] &= mask[tuple(hi)]
        out[tuple(hi)] &= mask[tuple(lo)]
    return out


def _ml(mm3: float) -> str:
    ml = mm3 / 1000.0
    return f"{ml:.2f}" if ml < 10 else f"{ml:.1f}"


def _show_lesion_table(echo: Echo, patient: SyntheticPatient) -> None:
    dates = [t.study_date.isoformat() for t in patient.timepoints]
    echo("Lesions over time (ground truth: volume mL / longest axial diameter mm)")
    echo(("   #  organ   course     " + "".join(f"{d:<16}" for d in dates)).rstrip())
    by_id: dict[int, list[LesionTruth]] = {}
    for tp in patient.lesions:
        for t in tp:
            by_id.setdefault(t.id, []).append(t)
    for lid, states in sorted(by_id.items()):
        first = states[0]
        cells = "".join(
            f"{(_ml(t.volume_mm3) + ' / ' + f'{t.longest_diameter_mm:.0f}') if t.present else '-':<16}"
            for t in sorted(states, key=lambda t: t.timepoint)
        )
        echo(f"  {lid:>2}  {first.organ:<7} {_COURSE.get(first.kind, first.kind):<10} {cells}".rstrip())


# --- segmentation, evaluation, report ------------------------------------------------------


def _find_model(name: str) -> Any:
    """The registered segmentation model ``name``; a clear IntervalError when it is missing."""
    from interval.plugins.registry import discover_plugins

    hint = ("run `interval plugins` to see the installed models and refused plugins, choose "
            "another with --model, or run `interval demo --no-segment`")
    registry = discover_plugins()
    try:
        entry = registry.find_segmentation_model(name)
    except IntervalError as exc:
        error = IntervalError(
            f"the demo segments the patient with the model {name!r}, which is not available: "
            f"{exc}"
        )
        error.hint = hint  # type: ignore[attr-defined]
        raise error from exc
    if not entry.accepts_modality("CT"):
        error = IntervalError(
            f"the model {name!r} is made for {', '.join(entry.modalities)} images; the demo "
            "patient's scans are CT"
        )
        error.hint = hint  # type: ignore[attr-defined]
        raise error
    return entry


def _start_process() -> Any:
    from interval.ai.runner import start_segmentation_process

    return start_segmentation_process()


@contextlib.contextmanager
def _ctrl_c_cancels() -> Iterator[Callable[[], bool]]:
    """While active, the first Ctrl-C asks the model to stop (a second one interrupts)."""
    asked = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield asked.is_set
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if asked.is_set():
            raise KeyboardInterrupt
        asked.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield asked.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def _segment_and_report(root: Path, patient: SyntheticPatient, loaded: dict[int, _Loaded],
                        entry: Any, device: str, processes: list[Any], echo: Echo,
                        phases: _Phases, problems: list[str], progress: bool,
                        cancel: Callable[[], bool] | None, t_start: float) -> None:
    """Segment every loaded scan, compare with the truth, write results and the report."""
    from interval.cli.progress import ProgressBar, progress_wanted

    spec = entry.spec
    show = progress_wanted(progress)
    out_dir = root / SEGMENTATION_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    tps = [tp for tp in patient.timepoints if tp.index in loaded]
    echo(f"Segmenting {_plural(len(tps), 'scan')} with {spec.name} {spec.version} "
         f"({entry.plugin_id}), device {device}; Ctrl-C cancels")
    rows: list[dict[str, Any]] = []
    used_device = ""
    with _ctrl_c_cancels() as ctrl_c:
        def stop() -> bool:
            return ctrl_c() or bool(cancel is not None and cancel())

        for n, tp in enumerate(tps):
            item = loaded[tp.index]
            process = processes[-1] if processes else _start_process()
            if not processes:
                processes.append(process)
            if n + 1 < len(tps):  # the next scan's child imports torch meanwhile
                processes.append(_start_process())
            start = time.perf_counter()
            with ProgressBar(f"Segmenting scan {tp.index + 1}/{len(patient.timepoints)}",
                             enabled=show) as bar:
                result = _run_model(item.volume, entry, device, bar, stop, process)
            seconds = time.perf_counter() - start
            phases.add("segment", seconds)
            used_device = result.device or used_device
            for warning in result.warnings:
                echo(f"  warning (scan {tp.index + 1}): {warning}")
            start = time.perf_counter()
            row = _evaluate(tp, item, result.labels, spec, patient.lesions[tp.index], problems)
            phases.add("evaluate", time.perf_counter() - start)
            start = time.perf_counter()
            row["files"] = _write_segmentation(root, out_dir, tp, item, result.labels, entry)
            phases.add("write", time.perf_counter() - start)
            row["seconds"] = {"load": item.seconds, "segment": seconds,
                              **{f"engine_{k}": v for k, v in result.timings.items()}}
            rows.append(row)
            echo(f"  scan {tp.index + 1}: {seconds:.1f} s on {result.device}")
    report = _report(root, patient, entry, used_device or device, rows, phases, t_start)
    start = time.perf_counter()
    _write_report(root, report)
    phases.add("write", time.perf_counter() - start)
    echo("")
    for line in _summary_lines(report):
        echo(line)
    echo("")
    echo(f"Segmentations: {out_dir}")
    echo(f"Report: {root / REPORT_MD} (and {REPORT_JSON})")
    echo(DISCLAIMER)


def _run_model(volume: Volume, entry: Any, device: str, bar: Any,
               cancel: Callable[[], bool], process: Any) -> Any:
    from interval.ai.runner import run_segmentation

    return run_segmentation(volume, entry.folder, {"device": device}, progress=bar,
                            cancel=cancel, code_path=entry.code_path, process=process)


def _truth_pairs(spec: Any) -> dict[int, int]:
    """Model label value -> ground-truth label value, matched by name."""
    from interval.io.synthetic.phantom import LABELS

    by_name = {name.lower(): value for value, name in LABELS.items()}
    pairs = {}
    for info in _spec_labels(spec):
        value = by_name.get(info.name.strip().lower())
        if value is not None:
            pairs[int(info.value)] = int(value)
    return pairs


def _spec_labels(spec: Any) -> list[Any]:
    table = getattr(spec, "label_table", None)
    if table is not None:
        return list(table)
    return list(getattr(spec, "labels", ()) or ())


def _evaluate(tp: TimepointRecord, item: _Loaded, labels: Volume, spec: Any,
              truths: list[LesionTruth], problems: list[str]) -> dict[str, Any]:
    """Dice per label and lesion volumes of one scan's segmentation against its truth."""
    from interval.ai.metrics import dice_per_label, label_counts, match_lesions, voxel_ml

    unit = voxel_ml(item.volume.spacing)
    names = {int(i.value): str(i.name) for i in _spec_labels(spec)}
    counts = label_counts(labels.array)
    row: dict[str, Any] = {
        "index": tp.index + 1, "date": tp.study_date.isoformat(), "day": tp.day,
        "series_instance_uid": tp.series_instance_uid,
        "predicted_ml": {names[v]: (int(counts[v]) if v < counts.size else 0) * unit
                         for v in sorted(names)},
        "dice": {}, "truth_ml": {}, "lesions": [], "false_positive_lesion_ml": None,
    }
    if item.truth is None:
        problems.append(f"scan {tp.index + 1}: no ground truth to evaluate the segmentation")
        return row
    pairs = _truth_pairs(spec)
    truth_counts = label_counts(item.truth)
    scores = dice_per_label(labels.array, item.truth, pairs)
    row["dice"] = {names[v]: _num(scores[v]) for v in sorted(pairs)}
    row["truth_ml"] = {names[v]: (int(truth_counts[t]) if t < truth_counts.size else 0) * unit
                       for v, t in sorted(pairs.items())}
    lesion_value = next((v for v, t in pairs.items() if t == LESION), None)
    if lesion_value is not None and tp.lesion_ids_path is not None:
        ids = read_image(tp.lesion_ids_path)
        if ids.same_grid(item.volume):
            matches, false_ml = match_lesions(labels.array == lesion_value, ids.array,
                                              item.volume.spacing)
            organ = {t.id: t.organ for t in truths}
            row["lesions"] = [
                {"id": m.lesion_id, "organ": organ.get(m.lesion_id, ""),
                 "truth_ml": m.truth_ml, "predicted_ml": m.predicted_ml,
                 "dice": _num(m.dice), "detected": m.detected}
                for m in matches
            ]
            row["false_positive_lesion_ml"] = false_ml
        else:
            problems.append(f"scan {tp.index + 1}: the lesion map does not lie on the scan's grid")
    return row


def _num(value: float) -> float | None:
    """A JSON number (None for NaN: a label absent from both maps)."""
    return None if value is None or math.isnan(value) else float(value)


def _write_segmentation(root: Path, out_dir: Path, tp: TimepointRecord, item: _Loaded,
                        labels: Volume, entry: Any) -> dict[str, str]:
    """``tpN_<model>.nii.gz`` (+ ``.labels.json``) and the DICOM SEG ``tpN_<model>_seg.dcm``."""
    from interval.io.open_path import stack_files
    from interval.io.seg_writer import AlgorithmInfo, save_segmentation

    spec = entry.spec
    stem = segmentation_path(root, tp.index + 1, spec.name).name.removesuffix(".nii.gz")
    algorithm = AlgorithmInfo(spec.name, spec.version, entry.plugin_id)
    description = f"{spec.name} segmentation"
    nifti = save_segmentation(labels, out_dir / f"{stem}.nii.gz", algorithm=algorithm,
                              series_description=description)
    seg = save_segmentation(labels, out_dir / f"{stem}_seg.dcm",
                            sources=sorted(stack_files(item.stack)), algorithm=algorithm,
                            series_description=description)
    files = {"nifti": nifti[0], "dicom_seg": seg[0]}
    if len(nifti) > 1:
        files["labels_json"] = nifti[1]
    return {k: Path(v).relative_to(root).as_posix() for k, v in files.items()}


def _slug(name: str) -> str:
    """A short file-name part for a model name: phantom-unet -> unet."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"
    return slug.removeprefix("phantom-")


def _report(root: Path, patient: SyntheticPatient, entry: Any, device: str,
            rows: list[dict[str, Any]], phases: _Phases, t_start: float) -> dict[str, Any]:
    import interval

    spec = entry.spec
    labels = [str(i.name) for i in _spec_labels(spec)]
    mean_dice = {}
    for name in labels:
        values = [r["dice"].get(name) for r in rows if r["dice"].get(name) is not None]
        mean_dice[name] = float(np.mean(values)) if values else None
    timings = dict(phases.seconds)
    timings["total"] = time.perf_counter() - t_start
    return {
        "title": "Interval demo report",
        "disclaimer": DISCLAIMER,
        "interval_version": interval.__version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "patient": {
            "synthetic": True, "seed": patient.seed, "patient_id": patient.patient_id,
            "sex": patient.patient_sex, "shape_zyx": list(patient.shape),
            "spacing_mm_xyz": [float(s) for s in patient.spacing],
            "timepoints": [{"index": t.index + 1, "date": t.study_date.isoformat(),
                            "day": t.day} for t in patient.timepoints],
        },
        "model": {"name": spec.name, "version": spec.version, "plugin": entry.plugin_id,
                  "device": device, "labels": labels},
        "timepoints": rows,
        "mean_dice": mean_dice,
        "timings_s": timings,
    }


def _write_report(root: Path, report: dict[str, Any]) -> None:
    from interval.core.atomic import atomic_open

    with atomic_open(root / REPORT_JSON, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
        fh.write("\n")
    with atomic_open(root / REPORT_MD, "w", encoding="utf-8") as fh:
        fh.write(_markdown(report))


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _summary_lines(report: dict[str, Any]) -> list[str]:
    """The Dice table and lesion volumes, as plain text for the terminal."""
    rows = report["timepoints"]
    model = report["model"]
    labels = [n for n in model["labels"] if any(n in r["dice"] for r in rows)]
    out = [f"Dice per label ({model['name']} {model['version']} on {model['device']}; "
           "- = absent from both)"]
    out.append(f"  {'label':<10}" + "".join(f"{'scan ' + str(r['index']):>10}" for r in rows))
    for name in labels:
        out.append(f"  {name:<10}" + "".join(f"{_fmt(r['dice'].get(name)):>10}" for r in rows))
    out.append("")
    out.append("Lesion volumes, mL (truth / predicted, Dice)")
    for r in rows:
        lesions = r["lesions"]
        text = "; ".join(
            f"#{m['id']} {_ml(m['truth_ml'] * 1000)} / {_ml(m['predicted_ml'] * 1000)}"
            f" ({_fmt(m['dice'], 2)})" for m in lesions) or "none"
        fp = r.get("false_positive_lesion_ml")
        extra = f"; not matching a lesion: {fp:.2f}" if fp else ""
        out.append(f"  scan {r['index']} {r['date']}: {text}{extra}")
    t = report["timings_s"]
    out.append("")
    out.append("Time: " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items() if k != "total")
               + f"; total {t['total']:.1f} s")
    return out


def _markdown(report: dict[str, Any]) -> str:
    """report.md: the same content as report.json, for people."""
    p, m, rows = report["patient"], report["model"], report["timepoints"]
    lines = [
        f"# {report['title']}", "",
        f"> **{report['disclaimer']}**", "",
        f"Created {report['created']} by Interval {report['interval_version']}.", "",
        "## Patient", "",
        f"Synthetic patient {p['patient_id']} (seed {p['seed']}), sex {p['sex']}; scans of "
        f"{' x '.join(str(n) for n in reversed(p['shape_zyx']))} voxels, "
        f"{' x '.join(f'{s:.2f}' for s in p['spacing_mm_xyz'])} mm.", "",
        "| scan | date | day |", "|---|---|---|",
        *[f"| {t['index']} | {t['date']} | {t['day']} |" for t in p["timepoints"]], "",
        "## Model", "",
        f"{m['name']} {m['version']} from plugin `{m['plugin']}`, device {m['device']}.", "",
        "## Dice per label", "",
        "| label | " + " | ".join(f"scan {r['index']} ({r['date']})" for r in rows)
        + " | mean |",
        "|---|" + "---|" * (len(rows) + 1),
    ]
    for name in m["labels"]:
        if not any(name in r["dice"] for r in rows):
            continue
        lines.append(f"| {name} | " + " | ".join(_fmt(r["dice"].get(name)) for r in rows)
                     + f" | {_fmt(report['mean_dice'].get(name))} |")
    lines += ["", "\"-\": the label is absent from both the truth and the prediction.", "",
              "## Lesions (volumes in mL)", "",
              "| scan | lesion | organ | truth | predicted | Dice | detected |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        for les in r["lesions"]:
            lines.append(f"| {r['index']} | {les['id']} | {les['organ']} | "
                         f"{les['truth_ml']:.2f} | {les['predicted_ml']:.2f} | "
                         f"{_fmt(les['dice'], 2)} | {'yes' if les['detected'] else 'no'} |")
        fp = r.get("false_positive_lesion_ml")
        if fp:
            lines.append(f"| {r['index']} | (none) | | 0.00 | {fp:.2f} | | false positive |")
    lines += ["", "## Files", ""]
    for r in rows:
        lines.append(f"- scan {r['index']}: " + ", ".join(f"`{v}`" for v in r["files"].values()))
    lines += ["", "## Time (seconds)", "", "| phase | s |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in report["timings_s"].items()]
    lines.append("")
    return "\n".join(lines)
