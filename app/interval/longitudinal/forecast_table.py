"""Read lesion measurements from a CSV table for ``interval forecast`` (no images needed).

Two layouts are recognised by their header (other columns are ignored):

* the shared trial format (``lesion_measurements.csv`` of the tumour-growth data):
  ``Pt_hashID`` (one lesion trajectory), ``T_days`` (day of the visit relative to the
  start of treatment, may be negative), ``Lesion_diam`` (longest diameter, mm);
* Interval's ``lesions.csv`` (written by ``interval track``): ``lesion_id``, ``days`` (from
  the baseline), ``recist_diameter_mm``; also read when present: ``role`` (excluded
  lesions are left out), ``organ``, ``lymph_node``, ``volume_ml``, ``mean_intensity``.

A blank diameter (a lesion absent or merged at that visit) leaves the row out. Anything
else that is not a number where one is needed, a negative or non-finite value, a file that
is not UTF-8 CSV, or a table too large, is a :class:`MeasurementTableError` naming the line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interval.core.errors import IntervalError

MAX_BYTES = 100 * 1024 * 1024
MAX_ROWS = 1_000_000
SHARED_COLUMNS = ("Pt_hashID", "T_days", "Lesion_diam")
LESIONS_COLUMNS = ("lesion_id", "days", "recist_diameter_mm")
_DAY0 = dt.date(2000, 1, 1)  # the date given to day 0 (the analyzer reads ``day``)


class MeasurementTableError(IntervalError):
    """The measurement table cannot be used; the message says why (and where)."""


@dataclass(frozen=True)
class Observation:
    """One measurement of one lesion at one visit."""

    lesion_id: str
    day: float
    diameter_mm: float
    volume_ml: float | None = None
    organ: str = ""
    is_lymph_node: bool = False
    mean_intensity: float | None = None


@dataclass
class MeasurementTable:
    """What was read: the layout, the observations (file order), rows left out."""

    layout: str  # "shared" or "lesions.csv"
    observations: list[Observation] = field(default_factory=list)
    skipped_blank: int = 0  # rows without a diameter
    skipped_excluded: int = 0  # lesions.csv rows of excluded lesions

    def lesion_ids(self) -> list[str]:
        """The lesions in order of first appearance."""
        return list(dict.fromkeys(o.lesion_id for o in self.observations))

    def visits(self, lesion_id: str) -> int:
        return sum(1 for o in self.observations if o.lesion_id == lesion_id)


def read_measurement_table(path: str | Path) -> MeasurementTable:
    """Read and check a measurement CSV (see the module docstring)."""
    source = Path(path)
    try:
        if not source.is_file():
            raise MeasurementTableError("no such file (or not a regular file)", path=source)
        if source.stat().st_size > MAX_BYTES:
            raise MeasurementTableError(
                f"the table is larger than {MAX_BYTES // (1024 * 1024)} MB", path=source)
        raw = source.read_bytes()
    except OSError as exc:
        raise MeasurementTableError(f"the table cannot be read ({exc.strerror or exc})",
                                    path=source) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MeasurementTableError(f"the table is not UTF-8 text (byte {exc.start + 1})",
                                    path=source) from None
    if "\x00" in text:
        raise MeasurementTableError("the table holds NUL bytes: it is not a CSV file",
                                    path=source)
    return parse_measurement_table(text, source)


def parse_measurement_table(text: str, source: Path | None = None) -> MeasurementTable:
    """Parse the CSV ``text`` (``source`` only names the file in messages)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise MeasurementTableError(f"line 1 is not valid CSV ({exc})", path=source) from None
    if not header or not any(h.strip() for h in header):
        raise MeasurementTableError("the table is empty (no header row)", path=source)
    names = [h.strip() for h in header]
    if all(c in names for c in SHARED_COLUMNS):
        layout, columns = "shared", SHARED_COLUMNS
    elif all(c in names for c in LESIONS_COLUMNS):
        layout, columns = "lesions.csv", LESIONS_COLUMNS
    else:
        raise MeasurementTableError(
            "the header matches no known layout: expected the columns "
            f"{', '.join(SHARED_COLUMNS)} (trial measurement format) or "
            f"{', '.join(LESIONS_COLUMNS)} (Interval's lesions.csv); found "
            + ", ".join(repr(n[:40]) for n in names[:12]), path=source)
    index = {n: i for i, n in reversed(list(enumerate(names)))}
    table = MeasurementTable(layout)
    id_col, day_col, diam_col = (index[c] for c in columns)
    try:
        for line_no, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(table.observations) >= MAX_ROWS:
                raise MeasurementTableError(f"the table has more than {MAX_ROWS} rows",
                                            path=source)
            _read_row(table, row, line_no, index, id_col, day_col, diam_col, source)
    except csv.Error as exc:
        raise MeasurementTableError(f"line {reader.line_num} is not valid CSV ({exc})",
                                    path=source) from None
    if not table.observations:
        raise MeasurementTableError("the table holds no measurement (no row with a "
                                    "diameter)", path=source)
    return table


