"""Inference-only rewrites of a network that keep its results (to float rounding) but run faster.

On the CPU (torch 2.13, oneDNN), 3-D convolutions and transposed convolutions run
1.5-2.5x faster on channels-last (NDHWC) tensors than on contiguous ones, but
``nn.InstanceNorm3d`` copies a channels-last input back to contiguous and is 2.5x
slower on it.  :func:`prepare_network` therefore returns a copy of the network with
its weights in channels-last and

- every ``InstanceNorm3d`` replaced by :class:`FastInstanceNorm3d`, which computes the
  same statistics directly on the channels-last layout (per-channel mean, and the sum
  of squares from one batched matrix product; numerically safe paths when the mean
  dominates the variance) and normalises in one fused ``addcmul`` pass;
- a ReLU / LeakyReLU / single-slope PReLU that follows such a norm in an
  ``nn.Sequential`` (MONAI's ``ADN``, nnU-Net-style conv blocks; eval-mode dropout in
  between is skipped) applied in place by the norm (one pass and one allocation less);
- few-channel strided transposed convolutions computed as sub-pixel convolutions
  (:mod:`interval.ai.conv_rewrites`).

The caller's module is not modified.  Measured on MONAI's ``UNet`` (16-256 channels,
4 windows of 96³, 2 threads): 434 ms -> 375 ms per call for the last two rewrites.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from interval.ai.conv_rewrites import rewrite_convolution

_CL = torch.channels_last_3d
_GRAM_MAX_CHANNELS = 64  # above this the C x C Gram matrix costs more than a reduction
_SAFE_RATIO = 1e3  # mean^2 / var above this: E[x^2] - mean^2 loses digits -> exact path


class FastInstanceNorm3d(nn.Module):
    """Drop-in ``InstanceNorm3d`` (inference) that is fast on channels-last tensors.

    ``activation`` (set by :func:`prepare_network` when the norm is followed by a ReLU,
    LeakyReLU or single-parameter PReLU in an ``nn.Sequential``) is applied in place
    to the freshly normalised tensor, saving one pass and one allocation.
    """

    def __init__(self, src: nn.InstanceNorm3d) -> None:
        super().__init__()
        self.eps = float(src.eps)
        self.weight = src.weight
        self.bias = src.bias
        self._src = src  # running-stats / training cases use the original
        self.activation: nn.Module | None = None
        self.train(src.training)  # a new module starts in training mode: follow the source

    def _uses_running_stats(self) -> bool:
        src = self._src
        return bool(src.track_running_stats and not self.training
                    and src.running_mean is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or self.training or self._uses_running_stats() or \
                x.dtype not in (torch.float32, torch.float64):
            y = self._src(x)
            return self.activation(y) if self.activation is not None else y
        b, c = x.shape[:2]
        if x.is_contiguous(memory_format=_CL) and not x.is_contiguous():
            var, mean = _channels_last_stats(x)
        else:
            var, mean = torch.var_mean(x, dim=(2, 3, 4), correction=0)
        scale = torch.rsqrt(var + self.eps)
        if self.weight is not None:
            scale = scale * self.weight
        if bool((mean * mean > _SAFE_RATIO * var.clamp_min(1e-30)).any()):
            # x * scale - mean * scale would cancel catastrophically: subtract first
            y = torch.sub(x, mean.view(b, c, 1, 1, 1)).mul_(scale.view(b, c, 1, 1, 1))
            if self.bias is not None:
                y.add_(self.bias.view(1, c, 1, 1, 1))
        else:
            shift = -mean * scale
            if self.bias is not None:
                shift = shift + self.bias
            y = torch.addcmul(shift.view(b, c, 1, 1, 1), x, scale.view(b, c, 1, 1, 1))
        act = self.activation
        if act is None:
            return y
        if isinstance(act, nn.PReLU):  # one slope: PReLU(x) == leaky_relu(x, slope) exactly
            return F.leaky_relu_(y, float(act.weight))
        if isinstance(act, nn.LeakyReLU):
            return F.leaky_relu_(y, float(act.negative_slope))
        return y.relu_()


def _fusable_activation(module: nn.Module) -> bool:
    return (isinstance(module, nn.ReLU | nn.LeakyReLU)
            or (isinstance(module, nn.PReLU) and module.weight.numel() == 1))


def _fuse_activations(module: nn.Module) -> int:
    """In every ``nn.Sequential``: norm, [eval dropouts / identities], activation -> fused.

    The norm's output is a new tensor that only the next modules of the sequence see,
    so applying the activation in place there is safe; the activation's slot becomes
    an ``nn.Identity``.  A norm module used in several places was replaced by one fast
    norm per place (:func:`_rewrite_modules`), so fusing one place leaves the others.
    """
    n = 0
    for child in module.modules():
        if not isinstance(child, nn.Sequential):
            continue
        names = list(child._modules)
        for i, name in enumerate(names):
            norm = child._modules[name]
            if not isinstance(norm, FastInstanceNorm3d) or norm.activation is not None:
                continue
            j = i + 1
            while j < len(names) and isinstance(child._modules[names[j]], nn.Identity | nn.Dropout3d | nn.Dropout):
                if isinstance(child._modules[names[j]], nn.Dropout | nn.Dropout3d) and \
                        child._modules[names[j]].training:
                    break
                j += 1
            if j < len(names) and _fusable_activation(act := child._modules[names[j]]):
                norm.activation = act
                child._modules[names[j]] = nn.Identity()
                n += 1
    return n


def _channels_last_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-(batch, channel) biased variance and mean of a channels-last 5-D tensor."""
    b, c = x.shape[:2]
    xv = x.permute(0, 2, 3, 4, 1).reshape(b, -1, c)  # a view: (B, N, C), C innermost
    n = xv.shape[1]
    mean = xv.mean(dim=1)
    if c <= _GRAM_MAX_CHANNELS:
        sq = torch.diagonal(torch.bmm(xv.transpose(1, 2), xv), dim1=1, dim2=2) / n
    else:
        t = xv.transpose(1, 2)
        sq = torch.linalg.vecdot(t, t) / n
    var = sq - mean * mean
    if bool((mean * mean > _SAFE_RATIO * var.clamp_min(1e-30)).any()):
        var, mean = torch.var_mean(x, dim=(2, 3, 4), correction=0)
    return var.clamp_min(0), mean


