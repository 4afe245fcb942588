"""RECIST 1.1 from the tracks: target selection, sums, responses, and why.

Rules (Eisenhauer et al., EJC 2009), as Interval applies them automatically:

* **Measurable at baseline**: a non-nodal lesion with long axis >= 10 mm (and >= 2x
  the slice thickness when the slices are thicker than 5 mm); a lymph node with
  short axis >= 15 mm.  A node of 10-15 mm is a pathological non-target; a node
  under 10 mm is normal: it is **excluded** (``role_source`` "auto", the reason says
  so), counted nowhere.  A lesion cut by the edge of the scan at baseline is not
  reliably measurable: non-target.
* **Targets**: the largest measurable lesions (nodes by short axis, others by long
  axis), at most 5 in all and 2 per organ (all lymph nodes together are one organ).
  The reader's roles (``role_source`` "reader", from the corrections sidecar or
  ``overrides``) win and count towards the limits; a lesion first seen after the
  baseline cannot be a target or non-target (it is "new").
* **Diameter of a target at a follow-up**: the sum over its components (a lesion
  that split: the parts are summed); 0 when it is gone; when lesions merged, the
  merged lesion's diameter counts once, for the larger track, and 0 for the others
  (unless the one it merged into is not a target: then it keeps the whole).  Nodes
  count their short axis.  A target is **not evaluable** when the timepoint is (its
  registration failed, or ``not_evaluable`` says so) or a component is cut by the
  edge of the scan.
* **Target response**: CR when every non-nodal target is gone and every nodal target
  has short axis < 10 mm; PD when the sum rose >= 20% over the nadir (the smallest
  earlier sum, baseline included) and by >= 5 mm; PR when it fell >= 30% from
  baseline; SD otherwise; NE when a target is not evaluable, unless the evaluable ones
  alone already make PD.
* **Non-target response**: CR when every non-target is gone and non-target nodes are
  < 10 mm; PD on the reader's call (``non_target_progression``) or, as an automatic
  proxy for "unequivocal progression", when their total volume at least doubled over
  its nadir and grew by >= 1 mL; NE when the timepoint is not evaluable; otherwise
  Non-CR/Non-PD; "none" when there are no non-targets.
* **New lesion**: a track first seen after the baseline (not excluded) counts as
  unequivocal at the first timepoint where it is evaluable and measures >= 5 mm
  (long axis; short axis >= 10 mm for a node): PD.
* **Equivocal new lesion** (RECIST 1.1 section 4.3.2; only when
  ``RecistRules.equivocal_below``, the segmentation model's calibrated score threshold,
  is set): a new lesion that would count but whose score there (the voxel-weighted mean
  of its components' scores, :func:`~interval.longitudinal.model.lesion_score`) is below
  the threshold is *equivocal*: listed in ``equivocal_new_lesions``, no PD.  It stays
  equivocal (listed at every evaluable timepoint where it is present) until it is
  **confirmed**: at the first later evaluable timepoint where it measures >= 5 mm
  (nodes 10 mm) with a score at or above the threshold, it counts as a new lesion
  (PD there), and ``confirmed_new_lesions`` and the reason date the progression from the
  scan it was first seen at.  Growth alone does not confirm it (the score is what the
  threshold was calibrated for; size is the separate 5 mm rule).  One that is gone
  (no component) at a later evaluable timepoint was never confirmed: no PD from it; if
  it comes back it is judged again from then, as a new finding.  A lesion whose score
  is unknown (None: a label file, an older report) is never equivocal.  The reader
  settles it: role "new" set by the reader (``set_role`` in the corrections sidecar, or
  ``overrides``) confirms it (it counts from the first scan where it qualifies, so PD
  dates from there), ``exclude`` dismisses it.
* **Overall response**: RECIST 1.1 table 1 (targets) or table 2 (non-targets only).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from interval.longitudinal.corrections import (
    ROLE_OPS,
    Correction,
    CorrectionSet,
    apply_corrections,
)
from interval.longitudinal.model import (
    CR,
    NE,
    NON_CR_NON_PD,
    PD,
    PR,
    REG_FAILED,
    ROLE_EXCLUDED,
    ROLE_NEW,
    ROLE_NON_TARGET,
    ROLE_TARGET,
    SD,
    LesionMeasurement,
    RecistTimepoint,
    RegistrationResult,
    Timeline,
    Track,
    lesion_score,
)

BASELINE = "baseline"
NONE = "none"
_TOL = 1e-9


@dataclass(frozen=True)
class RecistRules:
    """The thresholds: RECIST 1.1 defaults; the two ``non_target_pd_*`` are Interval's
    automatic proxies; ``equivocal_below`` is the segmentation model's calibrated score."""

    min_long_axis_mm: float = 10.0
    node_target_short_mm: float = 15.0
    node_pathological_mm: float = 10.0
    max_targets: int = 5
    max_per_organ: int = 2
    pr_change_pct: float = -30.0
    pd_change_pct: float = 20.0
    pd_change_mm: float = 5.0
    new_lesion_min_mm: float = 5.0
    non_target_pd_volume_pct: float = 100.0
    non_target_pd_min_ml: float = 1.0
    # a new lesion scored below this is equivocal (see the module notes); None: no such rule
    equivocal_below: float | None = None


