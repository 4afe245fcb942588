"""Train the temporal (CNN + RNN) phantom model and write its model package.

Usage (from the repository root, with Interval installed)::

    python plugins/interval_unet/training/train_temporal.py \
        --out plugins/interval_unet/models/phantom-ct-temporal \
        --init plugins/interval_unet/models/phantom-ct/weights.safetensors --max-minutes 40

The network is ``unet3d_convgru`` (:mod:`interval.ai.networks.unet3d_convgru`): the
single-timepoint U-Net's encoder run on every frame, ConvGRU cells at the deep
stages, the U-Net's decoder on the last frame.  ``--init`` loads a trained U-Net
(same parameter names); the GRU fusion starts at zero, so training starts from that
U-Net's output and learns what the earlier scans add.

Each training sequence is one scan of a training patient (seeds 0..n-1, 3 to
``--max-timepoints`` scans, at least ``--min-lesions`` lesions) with up to
``--priors`` earlier scans in its space (:mod:`temporal_data`); a batch uses 1 to
``--priors`` + 1 frames (fewer when the scan has fewer earlier ones; 1 frame = a
baseline), each earlier frame shifted by up to ``--jitter`` voxels per axis (the
error a registration leaves).  Patches, loss, optimiser and learning-rate decay are
those of ``train.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import phantom_data as pdata  # sits beside this script
import temporal_data as tdata
import torch
from train import (
    LESION_CLASSES,
    NETWORK_PARAMS,
    crop,
    dice_ce_loss,
    dice_per_label,
    model_json,
    probability_arg,
    save_package,
)

from interval.ai.networks import build_network
from interval.ai.sliding_window import sliding_window_inference


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="model package folder to write")
    p.add_argument("--init", type=Path, default=None,
                   help="start from these safetensors weights (a unet3d or unet3d_convgru)")
    p.add_argument("--epochs", type=int, default=400)
    p.add_argument("--iters-per-epoch", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-cases", type=int, default=64, help="training sequences (seeds 0..n-1)")
    p.add_argument("--priors", type=int, default=2, help="earlier scans per sequence at most")
    p.add_argument("--max-timepoints", type=int, default=6)
    p.add_argument("--min-lesions", type=int, default=4)
    p.add_argument("--jitter", type=int, default=2, help="registration error, voxels per axis")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--patch", type=int, nargs=3, default=[64, 64, 64], metavar=("Z", "Y", "X"))
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--cache", type=Path, default=Path("/tmp/interval_unet_cache"))
    p.add_argument("--fg-fraction", type=float, default=0.5)
    p.add_argument("--lesion-ce-weight", type=float, default=15.0)
    p.add_argument("--monitor-every", type=int, default=10)
    p.add_argument("--hard-lesions", type=probability_arg, default=0.0, metavar="P",
                   help="chance that an organ lesion is drawn hard (see train.py)")
    return p.parse_args(argv)


GRU_PARAMS = {"gru_stages": [2, 3], "gru_kernel": 3, "max_frames": 3}


class SequenceSampler:
    """Patches of ``T`` frames (same position in every frame) and the last frame's labels."""

    def __init__(self, seqs: list[tdata.Sequence], mean: float, std: float,
                 patch: tuple[int, int, int], rng: np.random.Generator, fg_fraction: float,
                 jitter: int) -> None:
        from scipy import ndimage

        self.patch = np.array(patch)
        self.rng = rng
        self.fg_fraction = fg_fraction
        self.jitter = jitter
        self.air = np.float16((pdata.CT_CLIP[0] - mean) / std)
        self.frames = [pdata.normalize(s.frames, mean, std).astype(np.float16) for s in seqs]
        self.labels = [s.labels for s in seqs]
        self.targets: list[list[np.ndarray]] = []  # lesion regions, then organ voxels
        for lab in self.labels:
            spots = []
            for v in LESION_CLASSES:
                comp, n = ndimage.label(lab == v)
                for k in range(1, n + 1):
                    spots.append(np.flatnonzero(comp == k))
            organs = np.flatnonzero((lab > 0) & ~np.isin(lab, LESION_CLASSES))
            if len(organs):
                spots.append(rng.choice(organs, size=min(len(organs), 4000), replace=False))
            self.targets.append(spots)

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        i0 = int(self.rng.integers(len(self.frames)))
        n_frames = int(self.rng.integers(1, self.frames[i0].shape[0] + 1))
        xs, ys = [], []
        for b in range(batch):
            i = i0 if b == 0 else int(self.rng.integers(len(self.frames)))
            while self.frames[i].shape[0] < n_frames:
                i = int(self.rng.integers(len(self.frames)))
            frames, lab = self.frames[i][-n_frames:], self.labels[i]
            spots = self.targets[i]
            if spots and (b == 0 or self.rng.random() < self.fg_fraction):
                # lesion regions (each equally likely) three times as often as organs
                w = np.array([3.0] * (len(spots) - 1) + [1.0]) if len(spots) > 1 else np.ones(1)
                spot = spots[int(self.rng.choice(len(spots), p=w / w.sum()))]
                centre = np.array(np.unravel_index(int(self.rng.choice(spot)), lab.shape))
                centre += self.rng.integers(-self.patch // 4, self.patch // 4 + 1)
            else:
                centre = np.array([self.rng.integers(0, n) for n in lab.shape])
            lo = centre - self.patch // 2
            crops = []
            for k, f in enumerate(frames):
                if k < len(frames) - 1 and self.jitter:
                    shift = self.rng.integers(-self.jitter, self.jitter + 1, 3)
                    crops.append(self._crop(f, lo + shift, self.air))
                else:
                    crops.append(self._crop(f, lo, self.air))
            xs.append(np.stack(crops))
            ys.append(self._crop(lab, lo, 0))
        x = torch.from_numpy(np.stack(xs).astype(np.float32))
        y = torch.from_numpy(np.stack(ys).astype(np.int64))
        scale = torch.from_numpy(self.rng.uniform(0.9, 1.1, (batch, 1, 1, 1, 1))).float()
        shift = torch.from_numpy(self.rng.uniform(-0.1, 0.1, (batch, 1, 1, 1, 1))).float()
        return x * scale + shift, y

    def _crop(self, a: np.ndarray, lo: np.ndarray, fill) -> np.ndarray:
        return crop(a, lo, self.patch, fill)


def temporal_model_json(mean: float, std: float, patch: tuple[int, int, int],
                        priors: int) -> dict:
    """The package's model.json: the U-Net's, with the temporal network and inputs."""
    spec = model_json(mean, std, patch, {})
    spec["name"] = "phantom-unet-temporal"
    spec["description"] = (
        "3-D U-Net + ConvGRU trained ONLY on Interval's synthetic CT phantom: segments a "
        "follow-up scan using the earlier scans registered to it. A demonstration model: "
        "not for clinical use.")
    spec["network"] = {"type": "builtin", "name": "unet3d_convgru",
                       "params": {**NETWORK_PARAMS, **GRU_PARAMS},
                       "weights": "weights.safetensors"}
    spec["temporal"] = {"prior_timepoints": priors}
    return spec


def monitor_dice(net: torch.nn.Module, seq: tdata.Sequence, mean: float, std: float,
                 patch: tuple[int, int, int]) -> dict[int, float]:
    """Dice per label of one held-out sequence (model grid, no clean-up)."""
    image = torch.from_numpy(pdata.normalize(seq.frames, mean, std))
    net.eval()
    with torch.no_grad():
        logits = sliding_window_inference(image, net, patch, overlap=0.25, optimize=False)
    return dice_per_label(logits.argmax(0).numpy(), seq.labels, pdata.N_CLASSES)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    seqs = []
    for s in list(pdata.TRAIN_SEEDS)[: args.n_cases]:
        draw = pdata.PatientDraw(int(rng.integers(3, args.max_timepoints + 1)),
                                 int(rng.integers(args.min_lesions, 13)))
        if args.hard_lesions:  # drawn on top: the sequence choice stays the same
            draw = dataclasses.replace(draw, hard_lesions=args.hard_lesions)
        # follow-ups four times as often as baselines: that is where the priors matter
        w = np.array([1.0] + [4.0] * (draw.n_timepoints - 1))
        tp = int(rng.choice(draw.n_timepoints, p=w / w.sum()))
        src = pdata.SOURCE_SHAPES[int(rng.integers(len(pdata.SOURCE_SHAPES)))]
        seqs.append(tdata.cached_sequence(args.cache, s, tp, args.priors, draw, src))
    print(f"{len(seqs)} training sequences ready in {time.perf_counter() - start:.0f} s",
          flush=True)
    mean, std = pdata.foreground_stats([pdata.Case(q.seed, q.timepoint, (0, 0, 0), q.frames[-1],
                                                   q.labels) for q in seqs])
    if args.init and (args.init.parent / "model.json").is_file():
        import json

        norm = json.loads((args.init.parent / "model.json").read_text())["normalization"]
        mean, std = float(norm["mean"]), float(norm["std"])
    patch = tuple(args.patch)
    sampler = SequenceSampler(seqs, mean, std, patch, rng, args.fg_fraction, args.jitter)
    monitor = tdata.cached_sequence(args.cache, 2001, 2, args.priors,
                                    pdata.PatientDraw(3, None), pdata.SOURCE_SHAPES[0])
    del seqs

    net = build_network("unet3d_convgru", {**NETWORK_PARAMS, **GRU_PARAMS})
    if args.init:
        from safetensors.torch import load_file

        result = net.load_state_dict(load_file(str(args.init)), strict=False)
        if result.unexpected_keys or any(not k.startswith(("gru.", "fuse."))
                                         for k in result.missing_keys):
            raise SystemExit(f"--init does not fit: {result}")
        print(f"init from {args.init} (new: {len(result.missing_keys)} temporal tensors)",
              flush=True)
    print(f"unet3d_convgru: {sum(p.numel() for p in net.parameters())} parameters", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-5)
    ce_weight = torch.ones(pdata.N_CLASSES)
    ce_weight[list(LESION_CLASSES)] = args.lesion_ce_weight
    total = args.epochs * args.iters_per_epoch
    budget = args.max_minutes * 60 if args.max_minutes else math.inf
    spec = temporal_model_json(mean, std, patch, args.priors)
    t0, it, running = time.perf_counter(), 0, []
    for epoch in range(args.epochs):
        net.train()
        for _ in range(args.iters_per_epoch):
            progress = max(it / total, (time.perf_counter() - t0) / budget)
            if progress >= 1:
                break
            for group in opt.param_groups:
                group["lr"] = args.lr * (1 - progress) ** 0.9
            x, y = sampler.sample(args.batch)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = net(x)
            loss = dice_ce_loss(logits.float(), y, ce_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 12.0)
            opt.step()
            running.append(float(loss.detach()))
            it += 1
        elapsed = time.perf_counter() - t0
        print(f"epoch {epoch + 1} iter {it} loss {np.mean(running):.4f} "
              f"lr {opt.param_groups[0]['lr']:.2e} {elapsed / 60:.1f} min", flush=True)
        running = []
        info = {"epoch": epoch + 1, "iterations": it, "train_seconds": round(elapsed),
                "seed": args.seed, "n_cases": args.n_cases, "priors": args.priors,
                "jitter": args.jitter, "init": str(args.init.name if args.init else ""),
                "hard_lesions": args.hard_lesions}
        save_package(net, args.out, spec, info)
        done = it >= total or elapsed >= budget
        if done or (epoch + 1) % args.monitor_every == 0:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                d = monitor_dice(net, monitor, mean, std, patch)
            print("  monitor Dice (seed 2001, tp 2): " + " ".join(
                f"{v}={d[v]:.3f}" for v in d), flush=True)
        if done:
            break
    print(f"done: {it} iterations in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
