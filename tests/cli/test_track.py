"""``interval track``: the command line over the tracking pipeline (label maps given)."""

from __future__ import annotations

import json

import pytest

from interval.cli.main import EXIT_DATA, EXIT_OK, EXIT_USAGE, main
from interval.io.synthetic.patient import generate_patient

SHAPE = (40, 80, 80)


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    root = tmp_path_factory.mktemp("track")
    return generate_patient(root / "p", 4, 3, SHAPE, keep_arrays=False)


def _labels(patient) -> list[str]:
    return [str(tp.labels_path) for tp in patient.timepoints]


def test_track_writes_the_reports_and_prints_recist_and_timings(patient, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["track", str(patient.dicom_dir), "-o", str(out), "--labels", *_labels(patient),
                 "--registration", "rigid"])
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    text = captured.out
    assert "Patient: 3 timepoint(s)" in text
    assert "RECIST 1.1" in text and "Time:" in text and "register" in text
    for tp in patient.timepoints:
        assert tp.study_date.isoformat() in text
    for name in ("report.json", "report.html", "report.pdf", "lesions.csv"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert [r["status"] for r in report["registrations"]][1:] == ["ok", "ok"]
    assert "SYNTHETIC^" not in text  # the patient's name is not printed by the command


def test_track_json_prints_the_report(patient, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["track", str(patient.dicom_dir), "-o", str(out), "--labels", *_labels(patient),
                 "--registration", "rigid", "--no-reports", "--json"])
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    report = json.loads(captured.out)
    assert report["schema"] == 1 and len(report["timeline"]["timepoints"]) == 3
    assert not (out / "report.pdf").exists()  # --no-reports
    assert (out / "report.json").is_file()


def test_track_refuses_bad_options_with_a_sentence(patient, tmp_path, capsys):
    base = ["track", str(patient.dicom_dir), "-o", str(tmp_path / "o")]
    assert main([*base, "--baseline", "yesterday"]) == EXIT_DATA
    assert "is not a date" in capsys.readouterr().err
    assert main([*base, "--same-patient", "nonsense"]) == EXIT_DATA
    assert "OLD_ID=NEW_ID" in capsys.readouterr().err
    assert main([*base, "--registration", "magic"]) == EXIT_USAGE
    capsys.readouterr()
    assert main(["track", str(patient.dicom_dir), "-o", str(patient.dicom_dir / "x"),
                 "--labels", *_labels(patient)]) == EXIT_DATA
    err = capsys.readouterr().err
    assert "inside the input folder" in err and "Traceback" not in err


def test_track_on_a_folder_without_dicom_says_so(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    code = main(["track", str(empty), "-o", str(tmp_path / "o"), "--labels", "x.nii.gz"])
    err = capsys.readouterr().err
    assert code == EXIT_DATA, err
    assert "interval: error:" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing written when nothing can be tracked


def test_track_with_a_baseline_date_drops_the_earlier_studies(patient, tmp_path, capsys):
    second = patient.timepoints[1].study_date.isoformat()
    out = tmp_path / "out"
    code = main(["track", str(patient.dicom_dir), "-o", str(out), "--baseline", second,
                 "--labels", *_labels(patient)[1:], "--registration", "rigid"])
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    report = json.loads((out / "report.json").read_text())
    dates = [tp["study_date"] for tp in report["timeline"]["timepoints"]]
    assert dates == [tp.study_date.isoformat() for tp in patient.timepoints[1:]]


def test_a_label_map_of_another_patient_grid_is_refused_clearly(patient, tmp_path, capsys):
    other = generate_patient(tmp_path / "other", 9, 1, (30, 40, 40), (9.0, 9.0, 9.0),
                             keep_arrays=False)
    labels = _labels(patient)
    labels[1] = str(other.timepoints[0].labels_path)  # a coarser grid, placed by position
    out = tmp_path / "out"
    code = main(["track", str(patient.dicom_dir), "-o", str(out), "--labels", *labels,
                 "--registration", "rigid", "--no-reports"])
    captured = capsys.readouterr()
    assert code in (EXIT_OK, EXIT_DATA)
    assert "Traceback" not in captured.err
    report = json.loads((out / "report.json").read_text())
    assert any("another voxel grid" in w for w in report["warnings"]), report["warnings"]


def test_track_help_lists_the_options(capsys):
    assert main(["track", "--help"]) == EXIT_OK
    text = capsys.readouterr().out
    for option in ("--model", "--labels", "--baseline", "--patient", "--series",
                   "--registration", "--chained", "--json"):
        assert option in text


def test_the_same_file_twice_is_one_timepoint(patient, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["track", str(patient.dicom_dir), str(patient.dicom_dir), "-o", str(out),
                 "--labels", *_labels(patient), "--registration", "rigid", "--no-reports"])
    assert code == EXIT_OK, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert len(report["timeline"]["timepoints"]) == 3
