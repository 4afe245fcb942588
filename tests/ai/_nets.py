"""Tiny networks for the engine tests (plugin entries ``tests.ai._nets:...``)."""

from __future__ import annotations

import torch
from torch import nn


class ThresholdNet(nn.Module):
    """Two-channel logits: 0 for background, ``scale * (x - threshold)`` for label 1."""

    def __init__(self, threshold: float = 50.0, scale: float = 1.0) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 1, kernel_size=1)
        with torch.no_grad():
            self.conv.weight.fill_(scale)
            self.conv.bias.fill_(-scale * threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return torch.cat([torch.zeros_like(y), y], dim=1)


class SigmoidNet(ThresholdNet):
    """One-channel logit ``x - threshold`` (binary sigmoid model)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class BandNet(nn.Module):
    """Three classes by intensity band: 1 below ``low``, 2 above ``high``, 0 between."""

    def __init__(self, low: float = -50.0, high: float = 50.0) -> None:
        super().__init__()
        self.low = low
        self.high = high
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.scale
        return torch.cat([torch.zeros_like(x), self.low - x, x - self.high], dim=1)


class SkewNet(nn.Module):
    """An asymmetric 3x3x3 convolution (not mirror-equivariant) with 2 output channels."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 2, kernel_size=3, padding=1)
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class BoxNet(nn.Module):
    """Label 1 where the 3x3x3 mean exceeds ``threshold`` (sees its neighbours)."""

    def __init__(self, threshold: float = 50.0) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 1, kernel_size=3, padding=1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0 / 27.0)
            self.conv.bias.fill_(-threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return torch.cat([torch.zeros_like(y), y], dim=1)


def build_box(threshold: float = 50.0) -> nn.Module:
    return BoxNet(threshold)


def build_threshold(threshold: float = 50.0, scale: float = 1.0) -> nn.Module:
    return ThresholdNet(threshold, scale)


def build_sigmoid(threshold: float = 50.0) -> nn.Module:
    return SigmoidNet(threshold)


def build_band(low: float = -50.0, high: float = 50.0) -> nn.Module:
    return BandNet(low, high)


def build_not_a_module() -> object:
    return object()


# --- misbehaving networks (tests/ai/test_hostile_models.py) ------------------------------


class InvalidValuesNet(ThresholdNet):
    """ThresholdNet whose logits are ``value`` (NaN, inf) where the input exceeds
    ``threshold`` (every voxel with ``threshold=None``)."""

    def __init__(self, threshold: float | None = 50.0, value: float = float("nan")) -> None:
        super().__init__(0.0 if threshold is None else threshold)
        self.where = threshold
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        mask = torch.ones_like(x, dtype=torch.bool) if self.where is None else x > self.where
        return y.masked_fill(mask.expand_as(y), self.value)


def build_invalid_values(threshold: float | None = 50.0, value: str = "nan") -> nn.Module:
    return InvalidValuesNet(threshold, float(value))


class WideNet(ThresholdNet):
    """ThresholdNet with a third output channel that model.json does not declare."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return torch.cat([y, y[:, 1:] + 1.0], dim=1)


def build_wide(threshold: float = 50.0) -> nn.Module:
    return WideNet(threshold)


class NotATensorNet(ThresholdNet):
    """Returns a numpy array (``kind="numpy"``) or None (``kind="none"``) from forward."""

    def __init__(self, kind: str = "numpy") -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor):  # noqa: ANN201 - deliberately not a tensor
        return super().forward(x).detach().numpy() if self.kind == "numpy" else None


def build_not_a_tensor(kind: str = "numpy") -> nn.Module:
    return NotATensorNet(kind)


class PluginBug(ValueError):
    """A plugin's own ValueError."""


def build_raising(where: str = "build") -> nn.Module:
    """A plugin network with a bug: its builder (or its forward) raises ValueError."""
    if where == "build":
        raise PluginBug("the plugin's own bug while building")
    return _RaisingNet()


class _RaisingNet(ThresholdNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise PluginBug("the plugin's own bug in forward")


class NewBrightNet(nn.Module):
    """A temporal test network: label 1 where the last frame (the scan) is brighter than
    the first (the oldest earlier scan) by more than 50; with one frame, nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x[:, -1:] - x[:, :1] - 50.0 + self.offset
        return torch.cat([-d, d], 1)


def build_new_bright() -> NewBrightNet:
    return NewBrightNet()
