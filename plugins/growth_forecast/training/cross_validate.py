"""Choose between the two training recipes by 3-fold cross-validation on train + validation.

    python plugins/growth_forecast/training/cross_validate.py [--out results.json]

Why: both recipes were chosen on the validation split and both have been evaluated on the test
split once; choosing between them by the test figures would be tuning on test.  This script
never reads the test split: it pools the train and validation trajectories (by the fixed hash
rule of ``interval_growth_forecast.data.split_of``) and cross-validates each recipe's *whole*
procedure on them.

Recipes (each with its own default architecture only, exactly as ``train.py`` runs it):

* recipe 1 (git 8614c42): ``--seed 0 --epochs 60 --size-weight 0.5``; GRU, one network.
* recipe 2: ``--seed 0 --epochs 120 --weight-decay 0 --size-weight 1.0 --prefix-power 1
  --eval-weight 3 --median-weight 3 --members 3 --gains 1 1.25 1.5 2``; LSTM, 3 members.

Folds: u = first 8 bytes of sha256("interval-growth-cv-v1:" + id) / 2^64, fold = floor(3 u).
For held-out fold k the other two folds are the fold's training part, split again by
v = first 8 bytes of sha256("interval-growth-cv-inner-v1:" + id) / 2^64 into fit (v < 0.8) and
inner validation (v >= 0.8).  On them the recipe runs as ``train.py`` does on train /
validation: networks trained on the fit part (``train.train_one``: per member the epoch with
the lowest inner-validation pinball), the median gain from the recipe's grid and the
conformal band scale on the inner-validation part (``train.choose_gain``), training limits
and the carry-forward naive band (quantiles of the change of ln(d + 1 mm) to the next visit
and the one after) from the fit part.  Then tasks A (last visit from all earlier, >= 4
visits) and B (last two from earlier, >= 5 visits) on the held-out fold: MAE (mm), 80%
coverage, mean pinball over the 10/50/90% quantiles, for the network (refusals replaced by
carry-forward, as in the benchmark) and for carry-forward with the naive band on the same
cases.

DECISION RULE (declared before the first run): score(recipe) = mean over the 3 folds of the
mean of the task A and task B pinball losses on the held-out fold (plain mean over folds).
The recipe with the lower score is shipped; if the two scores are within 1% of each other
(|score2 - score1| <= 0.01 x score1), the simpler recipe 1 is shipped.

Deterministic on CPU (one thread, deterministic algorithms, seeds from the recipes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # interval_growth_forecast
sys.path.insert(0, str(HERE))  # train, pairs

import train  # noqa: E402
from interval_growth_forecast import baselines  # noqa: E402
from interval_growth_forecast.data import (  # noqa: E402
    Trajectory,
    read_measurements,
    split_trajectories,
)
from interval_growth_forecast.evaluation import metrics, run_method, task_cases  # noqa: E402
from interval_growth_forecast.forecaster import load  # noqa: E402
from interval_growth_forecast.networks import LEVELS  # noqa: E402
from pairs import make_examples  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

K = 3
FOLD_SALT = "interval-growth-cv-v1:"
INNER_SALT = "interval-growth-cv-inner-v1:"
INNER_FIT_FRACTION = 0.8
TASKS = ("A", "B")
RECIPES: dict[str, tuple[str, list[str]]] = {
    "recipe1": ("gru", ["--seed", "0", "--epochs", "60", "--size-weight", "0.5"]),
    "recipe2": ("lstm", ["--seed", "0", "--epochs", "120", "--weight-decay", "0",
                         "--size-weight", "1.0", "--prefix-power", "1", "--eval-weight", "3",
                         "--median-weight", "3", "--members", "3",
                         "--gains", "1", "1.25", "1.5", "2"]),
}
TOLERANCE = 0.01  # within 1%: the simpler recipe 1


def unit_hash(salt: str, trajectory_id: str) -> float:
    """First 8 bytes of sha256(salt + id) as a number in [0, 1)."""
    digest = hashlib.sha256((salt + trajectory_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def fold_of(trajectory_id: str, k: int = K) -> int:
    """The cross-validation fold (0 .. k-1) of a trajectory."""
    return min(int(unit_hash(FOLD_SALT, trajectory_id) * k), k - 1)


def is_inner_fit(trajectory_id: str) -> bool:
    """True for the fit part, False for the inner-validation part of a fold's training part."""
    return unit_hash(INNER_SALT, trajectory_id) < INNER_FIT_FRACTION


def fold_parts(pool: list[Trajectory], fold: int) -> dict[str, list[Trajectory]]:
    """fit / inner_val (the other folds) and held_out (this fold)."""
    rest = [t for t in pool if fold_of(t.id) != fold]
    return {"fit": [t for t in rest if is_inner_fit(t.id)],
            "inner_val": [t for t in rest if not is_inner_fit(t.id)],
            "held_out": [t for t in pool if fold_of(t.id) == fold]}


def naive_band(fit: list[Trajectory]) -> dict[float, float]:
    """Carry-forward's band: the fit part's quantiles of the change of y (as ``train.py``)."""
    changes = make_examples(fit, max_steps=2).target.numpy().astype(float)
    return {lv: float(np.quantile(changes, lv)) for lv in LEVELS}


