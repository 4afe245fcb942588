"""Train the phantom 3-D U-Net on synthetic patients and write a model package.

Usage (from the repository root, with Interval installed)::

    python plugins/interval_unet/training/train.py --out plugins/interval_unet/models/phantom-ct \
        --epochs 40 --seed 0

Cases come from the synthetic patient generator (training seeds 0..n_cases-1, a
random timepoint each; validation seeds start at 1000 and are never trained on).
Patches of ``--patch`` voxels are drawn at random, a third of them centred on a
foreground voxel of a randomly chosen class (nnU-Net's oversampling); the loss
is cross-entropy + soft Dice; the optimiser AdamW with a polynomial decay.
After every epoch ``model.json`` and ``weights.safetensors`` are (re)written in
``--out``, so a package exists whenever training stops.  ``--max-minutes``
bounds the wall time (the learning-rate decay follows whichever of epochs or
time runs out first).  ``--hard-lesions P`` draws each organ lesion of the
training patients *hard* with chance P (low contrast and/or on its organ's
border, kidney lesions bulging out of the kidney); 0, the default, draws the usual
patients.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import phantom_data as pdata  # sits beside this script
import torch
import torch.nn.functional as F  # noqa: N812

from interval.ai.networks import build_network
from interval.io.synthetic.phantom import label_table

NETWORK_PARAMS = {"in_channels": 1, "out_channels": pdata.N_CLASSES, "base_channels": 16,
                  "num_stages": 4, "max_channels": 128, "norm": "instance"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="model package folder to write")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--iters-per-epoch", type=int, default=50)
    p.add_argument("--seed", type=int, default=0, help="seed of weights, sampling and case choice")
    p.add_argument("--n-cases", type=int, default=60, help="training patients (seeds 0..n-1)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--patch", type=int, nargs=3, default=[64, 64, 64], metavar=("Z", "Y", "X"))
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", default="auto",
                   help="torch CPU threads, or auto: 2 on an idle machine, 1 when it is busy "
                        "(oversubscribed OpenMP threads made training 2-3x slower here)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after this wall time")
    p.add_argument("--cache", type=Path, default=Path("/tmp/interval_unet_cache"))
    p.add_argument("--init", type=Path, default=None, help="start from these safetensors weights")
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16",
                   help="bf16 autocast of the forward pass (2.5x less CPU time here; weights, "
                        "optimiser and loss stay float32)")
    p.add_argument("--fg-fraction", type=float, default=1 / 3,
                   help="chance that a patch (after the first of a batch) is centred on foreground")
    p.add_argument("--lesion-weight", type=float, default=3.0,
                   help="weight of the lesion and lymph-node classes when choosing the class of a "
                        "forced patch")
    p.add_argument("--lesion-ce-weight", type=float, default=1.0,
                   help="cross-entropy weight of the lesion class (the others weigh 1)")
    p.add_argument("--monitor-every", type=int, default=10, help="epochs between monitor Dice")
    p.add_argument("--max-timepoints", type=int, default=3,
                   help="each training patient has 3..this many scans (one drawn per case); "
                        "later scans hold more new, shrinking and vanishing lesions")
    p.add_argument("--min-lesions", type=int, default=None,
                   help="draw each training patient with min-lesions..12 organ lesions "
                        "(default: the generator's own random count)")
    p.add_argument("--lesion-sampling", choices=("voxel", "region"), default="voxel",
                   help="how a patch forced onto a lesion or lymph node picks its centre: a "
                        "random voxel (large lesions dominate) or a random region, each "
                        "region equally likely and regions under --small-ml twice as likely")
    p.add_argument("--hard-lesions", type=probability_arg, default=0.0, metavar="P",
                   help="chance that an organ lesion of a training patient is drawn hard: low "
                        "contrast (8-20 HU from its organ; ground glass in the lung) and/or on "
                        "its organ's border (kidney lesions bulge out of the kidney); 0: the usual "
                        "patients")
    p.add_argument("--small-ml", type=float, default=0.5)
    p.add_argument("--kidney-boost", type=float, default=1.0,
                   help="with region sampling, lesions in the kidney are this much likelier")
    return p.parse_args(argv)


def probability_arg(text: str) -> float:
    """An argparse type: a number between 0 and 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


# --- data ---------------------------------------------------------------------------------

LESION_CLASSES = (9, 10)  # lesion, lymph node: the classes sampled region by region


