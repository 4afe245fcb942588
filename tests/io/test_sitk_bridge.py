"""Volume <-> SimpleITK.Image conversion must be lossless and copy-free where promised."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import SimpleITK as sitk

from interval.core.errors import UnsupportedData
from interval.core.labels import LabelTable
from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume
from interval.io.sitk_bridge import from_sitk, to_sitk


def oblique_direction() -> np.ndarray:
    a, b = 0.3, 0.2
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


def make_volume(dtype: str, shape: tuple[int, int, int] = (4, 5, 6)) -> Volume:
    rng = np.random.default_rng(1)
    if np.dtype(dtype).kind == "f":
        array = rng.normal(size=shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    return Volume(array, (0.7, 0.8, 2.5), (-10.5, 20.25, 33.3), oblique_direction())


@pytest.mark.parametrize("dtype", ["int16", "uint8", "float32", "uint16", "int32"])
def test_round_trip_is_exact(dtype: str) -> None:
    vol = make_volume(dtype)
    image = to_sitk(vol)
    assert image.GetSize() == vol.size_ijk
    assert image.GetSpacing() == vol.spacing
    assert image.GetOrigin() == vol.origin
    assert image.GetDirection() == tuple(vol.direction.reshape(9))
    back = from_sitk(image)
    assert back.array.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.array, vol.array)
    assert back.spacing == vol.spacing
    assert back.origin == vol.origin
    np.testing.assert_array_equal(back.direction, vol.direction)


def test_geometry_means_the_same_point_in_both() -> None:
    vol = make_volume("int16")
    image = to_sitk(vol)
    for ijk in [(0, 0, 0), (5, 4, 3), (2, 1, 3)]:
        np.testing.assert_allclose(
            image.TransformIndexToPhysicalPoint(ijk), vol.index_to_lps(ijk), atol=1e-12
        )
        i, j, k = ijk
        assert image[i, j, k] == vol.array[k, j, i]


def test_from_sitk_shares_memory_and_outlives_the_image() -> None:
    image = sitk.Image(30, 20, 10, sitk.sitkInt16)
    image += 7
    vol = from_sitk(image, VolumeMetadata(modality="CT"))
    # writable, shares the buffer (no copy), and stays valid when the image goes away
    assert vol.array.flags.writeable
    view = sitk.GetArrayViewFromImage(image)
    assert np.shares_memory(vol.array, view) or vol.array.ctypes.data == view.ctypes.data
    del image, view
    gc.collect()
    junk = [sitk.Image(30, 20, 10, sitk.sitkInt16) + 3 for _ in range(5)]
    assert int(vol.array.sum()) == 7 * 30 * 20 * 10
    vol.array[0, 0, 0] = 1
    assert vol.array[0, 0, 0] == 1
    assert vol.metadata.modality == "CT"
    del junk


def test_labels_and_metadata_are_attached() -> None:
    image = sitk.Image(4, 4, 2, sitk.sitkUInt8)
    table = LabelTable.from_names({1: "liver"})
    vol = from_sitk(image, labels=table)
    assert vol.is_label_map and vol.labels is table


def test_two_dimensional_image_becomes_one_slice() -> None:
    image = sitk.GetImageFromArray(np.arange(12, dtype=np.uint8).reshape(3, 4))
    image.SetSpacing((0.5, 0.25))
    vol = from_sitk(image)
    assert vol.shape == (1, 3, 4)
    assert vol.spacing[:2] == (0.5, 0.25)
    np.testing.assert_array_equal(vol.array[0], np.arange(12).reshape(3, 4))


def test_vector_images_are_refused() -> None:
    image = sitk.Image([4, 4, 2], sitk.sitkVectorUInt8, 3)
    with pytest.raises(UnsupportedData):
        from_sitk(image)


def test_bool_and_big_endian_arrays_are_saved_as_their_values() -> None:
    mask = np.zeros((2, 3, 4), dtype=bool)
    mask[1, 2, 3] = True
    assert sitk.GetArrayFromImage(to_sitk(Volume(mask))).sum() == 1
    big = np.arange(24, dtype=">i2").reshape(2, 3, 4)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(to_sitk(Volume(big))), big)