def run_recipe(recipe: str, parts: dict[str, list[Trajectory]], folder: Path) -> dict:
    """The recipe's full procedure on fit / inner_val; its scores on the held-out part."""
    arch, argv = RECIPES[recipe]
    args = train.parse_args(argv + ["--out", str(folder), "--archs", arch])
    fit_examples = make_examples(parts["fit"], size_weight=args.size_weight,
                                 prefix_power=args.prefix_power, eval_weight=args.eval_weight)
    val_examples = make_examples(parts["inner_val"], min_prefix=3, max_steps=2)
    inner_cases = {task: task_cases(parts["inner_val"], task) for task in TASKS}
    config, state = train.train_one(arch, args, fit_examples, val_examples)
    save_file(state, str(folder / f"{arch}.safetensors"))
    config.update({"limits": train.limits_of(parts["fit"]), "band_scale": 1.0,
                   "median_gain": 1.0})
    (folder / f"{arch}.json").write_text(json.dumps(config), encoding="utf-8")
    gain, scale, gain_maes = train.choose_gain(arch, folder, inner_cases, val_examples,
                                               args.gains)
    config.update({"median_gain": gain, "band_scale": round(scale, 4)})
    (folder / f"{arch}.json").write_text(json.dumps(config), encoding="utf-8")
    net = load(arch, folder)
    band = naive_band(parts["fit"])

    def carry_forward(d, x, t):
        return baselines.fit_all(d, x, change_quantiles=band,
                                 methods=("carry_forward",))["carry_forward"].predict(t)

    scores: dict[str, dict] = {}
    for task in TASKS:
        cases = task_cases(parts["held_out"], task)
        scores[task] = {"net": metrics(run_method(cases, net.forecast, fallback=carry_forward)),
                        "carry_forward": metrics(run_method(cases, carry_forward))}
    return {"architecture": arch, "best_epochs": config["best_epochs"], "median_gain": gain,
            "band_scale": round(scale, 4), "inner_val_mae_by_gain": gain_maes,
            "n_fit": len(parts["fit"]), "n_inner_val": len(parts["inner_val"]),
            "n_held_out": len(parts["held_out"]), "scores": scores}


def summary(results: dict[str, list[dict]]) -> dict[str, float]:
    """score(recipe): mean over folds of the mean task A/B held-out pinball."""
    return {r: float(np.mean([np.mean([f["scores"][t]["net"]["pinball"] for t in TASKS])
                              for f in folds])) for r, folds in results.items()}


def decide(score: dict[str, float]) -> tuple[str, str]:
    """The pre-declared rule (module docstring)."""
    s1, s2 = score["recipe1"], score["recipe2"]
    if abs(s2 - s1) <= TOLERANCE * s1:
        return "recipe1", f"within {TOLERANCE:.0%} ({s1:.5f} vs {s2:.5f}): the simpler recipe 1"
    winner = "recipe1" if s1 < s2 else "recipe2"
    return winner, f"lower mean pinball ({s1:.5f} vs {s2:.5f}, recipe 1 vs recipe 2)"


def print_table(results: dict[str, list[dict]]) -> None:
    print(f"\n{'recipe':<9}{'fold':>5}{'task':>5}{'n':>5}{'MAE mm':>8}{'cf MAE':>8}"
          f"{'cov80':>7}{'cf cov':>7}{'pinball':>9}{'cf pin':>9}")
    for recipe, folds in results.items():
        for k, f in enumerate(folds):
            for task in TASKS:
                n, c = f["scores"][task]["net"], f["scores"][task]["carry_forward"]
                print(f"{recipe:<9}{k:>5}{task:>5}{int(n['n']):>5}{n['mae_mm']:>8.2f}"
                      f"{c['mae_mm']:>8.2f}{n['coverage80']:>7.3f}{c['coverage80']:>7.3f}"
                      f"{n['pinball']:>9.4f}{c['pinball']:>9.4f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=train.DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=HERE / "cv_results.json")
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--folds", nargs="+", type=int, default=list(range(K)))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    split = split_trajectories(read_measurements(args.data))
    pool = split["train"] + split["val"]  # the test split is never used here
    print(f"pool: {len(pool)} trajectories (train + validation; test excluded)")
    results: dict[str, list[dict]] = {r: [] for r in args.recipes}
    for fold in args.folds:
        parts = fold_parts(pool, fold)
        print(f"fold {fold}: fit {len(parts['fit'])}, inner validation "
              f"{len(parts['inner_val'])}, held out {len(parts['held_out'])}", flush=True)
        for recipe in args.recipes:
            np.random.seed(0)
            with tempfile.TemporaryDirectory() as tmp:
                r = run_recipe(recipe, parts, Path(tmp))
            r["fold"] = fold
            results[recipe].append(r)
            print(f"  {recipe}: gain {r['median_gain']:g}, band scale {r['band_scale']}, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    print_table(results)
    out = {"folds": results, "wall_seconds": round(time.perf_counter() - t0, 1)}
    if set(args.recipes) == set(RECIPES) and len(args.folds) == K:
        score = summary(results)
        winner, why = decide(score)
        out.update({"score": score, "decision": winner, "reason": why})
        print("\nscore (mean over folds of mean task A/B pinball): "
              + ", ".join(f"{r} {s:.5f}" for r, s in score.items()))
        print(f"decision: {winner} ({why})")
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wall time {time.perf_counter() - t0:.0f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
