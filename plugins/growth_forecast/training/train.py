"""Train the growth-forecast networks (GRU, LSTM, GRU + attention) and write the weights.

    python plugins/growth_forecast/training/train.py --seed 0

Data: the shared ``lesion_measurements.csv``, split by trajectory with the fixed hash rule of
``interval_growth_forecast.data.split_of``.  Training uses the train split only (plus
``--sim N`` simulated trajectories if asked); the epoch, the band scale (conformal, 80%) and
the default architecture are chosen on the validation split; the test split is not read here
beyond counting it.  Deterministic on CPU for a given seed (one thread).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # interval_growth_forecast
sys.path.insert(0, str(HERE))  # pairs

from interval_growth_forecast import baselines  # noqa: E402
from interval_growth_forecast.data import read_measurements, split_trajectories  # noqa: E402
from interval_growth_forecast.evaluation import metrics, run_method, task_cases  # noqa: E402
from interval_growth_forecast.forecaster import load  # noqa: E402
from interval_growth_forecast.networks import (  # noqa: E402
    ARCHITECTURES,
    LEVELS,
    build,
    pinball_loss,
)
from interval_growth_forecast.simulate import simulate  # noqa: E402
from pairs import Batch, make_examples  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

DEFAULT_DATA = HERE.parents[2].parent / "shared" / "data" / "tumor_growth" / "lesion_measurements.csv"
WEIGHTS = HERE.parent / "interval_growth_forecast" / "weights"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=WEIGHTS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--hidden", type=int, default=48)
    p.add_argument("--head-hidden", type=int, default=64)
    p.add_argument("--size-weight", type=float, default=0.0,
                   help="weight examples by (last diameter + 1 mm) ** this power (0: equal)")
    p.add_argument("--prefix-power", type=float, default=0.0,
                   help="weight examples by (prefix length / (visits - 1)) ** this power")
    p.add_argument("--eval-weight", type=float, default=1.0,
                   help="extra weight of the pairs shaped like the benchmark's tasks A and B")
    p.add_argument("--median-weight", type=float, default=1.0,
                   help="weight of the 0.5 quantile's pinball term (others 1)")
    p.add_argument("--members", type=int, default=1,
                   help="networks per architecture (seeds seed, seed+1, ...), quantiles averaged")
    p.add_argument("--gains", type=float, nargs="+", default=[1.0],
                   help="median gains tried on validation (the lowest mean task A/B MAE wins)")
    p.add_argument("--sim", type=int, default=0, help="simulated trajectories added to training")
    p.add_argument("--archs", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    p.add_argument("--default", choices=ARCHITECTURES,
                   help="force the default (otherwise: best validation pinball)")
    return p.parse_args(argv)


def limits_of(trajectories) -> dict[str, float]:
    """What the real training data covers (horizons from prefixes of >= 2 visits)."""
    horizons = [float(t.days[-1] - t.days[1]) for t in trajectories if len(t) >= 3]
    gaps = [float(np.max(np.diff(t.days))) for t in trajectories if len(t) >= 2]
    return {"max_horizon_days": max(horizons), "max_gap_days": max(gaps),
            "max_diameter_mm": float(max(np.max(t.diameters) for t in trajectories)),
            "max_visits": int(max(len(t) for t in trajectories)) - 1}


def predict(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(batch.visits, batch.lengths, batch.query)


def conformal_scale(pred: torch.Tensor, target: torch.Tensor, levels: tuple[float, ...],
                    coverage: float = 0.8) -> float:
    """The factor on the band around the median that makes the central ``coverage`` band cover
    that fraction of the examples (split-conformal, finite-sample corrected)."""
    m = levels.index(0.5)
    lo, hi = levels.index(round(0.5 - coverage / 2, 6)), levels.index(round(0.5 + coverage / 2, 6))
    med = pred[:, m]
    below = (med - target) / (med - pred[:, lo]).clamp_min(1e-6)
    above = (target - med) / (pred[:, hi] - med).clamp_min(1e-6)
    score = torch.where(target < med, below, above).numpy()
    n = len(score)
    q = min(math.ceil((n + 1) * coverage) / n, 1.0)
    return float(np.quantile(score, q, method="higher"))


def shifted(pred: torch.Tensor, gain: float) -> torch.Tensor:
    """Quantiles with the median multiplied by ``gain`` (the band moves with it)."""
    m = LEVELS.index(0.5)
    return pred + (gain - 1.0) * pred[:, m:m + 1]


def train_member(seed: int, config: dict, args: argparse.Namespace, train: Batch,
                 val: Batch) -> tuple[torch.nn.Module, int, float]:
    """One network trained from ``seed``; the epoch with the lowest validation pinball."""
    torch.manual_seed(seed)
    model = build({**config, "members": 1})
    levels = torch.tensor(LEVELS)
    level_weights = torch.ones(len(LEVELS))
    level_weights[LEVELS.index(0.5)] = args.median_weight
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(train) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs
                                                * steps_per_epoch, pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    best = (float("inf"), -1, None)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train), generator=gen)
        for s in range(steps_per_epoch):
            b = train.subset(order[s * args.batch:(s + 1) * args.batch])
            loss = pinball_loss(model(b.visits, b.lengths, b.query), b.target, levels, b.weight,
                                level_weights)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        val_loss = float(pinball_loss(predict(model, val), val.target, levels))
        if val_loss < best[0]:
            best = (val_loss, epoch, {k: v.clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[2])
    return model, best[1], best[0]


def train_one(arch: str, args: argparse.Namespace, train: Batch, val: Batch) -> tuple[dict, dict]:
    config = {"architecture": arch, "hidden": args.hidden, "head_hidden": args.head_hidden,
              "levels": list(LEVELS), "members": args.members}
    model = build(config)
    epochs, losses = [], []
    for i in range(args.members):
        member, epoch, loss = train_member(args.seed + i, config, args, train, val)
        target = model.members[i] if args.members > 1 else model
        target.load_state_dict(member.state_dict())
        epochs.append(epoch + 1)
        losses.append(round(loss, 5))
    config.update({"best_epochs": epochs, "val_pinball_all_levels": losses})
    print(f"  {arch}: best epochs {epochs}/{args.epochs}, val pinball {losses}", flush=True)
    return config, {k: v.contiguous() for k, v in model.state_dict().items()}


def choose_gain(arch: str, folder: Path, cases: dict, val: Batch,
                gains: list[float]) -> tuple[float, float, dict]:
    """The median gain with the lowest mean validation MAE (mm) over tasks A and B, then the
    conformal band scale of the shifted quantiles (both on validation)."""
    fc = load(arch, folder)
    maes = {}
    for gain in gains:
        fc.median_gain = gain
        maes[gain] = float(np.mean([metrics(run_method(c, fc.forecast))["mae_mm"]
                                    for c in cases.values()]))
    gain = min(maes, key=maes.get)
    scale = conformal_scale(shifted(predict(fc.model, val), gain), val.target, LEVELS)
    return gain, scale, {f"{g:g}": round(v, 4) for g, v in maes.items()}


def byte_size(state: dict) -> int:
    buf = io.BytesIO()
    torch.save(state, buf)  # only to measure the size of the quantized weights (never loaded)
    return buf.tell()


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    np.random.seed(args.seed)
    trajectories = read_measurements(args.data)
    split = split_trajectories(trajectories)
    for name, items in split.items():
        print(f"{name}: {len(items)} trajectories, {sum(len(t) for t in items)} visits, "
              f"task A {len(task_cases(items, 'A'))} cases, task B {len(task_cases(items, 'B'))}")
    sim = simulate(args.sim, args.seed) if args.sim else []
    train = make_examples(split["train"] + sim, size_weight=args.size_weight,
                          prefix_power=args.prefix_power, eval_weight=args.eval_weight)
    val = make_examples(split["val"], min_prefix=3, max_steps=2)
    print(f"training examples {len(train)} ({len(sim)} simulated trajectories), "
          f"validation examples {len(val)}", flush=True)
    naive = make_examples(split["train"], max_steps=2).target.numpy().astype(float)
    change_q = {str(lv): float(np.quantile(naive, lv)) for lv in LEVELS}
    limits = limits_of(split["train"])
    data_note = (f"train split of lesion_measurements.csv ({len(split['train'])} real "
                 f"trajectories)" + (f" + {len(sim)} simulated trajectories (seed {args.seed})"
                                     if sim else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "naive_band.json").write_text(json.dumps({
        "change_quantiles": change_q,
        "data": f"train split ({len(split['train'])} trajectories): change of ln(d + 1 mm) "
                "from a visit (with >= 1 earlier visit) to the next and the one after",
        "n": len(naive)}, indent=2) + "\n", encoding="utf-8")
    baselines.naive_change_quantiles.cache_clear()

    cases = {task: task_cases(split["val"], task) for task in ("A", "B")}
    for arch in args.archs:
        config, state = train_one(arch, args, train, val)
        path = args.out / f"{arch}.safetensors"
        save_file(state, str(path), metadata={"architecture": arch, "seed": str(args.seed)})
        config.update({"limits": limits, "band_scale": 1.0, "median_gain": 1.0})
        (args.out / f"{arch}.json").write_text(json.dumps(config), encoding="utf-8")
        gain, scale, gain_maes = choose_gain(arch, args.out, cases, val, args.gains)
        print(f"  {arch}: median gain {gain:g} (validation mean MAE by gain {gain_maes}), "
              f"band scale {scale:.3f}", flush=True)
        config.update({
            "median_gain": gain, "band_scale": round(scale, 4),
            "validation_mae_by_gain": gain_maes,
            "limits": limits, "trained_on": data_note, "seed": args.seed,
            "command": "python plugins/growth_forecast/training/train.py "
                       + " ".join(argv if argv is not None else sys.argv[1:]),
            "weights_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "size_space": "y = ln(d + 1 mm); the network predicts quantiles of y(target) - y(last); "
                          "the forecast's median is median_gain x the predicted median change",
        })
        (args.out / f"{arch}.json").write_text(json.dumps(config, indent=2) + "\n",
                                               encoding="utf-8")

    # --- validation table (tasks A and B), choice of the default -----------------------------
    report: dict[str, dict] = {}
    band = {float(k): v for k, v in change_q.items()}

    def fit(d, x):
        return baselines.fit_all(d, x, change_quantiles=band)

    cf = lambda d, x, t: fit(d, x)["carry_forward"].predict(t)  # noqa: E731
    methods = {}
    for arch in args.archs:
        fc = load(arch, args.out)
        methods[arch] = fc.forecast
        methods[arch + "_int8"] = fc.int8().forecast
    def law_forecast(law: str):
        return lambda d, x, t: fit(d, x)[law].predict(t)

    for law in ("carry_forward", "exponential", "gompertz", "bertalanffy"):
        methods[law] = law_forecast(law)
    for name, fn in methods.items():
        report[name] = {task: metrics(run_method(c, fn, fallback=cf)) for task, c in cases.items()}
    print("\nvalidation split (for choosing; not the reported test figures)")
    print(f"{'method':<20}{'task':>5}{'n':>5}{'MAE mm':>9}{'MAE lnV':>9}{'cov80':>7}"
          f"{'pinball':>9}{'cat':>7}")
    for name, per_task in report.items():
        for task, m in per_task.items():
            print(f"{name:<20}{task:>5}{int(m['n']):>5}{fmt(m['mae_mm'], 2):>9}"
                  f"{fmt(m['mae_logvol']):>9}{fmt(m['coverage80'], 2):>7}{fmt(m['pinball'], 4):>9}"
                  f"{fmt(m['category_acc'], 2):>7}")
    score = {a: np.mean([report[a][t]["pinball"] for t in ("A", "B")]) for a in args.archs}
    default = args.default or min(score, key=score.get)
    current = args.out / "default.json"
    archs_on_disk = [a for a in ARCHITECTURES if (args.out / f"{a}.json").exists()]
    (args.out / "default.json").write_text(json.dumps({
        "default": default, "rule": "lowest mean validation pinball loss over tasks A and B",
        "validation_pinball": {a: round(float(s), 5) for a, s in score.items()},
        "architectures": archs_on_disk}, indent=2) + "\n", encoding="utf-8")
    print(f"\ndefault: {default} ({current})")
    sizes = {}
    for arch in args.archs:
        fc = load(arch, args.out)
        sizes[arch] = {"float32_safetensors_bytes": (args.out / f"{arch}.safetensors").stat().st_size,
                       "int8_state_bytes": byte_size(fc.int8().model.state_dict()),
                       "float32_state_bytes": byte_size(fc.model.state_dict())}
    (args.out / "validation_report.json").write_text(json.dumps(
        {"validation": report, "sizes": sizes, "seed": args.seed,
         "wall_seconds": round(time.perf_counter() - t0, 1)}, indent=2) + "\n",
        encoding="utf-8")
    print("sizes:", json.dumps(sizes))
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
