"""One case's results, written atomically: a staging folder renamed into place at the end.

A case works in ``OUT/cases/.<case_id>.staging-<token>/``; when it has finished (well or
not) its ``case.json`` is written there and the folder is renamed to
``OUT/cases/<case_id>/`` (an earlier result is first moved aside, then removed).  So
``cases/<case_id>/`` is always a whole result with its ``case.json``, and a case that was
interrupted (a killed worker, a power cut) leaves only a hidden staging folder, which the
next run removes.  A failed case's folder holds ``case.json`` (status ``failed`` and the
reason) and ``log.txt``, never half-written results.

``case.json`` (``"schema": 1``): ``case_id``, ``status`` (``ok`` | ``failed``),
``reason`` (words; empty when ok), ``fingerprint`` (:func:`interval.batch.settings.
fingerprint`), ``tasks``, ``started``/``finished`` (UTC, ISO), ``seconds``, ``timings``
(seconds per phase), ``worker``, ``interval_version``, ``outputs`` (relative paths),
``numbers`` (:mod:`interval.batch.case_numbers`), ``warnings``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from interval.batch.out_folder import BatchFolder
from interval.core.atomic import atomic_open

CASE_JSON = "case.json"
LOG_TXT = "log.txt"
SCHEMA = 1
STATUSES = ("ok", "failed")
_STAGING = ".staging-"
_OLD = ".old-"
_LEFTOVER = re.compile(r"^\.(?P<case_id>.+)\.(staging|old)-[0-9a-f]{12}$")


def new_staging(folder: BatchFolder, case_id: str) -> Path:
    """A new, empty staging folder for ``case_id``."""
    path = folder.cases / f".{case_id}{_STAGING}{uuid.uuid4().hex[:12]}"
    path.mkdir(parents=True)
    return path


def publish(folder: BatchFolder, case_id: str, staging: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``staging/case.json`` and rename ``staging`` to the case's
    folder (replacing an earlier result); returns the case's folder."""
    with atomic_open(staging / CASE_JSON, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1, sort_keys=True, allow_nan=False)
    final = folder.case_dir(case_id)
    old = None
    if final.exists():
        old = folder.cases / f".{case_id}{_OLD}{uuid.uuid4().hex[:12]}"
        os.replace(final, old)
    os.replace(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def discard(staging: Path | None) -> None:
    """Remove a staging folder and everything in it (nothing happens when it is gone)."""
    if staging is not None and staging.exists():
        shutil.rmtree(staging, ignore_errors=True)


def write_failed(folder: BatchFolder, record: dict[str, Any], log_text: str = "") -> Path:
    """Publish a failed case's folder: its ``case.json`` and ``log.txt`` only."""
    case_id = str(record["case_id"])
    staging = new_staging(folder, case_id)
    try:
        if log_text:
            with atomic_open(staging / LOG_TXT, "w", encoding="utf-8") as fh:
                fh.write(log_text)
        return publish(folder, case_id, staging, record)
    except BaseException:
        discard(staging)
        raise


def read_record(folder: BatchFolder, case_id: str) -> dict[str, Any] | None:
    """The finished case's ``case.json``, or None when there is none or it is not valid."""
    try:
        data = json.loads((folder.case_dir(case_id) / CASE_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (not isinstance(data, dict) or data.get("schema") != SCHEMA
            or data.get("case_id") != case_id or data.get("status") not in STATUSES):
        return None
    return data


def remove_leftovers(folder: BatchFolder, case_id: str | None = None) -> list[Path]:
    """Remove staging and set-aside folders of interrupted runs (of ``case_id``, or of
    every case); returns what was removed."""
    removed = []
    with contextlib.suppress(OSError):
        for path in folder.cases.iterdir():
            match = _LEFTOVER.match(path.name)
            if match and (case_id is None or match["case_id"] == case_id) and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed
