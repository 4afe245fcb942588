"""Drop unsure lesion regions: the calibrated false-positive filter of a model's clean-up.

A model whose ``confidence`` section has ``drop_below`` (model.json; calibrated on
validation patients by the model's author, e.g.
``plugins/interval_unet/training/calibrate_confidence.py``) has every connected region of
its confidence labels scored the way the longitudinal core scores a lesion
(:func:`interval.longitudinal.lesions.extract_lesions`: each label value on its own, full
26-connectivity, the mean of the confidence map over the region rounded to 3 decimals),
and the regions scored below ``drop_below`` removed.  What the region covered becomes
what surrounds it: the most common label in a one-voxel shell around it that is not a
label being filtered (0 when nothing else touches it), so a dropped spot in the liver is
liver again, not a hole.

The filter runs after the island and largest-component rules, on the input grid, with
the uint8 confidence map the engine returns (0-255 = 0-1).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import ndimage

_STRUCTURE = np.ones((3, 3, 3), dtype=bool)  # full 26-connectivity, as extract_lesions


def _scale(confidence: np.ndarray) -> float:
    """The factor from the map's values to 0-1: 1/255 for uint8, 1 for floating point."""
    if confidence.dtype == np.uint8:
        return 1.0 / 255.0
    if confidence.dtype.kind == "f":
        return 1.0
    raise ValueError(f"a confidence map must hold uint8 (0-255) or floating point (0-1) "
                     f"values, not {confidence.dtype}")


def region_scores(mask: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Components of ``mask`` (26-connected) and each one's score, rounded like a lesion's.

    Returns ``(component map, count, scores)`` with ``scores[k - 1]`` for component k.
    """
    comp, n = ndimage.label(mask, structure=_STRUCTURE)
    if n == 0:
        return comp, 0, np.zeros(0)
    scale = _scale(confidence)
    means = ndimage.mean(confidence, comp, np.arange(1, n + 1))
    # rounded exactly as extract_lesions rounds a lesion's score (Python's round)
    return comp, n, np.array([round(min(max(float(m) * scale, 0.0), 1.0), 3) for m in means])


def _surrounding_label(labels: np.ndarray, region: np.ndarray,
                       box: tuple[slice, ...], filtered: np.ndarray) -> int:
    """The most common label in a one-voxel shell around ``region`` (a mask of ``box``),
    not counting the filtered labels (0 when only they, or nothing, surround it)."""
    big = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n))
                for s, n in zip(box, labels.shape, strict=True))
    inner = tuple(slice(s.start - b.start, s.start - b.start + (s.stop - s.start))
                  for s, b in zip(box, big, strict=True))
    local = np.zeros(tuple(b.stop - b.start for b in big), dtype=bool)
    local[inner] = region
    shell = ndimage.binary_dilation(local, _STRUCTURE) & ~local
    around = labels[big][shell]
    around = around[~np.isin(around, filtered)]
    if around.size == 0:
        return 0
    values, counts = np.unique(around, return_counts=True)
    return int(values[int(np.argmax(counts))])


def drop_unsure_regions(labels: np.ndarray, confidence: np.ndarray,
                        values: Iterable[int], below: float) -> dict[int, int]:
    """Remove (in place) every region of ``values`` scored below ``below``.

    ``confidence``: the map on the same grid (uint8 0-255 or float 0-1).  Returns the
    number of regions removed per label value.
    """
    if confidence.shape != labels.shape:
        raise ValueError("the confidence map and the label map must share one grid")
    wanted = [int(v) for v in values]
    filtered = np.asarray(wanted, dtype=labels.dtype)
    removed: dict[int, int] = {}
    drops: list[tuple[tuple[slice, ...], np.ndarray]] = []
    for value in wanted:
        comp, n, scores = region_scores(labels == value, confidence)
        if n == 0:
            continue
        boxes = ndimage.find_objects(comp)
        low = np.flatnonzero(scores < below) + 1
        for k in low.tolist():
            box = boxes[k - 1]
            drops.append((box, comp[box] == k))
        if low.size:
            removed[value] = int(low.size)
    # the surroundings are read before anything is filled, so the result does not depend
    # on the order of the regions
    fills = [_surrounding_label(labels, region, box, filtered) for box, region in drops]
    for (box, region), fill in zip(drops, fills, strict=True):
        labels[box][region] = fill
    return removed
