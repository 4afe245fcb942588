"""Lesion detection of segmentation models on held-out synthetic patients (issue 13).

What runs: every timepoint of synthetic patients ``--seeds`` (default 5000-5019: seeds
from 5000 up are never used for training or for choosing thresholds), rendered in memory
by :func:`interval.io.synthetic.phantom.generate_phantom` on the default 140x256x256 grid,
is segmented by each model (``--model NAME=PATH``, repeatable; default the bundled
``unet=plugins/interval_unet/models/phantom-ct``) through
:func:`interval.ai.engine.segment` with model.json's post-processing (what users get), and
scored against the generator's truth by :mod:`interval.ai.detection_metrics`:

* lesion Dice (union of the lesion-like labels: "lesion" and "lymph node");
* detection rate by size (<0.5 mL, 0.5-2 mL, >2 mL) and by host organ (liver, lung,
  kidney, lymph node): a true lesion is found when a predicted lesion region overlaps it;
* false-positive lesion regions per scan (predicted regions overlapping no true lesion);
* Dice of every organ (labels paired by NAME between the model's table and the truth's);
* seconds per scan (the whole ``segment`` call, model loading included).

The same rows are printed for the follow-up scans alone (timepoints 2 on).  ``--json PATH``
writes every scan's scores, every follow-up's responses and the targets (timepoints there
are 0-based: 0 is the baseline; the printed "tp" numbers are 1-based).

RECIST agreement: for every follow-up, the overall response computed from each model's
label maps the way ``interval track`` computes it (lesion extraction, affine registration
of the follow-up to the baseline, matching, RECIST 1.1; with a model's confidence maps and
calibrated ``equivocal_below``, low-scored new lesions held equivocal), against the response computed
from the truth (lesions measured on the truth label maps, followed by their true ids:
:mod:`interval.longitudinal.truth_tracking`).  The registrations are computed once per
patient and shared by every model.  ``--truth-column`` adds the truth label maps as a
model: their agreement (below 100% only through registration and matching) is the
ceiling of any model's.

Targets for the best model (the one meeting most targets; exit 1 when it misses one):
detection >= 95% for 0.5-2 mL, 100% above 2 mL, >= 60% under 0.5 mL, >= 90% of kidney
lesions; <= 0.3 false-positive regions per scan; lesion Dice (mean per scan) >= 0.88;
every organ's mean Dice >= 0.90; RECIST agreement >= 95% of follow-ups.  When a model
that segments with the patient's prior timepoints (kind "temporal") is given, it must
beat the best single-timepoint model on the follow-ups in detection under 0.5 mL and in
false positives per scan (exit 1 otherwise).

Models are *contenders* (:class:`Contender`): each segments all timepoints of a patient
at once, so one that uses the earlier scans can.  The kind comes from model.json
(:func:`contender_kind`) or ``--kind NAME=KIND``; a new kind plugs in through
:data:`CONTENDER_KINDS`.

    python tests/benchmarks/bench_lesion_detection.py [--seeds 5000-5019] [--timepoints 3]
        [--model NAME=PATH ...] [--kind NAME=KIND ...] [--threads 2] [--device auto]
        [--registration affine] [--truth-column] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from interval.ai.detection_metrics import (
    LARGE,
    MEDIUM,
    SIZE_BINS,
    SMALL,
    ScanScores,
    Summary,
    TargetCheck,
    check,
    check_targets,
    check_temporal,
    score_scan,
    summarize,
)
from interval.core.labels import LabelTable
from interval.core.volume import Volume

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = "unet=plugins/interval_unet/models/phantom-ct"
DEFAULT_SEEDS = (5000, 5019)
HELD_OUT_FROM = 5000  # seeds never used for training or for choosing thresholds
HOST_ORGANS = ("liver", "lung", "kidney", "lymph node")
RECIST_AGREEMENT = 0.95
SINGLE, TEMPORAL, TRUTH = "single", "temporal", "truth"
TEMPORAL_KEY = "temporal"  # model.json section of a model that reads prior timepoints


# --- contenders -------------------------------------------------------------------------------


@dataclass
class SegmentedScan:
    """One timepoint's label map (on the scan's grid, with the model's label table) and,
    from a model with a ``confidence`` section, its confidence map (uint8, same grid)."""

    labels: Volume
    seconds: float
    confidence: Volume | None = None


@dataclass
class PatientScans:
    """All timepoints of one patient, oldest first, as a contender receives them.

    ``registrations[t]`` aligns timepoint t to the baseline (identity at t = 0;
    :class:`interval.longitudinal.registration.Registration`): computed once per patient
    for the RECIST step; a contender may use them (their time is not in its per-scan time).
    ``seed`` names the patient (only the truth column renders from it).
    """

    seed: int
    scans: list[Volume]
    registrations: list[Any] = field(default_factory=list)


class Contender(Protocol):
    """A model under test (``equivocal_below``: its calibrated score under which RECIST
    holds a new lesion equivocal, None for none, as model.json's ``confidence`` says)."""

    name: str
    kind: str
    label_table: LabelTable
    equivocal_below: float | None

    def segment_patient(self, patient: PatientScans) -> list[SegmentedScan]:
        """A label map for every scan of ``patient`` (a temporal model may use scans[:t]
        for scan t, never later ones)."""
        ...


class SingleTimepointContender:
    """A model package that segments each scan on its own (``interval segment``)."""

    kind = SINGLE

    def __init__(self, name: str, folder: Path, args: argparse.Namespace) -> None:
        from interval.ai.model_package import load_model_spec
        from interval.ai.options import InferenceOptions

        self.name = name
        self.spec = load_model_spec(folder)
        self.label_table = self.spec.label_table
        confidence = getattr(self.spec, "confidence", None)
        self.equivocal_below = getattr(confidence, "equivocal_below", None)
        self.options = InferenceOptions(device=args.device, threads=args.threads)

    def segment_patient(self, patient: PatientScans) -> list[SegmentedScan]:
        from interval.ai.engine import segment

        out = []
        for volume in patient.scans:
            t0 = time.perf_counter()
            result = segment(volume, self.spec, self.options)
            out.append(SegmentedScan(result.labels, time.perf_counter() - t0,
                                     getattr(result, "confidence", None)))
        return out


class TruthContender:
    """The generator's own truth label maps (rendered again from the seed): every lesion
    found, Dice 1.  Its RECIST agreement shows what registration and matching alone cost
    (``--truth-column``); it is never the best model."""

    kind = TRUTH
    equivocal_below = None

    def __init__(self, name: str, folder: Path | None, args: argparse.Namespace) -> None:
        from interval.io.synthetic.phantom import label_table

        self.name = name
        self.label_table = label_table()

    def segment_patient(self, patient: PatientScans) -> list[SegmentedScan]:
        from interval.io.synthetic.phantom import DEFAULT_SHAPE, generate_phantom

        n = len(patient.scans)
        return [SegmentedScan(generate_phantom(patient.seed, DEFAULT_SHAPE, timepoint=t,
                                               n_timepoints=n).label_volume(), 0.0)
                for t in range(n)]


class TemporalContender(SingleTimepointContender):
    """A model package that reads earlier scans (model.json ``temporal``): scan t is
    segmented with up to ``prior_timepoints`` earlier scans resampled into its space
    through the baseline registrations, as ``interval track`` does
    (:mod:`interval.longitudinal.prior_scans`).  The resampling is in its per-scan time."""

    kind = TEMPORAL

    def segment_patient(self, patient: PatientScans) -> list[SegmentedScan]:
        from interval.ai.engine import segment
        from interval.longitudinal.prior_scans import PriorScan, priors_on_grid

        limit = self.spec.temporal.prior_timepoints
        out = []
        for t, volume in enumerate(patient.scans):
            t0 = time.perf_counter()
            earlier = [PriorScan(k, patient.scans[k], patient.registrations[k])
                       for k in range(max(t - limit, 0), t)]
            priors, _warnings = priors_on_grid(earlier, volume, patient.registrations[t], limit)
            result = segment(volume, self.spec, self.options, priors=priors)
            out.append(SegmentedScan(result.labels, time.perf_counter() - t0,
                                     getattr(result, "confidence", None)))
        return out


ContenderFactory = Callable[[str, Path, argparse.Namespace], Contender]
# Contender kinds by name.  A model that segments timepoint t with the patient's earlier
# scans registers its class here as CONTENDER_KINDS[TEMPORAL] (same constructor as
# SingleTimepointContender); contender_kind() picks it for packages whose model.json has
# a "temporal" section.
CONTENDER_KINDS: dict[str, ContenderFactory] = {SINGLE: SingleTimepointContender,
                                                 TEMPORAL: TemporalContender}


def contender_kind(model_json: dict[str, Any]) -> str:
    """The kind of contender a model package needs: ``"temporal"`` when its model.json has
    a non-empty ``"temporal"`` section (it reads prior timepoints), else ``"single"``."""
    return TEMPORAL if model_json.get(TEMPORAL_KEY) else SINGLE


def make_contender(name: str, folder: Path, kind: str | None,
                   args: argparse.Namespace) -> Contender:
    """The contender for the package in ``folder`` (``kind`` None: from its model.json)."""
    if kind is None:
        try:
            kind = contender_kind(json.loads((folder / "model.json").read_text("utf-8")))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"error: model {name}: cannot read {folder / 'model.json'} "
                             f"({exc})") from None
    factory = CONTENDER_KINDS.get(kind)
    if factory is None:
        raise SystemExit(f"error: model {name} needs a contender of kind {kind!r}, which this "
                         f"script does not have (known: {', '.join(CONTENDER_KINDS)})")
    return factory(name, folder, args)


