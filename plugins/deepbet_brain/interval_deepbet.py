"""deepbet brain extraction as an Interval segmentation network (adapter, first-party plugin).

deepbet (Fisch et al., MIT licence, https://github.com/wwu-mmll/deepbet) ships two
TorchScript networks with its PyPI package: a 128³ bounding-box network and a 256³
brain-mask network.  Its pipeline is not a sliding window: the whole head is resized
to 128³, the box network finds the brain, the box (plus a 10 % margin) is cropped,
resized to 256³ and segmented, and the mask is resized back into the box.

:func:`build_network` (``model.json`` ``network.entry``) returns :class:`DeepbetBrain`,
a ``torch.nn.Module`` doing exactly those steps on the whole volume the engine hands
it (model.json ``"inference": {"mode": "whole"}``: one forward pass on the whole
volume, no windows), so Interval's engine (reorientation to RAS, labels back onto the
DICOM grid, DICOM SEG / NIfTI output) runs deepbet's own networks.  The networks are located in
the installed ``deepbet`` package (never copied into Interval) and loaded with
``torch.jit.load`` - TorchScript files from an installed package, not pickles.

Conventions: the engine gives ``(B, 1, Z, Y, X)`` arrays of a volume reoriented to
RAS (index ``[k, j, i]``); deepbet works on nibabel's canonical ``[i, j, k]`` array,
so the module transposes in and out.  The output is one logit channel whose sign is
the final mask (``+1`` brain, ``-1`` background): deepbet's ``prob > 0.5`` threshold,
its largest 26-connected component and hole filling inside the box are applied here
(the engine's own clean-up is face-connected and has no hole filling).
"""

from __future__ import annotations

import warnings
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F

from interval.plugins.api import PluginError

MISSING_HINT = "This model needs the Python package deepbet (MIT licence): pip install deepbet"
SUPPORTED_SERIES = "1."  # deepbet major version whose pipeline this adapter reproduces
MODEL_FILES = {"brain": "model.pt", "bbox": "bbox_model.pt"}

# deepbet 1.0.2 constants (bet.py / utils.py)
SMALL_SHAPE = (128, 128, 128)
CROP_SHAPE = (256, 256, 256)
QUANTILES = (0.005, 0.995)
BBOX_MARGIN = 0.1
BBOX_THRESHOLD = 0.02
NORM_SCALE = 0.226
NORM_SHIFT = 0.449


