"""``interval forecast CSV``: forecast lesion sizes from a table of measurements (no images).

Reads the trial measurement format (``Pt_hashID``, ``T_days``, ``Lesion_diam``) or
Interval's ``lesions.csv`` (:mod:`interval.longitudinal.forecast_table`), gives every
lesion's measurements to the growth-forecast plugin's analyzer, and prints one line per
lesion and method (``--json``: the forecasts as JSON; ``-o FILE``: a CSV with the columns
of ``forecasts.csv``). Every number is a model estimate. Exit codes: 0 done; 1 no
forecasting plugin can be used; 2 a bad table or option.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from interval.core.errors import IntervalError

EXIT_BAD_TABLE = 2


def horizon_days(text: str) -> float:
    """argparse type of ``--horizon``: a positive number of days (at most ten years)."""
    from interval.longitudinal.forecast import MAX_HORIZON_DAYS

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_HORIZON_DAYS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a number of days above 0 and at most {MAX_HORIZON_DAYS:.0f}")
    return value


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``forecast`` subcommand."""
    p = subparsers.add_parser(
        "forecast", parents=parents,
        help="forecast lesion sizes from a CSV of measurements (growth-forecast plugin)",
        description=(
            "Read lesion measurements from CSV (the trial format with Pt_hashID, T_days, "
            "Lesion_diam, or Interval's lesions.csv with lesion_id, days, "
            "recist_diameter_mm) and forecast each lesion's diameter with the growth-forecast "
            "plugin: its network and the classical growth laws, each with its band. Every "
            "number is a model estimate, not a measurement."
        ),
        epilog="exit codes: 0 done, 1 no forecasting plugin, 2 bad table or option",
    )
    p.add_argument("csv", metavar="CSV", help="the table of measurements")
    p.add_argument("--horizon", metavar="DAYS", type=horizon_days, default=None,
                   help="forecast DAYS after each lesion's last visit (default: at its next "
                   "expected visit, the median interval between its visits)")
    p.add_argument("--json", action="store_true", help="print the forecasts as JSON")
    p.add_argument("-o", "--output", metavar="OUT.csv", default=None,
                   help="also write the forecasts as CSV (the columns of forecasts.csv)")
    p.add_argument("--analyzer", metavar="ID", default=None,
                   help="another plugin's analyzer following the growth-forecast contract "
                   "(plugin_id:analyzer_id; default: the growth-forecast plugin)")
    p.set_defaults(func=run_forecast_command)


def run_forecast_command(args: argparse.Namespace) -> int:
    """Read the table, run the analyzer, print; see the module docstring for exit codes."""
    from interval.longitudinal.forecast import run_forecast
    from interval.longitudinal.forecast_table import (
        MeasurementTableError,
        read_measurement_table,
        table_timepoints,
    )
    from interval.longitudinal.report_csv import write_forecasts_csv

    try:
        table = read_measurement_table(args.csv)
    except MeasurementTableError as exc:
        sys.stderr.write(f"interval: error: {exc}\n")
        return EXIT_BAD_TABLE
    out = Path(args.output) if args.output else None
    if out is not None and out.resolve() == Path(args.csv).resolve():
        raise IntervalError("the output file is the input table; choose another name",
                            path=out)
    options = {"horizon_days": args.horizon} if args.horizon is not None else {}
    run = run_forecast(table_timepoints(table), table.lesion_ids(), options=options,
                       analyzer_name=args.analyzer)
    if out is not None:
        write_forecasts_csv(run.forecasts, out)
    if args.json:
        data = {"analyzer": run.source, "plugin_version": run.version, "summary": run.note,
                "layout": table.layout, "warnings": run.warnings,
                "model_estimate": True,
                "forecasts": [_plain(f) for f in run.forecasts]}
        sys.stdout.write(json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
        return 0
    for line in forecast_table_lines(table, run):
        sys.stdout.write(line + "\n")
    if args.output:
        sys.stdout.write(f"Forecasts (CSV): {args.output}\n")
    return 0


def _plain(forecast: Any) -> dict[str, Any]:
    import dataclasses

    data = dataclasses.asdict(forecast)
    data["target_date"] = forecast.target_date.isoformat() if forecast.target_date else None
    return data


def forecast_table_lines(table: Any, run: Any) -> list[str]:
    """The readable table: one line per lesion and method, then the model's statement and
    the warnings (all plugin text printed without control characters)."""
    width = max([6] + [min(len(_clean(f.lesion_id)), 40) for f in run.forecasts])
    lines = [f"Growth forecast from {len(table.lesion_ids())} lesion(s), "
             f"{len(table.observations)} measurement(s) ({table.layout} layout); "
             "model estimates, not measurements",
             f"{'lesion':<{width}} {'visits':>6} {'last day':>8} {'target':>8}  "
             f"{'method':<32} {'median mm':>9}  {'band mm':<16} status"]
    previous = None
    for f in run.forecasts:
        first = f.lesion_id != previous
        previous = f.lesion_id
        lesion = _clean(f.lesion_id)[:width] if first else ""
        visits = str(table.visits(f.lesion_id)) if first else ""
        band = "-"
        if f.lower_mm is not None and f.upper_mm is not None:
            band = f"{f.lower_mm:.1f}-{f.upper_mm:.1f}"
            if f.interval:
                band += f" ({f.interval * 100:.0f}%)"
        status = f.status + (f": {_clean(f.message)}" if f.message else "")
        method = _clean(f.method_label) + (" *" if f.default else "")
        lines.append(
            f"{lesion:<{width}} {visits:>6} {_day(f.last_day) if first else '':>8} "
            f"{_day(f.target_day):>8}  {method[:32]:<32} "
            f"{'-' if f.median_mm is None else f'{f.median_mm:.1f}':>9}  {band:<16} {status}")
    lines.append("* the default method (the network's forecast)")
    if table.skipped_blank or table.skipped_excluded:
        lines.append(f"Left out: {table.skipped_blank} row(s) without a diameter, "
                     f"{table.skipped_excluded} row(s) of excluded lesions")
    if run.source:
        lines.append(f"Made by {_clean(run.source)}.")
    if run.note:
        lines.append(_clean(run.note))
    for w in run.warnings:
        lines.append(f"warning: {_clean(w)}")
    return lines


def _day(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _clean(text: str) -> str:
    """Text from a plugin or a file without control characters (a terminal shows it as is)."""
    return "".join(c if c.isprintable() else " " for c in str(text))
