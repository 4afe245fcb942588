"""A synthetic patient on disk: real CT DICOM for each timepoint plus its ground truth.

:func:`generate_patient` writes::

    OUT/
      synthetic_patient.json        manifest (written last: its presence means "complete")
      DICOM/study1_YYYYMMDD/series2/IM0001.dcm ...   one folder per timepoint
      ground_truth/
        lesions.json                lesions per timepoint, events (merge/split), poses,
                                    deformations, label table (see _truth_json)
        tp1_labels.nii.gz           organ + lesion labels on the CT grid (see phantom.LABELS)
        tp1_labels.labels.json      their names and colours (interval.io.label_tables)
        tp1_lesion_ids.nii.gz       lesion ids on the CT grid
        tp1_lesion_ids.labels.json  "lesion N (organ)" for the lesions present in the scan
        ...

Everything is determined by the seed (UIDs too), so the same seed gives the
same files.  :func:`read_synthetic_patient` reads the record back (its
``events`` and each timepoint's ``deformation`` included);
:func:`~interval.io.synthetic.deformation.true_point_mapping` maps baseline
points to any timepoint with the truth (rigid pose and deformation).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from interval.core.atomic import atomic_path
from interval.core.errors import IntervalError, UnreadableFile
from interval.core.jobs import CancelFn, ProgressFn, check_cancel
from interval.core.labels import LabelTable
from interval.io.label_tables import json_sidecar_path, write_label_json
from interval.io.synthetic.deformation import Deformation
from interval.io.synthetic.dicom_writer import SeriesTags, make_uid, write_ct_series
from interval.io.synthetic.events import LesionEvent, lesion_events
from interval.io.synthetic.grid import Grid
from interval.io.synthetic.groups import LesionGroup
from interval.io.synthetic.lesions import NODE, LesionSpec, Trajectory
from interval.io.synthetic.phantom import (
    DEFAULT_SHAPE,
    LABELS,
    LESION,
    LYMPH_NODE,
    LesionTruth,
    PatientModel,
    Phantom,
    label_table,
    render,
    sample_patient,
)

GENERATOR_VERSION = 3  # 2: label maps have .labels.json sidecars; 3: irregular intervals,
# merging/splitting lesions, lymph nodes (label 10), non-rigid deformation, events
MANIFEST = "synthetic_patient.json"
MARKER = ".interval-synthetic"  # written first: this folder is ours to rewrite
SERIES_NUMBER = 2


@dataclass(frozen=True)
class TimepointRecord:
    """One scan of the synthetic patient: its DICOM identity, files and pose."""

    index: int  # 0-based
    study_date: date
    day: int  # days since the baseline scan
    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str
    accession_number: str
    series_number: int
    series_dir: Path
    n_files: int
    labels_path: Path | None
    lesion_ids_path: Path | None
    pose: tuple[tuple[float, ...], ...]  # 4x4 body -> this scan's LPS
    shift_mm: tuple[float, float, float]  # movement of the body centre since baseline (LPS)
    rotation_deg: float  # rotation since baseline
    from_baseline: tuple[tuple[float, ...], ...]  # 4x4: baseline LPS -> this scan's LPS (rigid)
    study_time: str = ""  # HHMMSS
    deformation: Deformation | None = None  # non-rigid motion on top of the pose (None: none)
    deformation_max_mm: float = 0.0  # largest displacement by it inside the body
    deformation_rms_mm: float = 0.0  # its root mean square over the body

    @property
    def from_baseline_matrix(self) -> np.ndarray:
        """4x4 matrix mapping a point's baseline LPS position to its position in this scan
        for the rigid pose alone (the deformation comes on top: see ``true_point_mapping``)."""
        return np.array(self.from_baseline, dtype=np.float64)


@dataclass
class SyntheticPatient:
    """What :func:`generate_patient` wrote (and, when kept, the rendered arrays)."""

    root: Path
    seed: int
    patient_id: str
    patient_name: str
    patient_sex: str
    patient_birth_date: date
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    timepoints: list[TimepointRecord]
    lesions: list[list[LesionTruth]]  # [timepoint][lesion]
    trajectories: dict[int, Trajectory] = field(default_factory=dict)
    phantoms: list[Phantom] | None = None  # in-memory scans when kept
    seconds: float = 0.0
    events: list[LesionEvent] = field(default_factory=list)  # merges and splits, as painted
    groups: list[LesionGroup] = field(default_factory=list)  # the merges and splits planned

    @property
    def dicom_dir(self) -> Path:
        return self.root / "DICOM"

    @property
    def ground_truth_dir(self) -> Path:
        return self.root / "ground_truth"

    @property
    def grid(self) -> Grid:
        return Grid(self.shape, self.spacing, self.origin)

    def lesion_ids(self) -> list[int]:
        return sorted({t.id for tp in self.lesions for t in tp})


def _patient_identity(seed: int) -> tuple[str, str]:
    """(PatientName, PatientID): obviously synthetic."""
    return f"SYNTHETIC^PHANTOM{seed}", f"SYN{seed:06d}"[:16]


def _study_time(seed: int, tp: int) -> str:
    rng = np.random.default_rng([seed, 5, tp])
    seconds = int(rng.integers(8 * 3600, 17 * 3600))
    return f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"


def _prepare_folder(root: Path) -> None:
    """Make ``root`` ready: absent, empty, or a previous synthetic patient (cleared)."""
    if root.exists() and not root.is_dir():
        raise IntervalError("the output path exists and is not a folder", path=root)
    root.mkdir(parents=True, exist_ok=True)
    ours = (root / MARKER).exists() or (root / MANIFEST).exists()
    if not ours and any(root.iterdir()):
        raise IntervalError(
            "the output folder already holds other files; choose an empty folder for the "
            "synthetic patient", path=root,
        )
    for name in (MANIFEST,):
        (root / name).unlink(missing_ok=True)
    for name in ("DICOM", "ground_truth"):
        if (root / name).exists():
            shutil.rmtree(root / name)
    (root / MARKER).write_text("A synthetic patient written by Interval; safe to delete.\n")


def _write_label_image(array: np.ndarray, grid: Grid, path: Path, table: LabelTable) -> None:
    """The label map (atomically) and its ``.labels.json`` sidecar of names and colours."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(grid.spacing)
    image.SetOrigin(grid.origin)
    image.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    with atomic_path(path, suffix=".nii.gz") as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)
    write_label_json(table, json_sidecar_path(path))


