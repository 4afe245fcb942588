"""Networks of the AI-panel tests' plugin (imported only in the model's child process).

The tests copy this file into their plugin's folder (``ai_panel_nets.py``): a model.json
may only name code its own plugin brings, so it imports nothing from ``tests``.
"""

from __future__ import annotations

import os
import signal
import time

import torch
from torch import nn


class ThresholdNet(nn.Module):
    """Two-channel logits: 0 for background, ``x - threshold`` for label 1."""

    def __init__(self, threshold: float = 50.0) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 1, kernel_size=1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.fill_(-threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return torch.cat([torch.zeros_like(y), y], dim=1)


def build_threshold(threshold: float = 50.0) -> ThresholdNet:
    return ThresholdNet(threshold)


class SlowNet(ThresholdNet):
    """ThresholdNet that takes ``delay`` seconds per forward pass (cancel tests)."""

    def __init__(self, threshold: float = 50.0, delay: float = 0.2) -> None:
        super().__init__(threshold)
        self.delay = delay

    def forward(self, x):  # noqa: ANN001, ANN201
        time.sleep(self.delay)
        return super().forward(x)


def build_slow(threshold: float = 50.0, delay: float = 0.2) -> SlowNet:
    return SlowNet(threshold, delay)


def build_segfault(**_params: object) -> ThresholdNet:
    """A plugin whose native code crashes: the process dies of SIGSEGV."""
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(30)
    raise AssertionError("unreachable")


def build_broken(**_params: object) -> ThresholdNet:
    """A plugin with a bug: it raises."""
    raise RuntimeError("deliberately broken plugin")
