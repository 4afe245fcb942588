"""The cohort manifest: which patients a batch run works on (CSV or JSON).

One case per CSV row (or JSON object).  Keys (CSV column names, case-insensitive):

========== =================================================================================
case_id    required: the case's name, also its folder name under ``OUT/cases/`` (letters,
           digits, ``.``, ``_``, ``-``; at most 64 characters; unique)
path       DICOM folders (or files) of the patient, ``;``-separated in CSV (``paths``: a
           list in JSON); relative paths are relative to the manifest's folder
server     a PACS server profile name (``interval pacs``) ...
study_uids ... and the Study Instance UIDs to fetch from it (``;``-separated or a list);
           a case gives either ``path`` or ``server`` + ``study_uids``
labels     label maps (NIfTI/NRRD/MHA/DICOM SEG), one per timepoint, oldest first: tracked
           as given, no model runs (optional)
tasks      this case's tasks, e.g. ``track,forecast`` (default: the run's ``--tasks``)
model      this case's segmentation model (default: the run's ``--model``)
patient    the Patient ID to track when the folders hold several patients
baseline   first study date to use, ``YYYY-MM-DD``
registration  ``rigid``, ``affine`` or ``deformable`` (default: the run's)
horizon    forecast this many days after the last visit (default: the next expected visit)
timeout_min  this case's time limit in minutes (default: the run's ``--case-timeout``)
notes      free text, ignored (also ``comment``)
========== =================================================================================

A JSON manifest is a list of such objects (or ``{"cases": [...]}``).  Every problem is an
:class:`ManifestError` naming the line of the CSV row or JSON object.  Paths are not
checked here: a case whose folder is missing fails alone, with its reason, at run time.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from interval.core.errors import IntervalError
from interval.core.uids import is_uid

TASKS = ("segment", "track", "forecast")
REGISTRATIONS = ("rigid", "affine", "deformable")
MAX_CASE_ID = 64
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
             *(f"lpt{i}" for i in range(10))}
_ALIASES = {"paths": "path", "study_uid": "study_uids", "comment": "notes"}
KEYS = ("case_id", "path", "server", "study_uids", "labels", "tasks", "model", "patient",
        "baseline", "registration", "horizon", "timeout_min", "notes")
_LIST_KEYS = ("path", "study_uids", "labels")


class ManifestError(IntervalError):
    """The manifest cannot be used as it is (the message names the line)."""


@dataclass(frozen=True)
class Case:
    """One patient of the cohort, as the manifest gives it (plain data only).

    ``kind`` is ``"folder"`` (``paths``, absolute) or ``"pacs"`` (``server`` and
    ``study_uids``); the optional fields are None where the run's settings apply.
    """

    case_id: str
    kind: str
    paths: tuple[str, ...] = ()
    server: str = ""
    study_uids: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    tasks: tuple[str, ...] | None = None
    model: str | None = None
    patient: str | None = None
    baseline: str | None = None
    registration: str | None = None
    horizon_days: float | None = None
    timeout_min: float | None = None
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (what travels to a worker)."""
        data = asdict(self)
        for key in ("paths", "study_uids", "labels"):
            data[key] = list(data[key])
        if data["tasks"] is not None:
            data["tasks"] = list(data["tasks"])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Case:
        """A case from :meth:`to_dict` output."""
        values = dict(data)
        for key in ("paths", "study_uids", "labels"):
            values[key] = tuple(values.get(key) or ())
        if values.get("tasks") is not None:
            values["tasks"] = tuple(values["tasks"])
        return cls(**values)


def read_manifest(path: str | Path) -> list[Case]:
    """The cases of the manifest at ``path`` (``.json``: JSON, anything else: CSV)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"the manifest {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"the manifest {path} cannot be read: {exc}") from None
    base = path.resolve().parent
    if path.suffix.lower() == ".json":
        rows = _json_rows(text, path.name)
    else:
        rows = _csv_rows(text, path.name)
    cases = [_case(row, line, base, path.name) for line, row in rows]
    if not cases:
        raise ManifestError(f"{path.name}: the manifest lists no case")
    _check_unique(cases, path.name)
    return cases


def parse_tasks(text: str | Iterable[str], where: str = "--tasks") -> tuple[str, ...]:
    """``"segment,track,forecast"`` (or a list) as a checked tuple in pipeline order."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [str(t).strip().lower() for t in items if str(t).strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        raise ManifestError(f"{where}: unknown task {unknown[0]!r}; use "
                            f"{', '.join(TASKS)} (comma-separated)")
    if not names:
        raise ManifestError(f"{where}: no task given; use {', '.join(TASKS)}")
    if "forecast" in names and "track" not in names:
        raise ManifestError(f"{where}: forecast needs track (the forecast is made from the "
                            "tracked lesions)")
    return tuple(t for t in TASKS if t in names)


