"""``interval demo``: generate (or reuse) a synthetic patient, index and load it, summarise;
segment it with the U-Net plugin and report Dice and lesion volumes against the truth."""

from __future__ import annotations

import json
import math
import os
import re
import signal
from pathlib import Path

import numpy as np
import pydicom
import pytest

from interval.ai.metrics import dice, match_lesions, volume_ml
from interval.cli.demo import default_demo_dir, options_from_args, run_demo, segmentation_path
from interval.core.errors import Cancelled, IntervalError
from interval.io.image_files import read_image
from interval.io.label_tables import read_label_json
from interval.io.segmentation import load_segmentation, place_on_grid
from interval.io.synthetic.patient import MANIFEST, read_synthetic_patient
from interval.io.synthetic.phantom import LABELS
from tests.conftest import REPO_ROOT

SHAPE = (20, 64, 64)


def _run(out: Path | None, seed: int = 0) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = run_demo(out, seed, lines.append, shape=SHAPE, segment=False)
    return code, lines


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    code, lines = _run(out)
    return out, code, lines


def test_demo_generates_indexes_loads_and_summarises(first_run):
    out, code, lines = first_run
    text = "\n".join(lines)
    assert code == 0, text
    assert "Writing 3 CT scans of 64 x 64 x 20 voxels" in text
    # the real indexer found one patient with three studies of one series each
    assert re.search(r"Indexed 60 files .*1 patient, 3 studies, 3 series, 0 skipped", text), text
    patient = read_synthetic_patient(out)
    for tp in patient.timepoints:
        assert tp.study_date.isoformat() in text
    assert "baseline" in text and "+3 months" in text and "+6 months" in text
    assert sum(line.strip().startswith("64 x 64 x 20 voxels, ") for line in lines) == 3
    # HU statistics measured on the loaded volumes inside the ground-truth organs
    hu_lines = [line for line in lines if "HU mean" in line]
    assert len(hu_lines) == 3
    liver = int(re.search(r"liver (-?\d+) ±", hu_lines[0]).group(1))
    lung = int(re.search(r"lung (-?\d+) ±", hu_lines[0]).group(1))
    assert 40 <= liver <= 80 and -900 <= lung <= -700
    # the shift of the patient between scans
    moved = [line for line in lines if "patient moved since baseline" in line]
    assert len(moved) == 2
    for line in moved:
        assert 1.0 < float(re.search(r"baseline: ([\d.]+) mm", line).group(1)) < 15.0
    # the lesion table: one row per lesion, with its course
    assert "Lesions over time" in text
    courses = {t.kind for tp in patient.lesions for t in tp}
    assert {"grow", "shrink", "appear"} <= courses
    assert "grows" in text and "shrinks" in text and "appears" in text
    for lid in patient.lesion_ids():
        assert re.search(rf"^\s+{lid}\s+(liver|lung|kidney)\s", text, re.M), lid
    # never the patient's name
    assert "SYNTHETIC^" not in text and "PHANTOM0" not in text


def test_demo_reuses_a_complete_patient_and_rewrites_a_broken_one(first_run):
    out, _code, _lines = first_run
    stamp = (out / MANIFEST).stat().st_mtime_ns
    code, lines = _run(out)
    assert code == 0
    assert any("Using the synthetic patient already in" in line for line in lines)
    assert (out / MANIFEST).stat().st_mtime_ns == stamp
    # remove one slice: the folder is incomplete and is written again
    next(iter(sorted((out / "DICOM").rglob("*.dcm")))).unlink()
    code, lines = _run(out)
    assert code == 0
    assert any(line.startswith("Writing 3 CT scans") for line in lines)
    assert len(list((out / "DICOM").rglob("*.dcm"))) == 60


def test_demo_other_seed_replaces_the_patient(first_run, tmp_path):
    out = tmp_path / "d"
    _run(out, seed=1)
    code, lines = _run(out, seed=2)
    assert code == 0 and any(line.startswith("Writing") for line in lines)
    assert json.loads((out / MANIFEST).read_text())["seed"] == 2


def test_demo_refuses_a_folder_of_other_files(tmp_path):
    (tmp_path / "mine.txt").write_text("x")
    with pytest.raises(IntervalError, match="other files"):
        _run(tmp_path)
    assert (tmp_path / "mine.txt").exists()


def test_default_folder_is_in_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_demo_dir(5) == tmp_path / "cache" / "interval" / "demo" / "seed-5"
    code, lines = _run(None, seed=5)
    assert code == 0
    assert (tmp_path / "cache" / "interval" / "demo" / "seed-5" / MANIFEST).is_file()