def generate_patient(
    out_dir: str | Path,
    seed: int = 0,
    n_timepoints: int = 3,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    spacing: tuple[float, float, float] | None = None,
    *,
    months_between: int | None = None,
    n_lesions: int | None = None,
    n_merge: int | None = None,
    n_split: int | None = None,
    n_nodes: int | None = None,
    deform: bool = True,
    ground_truth: bool = True,
    keep_arrays: bool = True,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> SyntheticPatient:
    """Write synthetic patient ``seed`` as CT DICOM series (one study per timepoint).

    ``n_timepoints`` 1 to 8.  ``shape`` is ``(nz, ny, nx)`` per scan (default 140 x
    256 x 256 at 1.5 x 1.5 x 2.5 mm); ``spacing`` (x, y, z) defaults to covering a
    384 x 384 x 350 mm field of view.  Scans are 5 to 16 weeks apart at irregular
    intervals drawn from the seed, or exactly ``months_between`` months apart when
    given.  ``n_lesions`` organ lesions (random when None), ``n_merge`` pairs that
    merge and ``n_split`` lesions that split (0-2; random 0 or 1 when None),
    ``n_nodes`` lymph nodes (0-4; 1-3 when None); ``deform`` False leaves out the
    non-rigid deformation.  With ``ground_truth`` the label maps and a JSON of the
    lesions and events are written to ``ground_truth/``; with ``keep_arrays`` the
    rendered scans stay in memory (``.phantoms``).  ``out_dir`` must be absent,
    empty, or a previous synthetic patient (which is replaced).  Raises
    :class:`IntervalError` on file problems and on options out of range.
    """
    start = time.perf_counter()
    root = Path(out_dir)
    try:
        model = sample_patient(seed, n_timepoints, months_between, n_lesions, n_merge=n_merge,
                               n_split=n_split, n_nodes=n_nodes, deform=deform)
    except ValueError as exc:
        raise IntervalError(f"cannot make this synthetic patient: {exc}") from exc
    grid = model.default_grid(tuple(shape), spacing)  # type: ignore[arg-type]
    try:
        _prepare_folder(root)
        patient = _write(root, model, grid, ground_truth, keep_arrays, progress, cancel)
    except OSError as exc:
        raise IntervalError(f"could not write the synthetic patient ({exc.strerror or exc})",
                            path=root) from exc
    patient.seconds = time.perf_counter() - start
    return patient


def _write(root: Path, model: PatientModel, grid: Grid, ground_truth: bool, keep_arrays: bool,
           progress: ProgressFn | None, cancel: CancelFn | None) -> SyntheticPatient:
    seed = model.seed
    name, pid = _patient_identity(seed)
    gt_dir = root / "ground_truth"
    if ground_truth:
        gt_dir.mkdir(parents=True, exist_ok=True)
    total = grid.shape[0] * model.n_timepoints
    records: list[TimepointRecord] = []
    truths: list[list[LesionTruth]] = []
    phantoms: list[Phantom] = []
    base_pose = model.poses[0]
    for tp in range(model.n_timepoints):
        check_cancel(cancel)
        phantom = render(model, tp, grid)
        study_date = model.dates[tp]
        study_uid = make_uid(seed, "study", tp)
        series_uid = make_uid(seed, "series", tp, SERIES_NUMBER)
        for_uid = make_uid(seed, "frame-of-reference", tp)
        accession = f"S{seed}T{tp + 1}"[:16]
        tags = SeriesTags(
            patient_name=name, patient_id=pid, patient_birth_date=model.birth_date,
            patient_sex=model.sex, study_instance_uid=study_uid, study_date=study_date,
            study_time=_study_time(seed, tp), study_id=str(tp + 1),
            study_description="CT chest abdomen (synthetic)", accession_number=accession,
            series_instance_uid=series_uid, series_number=SERIES_NUMBER,
            series_description=f"Axial {grid.spacing[2]:g} mm", frame_of_reference_uid=for_uid,
        )
        series_dir = root / "DICOM" / f"study{tp + 1}_{study_date:%Y%m%d}" / f"series{SERIES_NUMBER}"
        files = write_ct_series(
            phantom.ct, grid, series_dir, tags,
            sop_uid=lambda n, tp=tp: make_uid(seed, "sop", tp, SERIES_NUMBER, n),
            progress=progress, cancel=cancel, done_before=tp * grid.shape[0], total=total,
        )
        labels_path = lesion_ids_path = None
        if ground_truth:
            labels_path = gt_dir / f"tp{tp + 1}_labels.nii.gz"
            lesion_ids_path = gt_dir / f"tp{tp + 1}_lesion_ids.nii.gz"
            _write_label_image(phantom.labels, grid, labels_path, label_table())
            present = {t.id for t in phantom.present_lesions()}
            lesion_table = LabelTable(
                [i for i in phantom.lesion_id_volume().labels or [] if i.value in present])
            _write_label_image(phantom.lesion_ids, grid, lesion_ids_path, lesion_table)
        pose = model.poses[tp]
        records.append(TimepointRecord(
            index=tp, study_date=study_date, day=model.days[tp], study_instance_uid=study_uid,
            series_instance_uid=series_uid, frame_of_reference_uid=for_uid,
            accession_number=accession, series_number=SERIES_NUMBER, series_dir=series_dir,
            n_files=len(files), labels_path=labels_path, lesion_ids_path=lesion_ids_path,
            pose=_rows(pose.matrix),
            shift_mm=tuple(round(float(v), 4) for v in pose.t - base_pose.t),  # type: ignore[arg-type]
            rotation_deg=round(_angle(pose.r @ base_pose.r.T), 4),
            from_baseline=_rows(pose.relative_to(base_pose)),
            study_time=tags.study_time, deformation=phantom.deformation,
            deformation_max_mm=phantom.deformation_mm[0] if phantom.deformation_mm else 0.0,
            deformation_rms_mm=phantom.deformation_mm[1] if phantom.deformation_mm else 0.0,
        ))
        truths.append(list(phantom.lesions))
        if keep_arrays:
            phantoms.append(phantom)
    patient = SyntheticPatient(
        root=root, seed=seed, patient_id=pid, patient_name=name, patient_sex=model.sex,
        patient_birth_date=model.birth_date, shape=grid.shape, spacing=grid.spacing,
        origin=grid.origin, timepoints=records, lesions=truths,
        trajectories={s.id: s.trajectory for s in model.lesions},
        phantoms=phantoms if keep_arrays else None,
        events=lesion_events(truths), groups=list(model.groups),
    )
    if ground_truth:
        (gt_dir / "lesions.json").write_text(json.dumps(_truth_json(patient, model), indent=1))
    (root / MANIFEST).write_text(json.dumps(_manifest(patient, model), indent=1))
    return patient


def _rows(m: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(round(v, 9)) for v in row) for row in m)


