"""Transforms: reorientation and resampling are exactly invertible for labels."""

from __future__ import annotations

import numpy as np
import pytest

from interval.ai.model_package import Normalization
from interval.ai.transforms import (
    Grid,
    PadToPatch,
    Reorient,
    Resample,
    normalize,
    orientation_code,
)

# i -> S, j -> R, k -> A : a non-identity, axis-permuting direction
DIRECTION = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def _grid(shape=(7, 9, 11), spacing=(0.9, 3.0, 0.8), origin=(10.0, -20.0, 5.0),
          direction=DIRECTION) -> Grid:
    return Grid(shape, spacing, origin, np.asarray(direction, dtype=float))


def _world(grid: Grid, zyx: np.ndarray) -> np.ndarray:
    ijk = zyx[:, ::-1].astype(float)
    return ijk @ grid.affine[:3, :3].T + grid.affine[:3, 3]


def test_orientation_code() -> None:
    assert orientation_code(np.eye(3)) == "LPS"
    assert orientation_code(np.diag([-1.0, -1.0, 1.0])) == "RAS"
    assert orientation_code(DIRECTION) == "SRA"


@pytest.mark.parametrize("code", ["RAS", "LPS", "PIR", "ASL"])
def test_reorient_keeps_every_voxel_in_place(code: str) -> None:
    grid = _grid()
    arr = np.arange(np.prod(grid.shape)).reshape(grid.shape)
    step = Reorient(grid, code)
    out = step.apply(arr)
    assert out.shape == step.grid_out.shape
    assert orientation_code(step.grid_out.direction) == code
    # every output voxel sits at the same LPS point as the input voxel holding that value
    zyx_out = np.argwhere(np.ones(out.shape, bool))
    vals = out[tuple(zyx_out.T)]
    zyx_in = np.stack(np.unravel_index(vals, arr.shape), axis=1)
    assert np.allclose(_world(step.grid_out, zyx_out), _world(grid, zyx_in), atol=1e-9)
    assert np.array_equal(step.invert_labels(out), arr)


def test_reorient_identity_for_matching_code() -> None:
    grid = _grid(direction=np.eye(3))
    assert Reorient(grid, "LPS").is_identity
    assert not Reorient(grid, "RAS").is_identity


def test_resample_grid_covers_same_field_of_view() -> None:
    grid = _grid(shape=(40, 50, 60), spacing=(0.7, 0.7, 1.25), direction=np.eye(3))
    step = Resample(grid, (1.5, 1.5, 1.5))
    g = step.grid_out
    assert g.shape == (33, 23, 28)  # round(n * s / t), z-y-x
    for a in range(3):
        n_in, n_out = grid.size_xyz[a], g.size_xyz[a]
        assert n_out * g.spacing[a] == pytest.approx(n_in * grid.spacing[a])
        # first voxel edge coincides
        assert g.origin[a] - g.spacing[a] / 2 == pytest.approx(grid.origin[a] - grid.spacing[a] / 2)


@pytest.mark.parametrize("target", [(1.5, 1.5, 1.5), (0.3, 2.0, 0.77), (0.9, 3.0, 0.8)])
def test_resampled_labels_land_on_the_input_grid_by_nearest_neighbour(target) -> None:
    grid = _grid(shape=(13, 17, 19))
    step = Resample(grid, target)
    iz, iy, ix = step.label_indices()
    # physically nearest model voxel for every input voxel, computed from the two affines
    for axis, idx in enumerate((iz, iy, ix)):
        a = 2 - axis
        n = grid.shape[axis]
        centre = np.zeros((n, 3))
        centre[:, a] = np.arange(n) * grid.spacing[a]
        world = grid.affine[:3, 3] + centre @ grid.direction.T
        cont = np.linalg.solve(step.grid_out.affine[:3, :3], (world - step.grid_out.origin).T).T
        expect = np.clip(np.floor(cont[:, a] + 0.5 + 1e-9), 0, step.grid_out.shape[axis] - 1)
        assert np.array_equal(idx, expect.astype(int))
    model_labels = np.random.default_rng(0).integers(0, 5, step.grid_out.shape).astype(np.uint8)
    back = step.invert_labels(model_labels)
    assert back.shape == grid.shape and back.dtype == np.uint8
    assert np.array_equal(back, model_labels[np.ix_(iz, iy, ix)])


def test_resample_identity_and_odd_upsampling_is_exact() -> None:
    grid = _grid(shape=(6, 8, 10), spacing=(1.0, 1.0, 3.0), direction=np.eye(3))
    assert Resample(grid, (1.0, 1.0, 3.0)).is_identity
    arr = np.random.default_rng(1).normal(size=grid.shape).astype(np.float32)
    step = Resample(grid, (1.0, 1.0, 1.0))
    up = step.apply(arr)
    assert up.shape == (18, 8, 10)
    iz, iy, ix = step.label_indices()
    # nearest model voxels of odd-integer upsampling sit on the input centres: same values
    assert np.allclose(up[np.ix_(iz, iy, ix)], arr, atol=1e-5)