# --- one patient ------------------------------------------------------------------------------


@dataclass
class LabelPairing:
    """How a model's labels map onto the truth's, by name."""

    pred_lesion_values: list[int]
    truth_lesion_values: list[int]
    organ_pairs: dict[str, tuple[int, int]]


def pair_labels(model: LabelTable, truth: LabelTable) -> LabelPairing:
    """Lesion-like values of each table and organs present in both (by lower-case name)."""
    from interval.longitudinal.lesion_labels import lesion_label_values

    pred_lesions = lesion_label_values(model)
    truth_lesions = lesion_label_values(truth)
    truth_by_name = {i.name.strip().lower(): int(i.value) for i in truth
                     if i.value not in truth_lesions}
    pairs = {i.name.strip().lower(): (int(i.value), truth_by_name[i.name.strip().lower()])
             for i in model if i.value not in pred_lesions
             and i.name.strip().lower() in truth_by_name}
    return LabelPairing(sorted(pred_lesions), sorted(truth_lesions), pairs)


def make_timeline(seed: int, scans: Sequence[Volume], dates: Sequence[Any],
                  days: Sequence[int]) -> Any:
    """A :class:`~interval.longitudinal.model.Timeline` of the in-memory scans (what
    RECIST reads of it: the timepoints and the baseline's slice thickness)."""
    from interval.longitudinal.model import SeriesChoice, Timeline, TimepointInfo

    tps = []
    for i, (vol, date, day) in enumerate(zip(scans, dates, days, strict=True)):
        uid = f"2.25.{seed}{i:02d}"
        series = SeriesChoice(uid, uid, 1, "CT", "synthetic phantom", vol.size_ijk,
                              vol.spacing, "axial", "the only series")
        tps.append(TimepointInfo(i, "baseline" if i == 0 else f"follow-up {i}", uid, date, "",
                                 day, series))
    return Timeline("synthetic", "", tps)