@dataclass(frozen=True)
class LesionVolume:
    """One lesion's volume at one timepoint and its change."""

    lesion_id: str
    timepoint: int
    volume_ml: float | None  # None when not seen (or merged into another lesion)
    change_from_baseline_pct: float | None
    change_from_previous_pct: float | None


class _Data:
    def __init__(self, tracks: Sequence[Track], measurements: Sequence[LesionMeasurement],
                 timepoints: list[int]) -> None:
        self.index = {(m.timepoint, m.component): m for m in measurements}
        self.tracks = list(tracks)
        self.by_id = {t.lesion_id: t for t in self.tracks}
        self.times = timepoints
        self.baseline = timepoints[0]

    def ms(self, track: Track, t: int) -> list[LesionMeasurement]:
        return [self.index[(t, c)] for c in track.components_at(t) if (t, c) in self.index]

    def diameter(self, track: Track, t: int) -> float:
        return sum(m.recist_diameter_mm for m in self.ms(track, t))

    def long_axis(self, track: Track, t: int) -> float:
        return sum(m.long_axis.length_mm for m in self.ms(track, t))

    def present(self, track: Track, t: int) -> bool:
        return bool(track.components_at(t)) and t not in track.merged_into


def _timepoints(tracks: Sequence[Track], measurements: Sequence[LesionMeasurement],
                timeline: Timeline | None) -> list[int]:
    if timeline is not None and timeline.timepoints:
        return sorted(tp.index for tp in timeline.timepoints)
    times = {m.timepoint for m in measurements}
    for t in tracks:
        times.update(t.members)
    return sorted(times)


def _slice_thickness(timeline: Timeline | None) -> float | None:
    if timeline is None or not timeline.timepoints:
        return None
    base = min(timeline.timepoints, key=lambda tp: tp.index)
    return float(base.series.spacing[2])


def _fmt(mm: float) -> str:
    return f"{mm:.1f} mm"