def _angle(r: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))))


def _truth_json(p: SyntheticPatient, model: PatientModel) -> dict[str, object]:
    """``lesions.json``: every lesion at every scan, the events, poses and deformations."""
    specs = {s.id: s for s in model.lesions}
    group_of = {i: g for g in p.groups for i in g.lesions}
    return {
        "format": "interval-synthetic-truth", "version": GENERATOR_VERSION,
        "description": "Ground truth of an Interval synthetic patient. Coordinates are DICOM LPS "
                       "mm of each scan; label maps lie on the CT grid of their scan. Volumes, "
                       "diameters, components (face connectivity) and centroids are measured on "
                       "the painted voxels of tpN_lesion_ids.nii.gz. Baseline points map to a "
                       "follow-up by the rigid pose (baseline_lps_to_this_lps) and then the "
                       "deformation: interval.io.synthetic.true_point_mapping.",
        "label_table": label_table().to_dict(),
        "timepoints": [_tp_json(t, p.root) for t in p.timepoints],
        "events": [e.to_dict() for e in p.events],
        "groups": [g.to_dict() for g in p.groups],
        "by_timepoint": [
            {"timepoint": k, "day": p.timepoints[k].day, "lesions": {
                str(t.id): {"present": t.present, "volume_ml": round(t.volume_mm3 / 1000.0, 6),
                            "n_components": t.n_components}
                for t in tp}}
            for k, tp in enumerate(p.lesions)
        ],
        "lesions": [_lesion_json(lid, p, specs.get(lid), group_of.get(lid)) for lid in p.lesion_ids()],
    }


