"""Lesion detection scores of a predicted label map against the truth (numpy and scipy only).

One scan is scored by :func:`score_scan`:

* **Lesion regions**: the 26-connected components of the union of the *lesion-like*
  labels (e.g. "lesion" and "lymph node": a region of either counts as a lesion region).
* **True lesions**: the ids of a truth lesion-id map (0 = none) when one is given, else
  the 26-connected components of the truth's lesion-like labels.  Each one's volume,
  host organ (given per id, else the most common non-lesion truth label in a one-voxel
  shell around it, named by ``truth_names``) and whether it was **found**: a predicted
  lesion region overlaps it (one voxel is enough).
* **False-positive regions**: predicted lesion regions that overlap no true lesion voxel.
* **Lesion Dice**: of the union of lesion-like labels, prediction against truth.
* **Organ Dice**: per organ name, of the paired label values (NaN when absent from both).

:func:`summarize` pools scans: detection rate overall, by size (``<0.5 mL``,
``0.5-2 mL``, ``>2 mL``; 0.5 and 2 mL fall in the middle bin) and by host organ, false
positives per scan, lesion Dice (mean over the scans where it is defined, and pooled over
all voxels), mean organ Dice, seconds per scan.  :func:`check_targets` compares a summary
with :class:`Targets`; :func:`check_temporal` compares two summaries (a model using prior
timepoints against a single-timepoint one).  A target whose value cannot be measured
(no lesion of that kind) is not met.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from interval.ai.metrics import confusion_counts

SMALL, MEDIUM, LARGE = "<0.5 mL", "0.5-2 mL", ">2 mL"
SIZE_BINS = (SMALL, MEDIUM, LARGE)
SMALL_MAX_ML, MEDIUM_MAX_ML = 0.5, 2.0
UNKNOWN_ORGAN = "unknown"
_STRUCTURE = np.ones((3, 3, 3), dtype=bool)  # 26-connectivity


def size_bin(volume_ml: float) -> str:
    """The size bin of a lesion of ``volume_ml`` mL."""
    if volume_ml < SMALL_MAX_ML:
        return SMALL
    return MEDIUM if volume_ml <= MEDIUM_MAX_ML else LARGE


@dataclass(frozen=True)
class TrueLesion:
    """One true lesion in one scan and whether the prediction found it."""

    lesion: int  # id in the truth's lesion-id map (or component number)
    volume_ml: float
    organ: str
    found: bool
    overlap_ml: float  # predicted lesion-like volume on it

    @property
    def size_bin(self) -> str:
        return size_bin(self.volume_ml)


@dataclass
class ScanScores:
    """The scores of one scan (``tags``: what the caller wants to remember, e.g. the seed)."""

    lesions: list[TrueLesion]
    predicted_regions: int
    false_positive_regions: int
    lesion_voxels: tuple[int, int, int]  # (predicted, truth, both) of the lesion-like union
    organ_voxels: dict[str, tuple[int, int, int]]  # name -> (predicted, truth, both)
    seconds: float | None = None
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def lesion_dice(self) -> float:
        return _dice(*self.lesion_voxels)

    @property
    def organ_dice(self) -> dict[str, float]:
        return {name: _dice(*counts) for name, counts in self.organ_voxels.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (NaN as None)."""
        return {
            **self.tags, "seconds": self.seconds,
            "predicted_regions": self.predicted_regions,
            "false_positive_regions": self.false_positive_regions,
            "lesion_dice": _none_if_nan(self.lesion_dice),
            "organ_dice": {k: _none_if_nan(v) for k, v in self.organ_dice.items()},
            "lesions": [{"lesion": t.lesion, "volume_ml": round(t.volume_ml, 4),
                         "organ": t.organ, "size": t.size_bin, "found": t.found,
                         "overlap_ml": round(t.overlap_ml, 4)} for t in self.lesions],
        }


def _dice(pred: int, truth: int, both: int) -> float:
    return math.nan if pred + truth == 0 else 2.0 * both / (pred + truth)