def _select_roles(data: _Data, rules: RecistRules, thickness: float | None,
                  overrides: Mapping[str, str], warnings: list[str]) -> None:
    base = data.baseline
    min_long = rules.min_long_axis_mm
    if thickness is not None and thickness > 5.0:
        min_long = max(min_long, 2.0 * thickness)
    candidates: list[tuple[float, Track]] = []
    reader_targets: list[Track] = []
    for track in data.tracks:
        if track.lesion_id in overrides:
            track.role, track.role_source = overrides[track.lesion_id], "reader"
            track.role_reason = f"{track.role} chosen by the reader"
        at_base = bool(track.components_at(base))
        if track.role_source == "reader" and track.role == ROLE_NEW:
            if not at_base:  # the reader confirms it: never equivocal
                track.role_reason = (f"new lesion confirmed by the reader (first seen at "
                                     f"timepoint {track.first_seen})")
                continue
            warnings.append(f"{track.lesion_id} was present at baseline, so it is not a new "
                            "lesion: the reader's role \"new\" is ignored.")
            track.role_source = "auto"
        if track.role_source == "reader":
            if track.role == ROLE_EXCLUDED:
                continue
            if not at_base:
                warnings.append(f"{track.lesion_id} was not present at baseline, so it is a new "
                                f"lesion, not a {track.role}.")
                track.role, track.role_source = ROLE_NEW, "auto"
                track.role_reason = f"first seen at timepoint {track.first_seen}"
                continue
            if track.role == ROLE_TARGET:
                reader_targets.append(track)
            continue
        track.role_source = "auto"
        if not at_base:
            track.role, track.role_reason = ROLE_NEW, f"first seen at timepoint {track.first_seen}"
            continue
        ms = data.ms(track, base)
        if track.is_lymph_node:
            short = data.diameter(track, base)
            if short < rules.node_pathological_mm - _TOL:
                track.role = ROLE_EXCLUDED
                track.role_reason = (f"normal-sized lymph node (short axis {_fmt(short)} < "
                                     f"{rules.node_pathological_mm:g} mm): not disease under RECIST 1.1")
                continue
            if short < rules.node_target_short_mm - _TOL:
                track.role = ROLE_NON_TARGET
                track.role_reason = (f"pathological lymph node, short axis {_fmt(short)} "
                                     f"({rules.node_pathological_mm:g}-{rules.node_target_short_mm:g} "
                                     "mm): non-target")
                continue
            size = short
        else:
            size = data.long_axis(track, base)
            if size < min_long - _TOL:
                track.role = ROLE_NON_TARGET
                track.role_reason = (f"not measurable (long axis {_fmt(size)} < {min_long:g} mm): "
                                     "non-target")
                continue
        if any(m.touches_border for m in ms):
            track.role = ROLE_NON_TARGET
            track.role_reason = "cut by the edge of the scan at baseline, so not reliably measurable"
            continue
        candidates.append((size, track))
    if len(reader_targets) > rules.max_targets:
        warnings.append(f"The reader chose {len(reader_targets)} targets; RECIST 1.1 allows "
                        f"{rules.max_targets}.")
    per_organ: dict[str, int] = {}
    for t in reader_targets:
        per_organ[_organ_key(t)] = per_organ.get(_organ_key(t), 0) + 1
    count = len(reader_targets)
    candidates.sort(key=lambda c: (-c[0], _id_order(c[1].lesion_id)))
    for size, track in candidates:
        organ = _organ_key(track)
        what = "short axis" if track.is_lymph_node else "long axis"
        if count >= rules.max_targets:
            track.role = ROLE_NON_TARGET
            track.role_reason = (f"measurable ({what} {_fmt(size)}) but not among the "
                                 f"{rules.max_targets} largest: non-target")
        elif per_organ.get(organ, 0) >= rules.max_per_organ:
            track.role = ROLE_NON_TARGET
            track.role_reason = (f"measurable ({what} {_fmt(size)}) but {organ} already has "
                                 f"{rules.max_per_organ} larger targets: non-target")
        else:
            track.role = ROLE_TARGET
            per_organ[organ] = per_organ.get(organ, 0) + 1
            count += 1
            track.role_reason = (f"measurable ({what} {_fmt(size)}), among the "
                                 f"{rules.max_per_organ} largest in {organ}")


def _organ_key(track: Track) -> str:
    return "lymph node" if track.is_lymph_node else track.organ


def _id_order(lesion_id: str) -> tuple[int, str]:
    digits = lesion_id[1:]
    return (int(digits) if digits.isdigit() else 10**9, lesion_id)


