"""Wrap numpy volumes as ``vtkImageData`` sharing the same memory (no copy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData

from interval.core.volume import Volume

_ARRAY_ATTR = "_interval_numpy"


def numpy_to_image(
    array: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    direction: np.ndarray | None = None,
    *,
    name: str = "scalars",
) -> vtkImageData:
    """A ``vtkImageData`` whose scalars ARE ``array`` (z-y-x, C-contiguous).

    ``spacing``/``origin`` are (x, y, z); ``direction`` is 3x3 with columns = index
    axes in patient (LPS) space.  The array is referenced by the returned object so
    it stays alive; in-place changes to it are seen by VTK after :func:`mark_modified`.
    A non-contiguous array is refused rather than copied silently; a bool array is
    viewed (not copied) as uint8.  A colour array ``[k, j, i, c]`` becomes ``c``
    scalar components per point.
    """
    if array.ndim not in (3, 4):
        raise ValueError(f"expected a 3-D array [k, j, i], got shape {array.shape}")
    if not array.flags.c_contiguous:
        raise ValueError("array must be C-contiguous to be shared with VTK without a copy")
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    if array.dtype.byteorder not in ("=", "|"):
        raise ValueError("array must be in native byte order to be shared with VTK")
    nk, nj, ni = array.shape[:3]
    flat = array.reshape(-1) if array.ndim == 3 else array.reshape(-1, array.shape[3])
    scalars = numpy_to_vtk(flat, deep=False)  # keeps a reference itself too
    scalars.SetName(name)
    image = vtkImageData()
    image.SetDimensions(ni, nj, nk)
    image.SetSpacing(*(float(s) for s in spacing))
    image.SetOrigin(*(float(o) for o in origin))
    d = np.eye(3) if direction is None else np.asarray(direction, dtype=np.float64)
    image.SetDirectionMatrix(*(float(v) for v in d.reshape(3, 3).ravel()))  # row-major
    image.GetPointData().SetScalars(scalars)
    setattr(image, _ARRAY_ATTR, array)
    return image


def volume_to_image(volume: Volume) -> vtkImageData:
    """The :class:`Volume` as ``vtkImageData`` in LPS, sharing ``volume.array``."""
    return numpy_to_image(volume.array, volume.spacing, volume.origin, volume.direction)


def image_array(image: vtkImageData) -> np.ndarray | None:
    """The numpy array an image made here wraps (None for other images)."""
    return getattr(image, _ARRAY_ATTR, None)


def mark_modified(image: vtkImageData) -> None:
    """Tell VTK the wrapped numpy array changed in place (so views re-render it)."""
    image.GetPointData().GetScalars().Modified()
    image.Modified()
