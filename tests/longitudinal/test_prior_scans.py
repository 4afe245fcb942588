"""Earlier scans resampled into a later scan's space through the baseline registrations."""

from __future__ import annotations

import dataclasses

import numpy as np

from interval.core.volume import Volume
from interval.longitudinal.model import REG_FAILED
from interval.longitudinal.prior_scans import PriorScan, prior_on_grid, priors_on_grid
from interval.longitudinal.registration import Registration, identity_registration
from interval.longitudinal.registration_transforms import affine_transform


def _blob_volume(centre_mm: tuple[float, float, float], origin=(0.0, 0.0, 0.0)) -> Volume:
    """A 40 x 48 x 56 grid (2 mm) holding a smooth bright blob at ``centre_mm`` (LPS)."""
    shape = (40, 48, 56)
    k, j, i = np.indices(shape).astype(np.float64)
    x, y, z = origin[0] + 2 * i, origin[1] + 2 * j, origin[2] + 2 * k
    d2 = (x - centre_mm[0]) ** 2 + (y - centre_mm[1]) ** 2 + (z - centre_mm[2]) ** 2
    array = (-1000 + 1100 * np.exp(-d2 / (2 * 9.0**2))).astype(np.float32)
    return Volume(array, spacing=(2.0, 2.0, 2.0), origin=origin)


def _translation(shift_mm: tuple[float, float, float], timepoint: int) -> Registration:
    """A registration that maps baseline point p to p + shift in the timepoint's space."""
    base = identity_registration(None, timepoint)
    m = np.eye(4)
    m[:3, 3] = shift_mm
    return dataclasses.replace(base, transform=affine_transform(m), linear=m)


def _peak_lps(v: Volume) -> np.ndarray:
    k, j, i = np.unravel_index(int(np.argmax(v.array)), v.shape)
    return v.index_to_lps(np.array([[i, j, k]], dtype=float))[0]


def test_prior_lands_where_the_anatomy_is_in_the_current_scan() -> None:
    # The same anatomy (a blob at baseline point c) lies at c + s_k in scan k.
    c = np.array([50.0, 40.0, 30.0])
    s_prior, s_current = np.array([6.0, -4.0, 2.0]), np.array([-8.0, 10.0, 4.0])
    prior = _blob_volume(tuple(c + s_prior))
    current = _blob_volume(tuple(c + s_current), origin=(-4.0, 2.0, 0.0))
    moved = prior_on_grid(PriorScan(0, prior, _translation(tuple(s_prior), 0)), current,
                          _translation(tuple(s_current), 1), step=4)
    assert moved is not None and moved.same_grid(current) and moved.array.dtype == np.float32
    np.testing.assert_allclose(_peak_lps(moved), c + s_current, atol=1.01)
    inside = current.array > -900
    assert np.abs(moved.array[inside] - current.array[inside]).max() < 40.0
    # without the registrations the blob would be 14 mm or more away
    assert np.linalg.norm(_peak_lps(prior) - (c + s_current)) > 14


def test_voxels_outside_the_prior_scan_are_air() -> None:
    prior = _blob_volume((50.0, 40.0, 30.0))
    current = _blob_volume((50.0, 40.0, 30.0))
    moved = prior_on_grid(PriorScan(0, prior, _translation((0.0, 0.0, 30.0), 0)), current,
                          identity_registration(None, 1), step=4)
    assert moved is not None
    # baseline z > 78 - 30 mm maps outside the prior (z up to 78 mm): filled with its minimum
    assert np.all(moved.array[-10:] == prior.array.min())


def test_failed_registration_leaves_the_prior_out_with_a_warning() -> None:
    prior = _blob_volume((50.0, 40.0, 30.0))
    current = _blob_volume((50.0, 40.0, 30.0))
    bad = identity_registration(None, 0)
    bad = dataclasses.replace(bad, result=dataclasses.replace(bad.result, status=REG_FAILED))
    good = PriorScan(1, prior, identity_registration(None, 1))
    out, warnings = priors_on_grid([PriorScan(0, prior, bad), good], current,
                                   identity_registration(None, 2), limit=2)
    assert len(out) == 1 and len(warnings) == 1 and "timepoint 1" in warnings[0]
    out, warnings = priors_on_grid([PriorScan(0, prior, bad), good], current,
                                   identity_registration(None, 2), limit=1)
    assert len(out) == 1 and not warnings  # only the latest one was asked for
    assert priors_on_grid([good], current, identity_registration(None, 2), limit=0) == ([], [])