def _target_value(data: _Data, track: Track, t: int) -> float | None:
    """mm counted for a target at ``t``; None when not evaluable."""
    ms = data.ms(track, t)
    if any(m.touches_border for m in ms):
        return None
    primary_id = track.merged_into.get(t)
    if primary_id is not None:
        primary = data.by_id.get(primary_id)
        if primary is not None and primary.role == ROLE_TARGET:
            return 0.0
    return sum(m.recist_diameter_mm for m in ms)


def _pct(value: float, ref: float) -> float | None:
    return None if ref <= 0 else 100.0 * (value - ref) / ref


def _overall(target: str, non_target: str, new: bool) -> str:
    if target == PD or non_target == PD or new:
        return PD
    if target == NONE:  # RECIST 1.1 table 2: non-target disease only
        if non_target == NONE:
            return NE
        return {CR: CR, NE: NE}.get(non_target, NON_CR_NON_PD)
    if target == CR:
        return CR if non_target in (CR, NONE) else PR
    if target == PR:
        return PR
    if target == SD:
        return SD
    return NE


def assess(
    tracks: Sequence[Track],
    measurements: Sequence[LesionMeasurement],
    timeline: Timeline | None = None,
    *,
    overrides: Mapping[str, str] | None = None,
    registrations: Sequence[RegistrationResult] = (),
    not_evaluable: Mapping[int, str] | None = None,
    non_target_progression: Mapping[int, bool] | None = None,
    rules: RecistRules | None = None,
    warnings: list[str] | None = None,
    corrections: CorrectionSet | Sequence[Correction] | None = None,
) -> tuple[list[Track], list[RecistTimepoint]]:
    """Roles for copies of ``tracks`` and the RECIST 1.1 row of every timepoint.

    ``overrides`` maps lesion ids to roles chosen by the reader; ``registrations``
    marks timepoints whose registration failed as not evaluable, as does
    ``not_evaluable`` (timepoint -> reason); ``non_target_progression`` records the
    reader's call of unequivocal non-target progression per timepoint.  The role
    operations of ``corrections`` (exclude, include, set_role) are applied again here,
    so roles hold even for tracks matched without them.  Problems go to ``warnings``.
    """
    rules = rules or RecistRules()
    sink: list[str] = [] if warnings is None else warnings
    tracks = [copy.deepcopy(t) for t in tracks]
    if corrections:
        items = corrections.corrections if isinstance(corrections, CorrectionSet) else corrections
        roles = [c for c in items if c.op in ROLE_OPS]
        if roles:
            index = {(m.timepoint, m.component): m for m in measurements}
            outcome = apply_corrections(tracks, index, roles)
            tracks = outcome.tracks
            sink.extend(w for w in outcome.warnings if w not in sink)
    times = _timepoints(tracks, measurements, timeline)
    if not times:
        return tracks, []
    data = _Data(tracks, measurements, times)
    _select_roles(data, rules, _slice_thickness(timeline), overrides or {}, sink)
    bad = dict(not_evaluable or {})
    for reg in registrations:
        if reg.status == REG_FAILED:
            bad.setdefault(reg.timepoint, f"registration failed ({reg.message})")
    rows = _responses(data, rules, bad, non_target_progression or {}, _titles(timeline, times))
    return tracks, rows


def _titles(timeline: Timeline | None, times: Sequence[int]) -> dict[int, str]:
    """How the reasons name a timepoint: ``"follow-up 1 (2024-02-01)"``."""
    out = {t: f"timepoint {t}" for t in times}
    for tp in timeline.timepoints if timeline is not None else ():
        out[tp.index] = f"{tp.label} ({tp.study_date.isoformat()})" if tp.study_date else tp.label
    return out


