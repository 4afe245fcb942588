"""Run a cohort's cases on a Dask cluster: skip finished ones, follow progress, cancel.

:func:`run_cases` submits every case that has not finished yet (one task each:
:func:`interval.batch.case_runner.run_case`), collects the records as the cases finish
(calling ``on_record`` and ``on_progress`` with the counts done / failed / remaining) and
returns every case's record in manifest order.  A case is *finished* when its folder holds a
valid ``case.json`` made from the same work (:func:`interval.batch.settings.fingerprint`):
status ``ok``, or ``failed`` unless ``retry_failed``.  A task that Dask itself loses (its
worker died: out of memory, killed) is recorded as failed here, with that reason.

``cancel()`` returning True (Ctrl-C) sets the run's cancel flag: queued cases end at once,
running ones at their next step, within ``grace_s``; what has not ended by then is
cancelled in Dask.  Cancelled cases are not recorded and run again next time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from interval.batch.case_folder import SCHEMA, read_record, remove_leftovers, write_failed
from interval.batch.case_runner import plain
from interval.batch.manifest import Case
from interval.batch.out_folder import BatchFolder
from interval.batch.settings import BatchSettings, case_work, fingerprint
from interval.batch.worker_setup import RESOURCE

POLL_S = 0.2
CANCEL_GRACE_S = 20.0


@dataclass(frozen=True)
class Progress:
    """Counts of this run: cases finished well, failed, still to do, skipped as done."""

    done: int
    failed: int
    remaining: int
    skipped: int = 0


@dataclass
class BatchOutcome:
    """Every case's record in manifest order (``status`` ``ok``, ``failed`` or
    ``not run``), which were skipped as finished, and whether the run was cancelled."""

    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r.get("status") == status)


@dataclass
class RunPlan:
    """The cases, what each one does, and which of them an earlier run finished."""

    cases: list[Case]
    works: dict[str, dict[str, Any]]
    earlier: dict[str, dict[str, Any]]

    @property
    def todo(self) -> list[Case]:
        """The cases this run works on, in manifest order."""
        return [c for c in self.cases if c.case_id not in self.earlier]


def plan_run(cases: Sequence[Case], folder: BatchFolder, settings: BatchSettings) -> RunPlan:
    """Which cases to run: those without a finished record of the same work in ``folder``
    (a failed one counts as finished unless ``settings.retry_failed``)."""
    works = {c.case_id: case_work(c, settings) for c in cases}
    earlier = {}
    for case in cases:
        record = _finished(folder, case.case_id, works[case.case_id], settings.retry_failed)
        if record is not None:
            earlier[case.case_id] = record
    return RunPlan(list(cases), works, earlier)


def run_cases(
    plan: RunPlan,
    folder: BatchFolder,
    cluster: Any,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    grace_s: float = CANCEL_GRACE_S,
) -> BatchOutcome:
    """Run ``plan.todo`` on ``cluster`` (a :class:`~interval.batch.cluster.BatchCluster`;
    None when there is nothing to do) into ``folder`` (prepared and locked by the
    caller)."""
    t0 = time.perf_counter()
    folder.clear_cancel()
    remove_leftovers(folder)
    works = plan.works
    records: dict[str, dict[str, Any]] = dict(plan.earlier)
    outcome = BatchOutcome(skipped=list(plan.earlier))
    todo = plan.todo
    counts = {"ok": 0, "failed": 0}
    report = _progress_reporter(on_progress, counts, len(todo), len(outcome.skipped))
    report()
    futures = _submit(cluster, todo, works, folder) if todo else {}
    pending = dict(futures)  # future -> case_id
    try:
        while pending:
            if cancel is not None and cancel():
                outcome.cancelled = True
                _cancel(cluster, folder, pending, records, counts, on_record, grace_s)
                break
            for future in _finished_futures(cluster, pending):
                case_id = pending.pop(future)
                record = _collect(future, case_id, works[case_id], folder)
                if record.get("status") == "cancelled":
                    continue
                records[case_id] = record
                counts["ok" if record["status"] == "ok" else "failed"] += 1
                if on_record is not None:
                    on_record(record)
                report()
    finally:
        if pending:  # an error here (or Ctrl-C twice): nothing may keep running for us
            cluster.client.cancel(list(pending), force=True)
    outcome.records = [records.get(c.case_id) or _not_run(c, works[c.case_id])
                       for c in plan.cases]
    outcome.seconds = time.perf_counter() - t0
    return outcome


def _finished(folder: BatchFolder, case_id: str, work: dict[str, Any],
              retry_failed: bool) -> dict[str, Any] | None:
    record = read_record(folder, case_id)
    if record is None or record.get("fingerprint") != fingerprint(work):
        return None
    if record["status"] == "failed" and retry_failed:
        return None
    return record


def _submit(cluster: Any, cases: Sequence[Case], works: dict[str, dict[str, Any]],
            folder: BatchFolder) -> dict[Any, str]:
    from interval.batch.case_runner import run_case

    extra: dict[str, Any] = {"resources": {RESOURCE: 1}} if cluster.restrict else {}
    token = uuid.uuid4().hex[:8]
    futures = {}
    for i, case in enumerate(cases):
        future = cluster.client.submit(
            run_case, works[case.case_id], str(folder.root), key=f"case-{case.case_id}-{token}",
            pure=False, priority=-i, retries=0, **extra)
        futures[future] = case.case_id
    return futures


def _finished_futures(cluster: Any, pending: dict[Any, str]) -> list[Any]:
    """The pending futures that have finished (waits ``POLL_S`` when none has)."""
    done = [f for f in pending if f.done()]
    if not done:
        time.sleep(POLL_S)
    return done


def _collect(future: Any, case_id: str, work: dict[str, Any],
             folder: BatchFolder) -> dict[str, Any]:
    """The case's record, or a failed one (saved here) when Dask lost the task."""
    if future.status == "finished":
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - e.g. the result could not be read
            return _lost(case_id, work, folder, f"its result could not be read ({exc})")
        if isinstance(result, dict) and result.get("case_id") == case_id:
            return result
        return _lost(case_id, work, folder, "its worker returned no record")
    if future.status == "cancelled":
        return {"case_id": case_id, "status": "cancelled"}
    if future.status != "error":  # "lost": the scheduler forgot it
        return _lost(case_id, work, folder, f"Dask lost the case's task ({future.status})")
    return _lost(case_id, work, folder, _dask_reason(future.exception()))


