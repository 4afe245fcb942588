"""The reader's corrections to lesion tracking: a small versioned JSON sidecar.

The sidecar (``corrections.json`` in the output folder, written atomically)
holds an ordered list of operations::

    {"schema": 1, "kind": "interval.lesion-corrections",
     "corrections": [
        {"op": "link", "anchors": [{"timepoint": 0, "point_lps": [x, y, z], "lesion_id": "L2"},
                                   {"timepoint": 2, "point_lps": [x, y, z], "lesion_id": "L7"}],
         "value": "", "created": "2026-01-31T10:00:00", "note": ""}, ...]}

An *anchor* names a lesion as the reader saw it: a timepoint, a point in that
timepoint's own LPS space (by default the component's centroid) and the lesion id
shown then.  On every rerun an anchor is resolved again to the component of that
timepoint whose centroid is nearest the point, within ``max(10 mm, half its 3-D
diameter + 2 mm)``; so corrections survive renumbering and small changes of the
segmentation.  The lesion id only chooses between tracks sharing a merged component.

Operations (applied in order, after the automatic matching):

``link`` (a at ta, b at tb > ta)
    b is the continuation of a: the two tracks exchange everything from tb on
    (a's track takes b's track's components from tb on and vice versa).  A track
    left empty disappears.
``unlink`` (a, b in one track, ta < tb)
    b is not a's continuation: if b is the track's only component at tb, the track
    is cut there and its part from tb on becomes a new lesion; otherwise b alone
    becomes a new lesion.
``merge`` (a, b, any timepoints)
    the two tracks are one lesion (e.g. a lesion segmented in two parts): b's
    track's components join a's at every timepoint and b's track disappears.
``split`` (a, b at the same timepoint, one track)
    b is a different lesion: it starts a new track at that timepoint; at later
    timepoints where the old track has several components, each goes to the side
    (a or b) whose centroid is nearer in baseline space.
``rename`` (a; value = the name), ``exclude`` (a), ``include`` (a),
``set_role`` (a; value = "target", "non-target" or "new")
    the track's name or RECIST role, marked as the reader's (``role_source``).  "new"
    (only for a lesion first seen after the baseline) is the reader's confirmation of a
    new lesion that RECIST held *equivocal* (its score below the calibrated threshold):
    it then counts from the first scan where it qualifies; ``exclude`` dismisses one.
``axis`` (a; value = "long" or "short"; ``points`` = [start_lps, end_lps])
    the reader drew that RECIST axis of the component ``a`` anew (end points in that
    timepoint's LPS space, mm); its length is recomputed.  Tracks are not changed: the
    measurement is, by :func:`apply_axis_corrections` (run it on the measurements before
    RECIST; a later ``axis`` op of the same component and axis wins).

An operation that cannot be applied any more (its anchor finds no lesion, the
lesions are already linked, ...) becomes a warning; it never raises.  A sidecar that
is not valid JSON, or not this kind of file, raises :class:`CorrectionsError`; a
malformed single entry is skipped with a warning.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interval.core.atomic import atomic_open
from interval.core.errors import IntervalError
from interval.longitudinal.match_tracks import (
    MeasurementIndex,
    default_name,
    new_track,
    next_lesion_id,
    refresh_track,
)
from interval.longitudinal.model import (
    ROLE_EXCLUDED,
    ROLE_NEW,
    ROLE_NON_TARGET,
    ROLE_TARGET,
    LesionMeasurement,
    Track,
    Vec3,
)

SCHEMA_VERSION = 1
KIND = "interval.lesion-corrections"
SIDECAR_NAME = "corrections.json"

OPS_TWO = ("link", "unlink", "merge", "split")
OPS_ONE = ("rename", "exclude", "include", "set_role")
OPS_AXIS = ("axis",)
AXES = ("long", "short")
ROLE_OPS = ("exclude", "include", "set_role")
ROLES = (ROLE_TARGET, ROLE_NON_TARGET, ROLE_NEW)
ANCHOR_TOLERANCE_MM = 10.0


class CorrectionsError(IntervalError):
    """The corrections sidecar cannot be read (not JSON, not a corrections file, newer)."""


@dataclass(frozen=True)
class Anchor:
    """A lesion as the reader pointed at it: timepoint, point (that timepoint's LPS), id."""

    timepoint: int
    point_lps: Vec3
    lesion_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"timepoint": self.timepoint, "point_lps": list(self.point_lps),
                "lesion_id": self.lesion_id}