def _responses(data: _Data, rules: RecistRules, bad: Mapping[int, str],
               nt_call: Mapping[int, bool], titles: Mapping[int, str]) -> list[RecistTimepoint]:
    targets = sorted((t for t in data.tracks if t.role == ROLE_TARGET),
                     key=lambda t: _id_order(t.lesion_id))
    non_targets = [t for t in data.tracks if t.role == ROLE_NON_TARGET]
    counted = [t for t in data.tracks if t.role != ROLE_EXCLUDED]
    base = data.baseline
    base_values = {t.lesion_id: _target_value(data, t, base) or 0.0 for t in targets}
    base_sum = sum(base_values.values())
    base_volume = _total_volume(data, counted, base)
    nt_volumes = {t: _total_volume(data, non_targets, t) for t in data.times}
    rows = [RecistTimepoint(
        timepoint=base, sum_mm=base_sum if targets else None, target_diameters=base_values,
        change_from_baseline_pct=None, nadir_mm=None, change_from_nadir_pct=None,
        change_from_nadir_mm=None, target_response=BASELINE,
        non_target_response=BASELINE, new_lesions=(), overall_response=BASELINE,
        reason=(f"Baseline: {len(targets)} target lesion(s), sum {_fmt(base_sum)}; "
                f"{len(non_targets)} non-target lesion(s).") if targets or non_targets
        else "Baseline: no lesion to follow.",
        total_volume_ml=base_volume, volume_change_pct=None)]
    sums = [base_sum]
    counted_new: set[str] = set()
    pending: dict[str, int] = {}  # equivocal new lesion -> timepoint first seen equivocal
    for t in data.times[1:]:
        reason_bad = bad.get(t)
        values: dict[str, float] = {}
        missing: list[str] = []
        for track in targets:
            v = None if reason_bad else _target_value(data, track, t)
            if v is None:
                missing.append(track.lesion_id)
            else:
                values[track.lesion_id] = v
        nadir = min(sums)
        total = sum(values.values())
        target, parts = _target_response(data, rules, targets, values, missing, total,
                                         base_sum, nadir, reason_bad)
        if not missing and targets:
            sums.append(total)
        non_target, nt_reason = _non_target_response(data, rules, non_targets, t, reason_bad,
                                                     nt_call.get(t), nt_volumes)
        new = _new_lesions(data, rules, t, reason_bad, counted_new, pending, titles)
        overall = _overall(target, non_target, bool(new.counted))
        reason = f"{parts} Non-targets: {nt_reason} {new.text()}. Overall {overall}."
        volume = _total_volume(data, counted, t)
        full = targets and not missing
        rows.append(RecistTimepoint(
            timepoint=t, sum_mm=total if full else None, target_diameters=values,
            change_from_baseline_pct=_pct(total, base_sum) if full else None,
            nadir_mm=nadir if targets else None,
            change_from_nadir_pct=_pct(total, nadir) if full else None,
            change_from_nadir_mm=(total - nadir) if full else None,
            target_response=target, non_target_response=non_target,
            new_lesions=tuple(new.counted), overall_response=overall, reason=reason,
            total_volume_ml=volume, volume_change_pct=_pct(volume, base_volume),
            equivocal_new_lesions=tuple(new.equivocal), confirmed_new_lesions=new.confirmed))
    return rows


