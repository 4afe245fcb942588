"""Segmentation metrics: Dice overlap and volumes of label maps (numpy only, no Qt, no torch).

Label maps are integer arrays in the house order (z, y, x); spacing is (x, y, z) in mm.
A Dice of a label absent from both maps is undefined: :func:`dice` returns NaN then
(as nnU-Net and MONAI report it), never a misleading 1.0 or 0.0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "LesionMatch",
    "confusion_counts",
    "dice",
    "dice_per_label",
    "label_counts",
    "match_lesions",
    "volume_ml",
]


def _check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"the label maps differ in shape: {a.shape} and {b.shape}")


def dice(a: np.ndarray, b: np.ndarray, label: int, label_b: int | None = None) -> float:
    """Dice overlap 2|A∩B| / (|A|+|B|) of ``a == label`` and ``b == label_b`` (default ``label``).

    NaN when the label is absent from both maps.
    """
    a, b = np.asarray(a), np.asarray(b)
    _check_same_shape(a, b)
    label_b = label if label_b is None else label_b
    in_a = a == label
    in_b = b == label_b
    total = int(np.count_nonzero(in_a)) + int(np.count_nonzero(in_b))
    if total == 0:
        return math.nan
    both = int(np.count_nonzero(in_a & in_b))
    return 2.0 * both / total


def confusion_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``counts[i, j]``: voxels with value i in ``a`` and j in ``b`` (one pass, slice by slice).

    Both maps must hold non-negative integers.
    """
    a, b = np.asarray(a), np.asarray(b)
    _check_same_shape(a, b)
    if a.size == 0:
        return np.zeros((1, 1), np.int64)
    if (a.dtype.kind not in "ui" or b.dtype.kind not in "ui"):
        raise ValueError("label maps must hold integers")
    if int(a.min()) < 0 or int(b.min()) < 0:
        raise ValueError("label maps must not hold negative values")
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    counts = np.zeros(na * nb, np.int64)
    a2 = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)
    b2 = b.reshape(a2.shape)
    for row_a, row_b in zip(a2, b2, strict=True):  # bounded memory for big volumes
        pairs = row_a.astype(np.int64) * nb + row_b.astype(np.int64)
        counts += np.bincount(pairs, minlength=na * nb)
    return counts.reshape(na, nb)


def dice_per_label(
    a: np.ndarray, b: np.ndarray, labels: Iterable[int] | Mapping[int, int]
) -> dict[int, float]:
    """Dice of each label (NaN where absent from both) from one pass over the maps.

    ``labels``: values compared as equal in both maps, or a mapping ``value in a ->
    value in b`` when the two maps number the same structures differently.
    """
    pairs = dict(labels) if isinstance(labels, Mapping) else {int(v): int(v) for v in labels}
    counts = confusion_counts(a, b)
    rows, cols = counts.sum(axis=1), counts.sum(axis=0)
    out: dict[int, float] = {}
    for va, vb in pairs.items():
        n_a = int(rows[va]) if 0 <= va < rows.size else 0
        n_b = int(cols[vb]) if 0 <= vb < cols.size else 0
        both = int(counts[va, vb]) if n_a and n_b else 0
        out[int(va)] = math.nan if n_a + n_b == 0 else 2.0 * both / (n_a + n_b)
    return out


def label_counts(labels: np.ndarray) -> np.ndarray:
    """Voxels per label value (index = value), for non-negative integer maps."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return np.zeros(1, np.int64)
    top = int(labels.max())
    counts = np.zeros(top + 1, np.int64)
    for plane in labels.reshape(labels.shape[0], -1) if labels.ndim > 1 else [labels]:
        counts += np.bincount(plane.ravel(), minlength=top + 1)
    return counts


def voxel_ml(spacing: Sequence[float]) -> float:
    """The volume of one voxel in mL (spacing in mm)."""
    sx, sy, sz = (float(s) for s in spacing)
    return sx * sy * sz / 1000.0


def volume_ml(labels: np.ndarray, spacing: Sequence[float], label: int) -> float:
    """Volume of ``labels == label`` in mL (1 mL = 1000 mm³)."""
    return int(np.count_nonzero(np.asarray(labels) == label)) * voxel_ml(spacing)


@dataclass(frozen=True)
class LesionMatch:
    """One ground-truth lesion and the predicted lesion voxels that overlap it."""

    lesion_id: int
    truth_ml: float
    predicted_ml: float  # connected predicted components that overlap this lesion most
    dice: float  # of the lesion against those components
    detected: bool


def match_lesions(
    predicted: np.ndarray, lesion_ids: np.ndarray, spacing: Sequence[float]
) -> tuple[list[LesionMatch], float]:
    """Per-lesion volumes and Dice, and the volume (mL) of predicted lesions matching none.

    ``predicted`` is a binary lesion mask; ``lesion_ids`` the ground-truth map of lesion
    ids (0 = none).  Each connected predicted component (26-connected) is given to the
    true lesion it overlaps most; components overlapping no lesion are false positives.
    """
    import SimpleITK as sitk  # noqa: PLC0415 - only here

    pred = np.asarray(predicted).astype(bool)
    truth = np.asarray(lesion_ids)
    _check_same_shape(pred, truth)
    unit = voxel_ml(spacing)
    cc = sitk.ConnectedComponent(sitk.GetImageFromArray(pred.astype(np.uint8)), True)
    comps = sitk.GetArrayViewFromImage(cc).astype(np.int64, copy=False)
    n_comp = int(comps.max()) if comps.size else 0
    overlap = confusion_counts(comps, truth.astype(np.int64, copy=False))  # [component, lesion]
    ids = [int(i) for i in np.unique(truth) if i > 0]
    owner = np.zeros(n_comp + 1, np.int64)  # component -> lesion id (0: false positive)
    comp_size = overlap.sum(axis=1)
    for c in range(1, n_comp + 1):
        row = overlap[c, 1:]
        if row.size and row.max() > 0:
            owner[c] = int(np.argmax(row)) + 1
    matches = []
    for lid in ids:
        mine = np.flatnonzero(owner == lid)
        n_pred = int(comp_size[mine].sum())
        n_truth = int(overlap[:, lid].sum())
        n_both = int(overlap[mine, lid].sum())
        total = n_pred + n_truth
        matches.append(LesionMatch(
            lesion_id=lid, truth_ml=n_truth * unit, predicted_ml=n_pred * unit,
            dice=2.0 * n_both / total if total else math.nan, detected=n_both > 0,
        ))
    false_positive = int(comp_size[np.flatnonzero(owner == 0)[1:]].sum()) if n_comp else 0
    return matches, false_positive * unit
