"""Invertible pre-processing steps between a Volume's grid and a model's grid (MONAI style).

Each geometric step is built from the grid it receives (:class:`Grid`), knows the grid
it produces (``grid_out``), transforms the image forward (``apply``) and brings a label
map back exactly (``invert_labels``):

* :class:`Reorient` - transpose/flip the axes to a three-letter orientation ("LPS",
  "RAS", ...; nearest axes for oblique scans).  Pure index permutation: exact.
* :class:`Resample` - to a target spacing.  The model grid covers exactly the same
  field of view (edges aligned, ``n' = round(n * s / t)``, spacing ``n * s / n'``), so the
  image is resampled linearly with ``torch.nn.functional.interpolate(align_corners=False)``
  and labels come back by nearest neighbour computed in integer arithmetic
  (``i_model = floor((i + 1/2) * n' / n)``): they land on the input voxels exactly.
  A map of values (a probability) comes back linearly (``invert_values``: the same
  trilinear rule, a few slices at a time).
* :class:`PadToPatch` - pads to at least the patch size (centred); inverted by cropping.

:func:`normalize` applies model.json's intensity normalisation (CT clip + z-score,
percentile z-score / min-max for MR, or none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interval.ai.model_package import Normalization
from interval.core.volume import Volume, grid_affine

_LETTER = {"L": (0, 1.0), "R": (0, -1.0), "P": (1, 1.0), "A": (1, -1.0), "S": (2, 1.0),
           "I": (2, -1.0)}
_STATS_SAMPLES = 2_000_000  # percentile / mean statistics from at most this many voxels


@dataclass(frozen=True, eq=False)
class Grid:
    """Sampling grid: array ``shape`` (z, y, x); ``spacing``/``origin`` x-y-z; LPS ``direction``."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray

    @classmethod
    def of(cls, volume: Volume) -> Grid:
        return cls(tuple(volume.shape), tuple(volume.spacing), tuple(volume.origin),  # type: ignore[arg-type]
                   np.asarray(volume.direction, dtype=np.float64))

    @property
    def size_xyz(self) -> tuple[int, int, int]:
        return (self.shape[2], self.shape[1], self.shape[0])

    @property
    def affine(self) -> np.ndarray:
        return grid_affine(self.spacing, self.origin, self.direction)

    def same_as(self, other: Grid, tol: float = 1e-4) -> bool:
        return self.shape == other.shape and np.allclose(self.affine, other.affine, atol=tol)


def orientation_code(direction: np.ndarray) -> str:
    """Three-letter code of where index axes i, j, k point most ("LPS" for identity)."""
    d = np.asarray(direction, dtype=np.float64)
    world, sign = _nearest_axes(d)
    names = ({1.0: "L", -1.0: "R"}, {1.0: "P", -1.0: "A"}, {1.0: "S", -1.0: "I"})
    return "".join(names[world[c]][sign[c]] for c in range(3))


def _nearest_axes(d: np.ndarray) -> tuple[list[int], list[float]]:
    """For each index axis, the LPS world axis it is closest to and the sign (greedy)."""
    a = np.abs(d).copy()
    world = [0, 0, 0]
    sign = [1.0, 1.0, 1.0]
    for _ in range(3):
        w, c = np.unravel_index(int(np.argmax(a)), a.shape)
        world[int(c)] = int(w)
        sign[int(c)] = 1.0 if d[w, c] >= 0 else -1.0
        a[w, :] = -1.0
        a[:, c] = -1.0
    return world, sign


class Reorient:
    """Permute/flip axes so index axes i, j, k point to ``code`` (e.g. "RAS")."""

    def __init__(self, grid: Grid, code: str) -> None:
        self.grid_in = grid
        self.code = code.upper()
        world, sign = _nearest_axes(grid.direction)
        src: list[int] = []
        flip: list[bool] = []
        for letter in self.code:
            w, s = _LETTER[letter]
            c = world.index(w)
            src.append(c)
            flip.append(sign[c] != s)
        self.src = tuple(src)  # output xyz axis a takes input xyz axis src[a]
        self.flip = tuple(flip)
        # array (z, y, x) transpose: output array axis 2-a <- input array axis 2-src[a]
        self._axes = tuple(2 - self.src[2 - ax] for ax in range(3))
        self._flip_axes = tuple(2 - a for a in range(3) if self.flip[a])
        n_xyz = grid.size_xyz
        d = grid.direction
        origin = np.asarray(grid.origin, dtype=np.float64).copy()
        cols = []
        for a in range(3):
            c = self.src[a]
            col = d[:, c].copy()
            if self.flip[a]:
                origin += col * grid.spacing[c] * (n_xyz[c] - 1)
                col = -col
            cols.append(col)
        self.grid_out = Grid(
            tuple(grid.shape[a] for a in self._axes),  # type: ignore[arg-type]
            tuple(grid.spacing[self.src[a]] for a in range(3)),  # type: ignore[arg-type]
            tuple(float(v) for v in origin),  # type: ignore[arg-type]
            np.stack(cols, axis=1),
        )

    @property
    def is_identity(self) -> bool:
        return self.src == (0, 1, 2) and not any(self.flip)

    def apply(self, array: np.ndarray) -> np.ndarray:
        """The array on ``grid_out`` (a view when possible)."""
        out = np.transpose(array, self._axes)
        return np.flip(out, self._flip_axes) if self._flip_axes else out

    def invert_labels(self, labels: np.ndarray) -> np.ndarray:
        """A label array on ``grid_out`` brought back onto ``grid_in`` (exact)."""
        out = np.flip(labels, self._flip_axes) if self._flip_axes else labels
        return np.transpose(out, np.argsort(self._axes))


