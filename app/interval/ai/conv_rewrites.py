"""An exact re-formulation of few-channel transposed convolutions that oneDNN runs faster.

oneDNN (torch 2.13, CPU) computes 3-D (transposed) convolutions with few output
channels at 40-55 GFLOP/s on AVX-512 against 200-400 GFLOP/s with 16 or more; U-Nets
have such a layer at full resolution (MONAI's ``UNet``: the last transposed convolution,
32 -> classes channels, 48³ -> 96³).  :class:`SubPixelConvTranspose3d` computes a strided
transposed convolution as one ordinary convolution at the *input* resolution with
``stride³ x C_out`` output channels (one group per output phase; kernel taps a phase
does not use are zero) followed by a pixel shuffle: the same sums of the same products
in another order (results equal to float rounding), 2.4x the multiply-adds for
kernel 3 / stride 2 but at 5x the speed.  Measured (4 windows, 2 threads, 32 -> 4
channels 48³ -> 96³): 72 ms -> 45 ms; 32 -> 8: 56 -> 66 ms (hence the threshold).
A depth-split rewrite of few-channel 3x3x3 convolutions (1x3x3 kernel with
``3 x C_out`` outputs plus shifted adds) was measured slower: channel slices of
channels-last tensors cost more than the convolution saves.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_CL = torch.channels_last_3d
SUBPIXEL_MAX_OUT_CHANNELS = 4  # measured: faster up to 4 outputs, slower from 8 on


def _phase_taps(k: int, s: int, p: int) -> tuple[int, int]:
    """(d_min, d_max): input offsets used by any output phase of a transposed conv axis."""
    d_min = min(math.ceil((r + p - k + 1) / s) for r in range(s))
    d_max = max((r + p) // s for r in range(s))
    return d_min, d_max


class SubPixelConvTranspose3d(nn.Module):
    """``ConvTranspose3d`` (groups 1, dilation 1, zero padding) as conv + pixel shuffle."""

    def __init__(self, src: nn.ConvTranspose3d) -> None:
        super().__init__()
        self._src = src
        self.train(src.training)
        self.stride = tuple(int(v) for v in src.stride)
        self.padding = tuple(int(v) for v in src.padding)
        self.output_padding = tuple(int(v) for v in src.output_padding)
        self.kernel = tuple(int(v) for v in src.kernel_size)
        self.out_channels = int(src.out_channels)
        taps = [_phase_taps(k, s, p) for k, s, p in
                zip(self.kernel, self.stride, self.padding, strict=True)]
        self.d_min = tuple(t[0] for t in taps)
        self.size = tuple(t[1] - t[0] + 1 for t in taps)  # kernel of the equivalent conv
        w = src.weight.detach()  # (C_in, C_out, kz, ky, kx)
        c_in, c_out = w.shape[:2]
        phases = math.prod(self.stride)
        # output channels ordered (phase z, phase y, phase x, channel): in channels-last
        # memory the shuffle then moves runs of ``stride_x * C_out`` contiguous values
        new = torch.zeros((*self.stride, c_out, c_in, *self.size), dtype=w.dtype)
        for rz in range(self.stride[0]):
            for ry in range(self.stride[1]):
                for rx in range(self.stride[2]):
                    for jz in range(self.size[0]):
                        kz = self._tap(0, rz, jz)
                        for jy in range(self.size[1]):
                            ky = self._tap(1, ry, jy)
                            for jx in range(self.size[2]):
                                kx = self._tap(2, rx, jx)
                                if kz is None or ky is None or kx is None:
                                    continue
                                new[rz, ry, rx, :, :, jz, jy, jx] = w[:, :, kz, ky, kx].T
        weight = new.reshape(phases * c_out, c_in, *self.size)
        self.weight = nn.Parameter(weight.contiguous(memory_format=_CL), requires_grad=False)
        bias = None
        if src.bias is not None:
            bias = nn.Parameter(src.bias.detach().repeat(phases), requires_grad=False)
        self.bias = bias

    def _tap(self, axis: int, r: int, j: int) -> int | None:
        """The source kernel index of phase ``r``'s tap ``j`` on ``axis`` (None: unused)."""
        k = r + self.padding[axis] - self.stride[axis] * (j + self.d_min[axis])
        return k if 0 <= k < self.kernel[axis] else None

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or self.training or x.dim() != 5 or \
                x.dtype != self.weight.dtype:
            return self._src(x, output_size) if output_size is not None else self._src(x)
        lengths = [int(n) for n in x.shape[2:]]
        out_len = [(n - 1) * s - 2 * p + k + op for n, s, p, k, op in zip(
            lengths, self.stride, self.padding, self.kernel, self.output_padding, strict=True)]
        m = [-(-o // s) for o, s in zip(out_len, self.stride, strict=True)]  # outputs per phase
        pad_lo = [-d for d in self.d_min]
        pad_hi = [mi - n - lo + k - 1 for mi, n, lo, k in
                  zip(m, lengths, pad_lo, self.size, strict=True)]
        pad = [max(lo, hi, 0) for lo, hi in zip(pad_lo, pad_hi, strict=True)]
        y = F.conv3d(x, self.weight, self.bias, padding=tuple(pad))
        off = [p - lo for p, lo in zip(pad, pad_lo, strict=True)]
        y = y[:, :, off[0]:off[0] + m[0], off[1]:off[1] + m[1], off[2]:off[2] + m[2]]
        b, c = x.shape[0], self.out_channels
        sz, sy, sx = self.stride
        # (B, Mz, My, Mx, sz, sy, sx*C) -> (B, Mz, sz, My, sy, Mx, sx*C): runs of sx*C values
        src = y.permute(0, 2, 3, 4, 1).unflatten(4, (sz, sy, sx * c)).permute(0, 1, 4, 2, 5, 3, 6)
        out = torch.empty((b, m[0] * sz, m[1] * sy, m[2] * sx, c), dtype=y.dtype,
                          device=y.device)
        out.view(b, m[0], sz, m[1], sy, m[2], sx * c).copy_(src)
        out = out.permute(0, 4, 1, 2, 3)  # (B, C, Z, Y, X) in channels-last memory
        if [m[i] * self.stride[i] for i in range(3)] != out_len:
            out = out[:, :, :out_len[0], :out_len[1], :out_len[2]].contiguous(memory_format=_CL)
        return out


def _plain(conv: nn.Module) -> bool:
    return (conv.groups == 1 and all(int(d) == 1 for d in conv.dilation)
            and conv.padding_mode == "zeros" and isinstance(conv.padding, tuple))


def rewrite_convolution(module: nn.Module) -> nn.Module | None:
    """A faster exact equivalent of a few-channel 3-D (transposed) convolution, or None."""
    if (isinstance(module, nn.ConvTranspose3d) and _plain(module)
            and module.out_channels <= SUBPIXEL_MAX_OUT_CHANNELS
            and any(int(s) > 1 for s in module.stride)):
        return SubPixelConvTranspose3d(module)
    return None


__all__ = ["SubPixelConvTranspose3d", "rewrite_convolution"]
