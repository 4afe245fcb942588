"""load_stack_slices: only the asked slices read, with the whole stack's geometry."""

from __future__ import annotations

import numpy as np
import pytest

from interval.core.errors import IrregularGeometry
from interval.io.dicom import pixels
from interval.io.dicom.load import load_stack, load_stack_slices
from interval.io.dicom.policy import DicomReadPolicy
from tests.io.dicom.test_load import stack_of, write_series, zs

N = 24


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slices")
    paths, _stored, _uids = write_series(folder, zs(*[2.0 * k for k in range(N)]), rows=12, cols=10)
    return paths


def test_asked_slices_equal_the_full_load_and_others_are_zero(series, monkeypatch) -> None:
    full = load_stack(stack_of(series))
    read = []
    original = pixels.read_pixels

    def counting(frames, **kwargs):
        read.append(len(frames))
        return original(frames, **kwargs)

    monkeypatch.setattr(pixels, "read_pixels", counting)
    part = load_stack_slices(stack_of(series), [3, 4, 17, 99, -1])  # out-of-range ignored
    assert read == [3]  # only the asked slices were read
    assert part.shape == full.shape and part.dtype == full.dtype
    for k in range(N):
        expected = full.array[k] if k in (3, 4, 17) else np.zeros_like(full.array[k])
        np.testing.assert_array_equal(part.array[k], expected)
    assert part.spacing == full.spacing and part.origin == full.origin
    np.testing.assert_array_equal(part.direction, full.direction)
    assert part.metadata.sop_instance_uids == full.metadata.sop_instance_uids


def test_no_slices_gives_the_grid_without_reading(series, monkeypatch) -> None:
    monkeypatch.setattr(pixels, "read_pixels", lambda *a, **k: pytest.fail("read pixels"))
    grid = load_stack_slices(stack_of(series), [])
    full_shape = (N, 12, 10)
    assert grid.shape == full_shape and not grid.array.any()


def test_irregular_stack_follows_the_policy(tmp_path) -> None:
    paths, _s, _u = write_series(tmp_path, zs(0.0, 2.0, 4.0, 9.0, 11.0), rows=8, cols=8)
    with pytest.raises(IrregularGeometry):
        load_stack_slices(stack_of(paths), [1])
    as_is = load_stack_slices(stack_of(paths), [1], DicomReadPolicy(irregular="as-is"))
    full = load_stack(stack_of(paths), DicomReadPolicy(irregular="as-is"))
    np.testing.assert_array_equal(as_is.array[1], full.array[1])
    assert not as_is.array[0].any()
    assert as_is.metadata.warnings == full.metadata.warnings
