"""The example's longitudinal analyzer: labelled volume (ml) per label and timepoint."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from interval.core.jobs import CancelFn, ProgressFn, check_cancel, report
from interval.plugins.api import LongitudinalResult, Timepoint


class LabelVolumeAnalyzer:
    """Volume of each label of each timepoint's label map, and its change since the first."""

    def analyze(
        self,
        timepoints: Sequence[Timepoint],
        *,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> LongitudinalResult:
        result = LongitudinalResult()
        first: dict[int, float] = {}
        ordered = sorted(timepoints, key=lambda t: t.date)
        for n, tp in enumerate(ordered):
            check_cancel(cancel)
            if tp.labels is None:
                result.warnings.append(f"{tp.date.isoformat()}: no label map, skipped")
                continue
            voxel_ml = float(np.prod(tp.labels.spacing)) / 1000.0
            values, counts = np.unique(tp.labels.array, return_counts=True)
            for value, count in zip(values.tolist(), counts.tolist(), strict=True):
                if value == 0:
                    continue
                info = tp.labels.labels.get(value) if tp.labels.labels is not None else None
                ml = count * voxel_ml
                first.setdefault(value, ml)
                result.table.append({
                    "date": tp.date.isoformat(), "timepoint": tp.label, "label": value,
                    "name": info.name if info is not None else f"Label {value}",
                    "volume_ml": round(ml, 3),
                    "change_percent": round(100.0 * (ml - first[value]) / first[value], 1)
                    if first[value] > 0 else None,
                })
            report(progress, n + 1, len(ordered))
        result.label_maps = [tp.labels for tp in ordered]
        last = {row["label"]: row for row in result.table}
        result.summary = "; ".join(
            f"{row['name']}: {first[v]:.1f} ml -> {row['volume_ml']:.1f} ml" for v, row in last.items()
        ) or "no labelled voxels"
        return result