@dataclass(frozen=True)
class Correction:
    """One operation of the reader (see the module notes)."""

    op: str
    anchors: tuple[Anchor, ...]
    value: str = ""  # rename: the new name; set_role: "target" / "non-target" / "new"
    created: str = ""  # ISO 8601
    note: str = ""
    points: tuple[Vec3, ...] = ()  # axis: the new start and end points (LPS mm)

    def to_dict(self) -> dict[str, Any]:
        out = {"op": self.op, "anchors": [a.to_dict() for a in self.anchors],
               "value": self.value, "created": self.created, "note": self.note}
        if self.points:
            out["points"] = [list(p) for p in self.points]
        return out


@dataclass
class CorrectionSet:
    """The sidecar's operations, in order, and what was wrong with the file if anything."""

    corrections: list[Correction] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, op: str, anchors: Sequence[Anchor], value: str = "", note: str = "",
            points: Sequence[Sequence[float]] = ()) -> Correction:
        """Append a validated operation stamped with the current time."""
        corr = Correction(op, tuple(anchors), value,
                          dt.datetime.now().isoformat(timespec="seconds"), note,
                          tuple(_vec3(p) for p in points))
        problem = _invalid(corr)
        if problem:
            raise ValueError(problem)
        self.corrections.append(corr)
        return corr

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "kind": KIND,
                "corrections": [c.to_dict() for c in self.corrections]}


def applied_operations(corrections: CorrectionSet | Sequence[Correction] | None) -> list[dict[str, Any]]:
    """The sidecar's operations as plain dicts (for ``report.json``; the matcher's
    ``MatchResult.corrections`` also says whether each was applied)."""
    if corrections is None:
        return []
    items = corrections.corrections if isinstance(corrections, CorrectionSet) else corrections
    return [c.to_dict() for c in items]


def anchor_for(measurement: LesionMeasurement, lesion_id: str = "") -> Anchor:
    """The anchor of a measured component (its centroid)."""
    return Anchor(measurement.timepoint, measurement.centroid_lps, lesion_id)


# --- file --------------------------------------------------------------------------------


def save_corrections(path: str | Path, corrections: CorrectionSet) -> Path:
    """Write the sidecar atomically; returns its path."""
    path = Path(path)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(corrections.to_dict(), fh, indent=2)
        fh.write("\n")
    return path


def load_corrections(path: str | Path) -> CorrectionSet:
    """Read the sidecar; a missing file is an empty set.  Raises :class:`CorrectionsError`."""
    path = Path(path)
    if not path.exists():
        return CorrectionSet()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CorrectionsError(f"The corrections file cannot be read ({exc.__class__.__name__}).",
                               path=path) from None
    except json.JSONDecodeError as exc:
        raise CorrectionsError(f"The corrections file is not valid JSON (line {exc.lineno}, "
                               f"column {exc.colno}); fix or remove it.", path=path) from None
    return corrections_from_dict(data, path=path)


def corrections_from_dict(data: Any, *, path: str | Path | None = None) -> CorrectionSet:
    """Parse sidecar content; malformed entries become warnings."""
    if not isinstance(data, dict) or not isinstance(data.get("corrections"), list):
        raise CorrectionsError("This is not an Interval corrections file (no \"corrections\" "
                               "list).", path=path)
    kind = data.get("kind", KIND)
    if kind != KIND:
        raise CorrectionsError(f"This is not an Interval corrections file (kind {kind!r}).",
                               path=path)
    schema = data.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise CorrectionsError("The corrections file has no schema version.", path=path)
    if schema > SCHEMA_VERSION:
        raise CorrectionsError(f"The corrections file uses schema {schema}, newer than this "
                               f"Interval reads ({SCHEMA_VERSION}); update Interval.", path=path)
    out = CorrectionSet()
    for n, item in enumerate(data["corrections"], start=1):
        try:
            corr = _parse(item)
        except (TypeError, ValueError, KeyError) as exc:
            out.warnings.append(f"Correction {n} is malformed and was ignored: {exc}")
            continue
        problem = _invalid(corr)
        if problem:
            out.warnings.append(f"Correction {n} was ignored: {problem}")
            continue
        out.corrections.append(corr)
    return out


