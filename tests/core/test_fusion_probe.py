"""The value of a fused PET at a patient point, sampled on the PET's own grid."""

from __future__ import annotations

import numpy as np
import pytest

from interval.core.fusion_probe import format_probe_value, probe_text, sample_at
from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume


def _pet(units: str = "SUVbw", dtype: type = np.float32) -> Volume:
    """4 mm voxels from (-30, -30, -14), 16 x 16 x 8; value = i + 10 j + 100 k."""
    k, j, i = np.meshgrid(np.arange(8), np.arange(16), np.arange(16), indexing="ij")
    array = (i + 10 * j + 100 * k).astype(dtype)
    md = VolumeMetadata(modality="PT", units=units)
    return Volume(array, spacing=(4.0, 4.0, 4.0), origin=(-30.0, -30.0, -14.0), metadata=md)


def test_a_voxel_centre_gives_that_voxel() -> None:
    pet = _pet()
    lps = pet.index_to_lps((8, 3, 4))  # (2, -18, 2) mm
    assert sample_at(pet, lps) == pytest.approx(8 + 30 + 400)
    assert probe_text(pet, lps) == "PET SUVbw 438.00"


def test_between_centres_is_linear_on_the_pet_grid() -> None:
    pet = _pet()
    # 1 mm right of voxel (8, 3, 4)'s centre = a quarter of a 4 mm PET voxel in i,
    # 2 mm in j (half a voxel), 3 mm in k
    lps = np.asarray(pet.index_to_lps((8, 3, 4))) + (1.0, 2.0, 3.0)
    assert sample_at(pet, lps) == pytest.approx(8.25 + 35.0 + 475.0)


def test_rotated_grid_is_followed() -> None:
    pet = _pet()
    d = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # i along -P, j along +L
    rotated = Volume(pet.array, pet.spacing, (0.0, 0.0, 0.0), d, pet.metadata)
    # voxel (3, 2, 1): 12 mm along i (y = -12), 8 mm along j (x = +8), 4 mm along k
    assert sample_at(rotated, (8.0, -12.0, 4.0)) == pytest.approx(3 + 10 * 2 + 100 * 1)
    assert sample_at(rotated, (-8.0, 12.0, 4.0)) is None  # the other way round: outside


def test_outside_the_extent_is_a_dash() -> None:
    pet = _pet()
    edge = np.asarray(pet.index_to_lps((15, 0, 7)))
    assert sample_at(pet, edge + (1.9, 0.0, 0.0)) == pytest.approx(15 + 700)  # half voxel: edge
    assert sample_at(pet, edge + (2.1, 0.0, 0.0)) is None
    assert sample_at(pet, edge + (0.0, -2.1, 0.0)) is None
    assert probe_text(pet, edge + (0.0, 0.0, 50.0)) == "PET -"


def test_units_other_than_suv_follow_the_value() -> None:
    pet = _pet("Bq/mL", np.uint16)
    assert probe_text(pet, pet.index_to_lps((4, 2, 12 // 4))) == "PET 324 Bq/mL"
    assert format_probe_value(12.3456, "Bq/mL") == "12.35 Bq/mL"
    assert format_probe_value(0.00001234, "") == "0.000012"
    assert format_probe_value(3.2, "SUVbw") == "SUVbw 3.20"
    unnamed = Volume(np.ones((2, 2, 2), np.float32), metadata=VolumeMetadata())
    assert probe_text(unnamed, (0.0, 0.0, 0.0)) == "overlay 1"