def _lesion_json(lid: int, p: SyntheticPatient, spec: LesionSpec | None,
                 group: LesionGroup | None) -> dict[str, object]:
    states = [t for tp in p.lesions for t in tp if t.id == lid]
    first = states[0]
    return {
        "id": lid, "organ": first.organ, "kind": first.kind,
        "label": LYMPH_NODE if first.organ == NODE else LESION,
        "site": first.site,
        "group": None if group is None else {"kind": group.kind, "lesions": list(group.lesions),
                                             "timepoint": group.timepoint},
        "trajectory": vars(p.trajectories[lid]) if lid in p.trajectories else None,
        "lobes": [{"centre_body": list(lobe.centre_body), "trajectory": vars(lobe.trajectory)}
                  for lobe in (spec.lobes if spec is not None else ())],
        "timepoints": [t.to_dict() for t in states],
    }


def _tp_json(t: TimepointRecord, root: Path) -> dict[str, object]:
    rel = lambda q: None if q is None else q.relative_to(root).as_posix()  # noqa: E731
    return {
        "index": t.index, "study_date": t.study_date.isoformat(), "day": t.day,
        "study_instance_uid": t.study_instance_uid, "series_instance_uid": t.series_instance_uid,
        "frame_of_reference_uid": t.frame_of_reference_uid, "accession_number": t.accession_number,
        "series_number": t.series_number, "series_dir": rel(t.series_dir), "n_files": t.n_files,
        "labels": rel(t.labels_path), "lesion_ids": rel(t.lesion_ids_path),
        "study_time": t.study_time,
        "pose_body_to_lps": [list(r) for r in t.pose],
        "shift_from_baseline_mm": list(t.shift_mm),
        "rotation_from_baseline_deg": t.rotation_deg,
        "baseline_lps_to_this_lps": [list(r) for r in t.from_baseline],
        "deformation": None if t.deformation is None else t.deformation.to_dict(),
        "deformation_max_mm": t.deformation_max_mm,
        "deformation_rms_mm": t.deformation_rms_mm,
    }


def _manifest(p: SyntheticPatient, model: PatientModel) -> dict[str, object]:
    return {
        "generator": "interval.io.synthetic", "version": GENERATOR_VERSION, "seed": p.seed,
        "n_timepoints": len(p.timepoints), "shape": list(p.shape), "spacing": list(p.spacing),
        "origin": list(p.origin), "patient_id": p.patient_id, "patient_sex": p.patient_sex,
        "patient_birth_date": p.patient_birth_date.isoformat(),
        "n_lesions": len(model.lesions),
        "intervals_days": [b.day - a.day for a, b in zip(p.timepoints, p.timepoints[1:],
                                                          strict=False)],
        "events": [e.to_dict() for e in p.events],
        "timepoints": [_tp_json(t, p.root) for t in p.timepoints],
        "ground_truth": "ground_truth/lesions.json"
        if (p.root / "ground_truth" / "lesions.json").exists() else None,
        "labels": {str(v): n for v, n in LABELS.items()},
    }


