"""A compact 3-D U-Net in the style of nnU-Net (Isensee et al., Nature Methods 2021).

Each stage is two ``conv 3x3x3 -> norm -> LeakyReLU(0.01)`` blocks.  The encoder
goes down with a strided convolution (the first conv of every stage after the
first has stride 2), the decoder goes up with a 2x2x2 transposed convolution,
concatenates the encoder's skip features and applies two more blocks.  A 1x1x1
convolution gives the logits.  There is no deep supervision head, so the state
dict holds only what inference needs.

Channels double per stage from ``base_channels`` up to ``max_channels``.  Input
sizes (z, y, x) must be multiples of ``2 ** (num_stages - 1)``.  Weights are
initialised as nnU-Net does (Kaiming normal, ``a=0.01``; zero biases), so the
same ``torch.manual_seed`` gives the same network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

NORMS = ("instance", "batch", "none")


@dataclass(frozen=True)
class UNet3DConfig:
    """Validated hyper-parameters of :class:`UNet3D` (the ``params`` of a model.json)."""

    in_channels: int = 1
    out_channels: int = 2
    base_channels: int = 16
    num_stages: int = 4
    max_channels: int = 128
    norm: str = "instance"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> UNet3DConfig:
        """Build from a ``params`` mapping; unknown keys or bad values raise ``ValueError``.

        ``depth`` is accepted as the number of down-samplings (``num_stages - 1``).
        """
        params = dict(params)
        if "depth" in params:
            depth = params.pop("depth")
            if "num_stages" in params and params["num_stages"] != _int("depth", depth) + 1:
                raise ValueError("give either depth or num_stages, not two that disagree")
            params["num_stages"] = _int("depth", depth) + 1
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown unet3d parameter(s): {', '.join(unknown)}")
        cfg = cls(**{k: (v if k == "norm" else _int(k, v)) for k, v in params.items()})
        if cfg.in_channels < 1 or cfg.out_channels < 1:
            raise ValueError("in_channels and out_channels must be at least 1")
        if cfg.base_channels < 1 or cfg.max_channels < cfg.base_channels:
            raise ValueError("need 1 <= base_channels <= max_channels")
        if not 1 <= cfg.num_stages <= 7:
            raise ValueError("num_stages must be between 1 and 7")
        if cfg.norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {cfg.norm!r}")
        return cfg

    @property
    def channels(self) -> list[int]:
        """Feature channels of each stage, shallow to deep."""
        return [min(self.base_channels * 2**s, self.max_channels) for s in range(self.num_stages)]

    @property
    def size_multiple(self) -> int:
        """Every spatial input size must be a multiple of this."""
        return 2 ** (self.num_stages - 1)


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"unet3d parameter {name} must be an integer, got {value!r}")
    return value


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm3d(channels, eps=1e-5, affine=True)
    if kind == "batch":
        return nn.BatchNorm3d(channels)
    return nn.Identity()


class ConvBlock(nn.Sequential):
    """``conv 3x3x3 (stride) -> norm -> LeakyReLU(0.01)``."""

    def __init__(self, c_in: int, c_out: int, norm: str, stride: int = 1) -> None:
        super().__init__(
            nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=norm == "none"),
            _norm(norm, c_out),
            nn.LeakyReLU(0.01, inplace=True),
        )


class UNet3D(nn.Module):
    """Encoder-decoder with skip connections; ``forward(x[N, C, Z, Y, X]) -> logits``."""

    def __init__(self, config: UNet3DConfig | None = None, **params: Any) -> None:
        super().__init__()
        cfg = config or UNet3DConfig.from_params(params)
        self.config = cfg
        ch = cfg.channels
        self.encoder = nn.ModuleList()
        for s, c in enumerate(ch):
            c_in = cfg.in_channels if s == 0 else ch[s - 1]
            self.encoder.append(nn.Sequential(
                ConvBlock(c_in, c, cfg.norm, stride=1 if s == 0 else 2),
                ConvBlock(c, c, cfg.norm),
            ))
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for s in range(len(ch) - 1, 0, -1):
            self.up.append(nn.ConvTranspose3d(ch[s], ch[s - 1], 2, stride=2, bias=False))
            self.decoder.append(nn.Sequential(
                ConvBlock(2 * ch[s - 1], ch[s - 1], cfg.norm),
                ConvBlock(ch[s - 1], ch[s - 1], cfg.norm),
            ))
        self.head = nn.Conv3d(ch[0], cfg.out_channels, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nnU-Net's initialisation: Kaiming normal (a=0.01) for convolutions, zero biases."""
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
                nn.init.kaiming_normal_(m.weight, a=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.config.size_multiple
        if x.ndim != 5 or any(n % m for n in x.shape[2:]):
            raise ValueError(f"unet3d expects [N, C, Z, Y, X] with sizes that are multiples of {m},"
                             f" got {tuple(x.shape)}")
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.up, self.decoder, strict=True):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def build(params: Mapping[str, Any]) -> UNet3D:
    """The :class:`UNet3D` described by ``params`` (see :class:`UNet3DConfig`)."""
    return UNet3D(UNet3DConfig.from_params(params))
