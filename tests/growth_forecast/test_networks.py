"""The recurrent networks: monotone quantiles, padding, attention."""

from __future__ import annotations

import pytest
import torch
from interval_growth_forecast.features import (
    N_QUERY_FEATURES,
    N_VISIT_FEATURES,
    from_log,
    to_log,
    visit_features,
)
from interval_growth_forecast.networks import LEVELS, build, monotone_quantiles, pinball_loss

CONFIG = {"hidden": 16, "head_hidden": 16, "levels": list(LEVELS)}


def test_log_size_handles_zero_and_round_trips():
    assert to_log(0.0) == 0.0
    assert abs(float(from_log(to_log(23.0))) - 23.0) < 1e-9
    assert float(from_log(-5.0)) == 0.0


def test_visit_features_describe_time_and_change():
    f = visit_features([0.0, 50.0, 150.0], to_log([10.0, 12.0, 0.0]))
    assert f.shape == (3, N_VISIT_FEATURES)
    assert f[1, 0] == pytest.approx(0.5) and f[2, 1] == pytest.approx(1.5)
    assert f[0, 5] == 1 and f[1, 5] == 0
    assert f[2, 3] == pytest.approx(-float(to_log(12.0)))


def test_monotone_quantiles_are_sorted_whatever_the_raw_output():
    q = monotone_quantiles(torch.randn(50, len(LEVELS)) * 10, LEVELS.index(0.5))
    assert torch.all(q[:, 1:] >= q[:, :-1])


@pytest.mark.parametrize("arch", ["gru", "lstm", "gru_attention"])
def test_right_padding_does_not_change_the_output(arch):
    torch.manual_seed(0)
    net = build({**CONFIG, "architecture": arch}).eval()
    x = torch.randn(1, 3, N_VISIT_FEATURES)
    q = torch.randn(1, N_QUERY_FEATURES)
    padded = torch.cat([x, torch.randn(1, 4, N_VISIT_FEATURES) * 100], dim=1)
    with torch.no_grad():
        a = net(x, torch.tensor([3]), q)
        b = net(padded, torch.tensor([3]), q)
    assert torch.allclose(a, b, atol=1e-6)
    assert a.shape == (1, len(LEVELS))


def test_attention_weights_sum_to_one_and_skip_padding():
    torch.manual_seed(1)
    net = build({**CONFIG, "architecture": "gru_attention"})
    keys = torch.randn(2, 5, 16)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    _, w = net.attention(torch.randn(2, 16 + N_QUERY_FEATURES), keys, mask)
    assert torch.allclose(w.sum(1), torch.ones(2))
    assert torch.all(w[1, 2:] == 0)


def test_pinball_is_minimised_by_the_true_quantile():
    torch.manual_seed(2)
    y = torch.randn(20000)
    levels = torch.tensor([0.1, 0.5, 0.9])
    true_q = torch.quantile(y, levels)
    best = pinball_loss(true_q.expand(len(y), 3), y, levels)
    worse = pinball_loss((true_q + 0.2).expand(len(y), 3), y, levels)
    assert best < worse


def test_ensemble_averages_its_members_quantiles():
    torch.manual_seed(0)
    ens = build({**CONFIG, "architecture": "gru", "members": 3}).eval()
    x = torch.randn(4, 3, N_VISIT_FEATURES)
    lengths = torch.tensor([3, 2, 3, 1])
    q = torch.randn(4, N_QUERY_FEATURES)
    with torch.no_grad():
        out = ens(x, lengths, q)
        each = torch.stack([m(x, lengths, q) for m in ens.members])
    assert torch.allclose(out, each.mean(dim=0))
    assert not torch.allclose(each[0], each[1])
    assert torch.all(out[:, 1:] >= out[:, :-1])
    assert all(k.startswith("members.") for k in ens.state_dict())


def test_level_weights_scale_the_pinball_terms():
    levels = torch.tensor([0.1, 0.5, 0.9])
    pred = torch.tensor([[0.0, 0.8, 0.0]]).expand(5, 3)
    y = torch.linspace(-1, 1, 5)
    plain = pinball_loss(pred, y, levels)
    weighted = pinball_loss(pred, y, levels, level_weights=torch.tensor([1.0, 1.0, 1.0]))
    assert weighted == pytest.approx(float(plain))
    heavy = pinball_loss(pred, y, levels, level_weights=torch.tensor([1.0, 3.0, 1.0]))
    assert float(heavy) != pytest.approx(float(plain))
