"""RECIST 1.1 on constructed cases: target choice, sums, responses, reasons, volumes."""

from __future__ import annotations

import datetime as dt

import pytest

from interval.longitudinal.corrections import Anchor, CorrectionSet
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
    Axis,
    LesionMeasurement,
    RegistrationResult,
    SeriesChoice,
    Timeline,
    TimepointInfo,
    Track,
    lesion_score,
)
from interval.longitudinal.recist import RecistRules, assess, volume_changes


def _axis(length: float) -> Axis:
    return Axis(length, 0, (0, 0, 0), (0, 0, length), (0, 0, 0), (length, 0, 0))


def _m(t: int, comp: int, long: float, short: float | None = None, *, node: bool = False,
       organ: str = "liver", border: bool = False, volume: float | None = None,
       score: float | None = None, voxels: int = 100) -> LesionMeasurement:
    short = long * 0.6 if short is None else short
    vol = (long / 10.0) ** 3 if volume is None else volume
    return LesionMeasurement(
        timepoint=t, component=comp, label_value=10 if node else 9,
        label_name="lymph node" if node else "lesion", organ="lymph node" if node else organ,
        is_lymph_node=node, voxel_count=voxels, volume_ml=vol, long_axis=_axis(long),
        short_axis=_axis(short), max_diameter_3d_mm=long, centroid_lps=(comp * 50.0, 0, 0),
        touches_border=border, score=score)


def _track(n: int, members: dict[int, list[int]], organ: str = "liver", *, node: bool = False,
           merged: dict[int, str] | None = None) -> Track:
    seen = [t for t, c in sorted(members.items()) if c]
    return Track(f"L{n}", f"2.25.{n}", f"L{n}", "lymph node" if node else organ, node,
                 members=members, first_seen=seen[0] if seen else 0, merged_into=merged or {})


def _timeline(n: int, thickness: float = 1.0) -> Timeline:
    series = SeriesChoice("1.2", "s", 1, "CT", "", (512, 512, 100), (0.7, 0.7, thickness),
                          "axial", "only")
    tps = [TimepointInfo(i, f"tp{i}", f"1.{i}", dt.date(2024, 1 + i, 1), "", 30 * i, series)
           for i in range(n)]
    return Timeline("P1", "Doe^J", tps)


def _roles(tracks: list[Track]) -> dict[str, str]:
    return {t.lesion_id: t.role for t in tracks}


def test_target_selection_limits_and_reasons() -> None:
    sizes = [("liver", 50), ("liver", 40), ("liver", 45), ("lung", 30), ("lung", 35),
             ("lung", 12), ("kidney", 22)]
    ms = [_m(0, i + 1, s, organ=o) for i, (o, s) in enumerate(sizes)]
    ms += [_m(0, 8, 30, 18, node=True), _m(0, 9, 28, 25, node=True), _m(0, 10, 20, 16, node=True)]
    tracks = [_track(i + 1, {0: [i + 1]}, organ=sizes[i][0] if i < 7 else "lymph node",
                     node=i >= 7) for i in range(10)]
    out, rows = assess(tracks, ms, _timeline(1))
    roles = _roles(out)
    targets = [t for t in out if t.role == ROLE_TARGET]
    assert len(targets) == 5
    per_organ: dict[str, int] = {}
    for t in targets:
        per_organ[t.organ] = per_organ.get(t.organ, 0) + 1
    assert max(per_organ.values()) <= 2
    # Largest first: liver 50, 45 (not 40: third in liver), lung 35, 30, node 25 (short axis).
    assert {t.lesion_id for t in targets} == {"L1", "L3", "L5", "L4", "L9"}
    assert roles["L8"] == ROLE_NON_TARGET  # node, short axis 18 mm: measurable, 6th largest
    assert roles["L2"] == ROLE_NON_TARGET and "liver already has 2" in out[1].role_reason
    assert roles["L7"] == ROLE_NON_TARGET and "not among the 5 largest" in out[6].role_reason
    assert "short axis 25.0 mm" in out[8].role_reason
    assert rows[0].target_response == "baseline"
    assert rows[0].sum_mm == pytest.approx(50 + 45 + 35 + 30 + 25)