def check_case_id(case_id: str) -> str | None:
    """Why ``case_id`` cannot be a folder name, or None when it can."""
    if not case_id:
        return "the case_id is empty"
    if len(case_id) > MAX_CASE_ID:
        return f"the case_id {case_id[:20]!r}... is longer than {MAX_CASE_ID} characters"
    if not _CASE_ID.match(case_id):
        return (f"the case_id {case_id!r} may hold only letters, digits, '.', '_' and '-', "
                "and must start with a letter or digit (it names the case's folder)")
    if case_id.split(".")[0].lower() in _RESERVED:
        return f"the case_id {case_id!r} is a reserved file name on Windows"
    if case_id.endswith("."):
        return f"the case_id {case_id!r} may not end with '.'"
    return None


# --- reading ---------------------------------------------------------------------------------


def _csv_rows(text: str, name: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ManifestError(f"{name}: the manifest is empty") from None
    except csv.Error as exc:
        raise ManifestError(f"{name}, line 1: {exc}") from None
    columns = [_key(c, name, 1) for c in header]
    if "case_id" not in columns:
        raise ManifestError(f"{name}, line 1: the header has no case_id column (columns: "
                            f"{', '.join(KEYS)})")
    rows = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue  # blank lines and comments
            if len(cells) > len(columns):
                raise ManifestError(f"{name}, line {line}: {len(cells)} values for "
                                    f"{len(columns)} columns (a comma inside a value needs "
                                    "quotes)")
            rows.append((line, {k: v for k, v in zip(columns, cells, strict=False)
                                if k and v.strip()}))
    except csv.Error as exc:
        raise ManifestError(f"{name}, line {reader.line_num}: {exc}") from None
    return rows


def _json_rows(text: str, name: str) -> list[tuple[int, dict[str, Any]]]:
    """Each case object with the line it starts on."""
    decoder = json.JSONDecoder()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{name}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(data, dict):
        if not isinstance(data.get("cases"), list):
            raise ManifestError(f"{name}: a JSON manifest is a list of cases or "
                                "{\"cases\": [...]}")
        start = text.index("[", _key_position(text, "cases"))
    elif isinstance(data, list):
        start = text.index("[")
    else:
        raise ManifestError(f"{name}: a JSON manifest is a list of cases or {{\"cases\": [...]}}")
    rows = []
    pos = start + 1
    while True:  # each element again, for the line it starts on
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        item, end = decoder.raw_decode(text, pos)
        line = text.count("\n", 0, pos) + 1
        if not isinstance(item, dict):
            raise ManifestError(f"{name}, line {line}: a case is an object like "
                                "{\"case_id\": ..., \"path\": ...}")
        row = {}
        for key, value in item.items():
            k = _key(str(key), name, line)
            if value is None or value == "" or value == []:
                continue
            row[k] = value
        rows.append((line, row))
        pos = end
    return rows


def _key_position(text: str, key: str) -> int:
    match = re.search(r'"' + re.escape(key) + r'"\s*:', text)
    return match.end() if match else 0


def _key(raw: str, name: str, line: int) -> str:
    key = raw.strip().lower().replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in KEYS:
        raise ManifestError(f"{name}, line {line}: unknown column {raw.strip()!r}; the "
                            f"columns are {', '.join(KEYS)}")
    return key


# --- checking --------------------------------------------------------------------------------


def _case(row: dict[str, Any], line: int, base: Path, name: str) -> Case:
    where = f"{name}, line {line}"
    case_id = _text(row.get("case_id"), where, "case_id")
    why = check_case_id(case_id)
    if why:
        raise ManifestError(f"{where}: {why}")
    where = f"{where} (case {case_id})"
    lists = {k: _list(row.get(k), where, k) for k in _LIST_KEYS}
    server = _text(row.get("server"), where, "server")
    paths = tuple(str(_absolute(p, base)) for p in lists["path"])
    if paths and (server or lists["study_uids"]):
        raise ManifestError(f"{where}: give either path or server + study_uids, not both")
    if not paths and not server:
        raise ManifestError(f"{where}: give the patient's folder (path) or a PACS server and "
                            "its study_uids")
    if server and not lists["study_uids"]:
        raise ManifestError(f"{where}: server {server!r} needs the study_uids to fetch")
    if lists["study_uids"] and not server:
        raise ManifestError(f"{where}: study_uids need the server to fetch them from")
    for uid in lists["study_uids"]:
        if not is_uid(uid):
            raise ManifestError(f"{where}: {uid!r} is not a Study Instance UID (digits and dots)")
    tasks = None
    if row.get("tasks") is not None:
        tasks = parse_tasks(_list(row["tasks"], where, "tasks", sep=","), f"{where}, tasks")
    labels = tuple(str(_absolute(p, base)) for p in lists["labels"])
    if labels and tasks == ("segment",):
        raise ManifestError(f"{where}: the case gives its label maps, so there is nothing to "
                            "segment; give tasks track (and forecast)")
    registration = _optional(row.get("registration"), where, "registration")
    if registration is not None:
        registration = registration.lower()
        if registration not in REGISTRATIONS:
            raise ManifestError(f"{where}: registration {registration!r} is not one of "
                                f"{', '.join(REGISTRATIONS)}")
    baseline = _optional(row.get("baseline"), where, "baseline")
    if baseline is not None:
        try:
            baseline = dt.date.fromisoformat(baseline).isoformat()
        except ValueError:
            raise ManifestError(f"{where}: baseline {baseline!r} is not a date like "
                                "2024-03-01") from None
    return Case(case_id=case_id, kind="folder" if paths else "pacs", paths=paths,
                server=server, study_uids=lists["study_uids"], labels=labels, tasks=tasks,
                model=_optional(row.get("model"), where, "model"),
                patient=_optional(row.get("patient"), where, "patient"),
                baseline=baseline, registration=registration,
                horizon_days=_horizon(row.get("horizon"), where),
                timeout_min=_timeout(row.get("timeout_min"), where), line=line)


def _text(value: Any, where: str, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ManifestError(f"{where}: {key} must be text")
    return str(value).strip()


def _optional(value: Any, where: str, key: str) -> str | None:
    text = _text(value, where, key)
    return text or None


def _list(value: Any, where: str, key: str, sep: str = ";") -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(sep) \
        if isinstance(value, str) else None
    if items is None or not all(isinstance(v, str) for v in items):
        raise ManifestError(f"{where}: {key} must be text ('{sep}'-separated) or a list of text")
    return tuple(v.strip() for v in items if v.strip())


def _absolute(text: str, base: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _horizon(value: Any, where: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        days = float(value)
    except (TypeError, ValueError):
        raise ManifestError(f"{where}: horizon {value!r} is not a number of days") from None
    from interval.longitudinal.forecast import MAX_HORIZON_DAYS

    if not math.isfinite(days) or days <= 0 or days > MAX_HORIZON_DAYS:
        raise ManifestError(f"{where}: horizon must be above 0 and at most "
                            f"{MAX_HORIZON_DAYS:.0f} days")
    return days


def _timeout(value: Any, where: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        minutes = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        minutes = math.nan
    if not math.isfinite(minutes) or minutes <= 0:
        raise ManifestError(f"{where}: timeout_min {value!r} is not a positive number of "
                            "minutes")
    return minutes


def _check_unique(cases: list[Case], name: str) -> None:
    seen: dict[str, Case] = {}
    for case in cases:
        key = case.case_id.lower()  # folders differ only by case on some file systems
        if key in seen:
            raise ManifestError(f"{name}, line {case.line}: case_id {case.case_id!r} is already "
                                f"used on line {seen[key].line}")
        seen[key] = case
