"""The work of one case: segmentation and/or tracking (+ forecast), into its staging folder.

The same logic as ``interval segment`` and ``interval track``: the patient's timeline is
built from its folders (one series per study), then either every timepoint is segmented
by the model (task ``segment`` alone: label maps and their volumes) or the whole tracking
pipeline runs (:func:`interval.longitudinal.pipeline.run_tracking`: segmentation by the
model or the case's label maps, registration, matching, RECIST 1.1, the growth forecast
with ``forecast``, every report).  Errors are raised as they come; recording them is
:mod:`interval.batch.case_runner`'s job.  ``phase(words)`` is told what the case does
(e.g. ``"registering timepoint 2"``), for the reason of a case stopped by its time limit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interval.batch.case_numbers import label_volumes, tracking_numbers
from interval.core.atomic import atomic_open
from interval.core.errors import IntervalError
from interval.core.jobs import CancelFn, check_cancel

SEGMENTATION_DIR = "segmentation"
SEGMENTATION_JSON = "segmentation.json"
Echo = Callable[[str], None]
Phase = Callable[[str], None]


@dataclass
class CaseResult:
    """What a finished case gives its record: files, key numbers, phases, warnings."""

    outputs: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def do_case(work: dict[str, Any], paths: Sequence[Path], staging: Path, *, echo: Echo,
            cancel: CancelFn | None = None, phase: Phase | None = None) -> CaseResult:
    """Run ``work`` (:func:`interval.batch.settings.case_work`) on the folders ``paths``,
    writing into ``staging``."""
    phase = phase or (lambda _words: None)
    if "track" in work["tasks"]:
        return _track(work, paths, staging, echo, cancel, phase)
    return _segment(work, paths, staging, echo, cancel, phase)


def _phase_bar(phase: Phase) -> Callable[[str], contextlib.AbstractContextManager[Any]]:
    """A tracking pipeline's "progress bar" that only tells ``phase`` what it is doing
    ("Registering timepoint 2"), and afterwards that it is tracking again."""

    @contextlib.contextmanager
    def bar(label: str) -> Iterator[Any]:
        phase(label[:1].lower() + label[1:])
        try:
            yield None  # no progress is drawn
        finally:
            phase("tracking")

    return bar


def _timeline(work: dict[str, Any], paths: Sequence[Path], cancel: CancelFn | None) -> Any:
    from interval.io.dicom.policy import DEFAULT_POLICY
    from interval.longitudinal.timeline import build_timeline

    case = work["case"]
    baseline = dt.date.fromisoformat(case["baseline"]) if case.get("baseline") else None
    # the cases run side by side already: no helper processes per case
    policy = dataclasses.replace(DEFAULT_POLICY, workers=1)
    return build_timeline([str(p) for p in paths], patient_id=case.get("patient"),
                          baseline=baseline, policy=policy, cancel=cancel)


def _model_labels(work: dict[str, Any], echo: Echo) -> Any:
    from interval.longitudinal.model_lookup import find_segmentation_model
    from interval.longitudinal.segmentation_source import ModelLabels

    entry = find_segmentation_model(work["model"], modality=None)
    labels = ModelLabels(entry, device=work.get("device") or "auto",
                         memory_limit_bytes=work.get("memory_limit_bytes"))
    labels.prestart()  # the model process imports torch while the scans are indexed
    echo(f"Segmenting with {entry.spec.name} {entry.spec.version} ({entry.plugin_id})")
    return labels


def _track(work: dict[str, Any], paths: Sequence[Path], staging: Path, echo: Echo,
           cancel: CancelFn | None, phase: Phase) -> CaseResult:
    from interval.longitudinal.pipeline import Reporter, TrackingOptions, run_tracking
    from interval.longitudinal.segmentation_source import FileLabels

    phase("indexing the scans")
    t0 = time.perf_counter()
    selection = _timeline(work, paths, cancel)  # first: a case without scans fails at once
    index_s = time.perf_counter() - t0
    given = work["case"].get("labels") or []
    labels = FileLabels(given) if given else _model_labels(work, echo)
    try:
        options = TrackingOptions(registration=work["registration"], reports=work["reports"],
                                  forecast="forecast" in work["tasks"],
                                  horizon_days=work.get("horizon_days"), reuse=False)
        phase("tracking")
        outcome = run_tracking(selection, labels, staging, options,
                               inputs=tuple(str(p) for p in paths),
                               reporter=Reporter(echo=echo, bar=_phase_bar(phase)),
                               cancel=cancel)
        labels = None  # run_tracking closed it
    finally:
        if labels is not None:
            labels.close()
    report = json.loads(json.dumps(outcome.report.to_dict(), default=str))
    result = CaseResult(numbers=tracking_numbers(report),
                        timings={"index": index_s, **{k: float(v) for k, v in
                                                      (report.get("timings") or {}).items()}},
                        warnings=[str(w) for w in report.get("warnings") or []])
    result.outputs = {"report_json": "report.json",
                      **{k: str(v) for k, v in (report.get("outputs") or {}).items()
                         if not k.startswith(("key_image_", "seg_tp", "sr_tp", "transform_"))}}
    if "segment" in work["tasks"]:  # the volume of every label the model found
        result.numbers["label_volumes_ml"] = _saved_label_volumes(report, staging)
    if not outcome.ok:
        result.warnings.append("a follow-up could not be registered to the baseline: its "
                               "lesions were matched by position only; check the report")
    return result


def _saved_label_volumes(report: dict[str, Any], staging: Path) -> list[dict[str, Any]]:
    from interval.io.segmentation import load_segmentation

    out = []
    outputs = report.get("outputs") or {}
    for tp in (report.get("timeline") or {}).get("timepoints") or []:
        i = int(tp["index"])
        rel = outputs.get(f"labels_tp{i + 1}")
        if not rel:
            continue
        labels = load_segmentation(staging / rel)
        out.append({"timepoint": i + 1, "date": tp.get("study_date"),
                    "volumes_ml": label_volumes(labels)})
    return out


def _segment(work: dict[str, Any], paths: Sequence[Path], staging: Path, echo: Echo,
             cancel: CancelFn | None, phase: Phase) -> CaseResult:
    from interval.io.image_files import write_image
    from interval.io.label_tables import json_sidecar_path, write_label_json

    phase("indexing the scans")
    timings = {"index": 0.0, "read": 0.0, "segment": 0.0, "write": 0.0}
    t0 = time.perf_counter()
    selection = _timeline(work, paths, cancel)
    timings["index"] = time.perf_counter() - t0
    if not selection.timeline.timepoints:
        why = " ".join(selection.timeline.warnings)
        raise IntervalError("no timepoint to segment: no study with a usable series was found"
                            + (f" ({why})" if why else ""))
    labels = _model_labels(work, echo)
    rows = []
    try:
        folder = staging / SEGMENTATION_DIR
        folder.mkdir()
        for i, tp in enumerate(selection.timeline.timepoints):
            check_cancel(cancel)
            echo(f"Timepoint {i + 1}/{len(selection.timeline.timepoints)}: {tp.label}")
            phase(f"reading timepoint {i + 1}")
            t0 = time.perf_counter()
            volume = selection.load(i, cancel=cancel)
            timings["read"] += time.perf_counter() - t0
            phase(f"segmenting timepoint {i + 1}")
            t0 = time.perf_counter()
            label_map = labels.label_map(i, volume, cancel=cancel)
            del volume
            timings["segment"] += time.perf_counter() - t0
            phase(f"writing timepoint {i + 1}")
            t0 = time.perf_counter()
            path = folder / f"tp{i + 1}_labels.nii.gz"
            write_image(label_map, path)
            if label_map.labels is not None:
                write_label_json(label_map.labels, json_sidecar_path(path))
            timings["write"] += time.perf_counter() - t0
            rows.append({"timepoint": i + 1,
                         "date": tp.study_date.isoformat() if tp.study_date else None,
                         "series_instance_uid": tp.series.series_instance_uid,
                         "label_map": path.relative_to(staging).as_posix(),
                         "volumes_ml": label_volumes(label_map)})
    finally:
        labels.close()
    with atomic_open(staging / SEGMENTATION_JSON, "w", encoding="utf-8") as fh:
        json.dump({"schema": 1, "model": work["model"], "timepoints": rows}, fh, indent=1)
    outputs = {"segmentation_json": SEGMENTATION_JSON}
    outputs.update({f"labels_tp{r['timepoint']}": r["label_map"] for r in rows})
    numbers = {"timepoints": len(rows), "first_date": rows[0]["date"] if rows else None,
               "last_date": rows[-1]["date"] if rows else None,
               "label_volumes_ml": [{k: r[k] for k in ("timepoint", "date", "volumes_ml")}
                                    for r in rows]}
    warnings = [*selection.timeline.warnings, *getattr(labels, "warnings", [])]
    return CaseResult(outputs=outputs, numbers=numbers, timings=timings,
                      warnings=[str(w) for w in warnings])