def _parse(item: Any) -> Correction:
    if not isinstance(item, dict):
        raise TypeError("not an object")
    anchors = []
    raw_anchors = item["anchors"]
    if not isinstance(raw_anchors, list):
        raise TypeError("\"anchors\" is not a list")
    for a in raw_anchors:
        if not isinstance(a, dict):
            raise TypeError("an anchor is not an object")
        tp = a["timepoint"]
        if not isinstance(tp, int) or isinstance(tp, bool) or tp < 0:
            raise ValueError(f"bad timepoint {tp!r}")
        point = a["point_lps"]
        if (not isinstance(point, list) or len(point) != 3
                or not all(isinstance(v, int | float) and not isinstance(v, bool)
                           and math.isfinite(v) for v in point)):
            raise ValueError(f"bad point {point!r}")
        anchors.append(Anchor(tp, (float(point[0]), float(point[1]), float(point[2])),
                              str(a.get("lesion_id", ""))))
    points: list[Vec3] = []
    raw_points = item.get("points", [])
    if not isinstance(raw_points, list):
        raise TypeError("\"points\" is not a list")
    for point in raw_points:
        if (not isinstance(point, list) or len(point) != 3
                or not all(isinstance(v, int | float) and not isinstance(v, bool)
                           and math.isfinite(v) for v in point)):
            raise ValueError(f"bad point {point!r}")
        points.append(_vec3(point))
    return Correction(str(item["op"]), tuple(anchors), str(item.get("value", "")),
                      str(item.get("created", "")), str(item.get("note", "")), tuple(points))


def _vec3(point: Sequence[float]) -> Vec3:
    if len(point) != 3:
        raise ValueError(f"a point needs 3 coordinates, got {len(point)}")
    x, y, z = (float(v) for v in point)
    if not all(math.isfinite(v) for v in (x, y, z)):
        raise ValueError("a point coordinate is not a finite number")
    return (x, y, z)


def _invalid(corr: Correction) -> str | None:
    if corr.op in OPS_TWO:
        if len(corr.anchors) != 2:
            return f"{corr.op} needs two lesions, got {len(corr.anchors)}"
    elif corr.op in OPS_ONE or corr.op in OPS_AXIS:
        if len(corr.anchors) != 1:
            return f"{corr.op} needs one lesion, got {len(corr.anchors)}"
    else:
        return f"unknown operation {corr.op!r}"
    if corr.op == "set_role" and corr.value not in ROLES:
        return f"unknown role {corr.value!r} (use target, non-target or new)"
    if corr.op == "rename" and not corr.value.strip():
        return "rename needs a name"
    if corr.op == "axis":
        if corr.value not in AXES:
            return f"unknown axis {corr.value!r} (use long or short)"
        if len(corr.points) != 2:
            return f"axis needs a start and an end point, got {len(corr.points)} point(s)"
    return None


# --- applying ----------------------------------------------------------------------------


@dataclass
class CorrectionOutcome:
    """Tracks after the corrections, with a record of each operation."""

    tracks: list[Track]
    applied: list[dict[str, Any]]  # each op as stored + "status" ("applied"/"skipped") + "message"
    warnings: list[str]
    reader_links: set[tuple[str, int]]  # (lesion_id, timepoint) changed by the reader


class _Skip(Exception):  # internal control flow: becomes a warning
    pass


