"""The workspace on a real ``interval track`` output folder (tiny generated patient, truth
label maps): the full export with DICOM SEG/SR, the saved transforms for the crosshair,
and the sidecar axis step (what a pipeline rerun calls) on its measurements."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from interval.longitudinal.workspace import LongitudinalWorkspace
from tests.longitudinal._tracked_patient import track_tiny_patient


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    root = tmp_path_factory.mktemp("ws-pipeline")
    return track_tiny_patient(root, 3).out


def test_export_with_images_and_crosshair_on_pipeline_output(tracked: Path) -> None:
    ws = LongitudinalWorkspace.open(tracked)
    assert ws.open_warnings == []
    report = ws.report
    reg = next(r for r in report.registrations if r.timepoint == 1)
    assert reg.transform_file and (tracked / reg.transform_file).is_file()
    for m in (m for m in report.measurements if m.timepoint == 1):
        back = ws.point_in(0, m.centroid_lps, from_timepoint=1)
        assert back == pytest.approx(m.centroid_baseline_lps, abs=1e-3)
        assert ws.point_in(1, back) == pytest.approx(m.centroid_lps, abs=1e-3)
    target = next(t for t in report.tracks if t.role == "target")
    ws.rename(target.lesion_id, "reader name")
    result = ws.export_report("Dr Test")
    assert not [w for w in result.warnings if "were not made again" in w], result.warnings
    assert any(k.startswith("sr_tp") for k in result.outputs), sorted(result.outputs)
    data = json.loads((tracked / "report.json").read_text())
    assert data["signed_off_by"] == "Dr Test"
    assert any(t["name"] == "reader name" for t in data["tracks"])


def test_sidecar_axis_step_is_idempotent_on_pipeline_output(tracked: Path) -> None:
    ws = LongitudinalWorkspace.open(tracked)
    target = next(t for t in ws.report.tracks if t.role == "target")
    row = next(r for r in ws.rows() if r.lesion_id == target.lesion_id)
    cell = row.cells[0]
    ax = cell.short_axis if row.is_lymph_node else cell.long_axis
    which = "short" if row.is_lymph_node else "long"
    a, b = np.array(ax.start_lps), np.array(ax.end_lps)
    ws.adjust_axis(target.lesion_id, 0, which, a, a + 1.2 * (b - a))
    ws.unlink(target.lesion_id, 1)
    from interval.longitudinal.corrections import apply_axis_corrections, load_corrections

    sidecar = load_corrections(tracked / "corrections.json")
    fixed = apply_axis_corrections(ws.report.measurements, sidecar).measurements
    # idempotent: the workspace already applied them (voxel positions to rounding)
    for m, w in zip(fixed, ws.report.measurements, strict=True):
        for x, y in ((m.long_axis, w.long_axis), (m.short_axis, w.short_axis)):
            assert x.start_lps == y.start_lps and x.end_lps == y.end_lps
            assert x.length_mm == y.length_mm
            assert x.start_voxel == pytest.approx(y.start_voxel, abs=1e-6)
    row = next(r for r in ws.rows() if r.lesion_id == target.lesion_id)
    got = row.cells[0].short_axis_mm if row.is_lymph_node else row.cells[0].long_axis_mm
    assert got == pytest.approx(1.2 * float(np.linalg.norm(b - a)))