class Resample:
    """Linear resampling of the image to ``target_spacing`` (x-y-z mm), same field of view."""

    def __init__(self, grid: Grid, target_spacing: tuple[float, float, float]) -> None:
        self.grid_in = grid
        n_xyz = grid.size_xyz
        new_n = [max(1, int(round(n_xyz[a] * grid.spacing[a] / target_spacing[a])))
                 for a in range(3)]
        spacing = tuple(n_xyz[a] * grid.spacing[a] / new_n[a] for a in range(3))
        shift = np.array([(spacing[a] - grid.spacing[a]) / 2.0 for a in range(3)])
        origin = np.asarray(grid.origin) + grid.direction @ shift
        self.grid_out = Grid((new_n[2], new_n[1], new_n[0]), spacing,  # type: ignore[arg-type]
                             tuple(float(v) for v in origin),  # type: ignore[arg-type]
                             grid.direction.copy())

    @property
    def is_identity(self) -> bool:
        return self.grid_out.shape == self.grid_in.shape

    def apply(self, array: np.ndarray) -> np.ndarray:
        """Linear (trilinear) resampling of a float image onto ``grid_out`` (float32)."""
        if self.is_identity:
            return np.ascontiguousarray(array, dtype=np.float32)
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]
        with torch.inference_mode():
            y = F.interpolate(x, size=self.grid_out.shape, mode="trilinear", align_corners=False)
        return y[0, 0].numpy()

    def label_indices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each input voxel index along z, y, x: the nearest model-grid index."""
        out = []
        for n_in, n_out in zip(self.grid_in.shape, self.grid_out.shape, strict=True):
            i = np.arange(n_in, dtype=np.int64)
            out.append(np.minimum(((2 * i + 1) * n_out) // (2 * n_in), n_out - 1))
        return out[0], out[1], out[2]

    def invert_labels(self, labels: np.ndarray) -> np.ndarray:
        """Nearest-neighbour labels on ``grid_in`` from labels on ``grid_out``."""
        if self.is_identity:
            return labels
        iz, iy, ix = self.label_indices()
        out = labels
        for axis, idx in enumerate((iz, iy, ix)):
            if len(idx) != out.shape[axis] or np.any(idx != np.arange(len(idx))):
                out = np.take(out, idx, axis=axis)
        return np.ascontiguousarray(out)


    def linear_weights(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per array axis (z, y, x): for each input voxel, the two model-grid indices
        around its centre and the weight of the second (``align_corners=False``, like
        ``torch.nn.functional.interpolate``: the edges of the two grids coincide)."""
        out = []
        for n_in, n_out in zip(self.grid_in.shape, self.grid_out.shape, strict=True):
            src = np.maximum((np.arange(n_in, dtype=np.float64) + 0.5) * (n_out / n_in) - 0.5,
                             0.0)
            lo = np.minimum(np.floor(src).astype(np.int64), n_out - 1)
            hi = np.minimum(lo + 1, n_out - 1)
            out.append((lo, hi, (src - lo).astype(np.float32)))
        return out

    def invert_values(self, values: np.ndarray, *, scale: float = 1.0,
                      dtype: np.dtype | type = np.float32, slab: int | None = None
                      ) -> np.ndarray:
        """A value map on ``grid_out`` brought back onto ``grid_in`` by linear (trilinear)
        interpolation, times ``scale``; an integer ``dtype`` is rounded and clipped to its
        range.  Worked out ``slab`` input slices at a time (default: about 4 M voxels;
        bilinear in-plane on the few model slices they need, then linear along z), so
        besides the result only a slab of float32 is held."""
        import torch
        import torch.nn.functional as F

        dtype = np.dtype(dtype)
        n_in = self.grid_in.shape
        if slab is None:
            slab = max(1, (1 << 22) // max(1, n_in[1] * n_in[2]))
        if values.shape != self.grid_out.shape:
            raise ValueError(f"values of shape {values.shape} are not on the model grid "
                             f"{self.grid_out.shape}")
        src = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        if self.is_identity:
            z0 = z1 = np.arange(n_in[0])
            wz = np.zeros(n_in[0], np.float32)
        else:
            (z0, z1, wz), _y, _x = self.linear_weights()
        out = np.empty(n_in, dtype)
        limits = (np.iinfo(dtype).min, np.iinfo(dtype).max) if dtype.kind in "ui" else None
        with torch.inference_mode():
            for k0 in range(0, n_in[0], max(1, slab)):
                k1 = min(k0 + max(1, slab), n_in[0])
                lo, hi = z0[k0:k1], z1[k0:k1]
                need = np.unique(np.concatenate([lo, hi]))
                planes = src[torch.from_numpy(need)]
                if tuple(planes.shape[1:]) != tuple(n_in[1:]):
                    planes = F.interpolate(planes[None], size=tuple(n_in[1:]), mode="bilinear",
                                           align_corners=False)[0]
                at = {int(v): n for n, v in enumerate(need)}
                block = planes[[at[int(v)] for v in lo]]
                weights = wz[k0:k1]
                if weights.any():  # else the slices fall on model slices (z unchanged)
                    far = planes[[at[int(v)] for v in hi]]
                    block = torch.lerp(block, far, torch.from_numpy(weights)[:, None, None])
                if scale != 1.0:
                    block.mul_(float(scale))
                if limits is not None:
                    block.round_().clamp_(*limits)
                out[k0:k1] = block.numpy()
        return out


class PadToPatch:
    """Centred constant padding up to at least ``patch`` (z, y, x) voxels."""

    def __init__(self, grid: Grid, patch: tuple[int, int, int], value: float = 0.0) -> None:
        self.grid_in = grid
        self.value = value
        self.pads = []
        for n, p in zip(grid.shape, patch, strict=True):
            total = max(0, p - n)
            self.pads.append((total // 2, total - total // 2))
        before = np.array([self.pads[2 - a][0] for a in range(3)], dtype=np.float64)
        origin = np.asarray(grid.origin) - grid.direction @ (before * np.asarray(grid.spacing))
        self.grid_out = Grid(
            tuple(n + b + a for n, (b, a) in zip(grid.shape, self.pads, strict=True)),  # type: ignore[arg-type]
            grid.spacing, tuple(float(v) for v in origin), grid.direction.copy(),  # type: ignore[arg-type]
        )

    @property
    def is_identity(self) -> bool:
        return all(b == 0 and a == 0 for b, a in self.pads)

    def apply(self, array: np.ndarray) -> np.ndarray:
        if self.is_identity:
            return array
        return np.pad(array, self.pads, mode="constant", constant_values=self.value)

    def crop_slices(self) -> tuple[slice, slice, slice]:
        return tuple(slice(b, b + n) for (b, _), n in zip(self.pads, self.grid_in.shape,  # type: ignore[return-value]
                                                           strict=True))

    def invert_labels(self, labels: np.ndarray) -> np.ndarray:
        return labels if self.is_identity else labels[self.crop_slices()]


def _sample(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(-1)
    step = max(1, flat.size // _STATS_SAMPLES)
    return flat[::step]


def normalize(array: np.ndarray, norm: Normalization) -> np.ndarray:
    """``array`` normalised as ``norm`` says, as a new float32 array.

    Percentile statistics use a regular subsample of at most 2 M voxels (the
    percentiles of a 100 M voxel volume differ from it by far less than noise).
    """
    out = np.array(array, dtype=np.float32, copy=True)
    if norm.scheme == "none":
        return out
    if norm.scheme == "ct":
        if norm.clip is not None:
            np.clip(out, norm.clip[0], norm.clip[1], out=out)
        out -= np.float32(norm.mean)
        out *= np.float32(1.0 / norm.std)
        return out
    sample = _sample(out)
    if norm.foreground:
        fg = sample[sample > sample.min()]
        sample = fg if fg.size else sample
    lo, hi = np.percentile(sample.astype(np.float64), [norm.lower, norm.upper])
    if norm.scheme == "zscore_percentile":
        np.clip(out, lo, hi, out=out)
        clipped = np.clip(sample.astype(np.float64), lo, hi)
        mean, std = float(clipped.mean()), float(clipped.std())
        out -= np.float32(mean)
        out *= np.float32(1.0 / max(std, 1e-8))
        return out
    # minmax_percentile
    scale = (norm.b_max - norm.b_min) / max(float(hi - lo), 1e-8)
    out -= np.float32(lo)
    out *= np.float32(scale)
    out += np.float32(norm.b_min)
    if norm.clip_output:
        np.clip(out, min(norm.b_min, norm.b_max), max(norm.b_min, norm.b_max), out=out)
    return out