def _none_if_nan(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def score_scan(
    pred: np.ndarray,
    truth: np.ndarray,
    *,
    voxel_ml: float,
    pred_lesion_values: Iterable[int],
    truth_lesion_values: Iterable[int],
    truth_ids: np.ndarray | None = None,
    lesion_organs: Mapping[int, str] | None = None,
    organ_pairs: Mapping[str, tuple[int, int]] | None = None,
    truth_names: Mapping[int, str] | None = None,
    seconds: float | None = None,
    tags: Mapping[str, Any] | None = None,
) -> ScanScores:
    """Score the predicted label map ``pred`` against ``truth`` (same grid, ``[k, j, i]``).

    ``pred_lesion_values`` / ``truth_lesion_values``: the lesion-like label values of each
    map.  ``truth_ids``: the map of true lesion ids (0 = none); without it each connected
    component of the truth's lesion-like labels is one lesion.  ``lesion_organs``: host
    organ per lesion id; lesions not in it get the most common non-lesion truth label
    around them, named by ``truth_names`` (``"unknown"`` when nothing names it).
    ``organ_pairs``: organ name -> (value in ``pred``, value in ``truth``).
    """
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.shape != truth.shape or (truth_ids is not None and truth_ids.shape != truth.shape):
        raise ValueError("the predicted, truth and lesion-id maps must share one grid")
    pred_mask = np.isin(pred, list(pred_lesion_values))
    truth_mask = np.isin(truth, list(truth_lesion_values))
    if truth_ids is not None:
        ids = np.asarray(truth_ids)
        truth_mask |= ids > 0
    else:
        ids, _n = ndimage.label(truth_mask, structure=_STRUCTURE)
    regions, n_regions = ndimage.label(pred_mask, structure=_STRUCTURE)

    # regions touching any true lesion voxel; overlap of the predicted mask with each id
    hit_regions = np.unique(regions[pred_mask & truth_mask])
    false_positives = n_regions - int(np.count_nonzero(hit_regions))
    on_lesion = ids > 0
    sizes = np.bincount(ids[on_lesion].astype(np.int64))
    overlap = np.bincount(ids[on_lesion & pred_mask].astype(np.int64), minlength=sizes.size)
    lesions = []
    organs = dict(lesion_organs or {})
    for lesion in np.flatnonzero(sizes).tolist():
        organ = organs.get(lesion)
        if organ is None:
            organ = _host_organ(ids == lesion, truth, truth_mask, truth_names or {})
        lesions.append(TrueLesion(
            lesion=int(lesion), volume_ml=float(sizes[lesion]) * voxel_ml, organ=organ,
            found=bool(overlap[lesion] > 0), overlap_ml=float(overlap[lesion]) * voxel_ml))

    both = int(np.count_nonzero(pred_mask & truth_mask))
    lesion_voxels = (int(np.count_nonzero(pred_mask)), int(np.count_nonzero(truth_mask)), both)
    organ_voxels: dict[str, tuple[int, int, int]] = {}
    if organ_pairs:
        counts = confusion_counts(pred, truth)
        rows, cols = counts.sum(axis=1), counts.sum(axis=0)
        for name, (pv, tv) in organ_pairs.items():
            n_p = int(rows[pv]) if 0 <= pv < rows.size else 0
            n_t = int(cols[tv]) if 0 <= tv < cols.size else 0
            n_b = int(counts[pv, tv]) if n_p and n_t else 0
            organ_voxels[name] = (n_p, n_t, n_b)
    return ScanScores(lesions, n_regions, false_positives, lesion_voxels, organ_voxels,
                      seconds, dict(tags or {}))


def _host_organ(lesion: np.ndarray, truth: np.ndarray, lesion_like: np.ndarray,
                names: Mapping[int, str]) -> str:
    """The most common non-lesion, non-zero truth label in a one-voxel shell around
    ``lesion`` (a mask), by name."""
    box = ndimage.find_objects(lesion.view(np.uint8))[0]
    big = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n))
                for s, n in zip(box, lesion.shape, strict=True))
    local = lesion[big]
    shell = ndimage.binary_dilation(local, _STRUCTURE) & ~local
    values = truth[big][shell & ~lesion_like[big]]
    values = values[values > 0]
    if values.size == 0:
        return UNKNOWN_ORGAN
    uniq, counts = np.unique(values, return_counts=True)
    return names.get(int(uniq[int(np.argmax(counts))]), UNKNOWN_ORGAN)


# --- pooling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """``found`` of ``total`` (rate None when there is none)."""

    found: int
    total: int

    @property
    def rate(self) -> float | None:
        return self.found / self.total if self.total else None


@dataclass
class Summary:
    """Scores pooled over scans."""

    scans: int
    detection: Rate
    by_size: dict[str, Rate]
    by_organ: dict[str, Rate]
    false_positive_regions: int
    lesion_dice_mean: float | None  # mean over the scans where it is defined
    lesion_dice_pooled: float | None  # over all voxels of all scans
    organ_dice: dict[str, float | None]  # mean over the scans where it is defined
    seconds_mean: float | None
    seconds_median: float | None

    @property
    def fp_per_scan(self) -> float | None:
        return self.false_positive_regions / self.scans if self.scans else None

    def to_dict(self) -> dict[str, Any]:
        def rate(r: Rate) -> dict[str, Any]:
            return {"found": r.found, "total": r.total, "rate": r.rate}
        return {
            "scans": self.scans, "detection": rate(self.detection),
            "by_size": {k: rate(v) for k, v in self.by_size.items()},
            "by_organ": {k: rate(v) for k, v in self.by_organ.items()},
            "false_positive_regions": self.false_positive_regions,
            "fp_per_scan": self.fp_per_scan,
            "lesion_dice_mean": self.lesion_dice_mean,
            "lesion_dice_pooled": self.lesion_dice_pooled,
            "organ_dice": dict(self.organ_dice),
            "seconds_mean": self.seconds_mean, "seconds_median": self.seconds_median,
        }


