"""Validate the phantom U-Net on held-out synthetic patients through Interval's own engine.

Usage (from the repository root)::

    python plugins/interval_unet/training/validate.py \
        --model plugins/interval_unet/models/phantom-ct

Each validation case is synthetic patient ``seed`` (1000..1009 by default: never
used for training, which draws seeds below 1000) at timepoint ``seed % 3``,
rendered on the demo patient's scanner grid (140 x 256 x 256 at 1.5 x 1.5 x 2.5 mm)
as a :class:`~interval.core.volume.Volume`, and segmented by
:func:`interval.ai.engine.segment` with the package's model.json: the same path
(resample, normalise, sliding window, argmax, nearest-neighbour back, clean-up)
that the viewer and ``interval segment`` use.  Dice per label is measured on that
original grid against the generator's ground truth, without clean-up ("raw") and
with model.json's post-processing ("model.json": what users get).  ``--own-inference`` uses the
training script's plain sliding window instead (for when the engine is unavailable).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from interval.io.synthetic.phantom import DEFAULT_SHAPE, LABELS, generate_phantom

sys.path.insert(0, str(Path(__file__).resolve().parent))
import phantom_data as pdata  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", type=Path,
                   default=Path(__file__).resolve().parents[1] / "models" / "phantom-ct")
    p.add_argument("--seeds", type=int, nargs="+", default=list(pdata.VALIDATION_SEEDS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--overlap", type=float, default=None, help="override model.json's overlap")
    p.add_argument("--try-postprocess", default=None,
                   help='also score another clean-up, e.g. \'{"largest_component": [1, 2]}\'')
    p.add_argument("--own-inference", action="store_true",
                   help="plain sliding window of train.py instead of interval.ai.engine")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    return p.parse_args(argv)


def dice(pred: np.ndarray, truth: np.ndarray, value: int) -> float:
    p, t = pred == value, truth == value
    denom = int(p.sum()) + int(t.sum())
    return float("nan") if denom == 0 else 2.0 * int((p & t).sum()) / denom


def _own_segment(model: Path, volume, threads: int) -> np.ndarray:
    import torch
    import train
    from safetensors.torch import load_file

    from interval.ai.networks import build_network

    torch.set_num_threads(threads)
    spec = json.loads((model / "model.json").read_text())
    net = build_network(spec["network"]["name"], spec["network"]["params"])
    net.load_state_dict(load_file(str(model / spec["network"]["weights"])))
    hu = pdata.resample_linear(volume.array, pdata.MODEL_SHAPE)
    norm = spec["normalization"]
    lab = train.predict_model_grid(net, pdata.normalize(hu, norm["mean"], norm["std"]),
                                   tuple(spec["patch_size"]), spec["inference"]["overlap"])
    idx = []
    for n_in, n_out in zip(volume.array.shape, lab.shape, strict=True):
        i = np.arange(n_in)
        idx.append(np.minimum(((2 * i + 1) * n_out) // (2 * n_in), n_out - 1))
    return lab[np.ix_(*idx)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.own_inference:
        from interval.ai.engine import segment
        from interval.ai.model_package import load_model_spec
        from interval.ai.options import InferenceOptions

        spec = load_model_spec(args.model)
        opts = InferenceOptions(device="cpu", threads=args.threads, overlap=args.overlap,
                                cleanup=False)
    from interval.ai.model_package import load_model_spec, parse_model_spec
    from interval.ai.postprocess import apply_postprocess

    raw_spec = json.loads((args.model / "model.json").read_text())
    variants = {"raw": None}
    if load_model_spec(args.model).postprocess.is_empty is False:
        variants["model.json"] = load_model_spec(args.model).postprocess
    if args.try_postprocess:
        trial = {**raw_spec, "postprocess": json.loads(args.try_postprocess)}
        variants["candidate"] = parse_model_spec(trial, args.model).postprocess
    names = {v: n for v, n in LABELS.items()}
    rows = []
    for seed in args.seeds:
        tp = seed % 3
        ph = generate_phantom(seed, shape=DEFAULT_SHAPE, timepoint=tp)
        vol = ph.ct_volume()
        t0 = time.perf_counter()
        if args.own_inference:
            pred = _own_segment(args.model, vol, args.threads)
        else:
            result = segment(vol, spec, opts)
            pred = result.labels.array
            assert pred.shape == ph.labels.shape
        secs = time.perf_counter() - t0
        row = {"seed": seed, "timepoint": tp, "seconds": round(secs, 1)}
        for variant, post in variants.items():
            labels = pred
            if post is not None:
                labels = pred.copy()
                apply_postprocess(labels, post, vol.voxel_volume_mm3())
            scores = {v: dice(labels, ph.labels, v) for v in names}
            row[variant] = {names[v]: round(s, 4) for v, s in scores.items()}
            print(f"seed {seed} tp {tp} ({secs:.0f} s) {variant:10s}: "
                  + " ".join(f"{names[v]}={s:.3f}" for v, s in scores.items()), flush=True)
        rows.append(row)
    how = "own sliding window" if args.own_inference else "interval.ai.engine.segment"
    summary = {}
    for variant in variants:
        mean = {n: float(np.nanmean([r[variant][n] for r in rows])) for n in names.values()}
        summary[variant] = mean
        print(f"\n[{variant}] mean Dice per label over {len(rows)} held-out cases "
              f"(original 1.5 x 1.5 x 2.5 mm grid, {how}):")
        for n, v in mean.items():
            lo = min(r[variant][n] for r in rows)
            print(f"  {n:8s} {v:.3f}  (min {lo:.3f})")
    if args.json:
        args.json.write_text(json.dumps({"cases": rows, "mean": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
