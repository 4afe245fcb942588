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
