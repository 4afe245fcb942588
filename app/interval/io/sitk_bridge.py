"""Lossless conversion between :class:`Volume` and ``SimpleITK.Image``.

Both use the same conventions (array ``[k, j, i]``, spacing/origin in
``(i, j, k)`` order, LPS, a row-major 3x3 direction whose columns are the
axes), so nothing is resampled, re-ordered or re-typed: the dtype is kept and
spacing, origin and direction are copied exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk

from interval.core.errors import UnsupportedData
from interval.core.labels import LabelTable
from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume

# numpy dtype kinds SimpleITK stores as scalar pixels (bool and float16 are converted first)
_SUPPORTED_KINDS = {"i", "u", "f"}


def to_sitk(volume: Volume) -> sitk.Image:
    """A ``SimpleITK.Image`` holding ``volume``'s voxels (same dtype) and exact geometry.

    The voxels are copied once into SimpleITK's buffer (ITK owns its memory).
    The dtype is kept; only bool (to uint8), float16 (to float32) and
    big-endian arrays are converted first, as ITK has no such pixel types.
    """
    array = volume.array
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    elif array.dtype == np.float16:
        array = array.astype(np.float32)
    if array.dtype.kind not in _SUPPORTED_KINDS:
        raise UnsupportedData(f"voxel type {array.dtype} cannot be saved")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    image = sitk.GetImageFromArray(array, isVector=volume.is_rgb)  # colour: RGB pixels
    image.SetSpacing(tuple(float(s) for s in volume.spacing))
    image.SetOrigin(tuple(float(o) for o in volume.origin))
    image.SetDirection(tuple(float(d) for d in np.asarray(volume.direction).reshape(9)))
    return image


def from_sitk(
    image: sitk.Image,
    metadata: VolumeMetadata | None = None,
    labels: LabelTable | None = None,
) -> Volume:
    """A :class:`Volume` on ``image``'s buffer, without copying the voxels.

    The returned array shares memory with ``image`` (kept alive by the array),
    so ``image`` must not be modified afterwards.  2-D images become one slice;
    a 4-D image with a single time point is reduced to 3-D.  Multi-component
    (colour, vector) images raise :class:`UnsupportedData`.
    """
    image = _as_3d(image)
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise UnsupportedData(
            f"images with {image.GetNumberOfComponentsPerPixel()} values per voxel "
            "(colour or vector images) are not supported"
        )
    array = _array_view(image)
    spacing = tuple(float(s) for s in image.GetSpacing())
    origin = tuple(float(o) for o in image.GetOrigin())
    direction = np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    return Volume(
        array,
        spacing,  # type: ignore[arg-type]
        origin,  # type: ignore[arg-type]
        direction,
        metadata if metadata is not None else VolumeMetadata(),
        labels,
    )


# --- helpers -------------------------------------------------------------------------


def _as_3d(image: sitk.Image) -> sitk.Image:
    """Bring a 2-D or single-time-point 4-D image to 3-D (others raise)."""
    dim = image.GetDimension()
    if dim == 3:
        return image
    if dim == 2:
        return sitk.JoinSeries([image])
    if dim == 4 and image.GetSize()[3] == 1:
        size = list(image.GetSize())
        size[3] = 0
        return sitk.Extract(image, size, [0, 0, 0, 0])
    raise UnsupportedData(f"{dim}-D images are not supported (Interval shows 3-D volumes)")


class _BufferOwner:
    """Exposes a SimpleITK image's pixel buffer to numpy and keeps the image alive."""

    def __init__(self, image: sitk.Image) -> None:
        self._image = image
        # GetArrayViewFromImage makes the buffer unique to ``image`` and gives a
        # read-only view of it; the buffer itself is writable and owned by ``image``.
        self._view = sitk.GetArrayViewFromImage(image)
        self.__array_interface__: dict[str, Any] = {
            "shape": self._view.shape,
            "typestr": self._view.dtype.str,
            "data": (self._view.ctypes.data, False),
            "strides": None,
            "version": 3,
        }


def _array_view(image: sitk.Image) -> np.ndarray:
    """A writable numpy array on ``image``'s buffer whose base keeps ``image`` alive."""
    owner = _BufferOwner(image)
    array = np.asarray(owner)
    if array.ctypes.data != owner._view.ctypes.data:  # pragma: no cover - numpy contract
        raise AssertionError("numpy copied the SimpleITK buffer")
    return array
