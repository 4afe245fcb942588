"""``interval track PATH... -o OUT``: follow one patient's lesions across timepoints.

A thin shell over :func:`interval.longitudinal.pipeline.run_tracking`: it parses the
options, builds the timeline, picks the label source (a model or ``--labels`` files),
draws progress bars, and prints the RECIST table, where the files went and where the
time went.  Ctrl-C cancels (exit code 130).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from interval.cli.progress import ProgressBar, progress_wanted
from interval.core.errors import IntervalError


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``track`` subcommand."""
    p = subparsers.add_parser(
        "track", parents=parents,
        help="track lesions across a patient's timepoints (registration, matching, RECIST 1.1, "
        "reports)",
        description=(
            "Read the studies of ONE patient from the DICOM folders PATH..., choose one series per "
            "timepoint, segment each timepoint with a model (--model) or take label maps "
            "(--labels, one per timepoint, oldest first), register every follow-up to the "
            "baseline, match the lesions across time, apply RECIST 1.1, forecast each lesion's "
            "size (growth-forecast plugin; a model estimate), and write report.json, "
            "lesions.csv, forecasts.csv, report.html, report.pdf, DICOM SEG and SR (TID 1500) "
            "into OUT. The "
            "reader's corrections in OUT/corrections.json are applied on every run."
        ),
    )
    p.add_argument("paths", metavar="PATH", nargs="+", help="DICOM folders (or files) to read")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output folder")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--model", metavar="NAME", default=None,
                        help="segmentation model from 'interval plugins' (default: phantom-unet "
                        "when no --labels are given)")
    source.add_argument("--labels", metavar="FILE", nargs="+", default=None,
                        help="label maps (NIfTI/NRRD/MHA/DICOM SEG), one per timepoint, oldest "
                        "first")
    p.add_argument("--baseline", metavar="DATE", default=None,
                   help="first study date to use (YYYY-MM-DD); earlier studies are left out")
    p.add_argument("--patient", metavar="ID", default=None,
                   help="the Patient ID to track when the folders hold several patients")
    p.add_argument("--same-patient", metavar="ID=ID", action="append", default=None,
                   help="treat Patient ID A as B (repeatable), e.g. after a change of ID")
    p.add_argument("--series", metavar="UID", nargs="+", default=None,
                   help="the series to use per timepoint (series UID, stack uid or number), "
                   "oldest first")
    p.add_argument("--registration", choices=("rigid", "affine", "deformable"),
                   default="affine", help="registration to the baseline (default: affine)")
    p.add_argument("--chained", action="store_true",
                   help="register each follow-up to the previous timepoint and compose")
    p.add_argument("--device", default="auto", metavar="DEVICE",
                   help="auto (default), cpu, cuda, cuda:N or mps (with --model)")
    p.add_argument("--memory-limit", metavar="SIZE", default=None,
                   help="memory limit of the model process, e.g. 8G or 'none' (default: from "
                   "the machine)")
    p.add_argument("--no-reports", action="store_true",
                   help="write report.json and lesions only (no HTML, PDF, SR, SEG)")
    p.add_argument("--force", action="store_true",
                   help="write into OUT even if it holds files Interval did not write")
    p.add_argument("--json", action="store_true", help="print report.json to stdout at the end")
    p.add_argument("--no-reuse", action="store_true",
                   help="segment and register everything again (default: label maps and "
                   "transforms an earlier run left in OUT are reused when the series, the "
                   "model or label files and the registration are the same)")
    add_forecast_options(p)
    p.set_defaults(func=run_track)


def add_forecast_options(p: argparse.ArgumentParser) -> None:
    """``--horizon DAYS`` and ``--no-forecast`` (``track`` and ``demo``)."""
    from interval.cli.forecast import horizon_days

    p.add_argument("--horizon", metavar="DAYS", type=horizon_days, default=None,
                   help="forecast each lesion's size DAYS after the last visit (default: at the "
                   "next expected visit, the median interval so far); a model estimate of the "
                   "growth-forecast plugin")
    p.add_argument("--no-forecast", action="store_true",
                   help="make no growth forecast")


