"""Training examples: every prefix (>= 2 visits) of a trajectory predicting every later visit.

Each example has a weight (``Batch.weight``): (d_last + 1 mm) ** size_weight (large lesions
dominate the error in mm) x (prefix length / (visits - 1)) ** prefix_power (long histories,
like the benchmark's, count more) x ``eval_weight`` for the pairs shaped like the benchmark's
tasks (all visits but the last -> the last; all but the last two -> each of the last two)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from interval_growth_forecast.data import Trajectory
from interval_growth_forecast.features import (
    N_QUERY_FEATURES,
    N_VISIT_FEATURES,
    query_features,
    to_log,
    visit_features,
)

MIN_PREFIX = 2


@dataclass
class Batch:
    """Padded examples: visits (N, T, F), lengths (N,), query (N, Q), target change (N,)."""

    visits: torch.Tensor
    lengths: torch.Tensor
    query: torch.Tensor
    target: torch.Tensor
    horizon_days: np.ndarray
    steps_ahead: np.ndarray
    weight: torch.Tensor

    def __len__(self) -> int:
        return len(self.target)

    def subset(self, index: np.ndarray | torch.Tensor) -> Batch:
        idx = torch.as_tensor(index)
        return Batch(self.visits[idx], self.lengths[idx], self.query[idx], self.target[idx],
                     self.horizon_days[idx.numpy()], self.steps_ahead[idx.numpy()],
                     self.weight[idx])


def make_examples(trajectories: Sequence[Trajectory], *, min_prefix: int = MIN_PREFIX,
                  max_steps: int | None = None, size_weight: float = 0.0,
                  prefix_power: float = 0.0, eval_weight: float = 1.0) -> Batch:
    """Every (prefix of >= ``min_prefix`` visits -> later visit) pair, at most ``max_steps``
    visits ahead when given; weights as in the module docstring (all 1 by default)."""
    feats, lengths, queries, targets, horizons, steps, weights = [], [], [], [], [], [], []
    for t in trajectories:
        y = to_log(t.diameters)
        n = len(t)
        for k in range(min_prefix, n):
            w = math.exp(size_weight * float(y[k - 1])) * (k / (n - 1)) ** prefix_power
            if k == n - 1 or (n >= 5 and k == n - 2):
                w *= eval_weight
            f = visit_features(t.days[:k], y[:k])
            for j in range(k, len(t)):
                if max_steps is not None and j - k + 1 > max_steps:
                    break
                h = float(t.days[j] - t.days[k - 1])
                feats.append(f)
                lengths.append(k)
                queries.append(query_features(h))
                targets.append(float(y[j] - y[k - 1]))
                horizons.append(h)
                steps.append(j - k + 1)
                weights.append(w)
    n = len(feats)
    width = max(lengths) if lengths else 1
    visits = np.zeros((n, width, N_VISIT_FEATURES), dtype=np.float32)
    for i, f in enumerate(feats):
        visits[i, :len(f)] = f
    return Batch(torch.from_numpy(visits), torch.tensor(lengths, dtype=torch.long),
                 torch.from_numpy(np.array(queries, dtype=np.float32).reshape(n, N_QUERY_FEATURES)),
                 torch.tensor(targets, dtype=torch.float32), np.array(horizons),
                 np.array(steps), torch.tensor(weights, dtype=torch.float32))
