"""Run ONE case in isolation, inside a Dask worker (or any process): never raises.

:func:`run_case` is the task every worker runs.  It takes and returns plain data only
(dicts of text, numbers and lists: nothing else crosses the process boundary), works in
the case's staging folder and publishes it atomically (:mod:`interval.batch.case_folder`).
Whatever goes wrong (unreadable or missing data, a model that crashes or runs out of
memory, a ``MemoryError`` here, any other exception) becomes a *failed* record with the
reason in words, saved as the case's ``case.json`` (its ``log.txt`` holds the messages
and, for an unexpected error, the traceback); the other cases go on.  A cancelled run
(the run's cancel flag, :class:`~interval.batch.out_folder.BatchFolder`) gives a
``cancelled`` record and leaves nothing behind: the case runs again next time.  A case
past its time limit (``work["timeout_min"]``, :mod:`interval.batch.case_deadline`) stops
the same way at its next step, but is recorded as failed ("stopped after its time limit of
N min (at <phase>)"): like any failed case, a rerun runs it again with ``--retry-failed``.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import socket
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from interval.batch.case_deadline import CaseDeadline
from interval.batch.case_folder import (
    LOG_TXT,
    SCHEMA,
    discard,
    new_staging,
    publish,
    write_failed,
)
from interval.batch.out_folder import PACS_CACHE_DIR, BatchFolder
from interval.batch.settings import fingerprint
from interval.core.atomic import atomic_open
from interval.core.errors import Cancelled, IntervalError

CANCEL_POLL_S = 0.5
_MAX_REASON = 1000


def run_case(work: dict[str, Any], out: str) -> dict[str, Any]:
    """Run one case (:func:`interval.batch.settings.case_work`) into ``out``; its record.

    The record is ``case.json``'s content (:mod:`interval.batch.case_folder`), with
    ``status`` ``ok``, ``failed`` or ``cancelled`` (not saved).
    """
    t_start = time.perf_counter()
    folder = BatchFolder(out)
    case = work["case"]
    lines: list[str] = []
    record: dict[str, Any] = {
        "schema": SCHEMA, "case_id": case["case_id"], "kind": case.get("kind", "folder"),
        "fingerprint": fingerprint(work), "tasks": list(work["tasks"]),
        "model": work.get("model"), "started": _now(), "worker": _worker_name(),
        "interval_version": _version(), "status": "failed", "reason": "",
        "outputs": {}, "numbers": {}, "timings": {}, "warnings": [],
    }
    deadline = CaseDeadline(work.get("timeout_min"))
    cancel = cancel_checker(folder, deadline)
    staging = None
    try:
        if cancel():
            raise Cancelled()
        _prepare_process(work)
        staging = new_staging(folder, case["case_id"])
        paths = _inputs(work, folder, record, lines.append, cancel, deadline.set_phase)
        from interval.batch.case_work import do_case

        result = do_case(work, paths, staging, echo=lines.append, cancel=cancel,
                         phase=deadline.set_phase)
        if deadline.hit:  # a step that saw the limit returned instead of raising
            raise Cancelled()
        record.update(status="ok", outputs=result.outputs, numbers=result.numbers,
                      warnings=result.warnings,
                      timings={**record["timings"], **result.timings})
        _finish(record, t_start)
        _write_log(staging / LOG_TXT, lines)
        publish(folder, case["case_id"], staging, plain(record))
        staging = None
    except Exception as exc:  # noqa: BLE001 - every failure is this case's alone
        run_cancel = isinstance(exc, Cancelled) and not deadline.hit
        if run_cancel or (deadline.hit and _run_cancelled(folder)):
            record.update(status="cancelled", reason="cancelled")
            _finish(record, t_start)
            return plain(record)  # the finally removes the staging folder
        if deadline.hit:  # whatever error stopping it gave is the limit's doing
            record.update(status="failed", reason=deadline.reason())
            if not isinstance(exc, Cancelled):
                lines.append(f"while stopping: {failure_reason(exc)}")
        else:
            record.update(status="failed", reason=failure_reason(exc))
            if not isinstance(exc, IntervalError):
                lines.extend(traceback.format_exception(exc))
        _finish(record, t_start)
        lines.append(f"failed: {record['reason']}")
        discard(staging)
        staging = None
        try:
            write_failed(folder, plain(record), "\n".join(lines) + "\n")
        except OSError as write_error:
            record["reason"] += f" (and its record could not be saved: {write_error})"
    finally:
        discard(staging)
        gc.collect()
    return plain(record)


def failure_reason(exc: BaseException) -> str:
    """A failure in words: Interval's own sentence, or the exception's type and message."""
    if isinstance(exc, MemoryError):
        text = "not enough memory for this case (out of memory in the worker)"
    elif isinstance(exc, IntervalError):
        text = f"{exc.path}: {exc.message}" if exc.path is not None else str(exc)
        hint = getattr(exc, "hint", None)
        if hint:
            text += f" (hint: {hint})"
    else:
        text = f"unexpected error: {type(exc).__name__}: {exc}"
    return text[:_MAX_REASON]


def cancel_checker(folder: BatchFolder,
                   deadline: CaseDeadline | None = None) -> Callable[[], bool]:
    """``cancel()``: True once the run's cancel flag exists (looked at twice a second), or
    once ``deadline`` has passed."""
    state = {"at": -1e9, "set": False}

    def cancel() -> bool:
        if not state["set"]:
            now = time.monotonic()
            if now - state["at"] >= CANCEL_POLL_S:
                state["at"] = now
                state["set"] = folder.cancel_flag.exists()
        if state["set"]:
            return True
        return deadline is not None and deadline.passed()

    return cancel


def _run_cancelled(folder: BatchFolder) -> bool:
    """Whether the whole run was cancelled (a case stopped then runs again next time, even
    one past its limit)."""
    try:
        return folder.cancel_flag.exists()
    except OSError:
        return False


def plain(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as plain JSON data (a copy: text, numbers, lists, dicts only)."""
    return json.loads(json.dumps(record, default=str))