def run_track(args: argparse.Namespace) -> int:
    """Build the timeline, run the pipeline, print the summary; 0 when all went well."""
    from interval.longitudinal.pipeline import Reporter, TrackingOptions, run_tracking
    from interval.longitudinal.timeline import build_timeline

    if not args.labels:  # segmenting needs the model runtime; --labels does not
        from interval.ai.model_runtime import require_model_runtime

        require_model_runtime()
    show = progress_wanted(bool(getattr(args, "progress", False)))
    echo = _echo(args.json)
    baseline = _date(args.baseline)
    id_map = _id_map(args.same_patient)
    with ProgressBar("Indexing", enabled=show) as bar:
        selection = build_timeline(args.paths, patient_id=args.patient, id_map=id_map,
                                   series=args.series, baseline=baseline, progress=bar)
    _show_timeline(echo, selection.timeline)
    labels = _label_source(args, echo)
    reporter = Reporter(echo=echo, bar=lambda label: ProgressBar(label, enabled=show))
    options = TrackingOptions(registration=args.registration, chained=args.chained,
                              reports=not args.no_reports, force=args.force,
                              forecast=not args.no_forecast, horizon_days=args.horizon,
                              reuse=not args.no_reuse)
    from interval.cli.cancel import ctrl_c_cancels

    with ctrl_c_cancels() as cancel:
        outcome = run_tracking(selection, labels, Path(args.output), options,
                               inputs=tuple(args.paths), reporter=reporter, cancel=cancel)
    from interval.longitudinal.summary import summary_lines, timing_table

    for line in summary_lines(outcome.report):
        echo(line)
    echo("")
    echo(timing_table(outcome.report.timings))
    echo(f"Reports: {Path(args.output)}")
    if args.json:
        sys.stdout.write(json.dumps(outcome.report.to_dict(), indent=1) + "\n")
    return 0 if outcome.ok else 1


def _echo(to_stderr: bool) -> Any:
    stream = sys.stderr if to_stderr else sys.stdout

    def echo(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return echo


def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise IntervalError(f"--baseline {text!r} is not a date like 2024-03-01") from None


def _id_map(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        a, sep, b = pair.partition("=")
        if not sep or not a.strip() or not b.strip():
            raise IntervalError(f"--same-patient {pair!r} must look like OLD_ID=NEW_ID")
        out[a.strip()] = b.strip()
    return out


def _label_source(args: argparse.Namespace, echo: Any) -> Any:
    from interval.longitudinal.segmentation_source import FileLabels, ModelLabels

    if args.labels:
        return FileLabels(args.labels)
    from interval.longitudinal.model_lookup import find_segmentation_model

    entry = find_segmentation_model(args.model or "phantom-unet", modality=None)
    limit = None
    if args.memory_limit is not None:
        from interval.ai.memory_limit import parse_size

        limit = parse_size(args.memory_limit)
    labels = ModelLabels(entry, device=args.device, memory_limit_bytes=limit)
    labels.prestart()
    echo(f"Segmenting with {entry.spec.name} {entry.spec.version} ({entry.plugin_id}); "
         "Ctrl-C cancels")
    return labels


def _show_timeline(echo: Any, timeline: Any) -> None:
    echo(f"Patient: {len(timeline.timepoints)} timepoint(s)")
    for tp in timeline.timepoints:
        date = tp.study_date.isoformat() if tp.study_date else "date unknown"
        days = "" if tp.days_from_baseline in (None, 0) else f" (+{tp.days_from_baseline} days)"
        echo(f"  {tp.index + 1}. {date}{days}  {tp.label}: {tp.series.modality} series "
             f"{tp.series.series_number} - {tp.series.reason}")
    for warning in timeline.warnings:
        echo(f"  warning: {warning}")