def register_patient(scans: Sequence[Volume], method: str) -> list[Any]:
    """Each scan registered to the baseline (the pipeline's non-chained mode)."""
    from interval.longitudinal import registration as reg

    out = [reg.identity_registration(scans[0], 0)]
    if len(scans) > 1:
        reference = reg.prepare_reference(scans[0])
        out += [reg.register(reference, vol, method=method, timepoint=i, reference=0)
                for i, vol in enumerate(scans[1:], start=1)]
    return out


def truth_responses(label_maps: Sequence[Volume], id_maps: Sequence[np.ndarray],
                    timeline: Any) -> dict[int, str]:
    """Overall RECIST response per timepoint from the truth: what
    :func:`interval.longitudinal.truth_tracking.truth_report` computes, on in-memory maps."""
    from interval.longitudinal import recist
    from interval.longitudinal.lesions import extract_lesions
    from interval.longitudinal.match_eval import component_identities
    from interval.longitudinal.truth_tracking import truth_tracks

    measurements, identities = [], {}
    for i, (labels, ids) in enumerate(zip(label_maps, id_maps, strict=True)):
        extracted = extract_lesions(labels, None, timepoint=i)
        measurements += extracted.measurements
        identities[i] = component_identities(extracted.components, ids)
    tracks = truth_tracks(identities, measurements, len(label_maps))
    _tracks, table = recist.assess(tracks, measurements, timeline)
    return {r.timepoint: r.overall_response for r in table}


