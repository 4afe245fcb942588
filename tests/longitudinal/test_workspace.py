"""The longitudinal workspace (no Qt): open, lesion table, reader actions with undo, the
sidecar and workspace.json, export, and points mapped between timepoints.

Built on the report fixture (a synthetic patient measured by hand, 3 timepoints, 8
lesions: L1 and L3 new at follow-up 1, L2 gone at follow-up 2, L8 the only target).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from interval.core.errors import IntervalError
from interval.longitudinal.corrections import apply_axis_corrections, load_corrections
from interval.longitudinal.model import ROLE_EXCLUDED, ROLE_TARGET
from interval.longitudinal.recist import assess
from interval.longitudinal.report_common import lesion_at
from interval.longitudinal.report_json import read_report, write_report_json
from interval.longitudinal.workspace import ActionRefused, LongitudinalWorkspace
from interval.longitudinal.workspace_rows import response_rows
from interval.longitudinal.workspace_store import WORKSPACE_JSON
from tests.longitudinal._report_fixture import fresh_report, shared_case


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    write_report_json(fresh_report(shared_case()), folder / "report.json")
    return folder


def _shape(report):
    tracks = sorted((t.lesion_id, t.role, t.name, tuple((k, tuple(v)) for k, v in t.members.items()),
                     tuple(sorted(t.merged_into.items()))) for t in report.tracks)
    recist = [(r.timepoint, r.sum_mm, dict(r.target_diameters), r.target_response,
               r.non_target_response, r.new_lesions, r.overall_response) for r in report.recist]
    return tracks, recist


def _sum(ws, t):
    return next(r.sum_mm for r in ws.responses() if r.timepoint == t)


# --- opening ----------------------------------------------------------------------------------


def test_open_refuses_bad_folders_with_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(IntervalError, match="does not exist"):
        LongitudinalWorkspace.open(tmp_path / "nowhere")
    with pytest.raises(IntervalError, match="no report.json"):
        LongitudinalWorkspace.open(tmp_path)
    (tmp_path / "report.json").write_text("{broken")
    with pytest.raises(IntervalError, match="not valid JSON"):
        LongitudinalWorkspace.open(tmp_path)


def test_unreadable_sidecar_is_a_clear_error(out: Path) -> None:
    (out / "corrections.json").write_text("[1]")
    with pytest.raises(IntervalError, match="not an Interval corrections file"):
        LongitudinalWorkspace.open(out)


def test_rows_and_responses_match_the_report(out: Path) -> None:
    report = read_report(out / "report.json")
    ws = LongitudinalWorkspace.open(out)
    assert (out / WORKSPACE_JSON).is_file() and not ws.dirty and not ws.can_undo
    tracks, table = assess(report.tracks, report.measurements, report.timeline,
                           registrations=report.registrations)
    assert [r.lesion_id for r in ws.rows()] == [t.lesion_id for t in report.tracks]
    assert ws.responses() == response_rows(type(report)(timeline=report.timeline, recist=table))
    by_id = {t.lesion_id: t for t in tracks}
    for row in ws.rows():
        assert row.role == by_id[row.lesion_id].role
        for cell in row.cells:
            item = lesion_at(ws.report, by_id[row.lesion_id], cell.timepoint)
            assert cell.status == item.status
            assert cell.long_axis_mm == item.long_axis_mm
            assert cell.volume_ml == item.volume_ml
    l8 = next(r for r in ws.rows() if r.lesion_id == "L8")
    assert l8.is_target
    d0, d1 = l8.cells[0].recist_diameter_mm, l8.cells[1].recist_diameter_mm
    assert l8.cells[1].change_from_baseline_pct == pytest.approx(100 * (d1 - d0) / d0)
    l2 = next(r for r in ws.rows() if r.lesion_id == "L2")
    # one rule set with the lesion table (lesion_rows): a gone non-target has no value
    assert l2.is_non_target and l2.cells[2].status == "absent"
    assert l2.cells[2].recist_diameter_mm is None and l2.cells[2].change_from_baseline_pct is None
    # ... a gone target counts as RECIST counted it: 0 mm, -100 % from its baseline
    ws.set_role("L2", ROLE_TARGET)
    l2 = next(r for r in ws.rows() if r.lesion_id == "L2")
    assert l2.cells[2].recist_diameter_mm == 0.0 and l2.cells[2].change_from_baseline_pct == -100.0
    assert l2.cells[2].volume_change_from_baseline_pct == -100.0
    l1 = next(r for r in ws.rows() if r.lesion_id == "L1")
    assert l1.is_new and l1.cells[0].change_from_baseline_pct is None


# --- actions ----------------------------------------------------------------------------------


def test_exclude_set_role_rename_each_undoable(out: Path) -> None:
    ws = LongitudinalWorkspace.open(out)
    seen = []
    ws.subscribe(seen.append)
    base_sum = _sum(ws, 0)
    before = _shape(ws.report)

    ws.exclude("L5")
    row = next(r for r in ws.rows() if r.lesion_id == "L5")
    assert row.is_excluded and row.role == ROLE_EXCLUDED and "role" in row.reader_changed
    assert "4 non-target" in ws.responses()[0].reason  # was 5
    assert ws.undo_label() == "Undo exclude L5" and ws.dirty

    l5 = next(r for r in ws.rows() if r.lesion_id == "L5")
    ws.include("L5")
    ws.set_role("L5", ROLE_TARGET)
    assert _sum(ws, 0) == pytest.approx(base_sum + l5.cells[0].recist_diameter_mm)
    ws.rename("L4", "segment VII")
    assert next(r for r in ws.rows() if r.lesion_id == "L4").name == "segment VII"
    assert ws.undo_label() == "Undo rename L4"
    assert [c.kind for c in seen] == ["action"] * 4

    for _ in range(4):
        ws.undo()
    assert _shape(ws.report) == before and not ws.dirty and not ws.can_undo
    assert ws.can_redo and ws.redo_label() == "Redo exclude L5"
    ws.redo()
    assert next(r for r in ws.rows() if r.lesion_id == "L5").is_excluded
    assert [c.kind for c in seen][-5:] == ["undo"] * 4 + ["redo"]
    assert len(load_corrections(out / "corrections.json").corrections) == 1


def test_unlink_then_relink_restores_the_same_report(out: Path) -> None:
    ws = LongitudinalWorkspace.open(out)
    before = _shape(ws.report)
    ws.unlink("L8", 1)
    new = ws.report.track("L9")
    assert new is not None and new.components_at(1) and new.role == "new"
    assert not ws.report.track("L8").components_at(1)
    assert ws.responses()[1].overall_response == "PD"
    assert "L9" in ws.responses()[1].new_lesions  # the cut-off part is a new lesion now
    ws.link("L8", 0, "L9", 1)
    assert ws.report.track("L9") is None
    assert _shape(ws.report) == before
    assert len(ws.corrections) == 2


def test_merge_and_split(out: Path) -> None:
    ws = LongitudinalWorkspace.open(out)
    ws.merge("L6", "L7")
    l6 = ws.report.track("L6")
    assert ws.report.track("L7") is None
    assert len(l6.components_at(0)) == 2
    row = next(r for r in ws.rows() if r.lesion_id == "L6")
    assert row.cells[0].status == "split"
    comp = max(l6.components_at(0))
    ws.split("L6", 0, comp)
    assert ws.report.track("L6").components_at(0) == [min(l6.components_at(0))]
    assert ws.undo_label() == "Undo split L6"
    ws.undo()
    ws.undo()
    assert ws.report.track("L7") is not None


def test_refused_actions_change_nothing(out: Path) -> None:
    ws = LongitudinalWorkspace.open(out)
    with pytest.raises(ActionRefused, match="already linked"):
        ws.link("L8", 0, "L8", 1)
    with pytest.raises(ActionRefused, match="not seen"):
        ws.unlink("L1", 1)  # nothing before follow-up 1
    with pytest.raises(ActionRefused, match="no lesion L99"):
        ws.exclude("L99")
    with pytest.raises(ActionRefused):
        ws.rename("L1", "  ")
    assert not ws.can_undo and not (out / "corrections.json").exists()


def test_axis_adjust_changes_long_axis_and_sum_and_undo_restores(out: Path) -> None:
    ws = LongitudinalWorkspace.open(out)
    ws.set_role("L7", ROLE_TARGET)  # a liver lesion: its long axis counts
    row = next(r for r in ws.rows() if r.lesion_id == "L7")
    assert row.is_target and not row.is_lymph_node
    cell = row.cells[1]
    old_sum, old_len = _sum(ws, 1), cell.long_axis_mm
    a, b = np.array(cell.long_axis.start_lps), np.array(cell.long_axis.end_lps)
    mid = (a + b) / 2
    start, end = mid + 0.75 * (a - mid), mid + 0.75 * (b - mid)  # a quarter shorter
    ws.adjust_axis("L7", 1, "long", start, end)
    new = next(r for r in ws.rows() if r.lesion_id == "L7").cells[1]
    assert new.long_axis_mm == pytest.approx(0.75 * old_len)
    assert _sum(ws, 1) == pytest.approx(old_sum - 0.25 * old_len)
    assert "long_axis" in new.reader_changed
    assert new.long_axis.start_lps == pytest.approx(tuple(start))
    # the voxel positions follow the points on the axis' slice
    old_vox = np.array(cell.long_axis.start_voxel), np.array(cell.long_axis.end_voxel)
    want = (old_vox[0] + old_vox[1]) / 2 + 0.75 * (old_vox[0] - old_vox[1]) / 2
    assert new.long_axis.start_voxel == pytest.approx(tuple(want), abs=1e-6)
    changes = [c for c in ws.reader_changes() if c["value"] == "long_axis"]
    assert changes == [{"lesion_id": "L7", "timepoint": 1, "value": "long_axis",
                        "auto": round(old_len, 2), "reader": round(0.75 * old_len, 2),
                        "component": new.components[0]}]
    assert any(c["value"] == "sum_mm" and c["timepoint"] == 1 for c in ws.reader_changes())
    assert ws.undo_label() == "Undo adjust long axis of L7"
    ws.undo()
    assert _sum(ws, 1) == pytest.approx(old_sum)
    assert next(r for r in ws.rows() if r.lesion_id == "L7").cells[1].long_axis_mm == old_len
    ws.redo()
    assert _sum(ws, 1) == pytest.approx(old_sum - 0.25 * old_len)
    # the pipeline's step: the sidecar alone gives the same measurement on a rerun
    report = read_report(out / "report.json")
    again = apply_axis_corrections(report.measurements, load_corrections(out / "corrections.json"))
    m = next(x for x in again.measurements if x.timepoint == 1 and x.component == new.components[0])
    assert m.long_axis.length_mm == pytest.approx(0.75 * old_len)
    assert [r["status"] for r in again.applied] == ["applied"]


def test_node_short_axis_counts_for_a_target_node(out: Path) -> None:
    ws = LongitudinalWorkspace.open(out)
    row = next(r for r in ws.rows() if r.lesion_id == "L8")
    assert row.is_target and row.is_lymph_node
    cell = row.cells[2]
    old_sum = _sum(ws, 2)
    a = np.array(cell.short_axis.start_lps)
    b = np.array(cell.short_axis.end_lps)
    ws.adjust_axis("L8", 2, "short", a, a + 2.0 * (b - a))  # twice as long
    assert _sum(ws, 2) == pytest.approx(old_sum + cell.short_axis_mm)
    long_before = next(r for r in ws.rows() if r.lesion_id == "L8").cells[2].long_axis_mm
    ws.adjust_axis("L8", 2, "long", a, a + 0.5 * (b - a))  # a node's long axis: not summed
    assert _sum(ws, 2) == pytest.approx(old_sum + cell.short_axis_mm)
    assert next(r for r in ws.rows() if r.lesion_id == "L8").cells[2].long_axis_mm != long_before


def test_sidecar_and_workspace_reload_give_the_same_state(out: Path) -> None:
    ws = LongitudinalWorkspace.open(out)
    ws.unlink("L8", 2)
    ws.rename("L5", "right lobe")
    cell = next(r for r in ws.rows() if r.lesion_id == "L4").cells[0]
    ws.adjust_axis("L4", 0, "short", cell.short_axis.start_lps,
                   np.array(cell.short_axis.end_lps) + 2.0)
    ws.save_session({"layout": "3 columns", "baseline": 0})
    data = json.loads((out / "corrections.json").read_text())
    assert [c["op"] for c in data["corrections"]] == ["unlink", "rename", "axis"]
    assert len(data["corrections"][2]["points"]) == 2
    again = LongitudinalWorkspace.open(out)
    assert again.rows() == ws.rows()
    assert again.responses() == ws.responses()
    assert again.session == {"layout": "3 columns", "baseline": 0}
    assert again.open_warnings == []


def test_damaged_workspace_file_is_rebuilt(out: Path) -> None:
    LongitudinalWorkspace.open(out)
    (out / WORKSPACE_JSON).write_text("{nope")
    ws = LongitudinalWorkspace.open(out)
    assert any("workspace file cannot be read" in w for w in ws.open_warnings)
    json.loads((out / WORKSPACE_JSON).read_text())  # written again, valid


# --- export -----------------------------------------------------------------------------------


def test_export_without_images_has_corrections_sign_off_and_changed_values(out: Path) -> None:
    ws = LongitudinalWorkspace.open(out)
    ws.exclude("L5")
    ws.rename("L4", "segment <VII>")
    assert ws.dirty
    with pytest.raises(ActionRefused, match="name"):
        ws.export_report("   ")
    result = ws.export_report("Dr  Ada Lovelace", images=False)
    assert not ws.dirty
    assert {"report_json", "lesions_csv", "report_html", "report_pdf"} <= set(result.outputs)
    assert any("DICOM SEG/SR and key images were not made" in w for w in result.warnings)
    data = json.loads((out / "report.json").read_text())
    assert data["signed_off_by"] == "Dr Ada Lovelace" and data["signed_off_at"]
    values = {(c["lesion_id"], c["value"]) for c in data["reader_changes"]}
    assert {("L5", "role"), ("L4", "name")} <= values
    assert [c["op"] for c in data["corrections"]] == ["exclude", "rename"]
    assert next(t for t in data["tracks"] if t["lesion_id"] == "L5")["role"] == "excluded"
    assert "segment &lt;VII&gt;" in (out / "report.html").read_text()
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    # opening the exported report again gives the same state
    again = LongitudinalWorkspace.open(out)
    assert again.rows() == ws.rows() and not again.dirty


# --- linked crosshair -------------------------------------------------------------------------


def _write_transforms(out: Path, report) -> None:
    for reg in report.registrations:
        if reg.transform_file:
            m = np.asarray(reg.matrix)
            t = sitk.AffineTransform(3)
            t.SetMatrix(tuple(m[:3, :3].ravel()))
            t.SetTranslation(tuple(m[:3, 3]))
            path = out / reg.transform_file
            path.parent.mkdir(parents=True, exist_ok=True)
            sitk.WriteTransform(t, str(path))


def test_point_in_maps_between_timepoints_and_round_trips(out: Path) -> None:
    report = read_report(out / "report.json")
    _write_transforms(out, report)
    ws = LongitudinalWorkspace.open(out)
    p = (12.5, -40.0, 33.0)
    assert ws.point_in(0, p) == p  # the baseline is the identity
    m1 = np.asarray(report.registrations[1].matrix)
    q1 = ws.point_in(1, p)
    assert q1 == pytest.approx(tuple(m1[:3, :3] @ p + m1[:3, 3]), abs=1e-6)
    assert ws.point_in(0, q1, from_timepoint=1) == pytest.approx(p, abs=1e-6)
    q2 = ws.point_in(2, q1, from_timepoint=1)
    assert ws.point_in(1, q2, from_timepoint=2) == pytest.approx(q1, abs=1e-6)
    # a lesion's centroid at baseline lands on its centroid at the follow-up (truth)
    l8 = ws.report.track("L8")
    c0 = report.measurement(0, l8.components_at(0)[0])
    c1 = report.measurement(1, l8.components_at(1)[0])
    moved = ws.point_in(1, c1.centroid_baseline_lps)
    assert moved == pytest.approx(c1.centroid_lps, abs=1e-6)
    assert np.linalg.norm(np.subtract(ws.point_in(1, c0.centroid_lps), c1.centroid_lps)) < 10
    # without the files the report's matrices give the same answer
    for f in (out / "transforms").iterdir():
        f.unlink()
    assert LongitudinalWorkspace.open(out).point_in(1, p) == pytest.approx(q1, abs=1e-6)


def test_saving_the_session_keeps_what_others_wrote_meanwhile(out: Path) -> None:
    """Two parts of Interval on one folder (a window open while the Timeline dock saves its
    choice after a new run): each session save changes only the entries its writer changed."""
    window = LongitudinalWorkspace.open(out)
    window.save_session({**window.session, "layout": {"v": 1}, "old": 1})
    dock = LongitudinalWorkspace.open(out)
    dock.save_session({**dock.session, "timeline_choice": {"patient": "P1"}})
    # the window saves again with its (older) copy of the session: the dock's entry stays
    mine = {k: v for k, v in window.session.items() if k != "old"}
    window.save_session({**mine, "layout": {"v": 2}})
    again = LongitudinalWorkspace.open(out).session
    assert again["timeline_choice"] == {"patient": "P1"}
    assert again["layout"] == {"v": 2}  # changed by the window: the window's value
    assert "old" not in again  # dropped by the window
    # an entry the window changes wins over the file's
    window.save_session({**window.session, "timeline_choice": {"patient": "P2"}})
    assert LongitudinalWorkspace.open(out).session["timeline_choice"] == {"patient": "P2"}


def test_rederived_recist_keeps_the_models_equivocal_rule() -> None:
    """A correction re-assesses RECIST: an equivocal new lesion must stay equivocal."""
    from interval.longitudinal.workspace_derive import derive
    from tests.longitudinal._equivocal_fixture import EQUIVOCAL_ID, THRESHOLD, equivocal_report

    base = equivocal_report(shared_case())
    derived = derive(base, base.tracks, base.events, base.measurements, [])
    report = derived.report
    assert report.equivocal_below == THRESHOLD
    assert EQUIVOCAL_ID in report.recist[1].equivocal_new_lesions
    assert EQUIVOCAL_ID not in report.recist[1].new_lesions
    assert EQUIVOCAL_ID in report.recist[2].new_lesions  # confirmed at follow-up 2


def test_reader_confirms_an_equivocal_new_lesion(tmp_path: Path) -> None:
    import dataclasses

    from interval.longitudinal.model import ROLE_NEW
    from interval.longitudinal.workspace import ActionRefused
    from tests.longitudinal._equivocal_fixture import EQUIVOCAL_ID, equivocal_report

    report = equivocal_report(shared_case())
    l1 = report.track(EQUIVOCAL_ID)
    low = {(2, c) for c in l1.components_at(2)}  # still under the threshold at follow-up 2
    report.measurements = [dataclasses.replace(m, score=0.45) if m.key in low else m
                           for m in report.measurements]
    folder = tmp_path / "out"
    folder.mkdir()
    write_report_json(report, folder / "report.json")
    ws = LongitudinalWorkspace.open(folder)
    assert ws.is_equivocal(EQUIVOCAL_ID)
    assert EQUIVOCAL_ID not in ws.report.recist[1].new_lesions
    baseline_lesion = next(t.lesion_id for t in ws.report.tracks if t.first_seen == 0)
    with pytest.raises(ActionRefused, match="baseline"):
        ws.set_role(baseline_lesion, ROLE_NEW)
    ws.set_role(EQUIVOCAL_ID, ROLE_NEW)
    assert ws.undo_label() == f"Undo confirm {EQUIVOCAL_ID} as a new lesion"
    assert not ws.is_equivocal(EQUIVOCAL_ID)
    assert EQUIVOCAL_ID in ws.report.recist[1].new_lesions  # counts from its first scan
    ws.undo()
    assert ws.is_equivocal(EQUIVOCAL_ID)
