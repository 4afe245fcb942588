"""``interval demo``: generate (or reuse) a synthetic patient, track it end to end (segment,
register, match, RECIST, every report) and score the run against the generator's truth."""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

import pydicom
import pytest

from interval.cli.demo import default_demo_dir, demo_segmentations, options_from_args, run_demo
from interval.core.errors import Cancelled, IntervalError
from interval.io.image_files import read_image
from interval.io.synthetic.patient import MANIFEST, read_synthetic_patient
from tests.conftest import REPO_ROOT

SHAPE = (40, 80, 80)  # the default field of view on a coarse grid: fast, still trackable


def _run(out: Path | None, seed: int = 0, **kw) -> tuple[int, list[str]]:
    lines: list[str] = []
    kw.setdefault("segment", False)
    code = run_demo(out, seed, lines.append, shape=SHAPE, **kw)
    return code, lines


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    code, lines = _run(out, n_timepoints=4)
    return out, code, lines


def test_demo_writes_tracks_and_reports_the_patient(first_run):
    out, code, lines = first_run
    text = "\n".join(lines)
    assert code == 0, text
    assert "Writing 4 CT scans of 80 x 80 x 40 voxels" in text
    patient = read_synthetic_patient(out)
    for tp in patient.timepoints:
        assert tp.study_date.isoformat() in text
    assert "RECIST 1.1" in text and "Against the ground truth" in text
    for name in ("report.json", "report.html", "report.pdf", "lesions.csv",
                 "evaluation.json", "evaluation.md"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert len(report["timeline"]["timepoints"]) == 4
    assert [s["kind"] for s in report["segmentations"]] == ["file"] * 4  # --no-segment: truth
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["links"]["precision"] == 1.0, evaluation["links"]
    assert evaluation["links"]["recall"] == 1.0, evaluation["links"]
    assert evaluation["recist"]["agree"] == evaluation["recist"]["follow_ups"] == 3
    assert "SYNTHETIC^" not in text and "PHANTOM0" not in text  # no patient name printed


def test_demo_reuses_a_complete_patient_and_rewrites_a_broken_one(first_run):
    out, _code, _lines = first_run
    stamp = (out / MANIFEST).stat().st_mtime_ns
    code, lines = _run(out, n_timepoints=4)
    assert code == 0
    assert any("Using the synthetic patient already in" in line for line in lines)
    assert (out / MANIFEST).stat().st_mtime_ns == stamp
    (out / MANIFEST).write_text("{broken")
    code, lines = _run(out, n_timepoints=4)
    assert code == 0
    assert any(line.startswith("Writing 4 CT scans") for line in lines)
    assert len(list((out / "DICOM").rglob("*.dcm"))) == 4 * SHAPE[0]


def test_demo_refuses_a_folder_of_other_files(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(IntervalError):
        _run(tmp_path, n_timepoints=2)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_default_folder_is_in_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_demo_dir(5) == tmp_path / "cache" / "interval" / "demo" / "seed-5"
    code, _lines = _run(None, seed=5, n_timepoints=2)
    assert code == 0
    assert (tmp_path / "cache" / "interval" / "demo" / "seed-5" / MANIFEST).is_file()


def test_demo_replacing_the_patient_removes_the_old_results(tmp_path):
    copy = tmp_path / "d"
    _run(copy, n_timepoints=2)
    (copy / "segmentation").mkdir(exist_ok=True)
    (copy / "segmentation" / "tp9_old.nii.gz").write_bytes(b"old")
    (copy / "notes.txt").write_text("not the demo's")
    code, _lines = _run(copy, seed=1, n_timepoints=2)
    assert code == 0
    assert not (copy / "segmentation" / "tp9_old.nii.gz").exists()
    assert (copy / "notes.txt").exists()  # only what the demo writes is removed
    assert json.loads((copy / "report.json").read_text())["timeline"]["patient_id"] == \
        read_synthetic_patient(copy).patient_id


def test_demo_with_a_missing_model_fails_clearly_before_writing(tmp_path):
    with pytest.raises(IntervalError, match="no-such-model.*not available") as info:
        run_demo(tmp_path / "d", 0, [].append, shape=SHAPE, model="no-such-model")
    assert "--no-segment" in info.value.hint
    assert not (tmp_path / "d").exists()
    with pytest.raises(IntervalError, match="unknown device"):
        run_demo(tmp_path / "d", 0, [].append, shape=SHAPE, device="tpu")
    assert not (tmp_path / "d").exists()


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


def test_demo_segments_every_scan_with_the_unet_and_scores_it(segmented):
    out, code, lines = segmented
    text = "\n".join(lines)
    assert code == 0, text
    report = json.loads((out / "report.json").read_text())
    sources = report["segmentations"]
    assert [s["kind"] for s in sources] == ["model", "model"]
    assert sources[0]["model"] == "phantom-unet" and sources[0]["plugin_id"]
    assert "not for clinical use" in sources[0]["description"]
    evaluation = json.loads((out / "evaluation.json").read_text())
    for row in evaluation["timepoints"]:
        dice = row["dice"]
        assert {"liver", "lung", "lesion", "lymph node"} <= set(dice)  # nodes since 1.1.0
        assert 0.5 < dice["liver"] <= 1.0  # a trained model, not noise
    patient = read_synthetic_patient(out)
    for i in range(1, len(patient.timepoints) + 1):
        labels = read_image(out / report["outputs"][f"labels_tp{i}"])
        assert labels.shape == (SEG_SHAPE[0], SEG_SHAPE[1], SEG_SHAPE[2])
    seg_files = sorted(out.rglob("*seg*.dcm"))
    sr_files = sorted(out.rglob("*sr*.dcm"))
    assert len(seg_files) == 2 and len(sr_files) == 2, (seg_files, sr_files)
    studies = {tp.study_instance_uid for tp in patient.timepoints}
    for path in seg_files + sr_files:
        ds = pydicom.dcmread(path)
        assert ds.StudyInstanceUID in studies
    assert "Dice" in text and "not for clinical use" in text
    assert "SYNTHETIC^" not in text


def test_demo_segmentations_map_each_series_to_its_label_map(segmented, tmp_path):
    """What ``interval demo --view`` shows with each scan (from report.json)."""
    out, code, _lines = segmented
    assert code == 0
    patient = read_synthetic_patient(out)
    found = demo_segmentations(out)
    assert set(found) == {tp.series_instance_uid for tp in patient.timepoints}
    for path in found.values():
        assert path.is_file() and out in path.parents
    # no report, or a damaged one: no layers (the viewer still opens the patient)
    assert demo_segmentations(tmp_path) == {}
    (tmp_path / "report.json").write_text("{not json", encoding="utf-8")
    assert demo_segmentations(tmp_path) == {}


def test_demo_again_reuses_the_segmentations(segmented):
    """A second demo into the same folder (e.g. ``interval demo --view`` to see the results)
    takes the label maps of the first run instead of segmenting again."""
    out, code, _lines = segmented
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    maps = [out / report["outputs"][f"labels_tp{i}"] for i in (1, 2)]
    before = [(m.stat().st_mtime_ns, m.read_bytes()) for m in maps]
    lines: list[str] = []
    assert run_demo(out, 0, lines.append, shape=SEG_SHAPE, spacing=SEG_SPACING, n_timepoints=2,
                    device="cpu") == 0
    assert sum("segmentation reused from the earlier run" in line for line in lines) == 2, lines
    assert [(m.stat().st_mtime_ns, m.read_bytes()) for m in maps] == before

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
        run_demo(out, 0, [].append, shape=(12, 32, 32), n_timepoints=1, cancel=cancel,
                 device="cpu")
    assert asked
    assert (out / MANIFEST).is_file()  # the patient was written before the model ran
    assert not (out / "report.json").exists()
    assert not list(out.glob("segmentation/*.nii.gz"))
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
    defaults = options_from_args(argparse.Namespace())
    assert defaults == {"segment": True, "model": "phantom-unet", "device": "auto",
                        "progress": False, "n_timepoints": 4, "registration": "affine"}
    args = argparse.Namespace(no_segment=True, model="other", device="cpu", progress=True,
                              timepoints=6, registration="rigid", memory_limit="2G")
    assert options_from_args(args) == {
        "segment": False, "model": "other", "device": "cpu", "progress": True,
        "n_timepoints": 6, "registration": "rigid", "memory_limit_bytes": 2 * 2**30}
    with pytest.raises(IntervalError, match="between 1 and 8"):
        options_from_args(argparse.Namespace(timepoints=9))