def run_responses(scans: Sequence[Volume], segmented: Sequence[SegmentedScan],
                  registrations: Sequence[Any], timeline: Any,
                  equivocal_below: float | None = None) -> dict[int, str]:
    """Overall RECIST response per timepoint as ``interval track`` computes it from these
    label maps (the steps of :func:`interval.longitudinal.pipeline.run_tracking`, with the
    given registrations, without reports): with a confidence map each lesion is scored,
    and a new lesion scored below ``equivocal_below`` is held equivocal."""
    from interval.longitudinal import matching, recist
    from interval.longitudinal import sparse_volumes as sparse
    from interval.longitudinal.lesions import extract_lesions
    from interval.longitudinal.pipeline import map_to_baseline

    data = []
    for i, (scan, seg, reg) in enumerate(zip(scans, segmented, registrations, strict=True)):
        labels = seg.labels
        scored = {} if seg.confidence is None else {"confidence": seg.confidence}
        extracted = extract_lesions(labels, scan, timepoint=i, **scored)
        grid = sparse.grid_only(labels)
        base = grid if i == 0 else data[0].labels
        data.append(map_to_baseline(i, grid, base, extracted.components,
                                     extracted.measurements, reg))
    voxel_ml = float(data[0].labels.voxel_volume_mm3()) / 1000.0
    matched = matching.match_lesions(
        [matching.TimepointLesions(d.index, d.measurements, d.components_in_baseline, voxel_ml)
         for d in data], uid_seed=timeline.timepoints[0].study_instance_uid)
    measurements = [m for d in data for m in d.measurements]
    rules = {} if equivocal_below is None else {
        "rules": recist.RecistRules(equivocal_below=equivocal_below)}
    _tracks, table = recist.assess(matched.tracks, measurements, timeline,
                                   registrations=[r.result for r in registrations], **rules)
    return {r.timepoint: r.overall_response for r in table}


@dataclass
class ModelResults:
    """Everything measured for one contender."""

    contender: Contender
    path: str
    scans: list[ScanScores] = field(default_factory=list)
    recist: list[dict[str, Any]] = field(default_factory=list)  # one row per follow-up

    def summary(self, follow_ups_only: bool = False) -> Summary:
        return summarize([s for s in self.scans
                          if not follow_ups_only or s.tags["timepoint"] > 0])

    @property
    def recist_agreement(self) -> float | None:
        rows = self.recist
        return sum(r["model"] == r["truth"] for r in rows) / len(rows) if rows else None


