"""The example's network: one 1x1x1 convolution, ``logit = w * HU + b``.

With the committed weights (``w = 1/50``, ``b = -6``, see ``make_weights.py``) the logit is
``(HU - 300) / 50``: the sigmoid exceeds 0.5 exactly where a voxel is above 300 HU.
Interval imports this module only in the process that runs the model (torch is needed).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class ThresholdNet(nn.Module):
    """A single-channel 1x1x1 convolution (weights ``conv.weight``, ``conv.bias``)."""

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def build_network(params: dict[str, Any] | None = None, **kwargs: Any) -> nn.Module:
    """``model.json`` ``network.entry``: build the (untrained) module; Interval loads weights."""
    options = {**(params or {}), **kwargs}
    return ThresholdNet(in_channels=int(options.get("in_channels", 1)))