def _dask_reason(exc: BaseException | None) -> str:
    name = type(exc).__name__ if exc is not None else "?"
    if name == "KilledWorker":
        return ("the worker process running this case died (out of memory, or killed); the "
                "case was tried on another worker too")
    if isinstance(exc, ModuleNotFoundError):
        return (f"the worker cannot import {exc.name!r}: install Interval on every worker "
                "(the same version)")
    return f"the case could not be run by Dask: {name}: {exc}"


def _lost(case_id: str, work: dict[str, Any], folder: BatchFolder, reason: str) -> dict[str, Any]:
    record = plain({
        "schema": SCHEMA, "case_id": case_id, "kind": work["case"].get("kind", "folder"),
        "fingerprint": fingerprint(work), "tasks": list(work["tasks"]),
        "model": work.get("model"), "status": "failed", "reason": reason, "outputs": {},
        "numbers": {}, "timings": {}, "warnings": [], "seconds": None,
    })
    remove_leftovers(folder, case_id)
    try:
        write_failed(folder, record)
    except OSError as exc:
        record["reason"] += f" (and its record could not be saved: {exc})"
    return record


def _cancel(cluster: Any, folder: BatchFolder, pending: dict[Any, str],
            records: dict[str, dict[str, Any]], counts: dict[str, int],
            on_record: Callable[[dict[str, Any]], None] | None, grace_s: float) -> None:
    """Stop the cases: the flag first (queued cases end at once, running ones at their next
    step), then whatever Dask still runs after ``grace_s``."""
    folder.request_cancel()
    deadline = time.monotonic() + grace_s
    while pending and time.monotonic() < deadline:
        for future in _finished_futures(cluster, pending):
            case_id = pending.pop(future)
            if future.status != "finished":
                continue
            try:
                record = future.result()
            except Exception:  # noqa: BLE001 - a cancelled run records no failure
                continue
            if isinstance(record, dict) and record.get("status") in ("ok", "failed"):
                records[case_id] = record  # it finished before it saw the flag
                counts["ok" if record["status"] == "ok" else "failed"] += 1
                if on_record is not None:
                    on_record(record)
    if pending:
        cluster.client.cancel(list(pending), force=True)
        pending.clear()


def _not_run(case: Case, work: dict[str, Any]) -> dict[str, Any]:
    return {"schema": SCHEMA, "case_id": case.case_id, "kind": case.kind,
            "tasks": list(work["tasks"]), "model": work.get("model"), "status": "not run",
            "reason": "the run was cancelled before this case finished", "outputs": {},
            "numbers": {}, "timings": {}, "warnings": [], "seconds": None}


def _progress_reporter(on_progress: Callable[[Progress], None] | None, counts: dict[str, int],
                       total: int, skipped: int) -> Callable[[], None]:
    def report() -> None:
        if on_progress is not None:
            finished = counts["ok"] + counts["failed"]
            on_progress(Progress(counts["ok"], counts["failed"], total - finished, skipped))

    return report
