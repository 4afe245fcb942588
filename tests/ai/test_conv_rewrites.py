"""Sub-pixel transposed convolution: the same output as ``nn.ConvTranspose3d``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from interval.ai.conv_rewrites import SubPixelConvTranspose3d, rewrite_convolution

CL = torch.channels_last_3d


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "output_padding"),
    [
        (3, 2, 1, 1),  # MONAI UNet's up-sampling
        (2, 2, 0, 0),  # nnU-Net's up-sampling
        (3, 2, 0, 0),
        (3, 2, 1, 0),  # odd output length: cropped
        (4, 2, 1, 0),
        (5, 3, 2, 1),
        (3, (1, 2, 2), 1, (0, 1, 1)),  # anisotropic (nnU-Net on thick slices)
        ((1, 3, 3), (1, 2, 2), (0, 1, 1), (0, 1, 1)),
    ],
)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_sub_pixel_equals_transposed_convolution(kernel, stride, padding, output_padding,
                                                 bias: bool, layout: str) -> None:
    torch.manual_seed(0)
    ref = nn.ConvTranspose3d(5, 3, kernel, stride=stride, padding=padding,
                             output_padding=output_padding, bias=bias).eval()
    fast = SubPixelConvTranspose3d(ref).eval()
    x = torch.randn(2, 5, 5, 6, 7)
    if layout == "channels_last":
        x = x.contiguous(memory_format=CL)
    with torch.inference_mode():
        a, b = ref(x), fast(x)
    assert a.shape == b.shape
    assert torch.allclose(a, b, atol=1e-5)
    assert b.is_contiguous(memory_format=CL)


def test_sub_pixel_falls_back_for_output_size_and_training() -> None:
    ref = nn.ConvTranspose3d(2, 2, 3, stride=2, padding=1).eval()
    fast = SubPixelConvTranspose3d(ref).eval()
    x = torch.randn(1, 2, 4, 4, 4)
    with torch.inference_mode():
        assert torch.allclose(fast(x, output_size=[8, 8, 8]), ref(x, output_size=[8, 8, 8]))
    fast.train()
    assert torch.allclose(fast(x), ref(x))  # training: the original module, gradients work


def test_rewrite_only_few_output_channels_and_plain_convolutions() -> None:
    assert isinstance(rewrite_convolution(nn.ConvTranspose3d(32, 4, 3, stride=2)),
                      SubPixelConvTranspose3d)
    assert rewrite_convolution(nn.ConvTranspose3d(32, 16, 3, stride=2)) is None  # many outputs
    assert rewrite_convolution(nn.ConvTranspose3d(4, 4, 3, stride=1)) is None  # not strided
    assert rewrite_convolution(nn.ConvTranspose3d(4, 4, 3, stride=2, groups=2)) is None
    assert rewrite_convolution(nn.ConvTranspose3d(4, 4, 3, stride=2, dilation=2)) is None
    assert rewrite_convolution(nn.Conv3d(4, 4, 3)) is None
