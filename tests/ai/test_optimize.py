"""CPU inference rewrites: same outputs as the original network, original untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from interval.ai.optimize import FastInstanceNorm3d, prepare_network, uses_channels_last

CL = torch.channels_last_3d


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("channels", [3, 80])  # Gram path and the reduction path
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_fast_instance_norm_matches(affine: bool, channels: int, layout: str) -> None:
    torch.manual_seed(0)
    ref = nn.InstanceNorm3d(channels, affine=affine, eps=1e-5).eval()
    if affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 2.0)
            ref.bias.uniform_(-1.0, 1.0)
    x = torch.randn(2, channels, 6, 7, 8) * 3 + 2
    if layout == "channels_last":
        x = x.contiguous(memory_format=CL)
    fast = FastInstanceNorm3d(ref).eval()
    with torch.inference_mode():
        assert torch.allclose(fast(x), ref(x), atol=2e-5)


def test_fast_instance_norm_large_mean_uses_exact_statistics() -> None:
    """Mean 1000, sd 0.01: E[x^2] - mean^2 would be pure rounding noise in float32.

    float32 resolves 6e-5 at 1000, i.e. 6e-3 of a standard deviation: both torch's own
    norm and the fast one are compared with a float64 reference at that precision.
    """
    ref = nn.InstanceNorm3d(4).eval()
    x = (torch.randn(1, 4, 10, 10, 10) * 0.01 + 1000.0).contiguous(memory_format=CL)
    exact = nn.InstanceNorm3d(4).eval()(x.double())
    with torch.inference_mode():
        fast = FastInstanceNorm3d(ref).eval()(x)
        assert (ref(x).double() - exact).abs().max() < 2e-2  # the precision float32 has
        assert (fast.double() - exact).abs().max() < 2e-2


def test_running_stats_fall_back_to_the_original() -> None:
    ref = nn.InstanceNorm3d(2, track_running_stats=True).eval()
    ref.running_mean.fill_(1.0)
    ref.running_var.fill_(4.0)
    x = torch.randn(1, 2, 4, 4, 4)
    with torch.inference_mode():
        assert torch.allclose(FastInstanceNorm3d(ref)(x), ref(x))


def test_prepare_network_copies_and_keeps_outputs() -> None:
    monai_nets = pytest.importorskip("monai.networks.nets")
    torch.manual_seed(0)
    net = monai_nets.UNet(spatial_dims=3, in_channels=1, out_channels=3, channels=(4, 8, 16),
                          strides=(2, 2), num_res_units=2).eval()
    fast = prepare_network(net, torch.device("cpu"))
    assert fast is not net and uses_channels_last(fast) and not uses_channels_last(net)
    assert not any(isinstance(m, FastInstanceNorm3d) for m in net.modules())
    x = torch.randn(2, 1, 16, 24, 20)
    with torch.inference_mode():
        a = net(x)
        b = fast(x.contiguous(memory_format=CL))
    assert torch.allclose(a, b, atol=1e-4)
    assert prepare_network(net, torch.device("meta")) is net  # other devices: unchanged


class _WrapsTorchScript(nn.Module):
    """A plugin-style module: TorchScript inside, a 5-D buffer, nothing to rewrite."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = torch.jit.script(nn.Conv3d(1, 2, 3, padding=1))
        self.register_buffer("table", torch.zeros(1, 1, 2, 2, 2))
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * self.scale[0]


def test_prepare_network_leaves_modules_without_rewrites_alone() -> None:
    from interval.ai.optimize import has_rewrites

    cpu = torch.device("cpu")
    wrapped = _WrapsTorchScript().eval()
    assert not has_rewrites(wrapped)
    assert prepare_network(wrapped, cpu) is wrapped  # no deep copy of the TorchScript
    assert not uses_channels_last(wrapped)
    plain = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    assert prepare_network(plain, cpu) is plain
    conv = nn.Sequential(nn.Conv3d(2, 4, 3))  # a 5-D weight: rewritten on a copy
    assert has_rewrites(conv) and has_rewrites(nn.Sequential(nn.InstanceNorm3d(2)))
    fast = prepare_network(conv, cpu)
    assert fast is not conv and uses_channels_last(fast) and not uses_channels_last(conv)


