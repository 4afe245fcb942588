"""``interval batch MANIFEST -o OUT``: segment and/or track a cohort of patients on Dask.

A thin shell over :mod:`interval.batch`: it reads the manifest, checks the options and
the model before anything starts, opens the cluster (a ``LocalCluster`` here, or the one
at ``--scheduler``), prints the dashboard's address when there is one, draws the progress
(cases done / failed / remaining) with a line per finished case, and writes
``summary.csv`` and the cohort report at the end.  Exit codes: 0 every case done; 1 some
case failed (the summary and the report are still written) or a problem before the run;
2 a usage error; 130 cancelled with Ctrl-C (the cases stop, no worker process is left;
the summary then covers the cases that finished).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from interval.cli.progress import ProgressBar, progress_wanted
from interval.core.errors import Cancelled, IntervalError


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``batch`` subcommand."""
    from interval.batch.settings import DEFAULT_MODEL
    from interval.cli.forecast import horizon_days

    p = subparsers.add_parser(
        "batch", parents=parents,
        help="segment and/or track many patients listed in a manifest (CSV/JSON), on Dask",
        description=(
            "Run segmentation and/or tracking (with the growth forecast) on every patient "
            "of MANIFEST (a CSV or JSON list of cases: case_id and the patient's DICOM "
            "folders in path, or a PACS server and its study_uids), each case on its own in a "
            "Dask worker process: one case failing is recorded with its reason and the rest "
            "go on. Results go to OUT/cases/<case_id>/ (written whole or not at all); a "
            "rerun skips the cases that finished. At the end: OUT/summary.csv and "
            "OUT/cohort_report.html (+ .json)."
        ),
        epilog="exit codes: 0 every case done, 1 some case failed (or nothing could run), "
               "2 usage error, 130 cancelled",
    )
    p.add_argument("manifest", metavar="MANIFEST", help="the cases: a .csv or .json file")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output folder")
    p.add_argument("--tasks", default="segment,track,forecast",
                   help="what to do per case: segment, track, forecast, comma-separated "
                   "(default: all three; track segments with the model unless the case "
                   "gives its label maps)")
    p.add_argument("--model", metavar="NAME", default=DEFAULT_MODEL,
                   help=f"segmentation model from 'interval plugins' (default: {DEFAULT_MODEL})")
    p.add_argument("--workers", metavar="N", type=_positive, default=None,
                   help="worker processes of the local cluster (default: one per core, at most "
                   "one per case)")
    p.add_argument("--threads-per-worker", metavar="N", type=_positive, default=None,
                   help="CPU threads of each case (its model process, registration; default: "
                   "the cores shared out among the workers)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                   help="run on this existing Dask cluster instead of a local one (its "
                   "workers need --preload interval.batch.worker_setup; see `pydoc "
                   "interval.batch.cluster`, also for Slurm/PBS with dask-jobqueue)")
    p.add_argument("--retry-failed", action="store_true",
                   help="run the cases that failed in an earlier run again (finished cases "
                   "are always skipped)")
    p.add_argument("--case-timeout", metavar="MINUTES", type=_minutes, default=None,
                   help="stop a case that runs longer than MINUTES at its next step and record "
                   "it as failed (its model process is stopped; the other cases go on; "
                   "default: no limit; a manifest's timeout_min column sets it per case)")
    p.add_argument("--device", default="auto", metavar="DEVICE",
                   help="auto (default), cpu, cuda, cuda:N or mps for the models")
    p.add_argument("--registration", choices=("rigid", "affine", "deformable"),
                   default="affine", help="registration to the baseline (default: affine)")
    p.add_argument("--horizon", metavar="DAYS", type=horizon_days, default=None,
                   help="forecast DAYS after the last visit (default: the next expected visit)")
    p.add_argument("--memory-limit", metavar="SIZE", default=None,
                   help="memory limit of each model process, e.g. 8G or 'none'")
    p.add_argument("--no-reports", action="store_true",
                   help="per case report.json and CSVs only (no HTML, PDF, DICOM SEG or SR)")
    p.add_argument("--pacs-cache", metavar="DIR", default=None,
                   help="where studies fetched from a PACS are kept (default: OUT/pacs_cache)")
    p.set_defaults(func=run_batch_command)


def run_batch_command(args: argparse.Namespace) -> int:
    """Read, check, run, summarise; see the module docstring for the exit codes."""
    from interval.batch.manifest import read_manifest

    cases = read_manifest(args.manifest)
    settings = _settings(args)
    if args.scheduler and args.workers is not None:
        raise IntervalError("--workers is for the local cluster; the cluster at --scheduler "
                            "has its own workers")
    _check_models(cases, settings)
    from interval.batch.out_folder import BatchFolder

    folder = BatchFolder(args.output)
    folder.prepare(inputs=[p for c in cases for p in c.paths])
    echo = _echo
    echo(f"{len(cases)} case(s) from {args.manifest}; tasks: {', '.join(settings.tasks)}")
    from interval.cli.cancel import ctrl_c_cancels

    with ctrl_c_cancels() as cancel, folder.locked():
        outcome = _run(args, cases, folder, settings, cancel)
        paths = _write_results(outcome, folder, str(args.manifest))
    _finish_lines(outcome, paths)
    if outcome.cancelled:
        raise Cancelled()
    return 1 if outcome.count("failed") else 0


def _settings(args: argparse.Namespace) -> Any:
    from interval.batch.manifest import parse_tasks
    from interval.batch.settings import BatchSettings
    from interval.longitudinal.demo import valid_device
    from interval.plugins.discovery import plugin_dirs_from_args, session_plugin_dirs

    if not valid_device(args.device):
        raise IntervalError(f"unknown device {args.device!r}; use auto, cpu, cuda, cuda:N or mps")
    limit = None
    if args.memory_limit is not None:
        from interval.ai.memory_limit import parse_size

        limit = parse_size(args.memory_limit, what="--memory-limit")
    dirs = [str(Path(d).absolute()) for d in
            dict.fromkeys([*session_plugin_dirs(), *plugin_dirs_from_args(args)])]
    return BatchSettings(
        tasks=parse_tasks(args.tasks), model=args.model, device=args.device.strip().lower(),
        registration=args.registration, horizon_days=args.horizon,
        threads=args.threads_per_worker, memory_limit_bytes=limit, plugin_dirs=tuple(dirs),
        pacs_cache=str(Path(args.pacs_cache).absolute()) if args.pacs_cache else None,
        reports=not args.no_reports, retry_failed=args.retry_failed,
        case_timeout_min=args.case_timeout)


def _check_models(cases: list[Any], settings: Any) -> None:
    """Refuse before anything runs: a model that is not installed, no model runtime."""
    from interval.batch.settings import case_work

    works = [case_work(c, settings) for c in cases]
    models = {w["model"] for w in works if w["model"]}
    if models or any("forecast" in w["tasks"] for w in works):
        from interval.ai.model_runtime import require_model_runtime

        require_model_runtime()
    if models:
        from interval.longitudinal.model_lookup import find_segmentation_model

        for name in sorted(models):
            find_segmentation_model(name, modality=None)


def _run(args: argparse.Namespace, cases: list[Any], folder: Any, settings: Any,
         cancel: Any) -> Any:
    from interval.batch.cluster import open_cluster, plan_local
    from interval.batch.runner import plan_run, run_cases

    plan = plan_run(cases, folder, settings)
    if plan.earlier:
        _echo(f"{len(plan.earlier)} case(s) had finished in an earlier run: skipped"
              + ("" if settings.retry_failed else " (--retry-failed runs the failed ones again)"))
    if not plan.todo:
        return run_cases(plan, folder, None)
    workers, threads = (None, None) if args.scheduler else \
        plan_local(len(plan.todo), args.workers, args.threads_per_worker)
    if threads is not None and settings.threads is None:  # each case's model threads
        for work in plan.works.values():
            work["threads"] = threads
    with open_cluster(scheduler=args.scheduler, workers=workers or 1, threads=threads or 1,
                      debug=bool(getattr(args, "debug", False))) as cluster:
        _echo(cluster.describe())
        if cluster.dashboard:
            _echo(f"Dask dashboard: {cluster.dashboard}")
        _echo("Ctrl-C cancels (the finished cases are kept; a rerun goes on from there)")
        with _CaseProgress(progress_wanted(bool(getattr(args, "progress", False)))) as bar:
            return run_cases(plan, folder, cluster, on_progress=bar.update,
                             on_record=bar.record, cancel=cancel)


def _write_results(outcome: Any, folder: Any, manifest: str) -> tuple[Path, Path]:
    from interval.batch.cohort_report import cohort_data, write_cohort_report
    from interval.batch.summary import write_summary

    summary = write_summary(outcome.records, folder.root, outcome.skipped)
    data = cohort_data(outcome.records, skipped=outcome.skipped, manifest=manifest,
                       cancelled=outcome.cancelled)
    _json_path, html_path = write_cohort_report(data, folder.root)
    return summary, html_path


def _finish_lines(outcome: Any, paths: tuple[Path, Path]) -> None:
    ok, failed, not_run = (outcome.count(s) for s in ("ok", "failed", "not run"))
    text = f"Cases: {ok} done, {failed} failed"
    if not_run:
        text += f", {not_run} not run (cancelled)"
    _echo(f"{text}; {outcome.seconds:.1f} s")
    for record in outcome.records:
        if record.get("status") == "failed":
            _echo(f"  failed: {record.get('case_id')}: {record.get('reason')}")
    _echo(f"Summary: {paths[0]}")
    _echo(f"Cohort report: {paths[1]}")


class _CaseProgress:
    """The cases' progress bar (done / failed / remaining) and a line per finished case."""

    def __init__(self, enabled: bool) -> None:
        self.bar = ProgressBar("Cases", enabled=enabled)

    def update(self, progress: Any) -> None:
        total = progress.done + progress.failed + progress.remaining
        self.bar.label = (f"Cases: {progress.done} done, {progress.failed} failed, "
                          f"{progress.remaining} left")
        self.bar(progress.done + progress.failed, total)

    def record(self, record: dict[str, Any]) -> None:
        seconds = record.get("seconds")
        line = f"  {record.get('case_id')}: {record.get('status')}"
        if isinstance(seconds, int | float):
            line += f" in {seconds:.1f} s"
        if record.get("status") != "ok":
            line += f": {record.get('reason')}"
        if self.bar.enabled:  # over the bar's line; the bar is drawn again below it
            line = "\r" + line + " " * max(0, 79 - len(line))
        _echo(line)

    def __enter__(self) -> _CaseProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def _echo(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of minutes")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least 1")
    return value