def _target_response(data: _Data, rules: RecistRules, targets: list[Track],
                     values: dict[str, float], missing: list[str], total: float,
                     base_sum: float, nadir: float, reason_bad: str | None) -> tuple[str, str]:
    if not targets:
        return NONE, "No target lesions."
    rise = total - nadir
    rise_pct = _pct(total, nadir)
    # A nadir of 0 (all targets gone) has no percentage: 5 mm of regrowth is progression.
    progressed = rise >= rules.pd_change_mm - _TOL and (
        rise_pct is None or rise_pct >= rules.pd_change_pct - _TOL)
    nadir_text = (f"{rise:+.1f} mm" + (f" ({rise_pct:+.1f}%)" if rise_pct is not None else "")
                  + f" over the nadir {_fmt(nadir)}")
    if missing:
        why = reason_bad or "cut by the edge of the scan"
        if progressed:
            return PD, (f"Targets: {', '.join(missing)} not evaluable ({why}), but the others "
                        f"alone sum {_fmt(total)}, {nadir_text}: PD.")
        return NE, f"Targets: {', '.join(missing)} not evaluable ({why}): NE."
    from_base = _pct(total, base_sum)
    base_text = (f"{from_base:+.1f}% from baseline {_fmt(base_sum)}" if from_base is not None
                 else f"baseline {_fmt(base_sum)}")
    gone = all(values[t.lesion_id] <= _TOL for t in targets if not t.is_lymph_node)
    nodes_small = all(values[t.lesion_id] < rules.node_pathological_mm - _TOL
                      for t in targets if t.is_lymph_node)
    if gone and nodes_small:
        return CR, (f"Targets: sum {_fmt(total)}, every non-nodal target gone and every target "
                    f"node < {rules.node_pathological_mm:g} mm: CR.")
    if progressed:
        return PD, (f"Targets: sum {_fmt(total)}, {nadir_text} (>= {rules.pd_change_pct:g}% and "
                    f">= {rules.pd_change_mm:g} mm): PD.")
    if from_base is not None and from_base <= rules.pr_change_pct + _TOL:
        return PR, f"Targets: sum {_fmt(total)}, {base_text}: PR."
    return SD, f"Targets: sum {_fmt(total)}, {base_text}, {nadir_text}: SD."


def _non_target_response(data: _Data, rules: RecistRules, non_targets: list[Track], t: int,
                         reason_bad: str | None, reader_call: bool | None,
                         volumes: Mapping[int, float]) -> tuple[str, str]:
    if not non_targets:
        return NONE, "none."
    if reader_call:
        return PD, "unequivocal progression (the reader's call): PD."
    if reason_bad:
        return NE, f"not evaluable ({reason_bad}): NE."
    before = [volumes[x] for x in data.times if x < t]
    nadir = min(before) if before else volumes[data.baseline]
    now = volumes[t]
    growth = _pct(now, nadir)
    if (reader_call is None and growth is not None
            and now - nadir >= rules.non_target_pd_min_ml - _TOL
            and growth >= rules.non_target_pd_volume_pct - _TOL):
        return PD, (f"total volume {now:.2f} mL, {growth:+.0f}% over its nadir "
                    f"{nadir:.2f} mL (automatic proxy for unequivocal progression): PD.")
    present = [x for x in non_targets if data.present(x, t) and not (
        x.is_lymph_node and data.diameter(x, t) < rules.node_pathological_mm - _TOL)]
    if not present:
        return CR, "all gone (nodes < 10 mm): CR."
    return NON_CR_NON_PD, f"{len(present)} of {len(non_targets)} still present: Non-CR/Non-PD."


@dataclass
class _NewLesions:
    """The new lesions at one timepoint: those counted (PD), which of them confirm an
    equivocal finding (lesion id -> timepoint first seen), those held equivocal, and the
    reason's phrases about the equivocal ones."""

    counted: list[str] = field(default_factory=list)
    confirmed: dict[str, int] = field(default_factory=dict)
    equivocal: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        if self.counted:
            head = f"new lesion(s) {', '.join(self.counted)}"
        else:
            head = "no unequivocal new lesion" if self.equivocal else "no new lesion"
        text = "; ".join([head, *self.notes])
        return text[0].upper() + text[1:]