class _Applier:
    def __init__(self, tracks: list[Track], index: MeasurementIndex, seed: str) -> None:
        self.tracks = tracks
        self.index = index
        self.seed = seed
        self.reader_links: set[tuple[str, int]] = set()

    # anchors
    def component(self, anchor: Anchor) -> int:
        best: tuple[float, int] | None = None
        p = np.asarray(anchor.point_lps, dtype=np.float64)
        for (tp, comp), m in self.index.items():
            if tp != anchor.timepoint:
                continue
            d = float(np.linalg.norm(np.asarray(m.centroid_lps) - p))
            if d <= max(ANCHOR_TOLERANCE_MM, 0.5 * m.max_diameter_3d_mm + 2.0) and (
                    best is None or d < best[0]):
                best = (d, comp)
        if best is None:
            raise _Skip(f"no lesion found at timepoint {anchor.timepoint} near the point where "
                        f"{anchor.lesion_id or 'the lesion'} was")
        return best[1]

    def track(self, anchor: Anchor) -> tuple[Track, int]:
        comp = self.component(anchor)
        holders = [t for t in self.tracks if comp in t.components_at(anchor.timepoint)]
        if not holders:
            raise _Skip(f"the lesion at timepoint {anchor.timepoint} belongs to no track")
        named = [t for t in holders if t.lesion_id == anchor.lesion_id]
        primary = [t for t in holders if anchor.timepoint not in t.merged_into]
        return (named or primary or holders)[0], comp

    def new_id(self) -> str:
        return next_lesion_id(self.tracks)

    def drop_empty(self) -> None:
        """Remove tracks left without components and merges that point nowhere."""
        self.tracks[:] = [t for t in self.tracks if any(t.members.values())]
        ids = {t.lesion_id for t in self.tracks}
        for t in self.tracks:
            for tp, target in list(t.merged_into.items()):
                if target == t.lesion_id or target not in ids:
                    del t.merged_into[tp]

    # operations
    def link(self, a: Anchor, b: Anchor) -> str:
        if a.timepoint >= b.timepoint:
            raise _Skip("link needs the first lesion at an earlier timepoint than the second")
        ta, _ = self.track(a)
        tb, _ = self.track(b)
        if ta is tb:
            raise _Skip(f"{ta.lesion_id} is already linked at both timepoints")
        times = {t for t in (*ta.members, *tb.members) if t >= b.timepoint}
        for t in times:
            ma, mb = ta.members.pop(t, None), tb.members.pop(t, None)
            if mb is not None:
                ta.members[t] = mb
            if ma is not None:
                tb.members[t] = ma
            ga, gb = ta.merged_into.pop(t, None), tb.merged_into.pop(t, None)
            if gb is not None:
                ta.merged_into[t] = gb
            if ga is not None:
                tb.merged_into[t] = ga
        self.reader_links.add((ta.lesion_id, b.timepoint))
        self.reader_links.add((tb.lesion_id, b.timepoint))
        self.drop_empty()
        for t in (ta, tb):
            refresh_track(t, self.index)
        return f"{tb.lesion_id} at timepoint {b.timepoint} onwards now continues {ta.lesion_id}"

    def unlink(self, a: Anchor, b: Anchor) -> str:
        if a.timepoint >= b.timepoint:
            raise _Skip("unlink needs the first lesion at an earlier timepoint than the second")
        ta, _ = self.track(a)
        tb, comp_b = self.track(b)
        if ta is not tb:
            raise _Skip(f"{ta.lesion_id} and {tb.lesion_id} are already separate lesions")
        new_id = self.new_id()
        if ta.components_at(b.timepoint) == [comp_b]:
            moved = {t: ta.members.pop(t) for t in sorted(ta.members) if t >= b.timepoint}
            merged = {t: ta.merged_into.pop(t) for t in sorted(ta.merged_into) if t >= b.timepoint}
            track = new_track(new_id, self.seed, moved, self.index)
            track.merged_into.update(merged)
        else:
            ta.members[b.timepoint] = [c for c in ta.members[b.timepoint] if c != comp_b]
            track = new_track(new_id, self.seed, {b.timepoint: [comp_b]}, self.index)
        self.tracks.append(track)
        self.reader_links.add((track.lesion_id, b.timepoint))
        self.reader_links.add((ta.lesion_id, b.timepoint))
        refresh_track(ta, self.index)
        return f"{new_id} split off {ta.lesion_id} at timepoint {b.timepoint}"

    def merge(self, a: Anchor, b: Anchor) -> str:
        ta, _ = self.track(a)
        tb, _ = self.track(b)
        if ta is tb:
            raise _Skip(f"{ta.lesion_id} is already one lesion")
        for t, comps in tb.members.items():
            if t in ta.merged_into and ta.merged_into[t] == tb.lesion_id:
                del ta.merged_into[t]
            if tb.merged_into.get(t) == ta.lesion_id or not comps:
                ta.members.setdefault(t, [])
                continue
            ta.members[t] = sorted(set(ta.members.get(t, [])) | set(comps))
            self.reader_links.add((ta.lesion_id, t))
        for other in self.tracks:
            for t, target in list(other.merged_into.items()):
                if target == tb.lesion_id:
                    other.merged_into[t] = ta.lesion_id
        self.tracks.remove(tb)
        self.drop_empty()
        refresh_track(ta, self.index)
        return f"{tb.lesion_id} merged into {ta.lesion_id}"

    def split(self, a: Anchor, b: Anchor) -> str:
        if a.timepoint != b.timepoint:
            raise _Skip("split needs two lesions of the same timepoint")
        t0 = a.timepoint
        ta, comp_a = self.track(a)
        tb, comp_b = self.track(b)
        if comp_a == comp_b:
            raise _Skip("both points are in the same component; it cannot be split here")
        if ta is not tb:
            raise _Skip(f"{ta.lesion_id} and {tb.lesion_id} are already separate lesions")
        side_a = self._baseline_centroid(t0, [comp_a])
        side_b = self._baseline_centroid(t0, [comp_b])
        moved: dict[int, list[int]] = {t0: [comp_b]}
        ta.members[t0] = [c for c in ta.members[t0] if c != comp_b]
        for t in sorted(ta.members):
            comps = ta.members[t]
            if t <= t0 or len(comps) < 2:
                continue
            go = [c for c in comps if np.linalg.norm(self._baseline_centroid(t, [c]) - side_b)
                  < np.linalg.norm(self._baseline_centroid(t, [c]) - side_a)]
            if go and len(go) < len(comps):
                ta.members[t] = [c for c in comps if c not in go]
                moved[t] = go
        new_id = self.new_id()
        track = new_track(new_id, self.seed, moved, self.index)
        self.tracks.append(track)
        for t in moved:
            self.reader_links.add((track.lesion_id, t))
            self.reader_links.add((ta.lesion_id, t))
        refresh_track(ta, self.index)
        return f"{new_id} split off {ta.lesion_id} at timepoint {t0}"

    def _baseline_centroid(self, t: int, comps: Iterable[int]) -> np.ndarray:
        ms = [self.index[(t, c)] for c in comps if (t, c) in self.index]
        pts = np.array([m.centroid_baseline_lps or m.centroid_lps for m in ms], dtype=np.float64)
        w = np.array([max(m.volume_ml, 1e-9) for m in ms])
        return (pts * w[:, None]).sum(axis=0) / w.sum()

    def axis(self, corr: Correction) -> str:
        """Checks the anchor still finds a lesion; the measurement itself is changed by
        :func:`apply_axis_corrections`."""
        track, comp = self.track(corr.anchors[0])
        length = float(np.linalg.norm(np.subtract(corr.points[1], corr.points[0])))
        return (f"{corr.value} axis of {track.lesion_id} at timepoint "
                f"{corr.anchors[0].timepoint} (component {comp}) drawn by the reader: "
                f"{length:.1f} mm")

    def one(self, corr: Correction) -> str:
        track, _ = self.track(corr.anchors[0])
        if corr.op == "rename":
            track.name = corr.value.strip()
            return f"{track.lesion_id} renamed {track.name!r}"
        if corr.op == "exclude":
            track.role, track.role_source = ROLE_EXCLUDED, "reader"
            track.role_reason = "excluded by the reader"
            return f"{track.lesion_id} excluded"
        if corr.op == "include":
            if track.role != ROLE_EXCLUDED:
                return f"{track.lesion_id} was not excluded"
            track.role, track.role_source, track.role_reason = ROLE_NON_TARGET, "auto", ""
            return f"{track.lesion_id} included again"
        track.role, track.role_source = corr.value, "reader"
        track.role_reason = f"{corr.value} chosen by the reader"
        return f"{track.lesion_id} set to {corr.value}"


