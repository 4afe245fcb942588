"""The longitudinal workspace: review and correct one ``interval track`` output folder.

:class:`LongitudinalWorkspace` is the viewer's model of a follow-up read, without Qt:

* :meth:`~LongitudinalWorkspace.open` reads ``report.json`` and the reader's corrections
  sidecar (``corrections.json``), and keeps the automatic matching in ``workspace.json``
  (see :mod:`.workspace_store` for why and what);
* :meth:`rows` / :meth:`responses` give the lesion table (:mod:`.lesion_rows`) and the
  RECIST row per timepoint (:mod:`.workspace_rows`);
* the reader's actions (link, unlink, merge, split, rename, exclude, include, set role,
  adjust a RECIST axis) each append one operation to the sidecar; after each, and after
  :meth:`undo` / :meth:`redo`, the tracks are re-derived from the automatic matching and the
  whole list, RECIST is assessed again (:mod:`.workspace_derive`), the sidecar is saved
  atomically and the subscribers are called;
* :meth:`export_report` writes the reports with the corrections, the sign-off and the
  values the reader changed; :meth:`point_in` maps a point between timepoints
  (:mod:`.workspace_transforms`).

``dirty`` is True while the corrections differ from those of the last exported (or
opened) report: the sidecar is always saved, the report is not re-made until exported.
Actions that cannot apply (the lesion is not at that timepoint, the two are already
linked...) raise :class:`ActionRefused` and change nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interval.core.errors import IntervalError
from interval.longitudinal import corrections as corr_mod
from interval.longitudinal.corrections import Anchor, Correction, CorrectionSet
from interval.longitudinal.lesion_rows import LesionRow, build_lesion_rows
from interval.longitudinal.model import (
    ROLE_NEW,
    ROLE_NON_TARGET,
    ROLE_TARGET,
    LesionMeasurement,
    LongitudinalReport,
    RegistrationResult,
    Track,
    Vec3,
)
from interval.longitudinal.report_json import REPORT_JSON, read_report
from interval.longitudinal.workspace_derive import Derived, derive, recover_auto
from interval.longitudinal.workspace_history import Command, History
from interval.longitudinal.workspace_rows import ResponseRow, response_rows
from interval.longitudinal.workspace_store import (
    WORKSPACE_JSON,
    WorkspaceError,
    WorkspaceState,
    load_state,
    report_fingerprint,
    save_state,
)
from interval.longitudinal.workspace_transforms import PointMapper

SIDECAR = corr_mod.SIDECAR_NAME


class ActionRefused(IntervalError):
    """A reader action that does not fit the current tracks (nothing was changed)."""


@dataclass(frozen=True)
class WorkspaceChange:
    """What the subscribers are told: "action", "undo", "redo", "export", "session" or
    "registration" (a re-run registration now maps the points)."""

    kind: str
    label: str = ""


@dataclass
class ExportResult:
    """The files written (name -> path) and what could not be made."""

    outputs: dict[str, Path]
    warnings: list[str]


Observer = Callable[[WorkspaceChange], None]


class LongitudinalWorkspace:
    """One output folder under review (use :meth:`open`)."""

    def __init__(self, out_dir: Path, base: LongitudinalReport, state: WorkspaceState,
                 corrections: list[Correction], warnings: list[str]) -> None:
        self.out_dir = out_dir
        self._base = base
        self._state = state
        self._corrections = list(corrections)
        self._exported = tuple(self._corrections)
        self._history = History()
        self._observers: list[Observer] = []
        from interval.longitudinal.registration_rerun import registrations_in_use  # noqa: PLC0415

        in_use, reg_warnings = registrations_in_use(base, out_dir)  # the reader's re-runs
        self._mapper = PointMapper(dataclasses.replace(base, registrations=in_use), out_dir)
        self.open_warnings = list(warnings) + reg_warnings
        baked = list(self._corrections[: state.baked_corrections])
        self._auto = self._derive(baked)
        self._derived = self._derive(self._corrections)

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, out_dir: str | Path) -> LongitudinalWorkspace:
        """Open an ``interval track`` output folder.  Raises :class:`IntervalError`
        subclasses with a sentence for the reader (no folder, no or damaged report,
        unreadable corrections)."""
        out = Path(out_dir)
        if not out.is_dir():
            raise WorkspaceError("this folder does not exist (choose the output folder of "
                                 "interval track)", path=out)
        report_path = out / REPORT_JSON
        if not report_path.is_file():
            raise WorkspaceError("this folder holds no report.json: it is not the output folder "
                                 "of interval track, or the tracking has not finished", path=out)
        base = read_report(report_path)
        if not base.timeline.timepoints:
            raise WorkspaceError("the report has no timepoint", path=report_path)
        sidecar = corr_mod.load_corrections(out / SIDECAR)
        warnings = list(sidecar.warnings)
        fingerprint = report_fingerprint(base)
        try:
            state = load_state(out / WORKSPACE_JSON)
        except WorkspaceError as exc:
            warnings.append(f"{exc} It was made again from the report.")
            state = None
        if state is not None and state.report_fingerprint != fingerprint:
            warnings.append("The tracking was run again since this workspace was saved: the "
                            "automatic matching was taken from the new report.")
            state = cls._rebuilt(base, sidecar.corrections, fingerprint, state.session, warnings)
            save_state(out / WORKSPACE_JSON, state)
        elif state is None:
            state = cls._rebuilt(base, sidecar.corrections, fingerprint, {}, warnings)
            save_state(out / WORKSPACE_JSON, state)
        return cls(out, base, state, sidecar.corrections, warnings)

    @staticmethod
    def _rebuilt(base: LongitudinalReport, corrections: Sequence[Correction], fingerprint: str,
                 session: dict[str, Any], warnings: list[str]) -> WorkspaceState:
        tracks, events, measurements, baked, more = recover_auto(base, corrections)
        warnings.extend(more)
        return WorkspaceState(fingerprint, tracks, events, measurements, baked, dict(session))

    def _derive(self, corrections: Sequence[Correction]) -> Derived:
        s = self._state
        baked = min(s.baked_corrections, len(corrections))
        return derive(self._base, s.auto_tracks, s.auto_events, s.auto_measurements,
                      corrections, baked=baked)

    # --- reading ---------------------------------------------------------------------------

    @property
    def report(self) -> LongitudinalReport:
        """The current report (corrections applied); treat it as read-only."""
        return self._derived.report

    @property
    def corrections(self) -> tuple[Correction, ...]:
        return tuple(self._corrections)

    @property
    def warnings(self) -> list[str]:
        """What the reader should know: opening problems, then the current derivation's."""
        return self.open_warnings + [w for w in self._derived.warnings
                                     if w not in self.open_warnings]

    @property
    def dirty(self) -> bool:
        """True while the corrections differ from those of the last exported report."""
        return tuple(self._corrections) != self._exported

    def rows(self) -> list[LesionRow]:
        """The lesion table (one row per track, excluded ones included and flagged)."""
        cells, rows = self._changed_keys()
        return list(build_lesion_rows(self.report, cells, rows).rows)

    def responses(self) -> list[ResponseRow]:
        """RECIST 1.1 per timepoint (the baseline first)."""
        return response_rows(self.report)

    def reader_changes(self) -> list[dict[str, Any]]:
        """Each value the reader changed, against the automatic analysis: ``lesion_id``,
        ``timepoint`` (None for the whole lesion or a RECIST row's), ``value``, ``auto``,
        ``reader``."""
        return _reader_changes(self._auto, self._derived)

    def point_in(self, timepoint: int, point_lps: Sequence[float],
                 from_timepoint: int | None = None) -> Vec3:
        """``point_lps`` (LPS mm of ``from_timepoint``, by default the baseline) at the same
        anatomy in ``timepoint``'s LPS space (see :mod:`.workspace_transforms`)."""
        return self._mapper.point_in(timepoint, point_lps, from_timepoint)

    def reload_registrations(self, registrations: Sequence[RegistrationResult],
                             label: str = "registration re-run") -> None:
        """Map points with ``registrations`` from now on (a registration the reader re-ran,
        already saved in the output folder) and tell the subscribers (kind "registration")."""
        report = dataclasses.replace(self.report, registrations=list(registrations))
        self._mapper = PointMapper(report, self.out_dir)
        self._notify(WorkspaceChange("registration", label))

    # --- observers and session -----------------------------------------------------------

    def subscribe(self, fn: Observer) -> Callable[[], None]:
        """Call ``fn(change)`` after every change; returns the function that unsubscribes."""
        self._observers.append(fn)
        return lambda: self._observers.remove(fn) if fn in self._observers else None

    def _notify(self, change: WorkspaceChange) -> None:
        for fn in list(self._observers):
            fn(change)

    @property
    def session(self) -> dict[str, Any]:
        """The viewer's saved state (timeline choice, layout...): a copy."""
        return dict(self._state.session)

    def save_session(self, session: dict[str, Any]) -> None:
        """Keep the viewer's state (plain JSON values) in ``workspace.json``, atomically.

        Only the entries this workspace changed (against what it read or saved last) are
        taken from ``session``: an entry another part of Interval wrote into the file
        meanwhile (e.g. the Timeline dock's saved choice after a new run into this folder)
        is kept as it is in the file."""
        old = self._state.session
        merged = self._on_disk_session()
        for key in set(old) | set(session):
            if key not in session:
                merged.pop(key, None)  # dropped here
            elif key not in old or old[key] != session[key]:
                merged[key] = session[key]  # changed here
            elif key not in merged:
                merged[key] = session[key]
        self._state.session = merged
        try:
            save_state(self.out_dir / WORKSPACE_JSON, self._state)
        except WorkspaceError:
            self._state.session = old
            raise
        self._notify(WorkspaceChange("session"))

    def _on_disk_session(self) -> dict[str, Any]:
        """The session in ``workspace.json`` now (this workspace's own when unreadable)."""
        try:
            state = load_state(self.out_dir / WORKSPACE_JSON)
        except WorkspaceError:
            state = None
        return dict(state.session) if state is not None else dict(self._state.session)

    # --- undo / redo -----------------------------------------------------------------------

    @property
    def can_undo(self) -> bool:
        return self._history.can_undo

    @property
    def can_redo(self) -> bool:
        return self._history.can_redo

    def undo_label(self) -> str:
        return self._history.undo_label()

    def redo_label(self) -> str:
        return self._history.redo_label()

    def undo(self) -> None:
        if not self._history.can_undo:
            return
        command = self._history.undo()
        self._set(list(command.before))
        self._notify(WorkspaceChange("undo", command.label))

    def redo(self) -> None:
        if not self._history.can_redo:
            return
        command = self._history.redo()
        self._set(list(command.after))
        self._notify(WorkspaceChange("redo", command.label))

    def _set(self, corrections: list[Correction], derived: Derived | None = None) -> None:
        derived = derived or self._derive(corrections)
        corr_mod.save_corrections(self.out_dir / SIDECAR, CorrectionSet(list(corrections)))
        self._corrections = corrections
        self._derived = derived

    # --- actions -----------------------------------------------------------------------------

    def link(self, lesion_a: str, timepoint_a: int, lesion_b: str, timepoint_b: int) -> None:
        """``lesion_b`` at ``timepoint_b`` continues ``lesion_a`` (seen at ``timepoint_a``,
        earlier)."""
        self._do("link", [self._anchor(lesion_a, timepoint_a), self._anchor(lesion_b, timepoint_b)],
                 label=f"link {lesion_a} and {lesion_b}")

    def unlink(self, lesion_id: str, timepoint: int, component: int | None = None) -> None:
        """``lesion_id`` from ``timepoint`` on (or only ``component`` there, when it has
        several) is another lesion than before it."""
        track = self._track(lesion_id)
        before = [t for t in sorted(track.members) if t < timepoint and track.members[t]
                  and t not in track.merged_into]
        if not before:
            raise ActionRefused(f"{lesion_id} is not seen before timepoint {timepoint + 1}: "
                                "there is nothing to unlink")
        self._do("unlink", [self._anchor(lesion_id, before[-1]),
                            self._anchor(lesion_id, timepoint, component)],
                 label=f"unlink {lesion_id}")

    def merge(self, lesion_a: str, lesion_b: str) -> None:
        """``lesion_b`` is part of ``lesion_a`` (its parts join a's at every timepoint)."""
        self._do("merge", [self._anchor(lesion_a), self._anchor(lesion_b)],
                 label=f"merge {lesion_b} into {lesion_a}")

    def split(self, lesion_id: str, timepoint: int, component: int) -> None:
        """``component`` of ``lesion_id`` at ``timepoint`` is a lesion of its own."""
        track = self._track(lesion_id)
        others = [c for c in track.components_at(timepoint) if c != component]
        if component not in track.components_at(timepoint) or not others:
            raise ActionRefused(f"{lesion_id} has no other part at timepoint {timepoint + 1} "
                                f"to split component {component} from")
        keep = max(others, key=lambda c: self._measurement(timepoint, c).long_axis.length_mm)
        self._do("split", [self._anchor(lesion_id, timepoint, keep),
                           self._anchor(lesion_id, timepoint, component)],
                 label=f"split {lesion_id}")

    def rename(self, lesion_id: str, name: str) -> None:
        if not name.strip():
            raise ActionRefused("a lesion's name cannot be empty")
        self._do("rename", [self._anchor(lesion_id)], value=name.strip(),
                 label=f"rename {lesion_id}")

    def exclude(self, lesion_id: str) -> None:
        self._do("exclude", [self._anchor(lesion_id)], label=f"exclude {lesion_id}")

    def include(self, lesion_id: str) -> None:
        self._do("include", [self._anchor(lesion_id)], label=f"include {lesion_id}")

    def set_role(self, lesion_id: str, role: str) -> None:
        """``role``: "target" or "non-target", or "new" for a lesion first seen after the
        baseline: the reader confirms it as a new lesion (an equivocal one then counts,
        progression dating from the scan where it was first seen; RECIST 1.1 4.3.2)."""
        if role not in (ROLE_TARGET, ROLE_NON_TARGET, ROLE_NEW):
            raise ActionRefused(f"unknown role {role!r} (use target, non-target or new)")
        if role == ROLE_NEW:
            track = self.report.track(lesion_id)
            if track is not None and track.first_seen == 0:
                raise ActionRefused(f"{lesion_id} was already seen at the baseline, so it "
                                    "cannot be a new lesion")
        label = f"confirm {lesion_id} as a new lesion" if role == ROLE_NEW else \
            f"mark {lesion_id} {role}"
        self._do("set_role", [self._anchor(lesion_id)], value=role, label=label)

    def is_equivocal(self, lesion_id: str) -> bool:
        """Whether RECIST holds ``lesion_id`` as an equivocal new lesion, not yet confirmed."""
        table = self.report.recist
        return (any(lesion_id in r.equivocal_new_lesions for r in table)
                and not any(lesion_id in r.new_lesions for r in table))

    def adjust_axis(self, lesion_id: str, timepoint: int, which: str, start_lps: Sequence[float],
                    end_lps: Sequence[float], component: int | None = None) -> None:
        """Redraw the ``which`` ("long" or "short") RECIST axis of ``lesion_id`` at
        ``timepoint`` (its main component, or ``component``) from ``start_lps`` to
        ``end_lps`` (that timepoint's LPS, mm); the length is recomputed."""
        if which not in corr_mod.AXES:
            raise ActionRefused(f"unknown axis {which!r} (use long or short)")
        try:
            points = [corr_mod._vec3(start_lps), corr_mod._vec3(end_lps)]
        except (TypeError, ValueError) as exc:
            raise ActionRefused(f"the axis end points are not positions ({exc})") from None
        self._do("axis", [self._anchor(lesion_id, timepoint, component)], value=which,
                 points=points, label=f"adjust {which} axis of {lesion_id}")

    def _do(self, op: str, anchors: list[Anchor], *, label: str, value: str = "",
            points: Sequence[Vec3] = ()) -> None:
        correction = Correction(op, tuple(anchors), value,
                                dt.datetime.now().isoformat(timespec="seconds"), "",
                                tuple(points))
        problem = corr_mod._invalid(correction)
        if problem:
            raise ActionRefused(problem)
        before = list(self._corrections)
        after = [*before, correction]
        derived = self._derive(after)
        record = derived.report.corrections[-1]
        if record.get("status") != "applied":
            raise ActionRefused(f"{label} cannot be done: {record.get('message', '')}")
        self._set(after, derived)
        self._history.push(Command(label, tuple(before), tuple(after)))
        self._notify(WorkspaceChange("action", label))

    # --- anchors -----------------------------------------------------------------------------

    def _track(self, lesion_id: str) -> Track:
        track = self.report.track(lesion_id)
        if track is None:
            raise ActionRefused(f"there is no lesion {lesion_id}")
        return track

    def _measurement(self, timepoint: int, component: int) -> LesionMeasurement:
        m = self.report.measurement(timepoint, component)
        if m is None:
            raise ActionRefused(f"timepoint {timepoint + 1} has no lesion region {component}")
        return m

    def _anchor(self, lesion_id: str, timepoint: int | None = None,
                component: int | None = None) -> Anchor:
        """The anchor of ``lesion_id`` at ``timepoint`` (default: where it is first seen),
        on ``component`` or its main one (longest long axis)."""
        track = self._track(lesion_id)
        t = track.first_seen if timepoint is None else timepoint
        comps = track.components_at(t)
        if not comps:
            raise ActionRefused(f"{lesion_id} is not seen at timepoint {t + 1}")
        if component is not None and component not in comps:
            raise ActionRefused(f"{lesion_id} has no region {component} at timepoint {t + 1}")
        ms = [self._measurement(t, c) for c in ([component] if component is not None else comps)]
        main = max(ms, key=lambda m: (m.long_axis.length_mm, -m.component))
        return corr_mod.anchor_for(main, lesion_id)

    # --- export ------------------------------------------------------------------------------

    def export_report(self, sign_off_name: str, *, images: bool = True) -> ExportResult:
        """Write report.json, lesions.csv, HTML and PDF with the corrections applied, the
        reader's sign-off and the values they changed; with ``images`` the DICOM SEG/SR and
        key images too when the scans are found at the timeline's sources (else a warning
        says why not).  Clears :attr:`dirty`."""
        from interval.longitudinal.workspace_export import export  # noqa: PLC0415

        name = " ".join(sign_off_name.split())
        if not name:
            raise ActionRefused("type your name to sign the report off")
        result = export(self, name, images=images)
        self._exported = tuple(self._corrections)
        self._notify(WorkspaceChange("export", name))
        return result

    def _changed_keys(self) -> tuple[dict[tuple[str, int], frozenset[str]],
                                     dict[str, frozenset[str]]]:
        cells: dict[tuple[str, int], set[str]] = {}
        rows: dict[str, set[str]] = {}
        for change in self.reader_changes():
            lid, t, value = change["lesion_id"], change["timepoint"], change["value"]
            if not lid:
                continue
            if t is None:
                rows.setdefault(lid, set()).add(value)
            else:
                cells.setdefault((lid, t), set()).add(value)
        return ({k: frozenset(v) for k, v in cells.items()},
                {k: frozenset(v) for k, v in rows.items()})