def test_measurability_nodes_and_slice_thickness() -> None:
    ms = [_m(0, 1, 8.0), _m(0, 2, 11.0), _m(0, 3, 30, 12, node=True), _m(0, 4, 12, 8, node=True),
          _m(0, 5, 25, border=True)]
    tracks = [_track(i, {0: [i]}, node=i in (3, 4)) for i in range(1, 6)]
    out, _ = assess(tracks, ms, _timeline(1, thickness=1.0))
    assert _roles(out) == {"L1": ROLE_NON_TARGET, "L2": ROLE_TARGET, "L3": ROLE_NON_TARGET,
                           "L4": ROLE_EXCLUDED, "L5": ROLE_NON_TARGET}
    assert "normal-sized lymph node" in out[3].role_reason and out[3].role_source == "auto"
    assert "not measurable (long axis 8.0 mm" in out[0].role_reason
    assert "edge of the scan" in out[4].role_reason
    thick, _ = assess(tracks, ms, _timeline(1, thickness=6.0))  # needs 12 mm now
    assert _roles(thick)["L2"] == ROLE_NON_TARGET


def test_reader_overrides_win() -> None:
    ms = [_m(0, 1, 40), _m(0, 2, 30), _m(0, 3, 8)]
    tracks = [_track(i, {0: [i], 1: [i]}) for i in range(1, 4)]
    ms += [_m(1, 1, 40), _m(1, 2, 30), _m(1, 3, 8)]
    out, _ = assess(tracks, ms, _timeline(2), overrides={"L3": ROLE_TARGET, "L1": ROLE_EXCLUDED})
    roles = _roles(out)
    assert roles == {"L1": ROLE_EXCLUDED, "L2": ROLE_TARGET, "L3": ROLE_TARGET}
    assert out[2].role_source == "reader" and out[0].role_source == "reader"
    assert tracks[0].role == ROLE_NON_TARGET  # the input is not modified


def _one_target_course(sizes: list[float], **kw) -> list:
    ms = [_m(t, 1, s) for t, s in enumerate(sizes)]
    tracks = [_track(1, {t: [1] for t in range(len(sizes))})]
    _, rows = assess(tracks, ms, _timeline(len(sizes)), **kw)
    return rows


def test_partial_response_exactly_at_minus_30_percent() -> None:
    ms = [_m(0, 1, 30), _m(0, 2, 20), _m(1, 1, 21), _m(1, 2, 14)]
    tracks = [_track(1, {0: [1], 1: [1]}), _track(2, {0: [2], 1: [2]})]
    _, rows = assess(tracks, ms, _timeline(2))
    row = rows[1]
    assert row.sum_mm == pytest.approx(35.0)
    assert row.change_from_baseline_pct == pytest.approx(-30.0)
    assert row.target_response == PR and row.overall_response == PR
    assert "sum 35.0 mm, -30.0% from baseline 50.0 mm: PR" in row.reason
    just_short = _one_target_course([50.0, 35.1])[1]
    assert just_short.target_response == SD


def test_progression_needs_20_percent_and_5_mm_over_the_nadir() -> None:
    rows = _one_target_course([40.0, 20.0, 24.0, 25.0])
    # 24 mm: +20% over the nadir but only +4 mm, still -40% from baseline: PR.
    assert [r.target_response for r in rows] == ["baseline", PR, PR, PD]
    assert rows[2].nadir_mm == pytest.approx(20.0)
    assert rows[2].change_from_nadir_pct == pytest.approx(20.0)  # +20% but only +4 mm
    assert rows[2].change_from_nadir_mm == pytest.approx(4.0)
    assert rows[3].change_from_nadir_mm == pytest.approx(5.0)
    assert "+5.0 mm (+25.0%) over the nadir 20.0 mm" in rows[3].reason
    assert rows[3].overall_response == PD
    stable = _one_target_course([20.0, 20.0, 24.0])
    assert stable[2].change_from_nadir_pct == pytest.approx(20.0)
    assert stable[2].target_response == SD and stable[2].overall_response == SD