def _rewrite_modules(module: nn.Module) -> int:
    """Replace instance norms and few-channel transposed convolutions in place."""
    n = 0
    for name, child in list(module.named_children()):
        if isinstance(child, torch.jit.ScriptModule):
            continue
        if isinstance(child, nn.InstanceNorm3d):
            setattr(module, name, FastInstanceNorm3d(child))
            n += 1
        elif (fast := rewrite_convolution(child)) is not None:
            setattr(module, name, fast)
            n += 1
        else:
            n += _rewrite_modules(child)
    return n


def has_rewrites(module: nn.Module) -> bool:
    """Whether :func:`prepare_network` would change ``module`` on the CPU.

    True when it holds an ``InstanceNorm3d`` or a 5-D parameter (a 3-D convolution)
    outside TorchScript submodules, which are never rewritten.
    """
    if isinstance(module, torch.jit.ScriptModule):
        return False
    if isinstance(module, nn.InstanceNorm3d):
        return True
    if any(p.dim() == 5 for p in module.parameters(recurse=False)):
        return True
    return any(has_rewrites(child) for child in module.children())


def prepare_network(network: object, device: torch.device, *, copy_module: bool = True) -> object:
    """The network to run on ``device``: on the CPU a channels-last, fast-norm copy.

    Anything that is not a plain ``nn.Module`` (TorchScript, ONNX wrappers, functions)
    is returned unchanged, as is every network on other devices and every module with
    nothing to rewrite (:func:`has_rewrites`; e.g. a plugin wrapping TorchScript
    networks, which is not deep-copied).  ``copy_module=False`` rewrites ``network``
    itself (for a module nobody else uses).
    """
    if device.type != "cpu" or not isinstance(network, nn.Module) or isinstance(
        network, torch.jit.ScriptModule
    ) or not has_rewrites(network):
        return network
    net = network
    if copy_module:
        try:
            net = copy.deepcopy(network)
        except Exception:  # noqa: BLE001 - un-copyable modules run as they are
            return network
    _rewrite_modules(net)
    _fuse_activations(net)
    return net.to(memory_format=_CL)


def uses_channels_last(network: object) -> bool:
    """Whether ``network`` was prepared for channels-last inputs."""
    if not isinstance(network, nn.Module):
        return False
    return any(isinstance(m, FastInstanceNorm3d) for m in network.modules()) or any(
        p.dim() == 5 and p.is_contiguous(memory_format=_CL) and not p.is_contiguous()
        for p in network.parameters()
    )


__all__ = ["FastInstanceNorm3d", "has_rewrites", "prepare_network", "uses_channels_last"]