def deepbet_models_dir() -> Path:
    """Folder of deepbet's TorchScript networks (``<site-packages>/data/models``).

    Found with :func:`importlib.util.find_spec` (deepbet's own code is not imported);
    raises :class:`PluginError` saying how to install deepbet when it is missing.
    """
    spec = find_spec("deepbet")
    if spec is None or spec.origin is None:
        raise PluginError(MISSING_HINT + ".")
    try:
        installed: str | None = version("deepbet")
    except PackageNotFoundError:  # e.g. a frozen build without package metadata
        installed = None
    if installed is not None and not installed.startswith(SUPPORTED_SERIES):
        raise PluginError(
            f"This adapter reproduces deepbet {SUPPORTED_SERIES}x but deepbet {installed} is "
            f"installed: pip install 'deepbet>={SUPPORTED_SERIES}0,<2'."
        )
    folder = Path(spec.origin).resolve().parents[1] / "data" / "models"
    missing = [name for name in MODEL_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise PluginError(
            f"The installed deepbet package has no {', '.join(missing)} (looked in {folder}); "
            "reinstall it: pip install --force-reinstall deepbet."
        )
    return folder


def _load_torchscript(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; it still loads
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu")
    return module.eval()


def normalize(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """deepbet's intensity normalisation: clip to [low, high] -> [0, 1], z-score, ImageNet grey."""
    x = (x - low) / (high - low)
    x = x.clamp(min=0, max=1)
    x = (x - x.mean()) / x.std()
    return NORM_SCALE * x + NORM_SHIFT


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a boolean mask (empty stays empty)."""
    if not mask.any():
        return mask
    img = sitk.GetImageFromArray(mask.astype(np.uint8))
    cc = sitk.RelabelComponent(sitk.ConnectedComponent(img, True), sortByObjectSize=True)
    return sitk.GetArrayFromImage(cc) == 1


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not (face-)connected to the array border (3-D voids)."""
    img = sitk.GetImageFromArray(mask.astype(np.uint8))
    return sitk.GetArrayFromImage(sitk.BinaryFillhole(img, False, 1)).astype(bool)


def bbox_with_margin(mask_small: torch.Tensor, shape: tuple[int, ...],
                     margin: float = BBOX_MARGIN) -> tuple[slice, slice, slice]:
    """deepbet's brain box: rows with > 2 % foreground, scaled to ``shape``, 10 % margin."""
    rs = [torch.where(mask_small.mean(dims) > BBOX_THRESHOLD)[0]
          for dims in [(1, 2), (0, 2), (0, 1)]]
    if any(r.numel() == 0 for r in rs):
        raise PluginError("deepbet found no head in this series (is it a brain MR?).")
    center = torch.tensor([(r.max() + 1 + r.min()) / 2 for r in rs])
    size = torch.tensor([(r.max() + 1) - r.min() for r in rs])
    margin_t = margin * torch.ones(3)
    scale = torch.tensor(shape) / torch.tensor(mask_small.shape)
    center, size = scale * center, scale * size
    size = (1 + 2 * margin_t) * size
    center, size = center.round(), size.round()
    box = [[int(c - s / 2), int(c + s / 2)] for c, s in zip(center, size, strict=True)]
    return tuple(slice(max(0, b[0]), min(n, b[1]), 1)  # type: ignore[return-value]
                 for b, n in zip(box, shape, strict=True))


class DeepbetBrain(torch.nn.Module):
    """deepbet's two-stage brain extraction on whole RAS volumes ``(B, 1, Z, Y, X)``.

    The TorchScript networks are held outside the module's parameters (they come from
    the installed deepbet package; model.json names no weights file) and follow the
    input's device; the engine runs the module once on the whole volume
    (``"inference": {"mode": "whole"}``).  ``postprocess``: largest component + hole
    filling (deepbet's default); ``threshold``: probability above which a voxel is brain.
    """

    def __init__(self, models_dir: Path, *, threshold: float = 0.5,
                 postprocess: bool = True) -> None:
        super().__init__()
        self.threshold = float(threshold)
        self.postprocess = bool(postprocess)
        self._nets = {key: _load_torchscript(models_dir / name)
                      for key, name in MODEL_FILES.items()}

    def _net(self, key: str, device: torch.device) -> torch.jit.ScriptModule:
        net = self._nets[key]
        if next(net.parameters()).device != device:
            net = self._nets[key] = net.to(device)
        return net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x, dtype=torch.float32)
        with torch.autocast(device_type=x.device.type, enabled=False):
            for b in range(x.shape[0]):
                ras = x[b, 0].permute(2, 1, 0).contiguous().float()  # [k,j,i] -> [i,j,k]
                mask = torch.from_numpy(self.extract(ras)).to(x.device)
                out[b, 0] = torch.where(mask, 1.0, -1.0).permute(2, 1, 0)
        return out

    def extract(self, x: torch.Tensor) -> np.ndarray:
        """Boolean brain mask of one canonical ``[i, j, k]`` volume (deepbet's run_model)."""
        device = x.device
        bbox_net, brain_net = self._net("bbox", device), self._net("brain", device)
        x = torch.nan_to_num(x)
        prob = torch.zeros_like(x)
        x_small = F.interpolate(x[None, None], SMALL_SHAPE, mode="nearest-exact")[0, 0]
        low, high = x_small.quantile(QUANTILES[0]), x_small.quantile(QUANTILES[1])
        with torch.no_grad():
            small = bbox_net(normalize(x_small, low, high)[None, None])[0, 1]
        small_mask = largest_component((small > 0.5).cpu().numpy())
        bbox = bbox_with_margin(torch.from_numpy(small_mask.astype(np.float32)), tuple(x.shape))
        crop = F.interpolate(x[bbox][None, None], CROP_SHAPE, mode="nearest-exact")[0, 0]
        with torch.no_grad():
            p = brain_net(normalize(crop, low, high)[None, None])[0, 1]
        prob[bbox] = F.interpolate(p[None, None], prob[bbox].shape, mode="nearest-exact")[0, 0]
        mask = prob.cpu().numpy() > self.threshold
        if self.postprocess and mask[bbox].any():
            mask[bbox] = fill_holes(largest_component(mask[bbox]))
        return mask


def build_network(**params: Any) -> DeepbetBrain:
    """model.json ``network.entry``: the adapter around the installed deepbet networks."""
    return DeepbetBrain(deepbet_models_dir(), **params)