def summarize(scans: Sequence[ScanScores]) -> Summary:
    """Pool the scores of ``scans`` (see the module notes)."""
    lesions = [t for s in scans for t in s.lesions]

    def rate(items: list[TrueLesion]) -> Rate:
        return Rate(sum(t.found for t in items), len(items))
    organs = sorted({t.organ for t in lesions})
    dices = [d for s in scans if not math.isnan(d := s.lesion_dice)]
    pooled = tuple(sum(s.lesion_voxels[i] for s in scans) for i in range(3))
    organ_names: list[str] = []
    for s in scans:
        organ_names += [n for n in s.organ_voxels if n not in organ_names]
    organ_dice: dict[str, float | None] = {}
    for name in organ_names:
        values = [d for s in scans if name in s.organ_voxels
                  and not math.isnan(d := _dice(*s.organ_voxels[name]))]
        organ_dice[name] = float(np.mean(values)) if values else None
    seconds = [s.seconds for s in scans if s.seconds is not None]
    return Summary(
        scans=len(scans), detection=rate(lesions),
        by_size={b: rate([t for t in lesions if t.size_bin == b]) for b in SIZE_BINS},
        by_organ={o: rate([t for t in lesions if t.organ == o]) for o in organs},
        false_positive_regions=sum(s.false_positive_regions for s in scans),
        lesion_dice_mean=float(np.mean(dices)) if dices else None,
        lesion_dice_pooled=_none_if_nan(_dice(*pooled)),
        organ_dice=organ_dice,
        seconds_mean=float(np.mean(seconds)) if seconds else None,
        seconds_median=float(statistics.median(seconds)) if seconds else None,
    )


# --- targets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetCheck:
    """One target: its measured ``value`` against ``target`` (``op`` ">=", "<=", ">" or "<")."""

    name: str
    value: float | None
    target: float
    passed: bool
    op: str = ">="

    @property
    def text(self) -> str:
        value = "n/a" if self.value is None else f"{self.value:.3f}"
        return f"{self.name}: {value} (target {self.op} {self.target:g})"


_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b, "<": lambda a, b: a < b}


def check(name: str, value: float | None, op: str, target: float) -> TargetCheck:
    """``value op target``; a value that could not be measured (None, NaN) fails."""
    ok = value is not None and not math.isnan(value) and _OPS[op](value, target)
    return TargetCheck(name, value, target, bool(ok), op)


@dataclass(frozen=True)
class Targets:
    """The detection targets of issue 13 (rates as fractions)."""

    detect_small: float = 0.60  # lesions < 0.5 mL
    detect_medium: float = 0.95  # 0.5-2 mL
    detect_large: float = 1.0  # > 2 mL
    organ_detection: tuple[tuple[str, float], ...] = (("kidney", 0.90),)
    fp_per_scan: float = 0.3
    lesion_dice: float = 0.88
    organ_dice: float = 0.90  # every organ's mean


def check_targets(summary: Summary, targets: Targets | None = None) -> list[TargetCheck]:
    """Every target of ``targets`` (default :class:`Targets`) checked on ``summary``."""
    t = targets or Targets()
    out = [
        check(f"detection {SMALL}", summary.by_size[SMALL].rate, ">=", t.detect_small),
        check(f"detection {MEDIUM}", summary.by_size[MEDIUM].rate, ">=", t.detect_medium),
        check(f"detection {LARGE}", summary.by_size[LARGE].rate, ">=", t.detect_large),
    ]
    for organ, bound in t.organ_detection:
        found = summary.by_organ.get(organ)
        out.append(check(f"detection {organ}", found.rate if found else None, ">=", bound))
    out.append(check("false-positive regions per scan", summary.fp_per_scan, "<=",
                     t.fp_per_scan))
    out.append(check("lesion Dice (mean per scan)", summary.lesion_dice_mean, ">=",
                     t.lesion_dice))
    for organ, value in summary.organ_dice.items():
        out.append(check(f"{organ} Dice (mean)", value, ">=", t.organ_dice))
    return out


def check_temporal(temporal: Summary, single: Summary) -> list[TargetCheck]:
    """A model using prior timepoints against a single-timepoint one (give follow-up scans'
    summaries): a higher detection rate of lesions < 0.5 mL and fewer false-positive
    regions per scan.  Where the single-timepoint model is already perfect (all small
    lesions found, no false positive) equalling it counts as better."""
    small_t, small_s = temporal.by_size[SMALL].rate, single.by_size[SMALL].rate
    fp_t, fp_s = temporal.fp_per_scan, single.fp_per_scan
    small_op = ">=" if small_s == 1.0 else ">"
    fp_op = "<=" if fp_s == 0.0 else "<"
    return [
        check(f"follow-ups: detection {SMALL} vs single-timepoint", small_t, small_op,
              small_s if small_s is not None else math.nan),
        check("follow-ups: false-positive regions per scan vs single-timepoint", fp_t, fp_op,
              fp_s if fp_s is not None else math.nan),
    ]