def test_new_lesion_makes_progression_once_unequivocal() -> None:
    ms = [_m(0, 1, 30), _m(1, 1, 30), _m(1, 2, 3.0), _m(2, 1, 30), _m(2, 2, 7.0)]
    tracks = [_track(1, {0: [1], 1: [1], 2: [1]}), _track(2, {0: [], 1: [2], 2: [2]})]
    out, rows = assess(tracks, ms, _timeline(3))
    assert _roles(out)["L2"] == ROLE_NEW
    assert rows[1].new_lesions == () and rows[1].overall_response == SD  # 3 mm: equivocal
    assert rows[2].new_lesions == ("L2",) and rows[2].target_response == SD
    assert rows[2].overall_response == PD and "New lesion(s) L2" in rows[2].reason


def test_complete_response_with_a_small_node_and_the_overall_table() -> None:
    ms = [_m(0, 1, 30), _m(0, 2, 30, 20, node=True), _m(0, 3, 9.0),
          _m(1, 2, 12, 8, node=True), _m(1, 3, 9.0), _m(2, 2, 12, 8, node=True)]
    tracks = [_track(1, {0: [1], 1: [], 2: []}),
              _track(2, {0: [2], 1: [2], 2: [2]}, node=True),
              _track(3, {0: [3], 1: [3], 2: []})]
    out, rows = assess(tracks, ms, _timeline(3))
    assert _roles(out) == {"L1": ROLE_TARGET, "L2": ROLE_TARGET, "L3": ROLE_NON_TARGET}
    assert rows[1].target_response == CR and rows[1].sum_mm == pytest.approx(8.0)
    assert rows[1].non_target_response == NON_CR_NON_PD
    assert rows[1].overall_response == PR  # target CR + non-target present: PR (table 1)
    assert rows[2].non_target_response == CR and rows[2].overall_response == CR


def test_not_evaluable_border_and_failed_registration() -> None:
    ms = [_m(0, 1, 30), _m(0, 2, 20), _m(1, 1, 30, border=True), _m(1, 2, 20),
          _m(2, 1, 30), _m(2, 2, 20)]
    tracks = [_track(1, {0: [1], 1: [1], 2: [1]}), _track(2, {0: [2], 1: [2], 2: [2]})]
    regs = [RegistrationResult(2, 0, "affine", REG_FAILED, "body overlap 0.31")]
    _, rows = assess(tracks, ms, _timeline(3), registrations=regs)
    assert rows[1].target_response == NE and rows[1].sum_mm is None
    assert "L1 not evaluable (cut by the edge of the scan)" in rows[1].reason
    assert rows[2].target_response == NE and rows[2].overall_response == NE
    assert "registration failed (body overlap 0.31)" in rows[2].reason
    # Progression shown by the evaluable targets alone is PD even with one NE.
    ms2 = [_m(0, 1, 30), _m(0, 2, 20), _m(1, 1, 30, border=True), _m(1, 2, 62)]
    _, rows2 = assess(tracks, ms2, _timeline(2))
    assert rows2[1].target_response == PD


def test_merged_and_split_targets() -> None:
    # L1 (30) and L2 (20) merge into one 45 mm lesion; L3 (25) splits into 10 + 12 mm.
    ms = [_m(0, 1, 30), _m(0, 2, 20), _m(0, 3, 25, organ="lung"),
          _m(1, 1, 45), _m(1, 2, 10, organ="lung"), _m(1, 3, 12, organ="lung")]
    tracks = [_track(1, {0: [1], 1: [1]}), _track(2, {0: [2], 1: [1]}, merged={1: "L1"}),
              _track(3, {0: [3], 1: [2, 3]}, organ="lung")]
    _, rows = assess(tracks, ms, _timeline(2))
    assert rows[1].target_diameters == {"L1": 45.0, "L2": 0.0, "L3": 22.0}
    assert rows[1].sum_mm == pytest.approx(67.0)
    assert rows[1].total_volume_ml == pytest.approx(4.5 ** 3 + 1.0 + 1.2 ** 3)  # merged once


def test_non_target_progression_and_no_targets() -> None:
    ms = [_m(0, 1, 8, volume=1.0), _m(1, 1, 9, volume=1.5), _m(2, 1, 12, volume=2.6)]
    tracks = [_track(1, {0: [1], 1: [1], 2: [1]})]
    _, rows = assess(tracks, ms, _timeline(3))
    assert rows[1].target_response == "none" and rows[1].non_target_response == NON_CR_NON_PD
    assert rows[1].overall_response == NON_CR_NON_PD  # RECIST table 2
    assert rows[2].non_target_response == PD and rows[2].overall_response == PD
    _, called = assess(tracks, ms, _timeline(3), non_target_progression={1: True, 2: False})
    assert called[1].non_target_response == PD and called[2].non_target_response == NON_CR_NON_PD