def _new_lesions(data: _Data, rules: RecistRules, t: int, reason_bad: str | None,
                 counted: set[str], pending: dict[str, int],
                 titles: Mapping[int, str]) -> _NewLesions:
    """New lesions at ``t`` (see the module notes); updates ``counted`` and ``pending``."""
    out = _NewLesions()
    if reason_bad:
        return out
    threshold = rules.equivocal_below
    for track in sorted(data.tracks, key=lambda x: _id_order(x.lesion_id)):
        lid = track.lesion_id
        if track.role != ROLE_NEW or lid in counted:
            continue
        if not data.present(track, t):
            if lid in pending and not track.components_at(t):
                out.notes.append(f"{lid} (equivocal at {titles[pending.pop(lid)]}) is gone: "
                                 "never confirmed, no progression from it")
            continue
        small = _too_small(data, rules, track, t)
        score = lesion_score(data.ms(track, t))
        doubtful = (threshold is not None and track.role_source != "reader"
                    and score is not None and score < threshold)
        if not small and not doubtful:
            counted.add(lid)
            out.counted.append(lid)
            if lid in pending:
                first = out.confirmed[lid] = pending.pop(lid)
                out.notes.append(f"{lid} confirms the equivocal new lesion first seen at "
                                 f"{titles[first]} ({_confidence(score, threshold, 'at least')}"
                                 "): progression dates from that scan")
        elif lid in pending:
            out.equivocal.append(lid)
            why = _confidence(score, threshold, "below") if doubtful else small
            out.notes.append(f"{lid} (equivocal since {titles[pending[lid]]}; now {why}): "
                             "still equivocal, PD only if a later scan confirms it")
        elif doubtful and not small:
            pending[lid] = t
            out.equivocal.append(lid)
            out.notes.append(f"{lid} (new, {_confidence(score, threshold, 'below')}): "
                             "equivocal, PD only if a later scan confirms it")
    return out


def _too_small(data: _Data, rules: RecistRules, track: Track, t: int) -> str:
    """Why a new lesion is too small to count at ``t`` ("" when it is not)."""
    if track.is_lymph_node:
        size, least, what = data.diameter(track, t), rules.node_pathological_mm, "short axis"
    else:
        size, least, what = data.long_axis(track, t), rules.new_lesion_min_mm, "long axis"
    return "" if size >= least - _TOL else f"{what} {_fmt(size)} < {least:g} mm"


def _confidence(score: float | None, threshold: float | None, word: str) -> str:
    """``"confidence 0.41, below 0.62"`` (more digits when two would read the same)."""
    if score is None:
        return "confidence unknown"
    if threshold is None:
        return f"confidence {score:.2f}"
    digits = 2
    while digits < 4 and score != threshold and f"{score:.{digits}f}" == f"{threshold:.{digits}f}":
        digits += 1
    return f"confidence {score:.{digits}f}, {word} {threshold:.{digits}f}"


def _total_volume(data: _Data, tracks: Sequence[Track], t: int) -> float:
    comps = {c for track in tracks for c in track.components_at(t)}
    return float(sum(data.index[(t, c)].volume_ml for c in comps if (t, c) in data.index))


def volume_changes(tracks: Sequence[Track], measurements: Sequence[LesionMeasurement],
                   timepoints: Sequence[int] | None = None) -> list[LesionVolume]:
    """Each lesion's volume at each timepoint, with its change from baseline and from the
    previous timepoint (a merged lesion's shared volume counts for the larger track)."""
    index = {(m.timepoint, m.component): m for m in measurements}
    times = sorted(timepoints) if timepoints is not None else sorted(
        {m.timepoint for m in measurements} | {t for tr in tracks for t in tr.members})
    out = []
    for track in sorted(tracks, key=lambda t: _id_order(t.lesion_id)):
        base: float | None = None
        prev: float | None = None
        for t in times:
            comps = track.components_at(t)
            vol = None
            if comps and t not in track.merged_into:
                vol = float(sum(index[(t, c)].volume_ml for c in comps if (t, c) in index))
            elif t in track.merged_into:
                vol = 0.0
            elif times and t > times[0] and track.first_seen < t:
                vol = 0.0  # gone
            if t == times[0]:
                base = vol
            out.append(LesionVolume(
                track.lesion_id, t, vol,
                _pct(vol, base) if vol is not None and base else None,
                _pct(vol, prev) if vol is not None and prev else None))
            if vol is not None:
                prev = vol
    return out