def read_synthetic_patient(root: str | Path) -> SyntheticPatient:
    """Read back what :func:`generate_patient` wrote (no pixel data; ``phantoms`` is None).

    Raises :class:`UnreadableFile` when the manifest is missing or damaged.
    """
    root = Path(root)
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        truth_path = root / "ground_truth" / "lesions.json"
        truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
        return _from_json(root, manifest, truth)
    except FileNotFoundError as exc:
        raise UnreadableFile("no synthetic patient here (manifest missing)", path=path) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableFile(f"damaged synthetic patient manifest ({exc})", path=path) from exc


def _from_json(root: Path, m: dict, truth: dict | None) -> SyntheticPatient:
    opt = lambda q: None if q is None else root / q  # noqa: E731
    tps = m["timepoints"]
    records = [
        TimepointRecord(
            index=t["index"], study_date=date.fromisoformat(t["study_date"]), day=t["day"],
            study_instance_uid=t["study_instance_uid"], series_instance_uid=t["series_instance_uid"],
            frame_of_reference_uid=t["frame_of_reference_uid"],
            accession_number=t["accession_number"], series_number=t["series_number"],
            series_dir=root / t["series_dir"], n_files=t["n_files"],
            labels_path=opt(t["labels"]), lesion_ids_path=opt(t["lesion_ids"]),
            pose=tuple(tuple(r) for r in t["pose_body_to_lps"]),
            shift_mm=tuple(t["shift_from_baseline_mm"]),
            rotation_deg=t["rotation_from_baseline_deg"],
            from_baseline=tuple(tuple(r) for r in t["baseline_lps_to_this_lps"]),
            study_time=str(t.get("study_time", "")),
            deformation=None if t.get("deformation") is None
            else Deformation.from_dict(t["deformation"]),
            deformation_max_mm=float(t.get("deformation_max_mm", 0.0)),
            deformation_rms_mm=float(t.get("deformation_rms_mm", 0.0)),
        )
        for t in tps
    ]
    lesions: list[list[LesionTruth]] = [[] for _ in records]
    trajectories: dict[int, Trajectory] = {}
    for les in (truth or {}).get("lesions", []):
        if les.get("trajectory"):
            trajectories[les["id"]] = Trajectory(**les["trajectory"])
        for t in les["timepoints"]:
            lesions[t["timepoint"]].append(LesionTruth.from_dict(t))
    for tp in lesions:
        tp.sort(key=lambda t: t.id)
    events = [LesionEvent.from_dict(e) for e in (truth or m).get("events", [])]
    groups = [LesionGroup.from_dict(g) for g in (truth or {}).get("groups", [])]
    name, _pid = _patient_identity(m["seed"])
    return SyntheticPatient(
        root=root, seed=m["seed"], patient_id=m["patient_id"], patient_name=name,
        patient_sex=m["patient_sex"], patient_birth_date=date.fromisoformat(m["patient_birth_date"]),
        shape=tuple(m["shape"]), spacing=tuple(m["spacing"]), origin=tuple(m["origin"]),
        timepoints=records, lesions=lesions, trajectories=trajectories, events=events,
        groups=groups,
    )


def is_complete(root: str | Path, *, seed: int | None = None,
                shape: tuple[int, int, int] | None = None, n_timepoints: int | None = None) -> bool:
    """Whether ``root`` holds a complete synthetic patient of this generator version
    (and of ``seed``/``shape``/``n_timepoints`` when given): manifest present, every file there."""
    try:
        m = json.loads((Path(root) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    try:
        if m.get("version") != GENERATOR_VERSION:
            return False
        if seed is not None and m["seed"] != seed:
            return False
        if shape is not None and tuple(m["shape"]) != tuple(shape):
            return False
        if n_timepoints is not None and m["n_timepoints"] != n_timepoints:
            return False
        for t in m["timepoints"]:
            folder = Path(root) / t["series_dir"]
            if len(list(folder.glob("IM*.dcm"))) != t["n_files"]:
                return False
            for key in ("labels", "lesion_ids"):
                if t[key] and not (Path(root) / t[key]).is_file():
                    return False
                if t[key] and not json_sidecar_path(Path(root) / t[key]).is_file():
                    return False
        return m.get("ground_truth") is None or (Path(root) / m["ground_truth"]).is_file()
    except (KeyError, TypeError, OSError):
        return False