def test_volume_changes() -> None:
    ms = [_m(0, 1, 20, volume=2.0), _m(1, 1, 20, volume=3.0), _m(1, 2, 10, volume=0.5)]
    tracks = [_track(1, {0: [1], 1: [1], 2: []}), _track(2, {0: [], 1: [2], 2: []})]
    _, rows = assess(tracks, ms, _timeline(3))
    assert rows[1].total_volume_ml == pytest.approx(3.5)
    assert rows[1].volume_change_pct == pytest.approx(75.0)
    changes = {(v.lesion_id, v.timepoint): v for v in volume_changes(tracks, ms, [0, 1, 2])}
    assert changes[("L1", 1)].change_from_baseline_pct == pytest.approx(50.0)
    assert changes[("L1", 2)].volume_ml == 0.0 and changes[("L2", 0)].volume_ml is None
    assert changes[("L2", 1)].change_from_baseline_pct is None


# --- equivocal new lesions (RECIST 1.1 section 4.3.2) ------------------------------------

EQUIVOCAL = RecistRules(equivocal_below=0.62)


def _new_lesion_course(scores: list[float | None], sizes: list[float] | None = None,
                       **kw) -> tuple[list[Track], list]:
    """A stable 30 mm target L1 and a lesion L2 first seen at follow-up 1 (7 mm), with
    ``scores`` per follow-up (a size of 0 / a missing entry: L2 is absent there)."""
    sizes = sizes or [7.0] * len(scores)
    ms = [_m(t, 1, 30) for t in range(len(scores) + 1)]
    members: dict[int, list[int]] = {0: []}
    for t, (score, size) in enumerate(zip(scores, sizes, strict=True), start=1):
        members[t] = [2] if size else []
        if size:
            ms.append(_m(t, 2, size, score=score))
    tracks = [_track(1, {t: [1] for t in range(len(scores) + 1)}), _track(2, members)]
    return assess(tracks, ms, _timeline(len(scores) + 1), **kw)


def test_lesion_score_is_the_voxel_weighted_mean_and_unknown_if_any_part_is() -> None:
    parts = [_m(1, 1, 10, score=0.4, voxels=100), _m(1, 2, 10, score=0.8, voxels=300)]
    assert lesion_score(parts) == pytest.approx(0.7)
    assert lesion_score([*parts, _m(1, 3, 10)]) is None
    assert lesion_score([]) is None


def test_equivocal_new_lesion_is_no_progression_until_a_later_scan_confirms_it() -> None:
    out, rows = _new_lesion_course([0.41, 0.45, 0.80], rules=EQUIVOCAL)
    assert _roles(out)["L2"] == ROLE_NEW
    first, still, confirmed = rows[1], rows[2], rows[3]
    assert first.new_lesions == () and first.equivocal_new_lesions == ("L2",)
    assert first.overall_response == SD
    assert ("L2 (new, confidence 0.41, below 0.62): equivocal, PD only if a later scan "
            "confirms it") in first.reason
    assert "No unequivocal new lesion" in first.reason
    assert still.new_lesions == () and still.equivocal_new_lesions == ("L2",)
    assert still.overall_response == SD and "still equivocal" in still.reason
    assert "since tp1 (2024-02-01)" in still.reason
    # confirmed at follow-up 3: PD there, dated from the scan it was first seen at
    assert confirmed.new_lesions == ("L2",) and confirmed.equivocal_new_lesions == ()
    assert confirmed.confirmed_new_lesions == {"L2": 1}
    assert confirmed.overall_response == PD and confirmed.target_response == SD
    assert ("L2 confirms the equivocal new lesion first seen at tp1 (2024-02-01) "
            "(confidence 0.80, at least 0.62): progression dates from that scan"
            ) in confirmed.reason


