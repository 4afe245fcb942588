"""The heavy, Qt-free half of the 3-D view: reduced volumes and label surfaces.

Everything here runs on a worker thread (see :class:`interval.ui.view_3d.View3D`):
numpy releases the GIL for its copies and reductions, and the VTK 9 Python wrappers
release it while a filter executes (measured: a 0.3 s ``vtkDiscreteFlyingEdges3D``
on a thread leaves the main thread's longest gap at 5 ms), so the UI thread keeps
running while these work.  No OpenGL is touched here.

* :func:`reduction_factors` / :func:`reduced_volume`: a copy of a large volume within
  a voxel budget, by block averaging (images: less aliasing and noise than skipping
  voxels) or strided decimation (label maps: values stay labels), with spacing scaled
  and the origin moved so the copy covers the same physical region.
* :func:`present_labels`, :func:`label_surfaces`: smoothed surfaces per label value.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtkIdTypeArray, vtk_to_numpy
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkWindowedSincPolyDataFilter
from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D

from interval.core.errors import Cancelled
from interval.core.volume import Volume
from interval.ui.vtk_image import numpy_to_image

CancelFn = Callable[[], bool]

# Voxel budget of the volume-rendered copy: 16 Mi voxels (256^3, 32 MiB as int16).
# The ray caster's cost per frame grows with the samples per ray and the 3-D texture
# upload with the voxel count; on Mesa llvmpipe (no GPU) a 512x512x400 CT (105 M
# voxels) takes 2-6 s to upload and ~1.5 s a frame, its 2x2x2 block average (13 M)
# ~0.35 s and ~0.6 s (0.15-0.2 s with the software settings of View3D).  256^3 is
# also the texture size any GPU holds comfortably; Slicer's default GPU memory
# budget renders a reduced volume when the full one does not fit in the same way.
VOLUME_BUDGET = 1 << 24
# Label maps are surfaced from a grid of at most this many voxels: a 512x512x400
# label map at full resolution gives ~150 MiB of triangles and ~1 s of extraction;
# every second voxel (0.7 -> 1.4 mm) keeps its shape for a 3-D overview.
LABEL_BUDGET = 1 << 24
SMOOTHING_ITERATIONS = 20
SMOOTHING_PASS_BAND = 0.01  # Slicer's default smoothing factor 0.5 (pass band = 10^(-4 f))
_CHUNK = 1 << 22  # voxels per slab when counting labels


def _check(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled()


def reduction_factors(shape: tuple[int, ...], budget: int) -> tuple[int, int, int]:
    """Integer factors ``(fk, fj, fi)`` bringing a ``(k, j, i)`` grid within ``budget``
    voxels, raising the factor of the axis with the most (reduced) voxels first."""
    dims = [int(n) for n in shape[:3]]
    f = [1, 1, 1]

    def size() -> int:
        return int(np.prod([-(-n // k) for n, k in zip(dims, f, strict=True)]))

    while size() > budget:
        extents = [-(-n // k) for n, k in zip(dims, f, strict=True)]
        axis = int(np.argmax(extents))
        if extents[axis] <= 1:
            break
        f[axis] += 1
    return f[0], f[1], f[2]


def block_mean(array: np.ndarray, factors: tuple[int, int, int], cancel: CancelFn | None = None
               ) -> np.ndarray:
    """Mean over ``factors`` blocks (a partial block at an edge averages what it has),
    in the input's dtype (rounded for integers).

    One output slice at a time: its input slices are summed into a small accumulator
    (int32/int64, or float64 for floats) and reduced along y and x there, so the only
    large allocation is the output (no cast copy of the input).
    """
    fk, fj, fi = factors
    nk, nj, ni = array.shape
    out = np.empty((-(-nk // fk), -(-nj // fj), -(-ni // fi)), array.dtype)
    integer = np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_
    acc_type = (np.int64 if array.dtype.itemsize >= 4 else np.int32) if integer else np.float64
    idx_j, idx_i = np.arange(0, nj, fj), np.arange(0, ni, fi)
    cnt_ji = np.outer(np.minimum(fj, nj - idx_j), np.minimum(fi, ni - idx_i)).astype(np.float64)
    acc = np.empty((nj, ni), acc_type)
    for k in range(out.shape[0]):
        if k % 8 == 0:
            _check(cancel)
        k0, k1 = k * fk, min(nk, (k + 1) * fk)
        np.copyto(acc, array[k0], casting="unsafe")
        for kk in range(k0 + 1, k1):
            np.add(acc, array[kk], out=acc, casting="unsafe")
        s = np.add.reduceat(np.add.reduceat(acc, idx_j, axis=0), idx_i, axis=1)
        mean = s / (cnt_ji * (k1 - k0))
        if integer:
            np.rint(mean, out=mean)
        out[k] = mean
    return out


def reduced_volume(
    volume: Volume,
    budget: int,
    *,
    labels: bool = False,
    cancel: CancelFn | None = None,
) -> Volume:
    """``volume`` itself when it fits ``budget`` voxels, else a reduced copy.

    Images are block-averaged: a reduced voxel's centre is the centre of its block, so
    the origin moves by ``(f - 1) / 2`` fine voxels along each index axis (through the
    direction matrix).  Label maps (``labels=True``) take every ``f``-th voxel, whose
    centres are fine voxel centres: same origin.  Spacing is multiplied by ``f``.
    """
    a = volume.array
    if a.ndim != 3 or a.size <= budget:
        return volume
    factors = reduction_factors(a.shape, budget)
    if factors == (1, 1, 1):
        return volume
    fk, fj, fi = factors
    if labels:
        small = np.ascontiguousarray(a[::fk, ::fj, ::fi])
        shift = np.zeros(3)
    else:
        small = block_mean(a, factors, cancel)
        shift = (np.array([fi, fj, fk], float) - 1.0) / 2.0
    _check(cancel)
    spacing = np.asarray(volume.spacing, float)
    direction = np.asarray(volume.direction, float).reshape(3, 3)
    origin = np.asarray(volume.origin, float) + direction @ (shift * spacing)
    return Volume(
        small,
        spacing=tuple(spacing * np.array([fi, fj, fk], float)),
        origin=tuple(origin),
        direction=direction,
        metadata=volume.metadata,
        labels=volume.labels,
    )


def local_image(volume: Volume):  # -> vtkImageData
    """The volume's array (no copy) on an identity grid scaled by its spacing."""
    return numpy_to_image(volume.array, volume.spacing)


