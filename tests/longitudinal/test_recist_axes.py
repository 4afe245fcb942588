"""RECIST axes on voxel geometry: exact against brute force on random shapes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from interval.longitudinal.recist_axes import (
    extreme_voxels,
    in_plane_metric,
    long_and_short_axis,
    max_3d_diameter,
)


def _corners(mask: np.ndarray, metric: np.ndarray) -> np.ndarray:
    """Every corner of every voxel of ``mask`` in mm (brute force: no hull, no filtering)."""
    idx = np.argwhere(mask)[:, ::-1].astype(np.float64)  # (i, j[, k])
    offsets = itertools.product((-0.5, 0.5), repeat=mask.ndim)
    return np.concatenate([idx + np.array(o) for o in offsets]) @ metric.T


def _brute_diameter(mask: np.ndarray, metric: np.ndarray) -> float:
    pts = _corners(mask, metric)
    return float(np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)).max())


def _brute_centre_diameter(mask: np.ndarray, metric: np.ndarray) -> float:
    """The other common convention: centre to centre of the extreme voxels."""
    pts = np.argwhere(mask)[:, ::-1].astype(np.float64) @ metric.T
    return float(np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)).max())


def _brute_chord(mask: np.ndarray, metric: np.ndarray, along: np.ndarray, sub: int = 12) -> float:
    """Longest chord along ``along`` by supersampling each pixel ``sub`` x ``sub`` and
    binning the samples by their position across the chord direction."""
    w = along / np.linalg.norm(along)
    u = np.array([w[1], -w[0]])
    jj, ii = np.nonzero(mask)
    f = (np.arange(sub) + 0.5) / sub - 0.5
    di, dj = np.meshgrid(f, f, indexing="ij")
    pts = np.stack([(ii[:, None] + di.ravel()).ravel(), (jj[:, None] + dj.ravel()).ravel()], 1)
    mm = pts @ metric.T
    t, s = mm @ u, mm @ w
    step = 0.5 * float(np.min(np.abs(np.diag(metric)))) / sub
    bins = np.floor(t / step).astype(np.int64)
    order = np.argsort(bins, kind="stable")
    b, s = bins[order], s[order]
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    return float((np.maximum.reduceat(s, starts) - np.minimum.reduceat(s, starts)).max())


def _random_blob(rng: np.random.Generator, size: int = 36) -> np.ndarray:
    """A union of 1-3 random rotated ellipses (convex, lobulated or dumbbell shapes)."""
    mask = np.zeros((size, size), bool)
    jj, ii = np.mgrid[:size, :size]
    for _ in range(int(rng.integers(1, 4))):
        cj, ci = rng.uniform(8, size - 8, 2)
        a, b = rng.uniform(1.5, 9), rng.uniform(1, 6)
        th = rng.uniform(0, np.pi)
        x = (ii - ci) * np.cos(th) + (jj - cj) * np.sin(th)
        y = -(ii - ci) * np.sin(th) + (jj - cj) * np.cos(th)
        mask |= (x / a) ** 2 + (y / b) ** 2 <= 1
    return mask


@pytest.mark.parametrize("seed", range(6))
def test_long_axis_equals_brute_force_on_random_shapes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(8):
        mask = _random_blob(rng)
        spacing = tuple(rng.uniform(0.5, 1.6, 2))
        metric = np.diag(spacing)
        axes = long_and_short_axis(mask, spacing)
        exact = _brute_diameter(mask, metric)
        assert axes.long_mm == pytest.approx(exact, abs=1e-9)
        # The end points are real and give the length.
        p, q = np.array(axes.long_start)[::-1], np.array(axes.long_end)[::-1]  # (i, j)
        assert np.linalg.norm(metric @ (p - q)) == pytest.approx(exact, abs=1e-9)
        # The criterion: within one voxel of the centre-to-centre reference.
        centre = _brute_centre_diameter(mask, metric)
        assert 0.0 <= axes.long_mm - centre <= np.hypot(*spacing) + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_short_axis_is_the_longest_perpendicular_chord(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    for _ in range(5):
        mask = _random_blob(rng)
        spacing = tuple(rng.uniform(0.6, 1.4, 2))
        metric = np.diag(spacing)
        axes = long_and_short_axis(mask, spacing)
        p, q = np.array(axes.long_start)[::-1], np.array(axes.long_end)[::-1]
        along_long = metric @ (q - p)
        perp = np.array([-along_long[1], along_long[0]])
        # Drawn exactly perpendicular, with the length its end points give.
        s0, s1 = np.array(axes.short_start)[::-1], np.array(axes.short_end)[::-1]
        drawn = metric @ (s1 - s0)
        assert np.linalg.norm(drawn) == pytest.approx(axes.short_mm, abs=1e-6)
        assert abs(drawn @ along_long) <= 1e-6 * np.linalg.norm(along_long) * max(axes.short_mm, 1)
        reference = _brute_chord(mask, metric, perp)
        assert axes.short_mm == pytest.approx(reference, abs=0.25 * max(spacing))
        assert axes.short_mm <= axes.long_mm + 1e-9


def test_known_shapes() -> None:
    one = np.zeros((5, 5), bool)
    one[2, 2] = True
    axes = long_and_short_axis(one, (1.0, 2.0))
    assert axes.long_mm == pytest.approx(np.hypot(1.0, 2.0))  # the pixel's diagonal
    bar = np.zeros((8, 20), bool)
    bar[3, 2:12] = True  # 10 x 1 pixels of 0.5 x 1.0 mm
    axes = long_and_short_axis(bar, (0.5, 1.0))
    assert axes.long_mm == pytest.approx(np.hypot(5.0, 1.0))
    # Perpendicular to that diagonal, the longest chord crosses the bar's full height
    # at a slant: the 1 mm height divided by cos of the diagonal's angle to the long side.
    assert axes.short_mm == pytest.approx(1.0 / (5.0 / np.hypot(5.0, 1.0)), rel=1e-9)
    empty = long_and_short_axis(np.zeros((4, 4), bool))
    assert empty.long_mm == 0.0 and empty.short_mm == 0.0


def test_short_axis_is_a_chord_not_the_width() -> None:
    """An L shape: the width across the long axis is larger than any single chord."""
    mask = np.zeros((30, 30), bool)
    mask[2:28, 2:6] = True  # long vertical bar
    mask[2:6, 2:16] = True  # short horizontal arm at the top
    axes = long_and_short_axis(mask)
    p, q = np.array(axes.long_start)[::-1], np.array(axes.long_end)[::-1]
    d = (q - p) / np.linalg.norm(q - p)
    perp = np.array([-d[1], d[0]])
    corners = _corners(mask, np.eye(2))
    width = float(np.ptp(corners @ perp))
    assert axes.short_mm < width - 1.0
    assert axes.short_mm == pytest.approx(_brute_chord(mask, np.eye(2), perp), abs=0.25)


def test_tolerance_never_gives_a_shorter_short_axis() -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        mask = _random_blob(rng)
        exact = long_and_short_axis(mask)
        loose = long_and_short_axis(mask, perpendicular_tolerance_deg=3.0)
        assert loose.short_mm >= exact.short_mm - 1e-9
        assert loose.long_mm == exact.long_mm


@pytest.mark.parametrize("sheared", [False, True])
def test_max_3d_diameter_equals_brute_force(sheared: bool) -> None:
    rng = np.random.default_rng(3)
    for _ in range(12):
        mask = rng.random((5, 6, 7)) < 0.25
        mask[2, 3, 3] = True
        metric = np.diag(rng.uniform(0.5, 2.0, 3))
        if sheared:
            metric = metric + rng.normal(0, 0.25, (3, 3))
        assert max_3d_diameter(mask, metric=metric) == pytest.approx(
            _brute_diameter(mask, metric), abs=1e-9)


def test_oblique_plane_metric_keeps_distances() -> None:
    angle = np.radians(30)
    direction = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                          [0, 0, 1]])
    metric = in_plane_metric((0.8, 1.2), direction)
    v = np.array([3.0, -2.0])
    lps = direction[:, :2] @ (np.array([0.8, 1.2]) * v)
    assert np.linalg.norm(metric @ v) == pytest.approx(np.linalg.norm(lps))


def test_extreme_voxels_keeps_what_the_hull_needs() -> None:
    cube = np.ones((5, 5, 5), bool)
    rim = extreme_voxels(cube)
    assert rim.sum() == 8  # only the corners are not between two others
    assert max_3d_diameter(cube) == pytest.approx(np.sqrt(75.0))
