"""The recurrent forecasters: GRU, LSTM, and GRU with additive attention, with a quantile head.

A network reads the visit sequence (right-padded, ``lengths`` valid steps each) and the
query (the horizon) and returns quantiles of the CHANGE of log size from the last visit, so
that an untrained or uninformed network falls back to carrying the last value forward.
Quantiles are monotone by construction: the median plus (minus) cumulative softplus steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from interval_growth_forecast.features import N_QUERY_FEATURES, N_VISIT_FEATURES

LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
ARCHITECTURES = ("gru", "lstm", "gru_attention")
OUTPUT_SCALE = 0.1  # raw head outputs -> log-size change (keeps the start near carry-forward)


class AdditiveAttention(nn.Module):
    """a_i = softmax_i(v^T tanh(W_q q + W_k k_i)); returns sum_i a_i k_i and the weights."""

    def __init__(self, query_size: int, key_size: int, size: int) -> None:
        super().__init__()
        self.query = nn.Linear(query_size, size)
        self.key = nn.Linear(key_size, size, bias=False)
        self.score = nn.Linear(size, 1, bias=False)

    def forward(self, query: torch.Tensor, keys: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(torch.tanh(self.query(query)[:, None, :] + self.key(keys)))[..., 0]
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return torch.bmm(weights[:, None, :], keys)[:, 0, :], weights


class GrowthNet(nn.Module):
    """Recurrent encoder + quantile head.  ``cell``: "gru" or "lstm"; ``attention``: bool."""

    def __init__(self, cell: str = "gru", attention: bool = False, hidden: int = 48,
                 head_hidden: int = 64, levels: tuple[float, ...] = LEVELS) -> None:
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"unknown cell {cell!r}")
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(N_VISIT_FEATURES, hidden, batch_first=True)
        self.attention = AdditiveAttention(hidden + N_QUERY_FEATURES, hidden, hidden) \
            if attention else None
        head_in = hidden * (2 if attention else 1) + N_QUERY_FEATURES
        self.head = nn.Sequential(nn.Linear(head_in, head_hidden), nn.Tanh(),
                                  nn.Linear(head_hidden, len(levels)))
        self.levels = tuple(levels)
        self.median_index = self.levels.index(0.5)

    def forward(self, visits: torch.Tensor, lengths: torch.Tensor,
                query: torch.Tensor) -> torch.Tensor:
        """visits (B, T, F), lengths (B,), query (B, Q) -> quantiles of the change (B, L)."""
        outputs, _ = self.rnn(visits)
        last = outputs[torch.arange(outputs.shape[0]), lengths - 1]
        parts = [last]
        if self.attention is not None:
            mask = torch.arange(outputs.shape[1])[None, :] < lengths[:, None]
            context, _ = self.attention(torch.cat([last, query], dim=1), outputs, mask)
            parts.append(context)
        raw = self.head(torch.cat([*parts, query], dim=1))
        return monotone_quantiles(raw, self.median_index) * OUTPUT_SCALE


def monotone_quantiles(raw: torch.Tensor, median_index: int) -> torch.Tensor:
    """Median = raw[m]; the others add (subtract) cumulative softplus steps outward."""
    m = median_index
    median = raw[:, m:m + 1]
    up = median + torch.cumsum(nn.functional.softplus(raw[:, m + 1:]), dim=1)
    down = median - torch.cumsum(nn.functional.softplus(raw[:, :m].flip(1)), dim=1)
    return torch.cat([down.flip(1), median, up], dim=1)


class Ensemble(nn.Module):
    """Several networks of one architecture (different seeds); their quantiles are averaged
    (an average of monotone quantile vectors is monotone)."""

    def __init__(self, members: list[GrowthNet]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.levels = members[0].levels
        self.median_index = members[0].median_index

    def forward(self, visits: torch.Tensor, lengths: torch.Tensor,
                query: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(visits, lengths, query) for m in self.members]).mean(dim=0)


def build(config: dict[str, Any]) -> nn.Module:
    """A network from its JSON config (``architecture``, ``hidden``, ``head_hidden``,
    ``levels``; ``members`` > 1: an :class:`Ensemble` of that many)."""
    arch = config["architecture"]
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}")
    members = int(config.get("members", 1))
    if members < 1:
        raise ValueError(f"members must be >= 1, not {members}")
    if members > 1:
        return Ensemble([build({**config, "members": 1}) for _ in range(members)])
    return GrowthNet(cell="lstm" if arch == "lstm" else "gru",
                     attention=arch == "gru_attention", hidden=int(config["hidden"]),
                     head_hidden=int(config["head_hidden"]),
                     levels=tuple(float(x) for x in config["levels"]))


def pinball_loss(pred: torch.Tensor, target: torch.Tensor, levels: torch.Tensor,
                 weights: torch.Tensor | None = None,
                 level_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean pinball (quantile) loss of quantile predictions (B, L) for targets (B,), optionally
    weighted per example (weights (B,), normalised by their sum) and per level
    (level_weights (L,), normalised to mean 1; each level's term stays a proper score)."""
    diff = target[:, None] - pred
    per_level = torch.maximum(levels * diff, (levels - 1.0) * diff)
    if level_weights is not None:
        per_level = per_level * (level_weights / level_weights.mean())
    loss = per_level.mean(dim=1)
    if weights is None:
        return loss.mean()
    return (loss * weights).sum() / weights.sum()
