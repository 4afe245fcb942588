"""``interval demo``: the main job on a generated patient (see :mod:`interval.longitudinal.demo`).

This module only parses the options and hands over; the pipeline lives in
:mod:`interval.longitudinal.demo` so that the CLI, the viewer and the tests share it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from interval.longitudinal import demo as demo_logic
from interval.longitudinal.demo import (
    DEFAULT_MODEL,
    DEFAULT_TIMEPOINTS,
    default_demo_dir,
    demo_segmentations,
)

__all__ = ["add_parser", "default_demo_dir", "demo_segmentations", "open_results",
           "options_from_args", "run_demo"]


def run_demo(out_dir: Any, seed: int, echo: Any = print, *, progress: bool = False,
             cancel: Any = None, **options: Any) -> int:
    """:func:`interval.longitudinal.demo.run_demo` with progress bars on stderr (``progress``
    forces them when stderr is not a terminal) and Ctrl-C as cancel."""
    from interval.cli.cancel import ctrl_c_cancels
    from interval.cli.progress import ProgressBar, progress_wanted
    from interval.longitudinal.pipeline import Reporter

    show = progress_wanted(progress)
    reporter = Reporter(echo=echo, bar=lambda label: ProgressBar(label, enabled=show))
    with ctrl_c_cancels() as ctrl_c:
        def stop() -> bool:
            return ctrl_c() or bool(cancel is not None and cancel())

        return demo_logic.run_demo(out_dir, seed, echo, reporter=reporter, cancel=stop,
                                   **options)


def open_results(root: str | Path) -> int:
    """Show the demo's results (call it only at a display, never under CI: the caller
    checks): the longitudinal workspace on the output folder ``root``, or, when the
    tracking wrote no report there, the viewer on the patient's scans with the label maps
    as layers.  Runs until the window is closed."""
    root = Path(root)
    if (root / "report.json").is_file():
        from interval.ui.longitudinal.workspace_window import run_workspace

        return int(run_workspace(root) or 0)
    from interval.cli.view import open_viewer
    from interval.io.synthetic.patient import read_synthetic_patient

    return int(open_viewer(str(read_synthetic_patient(root).dicom_dir),
                           demo_segmentations(root)) or 0)


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register the ``demo`` subcommand (its ``func`` is set by the caller)."""
    demo = subparsers.add_parser(
        "demo", parents=parents,
        help="generate a synthetic patient (real DICOM files) and track its lesions end to end",
        description=(
            "Generate a synthetic patient as DICOM files (several CT scans at irregular "
            "intervals), segment every scan with the U-Net plugin, register, match the lesions, "
            "apply RECIST 1.1, write the full report (HTML, PDF, JSON, CSV, DICOM SEG and SR) "
            "and score it against the generator's truth."
        ),
    )
    demo.add_argument(
        "--out", metavar="DIR", default=None,
        help="folder for the demo data (default: a folder in your user cache, reused between runs)",
    )
    demo.add_argument("--seed", metavar="N", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--timepoints", metavar="N", type=int, default=DEFAULT_TIMEPOINTS,
                      help=f"number of scans, 1-8 (default {DEFAULT_TIMEPOINTS})")
    demo.add_argument(
        "--view", action=argparse.BooleanOptionalAction, default=None,
        help="afterwards, open the longitudinal workspace on the results (default: when a "
        "display is available and the command runs in an interactive terminal, not under CI)",
    )
    demo.add_argument(
        "--no-segment", action="store_true",
        help="track the generator's ground-truth label maps instead of segmenting the scans",
    )
    demo.add_argument(
        "--model", metavar="NAME", default=DEFAULT_MODEL,
        help=f"segmentation model from 'interval plugins' (default: {DEFAULT_MODEL})",
    )
    demo.add_argument(
        "--device", metavar="DEVICE", default="auto",
        help="auto (default: CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps",
    )
    demo.add_argument("--registration", choices=("rigid", "affine", "deformable"),
                      default="affine", help="registration to the baseline (default: affine)")
    demo.add_argument("--memory-limit", metavar="SIZE", default=None,
                      help="memory limit of the model process, e.g. 8G or 'none' (default: "
                      "from the machine)")
    from interval.cli.track import add_forecast_options

    add_forecast_options(demo)
    return demo


def options_from_args(args: Any) -> dict[str, Any]:
    """``run_demo`` keyword arguments from the parsed ``demo`` options; absent ones keep
    their defaults."""
    from interval.core.errors import IntervalError

    timepoints = int(getattr(args, "timepoints", DEFAULT_TIMEPOINTS) or DEFAULT_TIMEPOINTS)
    if not 1 <= timepoints <= 8:
        raise IntervalError("--timepoints must be between 1 and 8")
    options: dict[str, Any] = {
        "segment": not bool(getattr(args, "no_segment", False)),
        "model": str(getattr(args, "model", None) or DEFAULT_MODEL),
        "device": str(getattr(args, "device", None) or "auto"),
        "progress": bool(getattr(args, "progress", False)),
        "n_timepoints": timepoints,
        "registration": str(getattr(args, "registration", None) or "affine"),
    }
    if getattr(args, "no_forecast", False):
        options["forecast"] = False
    if getattr(args, "horizon", None) is not None:
        options["horizon_days"] = float(args.horizon)
    limit = getattr(args, "memory_limit", None)
    if limit is not None:
        from interval.ai.memory_limit import parse_size

        options["memory_limit_bytes"] = parse_size(limit)
    return options
