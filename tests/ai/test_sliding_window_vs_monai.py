"""Interval's sliding window agrees with MONAI's on the same network, weights and input."""

from __future__ import annotations

import pytest
import torch

from interval.ai.sliding_window import sliding_window_inference

monai = pytest.importorskip("monai")


def test_matches_monai_sliding_window_inference() -> None:
    from monai.inferers import sliding_window_inference as monai_swi
    from monai.networks.nets import UNet

    torch.manual_seed(0)
    net = UNet(spatial_dims=3, in_channels=1, out_channels=3, channels=(4, 8, 16),
               strides=(2, 2), num_res_units=1).eval()
    x = torch.randn(1, 1, 20, 40, 36)
    torch.manual_seed(1)
    x = torch.nn.functional.avg_pool3d(x, 3, stride=1, padding=1)  # smooth, structured input
    roi = (16, 16, 16)
    with torch.no_grad():
        ref = monai_swi(x, roi, 4, net, overlap=0.5, mode="gaussian")[0]
    ours = sliding_window_inference(x[0], net, roi, overlap=0.5, batch_size=2)
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, atol=1e-4, rtol=1e-4)
    a, b = ours.argmax(0), ref.argmax(0)
    for v in range(3):
        denom = int((a == v).sum() + (b == v).sum())
        if denom:
            assert 2 * int(((a == v) & (b == v)).sum()) / denom >= 0.999
