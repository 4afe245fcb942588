"""Placing a label map on a 512x512x400 CT grid: same grid, exact re-index, nearest resample.

* same grid: the label array is shared (no copy);
* voxel centres that coincide in another order (rows flipped, as dcm2niix NIfTI files):
  exact numpy re-indexing, one uint8 copy;
* a 2x coarser, shifted grid: SimpleITK nearest-neighbour resampling.

Prints the median of 5 runs and the peak resident memory growth of each case
(label maps are uint8: 100 MiB on this grid; the CT itself would be 200 MiB int16).
Run: ``python tests/benchmarks/bench_segmentation.py``.
"""

from __future__ import annotations

import os
import resource
import statistics
import time

import numpy as np

from interval.core.labels import LabelTable
from interval.core.volume import Volume
from interval.io.segmentation import place_on_grid

SHAPE = (400, 512, 512)
SPACING = (0.7, 0.7, 1.0)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _time(label: str, labels: Volume, image: Volume) -> None:
    before = _peak_mib()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        placed = place_on_grid(labels, image)
        times.append(time.perf_counter() - t)
        del placed
    print(f"{label:<28} median {statistics.median(times) * 1000:8.1f} ms   "
          f"peak RSS +{_peak_mib() - before:6.0f} MiB")


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.2f}")
    image = Volume(np.broadcast_to(np.int16(0), SHAPE).copy(), SPACING)
    lab = np.zeros(SHAPE, np.uint8)
    lab[100:200, 100:300, 200:300] = 3
    table = LabelTable.for_values([3])
    _time("same grid (shared)", image.with_array(lab, labels=table), image)
    flipped = Volume(np.ascontiguousarray(lab[:, ::-1, :]), SPACING,
                     (0.0, (SHAPE[1] - 1) * SPACING[1], 0.0), np.diag([1.0, -1.0, 1.0]),
                     labels=table)
    _time("rows flipped (exact)", flipped, image)
    coarse = Volume(np.ascontiguousarray(lab[::2, ::2, ::2]), (1.4, 1.4, 2.0), (0.35, 0.35, 0.5),
                    labels=table)
    _time("2x coarser (nearest, ITK)", coarse, image)


if __name__ == "__main__":
    main()
