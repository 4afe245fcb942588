"""Reading lesion-measurement tables and splitting trajectories into train / validation / test.

The table format is the shared ``lesion_measurements.csv`` (TumorGrowth.jl's flat patient
data): one row per lesion and visit with at least ``Pt_hashID`` (the trajectory), ``T_days``
(day of the visit relative to treatment start) and ``Lesion_diam`` (longest diameter, mm).
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interval_growth_forecast.errors import MeasurementTableError

ID_COLUMN = "Pt_hashID"
DAY_COLUMN = "T_days"
DIAMETER_COLUMN = "Lesion_diam"
STUDY_COLUMN = "Study_Arm"
SPLIT_SALT = "interval-growth-split-v1:"
SPLIT_FRACTIONS = (0.6, 0.2)  # train, validation; the rest is test
MAX_ROWS = 2_000_000


@dataclass(frozen=True)
class Trajectory:
    """One lesion's visits, sorted by day (visits on the same day merged, see ``notes``)."""

    id: str
    days: np.ndarray  # float days, strictly increasing
    diameters: np.ndarray  # mm, >= 0
    study: str = ""
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.days)


def split_of(trajectory_id: str) -> str:
    """``"train"``, ``"val"`` or ``"test"``: fixed by a SHA-256 hash of the id (no randomness).

    u = first 8 bytes of sha256("interval-growth-split-v1:" + id) / 2**64;
    u < 0.6 -> train, u < 0.8 -> val, else test.
    """
    digest = hashlib.sha256((SPLIT_SALT + trajectory_id).encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < SPLIT_FRACTIONS[0]:
        return "train"
    if u < SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1]:
        return "val"
    return "test"


def split_trajectories(trajectories: Iterable[Trajectory]) -> dict[str, list[Trajectory]]:
    """The trajectories grouped by :func:`split_of` (keys train, val, test; order kept)."""
    out: dict[str, list[Trajectory]] = {"train": [], "val": [], "test": []}
    for t in trajectories:
        out[split_of(t.id)].append(t)
    return out


def _number(text: str, column: str, line: int, path: Path) -> float:
    try:
        value = float(text)
    except ValueError:
        raise MeasurementTableError(
            f"line {line}: {column} {text[:40]!r} is not a number", path=path) from None
    if not math.isfinite(value):
        raise MeasurementTableError(f"line {line}: {column} is not a finite number", path=path)
    return value


def read_measurements(path: str | Path) -> list[Trajectory]:
    """Read a measurement CSV into trajectories (file order of first appearance).

    Rows of one trajectory are sorted by day; visits of one trajectory on the same day are
    merged into one (mean diameter) and noted in ``Trajectory.notes``.  Raises
    :class:`MeasurementTableError` with the line number for a missing column, a
    non-numeric or negative value.
    """
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise MeasurementTableError(f"cannot read the table: {exc.strerror}", path=path) from None
    rows: dict[str, list[tuple[float, float]]] = {}
    studies: dict[str, str] = {}
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (ID_COLUMN, DAY_COLUMN, DIAMETER_COLUMN)
                   if c not in (reader.fieldnames or [])]
        if missing:
            raise MeasurementTableError(
                "the table has no column " + ", ".join(missing)
                + f" (needed: {ID_COLUMN}, {DAY_COLUMN}, {DIAMETER_COLUMN})", path=path)
        for line, row in enumerate(reader, start=2):
            if line > MAX_ROWS:
                raise MeasurementTableError(f"more than {MAX_ROWS} rows", path=path)
            tid = (row.get(ID_COLUMN) or "").strip()
            if not tid:
                raise MeasurementTableError(f"line {line}: empty {ID_COLUMN}", path=path)
            day = _number(row.get(DAY_COLUMN) or "", DAY_COLUMN, line, path)
            diam = _number(row.get(DIAMETER_COLUMN) or "", DIAMETER_COLUMN, line, path)
            if diam < 0:
                raise MeasurementTableError(f"line {line}: negative diameter", path=path)
            rows.setdefault(tid, []).append((day, diam))
            studies.setdefault(tid, (row.get(STUDY_COLUMN) or "").strip())
    if not rows:
        raise MeasurementTableError("the table holds no measurements", path=path)
    return [_trajectory(tid, visits, studies[tid]) for tid, visits in rows.items()]


def _trajectory(tid: str, visits: list[tuple[float, float]], study: str) -> Trajectory:
    notes: list[str] = []
    if any(b[0] < a[0] for a, b in zip(visits, visits[1:], strict=False)):
        notes.append("rows were not in day order (sorted)")
    by_day: dict[float, list[float]] = {}
    for day, diam in sorted(visits, key=lambda v: v[0]):
        by_day.setdefault(day, []).append(diam)
    if any(len(v) > 1 for v in by_day.values()):
        notes.append("visits on the same day were merged (mean diameter)")
    days = np.array(sorted(by_day), dtype=float)
    diams = np.array([float(np.mean(by_day[d])) for d in sorted(by_day)], dtype=float)
    return Trajectory(tid, days, diams, study, tuple(notes))