def apply_corrections(
    tracks: list[Track],
    index: MeasurementIndex,
    corrections: CorrectionSet | Sequence[Correction],
    *,
    seed: str = "",
) -> CorrectionOutcome:
    """Apply the operations in order to copies of ``tracks`` (the originals are kept).

    ``index`` maps ``(timepoint, component)`` to the measurements; ``seed`` makes the
    tracking UIDs of lesions the corrections create.  Never raises for an operation
    that no longer fits: it is skipped with a warning.
    """
    items = corrections.corrections if isinstance(corrections, CorrectionSet) else corrections
    applier = _Applier([copy.deepcopy(t) for t in tracks], index, seed)
    applied: list[dict[str, Any]] = []
    warnings: list[str] = []
    if isinstance(corrections, CorrectionSet):
        warnings.extend(corrections.warnings)
    for n, corr in enumerate(items, start=1):
        record = corr.to_dict()
        problem = _invalid(corr)
        try:
            if problem:
                raise _Skip(problem)
            if corr.op in OPS_TWO:
                fn = getattr(applier, corr.op)
                message = fn(*corr.anchors)
            elif corr.op in OPS_AXIS:
                message = applier.axis(corr)
            else:
                message = applier.one(corr)
            record.update(status="applied", message=message)
        except _Skip as exc:
            record.update(status="skipped", message=str(exc))
            warnings.append(f"Correction {n} ({corr.op}) could not be applied: {exc}.")
        applied.append(record)
    for t in applier.tracks:
        if not t.name:
            t.name = default_name(t.lesion_id, t.organ)
    return CorrectionOutcome(applier.tracks, applied, warnings, applier.reader_links)


