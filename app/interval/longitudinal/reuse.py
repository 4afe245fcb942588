"""What an earlier tracking run in the same output folder has already computed.

A second ``interval track`` into the same OUT (after the reader's corrections, with a new
follow-up, with other report options) does not segment and register again what it already
did: :func:`plan_reuse` compares the earlier run with this one, timepoint by timepoint (same
index), and says what can be taken as it is:

* a timepoint's **label map** (``OUT/segmentation/tpN_labels.nii.gz``) when the earlier
  report used the same series (stack uid and series instance UID) and the same segmentation
  source (the same model name, version and plugin; or the same label file, unchanged in
  modification time and size), and the file is the one that run wrote (SHA-256);
* a follow-up's **transform** (``OUT/registration/tpN_to_tpM.tfm`` or ``.h5``) when the
  earlier run registered the same moving series to the same reference series with the same
  requested method (and chaining), the registration did not fail, the file is the one that
  run wrote, and its linear part equals the matrix of the report.  A registration the
  reader re-ran in the check view (``registration/reader_registrations.json``) takes the
  place of the tracking's one: it is what is reused.

Everything else is computed again; each time something could have been reused but is not,
a one-line reason says why (:attr:`ReusePlan.notes` for changed settings, shown as
progress; :attr:`ReusePlan.warnings` for files missing, damaged or changed, put in the
report's warnings).

The facts the report does not hold (the requested registration method, the files'
SHA-256, a label file's modification time and size) are kept in ``OUT/reuse.json``
(:data:`RECORD`), written by :func:`write_record` just after ``report.json`` and tied to it
by the report's creation time: a record of another report is ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interval.core.atomic import atomic_open
from interval.core.errors import IntervalError
from interval.core.volume import Volume
from interval.longitudinal.model import REG_FAILED, LongitudinalReport, RegistrationResult

RECORD = "reuse.json"
REUSED_NOTE = "reused from the earlier run"
_VERSION = 1
_MATRIX_TOLERANCE = 1e-6  # the report's matrix is rounded to 9 decimals


@dataclass
class ReusePlan:
    """What this run takes from the earlier one: label map files and loaded registrations."""

    label_files: dict[int, Path] = field(default_factory=dict)  # timepoint -> file to read
    label_hashes: dict[int, str] = field(default_factory=dict)  # timepoint -> its SHA-256
    registrations: dict[int, Any] = field(default_factory=dict)  # timepoint -> Registration
    notes: list[str] = field(default_factory=list)  # settings that changed (progress lines)
    warnings: list[str] = field(default_factory=list)  # files missing/damaged (report)

    def label_map(self, index: int, volume: Volume) -> Volume | None:
        """The earlier label map of timepoint ``index`` on ``volume``'s grid, or None (with a
        warning) when it cannot be used after all."""
        path = self.label_files.get(index)
        if path is None:
            return None
        try:
            return _read_label_map(path, self.label_hashes.get(index, ""), volume)
        except (IntervalError, OSError, ValueError) as exc:
            reason = exc.message if isinstance(exc, IntervalError) else str(exc)
            self.warnings.append(f"timepoint {index + 1}: the earlier label map {path.name} "
                                 f"cannot be used ({reason}); it was segmented again")
            return None


def plan_reuse(out: Path, timeline: Any, labels: Any, method: str, chained: bool,
               save_label_maps: bool = True) -> ReusePlan:
    """Compare the earlier run in ``out`` with this one (``timeline``, the label provider
    ``labels``, the requested registration ``method`` and ``chained``)."""
    from interval.longitudinal.report_json import REPORT_JSON, read_report

    plan = ReusePlan()
    report_path, record_path = out / REPORT_JSON, out / RECORD
    if not report_path.is_file():
        return plan  # a new folder: nothing to reuse, nothing to say
    if not record_path.is_file():
        plan.notes.append("the earlier run in this folder kept no reuse record: everything "
                          "is computed again")
        return plan
    try:
        earlier = read_report(report_path)
        record = _read_record(record_path)
    except IntervalError as exc:
        plan.warnings.append(f"the earlier run cannot be reused ({exc.message}): everything "
                             "was computed again")
        return plan
    if record.get("report_created") != earlier.created:
        plan.notes.append("the reuse record belongs to another report than report.json: "
                          "everything is computed again")
        return plan
    entries = {int(e["index"]): e for e in record.get("timepoints", [])
               if isinstance(e, dict) and isinstance(e.get("index"), int)}
    now = [_series_key(tp.series) for tp in timeline.timepoints]
    before = [_series_key(tp.series) for tp in earlier.timeline.timepoints]
    in_use = _registrations_in_use(earlier, out, plan)
    tracking = {r.timepoint: r for r in earlier.registrations}
    for i in range(len(timeline.timepoints)):
        entry = entries.get(i)
        if entry is None or i >= len(before):
            continue  # a timepoint the earlier run did not have
        if before[i] != now[i] or entry.get("series") != list(now[i]):
            plan.notes.append(f"timepoint {i + 1}: another series than in the earlier run: "
                              "segmented and registered again")
            continue
        if save_label_maps and getattr(labels, "writes_label_maps", True):
            _plan_labels(plan, out, i, entry, labels.source(i), earlier)
        if i > 0:
            reference = now[: i] if chained else now[:1]
            rerun = in_use.get(i) != tracking.get(i)  # the reader's re-run is in use
            _plan_registration(plan, out, i, entry, in_use.get(i), rerun, method, chained,
                               reference)
    return plan


def reused_source(source: Any) -> Any:
    """``source`` (a :class:`SegmentationSource`) saying it was reused."""
    return dataclasses.replace(source, description=f"{source.description}; {REUSED_NOTE}")


def write_record(out: Path, report: LongitudinalReport, labels: Any, method: str,
                 chained: bool) -> Path:
    """Write ``OUT/reuse.json`` for ``report`` (just written as ``report.json``) atomically."""
    keys = [_series_key(tp.series) for tp in report.timeline.timepoints]
    registrations = {r.timepoint: r for r in report.registrations}
    timepoints = []
    for i, key in enumerate(keys):
        entry: dict[str, Any] = {"index": i, "series": list(key),
                                 "segmentation": _fingerprint(_source_at(report, labels, i))}
        rel = report.outputs.get(f"labels_tp{i + 1}")
        if rel and (out / rel).is_file():
            entry["labels_file"] = rel
            entry["labels_sha256"] = _sha256(out / rel)
        reg = registrations.get(i)
        if i > 0 and reg is not None and reg.status != REG_FAILED and reg.transform_file:
            path = out / reg.transform_file
            entry["registration"] = {
                "method": method, "chained": bool(chained),
                "reference_series": [list(k) for k in (keys[:i] if chained else keys[:1])],
                "transform_file": reg.transform_file,
                "sha256": _sha256(path) if path.is_file() else "",
            }
        timepoints.append(entry)
    data = {"version": _VERSION, "report_created": report.created, "timepoints": timepoints}
    path = out / RECORD
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n")
    return path


# --- planning ----------------------------------------------------------------------------


def _plan_labels(plan: ReusePlan, out: Path, i: int, entry: dict[str, Any], source: Any,
                 earlier: LongitudinalReport) -> None:
    rel = entry.get("labels_file")
    if not rel:
        return  # the earlier run saved no label map of this timepoint
    if entry.get("segmentation") != _fingerprint(source):
        what = "label file" if getattr(source, "kind", "") == "file" else "model"
        plan.notes.append(f"timepoint {i + 1}: another {what} than in the earlier run: "
                          "segmented again")
        return
    if earlier.outputs.get(f"labels_tp{i + 1}") != rel:
        plan.notes.append(f"timepoint {i + 1}: the earlier report does not name the saved "
                          "label map: segmented again")
        return
    path = out / rel
    if not path.is_file():
        plan.warnings.append(f"timepoint {i + 1}: the earlier label map {rel} is missing; it "
                             "was segmented again")
        return
    plan.label_files[i] = path
    plan.label_hashes[i] = str(entry.get("labels_sha256", ""))


def _plan_registration(plan: ReusePlan, out: Path, i: int, entry: dict[str, Any],
                       result: RegistrationResult | None, rerun: bool, method: str,
                       chained: bool, reference: list[tuple[str, str]]) -> None:
    saved = entry.get("registration")
    if not isinstance(saved, dict) or result is None:
        plan.notes.append(f"timepoint {i + 1}: the earlier registration failed or was not "
                          "saved: registered again")
        return
    if saved.get("method") != method or bool(saved.get("chained")) != bool(chained):
        plan.notes.append(f"timepoint {i + 1}: another registration setting than in the "
                          f"earlier run ({_setting(saved)} then, {_setting(method, chained)} "
                          "now): registered again")
        return
    if saved.get("reference_series") != [list(k) for k in reference]:
        plan.notes.append(f"timepoint {i + 1}: its reference is another series than in the "
                          "earlier run: registered again")
        return
    if result.status == REG_FAILED or not result.transform_file:
        plan.notes.append(f"timepoint {i + 1}: the earlier registration failed: "
                          "registered again")
        return
    path = out / result.transform_file
    if not path.is_file():
        plan.warnings.append(f"timepoint {i + 1}: the earlier transform {result.transform_file}"
                             " is missing; it was registered again")
        return
    try:
        if not rerun and _sha256(path) != saved.get("sha256"):
            raise IntervalError("it was changed since that run")
        plan.registrations[i] = _load_registration(path, result)
    except (IntervalError, OSError) as exc:
        reason = exc.message if isinstance(exc, IntervalError) else str(exc)
        plan.warnings.append(f"timepoint {i + 1}: the earlier transform "
                             f"{result.transform_file} cannot be used ({reason}); it was "
                             "registered again")


def _registrations_in_use(earlier: LongitudinalReport, out: Path, plan: ReusePlan
                          ) -> dict[int, RegistrationResult]:
    """The earlier report's registrations with the reader's re-runs in their place."""
    from interval.longitudinal.registration_rerun import registrations_in_use

    results, warnings = registrations_in_use(earlier, out)
    plan.notes.extend(warnings)
    return {r.timepoint: r for r in results}


# --- files -------------------------------------------------------------------------------


def _load_registration(path: Path, result: RegistrationResult) -> Any:
    """The :class:`Registration` of a saved transform with the earlier result (its verdict)."""
    import SimpleITK as sitk

    from interval.longitudinal.registration import Registration
    from interval.longitudinal.registration_transforms import linear_matrix

    try:
        transform = sitk.ReadTransform(str(path))
    except RuntimeError as exc:
        raise IntervalError(f"unreadable: {str(exc).strip().splitlines()[-1][:120]}") from None
    parts = _parts(transform)
    if len(parts) == 1 and parts[0].GetName() != "BSplineTransform":
        linear, deformation = parts[0], None
    elif (len(parts) == 2 and parts[0].GetName() != "BSplineTransform"
          and parts[1].GetName() == "BSplineTransform"):
        linear, deformation = parts[0], parts[1]
    else:
        raise IntervalError("a chained deformable transform is not reused")
    try:
        matrix = linear_matrix(linear)
    except RuntimeError as exc:
        raise IntervalError(f"not a linear transform ({linear.GetName()})") from exc
    expected = np.asarray(result.matrix, dtype=np.float64) if result.matrix else None
    if expected is None or expected.shape != (4, 4) or not np.allclose(
            matrix, expected, atol=_MATRIX_TOLERANCE, rtol=0.0):
        raise IntervalError("it does not match the registration in the earlier report")
    kept = transform if deformation is not None else linear
    return Registration(result, kept, matrix, deformation)


def _parts(transform: Any) -> list[Any]:
    import SimpleITK as sitk

    if transform.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(transform)
        return [composite.GetNthTransform(k) for k in range(composite.GetNumberOfTransforms())]
    return [transform]


def _read_label_map(path: Path, sha256: str, volume: Volume) -> Volume:
    from interval.io.image_files import read_image
    from interval.io.label_tables import json_sidecar_path, read_label_json

    if not sha256 or _sha256(path) != sha256:
        raise IntervalError("it was changed since that run")
    saved = read_image(path, as_labels=True)
    if saved.shape != volume.shape or not np.allclose(saved.affine, volume.affine, atol=1e-3):
        raise IntervalError("it is not on the grid of the scan")
    sidecar = json_sidecar_path(path)
    table = read_label_json(sidecar) if sidecar.is_file() else saved.labels
    return volume.with_array(saved.array, labels=table)  # the scan's exact geometry


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_record(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IntervalError(f"{RECORD} cannot be read ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        raise IntervalError(f"{RECORD} is of another version")
    return data


# --- small helpers -----------------------------------------------------------------------


def _series_key(series: Any) -> tuple[str, str]:
    return (str(series.stack_uid), str(series.series_instance_uid))


def _fingerprint(source: Any) -> dict[str, Any]:
    """What makes two segmentation sources the same (a label file: also its size and time)."""
    fields = ("kind", "model", "model_version", "plugin_id", "plugin_version", "path")
    out: dict[str, Any] = {f: str(getattr(source, f, "") or "") for f in fields}
    if out["kind"] == "file" and out["path"]:
        try:
            stat = Path(out["path"]).stat()
            out["mtime_ns"], out["size"] = int(stat.st_mtime_ns), int(stat.st_size)
        except OSError:
            out["mtime_ns"], out["size"] = None, None
    return out


def _source_at(report: LongitudinalReport, labels: Any, i: int) -> Any:
    """The provider's own source of timepoint ``i`` (the report's says "reused")."""
    try:
        return labels.source(i)
    except (IndexError, AttributeError):
        return next((s for s in report.segmentations if s.timepoint == i), None)


def _setting(method: Any, chained: Any = None) -> str:
    if isinstance(method, dict):
        method, chained = method.get("method"), method.get("chained")
    return f"{method}{', chained' if chained else ''}"
