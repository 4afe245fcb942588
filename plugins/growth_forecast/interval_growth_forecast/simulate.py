"""Simulated lesion trajectories from published growth laws, for optional pretraining/augmentation.

Each trajectory: a growth law (exponential, Gompertz, logistic or von Bertalanffy) for the
untreated log-volume growth rate, a treatment starting at day 0 that kills a sensitive
fraction whose effect fades (resistance: regrowth), visits every 5-13 weeks from a baseline
up to 6 weeks before day 0, 10-25% multiplicative measurement noise on the diameter and
integer-millimetre rounding (under 2.5 mm reads as 0 mm, not measurable).
"""

from __future__ import annotations

import numpy as np

from interval_growth_forecast.data import Trajectory

LAWS = ("exponential", "gompertz", "logistic", "bertalanffy")
YEAR = 365.25


def _growth_rate(law: str, logv: np.ndarray, r: float, log_k: float) -> np.ndarray:
    """d ln V / dt (per year) of the untreated law at log-volume ``logv`` (mm^3)."""
    if law == "exponential":
        return np.full_like(logv, r)
    if law == "gompertz":
        return r * (log_k - logv) / 3.0
    if law == "logistic":
        return r * (1.0 - np.exp(np.minimum(logv - log_k, 50.0)))
    # von Bertalanffy: dV/dt = a V^(2/3) - b V, with b chosen so that V = K is the plateau
    return r * (np.exp((log_k - logv) / 3.0) - 1.0)


def simulate(n: int, seed: int) -> list[Trajectory]:
    """``n`` simulated trajectories (ids ``sim-<seed>-<k>``), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        law = LAWS[rng.integers(len(LAWS))]
        n_visits = int(rng.integers(3, 13))
        first = -float(rng.integers(0, 42))
        gaps = rng.uniform(35, 92, size=n_visits - 1)
        gaps[rng.random(n_visits - 1) < 0.08] *= rng.uniform(1.5, 3.0)
        days = np.round(first + np.concatenate([[0.0], np.cumsum(gaps)]))
        d0 = float(np.clip(rng.lognormal(np.log(22.0), 0.6), 8.0, 180.0))
        logv = np.log(0.52 * d0**3)
        r = float(rng.uniform(0.2, 3.0))  # untreated growth rate, per year
        log_k = logv + float(rng.uniform(0.5, 4.0))
        kill = float(rng.choice([0.0, rng.uniform(0.5, 6.0)], p=[0.25, 0.75]))
        fade = float(rng.uniform(60, 600))  # days until the treatment effect has mostly faded
        step = 3.0
        grid = np.arange(first, days[-1] + step, step)
        traj = np.empty_like(grid)
        for i, day in enumerate(grid):
            traj[i] = logv
            rate = _growth_rate(law, np.array([logv]), r, log_k)[0]
            if day >= 0:
                rate -= kill * np.exp(-day / fade)
            logv = min(logv + rate * step / YEAR, log_k + 1.0)
        true_logv = np.interp(days, grid, traj)
        d_true = np.cbrt(np.exp(true_logv) / 0.52)
        noise = float(rng.uniform(0.10, 0.25))
        d_obs = d_true * np.exp(rng.normal(0.0, noise, size=n_visits))
        d_obs = np.where(d_obs < 2.5, 0.0, np.round(d_obs))
        out.append(Trajectory(f"sim-{seed}-{k}", days.astype(float), d_obs.astype(float),
                              study=f"simulated {law}"))
    return out
