"""Score a tracking run of a synthetic patient against the generator's truth.

* **Segmentation** (when a model segmented the scans): Dice per label against the truth
  label map (labels paired by name), and per true lesion: found or missed.
* **Links**: two lesion regions of consecutive timepoints that the tracker put in the same
  lesion form a *link*.  A link is correct when both regions cover the same true lesion
  (the generator's lesion-id map).  Precision = correct links / links made; recall =
  true links recovered / true links whose lesion was found at both timepoints (a lesion the
  segmentation missed costs links, counted apart as ``links_lost_to_detection``).
* **RECIST**: the overall response per follow-up of the run against the one computed from
  the truth (true lesion identities, measured on the truth label maps).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from interval.core.atomic import atomic_open
from interval.io.image_files import read_image
from interval.io.segmentation import load_segmentation
from interval.longitudinal.match_eval import component_identities


def link_report(tracks: list[Any], identities: dict[int, dict[int, frozenset[int]]],
                truth_present: list[set[int]]) -> dict[str, Any]:
    """Link precision/recall (:func:`interval.longitudinal.match_eval.link_scores`) and the
    true links lost because the segmentation missed a lesion at one end."""
    from interval.longitudinal.match_eval import link_scores

    scores = link_scores(tracks, identities)
    found = [set().union(*identities.get(t, {}).values()) if identities.get(t) else set()
             for t in range(len(truth_present))]
    lost = 0
    for lesion in set().union(*truth_present) if truth_present else set():
        seen = [t for t, present in enumerate(truth_present) if lesion in present]
        for a, b in zip(seen, seen[1:], strict=False):
            if lesion not in found[a] or lesion not in found[b]:
                lost += 1
    return {
        "links_made": scores.predicted, "links_correct": scores.correct,
        "truth_links_detectable": scores.truth, "truth_links_recovered": scores.correct,
        "precision": scores.precision if scores.predicted else None,
        "recall": scores.recall if scores.truth else None,
        "links_lost_to_detection": lost,
        "wrong_links": [f"timepoint {a + 1} region {ca} -> timepoint {b + 1} region {cb}"
                        for a, ca, b, cb in scores.false_links],
        "missed_links": [f"timepoint {a + 1} region {ca} -> timepoint {b + 1} region {cb}"
                         for a, ca, b, cb in scores.missed_links],
    }


def evaluate(patient: Any, outcome: Any, *, segmented: bool) -> dict[str, Any]:
    """Dice, lesions found, link precision/recall and RECIST agreement (a JSON-able dict)."""
    report = outcome.report
    report_json = outcome.outputs.get("report_json")
    root = Path(report_json).parent if report_json else None
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    identities: dict[int, dict[int, frozenset[int]]] = {}
    present: list[set[int]] = []
    by_series = {tp.series_instance_uid: tp for tp in patient.timepoints}
    for data, tp_info in zip(outcome.timepoints, report.timeline.timepoints, strict=True):
        truth_tp = by_series.get(tp_info.series.series_instance_uid)
        row: dict[str, Any] = {"timepoint": data.index + 1,
                               "date": tp_info.study_date.isoformat() if tp_info.study_date else None}
        if truth_tp is None or truth_tp.lesion_ids_path is None:
            problems.append(f"timepoint {data.index + 1}: no ground truth for this series")
            present.append(set())
            rows.append(row)
            continue
        ids = read_image(truth_tp.lesion_ids_path)
        if data.components is None or ids.shape != data.components.shape:
            problems.append(f"timepoint {data.index + 1}: the truth is not on the scan's grid")
            present.append(set())
            rows.append(row)
            continue
        regions = component_identities(data.components, ids.array)
        identities[data.index] = regions
        present.append({int(v) for v in np.unique(ids.array) if v > 0})
        written = report.outputs.get(f"labels_tp{data.index + 1}")  # the model's label map
        if segmented and truth_tp.labels_path is not None and written and root is not None:
            row.update(_segmentation_scores(load_segmentation(root / written),
                                            load_segmentation(truth_tp.labels_path)))
        row["lesions_true"] = sorted(present[-1])
        row["lesions_found"] = sorted(set().union(*regions.values()) if regions else set())
        row["regions"] = len(data.measurements)
        row["false_positive_regions"] = sum(1 for ids_ in regions.values() if not ids_)
        rows.append(row)
    links = link_report(report.tracks, identities, present)
    recist = _recist_agreement(patient, outcome)
    return {"disclaimer": "synthetic data, not for clinical use", "segmented": segmented,
            "timepoints": rows, "links": links, "recist": recist, "problems": problems}


def _segmentation_scores(pred: Any, truth: Any) -> dict[str, Any]:
    """Dice per label, pairing the prediction's and the truth's labels by name."""
    from interval.ai.metrics import dice_per_label

    if pred.labels is None or truth.labels is None or pred.shape != truth.shape:
        return {}
    truth_by_name = {info.name.strip().lower(): int(info.value) for info in truth.labels}
    pairs = {int(info.value): truth_by_name[info.name.strip().lower()]
             for info in pred.labels if info.name.strip().lower() in truth_by_name}
    names = {int(info.value): info.name for info in pred.labels}
    scores = dice_per_label(pred.array, truth.array, pairs)
    return {"dice": {names[v]: (None if math.isnan(scores[v]) else float(scores[v]))
                     for v in sorted(pairs)}}


def _recist_agreement(patient: Any, outcome: Any) -> dict[str, Any]:
    """The run's overall responses next to the truth's (see :func:`truth_recist`)."""
    try:
        truth = truth_recist(patient, outcome)
    except Exception as exc:  # noqa: BLE001 - the score is informative; never fail the demo
        return {"error": f"{type(exc).__name__}: {exc}"}
    run = {r.timepoint: r.overall_response for r in outcome.report.recist}
    rows = [{"timepoint": t + 1, "run": run.get(t), "truth": truth.get(t)}
            for t in sorted(set(run) | set(truth))]
    follow = [r for r in rows if r["timepoint"] > 1]
    agree = sum(1 for r in follow if r["run"] == r["truth"])
    return {"per_timepoint": rows, "agree": agree, "follow_ups": len(follow)}


def truth_recist(patient: Any, outcome: Any) -> dict[int, str]:
    """Overall RECIST response per timepoint computed from the truth: lesions measured on
    the truth label maps and followed by their true identities."""
    from interval.longitudinal.truth_tracking import truth_report

    report = truth_report(patient, outcome.report.timeline)
    return {r.timepoint: r.overall_response for r in report.recist}


def write_evaluation(root: Path, evaluation: dict[str, Any]) -> None:
    """``evaluation.json`` and ``evaluation.md`` in ``root`` (atomically)."""
    from interval.longitudinal.demo import EVALUATION_JSON, EVALUATION_MD

    with atomic_open(root / EVALUATION_JSON, "w", encoding="utf-8") as fh:
        json.dump(evaluation, fh, indent=1, default=_json_default)
        fh.write("\n")
    with atomic_open(root / EVALUATION_MD, "w", encoding="utf-8") as fh:
        fh.write("# Interval demo: the run scored against the truth\n\n")
        fh.write("> Synthetic data, not for clinical use.\n\n")
        fh.write("\n".join(evaluation_lines(evaluation)) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def evaluation_lines(evaluation: dict[str, Any]) -> list[str]:
    """The scores as plain text."""
    out = ["Against the ground truth:"]
    rows = evaluation["timepoints"]
    labels: list[str] = []
    for r in rows:
        for name in r.get("dice", {}):
            if name not in labels:
                labels.append(name)
    if labels:
        out.append(f"  Dice   {'label':<11}" + "".join(f"{'tp ' + str(r['timepoint']):>8}"
                                                       for r in rows))
        for name in labels:
            out.append(f"         {name:<11}" + "".join(
                f"{_fmt(r.get('dice', {}).get(name)):>8}" for r in rows))
    for r in rows:
        if "lesions_true" in r:
            missed = sorted(set(r["lesions_true"]) - set(r["lesions_found"]))
            out.append(f"  timepoint {r['timepoint']}: {len(r['lesions_found'])} of "
                       f"{len(r['lesions_true'])} true lesions found"
                       + (f" (missed #{', #'.join(map(str, missed))})" if missed else "")
                       + f"; {r['false_positive_regions']} region(s) matching no true lesion")
    links = evaluation["links"]
    out.append(f"  links: {links['links_correct']} of {links['links_made']} correct (precision "
               f"{_fmt(links['precision'])}); {links['truth_links_recovered']} of "
               f"{links['truth_links_detectable']} detectable true links recovered (recall "
               f"{_fmt(links['recall'])}); {links['links_lost_to_detection']} true link(s) "
               "lost to lesions the segmentation missed")
    recist = evaluation.get("recist", {})
    if "per_timepoint" in recist:
        cells = ", ".join(f"tp {r['timepoint']}: {r['run']} (truth {r['truth']})"
                          for r in recist["per_timepoint"] if r["timepoint"] > 1)
        out.append(f"  RECIST: {recist['agree']} of {recist['follow_ups']} follow-ups agree "
                   f"with the truth; {cells}")
    elif "error" in recist:
        out.append(f"  RECIST truth could not be computed: {recist['error']}")
    for problem in evaluation.get("problems", []):
        out.append(f"  problem: {problem}")
    return out
