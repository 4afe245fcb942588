"""The built-in architectures of interval.ai.networks (the 3-D U-Net)."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")  # torch is a hard dependency; present in CI

from interval.ai.networks import available_networks, build_network  # noqa: E402
from interval.ai.networks.unet3d import UNet3DConfig  # noqa: E402

TINY = {"in_channels": 1, "out_channels": 3, "base_channels": 4, "num_stages": 3,
        "max_channels": 12, "norm": "instance"}


def _expected_params(c_in: int, c_out: int, base: int, stages: int, cap: int,
                     norm: str = "instance") -> int:
    """Parameter count written out independently of the module code."""
    ch = [min(base * 2**s, cap) for s in range(stages)]
    affine = 2 if norm != "none" else 0
    bias = 1 if norm == "none" else 0

    def block(a: int, b: int) -> int:
        return a * b * 27 + b * bias + b * affine

    n = 0
    for s, c in enumerate(ch):
        n += block(c_in if s == 0 else ch[s - 1], c) + block(c, c)
    for s in range(stages - 1, 0, -1):
        n += ch[s] * ch[s - 1] * 8  # transposed conv, no bias
        n += block(2 * ch[s - 1], ch[s - 1]) + block(ch[s - 1], ch[s - 1])
    return n + ch[0] * c_out + c_out


def test_import_does_not_import_torch() -> None:
    code = ("import sys, interval.ai.networks as n; assert n.available_networks(); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_registry_names_and_errors() -> None:
    assert "unet3d" in available_networks()
    with pytest.raises(KeyError, match="unknown built-in network"):
        build_network("no-such-net", {})
    with pytest.raises(ValueError, match="unknown unet3d parameter.*kernel"):
        build_network("unet3d", {**TINY, "kernel": 5})
    with pytest.raises(ValueError, match="norm"):
        build_network("unet3d", {**TINY, "norm": "group"})
    with pytest.raises(ValueError, match="integer"):
        build_network("unet3d", {**TINY, "base_channels": 4.5})
    with pytest.raises(ValueError, match="max_channels"):
        build_network("unet3d", {**TINY, "max_channels": 2})
    with pytest.raises(ValueError, match="JSON object"):
        build_network("unet3d", [1, 2])  # type: ignore[arg-type]


def test_depth_is_an_alias_of_num_stages() -> None:
    params = {k: v for k, v in TINY.items() if k != "num_stages"}
    assert UNet3DConfig.from_params({**params, "depth": 2}).num_stages == 3
    with pytest.raises(ValueError, match="disagree"):
        UNet3DConfig.from_params({**params, "depth": 2, "num_stages": 4})


@pytest.mark.parametrize("size", [(4, 8, 12), (8, 16, 24), (12, 20, 4)])
def test_output_shape_odd_and_even_multiples(size: tuple[int, int, int]) -> None:
    # num_stages 3 -> sizes must be multiples of 4; 12 and 20 are odd multiples of 4.
    torch.manual_seed(0)
    net = build_network("unet3d", TINY).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, *size))
    assert tuple(out.shape) == (2, 3, *size)
    assert torch.isfinite(out).all()


def test_bad_input_sizes_are_refused() -> None:
    net = build_network("unet3d", TINY)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(1, 1, 8, 8, 6))
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(1, 8, 8, 8))


@pytest.mark.parametrize("cfg", [
    (1, 3, 4, 3, 12, "instance"),
    (2, 5, 8, 4, 24, "batch"),
    (1, 2, 4, 1, 4, "none"),
    (1, 10, 16, 4, 128, "instance"),  # the shipped phantom model's size
])
def test_parameter_counts(cfg: tuple) -> None:
    c_in, c_out, base, stages, cap, norm = cfg
    net = build_network("unet3d", {"in_channels": c_in, "out_channels": c_out,
                                   "base_channels": base, "num_stages": stages,
                                   "max_channels": cap, "norm": norm})
    n = sum(p.numel() for p in net.parameters())
    assert n == _expected_params(c_in, c_out, base, stages, cap, norm)


def test_channels_are_capped() -> None:
    cfg = UNet3DConfig.from_params({**TINY, "num_stages": 5, "max_channels": 16})
    assert cfg.channels == [4, 8, 16, 16, 16]
    assert cfg.size_multiple == 16


def test_same_seed_same_network_and_output() -> None:
    x = torch.randn(1, 1, 8, 8, 8)
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        net = build_network("unet3d", TINY).eval()
        with torch.no_grad():
            outs.append(net(x))
    assert torch.equal(outs[0], outs[1])
    torch.manual_seed(124)
    other = build_network("unet3d", TINY).eval()
    with torch.no_grad():
        assert not torch.allclose(other(x), outs[0])


def test_state_dict_round_trip_through_safetensors(tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    torch.manual_seed(1)
    net = build_network("unet3d", {**TINY, "norm": "batch"})
    # Give the batch-norm buffers non-default values so they must travel too.
    net.train()
    with torch.no_grad():
        net(torch.randn(2, 1, 8, 8, 8))
    net.eval()
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    torch.manual_seed(2)
    fresh = build_network("unet3d", {**TINY, "norm": "batch"}).eval()
    x = torch.randn(1, 1, 8, 12, 8)
    with torch.no_grad():
        assert not torch.allclose(fresh(x), net(x))
        fresh.load_state_dict(load_file(str(path)), strict=True)
        assert torch.equal(fresh(x), net(x))
    assert set(load_file(str(path))) == set(net.state_dict())
