"""Speed of the synthetic patient generator (a script, not collected by pytest).

Usage: ``python tests/benchmarks/bench_synthetic.py [--repeat N]``

Measures, with wall and CPU time (CPU time is steadier on a shared machine):

* ``sample_patient`` for a new seed (anatomy, lesion placement),
* ``generate_phantom`` at the training size 96 x 160 x 160 and at the default
  140 x 256 x 256 (model cached, as in a training loop over timepoints),
* ``generate_patient`` of the default patient (3 scans as DICOM + ground truth),
* the demo's index + load of that patient through the real DICOM pipeline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from interval.io.dicom.index import index_folder
from interval.io.dicom.load import load_stack
from interval.io.synthetic.patient import generate_patient
from interval.io.synthetic.phantom import DEFAULT_SHAPE, generate_phantom, sample_patient


def _timed(fn, repeat: int) -> tuple[float, float]:
    """Best wall and CPU seconds over ``repeat`` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    seeds = iter(range(1000, 2000))
    rows = [("sample_patient (new seed)", _timed(lambda: sample_patient(next(seeds)), args.repeat))]
    sample_patient(0)
    for shape in ((96, 160, 160), DEFAULT_SHAPE):
        n = shape[0] * shape[1] * shape[2] / 1e6
        rows.append((f"generate_phantom {shape} ({n:.1f} M voxels)",
                     _timed(lambda s=shape: generate_phantom(0, s, timepoint=1), args.repeat)))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "p"
        rows.append(("generate_patient default (3 scans, DICOM + truth)",
                     _timed(lambda: generate_patient(out, 0, keep_arrays=False), 1)))

        def index_and_load() -> None:
            index = index_folder(out / "DICOM")
            for stack in index.iter_stacks():
                load_stack(stack)

        rows.append(("index + load the 3 series", _timed(index_and_load, args.repeat)))
    width = max(len(name) for name, _ in rows)
    print(f"{'':<{width}}   wall s    cpu s")
    for name, (wall, cpu) in rows:
        print(f"{name:<{width}}  {wall:7.3f}  {cpu:7.3f}")


if __name__ == "__main__":
    main()
