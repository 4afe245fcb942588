"""End-to-end ``interval segment`` on the synthetic 512x512x400 CT: where the time goes.

Runs the real command (``interval.cli.main.main``) on the CT of ``_bench_series.py``
(under ``/tmp/interval-bench``, written once and reused) with a model from the plugin
registry (default: the example plugin's ``example-bone-threshold``; ``--model NAME`` for
another, e.g. the U-Net), the model in its child process, writing NIfTI (+ DICOM SEG
with ``--dicom-seg``).  The command prints its own timing table (read, resample,
normalise, network, stitch, resample back, model process, write); this script adds
the wall time and the share outside the network.  Target (issue 4): everything outside
the network at most 25 % of the total for a real network.

Also measures the child start-up cost (spawn + numpy, spawn + torch) of the runner.

Run: ``python tests/benchmarks/bench_segment_cli.py [--model NAME] [--dicom-seg]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))  # the repository root: tests.ai._runner_targets
from _bench_series import ensure_series  # noqa: E402

_ROW = re.compile(r"^\s{2}(.+?)\s+([\d.]+) s\s+[\d.]+%$")


def startup_cost(repeats: int = 3) -> None:
    import numpy as np

    from interval.ai.runner import run_in_child

    for label, target in (("spawn + numpy", "tests.ai._runner_targets:arrays_only"),
                          ("spawn + torch", "tests.ai._runner_targets:import_torch")):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            run_in_child(target, {"a": np.zeros(3)}, {})
            times.append(time.perf_counter() - t)
        print(f"child start-up, {label:<14} median {statistics.median(times):6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="example-bone-threshold")
    parser.add_argument("--dicom-seg", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--slices", type=int, default=400)
    opts = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    startup_cost()
    folder, reused = ensure_series(Path("/tmp/interval-bench"), opts.slices, 512)
    print(f"series {folder} ({'reused' if reused else 'written'})")
    from interval.cli import main as cli_main
    from interval.cli import segment as segment_cli

    original = cli_main.build_parser

    def build() -> argparse.ArgumentParser:  # `segment` may not be registered in main.py yet
        p = original()
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        if "segment" not in sub.choices:
            segment_cli.add_parser(sub, [cli_main._common_options()])
        return p

    cli_main.build_parser = build
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["segment", str(folder), "--model", opts.model, "-o", f"{tmp}/seg.nii.gz",
                "--device", opts.device]
        if opts.dicom_seg:
            argv += ["--dicom-seg", f"{tmp}/seg.dcm"]
        out = io.StringIO()
        t = time.perf_counter()
        with contextlib.redirect_stdout(out):
            code = cli_main.main(argv)
        wall = time.perf_counter() - t
    text = out.getvalue()
    print(text, end="")
    rows = {m.group(1).strip(): float(m.group(2)) for m in map(_ROW.match, text.splitlines())
            if m}
    network = rows.get("network", 0.0)
    print(f"exit code {code}; wall {wall:.2f} s; outside the network "
          f"{(wall - network) / wall:.1%} (network {network:.2f} s)")


if __name__ == "__main__":
    main()