def test_demo_without_segmentation_writes_no_report(first_run):
    out, _code, lines = first_run
    assert not (out / "report.json").exists() and not (out / "segmentation").exists()
    assert not any("Segmenting" in line or "Dice" in line for line in lines)


def test_demo_with_a_missing_model_fails_clearly_before_writing(tmp_path):
    with pytest.raises(IntervalError, match="no-such-model.*not available") as info:
        run_demo(tmp_path / "d", 0, [].append, shape=SHAPE, model="no-such-model")
    assert "--no-segment" in info.value.hint
    assert not (tmp_path / "d").exists()
    with pytest.raises(IntervalError, match="unknown device"):
        run_demo(tmp_path / "d", 0, [].append, shape=SHAPE, device="tpu")


# The model's grid (2 x 2 x 2.5 mm) on a small field of view: few sliding windows.
SEG_SHAPE = (48, 96, 96)
SEG_SPACING = (2.0, 2.0, 2.5)


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_seg") / "demo"
    lines: list[str] = []
    code = run_demo(out, 0, lines.append, shape=SEG_SHAPE, spacing=SEG_SPACING, n_timepoints=2,
                    device="cpu")
    print("\n".join(lines))  # the model's numbers, for the log (no quality threshold here)
    return out, code, lines


def test_demo_segments_every_scan_and_reports_dice_and_lesion_volumes(segmented):
    out, code, lines = segmented
    text = "\n".join(lines)
    assert code == 0, text
    report = json.loads((out / "report.json").read_text())
    patient = read_synthetic_patient(out)
    assert report["model"]["name"] == "phantom-unet" and report["model"]["version"]
    assert report["model"]["device"] == "cpu"
    assert "not for clinical use" in report["disclaimer"]
    assert [t["date"] for t in report["patient"]["timepoints"]] == [
        t.study_date.isoformat() for t in patient.timepoints]
    assert len(report["timepoints"]) == 2
    timings = report["timings_s"]
    assert {"index", "load", "segment", "evaluate", "write", "total"} <= set(timings)
    assert timings["total"] >= timings["segment"] > 0
    md = (out / "report.md").read_text()
    assert "not for clinical use" in md and "| liver |" in md and "## Lesions" in md
    for tp, row in zip(patient.timepoints, report["timepoints"], strict=True):
        assert row["date"] == tp.study_date.isoformat()
        assert row["series_instance_uid"] == tp.series_instance_uid
        nifti = out / row["files"]["nifti"]
        assert nifti == segmentation_path(out, tp.index + 1) == (
            out / "segmentation" / f"tp{tp.index + 1}_unet.nii.gz")
        pred = read_image(nifti)
        truth = read_image(tp.labels_path)
        assert pred.same_grid(truth)
        table = read_label_json(out / row["files"]["labels_json"])
        names = {info.name: info.value for info in table}
        assert set(row["dice"]) == set(LABELS.values())
        truth_value = {name: value for value, name in LABELS.items()}
        for name, score in row["dice"].items():
            expected = dice(pred.array, truth.array, names[name], truth_value[name])
            if score is None:
                assert math.isnan(expected)
            else:
                assert 0.0 <= score <= 1.0
                assert score == pytest.approx(expected, abs=1e-9), name
            assert row["truth_ml"][name] == pytest.approx(
                volume_ml(truth.array, truth.spacing, truth_value[name]))
            assert row["predicted_ml"][name] == pytest.approx(
                volume_ml(pred.array, pred.spacing, names[name]))
        # lesions: one row per lesion present in the truth, volumes as the generator counts
        present = {t.id: t for t in patient.lesions[tp.index] if t.present}
        ids = read_image(tp.lesion_ids_path)
        matches, false_ml = match_lesions(pred.array == names["lesion"], ids.array, pred.spacing)
        assert {m["id"] for m in row["lesions"]} == {m.lesion_id for m in matches}
        for m, got in zip(matches, row["lesions"], strict=True):
            assert got["predicted_ml"] == pytest.approx(m.predicted_ml)
            assert got["truth_ml"] == pytest.approx(m.truth_ml)
            if m.lesion_id in present:
                assert got["truth_ml"] == pytest.approx(present[m.lesion_id].volume_mm3 / 1000,
                                                        rel=1e-3)
        assert row["false_positive_lesion_ml"] == pytest.approx(false_ml)
        # the DICOM SEG references the source series and holds the same labels
        seg = load_segmentation(out / row["files"]["dicom_seg"])
        assert seg.shape == pred.shape  # the same points, maybe stored in another slice order
        seg = place_on_grid(seg, pred)
        assert seg.same_grid(pred)
        by_name = {info.name: info.value for info in seg.labels}
        present_values = [v for v in np.unique(pred.array) if v]
        assert present_values, "the model found nothing at all"
        for value in present_values:
            name = next(info.name for info in table if info.value == value)
            assert np.array_equal(seg.array == by_name[name], pred.array == value), name
        assert ((seg.array > 0) == (pred.array > 0)).all()
        ds = pydicom.dcmread(out / row["files"]["dicom_seg"], stop_before_pixels=True)
        assert ds.Modality == "SEG"
        assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == tp.series_instance_uid
        assert ds.StudyInstanceUID == tp.study_instance_uid
    # the summary on stdout
    assert "Dice per label" in text and "Lesion volumes" in text
    assert re.search(r"^\s+liver\s+(\d\.\d{3}|-)\s+(\d\.\d{3}|-)$", text, re.M), text
    assert "not for clinical use" in text
    assert "SYNTHETIC^" not in text


