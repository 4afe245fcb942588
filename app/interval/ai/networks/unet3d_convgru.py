"""A 3-D U-Net that reads a scan together with the patient's earlier scans (CNN + RNN).

The input holds ``T`` *frames* along the channel axis, oldest first, the scan to
segment last: ``x[N, T * in_channels, Z, Y, X]``.  The earlier scans must already
lie on the last scan's voxel grid (the longitudinal core's registration resamples
them there).  ``T`` may be 1 (no earlier scan: a baseline) up to ``max_frames``.

* The encoder of :class:`~interval.ai.networks.unet3d.UNet3D` runs on every frame
  (shared weights; the frames go through it as one batch).
* At the deep stages named by ``gru_stages`` a convolutional GRU cell (Ballas et
  al., ICLR 2016) reads the frames' features in time order; its hidden state carries
  what was seen at the earlier scans to the last one.
* The decoder is the U-Net's, on the last frame's features; at each GRU stage the
  skip features are ``features + fuse(hidden)``, with ``fuse`` a 1x1x1 convolution
  initialised to zero.  So a freshly built network with a trained U-Net's weights
  loaded (same parameter names) gives exactly that U-Net's output, and training
  only has to learn what the earlier scans add.

The output is the logits of the last frame.  Parameter names of the U-Net part are
those of ``unet3d``; the temporal part adds ``gru.*`` and ``fuse.*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from interval.ai.networks.unet3d import UNet3D, UNet3DConfig

_TEMPORAL_KEYS = ("gru_stages", "gru_kernel", "max_frames")


@dataclass(frozen=True)
class TemporalConfig:
    """The U-Net's parameters plus the temporal ones (the ``params`` of a model.json)."""

    unet: UNet3DConfig
    gru_stages: tuple[int, ...]
    gru_kernel: int = 3
    max_frames: int = 4

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TemporalConfig:
        """Build from a ``params`` mapping; bad values raise ``ValueError``."""
        params = dict(params)
        temporal = {k: params.pop(k) for k in _TEMPORAL_KEYS if k in params}
        unet = UNet3DConfig.from_params(params)
        n = unet.num_stages
        stages = temporal.get("gru_stages", [max(n - 2, 0), n - 1])
        if (not isinstance(stages, list) or not stages
                or any(isinstance(s, bool) or not isinstance(s, int) for s in stages)):
            raise ValueError("gru_stages must be a non-empty list of stage numbers")
        if any(not 0 <= s < n for s in stages) or len(set(stages)) != len(stages):
            raise ValueError(f"gru_stages must be distinct stages between 0 and {n - 1}")
        kernel = temporal.get("gru_kernel", 3)
        if isinstance(kernel, bool) or kernel not in (1, 3, 5):
            raise ValueError("gru_kernel must be 1, 3 or 5")
        frames = temporal.get("max_frames", 4)
        if isinstance(frames, bool) or not isinstance(frames, int) or not 1 <= frames <= 16:
            raise ValueError("max_frames must be an integer between 1 and 16")
        return cls(unet, tuple(sorted(stages)), int(kernel), int(frames))

    @property
    def out_channels(self) -> int:
        return self.unet.out_channels


class ConvGRUCell(nn.Module):
    """``h' = (1 - z) h + z tanh(W [x, r h])`` with convolutional gates ``z, r``."""

    def __init__(self, c_in: int, c_hidden: int, kernel: int) -> None:
        super().__init__()
        self.hidden = c_hidden
        self.gates = nn.Conv3d(c_in + c_hidden, 2 * c_hidden, kernel, padding=kernel // 2)
        self.candidate = nn.Conv3d(c_in + c_hidden, c_hidden, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        if h is None:
            h = x.new_zeros((x.shape[0], self.hidden, *x.shape[2:]))
        z, r = torch.sigmoid(self.gates(torch.cat([x, h], 1))).chunk(2, 1)
        c = torch.tanh(self.candidate(torch.cat([x, r * h], 1)))
        return h + z * (c - h)


class TemporalUNet3D(UNet3D):
    """:class:`UNet3D` whose deep skip features carry a ConvGRU state across frames."""

    def __init__(self, config: TemporalConfig) -> None:
        super().__init__(config.unet)
        self.temporal = config
        ch = config.unet.channels
        self.gru = nn.ModuleDict()
        self.fuse = nn.ModuleDict()
        for s in config.gru_stages:
            hidden = max(ch[s] // 2, 1)
            self.gru[str(s)] = ConvGRUCell(ch[s], hidden, config.gru_kernel)
            self.fuse[str(s)] = nn.Conv3d(hidden, ch[s], 1)
        self.reset_temporal()

    def reset_temporal(self) -> None:
        """Kaiming gates, zero fusion: the network starts as its plain U-Net."""
        for cell in self.gru.values():
            for conv in (cell.gates, cell.candidate):
                nn.init.kaiming_normal_(conv.weight, a=0.01)
                nn.init.zeros_(conv.bias)
        for conv in self.fuse.values():
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def frames_of(self, x: torch.Tensor) -> int:
        """The number of frames in ``x`` (checked)."""
        c = self.config.in_channels
        m = self.config.size_multiple
        if x.ndim != 5 or any(n % m for n in x.shape[2:]):
            raise ValueError(f"unet3d_convgru expects [N, T*C, Z, Y, X] with sizes that are "
                             f"multiples of {m}, got {tuple(x.shape)}")
        if x.shape[1] % c or not 1 <= x.shape[1] // c <= self.temporal.max_frames:
            raise ValueError(f"unet3d_convgru expects 1 to {self.temporal.max_frames} frames of "
                             f"{c} channel(s), got {x.shape[1]} channels")
        return x.shape[1] // c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.frames_of(x)
        n, c = x.shape[0], self.config.in_channels
        frames = x.reshape(n * t, c, *x.shape[2:]) if t > 1 else x  # frame-major per case
        feats = []
        h = frames
        for stage in self.encoder:
            h = stage(h)
            feats.append(h)
        skips = []
        for s, f in enumerate(feats):
            f = f.reshape(n, t, *f.shape[1:])
            last = f[:, -1]
            key = str(s)
            if key in self.gru:
                state = None
                for k in range(t):
                    state = self.gru[key](f[:, k], state)
                last = last + self.fuse[key](state)
            skips.append(last)
        x = skips.pop()
        for up, dec in zip(self.up, self.decoder, strict=True):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def build(params: Mapping[str, Any]) -> TemporalUNet3D:
    """The :class:`TemporalUNet3D` described by ``params`` (see :class:`TemporalConfig`)."""
    return TemporalUNet3D(TemporalConfig.from_params(params))