# --- the reader's axes ----------------------------------------------------------------------


@dataclass
class AxisOutcome:
    """Measurements with the reader's axes, and what each ``axis`` operation did."""

    measurements: list[LesionMeasurement]
    applied: list[dict[str, Any]]  # each axis op as stored + "status" + "message"
    warnings: list[str]
    # (timepoint, component) -> {"long": (auto mm, reader mm), ...}
    changed: dict[tuple[int, int], dict[str, tuple[float, float]]]


def apply_axis_corrections(
    measurements: Sequence[LesionMeasurement],
    corrections: CorrectionSet | Sequence[Correction] | None,
) -> AxisOutcome:
    """The measurements with every ``axis`` operation applied in order (new objects; the
    given ones are kept).  Anchors resolve as for the tracks (nearest centroid of that
    timepoint); an op that finds no lesion becomes a warning.  Other ops are ignored.

    The pipeline calls this on its measurements before RECIST, so a rerun with the
    sidecar honours the reader's axes; the longitudinal workspace does the same.
    """
    from interval.longitudinal.axis_adjust import with_axis  # noqa: PLC0415

    items = (corrections.corrections if isinstance(corrections, CorrectionSet)
             else list(corrections or ()))
    out = list(measurements)
    where = {(m.timepoint, m.component): n for n, m in enumerate(out)}
    original = {k: (m.long_axis.length_mm, m.short_axis.length_mm)
                for k, m in zip(where, out, strict=True)}
    applied: list[dict[str, Any]] = []
    warnings: list[str] = []
    changed: dict[tuple[int, int], dict[str, tuple[float, float]]] = {}
    for n, corr in enumerate(items, start=1):
        if corr.op not in OPS_AXIS:
            continue
        record = corr.to_dict()
        problem = _invalid(corr)
        index = {(m.timepoint, m.component): m for m in out}
        try:
            if problem:
                raise _Skip(problem)
            comp = _Applier([], index, "").component(corr.anchors[0])
            key = (corr.anchors[0].timepoint, comp)
            new = with_axis(out[where[key]], corr.value, corr.points[0], corr.points[1])
            out[where[key]] = new
            length = (new.long_axis if corr.value == "long" else new.short_axis).length_mm
            auto = original[key][0 if corr.value == "long" else 1]
            changed.setdefault(key, {})[corr.value] = (auto, length)
            record.update(status="applied",
                          message=f"{corr.value} axis at timepoint {key[0]} component {comp}: "
                                  f"{auto:.1f} mm -> {length:.1f} mm")
        except _Skip as exc:
            record.update(status="skipped", message=str(exc))
            warnings.append(f"Correction {n} ({corr.op}) could not be applied: {exc}.")
        applied.append(record)
    return AxisOutcome(out, applied, warnings, changed)
