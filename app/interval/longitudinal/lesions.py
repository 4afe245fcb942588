"""Lesions of one timepoint: connected components of the lesion labels, each measured.

:func:`extract_lesions` splits the voxels of every lesion label into 3-D connected
components (full 26-connectivity, ``scipy.ndimage.label``; each label value on its
own, so a "lymph node" touching a "lesion" stays two findings) and measures each
component as a :class:`~interval.longitudinal.model.LesionMeasurement`:

* volume = voxel count x voxel volume;
* RECIST long axis = the longest in-plane diameter over all array slices (axis 0,
  the axial slices of an axial series), short axis = the longest chord perpendicular
  to it on that slice, maximum 3-D diameter: all measured edge to edge on the
  voxel geometry (see :mod:`.recist_axes`).  When several slices share the longest
  diameter the one nearest the centroid is used (then the lower one);
* centroid = mean voxel centre, mapped to LPS by the Volume's geometry;
* mean and SD (population, ddof 0) of the image under the component;
* organ = the most common non-lesion label in a 2-voxel shell (26-neighbourhood)
  around the component, named from the label table; "lymph node" for a lymph-node
  label; else an organ named in the lesion label ("liver tumor" -> "liver"); else
  "unknown";
* ``touches_border`` when the component reaches the edge of the array;
* ``score`` (with a confidence map: the model's per-voxel probability that a voxel is
  a lesion, uint8 0-255 or float 0-1) = the mean confidence over the component's voxels,
  0-1 rounded to 3 decimals; None without a map.

Components are numbered 1..n in raster order of their first voxel (slice, row,
column).  Work is done per bounding box: the slices holding lesion voxels are found in
one pass, slab by slab (no full-volume masks), and cut along lesion-free planes into
boxes that each hold separate lesions, so a 512x512x300 map costs one pass of
comparisons plus work proportional to the lesions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from interval.core.errors import IntervalError
from interval.core.labels import LabelTable
from interval.core.volume import Volume
from interval.longitudinal.lesion_labels import (  # noqa: F401 - is_lymph_node_name, lesion_label_values re-exported
    LESION_WORDS,
    NODE_WORDS,
    is_lymph_node_name,
    lesion_label_values,
)
from interval.longitudinal.model import Axis, LesionMeasurement
from interval.longitudinal.recist_axes import (
    extreme_voxels,
    in_plane_metric,
    long_and_short_axis,
    longest_diameter,
    max_3d_diameter,
    slice_diameter_bounds,
    volume_metric,
)
from interval.longitudinal.sparse_volumes import sparse_zeros

LYMPH_NODE_ORGAN = "lymph node"
UNKNOWN_ORGAN = "unknown"

_STRUCTURE = np.ones((3, 3, 3), dtype=bool)  # full 26-connectivity
_SHELL_VOXELS = 2
_SLAB_SLICES = 8  # slices per pass when looking for lesion voxels


class LesionError(IntervalError):
    """The segmentation cannot be measured as given (e.g. the image is on another grid)."""


@dataclass
class ExtractedLesions:
    """The measured components of one timepoint and their map (0 = background)."""

    measurements: list[LesionMeasurement]
    components: np.ndarray  # uint16 (int32 beyond 65535 lesions) on the labels' grid, ids 1..n

    def measurement(self, component: int) -> LesionMeasurement | None:
        for m in self.measurements:
            if m.component == component:
                return m
        return None


def _organ_from_name(name: str) -> str | None:
    rest = LESION_WORDS.sub(" ", name)
    rest = re.sub(r"[_\-()/,]+", " ", rest)
    rest = re.sub(r"\s+", " ", rest).strip().lower()
    return rest or None


def occupied_boxes(mask: np.ndarray) -> list[tuple[slice, slice, slice]]:
    """Tight boxes holding every True voxel of a 3-D mask, cut along empty planes, so
    that no 26-connected component spans two boxes (two passes over each box)."""
    out: list[tuple[slice, slice, slice]] = []
    stack = [(slice(0, mask.shape[0]), slice(0, mask.shape[1]), slice(0, mask.shape[2]))]
    while stack:
        box = stack.pop()
        sub = mask[box]
        plane = sub.any(axis=0)
        runs_per_axis = [_runs(sub.any(axis=(1, 2))), _runs(plane.any(axis=1)),
                         _runs(plane.any(axis=0))]
        if any(len(r) == 0 for r in runs_per_axis):
            continue
        split_axis = next((a for a in range(3) if len(runs_per_axis[a]) > 1), None)
        if split_axis is None:
            out.append(tuple(slice(box[a].start + r[0][0], box[a].start + r[-1][1])  # type: ignore[misc]
                             for a, r in enumerate(runs_per_axis)))
            continue
        for lo, hi in reversed(runs_per_axis[split_axis]):
            child = list(box)
            start = box[split_axis].start
            child[split_axis] = slice(start + lo, start + hi)
            stack.append(tuple(child))  # type: ignore[arg-type]
    return out


def _runs(occupied: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[lo, hi)`` of True in a 1-D boolean array."""
    if not occupied.any():
        return []
    d = np.diff(np.concatenate([[0], occupied.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


@dataclass
class _Component:
    value: int
    box: tuple[slice, slice, slice]  # bounding box on the full grid
    mask: np.ndarray  # bool, box-shaped
    first: int  # flat index of its first voxel (raster order)


def lesion_boxes(labels: np.ndarray, values: list[int]) -> list[tuple[slice, slice, slice]]:
    """Tight boxes holding every voxel whose value is in ``values``, cut along planes
    without such voxels (so no 26-connected component spans two boxes).

    Slices are first checked a slab at a time (no full-volume mask is made); only the
    runs of slices holding such voxels are masked and cut (:func:`occupied_boxes`).
    """
    values = [int(v) for v in values]  # Python ints compare without upcasting the array
    nk = labels.shape[0]
    occupied = np.zeros(nk, dtype=bool)
    buffers = (np.empty((_SLAB_SLICES, *labels.shape[1:]), dtype=bool),
               np.empty((_SLAB_SLICES, *labels.shape[1:]), dtype=bool))
    for k0 in range(0, nk, _SLAB_SLICES):
        slab = labels[k0:k0 + _SLAB_SLICES]
        n = slab.shape[0]
        found = _in_values(slab, values, buffers[0][:n], buffers[1][:n])
        occupied[k0:k0 + n] = found.view(np.uint8).reshape(n, -1).max(axis=1)
    del buffers
    boxes: list[tuple[slice, slice, slice]] = []
    for lo, hi in _runs(occupied):
        for leaf in occupied_boxes(_in_values(labels[lo:hi], values)):
            boxes.append((slice(lo + leaf[0].start, lo + leaf[0].stop), leaf[1], leaf[2]))
    return boxes


def _in_values(block: np.ndarray, values: list[int], out: np.ndarray | None = None,
               scratch: np.ndarray | None = None) -> np.ndarray:
    """``np.isin(block, values)`` for a few values, into ``out`` (2-3x faster than isin)."""
    out = np.empty(block.shape, dtype=bool) if out is None else out
    out[...] = False
    scratch = np.empty(block.shape, dtype=bool) if scratch is None else scratch
    for value in values:
        np.equal(block, value, out=scratch)
        np.logical_or(out, scratch, out=out)
    return out


def _components_of(labels: np.ndarray, values: list[int]) -> list[_Component]:
    """Connected components of each of ``values`` (each value on its own), found box by box."""
    found: list[_Component] = []
    for leaf in lesion_boxes(labels, values):
        sub = labels[leaf]
        for value in values:
            mask = sub == value
            if not mask.any():
                continue
            lab, _n = ndimage.label(mask, structure=_STRUCTURE)
            for idx, obj in enumerate(ndimage.find_objects(lab), start=1):
                if obj is None:
                    continue
                cmask = lab[obj] == idx
                box = tuple(slice(leaf[a].start + obj[a].start, leaf[a].start + obj[a].stop)
                            for a in range(3))
                k0 = int(np.argmax(cmask.any(axis=(1, 2))))
                flat0 = int(np.argmax(cmask[k0].ravel()))
                j0, i0 = divmod(flat0, cmask.shape[2])
                first = int(np.ravel_multi_index(
                    (box[0].start + k0, box[1].start + j0, box[2].start + i0), labels.shape))
                found.append(_Component(value, box, cmask, first))  # type: ignore[arg-type]
    return found


def _organ(labels: np.ndarray, comp: _Component, lesion_values: set[int],
           table: LabelTable | None) -> str | None:
    """The most common non-lesion label in a thin shell around the component, by name."""
    pad = _SHELL_VOXELS
    big = tuple(slice(max(s.start - pad, 0), min(s.stop + pad, n))
                for s, n in zip(comp.box, labels.shape, strict=True))
    local = np.zeros(tuple(s.stop - s.start for s in big), dtype=bool)
    inner = tuple(slice(s.start - b.start, s.stop - b.start)
                  for s, b in zip(comp.box, big, strict=True))
    local[inner] = comp.mask
    shell = ndimage.binary_dilation(local, _STRUCTURE, iterations=pad) & ~local
    values = np.asarray(labels[big][shell]).astype(np.int64, copy=False)
    keep = values > 0
    for v in lesion_values:
        keep &= values != v
    values = values[keep]
    if values.size == 0:
        return None
    uniq, counts = np.unique(values, return_counts=True)
    best = int(uniq[int(np.argmax(counts))])
    info = table.get(best) if table is not None else None
    return info.name if info is not None else f"label {best}"


def _axis(volume: Volume, k: int, start_ji: tuple[float, float], end_ji: tuple[float, float],
          length: float) -> Axis:
    s_vox = (float(k), float(start_ji[0]), float(start_ji[1]))
    e_vox = (float(k), float(end_ji[0]), float(end_ji[1]))
    lps = volume.index_to_lps(np.array([[s_vox[2], s_vox[1], k], [e_vox[2], e_vox[1], k]],
                                       dtype=np.float64))
    return Axis(
        length_mm=float(length), slice_index=int(k), start_voxel=s_vox, end_voxel=e_vox,
        start_lps=tuple(float(v) for v in lps[0]),  # type: ignore[arg-type]
        end_lps=tuple(float(v) for v in lps[1]),  # type: ignore[arg-type]
    )


def _recist_axes(volume: Volume, comp: _Component, centroid_k: float,
                 metric2: np.ndarray) -> tuple[Axis, Axis]:
    """Long axis over all slices (bounded search), short axis on the chosen slice."""
    k0 = comp.box[0].start
    rim = extreme_voxels(comp.mask, axes=(1, 2))
    ks, lower, upper = slice_diameter_bounds(rim, metric2)
    best = -1.0
    lengths: dict[int, float] = {}
    for n in np.argsort(-lower, kind="stable"):
        if upper[n] < best - 1e-9:
            continue
        dk = int(ks[n])
        length, _p, _q = longest_diameter(comp.mask[dk], metric2, rim=rim[dk])
        lengths[dk] = length
        best = max(best, length)
    ties = [dk for dk, length in lengths.items() if length >= best - 1e-9]
    dk = min(ties, key=lambda d: (abs(k0 + d - centroid_k), d))
    axes = long_and_short_axis(comp.mask[dk], metric=metric2)
    off_j, off_i = comp.box[1].start, comp.box[2].start

    def shift(p: tuple[float, float]) -> tuple[float, float]:
        return (p[0] + off_j, p[1] + off_i)

    k = k0 + dk
    long_axis = _axis(volume, k, shift(axes.long_start), shift(axes.long_end), axes.long_mm)
    short_axis = _axis(volume, k, shift(axes.short_start), shift(axes.short_end), axes.short_mm)
    return long_axis, short_axis


def extract_lesions(
    labels: Volume,
    image: Volume | None = None,
    *,
    timepoint: int,
    lesion_values: Mapping[int, str] | None = None,
    confidence: Volume | None = None,
) -> ExtractedLesions:
    """Connected lesion components of ``labels``, measured (see the module notes).

    ``lesion_values`` maps label values to names; by default the lesion labels of
    ``labels.labels`` (:func:`lesion_label_values`).  ``image`` (same grid) gives the
    intensities, ``confidence`` (same grid) each lesion's ``score``.  No lesion voxels
    gives an empty result, not an error.
    """
    table = labels.labels
    if lesion_values is None:
        if table is None:
            raise LesionError("The label map has no label table, so Interval cannot tell "
                              "which labels are lesions; name the lesion label values.")
        lesion_values = lesion_label_values(table)
    if image is not None and not image.same_grid(labels):
        raise LesionError("The image and the label map are on different grids "
                          f"(image {image.size_ijk}, labels {labels.size_ijk}); "
                          "resample the label map onto the image first.")
    conf_scale = _confidence_scale(confidence, labels)
    arr = labels.array
    comps = _components_of(arr, sorted(int(v) for v in lesion_values)) if lesion_values else []
    comps.sort(key=lambda c: (c.first, c.value))

    components = sparse_zeros(arr.shape, np.uint16 if len(comps) < 2**16 else np.int32)
    voxel_ml = labels.voxel_volume_mm3() / 1000.0
    metric2 = in_plane_metric(labels.spacing[:2], labels.direction)
    metric3 = volume_metric(labels.spacing, labels.direction)
    lesion_set = {int(v) for v in lesion_values}
    measurements = []
    for cid, comp in enumerate(comps, start=1):
        components[comp.box][comp.mask] = cid
        name = str(lesion_values[comp.value])
        node = is_lymph_node_name(name)
        idx = np.nonzero(comp.mask)
        lo = np.array([s.start for s in comp.box])
        centroid_kji = np.array([float(np.mean(a)) for a in idx]) + lo
        centroid = labels.index_to_lps(centroid_kji[::-1])
        long_axis, short_axis = _recist_axes(labels, comp, float(centroid_kji[0]), metric2)
        if node:
            organ = LYMPH_NODE_ORGAN
        else:
            organ = (_organ(arr, comp, lesion_set, table) or _organ_from_name(name)
                     or UNKNOWN_ORGAN)
        mean = sd = None
        if image is not None:
            vals = np.asarray(image.array[comp.box][comp.mask], dtype=np.float64)
            mean, sd = float(vals.mean()), float(vals.std())
        extra: dict[str, float] = {}
        if confidence is not None:  # without a map: the field's default (None)
            mean_conf = float(np.mean(confidence.array[comp.box][comp.mask], dtype=np.float64))
            extra["score"] = round(min(max(mean_conf * conf_scale, 0.0), 1.0), 3)
        hi = tuple(s.stop for s in comp.box)
        touches = bool(np.any(lo == 0) or np.any(np.array(hi) == np.array(arr.shape)))
        measurements.append(LesionMeasurement(
            timepoint=timepoint, component=cid, label_value=int(comp.value), label_name=name,
            organ=organ, is_lymph_node=node, voxel_count=int(idx[0].size),
            volume_ml=float(idx[0].size * voxel_ml),
            long_axis=long_axis, short_axis=short_axis,
            max_diameter_3d_mm=max_3d_diameter(comp.mask, metric=metric3),
            centroid_lps=tuple(float(v) for v in centroid),  # type: ignore[arg-type]
            mean_intensity=mean, sd_intensity=sd,
            bbox_lo=tuple(int(v) for v in lo),  # type: ignore[arg-type]
            bbox_hi=tuple(int(v) for v in hi),  # type: ignore[arg-type]
            touches_border=touches,
            **extra,
        ))
    return ExtractedLesions(measurements, components)


def _confidence_scale(confidence: Volume | None, labels: Volume) -> float:
    """The factor from the confidence map's values to 0-1 (1/255 for uint8)."""
    if confidence is None:
        return 1.0
    if not confidence.same_grid(labels):
        raise LesionError("The confidence map and the label map are on different grids "
                          f"(confidence {confidence.size_ijk}, labels {labels.size_ijk}).")
    kind = confidence.array.dtype
    if kind == np.uint8:
        return 1.0 / 255.0
    if kind.kind == "f":
        return 1.0
    raise LesionError(f"A confidence map must hold uint8 (0-255) or floating point (0-1) "
                      f"values, not {kind}.")
