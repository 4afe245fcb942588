"""Tiny networks for tests/cli/test_segment.py.

The tests copy this file into each test plugin's folder under a unique module name (a
model.json may only name code its own plugin brings), so it imports nothing from
``tests``; the tests themselves import :func:`band_weights` from here.
"""

from __future__ import annotations

import os
import signal

import torch
from torch import nn


class Bands(nn.Module):
    """A 1x1x1 convolution: 3 logits per voxel -> argmax 0 (<=100), 1 (100..500), 2 (>500)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 3, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Crash(nn.Module):
    """Segfaults the process on its first forward pass."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        os.kill(os.getpid(), signal.SIGSEGV)
        return x


def build_bands(**params) -> nn.Module:
    return Bands()


def build_crash(**params) -> nn.Module:
    return Crash()


def band_weights() -> dict[str, torch.Tensor]:
    """class 0: 0; class 1: x - 100; class 2: 2x - 600."""
    return {
        "conv.weight": torch.tensor([0.0, 1.0, 2.0]).reshape(3, 1, 1, 1, 1),
        "conv.bias": torch.tensor([0.0, -100.0, -600.0]),
    }


class Hang(nn.Module):
    """Writes ``marker`` when its forward pass starts, then never returns."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import time
        from pathlib import Path

        Path(self.marker).write_text("running")
        while True:
            time.sleep(1)


def build_hang(marker: str = "", **params) -> nn.Module:
    return Hang(marker)
