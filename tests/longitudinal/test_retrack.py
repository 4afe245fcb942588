"""Making the matching and RECIST again with the reader's re-run registration (retrack).

A tiny generated patient is tracked once (its truth label maps, rigid registration); each
test copies that output folder, saves a re-run registration of follow-up 1 (the tracking's,
then a small shift: an "affine" re-run) as the check view does, and runs the retrack.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import interval.longitudinal.registration as registration_mod
from interval.core.errors import Cancelled
from interval.longitudinal import registration_rerun as rr
from interval.longitudinal.model import SegmentationSource
from interval.longitudinal.pipeline import TrackingOptions, run_tracking
from interval.longitudinal.report_json import read_report, write_report_json
from interval.longitudinal.retrack import (
    RetrackError,
    registrations_changed,
    retrack,
    saved_labels,
    tracking_options,
)
from interval.longitudinal.reuse import RECORD, REUSED_NOTE
from interval.longitudinal.segmentation_source import FileLabels
from interval.longitudinal.timeline import build_timeline
from interval.longitudinal.workspace import LongitudinalWorkspace
from tests.longitudinal._tracked_patient import track_tiny_patient

SHIFT = (0.0, 2.0, 0.0)  # mm: a re-run close to the tracking's registration


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    return track_tiny_patient(tmp_path_factory.mktemp("retrack"), 5, 3)


@pytest.fixture
def out(tracked, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tracked.out, tmp_path / "out"))


def shifted_rerun(out: Path, old, shift=SHIFT, method: str = "affine"):
    """The saved registration ``old`` followed by a translation of ``shift`` mm, as a
    re-run with ``method`` (its result's matrix is the new one, as a real re-run's)."""
    from interval.longitudinal.registration import Registration

    tx = sitk.ReadTransform(str(out / old.transform_file))
    move = np.eye(4)
    move[:3, 3] = shift
    linear = move @ np.asarray(old.matrix, dtype=np.float64)
    merged = sitk.AffineTransform(3)
    merged.SetMatrix(tuple(linear[:3, :3].ravel()))
    merged.SetTranslation(tuple(linear[:3, 3]))
    p = (10.0, -20.0, 5.0)
    assert merged.TransformPoint(p) == pytest.approx(
        np.add(tx.TransformPoint(p), shift), abs=1e-6)
    rows = tuple(tuple(float(v) for v in row) for row in linear)
    result = dataclasses.replace(old, method=method, matrix=rows, transform_file=None,
                                 message=f"re-run by the reader ({method})")
    return Registration(result, merged, linear)


def _rerun(out: Path, timepoint: int = 1, shift=SHIFT):
    report = read_report(out / "report.json")
    in_use = {r.timepoint: r for r in rr.registrations_in_use(report, out)[0]}
    return rr.save_rerun(out, shifted_rerun(out, in_use[timepoint], shift), in_use[timepoint])


def _no_registration(monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("registration was run although it could be reused")

    monkeypatch.setattr(registration_mod, "register", refuse)
    monkeypatch.setattr(registration_mod, "prepare_reference", refuse)


def _next_second(created: str) -> None:
    """Wait until a report made now has a later ``created`` (whole seconds)."""
    while dt.datetime.now(dt.UTC).isoformat(timespec="seconds") <= created:
        time.sleep(0.05)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_retrack_uses_the_rerun_and_makes_matching_and_recist_again(out, monkeypatch) -> None:
    before = read_report(out / "report.json")
    assert not registrations_changed(before, out)
    saved = _rerun(out)
    assert registrations_changed(before, out)
    tp3 = out / before.registrations[2].transform_file
    tp3_state = (tp3.stat().st_mtime_ns, _sha(tp3))
    _no_registration(monkeypatch)  # every transform is reused: the re-run and tp3's
    _next_second(before.created)
    steps: list[str] = []
    done: list[tuple[int, int]] = []
    result = retrack(out, step=steps.append, progress=lambda d, t: done.append((d, t)))

    after = read_report(out / "report.json")
    assert after.created == result.report.created > before.created
    reg = after.registrations[1]
    assert (reg.method, reg.transform_file, reg.message) == (
        "affine", saved.transform_file, "re-run by the reader (affine)")
    assert np.allclose(np.asarray(reg.matrix), np.asarray(saved.matrix))
    assert after.registrations[2] == dataclasses.replace(before.registrations[2],
                                                         seconds=after.registrations[2].seconds)
    assert (tp3.stat().st_mtime_ns, _sha(tp3)) == tp3_state  # untouched, reused
    # matching redone in baseline space with the re-run: follow-up 1's centroids moved
    expected = -np.linalg.solve(np.asarray(saved.matrix)[:3, :3], SHIFT)
    moved = [np.subtract(a.centroid_baseline_lps, b.centroid_baseline_lps)
             for a, b in zip([m for m in after.measurements if m.timepoint == 1],
                             [m for m in before.measurements if m.timepoint == 1],
                             strict=True)]
    assert moved and np.allclose(moved, [expected], atol=1e-6)
    # a good registration 2 mm away: the same lesions, the same RECIST
    assert [(t.lesion_id, t.members) for t in after.tracks] == \
        [(t.lesion_id, t.members) for t in before.tracks]
    assert [r.overall_response for r in after.recist] == \
        [r.overall_response for r in before.recist]
    assert [s.path for s in after.segmentations] == [s.path for s in before.segmentations]
    record = json.loads((out / RECORD).read_text())
    assert record["report_created"] == after.created
    assert {e["registration"]["method"] for e in record["timepoints"][1:]} == {"rigid"}
    assert any("reused from the earlier run" in s for s in steps) and done
    # the new report holds the re-run: nothing left to update, no stale warning
    assert not registrations_changed(after, out)
    assert rr.registrations_in_use(after, out)[1] == []


def test_corrections_and_session_survive_the_retrack(out, monkeypatch) -> None:
    ws = LongitudinalWorkspace.open(out)
    lesion = ws.report.tracks[0].lesion_id
    ws.rename(lesion, "reader's name")
    ws.save_session({"window": {"lesion": lesion}})
    sidecar = (out / "corrections.json").read_bytes()
    _rerun(out)
    _no_registration(monkeypatch)
    result = retrack(out, workspace=ws)
    assert result.report.track(lesion).name == "reader's name"
    assert [c["status"] for c in result.report.corrections] == ["applied"]
    assert (out / "corrections.json").read_bytes() == sidecar
    again = LongitudinalWorkspace.open(out)
    assert again.session["window"] == {"lesion": lesion}
    assert again.report.track(lesion).name == "reader's name"
    assert len(again.corrections) == 1 and not again.dirty


def test_a_workspace_with_unsaved_corrections_is_refused(out) -> None:
    ws = LongitudinalWorkspace.open(out)
    ws.rename(ws.report.tracks[0].lesion_id, "renamed")
    (out / "corrections.json").unlink()  # the sidecar lost what the workspace holds
    report = (out / "report.json").read_bytes()
    with pytest.raises(RetrackError, match="not all saved"):
        retrack(out, workspace=ws)
    assert (out / "report.json").read_bytes() == report


def test_a_rerun_after_a_retrack_is_used(out, monkeypatch) -> None:
    _rerun(out)
    _no_registration(monkeypatch)
    first = retrack(out).report
    second = _rerun(out, shift=(0.0, 0.0, 3.0))  # the reader re-runs once more
    in_use, warnings = rr.registrations_in_use(first, out)
    assert not warnings
    assert in_use[1].matrix == second.matrix != first.registrations[1].matrix
    assert registrations_changed(first, out)


def test_missing_scans_give_a_clear_error_and_change_nothing(out) -> None:
    report = read_report(out / "report.json")
    tps = report.timeline.timepoints
    tps[1] = dataclasses.replace(tps[1], source=str(out.parent / "moved-away"))
    write_report_json(report, out / "report.json")
    before = (out / "report.json").read_bytes()
    with pytest.raises(RetrackError, match="follow-up 1 are not found"):
        retrack(out)
    assert (out / "report.json").read_bytes() == before


def test_a_missing_label_map_gives_a_clear_error(out) -> None:
    report = read_report(out / "report.json")
    report.segmentations[2] = dataclasses.replace(report.segmentations[2],
                                                  path=str(out / "gone.nii.gz"))
    with pytest.raises(RetrackError, match="label map of follow-up 2"):
        saved_labels(report, out)


def test_without_the_reuse_record_nothing_is_run(out) -> None:
    (out / RECORD).unlink()
    report = read_report(out / "report.json")
    with pytest.raises(RetrackError, match="reuse record"):
        tracking_options(report, out)
    with pytest.raises(RetrackError, match="reuse record"):
        retrack(out)


def test_cancel_keeps_the_previous_report(out) -> None:
    _rerun(out)
    report, record = (out / "report.json").read_bytes(), (out / RECORD).read_bytes()
    seen: list[str] = []

    def cancel() -> bool:
        return any(s.startswith("Timepoint 3/3") for s in seen)

    with pytest.raises(Cancelled):
        retrack(out, step=seen.append, cancel=cancel)
    assert (out / "report.json").read_bytes() == report
    assert (out / RECORD).read_bytes() == record
    assert registrations_changed(read_report(out / "report.json"), out)


class TruthModel:
    """A label provider that behaves like a model (its label maps are saved in OUT)."""

    writes_label_maps = True

    def __init__(self, patient) -> None:
        self.files = FileLabels([tp.labels_path for tp in patient.timepoints])
        self.warnings: list[str] = []

    def label_map(self, index, volume, *, progress=None, cancel=None):
        return self.files.label_map(index, volume)

    def source(self, index: int) -> SegmentationSource:
        return SegmentationSource(index, "model", "truth 1.0", model="truth",
                                  model_version="1.0")

    def close(self) -> None:
        return None


def test_a_models_saved_label_maps_are_reused(tracked, tmp_path, monkeypatch) -> None:
    out = tmp_path / "model-out"
    patient = tracked.patient
    run_tracking(build_timeline([patient.dicom_dir]), TruthModel(patient), out,
                 TrackingOptions(registration="rigid", forecast=False, reports=False),
                 inputs=(patient.dicom_dir,))
    before = read_report(out / "report.json")
    maps = {k: (out / v).stat().st_mtime_ns for k, v in before.outputs.items()
            if k.startswith("labels_tp")}
    assert len(maps) == 3
    options = tracking_options(before, out)
    assert (options.registration, options.chained, options.reports, options.forecast) == (
        "rigid", False, False, False)
    _rerun(out)
    _no_registration(monkeypatch)
    result = retrack(out)
    after = result.report
    assert all(s.kind == "model" and s.model == "truth" and REUSED_NOTE in s.description
               and s.description.count(REUSED_NOTE) == 1 for s in after.segmentations)
    assert {k: (out / after.outputs[k]).stat().st_mtime_ns for k in maps} == maps
    assert after.registrations[1].method == "affine"
    assert "report_html" not in after.outputs  # as the first run: report.json only