def test_an_equivocal_lesion_that_disappears_never_makes_progression() -> None:
    _, rows = _new_lesion_course([0.41, None, None], sizes=[7.0, 0.0, 0.0], rules=EQUIVOCAL)
    assert [r.overall_response for r in rows[1:]] == [SD, SD, SD]
    assert rows[2].equivocal_new_lesions == () and rows[2].new_lesions == ()
    assert "L2 (equivocal at tp1 (2024-02-01)) is gone: never confirmed" in rows[2].reason
    assert "L2" not in rows[3].reason
    # back later and confident: a new finding from then, not dated from the first scan
    _, back = _new_lesion_course([0.41, None, 0.9], sizes=[7.0, 0.0, 7.0], rules=EQUIVOCAL)
    assert back[3].new_lesions == ("L2",) and back[3].overall_response == PD
    assert back[3].confirmed_new_lesions == {}


def test_unknown_score_or_no_threshold_counts_as_before() -> None:
    _, unknown = _new_lesion_course([None, None], rules=EQUIVOCAL)
    assert unknown[1].new_lesions == ("L2",) and unknown[1].overall_response == PD
    assert unknown[1].equivocal_new_lesions == ()
    _, no_rule = _new_lesion_course([0.1, 0.1])  # default rules: no equivocal rule
    assert no_rule[1].new_lesions == ("L2",) and no_rule[1].overall_response == PD
    assert no_rule[1].equivocal_new_lesions == () and "New lesion(s) L2" in no_rule[1].reason
    assert RecistRules().equivocal_below is None


def test_a_confident_new_lesion_is_progression_at_once() -> None:
    for score in (0.9, 0.62):  # at the threshold counts
        _, rows = _new_lesion_course([score, score], rules=EQUIVOCAL)
        assert rows[1].new_lesions == ("L2",) and rows[1].overall_response == PD
        assert rows[1].equivocal_new_lesions == () and rows[1].confirmed_new_lesions == {}
        assert rows[2].new_lesions == ()  # counted once


def test_too_small_is_not_equivocal_and_a_shrunken_equivocal_lesion_stays_pending() -> None:
    _, small = _new_lesion_course([0.3], sizes=[3.0], rules=EQUIVOCAL)
    assert small[1].equivocal_new_lesions == () and small[1].overall_response == SD
    _, rows = _new_lesion_course([0.41, 0.9, 0.9], sizes=[7.0, 3.0, 8.0], rules=EQUIVOCAL)
    assert rows[2].equivocal_new_lesions == ("L2",) and rows[2].overall_response == SD
    assert "now long axis 3.0 mm < 5 mm" in rows[2].reason
    assert rows[3].confirmed_new_lesions == {"L2": 1} and rows[3].overall_response == PD


def test_the_reader_confirms_or_dismisses_an_equivocal_lesion() -> None:
    # role "new" set by the reader in the corrections sidecar: counted at once
    confirm = CorrectionSet()
    confirm.add("set_role", [Anchor(1, (100.0, 0.0, 0.0), "L2")], value=ROLE_NEW)
    out, rows = _new_lesion_course([0.41, 0.45], rules=EQUIVOCAL, corrections=confirm)
    l2 = next(t for t in out if t.lesion_id == "L2")
    assert l2.role == ROLE_NEW and l2.role_source == "reader"
    assert "confirmed by the reader" in l2.role_reason
    assert rows[1].new_lesions == ("L2",) and rows[1].overall_response == PD
    assert rows[1].equivocal_new_lesions == ()
    # excluded by the reader: neither equivocal nor counted
    dismiss = CorrectionSet()
    dismiss.add("exclude", [Anchor(1, (100.0, 0.0, 0.0), "L2")])
    _, rows = _new_lesion_course([0.41, 0.9], rules=EQUIVOCAL, corrections=dismiss)
    assert all(r.equivocal_new_lesions == () and r.new_lesions == () for r in rows)
    assert rows[2].overall_response == SD
    # "new" for a lesion present at baseline is refused with a warning
    warnings: list[str] = []
    out, _ = _new_lesion_course([0.9], rules=EQUIVOCAL, overrides={"L1": ROLE_NEW},
                                warnings=warnings)
    assert _roles(out)["L1"] == ROLE_TARGET
    assert any("L1 was present at baseline" in w for w in warnings)