def _reader_changes(auto: Derived, now: Derived) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    before = {t.lesion_id: t for t in auto.report.tracks}
    for track in now.report.tracks:
        old = before.get(track.lesion_id)
        if old is not None and old.name != track.name:
            out.append(_change(track.lesion_id, None, "name", old.name, track.name))
        if track.role_source == "reader" or (old is not None and old.role != track.role):
            out.append(_change(track.lesion_id, None, "role", old.role if old else None,
                               track.role))
    for (t, comp), axes in sorted(now.axis_changes.items()):
        holders = [tr.lesion_id for tr in now.report.tracks if comp in tr.components_at(t)]
        for which, (auto_mm, reader_mm) in sorted(axes.items()):
            for lid in holders or [""]:
                out.append(_change(lid, t, f"{which}_axis", round(auto_mm, 2),
                                   round(reader_mm, 2), component=comp))
    for lid, t in sorted(now.reader_links):
        track = now.report.track(lid)
        old = before.get(lid)
        out.append(_change(lid, t, "tracking",
                           list(old.components_at(t)) if old else None,
                           list(track.components_at(t)) if track else None))
    auto_rows = {r.timepoint: r for r in auto.report.recist}
    for r in now.report.recist:
        a = auto_rows.get(r.timepoint)
        if a is None:
            continue
        for value in ("sum_mm", "target_response", "non_target_response", "overall_response"):
            x, y = getattr(a, value), getattr(r, value)
            if (round(x, 2) if isinstance(x, float) else x) != (
                    round(y, 2) if isinstance(y, float) else y):
                out.append(_change("", r.timepoint, value, x, y))
    return out


def _change(lesion_id: str, timepoint: int | None, value: str, auto: Any, reader: Any,
            **extra: Any) -> dict[str, Any]:
    return {"lesion_id": lesion_id, "timepoint": timepoint, "value": value, "auto": auto,
            "reader": reader, **extra}
