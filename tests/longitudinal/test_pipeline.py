"""The whole tracking pipeline on generated patients with known truth (label maps given).

Each test writes a small synthetic patient (real CT DICOM files), builds the timeline
from its folder, runs :func:`run_tracking` with the generator's truth label maps as the
``--labels`` files, and checks the result against the truth: links, RECIST categories,
volumes, the outputs written, the reader's corrections re-applied on a rerun, and bad
input (one timepoint, a failed registration, no lesion, nothing outside OUT).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from interval.core.errors import IntervalError
from interval.io.synthetic.patient import generate_patient
from interval.longitudinal.demo_evaluation import evaluate
from interval.longitudinal.pipeline import TrackingOptions, run_tracking
from interval.longitudinal.segmentation_source import FileLabels
from interval.longitudinal.timeline import build_timeline

SHAPE = (48, 96, 96)
SPACING = (4.0, 4.0, 7.3)  # covers the phantom's field of view at a coarse grid


def _patient(root: Path, seed: int, n: int = 4, **kw):
    return generate_patient(root, seed, n, SHAPE, SPACING, keep_arrays=False, **kw)


def _track(patient, out: Path, **options):
    selection = build_timeline([patient.dicom_dir])
    labels = FileLabels([tp.labels_path for tp in patient.timepoints])
    return run_tracking(selection, labels, out, TrackingOptions(**options),
                        inputs=(patient.dicom_dir,))


def _files(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    patient = _patient(root / "patient", seed=3, n=4, n_merge=1, n_split=1)
    before = _files(patient.root)
    outcome = _track(patient, root / "out", registration="rigid")
    return patient, outcome, root / "out", before


def test_links_and_recist_equal_the_truth(tracked) -> None:
    patient, outcome, _out, _before = tracked
    evaluation = evaluate(patient, outcome, segmented=False)
    links = evaluation["links"]
    assert links["links_made"] > 0
    assert links["precision"] == 1.0 and links["recall"] == 1.0, links
    recist = evaluation["recist"]
    assert "per_timepoint" in recist, recist
    assert recist["agree"] == recist["follow_ups"] == 3, recist


def test_every_output_is_written_inside_out_and_nothing_else_changes(tracked) -> None:
    patient, outcome, out, before = tracked
    assert _files(patient.root) == before  # the inputs are untouched, nothing added there
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == 1
    assert len(report["timeline"]["timepoints"]) == 4
    assert [r["status"] for r in report["registrations"]][0] == "identity"
    assert all(r["status"] in ("ok", "questionable") for r in report["registrations"][1:])
    for key, rel in report["outputs"].items():
        path = out / rel
        assert path.is_file(), key
        assert out.resolve() in path.resolve().parents
    for key in ("report_html", "report_pdf", "lesions_csv"):
        assert key in outcome.outputs, sorted(outcome.outputs)
    assert not list(out.rglob("*.tmp*"))  # atomic writes leave no temporaries


def test_volumes_are_those_of_the_truth(tracked) -> None:
    patient, outcome, _out, _before = tracked
    from interval.io.image_files import read_image

    report = outcome.report
    for tp in patient.timepoints:
        labels = read_image(tp.labels_path)
        lesion_ml = float(np.isin(labels.array, (9, 10)).sum()) * labels.voxel_volume_mm3() / 1000
        measured = sum(m.volume_ml for m in report.measurements if m.timepoint == tp.index)
        assert measured == pytest.approx(lesion_ml, rel=1e-6)  # NIfTI keeps float32 spacing


def test_a_rerun_reapplies_the_readers_corrections(tracked, tmp_path) -> None:
    patient, outcome, out, _before = tracked
    from interval.longitudinal.corrections import (
        CorrectionSet,
        anchor_for,
        load_corrections,
        save_corrections,
    )

    report = outcome.report
    track = next(t for t in report.tracks if report.measurements_of(t, 0))
    anchor = anchor_for(report.measurements_of(track, 0)[0], track.lesion_id)
    corrections = CorrectionSet()
    corrections.add("rename", [anchor], value="the big one")
    rerun_out = tmp_path / "rerun"
    rerun_out.mkdir()
    save_corrections(rerun_out / "corrections.json", corrections)
    (rerun_out / ".interval-track").write_text("")
    again = _track(patient, rerun_out, registration="rigid")
    renamed = again.report.track(track.lesion_id)
    assert renamed is not None and renamed.name == "the big one"
    assert load_corrections(rerun_out / "corrections.json").corrections  # kept as written


def test_one_timepoint_is_measured_with_a_warning(tmp_path) -> None:
    patient = _patient(tmp_path / "p", seed=5, n=1)
    outcome = _track(patient, tmp_path / "out")
    assert any("only one timepoint" in w for w in outcome.report.warnings)
    assert outcome.report.measurements
    assert (tmp_path / "out" / "report.json").is_file()


def test_an_output_folder_inside_the_input_is_refused_before_anything_is_written(
        tmp_path) -> None:
    patient = _patient(tmp_path / "p", seed=6, n=2)
    before = _files(patient.root)
    with pytest.raises(IntervalError, match="inside the input folder"):
        _track(patient, patient.dicom_dir / "results")
    assert _files(patient.root) == before


def test_a_folder_of_other_files_is_refused(tmp_path) -> None:
    patient = _patient(tmp_path / "p", seed=6, n=2)
    out = tmp_path / "busy"
    out.mkdir()
    (out / "thesis.docx").write_text("mine")
    with pytest.raises(IntervalError, match="did not write"):
        _track(patient, out)
    assert sorted(p.name for p in out.iterdir()) == ["thesis.docx"]


def test_too_few_label_maps_is_a_clear_error(tmp_path) -> None:
    patient = _patient(tmp_path / "p", seed=7, n=3)
    selection = build_timeline([patient.dicom_dir])
    labels = FileLabels([patient.timepoints[0].labels_path])
    with pytest.raises(IntervalError, match="no label map was given for timepoint 2"):
        run_tracking(selection, labels, tmp_path / "out", inputs=(patient.dicom_dir,))


def test_no_lesion_at_all_gives_an_empty_but_complete_report(tmp_path) -> None:
    from interval.io.image_files import read_image, write_image
    from interval.io.label_tables import json_sidecar_path, write_label_json

    patient = _patient(tmp_path / "p", seed=8, n=2)
    paths = []
    for tp in patient.timepoints:  # the organs without any lesion
        labels = read_image(tp.labels_path, as_labels=True)
        array = np.where(np.isin(labels.array, (9, 10)), 0, labels.array).astype(labels.dtype)
        path = tmp_path / f"nolesion_{tp.index}.nii.gz"
        write_image(labels.with_array(array), path)
        from interval.io.synthetic.phantom import label_table

        write_label_json(label_table(), json_sidecar_path(path))
        paths.append(path)
    selection = build_timeline([patient.dicom_dir])
    outcome = run_tracking(selection, FileLabels(paths), tmp_path / "out",
                           TrackingOptions(registration="rigid"), inputs=(patient.dicom_dir,))
    assert outcome.report.measurements == [] and outcome.report.tracks == []
    assert (tmp_path / "out" / "report.html").is_file()


def test_a_cancel_after_the_dicom_writer_started_stops_it(tmp_path, monkeypatch) -> None:
    """The SEG/SR writer starts before the forecast; a cancel from then on ends it too."""
    import psutil

    from interval.core.errors import Cancelled
    from interval.longitudinal import dicom_export

    patient = _patient(tmp_path / "patient", seed=5, n=2)
    started = []
    real_start = dicom_export.start_dicom_writer

    def start():
        started.append(real_start())
        return started[-1]

    monkeypatch.setattr(dicom_export, "start_dicom_writer", start)
    with pytest.raises(Cancelled):
        selection = build_timeline([patient.dicom_dir])
        labels = FileLabels([tp.labels_path for tp in patient.timepoints])
        run_tracking(selection, labels, tmp_path / "out",
                     TrackingOptions(registration="rigid", forecast=False),
                     cancel=lambda: bool(started))
    assert len(started) == 1
    pid = started[0].pid
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not (tmp_path / "out" / "report.json").exists()
