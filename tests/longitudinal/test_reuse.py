"""A second tracking run into the same OUT reuses the label maps and transforms it can.

A small generated patient (real CT DICOM files) is tracked once with a stand-in "model"
that hands out the generator's truth label maps (and counts its calls); each test copies
that output folder and runs again, with registration monkeypatched to count (or refuse)
its calls, and checks what was reused, what was computed again and why.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import interval.longitudinal.registration as registration_mod
from interval.io.synthetic.patient import generate_patient
from interval.longitudinal.model import SegmentationSource
from interval.longitudinal.pipeline import TrackingOptions, run_tracking
from interval.longitudinal.reuse import RECORD, REUSED_NOTE
from interval.longitudinal.segmentation_source import FileLabels
from interval.longitudinal.timeline import build_timeline

SHAPE = (40, 80, 80)
N = 3


class TruthModel:
    """A label provider that behaves like a model (its label maps are saved in OUT)."""

    writes_label_maps = True

    def __init__(self, patient, version: str = "1.0") -> None:
        self.files = FileLabels([tp.labels_path for tp in patient.timepoints])
        self.version = version
        self.calls: list[int] = []
        self.warnings: list[str] = []

    def label_map(self, index, volume, *, progress=None, cancel=None):
        self.calls.append(index)
        return self.files.label_map(index, volume)

    def source(self, index: int) -> SegmentationSource:
        return SegmentationSource(index, "model", f"truth {self.version}", model="truth",
                                  model_version=self.version)

    def close(self) -> None:
        return None


def _run(patient, out: Path, model: TruthModel | None = None, **options):
    options = {"registration": "rigid", "reports": False, "forecast": False, **options}
    model = model or TruthModel(patient)
    selection = build_timeline([patient.dicom_dir])
    outcome = run_tracking(selection, model, out, TrackingOptions(**options),
                           inputs=(patient.dicom_dir,))
    return outcome, model


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    root = tmp_path_factory.mktemp("reuse")
    patient = generate_patient(root / "p", 11, N, SHAPE, keep_arrays=False)
    outcome, model = _run(patient, root / "out")
    assert model.calls == list(range(N))
    return patient, outcome, root / "out"


@pytest.fixture
def again(first, tmp_path):
    """A copy of the first run's OUT (each test changes its own)."""
    patient, outcome, out = first
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return patient, outcome, copy


@pytest.fixture
def registrations(monkeypatch):
    """Counts the follow-ups registered (the real registration still runs)."""
    calls: list[int] = []
    real = registration_mod.register

    def counting(*args, **kwargs):
        calls.append(kwargs["timepoint"])
        return real(*args, **kwargs)

    monkeypatch.setattr(registration_mod, "register", counting)
    return calls