def evaluate_patient(seed: int, n_timepoints: int, results: list[ModelResults],
                     args: argparse.Namespace) -> dict[str, Any]:
    """Render, register, segment and score every timepoint of patient ``seed``."""
    from interval.io.synthetic.phantom import DEFAULT_SHAPE, generate_phantom, label_table

    t0 = time.perf_counter()
    phantoms = [generate_phantom(seed, DEFAULT_SHAPE, timepoint=t, n_timepoints=n_timepoints)
                for t in range(n_timepoints)]
    scans = [p.ct_volume() for p in phantoms]
    truth_labels = [p.label_volume() for p in phantoms]
    t_render = time.perf_counter() - t0
    t0 = time.perf_counter()
    registrations = register_patient(scans, args.registration)
    t_register = time.perf_counter() - t0
    timeline = make_timeline(seed, scans, [p.study_date for p in phantoms],
                             [p.day for p in phantoms])
    truth_recist = truth_responses(truth_labels, [p.lesion_ids for p in phantoms], timeline)
    regs = [r.result.status for r in registrations[1:]]
    print(f"seed {seed}: {n_timepoints} timepoints rendered in {t_render:.1f} s, registered in "
          f"{t_register:.1f} s ({', '.join(regs) or 'baseline only'}); truth RECIST "
          + (", ".join(f"tp {t + 1} {truth_recist.get(t)}" for t in range(1, n_timepoints))
             or "-"), flush=True)
    truth_table = label_table()
    names = {int(i.value): i.name for i in truth_table}
    patient = PatientScans(seed, scans, registrations)
    for res in results:
        contender = res.contender
        pairing = pair_labels(contender.label_table, truth_table)
        segmented = contender.segment_patient(patient)
        for seg in segmented:  # the model's table where a contender left it out
            if seg.labels.labels is None:
                seg.labels = seg.labels.with_array(seg.labels.array,
                                                   labels=contender.label_table)
        for t, (ph, seg) in enumerate(zip(phantoms, segmented, strict=True)):
            if seg.labels.shape != ph.labels.shape:
                raise SystemExit(f"error: model {contender.name} gave a label map of shape "
                                 f"{seg.labels.shape} for a scan of {ph.labels.shape}")
            scores = score_scan(
                seg.labels.array, ph.labels, voxel_ml=scans[t].voxel_volume_mm3() / 1000.0,
                pred_lesion_values=pairing.pred_lesion_values,
                truth_lesion_values=pairing.truth_lesion_values, truth_ids=ph.lesion_ids,
                lesion_organs={lt.id: lt.organ for lt in ph.lesions},
                organ_pairs=pairing.organ_pairs, truth_names=names, seconds=seg.seconds,
                tags={"seed": seed, "timepoint": t})
            res.scans.append(scores)
            found = sum(x.found for x in scores.lesions)
            dice = scores.lesion_dice
            print(f"  seed {seed} tp {t + 1}/{n_timepoints} {contender.name}: "
                  f"{seg.seconds:.1f} s, {found}/{len(scores.lesions)} lesions found, "
                  f"{scores.false_positive_regions} false-positive region(s), lesion Dice "
                  f"{'-' if math.isnan(dice) else f'{dice:.3f}'}", flush=True)
        model_recist = run_responses(scans, segmented, registrations, timeline,
                                     getattr(contender, "equivocal_below", None))
        rows = [{"seed": seed, "timepoint": t, "model": model_recist.get(t),
                 "truth": truth_recist.get(t)} for t in range(1, n_timepoints)]
        res.recist += rows
        if rows:
            print(f"  seed {seed} {contender.name} RECIST: "
                  + ", ".join(f"tp {r['timepoint'] + 1} {r['model']} (truth {r['truth']})"
                              for r in rows), flush=True)
        del segmented
    return {"seed": seed, "render_s": round(t_render, 2), "register_s": round(t_register, 2),
            "registrations": [{"timepoint": r.result.timepoint, "status": r.result.status,
                               "seconds": r.result.seconds} for r in registrations[1:]],
            "truth_recist": {str(t): v for t, v in sorted(truth_recist.items())}}


# --- the table and the targets --------------------------------------------------------------