def _host_label(labels: np.ndarray, components: np.ndarray, k: int,
                box: tuple[slice, ...]) -> int:
    """The label around region ``k`` (the most common non-lesion label in a 2-voxel shell);
    ``box`` is the region's bounding box (``ndimage.find_objects``)."""
    from scipy import ndimage

    box = tuple(slice(max(s.start - 3, 0), s.stop + 3) for s in box)
    region = components[box] == k
    shell = ndimage.binary_dilation(region, iterations=2) & ~region
    around = labels[box][shell]
    around = around[~np.isin(around, LESION_CLASSES)]
    return int(np.bincount(around).argmax()) if around.size else 0


class PatchSampler:
    """Random patches of normalised CT and labels; 1/3 forced onto a foreground class."""

    def __init__(self, cases: list[pdata.Case], mean: float, std: float,
                 patch: tuple[int, int, int], rng: np.random.Generator,
                 fg_fraction: float = 1 / 3, lesion_weight: float = 3.0,
                 region_sampling: bool = False, small_voxels: int = 0,
                 host_boost: dict[int, float] | None = None) -> None:
        from scipy import ndimage

        self.patch = np.array(patch)
        self.fg_fraction = fg_fraction
        self.lesion_weight = lesion_weight
        self.rng = rng
        host_boost = host_boost or {}
        self.images = [pdata.normalize(c.hu, mean, std).astype(np.float16) for c in cases]
        self.labels = [c.labels for c in cases]
        self.air = np.float16((pdata.CT_CLIP[0] - mean) / std)
        self.fg: list[dict[int, np.ndarray]] = []
        # per case and lesion class: (voxel indices of each region, sampling weight of each)
        self.regions: list[dict[int, tuple[list[np.ndarray], np.ndarray]]] = []
        for lab in self.labels:
            per = {}
            for v in range(1, pdata.N_CLASSES):
                idx = np.flatnonzero(lab == v)
                if len(idx):
                    per[v] = np.sort(rng.choice(idx, size=min(len(idx), 4000), replace=False))
            self.fg.append(per)
            regions = {}
            if region_sampling:
                for v in LESION_CLASSES:
                    if v not in per:
                        continue
                    comp, n = ndimage.label(lab == v)
                    boxes = ndimage.find_objects(comp)
                    flat = comp.ravel()
                    inside = np.flatnonzero(flat)
                    order = inside[np.argsort(flat[inside], kind="stable")]
                    bounds = np.searchsorted(flat[order], np.arange(1, n + 2))
                    parts = [order[bounds[k]:bounds[k + 1]].copy() for k in range(n)]
                    w = np.array([(2.0 if len(q) < small_voxels else 1.0)
                                  * (host_boost.get(_host_label(lab, comp, k + 1, boxes[k]), 1.0))
                                  for k, q in enumerate(parts)])
                    regions[v] = (parts, w / w.sum())
            self.regions.append(regions)

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for b in range(batch):
            i = int(self.rng.integers(len(self.images)))
            img, lab, fg = self.images[i], self.labels[i], self.fg[i]
            shape = np.array(img.shape)
            if b % 3 == 0 or self.rng.random() < self.fg_fraction:  # >= 1 forced per batch
                classes = sorted(fg)
                w = np.array([self.lesion_weight if c in LESION_CLASSES else 1.0
                              for c in classes])
                c = int(self.rng.choice(classes, p=w / w.sum()))
                if c in self.regions[i]:
                    parts, pw = self.regions[i][c]
                    flat = int(self.rng.choice(parts[int(self.rng.choice(len(parts), p=pw))]))
                else:
                    flat = int(self.rng.choice(fg[c]))
                centre = np.array(np.unravel_index(flat, lab.shape))
                centre += self.rng.integers(-self.patch // 4, self.patch // 4 + 1)
            else:
                centre = np.array([self.rng.integers(0, n) for n in shape])
            lo = centre - self.patch // 2
            xs.append(self._crop(img, lo, self.air))
            ys.append(self._crop(lab, lo, 0))
        x = torch.from_numpy(np.stack(xs)[:, None].astype(np.float32))
        y = torch.from_numpy(np.stack(ys).astype(np.int64))
        # Intensity augmentation: contrast and brightness (in normalised units), mild noise.
        scale = torch.from_numpy(self.rng.uniform(0.9, 1.1, (batch, 1, 1, 1, 1))).float()
        shift = torch.from_numpy(self.rng.uniform(-0.1, 0.1, (batch, 1, 1, 1, 1))).float()
        x = x * scale + shift
        return x, y

    def _crop(self, a: np.ndarray, lo: np.ndarray, fill) -> np.ndarray:
        return crop(a, lo, self.patch, fill)


def crop(a: np.ndarray, lo: np.ndarray, patch: np.ndarray, fill) -> np.ndarray:
    """The ``patch``-sized window of ``a`` starting at ``lo`` (may reach outside: ``fill``)."""
    out = np.full(tuple(patch), fill, dtype=a.dtype)
    src_lo = np.maximum(lo, 0)
    src_hi = np.minimum(lo + patch, a.shape)
    if np.any(src_hi <= src_lo):
        return out
    dst_lo = src_lo - lo
    dst_hi = dst_lo + (src_hi - src_lo)
    out[tuple(slice(s, e) for s, e in zip(dst_lo, dst_hi, strict=True))] = \
        a[tuple(slice(s, e) for s, e in zip(src_lo, src_hi, strict=True))]
    return out


# --- loss ---------------------------------------------------------------------------------

def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor,
                 ce_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy (optionally class-weighted) + (1 - soft Dice over the foreground
    classes, batch Dice as nnU-Net)."""
    ce = F.cross_entropy(logits, target, weight=ce_weight)
    prob = logits.softmax(1)
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 4, 1, 2, 3).to(prob.dtype)
    dims = (0, 2, 3, 4)
    inter = (prob * onehot).sum(dims)
    denom = prob.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + 1e-5) / (denom + 1e-5)
    return ce + (1 - dice[1:].mean())


# --- inference for monitoring ---------------------------------------------------------------

@torch.no_grad()
def predict_model_grid(net: torch.nn.Module, image: np.ndarray, patch: tuple[int, int, int],
                       overlap: float = 0.5, batch: int = 2) -> np.ndarray:
    """Argmax labels of a normalised model-grid image by a Gaussian-weighted sliding window.

    A plain re-implementation used while training and as the fallback of validate.py;
    users get the engine's (interval.ai.engine.segment).
    """
    net.eval()
    pz, py, px = patch
    pad = [max(p - n, 0) for p, n in zip(patch, image.shape, strict=True)]
    img = np.pad(image, [(0, p) for p in pad], constant_values=float(image.min()))
    shape = img.shape
    starts = []
    for n, p in zip(shape, patch, strict=True):
        step = max(1, int(p * (1 - overlap)))
        s = list(range(0, n - p + 1, step))
        if s[-1] != n - p:
            s.append(n - p)
        starts.append(s)
    sigma = [p / 8 for p in patch]
    g = [np.exp(-0.5 * ((np.arange(p) - (p - 1) / 2) / s) ** 2) for p, s in zip(patch, sigma, strict=True)]
    w = torch.from_numpy((g[0][:, None, None] * g[1][None, :, None] * g[2][None, None, :])
                         .astype(np.float32))
    w = torch.clamp(w / w.max(), min=1e-3)
    nc = net.config.out_channels if hasattr(net, "config") else None
    acc = None
    norm = torch.zeros(shape)
    coords = [(z, y, x) for z in starts[0] for y in starts[1] for x in starts[2]]
    t = torch.from_numpy(img.astype(np.float32))
    for k in range(0, len(coords), batch):
        chunk = coords[k:k + batch]
        xb = torch.stack([t[z:z + pz, y:y + py, x:x + px] for z, y, x in chunk])[:, None]
        out = net(xb).float().softmax(1)
        if acc is None:
            acc = torch.zeros((out.shape[1], *shape)) if nc is None else torch.zeros((nc, *shape))
        for (z, y, x), o in zip(chunk, out, strict=True):
            acc[:, z:z + pz, y:y + py, x:x + px] += o * w
            norm[z:z + pz, y:y + py, x:x + px] += w
    lab = acc.argmax(0).numpy().astype(np.uint8)
    return lab[:image.shape[0], :image.shape[1], :image.shape[2]]


def dice_per_label(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> dict[int, float]:
    """Dice of each foreground label (NaN where both are empty)."""
    out = {}
    for v in range(1, n_classes):
        p, t = pred == v, truth == v
        denom = int(p.sum()) + int(t.sum())
        out[v] = float("nan") if denom == 0 else 2 * int((p & t).sum()) / denom
    return out


# --- package ------------------------------------------------------------------------------

def model_json(mean: float, std: float, patch: tuple[int, int, int], extra: dict) -> dict:
    """The model.json of the trained package (format of interval.ai.model_package)."""
    return {
        "format": 1,
        "name": "phantom-unet",
        "version": "1.1.0",
        "task": "segmentation",
        "description": ("3-D U-Net trained ONLY on Interval's synthetic CT phantom (organs and "
                        "lesions). A demonstration model: not for clinical use."),
        "modality": ["CT"],
        "labels": [{"value": i.value, "name": i.name, "color": list(i.color)}
                   for i in label_table()],
        "target_spacing": list(pdata.MODEL_SPACING),
        "orientation": "LPS",
        "patch_size": list(patch),
        "normalization": {"scheme": "ct", "clip": list(pdata.CT_CLIP),
                          "mean": round(mean, 4), "std": round(std, 4)},
        "network": {"type": "builtin", "name": "unet3d", "params": dict(NETWORK_PARAMS),
                    "weights": "weights.safetensors"},
        "output": {"activation": "softmax", "channels": pdata.N_CLASSES},
        "inference": {"overlap": 0.25, "batch_size": 4, "mirror_tta": False, "blend": "gaussian"},
        # Organs that are one region in the phantom keep their largest region; specks of
        # kidney, lung, lesion and lymph node smaller than these volumes (mm^3) are dropped
        # (100 mm^3, a 5.8 mm sphere: chosen on the calibration seeds 3000-3009, where
        # islands under it were 51 of 113 false positives and 2 of 188 true regions).
        "postprocess": {"largest_component": [1, 2, 6, 7, 8],
                        "min_island_mm3": {"3": 1000, "4": 2000, "9": 100, "10": 100}},
        **extra,
    }


def dump_json(data: dict) -> str:
    """JSON with two-space indents and lists of numbers kept on one line."""
    text = json.dumps(data, indent=2)
    return re.sub(r"\[\s*([-0-9.,\s]+?)\s*\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
                  text) + "\n"


def save_package(net: torch.nn.Module, out: Path, spec: dict, info: dict) -> None:
    """Write weights.safetensors and model.json atomically into ``out``."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
    tmp = out / "weights.safetensors.tmp"
    save_file(state, str(tmp), metadata={k: str(v) for k, v in info.items()})
    tmp.replace(out / "weights.safetensors")
    tmp = out / "model.json.tmp"
    tmp.write_text(dump_json(spec))
    tmp.replace(out / "model.json")


def load_init(net: torch.nn.Module, path: Path) -> None:
    """Start from ``path``'s weights; a package with fewer output classes (the phantom
    before lymph nodes had their own label) gives the classes it has, the new ones
    keep their fresh initialisation."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    own = net.state_dict()
    for name, value in state.items():
        if name in own and own[name].shape != value.shape:
            grown = own[name].clone()
            grown[: value.shape[0]] = value
            state[name] = grown
            print(f"init: {name} {tuple(value.shape)} -> {tuple(grown.shape)}", flush=True)
    net.load_state_dict(state)


def _set_threads(threads: str) -> None:
    import os

    if threads == "auto":
        n = 1 if os.getloadavg()[0] > 2.5 else min(2, os.cpu_count() or 1)
    else:
        n = int(threads)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


# --- main ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _set_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    seeds = [s for s in pdata.TRAIN_SEEDS][: args.n_cases]
    cases = []
    for s in seeds:
        if args.max_timepoints == 3 and args.min_lesions is None:  # the original draw
            draw = pdata.PatientDraw()
        else:
            n_lesions = None if args.min_lesions is None else \
                int(rng.integers(args.min_lesions, 13))
            draw = pdata.PatientDraw(int(rng.integers(3, args.max_timepoints + 1)), n_lesions)
        if args.hard_lesions:  # drawn on top: the case choice above stays the same
            draw = dataclasses.replace(draw, hard_lesions=args.hard_lesions)
        tp = int(rng.integers(draw.n_timepoints))
        src = pdata.SOURCE_SHAPES[int(rng.integers(len(pdata.SOURCE_SHAPES)))]
        cases.append(pdata.cached_case(args.cache, s, tp, src, draw))
    print(f"{len(cases)} training cases ready in {time.perf_counter() - start:.0f} s", flush=True)
    mean, std = pdata.foreground_stats(cases)
    init_spec = args.init.parent / "model.json" if args.init else None
    if init_spec is not None and init_spec.is_file():  # keep the input scale the weights know
        norm = json.loads(init_spec.read_text())["normalization"]
        mean, std = float(norm["mean"]), float(norm["std"])
    print(f"CT foreground mean {mean:.2f} std {std:.2f}", flush=True)
    patch = tuple(args.patch)
    voxel_ml = float(np.prod(pdata.MODEL_SPACING)) / 1000.0
    sampler = PatchSampler(cases, mean, std, patch, rng, args.fg_fraction, args.lesion_weight,
                           args.lesion_sampling == "region", int(args.small_ml / voxel_ml),
                           {3: args.kidney_boost})
    monitor = [pdata.cached_case(args.cache, s, s % 3, pdata.SOURCE_SHAPES[0])
               for s in (2000,)]  # held out, distinct from the validation seeds
    del cases

    net = build_network("unet3d", NETWORK_PARAMS)
    if args.init:
        load_init(net, args.init)
    n_params = sum(p.numel() for p in net.parameters())
    print(f"unet3d {NETWORK_PARAMS} : {n_params} parameters", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-5)
    total = args.epochs * args.iters_per_epoch
    budget = args.max_minutes * 60 if args.max_minutes else math.inf
    t_train = time.perf_counter()
    it, running = 0, []
    ce_weight = None
    if args.lesion_ce_weight != 1.0:
        ce_weight = torch.ones(pdata.N_CLASSES)
        ce_weight[list(LESION_CLASSES)] = args.lesion_ce_weight
    lesion_stats = np.zeros(3)
    spec = model_json(mean, std, patch, {})
    for epoch in range(args.epochs):
        net.train()
        _set_threads(args.threads)
        for _ in range(args.iters_per_epoch):
            progress = max(it / total, (time.perf_counter() - t_train) / budget)
            if progress >= 1:
                break
            for group in opt.param_groups:
                group["lr"] = args.lr * (1 - progress) ** 0.9
            x, y = sampler.sample(args.batch)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                logits = net(x)
            loss = dice_ce_loss(logits.float(), y, ce_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 12.0)
            opt.step()
            running.append(float(loss.detach()))
            with torch.no_grad():
                hit = logits.argmax(1) == 9
                truth = y == 9
                lesion_stats += np.array([float((hit & truth).sum()), float(hit.sum()),
                                          float(truth.sum())])
            it += 1
        elapsed = time.perf_counter() - t_train
        les = 2 * lesion_stats[0] / max(lesion_stats[1] + lesion_stats[2], 1.0)
        lesion_stats[:] = 0
        print(f"epoch {epoch + 1} iter {it} loss {np.mean(running):.4f} train-lesion-Dice {les:.3f} "
              f"lr {opt.param_groups[0]['lr']:.2e} {elapsed / 60:.1f} min", flush=True)
        running = []
        info = {"epoch": epoch + 1, "iterations": it, "train_seconds": round(elapsed),
                "seed": args.seed, "n_cases": len(seeds), "patch": list(patch),
                "batch": args.batch, "precision": args.precision,
                "fg_fraction": round(args.fg_fraction, 4), "lesion_weight": args.lesion_weight,
                "lesion_ce_weight": args.lesion_ce_weight,
                "max_timepoints": args.max_timepoints, "min_lesions": args.min_lesions,
                "lesion_sampling": args.lesion_sampling, "kidney_boost": args.kidney_boost,
                "hard_lesions": args.hard_lesions}
        save_package(net, args.out, spec, info)
        done = it >= total or elapsed >= budget
        if done or (epoch + 1) % args.monitor_every == 0:
            scores = []
            for c in monitor:
                img = pdata.normalize(c.hu, mean, std)
                with torch.autocast("cpu", dtype=torch.bfloat16,
                                    enabled=args.precision == "bf16"):
                    pred = predict_model_grid(net, img, patch, 0.0)
                scores.append(dice_per_label(pred, c.labels, pdata.N_CLASSES))
            line = " ".join(f"{label_table()[v].name}={np.nanmean([s[v] for s in scores]):.3f}"
                            for v in range(1, pdata.N_CLASSES))
            print(f"  monitor Dice (model grid, seed 2000): {line}", flush=True)
        if done:
            break
    print(f"done: {it} iterations in {(time.perf_counter() - t_train) / 60:.1f} min; "
          f"package in {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
