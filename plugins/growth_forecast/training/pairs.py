"""Training examples: every prefix (>= 2 visits) of a trajectory predicting every later visit."""

from __future__ import annotations

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

    def __len__(self) -> int:
        return len(self.target)

    def subset(self, index: np.ndarray | torch.Tensor) -> Batch:
        idx = torch.as_tensor(index)
        return Batch(self.visits[idx], self.lengths[idx], self.query[idx], self.target[idx],
                     self.horizon_days[idx.numpy()], self.steps_ahead[idx.numpy()])


def make_examples(trajectories: Sequence[Trajectory], *, min_prefix: int = MIN_PREFIX,
                  max_steps: int | None = None) -> Batch:
    """Every (prefix of >= ``min_prefix`` visits -> later visit) pair, at most ``max_steps``
    visits ahead when given."""
    feats, lengths, queries, targets, horizons, steps = [], [], [], [], [], []
    for t in trajectories:
        y = to_log(t.diameters)
        for k in range(min_prefix, len(t)):
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
    n = len(feats)
    width = max(lengths) if lengths else 1
    visits = np.zeros((n, width, N_VISIT_FEATURES), dtype=np.float32)
    for i, f in enumerate(feats):
        visits[i, :len(f)] = f
    return Batch(torch.from_numpy(visits), torch.tensor(lengths, dtype=torch.long),
                 torch.from_numpy(np.array(queries, dtype=np.float32).reshape(n, N_QUERY_FEATURES)),
                 torch.tensor(targets, dtype=torch.float32), np.array(horizons),
                 np.array(steps))