def _prepare_process(work: dict[str, Any]) -> None:
    from interval.batch.worker_setup import (
        allow_child_processes,
        child_processes_allowed,
        set_threads,
    )
    from interval.plugins.discovery import set_session_plugin_dirs

    allow_child_processes()
    if not child_processes_allowed():
        raise IntervalError("this worker may not start the model's process (a daemonic "
                            "process); start the Dask workers with --preload "
                            "interval.batch.worker_setup")
    if work.get("threads"):
        set_threads(int(work["threads"]))
    set_session_plugin_dirs(work.get("plugin_dirs") or [])


def _inputs(work: dict[str, Any], folder: BatchFolder, record: dict[str, Any],
            echo: Callable[[str], None], cancel: Callable[[], bool],
            phase: Callable[[str], None]) -> list[Path]:
    """The case's folders: as given, or fetched from its PACS into the cache."""
    case = work["case"]
    if case.get("kind") != "pacs":
        return [Path(p) for p in case.get("paths") or []]
    from interval.batch.pacs_fetch import fetch_studies

    phase("fetching the studies from the PACS")
    t0 = time.perf_counter()
    cache = work.get("pacs_cache") or str(folder.root / PACS_CACHE_DIR)
    echo(f"Fetching {len(case['study_uids'])} study(ies) from {case['server']}")
    paths = fetch_studies(case["server"], case["study_uids"], cache, cancel=cancel)
    record["timings"]["fetch"] = time.perf_counter() - t0
    return paths


def _finish(record: dict[str, Any], t_start: float) -> None:
    record["finished"] = _now()
    record["seconds"] = round(time.perf_counter() - t_start, 3)


def _write_log(path: Path, lines: list[str]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _version() -> str:
    import interval

    return str(interval.__version__)