def _rate(found: int, total: int) -> str:
    return "-" if not total else f"{found / total:.3f} ({found}/{total})"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table_rows(results: list[ModelResults]) -> list[tuple[str, list[str]]]:
    """(row name, one cell per model) of the printed table."""
    summaries = [(r.summary(), r.summary(follow_ups_only=True), r) for r in results]
    organs = [o for o in HOST_ORGANS if any(o in s.by_organ for s, _f, _r in summaries)]
    organs += sorted({o for s, _f, _r in summaries for o in s.by_organ} - set(organs))
    dice_names: list[str] = []
    for s, _f, _r in summaries:
        dice_names += [n for n in s.organ_dice if n not in dice_names]
    rows: list[tuple[str, list[str]]] = []
    for prefix, pick in (("", 0), ("follow-ups: ", 1)):
        group = [x[pick] for x in summaries]
        if pick and not any(s.scans for s in group):
            break  # one timepoint per patient: no follow-up
        rows.append((f"{prefix}scans", [str(s.scans) for s in group]))
        rows.append((f"{prefix}detection (all)",
                     [_rate(s.detection.found, s.detection.total) for s in group]))
        for b in SIZE_BINS:
            rows.append((f"{prefix}detection {b}",
                         [_rate(s.by_size[b].found, s.by_size[b].total) for s in group]))
        for o in organs:
            rows.append((f"{prefix}detection {o}",
                         [_rate(s.by_organ[o].found, s.by_organ[o].total)
                          if o in s.by_organ else "-" for s in group]))
        rows.append((f"{prefix}FP regions per scan",
                     [f"{_num(s.fp_per_scan, 2)} ({s.false_positive_regions})" for s in group]))
        rows.append((f"{prefix}lesion Dice (mean/scan)",
                     [_num(s.lesion_dice_mean) for s in group]))
        rows.append((f"{prefix}lesion Dice (pooled)", [_num(s.lesion_dice_pooled) for s in group]))
        if pick == 0:
            for n in dice_names:
                rows.append((f"Dice {n}", [_num(s.organ_dice.get(n)) for s in group]))
            rows.append(("seconds per scan (mean)", [_num(s.seconds_mean, 1) for s in group]))
            rows.append(("seconds per scan (median)",
                         [_num(s.seconds_median, 1) for s in group]))
    rows.append(("RECIST agreement (follow-ups)",
                 [_rate(sum(x["model"] == x["truth"] for x in r.recist), len(r.recist))
                  for r in results]))
    return rows


def model_checks(res: ModelResults) -> list[TargetCheck]:
    """The issue's targets for one model (RECIST agreement when there are follow-ups)."""
    out = check_targets(res.summary())
    if res.recist:
        out.append(check("RECIST agreement (follow-ups)", res.recist_agreement, ">=",
                         RECIST_AGREEMENT))
    return out


