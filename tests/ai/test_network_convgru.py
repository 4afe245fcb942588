"""The temporal U-Net (unet3d_convgru): frames, the GRU state, and its start as a plain U-Net."""

from __future__ import annotations

import pytest
import torch

from interval.ai.networks import available_networks, build_network

PARAMS = {"in_channels": 1, "out_channels": 3, "base_channels": 4, "num_stages": 3,
          "max_channels": 16, "norm": "instance"}


def _pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    unet = build_network("unet3d", PARAMS).eval()
    temporal = build_network("unet3d_convgru", {**PARAMS, "max_frames": 3}).eval()
    result = temporal.load_state_dict(unet.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all(k.startswith(("gru.", "fuse.")) for k in result.missing_keys)
    return unet, temporal


def test_listed_as_builtin() -> None:
    assert "unet3d_convgru" in available_networks()


def test_starts_as_the_unet_it_was_loaded_from() -> None:
    unet, temporal = _pair()
    x = torch.randn(2, 3, 16, 16, 16)
    with torch.no_grad():
        expected = unet(x[:, 2:])
        torch.testing.assert_close(temporal(x), expected)  # priors ignored while fuse is 0
        torch.testing.assert_close(temporal(x[:, 2:]), expected)  # one frame: a baseline


def test_earlier_frames_change_the_output_once_fused_and_order_matters() -> None:
    _unet, temporal = _pair()
    with torch.no_grad():
        for conv in temporal.fuse.values():
            conv.weight.normal_(0, 0.5)
        x = torch.randn(1, 3, 16, 16, 16)
        a = temporal(x)
        b = temporal(torch.cat([x[:, :2] * 0 + 3.0, x[:, 2:]], 1))  # other priors
        c = temporal(x[:, [1, 0, 2]])  # same priors, other order
    assert a.shape == (1, 3, 16, 16, 16)
    assert (a - b).abs().max() > 1e-3
    assert (a - c).abs().max() > 1e-5


def test_batch_items_do_not_mix() -> None:
    _unet, temporal = _pair()
    with torch.no_grad():
        for conv in temporal.fuse.values():
            conv.weight.normal_(0, 0.5)
        x = torch.randn(2, 2, 16, 16, 16)
        both = temporal(x)
        torch.testing.assert_close(both[1:], temporal(x[1:]), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("shape", [(1, 4, 16, 16, 16), (1, 2, 10, 16, 16), (2, 16, 16, 16)])
def test_bad_inputs_are_refused(shape: tuple[int, ...]) -> None:
    _unet, temporal = _pair()  # max_frames 3: 4 frames is too many
    with pytest.raises(ValueError, match="unet3d_convgru"):
        temporal(torch.zeros(shape))


@pytest.mark.parametrize("extra", [
    {"gru_stages": []}, {"gru_stages": [3]}, {"gru_stages": [1, 1]}, {"gru_stages": "2"},
    {"gru_kernel": 2}, {"gru_kernel": True}, {"max_frames": 0}, {"max_frames": 1.5},
    {"colour": 1},
])
def test_bad_params_are_refused(extra: dict) -> None:
    with pytest.raises(ValueError):
        build_network("unet3d_convgru", {**PARAMS, **extra})
