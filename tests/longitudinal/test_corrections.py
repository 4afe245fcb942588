"""The reader's corrections sidecar: file round trip, bad files, re-applied on every rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interval.longitudinal.corrections import (
    SCHEMA_VERSION,
    Anchor,
    CorrectionsError,
    CorrectionSet,
    anchor_for,
    applied_operations,
    load_corrections,
    save_corrections,
)
from interval.longitudinal.matching import match_lesions
from interval.longitudinal.model import (
    EVENT_MATCH,
    ROLE_EXCLUDED,
    ROLE_NON_TARGET,
    ROLE_TARGET,
)
from interval.longitudinal.recist import assess
from tests.longitudinal.test_matching import _timepoint, _track_at


def _anchor(tp, centre_i: float, lesion_id: str = "") -> Anchor:
    m = min(tp.measurements, key=lambda x: abs(x.centroid_lps[0] - centre_i))
    return anchor_for(m, lesion_id)


def test_round_trip_is_atomic_and_versioned(tmp_path: Path) -> None:
    cs = CorrectionSet()
    cs.add("link", [Anchor(0, (1.0, 2.0, 3.0), "L1"), Anchor(2, (1.5, 2.0, 3.0), "L4")])
    cs.add("rename", [Anchor(1, (0.0, 0.0, 0.0), "L2")], value="segment VII mass")
    cs.add("set_role", [Anchor(0, (5.0, 5.0, 5.0), "L3")], value="target")
    path = save_corrections(tmp_path / "corrections.json", cs)
    assert [p.name for p in tmp_path.iterdir()] == ["corrections.json"]
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA_VERSION and data["kind"] == "interval.lesion-corrections"
    back = load_corrections(path)
    assert back.corrections == cs.corrections and back.warnings == []
    assert applied_operations(back) == data["corrections"]
    assert load_corrections(tmp_path / "absent.json").corrections == []
    with pytest.raises(ValueError, match="unknown role"):
        cs.add("set_role", [Anchor(0, (0.0, 0.0, 0.0))], value="boss")


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ('{"schema": 1, "kind": "something else", "corrections": []}', "kind 'something else'"),
    ('{"schema": 99, "corrections": []}', "newer than this Interval reads"),
    ('{"corrections": []}', "no schema version"),
    ('[1, 2]', "not an Interval corrections file"),
])
def test_unreadable_sidecar_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "corrections.json"
    path.write_text(content)
    with pytest.raises(CorrectionsError, match=message) as info:
        load_corrections(path)
    assert str(info.value).startswith("corrections.json: ")


def test_malformed_entries_are_skipped_with_warnings(tmp_path: Path) -> None:
    good = {"op": "exclude", "anchors": [{"timepoint": 0, "point_lps": [1, 2, 3]}]}
    entries = [
        good,
        {"op": "teleport", "anchors": []},
        {"op": "link", "anchors": [{"timepoint": 0, "point_lps": [1, 2, 3]}]},
        {"op": "exclude", "anchors": [{"timepoint": -1, "point_lps": [1, 2, 3]}]},
        {"op": "exclude", "anchors": [{"timepoint": 0, "point_lps": [1, "x", 3]}]},
        {"op": "set_role", "value": "boss",
         "anchors": [{"timepoint": 0, "point_lps": [1, 2, 3]}]},
        "just text",
    ]
    path = tmp_path / "corrections.json"
    path.write_text(json.dumps({"schema": 1, "corrections": entries}))
    cs = load_corrections(path)
    assert [c.op for c in cs.corrections] == ["exclude"]
    assert len(cs.warnings) == 6
    assert any("unknown operation 'teleport'" in w for w in cs.warnings)
    assert any("link needs two lesions" in w for w in cs.warnings)


# --- applied by the matcher -----------------------------------------------------------------


def _moved_far():
    """A lesion that moved beyond the gate: the matcher says vanished + new."""
    return [_timepoint(0, [((20, 30, 20), 6), ((20, 30, 95), 8)]),
            _timepoint(1, [((20, 30, 60), 6), ((20, 30, 95), 8)]),
            _timepoint(2, [((20, 30, 61), 7), ((20, 30, 95), 8)])]


def test_link_fixes_a_missed_match_and_survives_renumbering() -> None:
    tps = _moved_far()
    auto = match_lesions(tps)
    assert len(auto.tracks) == 3
    cs = CorrectionSet()
    moved = _track_at(auto.tracks, 1, 60, tps[1])
    cs.add("link", [_anchor(tps[0], 20, "L2"), _anchor(tps[1], 60, moved.lesion_id)])
    fixed = match_lesions(tps, corrections=cs)
    assert len(fixed.tracks) == 2 and not fixed.warnings
    linked = _track_at(fixed.tracks, 0, 20, tps[0])
    assert all(linked.components_at(t) for t in range(3))
    ev = next(e for e in fixed.events if e.lesions == (linked.lesion_id,) and e.to_timepoint == 1)
    assert ev.kind == EVENT_MATCH and ev.source == "reader"
    assert fixed.corrections[0]["status"] == "applied"
    # A rerun where a new, larger baseline lesion shifts every id: still applied.
    rerun = [_timepoint(0, [((20, 30, 20), 6), ((20, 30, 95), 8), ((25, 45, 50), 10)]),
             _timepoint(1, [((20, 30, 60), 6), ((20, 30, 95), 8), ((25, 45, 50), 10)]),
             _timepoint(2, [((20, 30, 61), 7), ((20, 30, 95), 8), ((25, 45, 50), 10)])]
    again = match_lesions(rerun, corrections=cs)
    linked = _track_at(again.tracks, 0, 20, rerun[0])
    assert linked.lesion_id != "L2" and all(linked.components_at(t) for t in range(3))
    assert len(again.tracks) == 3 and again.corrections[0]["status"] == "applied"


def test_unlink_merge_split_and_roles() -> None:
    tps = [_timepoint(0, [((20, 30, 20), 6), ((20, 30, 34), 4), ((20, 30, 95), 8)]),
           _timepoint(1, [((20, 30, 20), 6), ((20, 30, 34), 4), ((20, 30, 89), 5),
                          ((20, 30, 101), 5)])]
    auto = match_lesions(tps)
    split = _track_at(auto.tracks, 0, 95, tps[0])
    assert len(split.components_at(1)) == 2
    cs = CorrectionSet()
    # The two parts at follow-up are different lesions; the two small ones are one lesion.
    cs.add("split", [_anchor(tps[1], 89), _anchor(tps[1], 101)])
    cs.add("merge", [_anchor(tps[0], 20), _anchor(tps[0], 34)])
    cs.add("rename", [_anchor(tps[1], 20)], value="hilar mass")
    cs.add("set_role", [_anchor(tps[0], 95)], value="non-target")
    res = match_lesions(tps, corrections=cs)
    assert [c["status"] for c in res.corrections] == ["applied"] * 4
    part = _track_at(res.tracks, 1, 101, tps[1])
    assert part.first_seen == 1 and part is not _track_at(res.tracks, 1, 89, tps[1])
    merged = _track_at(res.tracks, 0, 20, tps[0])
    assert len(merged.components_at(0)) == 2 and len(merged.components_at(1)) == 2
    assert merged.name == "hilar mass"
    assert len(res.tracks) == 3
    tracks, _rows = assess(res.tracks, [m for tp in tps for m in tp.measurements])
    roles = {t.lesion_id: (t.role, t.role_source) for t in tracks}
    big = _track_at(tracks, 0, 95, tps[0])
    assert roles[big.lesion_id] == (ROLE_NON_TARGET, "reader")
    assert roles[merged.lesion_id][0] == ROLE_TARGET  # 24 mm: the only target left
    # Unlink: the follow-up part is not the baseline lesion's continuation.
    cs2 = CorrectionSet()
    cs2.add("unlink", [_anchor(tps[0], 20), _anchor(tps[1], 20)])
    res2 = match_lesions(tps, corrections=cs2)
    cut = _track_at(res2.tracks, 1, 20, tps[1])
    assert cut.first_seen == 1 and cut.components_at(0) == []
    assert _track_at(res2.tracks, 0, 20, tps[0]).components_at(1) == []


def test_exclude_and_include_are_honoured_by_recist() -> None:
    tps = [_timepoint(0, [((20, 30, 20), 8), ((20, 30, 90), 6)]),
           _timepoint(1, [((20, 30, 20), 8), ((20, 30, 90), 6)])]
    measurements = [m for tp in tps for m in tp.measurements]
    cs = CorrectionSet()
    cs.add("exclude", [_anchor(tps[0], 20)])
    res = match_lesions(tps, corrections=cs)
    tracks, rows = assess(res.tracks, measurements)
    excluded = _track_at(tracks, 0, 20, tps[0])
    assert excluded.role == ROLE_EXCLUDED and excluded.role_source == "reader"
    assert excluded.lesion_id not in rows[0].target_diameters
    # assess re-applies role operations itself (tracks matched without them).
    plain = match_lesions(tps)
    again, _ = assess(plain.tracks, measurements, corrections=cs)
    assert _track_at(again, 0, 20, tps[0]).role == ROLE_EXCLUDED
    cs.add("include", [_anchor(tps[1], 20)])
    back, _ = assess(match_lesions(tps, corrections=cs).tracks, measurements)
    assert _track_at(back, 0, 20, tps[0]).role == ROLE_TARGET


def test_operations_that_no_longer_fit_become_warnings() -> None:
    tps = _moved_far()
    cs = CorrectionSet()
    cs.add("exclude", [Anchor(0, (500.0, 500.0, 500.0), "L9")])  # nothing there any more
    cs.add("link", [_anchor(tps[0], 95), _anchor(tps[1], 95)])  # already linked
    cs.add("link", [_anchor(tps[1], 60), _anchor(tps[0], 20)])  # backwards in time
    cs.add("split", [_anchor(tps[0], 20), _anchor(tps[1], 60)])  # different timepoints
    cs.add("rename", [Anchor(7, (0.0, 0.0, 0.0))], value="x")  # no such timepoint
    res = match_lesions(tps, corrections=cs)
    assert [c["status"] for c in res.corrections] == ["skipped"] * 5
    assert len(res.warnings) == 5
    assert "no lesion found at timepoint 0 near the point where L9 was" in res.warnings[0]
    assert "already linked" in res.warnings[1]
    assert len(res.tracks) == 3  # nothing changed
