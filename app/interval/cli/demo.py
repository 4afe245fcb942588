"""``interval demo``: write a synthetic patient as DICOM, index and load it, print a summary.

The patient (3 CT scans months apart, lesions that grow, shrink and appear, a
small shift of the patient between scans) comes from
:func:`interval.io.synthetic.patient.generate_patient`.  It is reused when the
folder already holds a complete one of the same seed and size, and written
again otherwise.  Then the files go through the same path as any DICOM folder:
:func:`~interval.io.dicom.index.index_folder` and
:func:`~interval.io.dicom.load.load_stack`.  The summary goes to ``echo``
(stdout), never to the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

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


def default_demo_dir(seed: int) -> Path:
    """Where the demo keeps its data when no folder is given (the user's cache folder)."""
    return platformdirs.user_cache_path("interval") / "demo" / f"seed-{seed}"


def run_demo(
    out_dir: Path | None,
    seed: int,
    echo: Echo = print,
    *,
    shape: tuple[int, int, int] | None = None,
    n_timepoints: int = 3,
) -> int:
    """Generate (or reuse), index, load and summarise synthetic patient ``seed``.

    ``shape`` (nz, ny, nx) is the size of each scan (default 140 x 256 x 256).
    Returns 0 when every scan loaded and matched its ground truth, 1 otherwise.
    File and data problems raise :class:`~interval.core.errors.IntervalError`.
    """
    root = Path(out_dir) if out_dir is not None else default_demo_dir(seed)
    shape = tuple(int(n) for n in (shape or DEFAULT_SHAPE))  # type: ignore[assignment]
    echo(f"Interval demo: synthetic patient, seed {seed}")
    if is_complete(root, seed=seed, shape=shape, n_timepoints=n_timepoints):
        patient = read_synthetic_patient(root)
        echo(f"Using the synthetic patient already in {root}")
    else:
        nz, ny, nx = shape
        echo(f"Writing {n_timepoints} CT scans of {nx} x {ny} x {nz} voxels as DICOM to {root} ...")
        patient = generate_patient(root, seed, n_timepoints, shape, keep_arrays=False)
        echo(f"  done in {patient.seconds:.1f} s")
    start = time.perf_counter()
    index = index_folder(patient.dicom_dir)
    n_files = sum(se.n_files for _p, _st, se in index.iter_series())
    n_studies = sum(len(p.studies) for p in index.patients)
    n_series = sum(1 for _ in index.iter_series())
    echo(f"Indexed {n_files} files in {time.perf_counter() - start:.1f} s: "
         f"{_plural(len(index.patients), 'patient')}, {_plural(n_studies, 'study', 'studies')}, "
         f"{_plural(n_series, 'series', 'series')}, {len(index.skipped)} skipped")
    age = (patient.timepoints[0].study_date - patient.patient_birth_date).days // 365
    echo("")
    echo(f"Patient {patient.patient_id} (synthetic), sex {patient.patient_sex}, "
         f"{age} years old at the first scan")
    problems: list[str] = []
    for tp in patient.timepoints:
        problems += _show_timepoint(echo, index, patient, tp)
    echo("")
    _show_lesion_table(echo, patient)
    echo("")
    echo(f"DICOM: {patient.dicom_dir}")
    echo(f"Ground truth (label maps, lesions.json): {patient.ground_truth_dir}")
    for problem in problems:
        echo(f"problem: {problem}")
    return 1 if problems else 0


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _show_timepoint(echo: Echo, index, patient: SyntheticPatient, tp: TimepointRecord) -> list[str]:
    """Load one scan, print what it is, organ HU and lesions; return problems found."""
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
