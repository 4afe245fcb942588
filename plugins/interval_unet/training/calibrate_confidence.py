"""Calibrate the phantom U-Net's ``confidence.equivocal_below`` on validation patients.

Usage (from the repository root)::

    python plugins/interval_unet/training/calibrate_confidence.py \
        --model plugins/interval_unet/models/phantom-ct [--seeds 3000 3001] [--write]

Every scan (timepoints 0, 1, 2) of the generator's default 3-timepoint synthetic patients
``--seeds`` (3000..3019 by default: validation seeds, never the training seeds below 1000
nor the benchmark's 5000 and up, which are refused) is rendered on the demo grid and
segmented by :func:`interval.ai.engine.segment` with model.json's settings and clean-up
(what users get) and a confidence map (model.json's ``confidence.labels``; without a
section, the lesion labels of the package).  Every predicted lesion region
(:func:`interval.longitudinal.lesions.extract_lesions`) gets its score (mean confidence)
and is *true* when it overlaps a lesion or lymph node of the generator's truth labels,
else a false positive.

The threshold: the highest score ``t`` that keeps at least ``--keep`` (95%) of the true
regions whose long axis is at least ``--min-long-mm`` (5 mm, RECIST's smallest new
lesion) at or above ``t``; among those the highest, so that the most false positives fall
below it (a NEW lesion scored below ``t`` is held equivocal).  The score distributions of
both groups, the threshold and the share of false positives below it are printed;
The false-positive filter ``drop_below`` (:mod:`interval.ai.region_filter`: the clean-up
removes regions scored below it), only with ``--drop-keep K`` (e.g. 0.97; default 0: no
filter, the bundled models ship without one): the highest score that keeps at least K of
ALL true regions, whatever their size, at or above it, and never above ``t``.  Regions
are scored with the package's filter off.

``--write`` puts ``{"labels": [...], "equivocal_below": t, "drop_below": d}`` into the
package's model.json (formatted like the training script writes it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

VALIDATION_SEEDS = tuple(range(3000, 3020))
TRAINING_SEEDS_BELOW = 1000  # train.py draws its patients from seeds 0..999
BENCHMARK_SEEDS_FROM = 5000  # the benchmark's patients: never calibrate on them
N_TIMEPOINTS = 3  # the generator's default patient
QUANTILES = (0.0, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 1.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", type=Path,
                   default=Path(__file__).resolve().parents[1] / "models" / "phantom-ct")
    p.add_argument("--seeds", type=int, nargs="+", default=list(VALIDATION_SEEDS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--keep", type=float, default=0.95,
                   help="share of true regions >= --min-long-mm kept at or above the threshold")
    p.add_argument("--min-long-mm", type=float, default=5.0)
    p.add_argument("--drop-keep", type=float, default=0.0,
                   help="share of all true regions kept at or above drop_below (0: no filter)")
    p.add_argument("--write", action="store_true",
                   help="write the threshold into the package's model.json")
    p.add_argument("--json", type=Path, default=None, help="also write every region here")
    return p.parse_args(argv)


def check_seeds(seeds: list[int]) -> None:
    """Refuse training and benchmark seeds (a threshold tuned on either is not calibrated)."""
    bad = [s for s in seeds if s < TRAINING_SEEDS_BELOW or s >= BENCHMARK_SEEDS_FROM]
    if bad:
        raise SystemExit(f"seeds {bad} are training (< {TRAINING_SEEDS_BELOW}) or benchmark "
                         f"(>= {BENCHMARK_SEEDS_FROM}) patients: calibrate on validation seeds")


def confidence_spec(spec):  # -> ModelSpec with a confidence section
    """``spec`` as it is when it has a confidence section, else with its lesion labels."""
    from interval.ai.model_package import ConfidenceSpec
    from interval.longitudinal.lesions import lesion_label_values

    if spec.confidence is not None:
        return spec
    values = tuple(sorted(lesion_label_values(spec.label_table)))
    if not values:
        raise SystemExit("the model declares no lesion label to score")
    return dataclasses.replace(spec, confidence=ConfidenceSpec(values))


def patient_scans(seed: int) -> tuple[list, list]:
    """The phantoms of patient ``seed`` (all timepoints) and each scan's registration to
    the baseline (the longitudinal core's affine registration, as ``interval track``)."""
    from interval.io.synthetic.phantom import DEFAULT_SHAPE, generate_phantom
    from interval.longitudinal import registration as reg

    phantoms = [generate_phantom(seed, shape=DEFAULT_SHAPE, timepoint=t)
                for t in range(N_TIMEPOINTS)]
    volumes = [ph.ct_volume() for ph in phantoms]
    regs = [reg.identity_registration(volumes[0], 0)]
    reference = reg.prepare_reference(volumes[0])
    regs += [reg.register(reference, v, method="affine", timepoint=t, reference=0)
             for t, v in enumerate(volumes[1:], start=1)]
    return phantoms, regs


def regions_of_scan(spec, seed: int, timepoint: int, threads: int,
                    scans: tuple[list, list] | None = None) -> list[dict]:
    """The predicted lesion regions of one scan: score, long axis, true or false positive.

    A temporal model (model.json ``temporal``) gets the earlier scans registered into this
    scan's space, from ``scans`` (:func:`patient_scans`)."""
    from interval.ai.engine import segment
    from interval.ai.options import InferenceOptions
    from interval.io.synthetic.phantom import DEFAULT_SHAPE, LESION, LYMPH_NODE, generate_phantom
    from interval.longitudinal.lesions import extract_lesions
    from interval.longitudinal.prior_scans import PriorScan, priors_on_grid

    priors: list = []
    if scans is not None:
        phantoms, regs = scans
        ph = phantoms[timepoint]
        volume = ph.ct_volume()
        if spec.temporal is not None:
            limit = spec.temporal.prior_timepoints
            earlier = [PriorScan(k, phantoms[k].ct_volume(), regs[k])
                       for k in range(max(timepoint - limit, 0), timepoint)]
            priors, _ = priors_on_grid(earlier, volume, regs[timepoint], limit)
    else:
        ph = generate_phantom(seed, shape=DEFAULT_SHAPE, timepoint=timepoint)
        volume = ph.ct_volume()
    result = segment(volume, spec, InferenceOptions(device="cpu", threads=threads),
                     priors=priors)
    extracted = extract_lesions(result.labels, None, timepoint=timepoint,
                                confidence=result.confidence)
    truth = np.isin(ph.labels, (LESION, LYMPH_NODE))
    rows = []
    for m in extracted.measurements:
        box = tuple(slice(lo, hi) for lo, hi in zip(m.bbox_lo, m.bbox_hi, strict=True))
        mine = extracted.components[box] == m.component
        rows.append({
            "seed": seed, "timepoint": timepoint, "component": m.component,
            "label": m.label_name, "score": m.score, "voxels": m.voxel_count,
            "long_axis_mm": round(m.long_axis.length_mm, 1),
            "true": bool(np.any(truth[box][mine])),
        })
    return rows


def choose_threshold(true_scores: list[float], keep: float) -> float | None:
    """The highest ``t`` with at least ``keep`` of ``true_scores`` >= ``t`` (None: none)."""
    if not true_scores:
        return None
    ranked = sorted(true_scores)
    n = len(ranked)
    allowed_below = math.floor((1.0 - keep) * n + 1e-9)  # true regions that may fall below
    return float(ranked[min(allowed_below, n - 1)])


def quantile_line(name: str, scores: list[float]) -> str:
    if not scores:
        return f"  {name:30s} n=0"
    q = np.quantile(np.asarray(scores, dtype=np.float64), QUANTILES)
    cells = " ".join(f"{int(p * 100):>3d}%={v:.3f}" for p, v in zip(QUANTILES, q, strict=True))
    return f"  {name:30s} n={len(scores):<4d} {cells}"


def write_threshold(model: Path, labels: tuple[int, ...], threshold: float,
                    drop_below: float | None = None) -> None:
    """Put ``{"labels", "equivocal_below", "drop_below"}`` into model.json (validated,
    atomically; no ``drop_below`` key when None)."""
    import importlib.util

    # train.py beside this file, by path: another "train" module (the growth-forecast
    # plugin's) may already be imported under that name in the same process
    location = Path(__file__).resolve().parent / "train.py"
    found = importlib.util.spec_from_file_location("interval_unet_train", location)
    assert found is not None and found.loader is not None
    train = importlib.util.module_from_spec(found)
    found.loader.exec_module(train)

    from interval.ai.model_package import MODEL_JSON, parse_model_spec

    path = model / MODEL_JSON
    data = json.loads(path.read_text(encoding="utf-8"))
    data["confidence"] = {"labels": list(labels), "equivocal_below": threshold}
    if drop_below is not None:
        data["confidence"]["drop_below"] = drop_below
    parse_model_spec(data, model)  # refuse to write a package that would not load
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(train.dump_json(data), encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_seeds(args.seeds)
    if not 0.0 < args.keep <= 1.0:
        raise SystemExit("--keep must be in (0, 1]")
    if not 0.0 <= args.drop_keep <= 1.0:
        raise SystemExit("--drop-keep must be in [0, 1]")
    from interval.ai.model_package import load_model_spec

    spec = confidence_spec(load_model_spec(args.model))
    assert spec.confidence is not None
    # every region is scored: the package's own false-positive filter is off here
    spec = dataclasses.replace(spec, confidence=dataclasses.replace(spec.confidence,
                                                                    drop_below=None))
    print(f"model {spec.name} {spec.version}: confidence of labels "
          f"{list(spec.confidence.labels)}; {len(args.seeds)} patient(s) x {N_TIMEPOINTS} "
          "scans", flush=True)
    rows: list[dict] = []
    for seed in args.seeds:
        scans = patient_scans(seed) if spec.temporal is not None else None
        for tp in range(N_TIMEPOINTS):
            t0 = time.perf_counter()
            found = regions_of_scan(spec, seed, tp, args.threads, scans)
            rows.extend(found)
            n_true = sum(r["true"] for r in found)
            print(f"seed {seed} tp {tp} ({time.perf_counter() - t0:.0f} s): {len(found)} "
                  f"region(s), {n_true} true, {len(found) - n_true} false positive(s)",
                  flush=True)
    scored = [r for r in rows if r["score"] is not None]
    true_all = [r["score"] for r in scored if r["true"]]
    true_big = [r["score"] for r in scored if r["true"] and r["long_axis_mm"] >= args.min_long_mm]
    fp_all = [r["score"] for r in scored if not r["true"]]
    fp_big = [r["score"] for r in scored
              if not r["true"] and r["long_axis_mm"] >= args.min_long_mm]
    print("\nscore distributions (quantiles):")
    print(quantile_line("true regions", true_all))
    print(quantile_line(f"true, long axis >= {args.min_long_mm:g} mm", true_big))
    print(quantile_line("false positives", fp_all))
    print(quantile_line(f"false pos., long axis >= {args.min_long_mm:g} mm", fp_big))
    threshold = choose_threshold(true_big, args.keep)
    summary: dict = {"seeds": args.seeds, "regions": len(rows), "threshold": threshold}
    if threshold is None:
        print("\nno true region large enough: no threshold")
    else:
        threshold = min(max(round(threshold, 3), 0.001), 0.999)  # model.json: in (0, 1)
        kept = np.mean([s >= threshold for s in true_big])
        below = np.mean([s < threshold for s in fp_all]) if fp_all else float("nan")
        below_big = np.mean([s < threshold for s in fp_big]) if fp_big else float("nan")
        summary.update(threshold=threshold, true_kept=float(kept), fp_below=float(below),
                       fp_big_below=float(below_big))
        print(f"\nequivocal_below = {threshold:.3f}: keeps {kept:.1%} of {len(true_big)} true "
              f"regions >= {args.min_long_mm:g} mm; {below:.1%} of {len(fp_all)} false "
              f"positives below it ({below_big:.1%} of the {len(fp_big)} >= "
              f"{args.min_long_mm:g} mm, the ones RECIST would count as new)")
    drop = choose_drop(true_all, threshold, args.drop_keep)
    if drop is not None:
        kept_all = np.mean([s >= drop for s in true_all])
        dropped = np.mean([s < drop for s in fp_all]) if fp_all else float("nan")
        summary.update(drop_below=drop, drop_true_kept=float(kept_all),
                       drop_fp_removed=float(dropped))
        print(f"drop_below = {drop:.3f}: keeps {kept_all:.1%} of all {len(true_all)} true "
              f"regions; removes {dropped:.1%} of the {len(fp_all)} false positives")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "regions": rows}, indent=2) + "\n")
    if args.write:
        if threshold is None:
            raise SystemExit("nothing written: no threshold")
        write_threshold(args.model, spec.confidence.labels, threshold, drop)
        print(f"written into {args.model / 'model.json'}")
    return 0


def choose_drop(true_scores: list[float], equivocal_below: float | None,
                keep: float) -> float | None:
    """The false-positive filter's threshold: keeps ``keep`` of ``true_scores`` at or
    above it, never above ``equivocal_below``, rounded to 3 decimals (None: no filter)."""
    if keep <= 0.0:
        return None
    drop = choose_threshold(true_scores, keep)
    if drop is None:
        return None
    if equivocal_below is not None:
        drop = min(drop, equivocal_below)
    drop = math.floor(drop * 1000 + 1e-9) / 1000  # rounded down: never drops a kept score
    return drop if drop > 0.0 else None


if __name__ == "__main__":
    raise SystemExit(main())
