"""RECIST 1.1 on constructed cases: target choice, sums, responses, reasons, volumes."""

from __future__ import annotations

import datetime as dt

import pytest

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
)
from interval.longitudinal.recist import assess, volume_changes


def _axis(length: float) -> Axis:
    return Axis(length, 0, (0, 0, 0), (0, 0, length), (0, 0, 0), (length, 0, 0))


def _m(t: int, comp: int, long: float, short: float | None = None, *, node: bool = False,
       organ: str = "liver", border: bool = False, volume: float | None = None) -> LesionMeasurement:
    short = long * 0.6 if short is None else short
    vol = (long / 10.0) ** 3 if volume is None else volume
    return LesionMeasurement(
        timepoint=t, component=comp, label_value=10 if node else 9,
        label_name="lymph node" if node else "lesion", organ="lymph node" if node else organ,
        is_lymph_node=node, voxel_count=100, volume_ml=vol, long_axis=_axis(long),
        short_axis=_axis(short), max_diameter_3d_mm=long, centroid_lps=(comp * 50.0, 0, 0),
        touches_border=border)


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