def test_prepared_norms_take_the_fast_path_in_eval_mode(monkeypatch) -> None:
    """Regression: the replacement started in training mode and always fell back."""
    net = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.InstanceNorm3d(4)).eval()
    fast = prepare_network(net, torch.device("cpu"))
    norm = fast[1]
    assert isinstance(norm, FastInstanceNorm3d) and not norm.training
    calls = []
    monkeypatch.setattr(norm._src, "forward", lambda x: calls.append(x) or x)
    with torch.inference_mode():
        fast(torch.randn(2, 1, 6, 6, 6).contiguous(memory_format=CL))
    assert calls == []


@pytest.mark.parametrize("act", [nn.PReLU(), nn.ReLU(), nn.LeakyReLU(0.2)])
def test_activation_after_norm_is_fused_and_equal(act: nn.Module) -> None:
    torch.manual_seed(0)
    if isinstance(act, nn.PReLU):
        with torch.no_grad():
            act.weight.fill_(0.3)
    net = nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.InstanceNorm3d(4, affine=True),
                        nn.Dropout(0.0), act, nn.Conv3d(4, 2, 1)).eval()
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 2.0)
        net[1].bias.uniform_(-1.0, 1.0)
    fast = prepare_network(net, torch.device("cpu"))
    assert isinstance(fast[3], nn.Identity) and fast[1].activation is not None
    x = torch.randn(2, 2, 6, 7, 8)
    with torch.inference_mode():
        ref = net(x)
        assert (ref < 0).any()  # negative values exist, so the activation matters
        assert torch.allclose(fast(x.contiguous(memory_format=CL)), ref, atol=1e-5)
    # training mode falls back to torch's norm and still applies the activation
    fast.train()
    net.train()
    with torch.no_grad():
        assert torch.allclose(fast(x), net(x), atol=1e-5)


def test_unfusable_activations_stay() -> None:
    net = nn.Sequential(nn.InstanceNorm3d(4), nn.PReLU(4)).eval()  # one slope per channel
    fast = prepare_network(net, torch.device("cpu"))
    assert isinstance(fast[1], nn.PReLU) and fast[0].activation is None
    net = nn.Sequential(nn.InstanceNorm3d(4), nn.Dropout(0.5).train(), nn.ReLU()).eval()
    net[1].train()  # an active dropout between them: not fused
    fast = prepare_network(net, torch.device("cpu"))
    assert isinstance(fast[2], nn.ReLU)


def test_a_norm_shared_by_two_sequences_keeps_each_place_right() -> None:
    """The same norm module before an activation in one place and not in another: the
    activation must not leak into the second place."""
    norm = nn.InstanceNorm3d(2)
    net = nn.Sequential(nn.Sequential(norm, nn.ReLU()), nn.Sequential(norm, nn.Conv3d(2, 2, 1))).eval()
    fast = prepare_network(net, torch.device("cpu"))
    # each place gets its own fast norm: only the one before the ReLU applies it
    assert fast[0][0] is not fast[1][0]
    assert fast[0][0].activation is not None and fast[1][0].activation is None
    x = torch.randn(1, 2, 4, 5, 6)
    with torch.inference_mode():
        assert torch.allclose(fast(x.contiguous(memory_format=CL)), net(x), atol=1e-5)
    block = nn.Sequential(nn.InstanceNorm3d(2), nn.ReLU())  # one block used twice
    net = nn.Sequential(block, nn.Conv3d(2, 2, 1), block).eval()
    fast = prepare_network(net, torch.device("cpu"))
    assert fast[0] is fast[2] and fast[0][0].activation is not None
    with torch.inference_mode():
        assert torch.allclose(fast(x.contiguous(memory_format=CL)), net(x), atol=1e-5)
