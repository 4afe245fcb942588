"""``workspace.json``: what the longitudinal workspace keeps beside ``report.json``.

``report.json`` holds the tracks *after* the reader's corrections, and the corrections
cannot be undone from them (an unlink cannot be reversed by looking at its result).  To
re-derive the tracks after every action by re-applying the whole correction list to the
*automatic* matching, the workspace keeps that matching here, written atomically on the
first open of an output folder::

    {"schema": 1, "kind": "interval.longitudinal-workspace",
     "report_fingerprint": "<sha256 of the report's automatic inputs>",
     "auto_tracks": [...], "auto_events": [...], "auto_measurements": [...],
     "baked_corrections": 0,
     "session": {...}}

``auto_*`` are the matcher's tracks and events before any correction and the measurements
before any ``axis`` correction (same fields as in ``report.json``).  ``baked_corrections``
counts the first sidecar operations already contained in ``auto_tracks`` (non-zero only
when the automatic matching could not be recovered for a report made with corrections:
those cannot be undone in the workspace).  ``report_fingerprint`` ties the file to the
report's timeline, registrations and lesion regions (not their axes, which the reader
may redraw): when the pipeline is run again on other data, the file is stale and rebuilt.
``session`` is the viewer's own state (timeline choice, layout): plain JSON values.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interval.core.atomic import atomic_open
from interval.core.errors import IntervalError
from interval.longitudinal.model import (
    LesionMeasurement,
    LongitudinalReport,
    MatchEvent,
    Track,
    _build,
    _plain,
)

WORKSPACE_JSON = "workspace.json"
KIND = "interval.longitudinal-workspace"
SCHEMA_VERSION = 1


class WorkspaceError(IntervalError):
    """The longitudinal workspace cannot be opened or saved (folder, report, files)."""


@dataclass
class WorkspaceState:
    """The content of ``workspace.json``."""

    report_fingerprint: str
    auto_tracks: list[Track]
    auto_events: list[MatchEvent]
    auto_measurements: list[LesionMeasurement]
    baked_corrections: int = 0
    session: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "kind": KIND,
                "report_fingerprint": self.report_fingerprint,
                "auto_tracks": _plain(self.auto_tracks),
                "auto_events": _plain(self.auto_events),
                "auto_measurements": _plain(self.auto_measurements),
                "baked_corrections": self.baked_corrections,
                "session": self.session}


def report_fingerprint(report: LongitudinalReport) -> str:
    """sha256 of what the automatic matching depends on: timeline, registrations and the
    lesion regions (ids, sizes, centroids; not the axes)."""
    regions = [(m.timepoint, m.component, m.voxel_count, m.volume_ml, m.centroid_lps,
                m.centroid_baseline_lps) for m in report.measurements]
    text = json.dumps([_plain(report.timeline), _plain(report.registrations), _plain(regions)],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_state(path: str | Path, state: WorkspaceState) -> Path:
    """Write ``workspace.json`` atomically."""
    target = Path(path)
    try:
        text = json.dumps(state.to_dict(), indent=1, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise WorkspaceError(f"the workspace state is not plain data ({exc})",
                             path=target) from None
    try:
        with atomic_open(target, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text + "\n")
    except OSError as exc:
        raise WorkspaceError(f"could not save the workspace ({exc.strerror or exc})",
                             path=target) from None
    return target


def load_state(path: str | Path) -> WorkspaceState | None:
    """Read ``workspace.json``; None when absent.  Raises :class:`WorkspaceError` when it is
    damaged or not this kind of file (the caller may rebuild it)."""
    source = Path(path)
    if not source.exists():
        return None
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorkspaceError(f"the workspace file cannot be read ({type(exc).__name__})",
                             path=source) from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise WorkspaceError("this is not an Interval workspace file", path=source)
    schema = data.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema > SCHEMA_VERSION:
        raise WorkspaceError(f"the workspace file has schema {schema!r}; this Interval reads "
                             f"{SCHEMA_VERSION}", path=source)
    try:
        session = data.get("session") or {}
        if not isinstance(session, dict):
            raise TypeError("session is not an object")
        return WorkspaceState(
            report_fingerprint=str(data["report_fingerprint"]),
            auto_tracks=[_build(Track, t) for t in data["auto_tracks"]],
            auto_events=[_build(MatchEvent, e) for e in data["auto_events"]],
            auto_measurements=[_build(LesionMeasurement, m) for m in data["auto_measurements"]],
            baked_corrections=int(data.get("baked_corrections", 0)),
            session=session,
        )
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise WorkspaceError(f"the workspace file is damaged ({type(exc).__name__})",
                             path=source) from None