def test_demo_replacing_the_patient_removes_the_old_results(tmp_path):
    copy = tmp_path / "d"
    run_demo(copy, 0, [].append, shape=SHAPE, segment=False)
    (copy / "segmentation").mkdir()
    (copy / "segmentation" / "tp1_unet.nii.gz").write_bytes(b"old")
    (copy / "report.json").write_text("{}")
    code = run_demo(copy, 1, [].append, shape=SHAPE, segment=False)
    assert code == 0
    assert not (copy / "report.json").exists() and not (copy / "segmentation").exists()


@pytest.mark.parametrize("how", ["callback", "ctrl-c"])
def test_demo_segmentation_can_be_cancelled(tmp_path, how):
    out = tmp_path / "d"
    asked = []

    def cancel() -> bool:
        asked.append(1)
        if how == "ctrl-c":  # the user presses Ctrl-C once while the model runs
            if len(asked) == 1:
                os.kill(os.getpid(), signal.SIGINT)
            return False
        return True

    with pytest.raises(Cancelled):
        run_demo(out, 0, [].append, shape=(8, 32, 32), n_timepoints=1, cancel=cancel,
                 device="cpu")
    assert asked
    assert (out / MANIFEST).is_file()  # the patient was written before the model ran
    assert not (out / "report.json").exists()
    assert not list((out / "segmentation").glob("*.nii.gz"))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def _mr_plugin(folder: Path) -> Path:
    """A plugin folder whose one model (a copy of the U-Net's package) accepts MR only."""
    src = REPO_ROOT / "plugins" / "interval_unet" / "models" / "phantom-ct" / "model.json"
    spec = json.loads(src.read_text())
    spec.update(name="mr-only", modality=["MR"])
    model = folder / "mr_plugin" / "models" / "mr"
    model.mkdir(parents=True)
    (model / "model.json").write_text(json.dumps(spec))
    (model / spec["network"]["weights"]).write_bytes(b"")
    (folder / "mr_plugin" / "interval-plugin.json").write_text(json.dumps({
        "id": "org.example.mr-only", "name": "MR only", "version": "1.0.0",
        "interval_api": ">=1.0,<2", "contributes": {"segmentation_models": ["models/mr"]},
    }))
    return folder


def test_demo_refuses_a_model_for_another_modality(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERVAL_PLUGIN_PATH", str(_mr_plugin(tmp_path / "plugins")))
    with pytest.raises(IntervalError, match="made for MR images.*CT") as info:
        run_demo(tmp_path / "d", 0, [].append, shape=SHAPE, model="mr-only")
    assert "--no-segment" in info.value.hint
    assert not (tmp_path / "d").exists()


def test_options_from_the_command_line():
    import argparse

    assert options_from_args(argparse.Namespace()) == {
        "segment": True, "model": "phantom-unet", "device": "auto", "progress": False}
    args = argparse.Namespace(no_segment=True, model="other", device="cpu", progress=True)
    assert options_from_args(args) == {
        "segment": False, "model": "other", "device": "cpu", "progress": True}


def test_demo_segmentations_map_each_series_to_its_label_map(segmented, tmp_path):
    """What ``interval demo --view`` shows with each scan (from report.json)."""
    from interval.cli.demo import demo_segmentations

    out, code, _lines = segmented
    assert code == 0
    patient = read_synthetic_patient(out)
    found = demo_segmentations(out)
    assert set(found) == {tp.series_instance_uid for tp in patient.timepoints}
    for i, tp in enumerate(patient.timepoints, start=1):
        assert found[tp.series_instance_uid] == segmentation_path(out, i)
        assert found[tp.series_instance_uid].is_file()
    # no report, or a damaged one: no layers (the viewer still opens the patient)
    assert demo_segmentations(tmp_path) == {}
    (tmp_path / "report.json").write_text("{not json", encoding="utf-8")
    assert demo_segmentations(tmp_path) == {}
