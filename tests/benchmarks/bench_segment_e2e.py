"""End-to-end segmentation of the 512x512x400 CT: where the time goes.

Reads the synthetic DICOM series (``_bench_series.py`` writes it once), segments it
with a model package (a MONAI ``UNet``, channels 16-256, fixed seeded random
weights, as a ``plugin`` network with safetensors weights; 1.5 mm target spacing,
96³ patches, overlap 0.5, CT normalisation) through :func:`interval.ai.engine.segment`,
the package inside a small plugin folder written here (a model.json may only name its
plugin's own code: the plugin's one-line builder wraps MONAI's class),
writes the labels as NIfTI, and prints every phase.  Target (issue 4): everything
outside the network takes at most 25% of the total.

    python tests/benchmarks/bench_segment_e2e.py [--threads 2] [--spacing 1.5]
        [--slices 400] [--size 512] [--classes 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "app"))
from _bench_series import ensure_series  # noqa: E402

BUILDER = """\
def build(**params):
    from monai.networks.nets import UNet

    return UNet(**params)
"""


def write_plugin(folder: Path, classes: int, spacing: float) -> Path:
    """A plugin folder (manifest + builder module) declaring :func:`write_model`'s package
    ``models/bench-unet``; returns the package folder (the plugin's code folder is
    ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench_unet_net.py").write_text(BUILDER, encoding="utf-8")
    (folder / "interval-plugin.json").write_text(json.dumps({
        "id": "org.interval.bench-unet", "name": "Benchmark U-Net", "version": "0.0.0",
        "interval_api": ">=1.0,<2",
        "contributes": {"segmentation_models": ["models/bench-unet"]},
    }, indent=1), encoding="utf-8")
    return write_model(folder / "models" / "bench-unet", classes, spacing)


def write_model(folder: Path, classes: int, spacing: float) -> Path:
    """A model package with a seeded random MONAI UNet (safetensors weights), built by the
    plugin's ``bench_unet_net:build`` (see :func:`write_plugin`)."""
    import torch
    from monai.networks.nets import UNet
    from safetensors.torch import save_file

    params = {"spatial_dims": 3, "in_channels": 1, "out_channels": classes,
              "channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2], "num_res_units": 2}
    torch.manual_seed(0)
    net = UNet(**params)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()},
              str(folder / "weights.safetensors"))
    model = {
        "format": 1, "name": "bench-unet", "version": "0.0.0", "task": "segmentation",
        "modality": ["CT"],
        "labels": [{"value": v, "name": f"class {v}"} for v in range(1, classes)],
        "target_spacing": [spacing] * 3, "orientation": "LPS", "patch_size": [96, 96, 96],
        "normalization": {"scheme": "ct", "clip": [-1000, 1000], "mean": 0, "std": 500},
        "network": {"type": "plugin", "entry": "bench_unet_net:build", "params": params,
                    "weights": "weights.safetensors"},
        "output": {"activation": "softmax", "channels": classes},
        "inference": {"overlap": 0.5, "batch_size": 4, "mirror_tta": False, "blend": "gaussian"},
    }
    (folder / "model.json").write_text(json.dumps(model, indent=1), encoding="utf-8")
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spacing", type=float, default=1.5)
    ap.add_argument("--slices", type=int, default=400)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--root", type=Path, default=Path("/tmp/interval-bench"))
    args = ap.parse_args()

    import torch

    from interval.ai.engine import segment
    from interval.ai.model_package import load_model_spec
    from interval.ai.options import InferenceOptions
    from interval.io.dicom.load import load_dicom
    from interval.io.image_files import write_image

    torch.set_num_threads(args.threads)
    folder, _ = ensure_series(args.root, args.slices, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        plugin = Path(tmp) / "plugin"
        spec = load_model_spec(write_plugin(plugin, args.classes, args.spacing),
                               code_path=plugin)
        t_total = time.perf_counter()
        t0 = time.perf_counter()
        volume = load_dicom(folder)
        t_read = time.perf_counter() - t0
        res = segment(volume, spec, InferenceOptions(device="cpu"))
        t0 = time.perf_counter()
        write_image(res.labels, Path(tmp) / "seg.nii.gz")
        t_write = time.perf_counter() - t0
        total = time.perf_counter() - t_total

    phases = {"read": t_read, **res.timings, "write": t_write}
    print(f"input {volume.size_ijk} spacing {tuple(round(s, 3) for s in volume.spacing)}, "
          f"model spacing {args.spacing} mm, 96^3 patches, {args.threads} threads, "
          f"labels {res.labels.array.dtype}")
    print(f"{'phase':<14}{'seconds':>9}{'share':>8}")
    for name, sec in phases.items():
        print(f"{name:<14}{sec:>9.2f}{100 * sec / total:>7.1f}%")
    accounted = sum(phases.values())
    print(f"{'(other)':<14}{total - accounted:>9.2f}{100 * (total - accounted) / total:>7.1f}%")
    print(f"{'total':<14}{total:>9.2f}")
    outside = total - phases["network"]
    print(f"outside the network: {outside:.2f} s = {100 * outside / total:.1f}% "
          f"(target <= 25%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