def parse_seeds(text: str) -> list[int]:
    """``A-B`` (inclusive) or ``A``."""
    lo, _, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be A-B or A, not {text!r}") from None
    if b < a:
        raise argparse.ArgumentTypeError(f"empty seed range {text!r}")
    return list(range(a, b + 1))


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=parse_seeds,
                   default=list(range(DEFAULT_SEEDS[0], DEFAULT_SEEDS[1] + 1)),
                   help="patients A-B (inclusive; default 5000-5019)")
    p.add_argument("--timepoints", type=int, default=3, choices=range(1, 9), metavar="N",
                   help="timepoints per patient, 1-8 (default 3)")
    p.add_argument("--model", type=_pair, action="append", metavar="NAME=PATH",
                   help=f"a model package to test (repeatable; default {DEFAULT_MODEL})")
    p.add_argument("--kind", type=_pair, action="append", default=[], metavar="NAME=KIND",
                   help="contender kind of model NAME (default: from its model.json)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--registration", default="affine", choices=("rigid", "affine", "deformable"))
    p.add_argument("--truth-column", action="store_true",
                   help="add the truth label maps as a model (RECIST agreement of registration "
                        "and matching alone)")
    p.add_argument("--json", type=Path, help="write every result here")
    args = p.parse_args(argv)
    args.model = args.model or [_pair(DEFAULT_MODEL)]
    names = [n for n, _p in args.model]
    if len(set(names)) != len(names) or (args.truth_column and "truth" in names):
        p.error("model names must differ (\"truth\" is the --truth-column's)")
    unknown = {n for n, _k in args.kind} - set(names)
    if unknown:
        p.error(f"--kind names no --model: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = dict(args.kind)
    results = []
    for name, path in args.model:
        folder = Path(path) if Path(path).is_absolute() else REPO / path
        results.append(ModelResults(make_contender(name, folder, kinds.get(name), args), path))
    if args.truth_column:
        results.append(ModelResults(TruthContender("truth", None, args), "-"))
    print(f"load average: {os.getloadavg()[0]:.2f}; seeds {args.seeds[0]}-{args.seeds[-1]} "
          f"({len(args.seeds)} patients x {args.timepoints} timepoints); models: "
          + ", ".join(f"{r.contender.name} ({r.contender.kind}, {r.path})" for r in results),
          flush=True)
    if args.seeds[0] < HELD_OUT_FROM:
        print(f"warning: seeds below {HELD_OUT_FROM} may have been used for training or for "
              "choosing thresholds; the held-out patients start at 5000", flush=True)
    t_start = time.perf_counter()
    patients = [evaluate_patient(seed, args.timepoints, results, args) for seed in args.seeds]

    rows = table_rows(results)
    width = max(len(name) for name, _c in rows) + 2
    cols = [max(22, len(r.contender.name) + 2) for r in results]
    print(f"\n{'':<{width}}" + "".join(f"{r.contender.name:>{w}}"
                                      for r, w in zip(results, cols, strict=True)))
    for name, cells in rows:
        print(f"{name:<{width}}" + "".join(f"{c:>{w}}" for c, w in zip(cells, cols, strict=True)))

    truth_counts: dict[str, int] = {}
    for row in results[0].recist:
        truth_counts[str(row["truth"])] = truth_counts.get(str(row["truth"]), 0) + 1
    print(f"\ntruth RECIST over {len(results[0].recist)} follow-ups: "
          + (", ".join(f"{k} {v}" for k, v in sorted(truth_counts.items())) or "none"))

    checks = {r.contender.name: model_checks(r) for r in results}
    models = [r for r in results if r.contender.kind != TRUTH]
    best = max(models, key=lambda r: (sum(c.passed for c in checks[r.contender.name]),
                                      -models.index(r)))
    failed = False
    for res in models:
        name = res.contender.name
        mark = " (best: decides the exit status)" if res is best else ""
        print(f"\ntargets, {name}{mark}:")
        for c in checks[name]:
            print(f"  {'PASS' if c.passed else 'FAIL'}  {c.text}")
        if res is best:
            failed |= not all(c.passed for c in checks[name])
    singles = [r for r in results if r.contender.kind == SINGLE]
    temporal_checks: dict[str, list[TargetCheck]] = {}
    if singles and args.timepoints > 1:
        best_single = max(singles, key=lambda r: (sum(c.passed for c in checks[r.contender.name]),
                                                  -singles.index(r)))
        for res in results:
            if res.contender.kind != TEMPORAL:
                continue
            tc = check_temporal(res.summary(True), best_single.summary(True))
            temporal_checks[res.contender.name] = tc
            print(f"\ntemporal target, {res.contender.name} against "
                  f"{best_single.contender.name} (follow-up scans):")
            for c in tc:
                print(f"  {'PASS' if c.passed else 'FAIL'}  {c.text}")
            failed |= not all(c.passed for c in tc)
    wall = time.perf_counter() - t_start
    print(f"\n{'all targets met' if not failed else 'some targets were missed'} "
          f"({wall / 60:.1f} min)")

    if args.json:
        def checks_json(items: list[TargetCheck]) -> list[dict[str, Any]]:
            def num(x: float | None) -> float | None:
                return None if x is None or math.isnan(x) else x
            return [{"name": c.name, "value": num(c.value), "op": c.op, "target": num(c.target),
                     "passed": c.passed} for c in items]
        data = {
            "seeds": args.seeds, "timepoints": args.timepoints, "registration": args.registration,
            "size_bins": [SMALL, MEDIUM, LARGE], "best": best.contender.name,
            "passed": not failed, "seconds": round(wall, 1), "patients": patients,
            "models": {r.contender.name: {
                "path": r.path, "kind": r.contender.kind,
                "summary": r.summary().to_dict(),
                "follow_ups": r.summary(follow_ups_only=True).to_dict(),
                "recist": {"agreement": r.recist_agreement, "follow_ups": r.recist},
                "targets": checks_json(checks[r.contender.name]),
                "temporal_targets": checks_json(temporal_checks.get(r.contender.name, [])),
                "scans": [s.to_dict() for s in r.scans],
            } for r in results},
        }
        args.json.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