def touches_edge(array: np.ndarray) -> bool:
    """Whether any non-zero voxel lies on one of the array's six faces."""
    return any(
        bool(np.any(np.take(array, index, axis=axis)))
        for axis in range(array.ndim) for index in (0, -1)
    )


def capped_image(volume: Volume):  # -> vtkImageData
    """:func:`local_image`, with one voxel of background around it when a label touches
    the volume's edge, so the surface closes there (capped) instead of ending open.

    The padded copy's origin is one voxel before the volume's, so the surface keeps its
    place in the local coordinates.
    """
    if not touches_edge(volume.array):
        return local_image(volume)
    padded = np.pad(volume.array, 1)
    origin = tuple(-float(s) for s in volume.spacing)
    return numpy_to_image(padded, volume.spacing, origin)


def present_labels(volume: Volume, wanted: list[int], cancel: CancelFn | None = None
                   ) -> list[int]:
    """Those of ``wanted`` that occur in the label map.

    Counted in slabs of ``_CHUNK`` voxels: ``np.bincount``/``np.unique`` on the whole
    array would make an int64 (8 bytes per voxel) copy of it.
    """
    a = volume.array
    if a.dtype == np.bool_:
        a = a.view(np.uint8)
    if a.size == 0 or not wanted:
        return []
    flat = a.reshape(-1)
    small = np.issubdtype(a.dtype, np.unsignedinteger) and a.dtype.itemsize <= 2
    seen: set[int] = set()
    counts = np.zeros(1 << (8 * a.dtype.itemsize), np.int64) if small else None
    for start in range(0, flat.size, _CHUNK):
        _check(cancel)
        part = flat[start : start + _CHUNK]
        if counts is not None:
            counts += np.bincount(part, minlength=counts.size)
        else:
            seen.update(np.unique(part).tolist())
    if counts is not None:
        seen = {int(v) for v in np.flatnonzero(counts)}
    return [v for v in wanted if v in seen]


def label_surfaces(
    volume: Volume, values: list[int], cancel: CancelFn | None = None
) -> dict[int, vtkPolyData]:
    """Smoothed surfaces (local grid coordinates: origin 0, with normals) per label value."""
    if not values:
        return {}
    fe = vtkDiscreteFlyingEdges3D()
    fe.SetInputData(capped_image(volume))
    for n, v in enumerate(values):
        fe.SetValue(n, float(v))
    fe.ComputeGradientsOff()
    fe.ComputeNormalsOff()
    fe.ComputeScalarsOn()
    fe.Update()
    _check(cancel)
    smooth = vtkWindowedSincPolyDataFilter()
    smooth.SetInputData(fe.GetOutput())
    smooth.SetNumberOfIterations(SMOOTHING_ITERATIONS)
    smooth.SetPassBand(SMOOTHING_PASS_BAND)
    smooth.BoundarySmoothingOff()
    smooth.FeatureEdgeSmoothingOff()
    smooth.NonManifoldSmoothingOn()
    smooth.NormalizeCoordinatesOn()
    smooth.Update()
    _check(cancel)
    normals = vtkPolyDataNormals()
    normals.SetInputData(smooth.GetOutput())
    normals.SplittingOff()
    normals.ConsistencyOff()  # flying edges already orients triangles consistently
    normals.ComputePointNormalsOn()
    normals.Update()
    surface = normals.GetOutput()
    if surface.GetNumberOfPolys() == 0:
        return {}
    if len(values) == 1:
        return {values[0]: surface}
    scalars = surface.GetPointData().GetScalars()
    conn = vtk_to_numpy(surface.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    owner = np.rint(vtk_to_numpy(scalars)[conn[:, 0]]).astype(np.int64)
    out: dict[int, vtkPolyData] = {}
    for v in values:
        tris = conn[owner == v]
        if not len(tris):
            continue
        cells = vtkCellArray()
        offsets = np.arange(0, 3 * len(tris) + 1, 3, dtype=np.int64)
        cells.SetData(
            numpy_to_vtkIdTypeArray(offsets, deep=True),
            numpy_to_vtkIdTypeArray(np.ascontiguousarray(tris, dtype=np.int64).ravel(), deep=True),
        )
        part = vtkPolyData()
        part.SetPoints(surface.GetPoints())  # shared; unused points are never drawn
        part.GetPointData().SetNormals(surface.GetPointData().GetNormals())
        part.SetPolys(cells)
        out[v] = part
    return out


def build_label_surfaces(
    volume: Volume, wanted: list[int], budget: int = LABEL_BUDGET,
    cancel: CancelFn | None = None,
) -> tuple[Volume, dict[int, vtkPolyData]]:
    """The grid the surfaces were extracted on (reduced within ``budget``) and the
    surfaces of the ``wanted`` labels present in ``volume``."""
    grid = reduced_volume(volume, budget, labels=True, cancel=cancel)
    values = present_labels(grid, wanted, cancel)  # only in skipped voxels: no surface
    return grid, label_surfaces(grid, values, cancel)
