"""The run's settings (the command's options) and what they make of each case.

:class:`BatchSettings` holds what applies to every case unless the manifest's row says
otherwise; :func:`case_work` merges the two into the plain dict a worker gets, and
:func:`fingerprint` names that work, so that a rerun skips a finished case only when it
would do the same work again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from interval.batch.manifest import TASKS, Case

DEFAULT_MODEL = "phantom-unet"
DEFAULT_TASKS = TASKS


@dataclass(frozen=True)
class BatchSettings:
    """Options of ``interval batch`` that every case shares (plain data only).

    ``threads``: CPU threads of each case's model process (None: the worker's own
    number of threads, see :mod:`interval.batch.worker_setup`); ``plugin_dirs``: extra
    plugin folders (``--plugins-dir``) the workers search too; ``pacs_cache``: where
    PACS studies are fetched to (None: ``OUT/pacs_cache``); ``reports``: also HTML, PDF,
    DICOM SEG and SR per case (False: ``report.json`` and CSVs only);
    ``case_timeout_min``: each case's time limit in minutes (``--case-timeout``; None: no
    limit), see :mod:`interval.batch.case_deadline`.
    """

    tasks: tuple[str, ...] = DEFAULT_TASKS
    model: str = DEFAULT_MODEL
    device: str = "auto"
    registration: str = "affine"
    horizon_days: float | None = None
    threads: int | None = None
    memory_limit_bytes: int | None = None
    plugin_dirs: tuple[str, ...] = ()
    pacs_cache: str | None = None
    reports: bool = True
    retry_failed: bool = False
    case_timeout_min: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        data = asdict(self)
        data["tasks"] = list(self.tasks)
        data["plugin_dirs"] = list(self.plugin_dirs)
        return data


def case_work(case: Case, settings: BatchSettings) -> dict[str, Any]:
    """What the worker does for ``case``: the manifest's values over the run's (plain data).

    A case that gives its label maps is tracked with them: no model runs, and its tasks
    lose ``segment``.
    """
    tasks = tuple(case.tasks if case.tasks is not None else settings.tasks)
    if case.labels:
        tasks = tuple(t for t in tasks if t != "segment")
    needs_model = "segment" in tasks or ("track" in tasks and not case.labels)
    return {
        "case": case.to_dict(),
        "tasks": list(tasks),
        "model": (case.model or settings.model) if needs_model else None,
        "device": settings.device,
        "registration": case.registration or settings.registration,
        "horizon_days": case.horizon_days if case.horizon_days is not None
        else settings.horizon_days,
        "reports": settings.reports,
        "threads": settings.threads,
        "memory_limit_bytes": settings.memory_limit_bytes,
        "plugin_dirs": list(settings.plugin_dirs),
        "pacs_cache": settings.pacs_cache,
        "timeout_min": case.timeout_min if case.timeout_min is not None
        else settings.case_timeout_min,
    }


def fingerprint(work: dict[str, Any]) -> str:
    """A short hash of what a case's results depend on (inputs, tasks, model, options);
    not the device, threads, memory limit or time limit, which change the speed or whether
    a case finishes, never its result (a case stopped by its limit is a failed one:
    ``--retry-failed`` runs it again)."""
    case = dict(work["case"])
    case.pop("line", None)
    case.pop("timeout_min", None)
    relevant = {"case": case, **{k: work.get(k) for k in
                                 ("tasks", "model", "registration", "horizon_days", "reports")}}
    text = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