def _no_registration(monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("registration was run although it could be reused")

    monkeypatch.setattr(registration_mod, "register", refuse)
    monkeypatch.setattr(registration_mod, "prepare_reference", refuse)


def test_a_second_run_reuses_everything_and_gives_the_same_report(again, monkeypatch) -> None:
    patient, before, out = again
    _no_registration(monkeypatch)
    after, model = _run(patient, out)
    assert model.calls == []  # no timepoint segmented
    assert after.report.measurements == before.report.measurements
    assert after.report.tracks == before.report.tracks
    assert after.report.recist == before.report.recist
    assert after.report.events == before.report.events
    assert [dataclasses.replace(r, seconds=0) for r in after.report.registrations] == \
        [dataclasses.replace(r, seconds=0) for r in before.report.registrations]
    assert all(REUSED_NOTE in s.description for s in after.report.segmentations)
    assert after.report.timings["segment"] < 0.5 and after.report.timings["register"] < 0.5
    for i in range(N):  # the files are still named in the report
        assert (out / after.report.outputs[f"labels_tp{i + 1}"]).is_file()
    assert not [w for w in after.report.warnings if "reuse" in w.lower()]


def test_another_registration_method_registers_again_and_keeps_the_labels(
        again, registrations) -> None:
    patient, before, out = again
    lines: list[str] = []
    from interval.longitudinal.pipeline import Reporter

    selection = build_timeline([patient.dicom_dir])
    model = TruthModel(patient)
    after = run_tracking(selection, model, out,
                         TrackingOptions(registration="affine", reports=False, forecast=False),
                         inputs=(patient.dicom_dir,), reporter=Reporter(echo=lines.append))
    assert model.calls == []
    assert registrations == list(range(1, N))
    assert sum("another registration setting" in line for line in lines) == N - 1
    record = json.loads((out / RECORD).read_text())
    assert {e["registration"]["method"] for e in record["timepoints"][1:]} == {"affine"}
    assert after.report.measurements  # the run is complete


def test_a_deleted_transform_is_the_only_one_registered_again(again, registrations) -> None:
    patient, before, out = again
    gone = out / before.report.registrations[2].transform_file
    gone.unlink()
    after, model = _run(patient, out)
    assert model.calls == []
    assert registrations == [2]
    assert gone.is_file()  # written again
    assert any("timepoint 3" in w and "missing" in w for w in after.report.warnings)
    assert after.report.tracks == before.report.tracks


def test_no_reuse_computes_everything(again, registrations) -> None:
    patient, _before, out = again
    after, model = _run(patient, out, reuse=False)
    assert model.calls == list(range(N))
    assert registrations == list(range(1, N))
    assert not any(REUSED_NOTE in s.description for s in after.report.segmentations)


def test_a_damaged_label_map_is_segmented_again_with_a_warning(again, registrations) -> None:
    patient, before, out = again
    damaged = out / before.report.outputs["labels_tp2"]
    damaged.write_bytes(damaged.read_bytes()[:200])  # cut short
    after, model = _run(patient, out)
    assert model.calls == [1]
    assert registrations == []
    assert any("timepoint 2" in w and "label map" in w for w in after.report.warnings)
    assert after.report.measurements == before.report.measurements


def test_another_model_version_segments_again(again, registrations) -> None:
    patient, _before, out = again
    _after, model = _run(patient, out, TruthModel(patient, version="2.0"))
    assert model.calls == list(range(N))
    assert registrations == []  # same series, same registration setting


def test_the_readers_rerun_registration_is_the_one_reused(again, monkeypatch) -> None:
    from interval.longitudinal.registration import Registration
    from interval.longitudinal.registration_rerun import save_rerun
    from interval.longitudinal.registration_transforms import affine_transform

    patient, before, out = again
    replaced = before.report.registrations[1]
    matrix = np.asarray(replaced.matrix) + np.array([[0, 0, 0, 1.5]] + [[0] * 4] * 3)
    rows = tuple(tuple(float(v) for v in row) for row in matrix)
    result = dataclasses.replace(replaced, matrix=rows, message="re-run by the reader",
                                 transform_file=None)
    save_rerun(out, Registration(result, affine_transform(matrix), matrix), replaced)
    _no_registration(monkeypatch)
    after, _model = _run(patient, out)
    used = after.report.registrations[1]
    assert used.message == "re-run by the reader"
    assert np.allclose(np.asarray(used.matrix), matrix)
    moved = [m for m in after.report.measurements if m.timepoint == 1]
    earlier = [m for m in before.report.measurements if m.timepoint == 1]
    shift = [np.subtract(a.centroid_baseline_lps, b.centroid_baseline_lps)
             for a, b in zip(moved, earlier, strict=True)]
    expected = -np.linalg.solve(matrix[:3, :3], [1.5, 0.0, 0.0])
    assert shift and np.allclose(shift, [expected], atol=1e-6)  # mapped with the re-run
    # the new report holds the re-run: opening it again keeps it, without a stale warning
    from interval.longitudinal.registration_rerun import registrations_in_use

    in_use, warnings = registrations_in_use(after.report, out)
    assert in_use[1].message == "re-run by the reader" and not warnings


def test_another_series_list_is_computed_again(first, tmp_path, registrations) -> None:
    patient, _before, out = first
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    record = json.loads((copy / RECORD).read_text())
    record["timepoints"][1]["series"] = ["another stack", "another uid"]
    (copy / RECORD).write_text(json.dumps(record))
    _after, model = _run(patient, copy)
    assert model.calls == [1]
    assert registrations == [1]


def test_the_cli_flag_turns_reuse_off(first, tmp_path, monkeypatch, capsys) -> None:
    import interval.longitudinal.pipeline as pipeline
    from interval.cli.main import EXIT_DATA, main
    from interval.core.errors import IntervalError

    patient, _before, _out = first
    seen: list[bool] = []

    def capture(_selection, _labels, _out, options, **_kw):
        seen.append(options.reuse)
        raise IntervalError("stopped by the test")

    monkeypatch.setattr(pipeline, "run_tracking", capture)
    labels = [str(tp.labels_path) for tp in patient.timepoints]
    base = ["track", str(patient.dicom_dir), "-o", str(tmp_path / "o"), "--labels", *labels]
    assert main([*base, "--no-reuse"]) == EXIT_DATA
    assert main(base) == EXIT_DATA
    assert seen == [False, True]