def _read_row(table: MeasurementTable, row: list[str], line_no: int, index: dict[str, int],
              id_col: int, day_col: int, diam_col: int, source: Path | None) -> None:
    def cell(i: int | None) -> str:
        return row[i].strip() if i is not None and i < len(row) else ""

    lesion = cell(id_col)
    if not lesion:
        raise MeasurementTableError(f"line {line_no}: the lesion id is empty", path=source)
    if len(lesion) > 200:
        raise MeasurementTableError(f"line {line_no}: the lesion id is longer than 200 "
                                    "characters", path=source)
    if table.layout == "lesions.csv" and cell(index.get("role")) == "excluded":
        table.skipped_excluded += 1
        return
    diameter_text = cell(diam_col)
    if not diameter_text:
        table.skipped_blank += 1
        return
    day_text = cell(day_col)
    if not day_text:
        raise MeasurementTableError(f"line {line_no}: the day of lesion {lesion[:40]!r} is "
                                    "empty", path=source)
    day = _number(day_text, line_no, "day", source)
    diameter = _number(diameter_text, line_no, "diameter", source)
    if diameter < 0:
        raise MeasurementTableError(f"line {line_no}: the diameter {diameter_text!r} is "
                                    "negative", path=source)
    volume = intensity = None
    organ, lymph = "", False
    if table.layout == "lesions.csv":
        volume = _optional(cell(index.get("volume_ml")), line_no, "volume_ml", source)
        intensity = _optional(cell(index.get("mean_intensity")), line_no, "mean_intensity",
                              source)
        organ = cell(index.get("organ"))[:100]
        lymph = cell(index.get("lymph_node")).lower() in ("yes", "true", "1")
    table.observations.append(Observation(lesion, day, diameter, volume, organ, lymph,
                                          intensity))


def _number(text: str, line_no: int, what: str, source: Path | None) -> float:
    try:
        value = float(text.lstrip("'"))  # lesions.csv escapes a leading "-" of text only
    except ValueError:
        raise MeasurementTableError(f"line {line_no}: the {what} {text[:40]!r} is not a "
                                    "number", path=source) from None
    if not math.isfinite(value) or abs(value) > 1e6:
        raise MeasurementTableError(f"line {line_no}: the {what} {text[:40]!r} is not a "
                                    "usable number", path=source)
    return value


def _optional(text: str, line_no: int, what: str, source: Path | None) -> float | None:
    return _number(text, line_no, what, source) if text else None


def table_timepoints(table: MeasurementTable) -> list[Any]:
    """Plugin-API timepoints, one per distinct day (oldest first), holding every lesion
    observed that day; no images (``volume`` None), ``day`` set."""
    from interval.plugins.api import LesionObservation, Timepoint  # noqa: PLC0415

    by_day: dict[float, list[Observation]] = {}
    for o in table.observations:
        by_day.setdefault(o.day, []).append(o)
    out = []
    for day in sorted(by_day):
        lesions = tuple(LesionObservation(o.lesion_id, o.diameter_mm, volume_ml=o.volume_ml,
                                          organ=o.organ, is_lymph_node=o.is_lymph_node,
                                          mean_intensity=o.mean_intensity)
                        for o in by_day[day])
        date = _DAY0 + dt.timedelta(days=math.floor(day))
        out.append(Timepoint(date=date, volume=None, label=f"day {day:g}", lesions=lesions,
                             day=float(day)))
    return out