def test_pad_to_patch_and_back() -> None:
    grid = _grid(shape=(5, 20, 3), direction=np.eye(3), spacing=(1.0, 2.0, 3.0))
    step = PadToPatch(grid, (8, 16, 4))
    arr = np.ones(grid.shape, np.float32)
    out = step.apply(arr)
    assert out.shape == (8, 20, 4)
    assert out.sum() == arr.sum()
    assert step.pads == [(1, 2), (0, 0), (0, 1)]
    # the original voxels keep their position in space
    assert np.allclose(step.grid_out.origin, (10.0, -20.0, 5.0 - 3.0))
    assert np.array_equal(step.invert_labels(out.astype(np.uint8)), arr.astype(np.uint8))


def test_normalize_schemes() -> None:
    rng = np.random.default_rng(0)
    ct = rng.normal(0, 600, size=(20, 20, 20)).astype(np.int16)
    out = normalize(ct, Normalization("ct", clip=(-100.0, 300.0), mean=100.0, std=50.0))
    assert out.dtype == np.float32
    assert out.min() == pytest.approx(-4.0) and out.max() == pytest.approx(4.0)
    mr = rng.gamma(2.0, 100.0, size=(30, 30, 30)).astype(np.float32)
    z = normalize(mr, Normalization("zscore_percentile", lower=1.0, upper=99.0))
    assert abs(float(z.mean())) < 0.01 and float(z.std()) == pytest.approx(1.0, abs=0.01)
    mm = normalize(mr, Normalization("minmax_percentile", lower=0.0, upper=100.0))
    assert mm.min() == pytest.approx(0.0) and mm.max() == pytest.approx(1.0)
    raw = normalize(ct, Normalization("none"))
    assert np.array_equal(raw, ct.astype(np.float32)) and raw.base is not ct


def test_normalize_foreground_ignores_background() -> None:
    mr = np.zeros((20, 20, 20), np.float32)
    mr[5:15, 5:15, 5:15] = np.random.default_rng(0).normal(500, 50, (10, 10, 10))
    z = normalize(mr, Normalization("zscore_percentile", lower=0.0, upper=100.0,
                                    foreground=True))
    fg = z[5:15, 5:15, 5:15]
    assert abs(float(fg.mean())) < 0.05 and float(fg.std()) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(("shape", "target"), [
    ((7, 9, 11), (2.0, 2.0, 2.0)),  # down along some axes, up along others
    ((12, 5, 6), (0.3, 1.1, 0.7)),  # up everywhere
    ((7, 9, 11), (0.8, 3.0, 0.45)),  # identity in-plane (x, y), up along z
])
def test_values_come_back_by_trilinear_interpolation(shape, target) -> None:
    import torch
    import torch.nn.functional as F

    grid = _grid(shape=shape, spacing=(0.8, 3.0, 0.9))
    rs = Resample(grid, target)
    values = np.random.default_rng(0).random(rs.grid_out.shape).astype(np.float32)
    expect = F.interpolate(torch.from_numpy(values)[None, None], size=shape, mode="trilinear",
                           align_corners=False)[0, 0].numpy()
    for slab in (1, 3, 64):
        back = rs.invert_values(values, slab=slab)
        assert back.dtype == np.float32 and back.shape == shape
        np.testing.assert_allclose(back, expect, atol=1e-5)
    as_bytes = rs.invert_values(values, scale=255.0, dtype=np.uint8)
    assert as_bytes.dtype == np.uint8
    assert np.abs(as_bytes.astype(int) - np.rint(expect * 255)).max() <= 1


def test_value_inversion_rounds_and_clips_into_integers() -> None:
    grid = _grid(shape=(4, 4, 4), spacing=(1.0, 1.0, 1.0))
    rs = Resample(grid, (2.0, 2.0, 2.0))
    values = np.array([-1.0, 0.4, 0.6, 2.0], np.float32)[:, None, None] * np.ones(
        (1, 2, 2), np.float32)
    values = values[[0, 3]]  # model grid 2 x 2 x 2: -1 and 2
    out = rs.invert_values(values, scale=255.0, dtype=np.uint8)
    assert out.min() == 0 and out.max() == 255  # clipped, not wrapped
    same = Resample(grid, (1.0, 1.0, 1.0))  # identity: values as they are
    ident = np.random.default_rng(1).random((4, 4, 4)).astype(np.float32)
    assert np.array_equal(same.invert_values(ident), ident)
    with pytest.raises(ValueError, match="not on the model grid"):
        rs.invert_values(ident)
