"""``interval info``: the tree from headers, as text and as JSON."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from interval.cli.main import main
from interval.core.volume import Volume
from interval.io import image_files
from interval.io.image_files import write_image
from tests.cli.dicom_factory import write_ct_series, write_junk
from tests.conftest import shared


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["info", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def all_stacks(tree: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        stack
        for p in tree["patients"]
        for st in p["studies"]
        for se in st["series"]
        for stack in se["stacks"]
    ]


def all_series(tree: dict[str, Any]) -> list[dict[str, Any]]:
    return [se for p in tree["patients"] for st in p["studies"] for se in st["series"]]


@pytest.fixture
def two_series(tmp_path: Path) -> Path:
    root = tmp_path / "study"
    study = "1.2.826.0.1.3680043.8.498.1"
    write_ct_series(root / "a", n=5, series_number=3, description="Axial", study_uid=study)
    write_ct_series(
        root / "b", n=4, rows=6, cols=7, series_number=4, description="Thin", study_uid=study,
        positions_z=[0.0, 1.25, 2.5, 3.75], pixel_spacing=(0.8, 0.8), seed=1,
    )
    write_junk(root, ["README.txt", "notes.md"])
    return root


def test_json_tree_of_a_folder(two_series: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = run_json(capsys, str(two_series))
    assert tree["schema"] == 1 and tree["kind"] == "dicom-folder"
    assert tree["summary"] == {
        "patients": 1, "studies": 1, "series": 2, "stacks": 2, "files": 9, "skipped": 2,
    }
    patient = tree["patients"][0]
    assert patient["patient_name"] == "TEST^PATIENT" and patient["patient_id"] == "PID001"
    assert patient["birth_date"] == "1970-01-01" and patient["sex"] == "F"
    study = patient["studies"][0]
    assert study["date"] == "2024-01-02" and study["description"] == "CT CHEST"
    series = {s["series_number"]: s for s in study["series"]}
    assert series[3]["modality"] == "CT" and series[3]["description"] == "Axial"
    assert series[3]["files"] == 5
    a = series[3]["stacks"][0]
    assert a["dimensions"] == [10, 8, 5] and a["slice_count"] == 5
    assert a["spacing"] == [0.5, 0.6, 2.5]
    assert a["orientation"] == "axial" and a["compressed"] is False
    assert a["warnings"] == []
    b = series[4]["stacks"][0]
    assert b["dimensions"] == [7, 6, 4] and b["spacing"] == [0.8, 0.8, 1.25]
    skipped = {s["path"]: s["reason"] for s in tree["skipped"]}
    assert set(skipped) == {"README.txt", "notes.md"}
    assert all(reason for reason in skipped.values())


def test_text_tree_of_a_folder(two_series: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(two_series)]) == 0
    out = capsys.readouterr().out
    assert "1 patient, 1 study, 2 series, 2 image stacks, 9 files; 2 skipped" in out
    assert "Patient TEST PATIENT  (ID PID001, sex F, born 1970-01-01)" in out
    assert 'Series 3  CT  "Axial"  5 files' in out
    assert "10 x 8 x 5  spacing 0.5 x 0.6 x 2.5 mm  axial" in out
    assert "7 x 6 x 4  spacing 0.8 x 0.8 x 1.25 mm" in out
    assert "Skipped 2 files:" in out and "README.txt" in out


def test_single_dicom_file(two_series: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = sorted((two_series / "a").iterdir())[0]
    tree = run_json(capsys, str(one))
    assert tree["kind"] == "dicom-file"
    (stack,) = all_stacks(tree)
    assert stack["dimensions"] == [10, 8, 1]
    assert stack["spacing"][:2] == [0.5, 0.6]


def test_skipped_files_are_summarised_unless_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_ct_series(tmp_path / "s", n=3)
    junk = write_junk(tmp_path / "s", [f"junk{i:02d}.txt" for i in range(12)])
    assert main(["info", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "Skipped 12 files:" in out
    assert "7 more; --verbose lists every file" in out
    assert sum(1 for j in junk if j.name in out) == 5
    assert main(["info", str(tmp_path / "s"), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert all(j.name in out for j in junk)


def test_missing_slice_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_ct_series(tmp_path / "gap", positions_z=[0.0, 2.0, 4.0, 8.0, 10.0])
    (stack,) = all_stacks(run_json(capsys, str(tmp_path / "gap")))
    assert stack["spacing"][2] == pytest.approx(2.0)
    assert any("missing" in w for w in stack["warnings"]), stack["warnings"]


def test_image_file_from_header_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    vol = Volume(np.zeros((3, 4, 5), dtype=np.int16), (0.5, 0.75, 2.0), (1.0, 2.0, 3.0))
    path = write_image(vol, tmp_path / "scan.nii.gz")

    def no_pixels(*args: object, **kwargs: object) -> None:
        raise AssertionError("info must not read voxels")

    monkeypatch.setattr(image_files.sitk, "ReadImage", no_pixels)
    tree = run_json(capsys, str(path))
    assert tree["kind"] == "image-file" and tree["patients"] == []
    im = tree["image"]
    assert im["format"] == "NIfTI" and im["dimensions"] == [5, 4, 3]
    assert im["spacing"] == [0.5, 0.75, 2.0] and im["dtype"] == "int16"
    assert im["origin"] == [1.0, 2.0, 3.0]
    assert im["direction"] == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "NIfTI file" in out and "5 x 4 x 3  int16  spacing 0.5 x 0.75 x 2 mm  axial" in out


def test_damaged_image_file_is_a_data_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.nrrd"
    bad.write_text("NRRD0004\ngarbage\n")
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.nrrd" in err and "Traceback" not in err


def test_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = run_json(capsys, str(tmp_path))
    assert tree["summary"]["stacks"] == 0 and tree["patients"] == []


def test_patient_names_are_never_logged(
    two_series: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert main(["--debug", "info", str(two_series)]) == 0
    captured = capsys.readouterr()
    assert "TEST PATIENT" in captured.out  # shown to the user...
    assert "TEST^PATIENT" not in caplog.text and "PID001" not in caplog.text  # ...never logged
    assert "TEST^PATIENT" not in captured.err and "PID001" not in captured.err


def test_forced_progress_goes_to_stderr(
    two_series: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(two_series), "--json", "--progress"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout stays clean JSON
    assert "Indexing" in captured.err


# --- real data ------------------------------------------------------------------------


def test_real_data_with_seg_and_sr(capsys: pytest.CaptureFixture[str]) -> None:
    """dcmqi's folder: a 3-slice CT, SEG objects referencing it and an SR."""
    tree = run_json(capsys, str(shared("dcmqi_data", "data", "segmentations")))
    by_uid = {se["series_instance_uid"]: se for se in all_series(tree)}
    colon = by_uid["1.2.392.200103.20080913.113635.1.2009.6.22.21.43.10.23430.1"]
    assert colon["stacks"][0]["dimensions"] == [512, 512, 3]
    segs = [o for o in colon["attached"] if o["kind"] == "seg"]
    assert {o["description"] for o in segs} >= {"Liver"}, "SEGs hang on the CT they reference"
    assert all(o["sop_instance_uid"] and o["path"].endswith(".dcm") for o in segs)
    assert main(["info", str(shared("dcmqi_data", "data", "segmentations"))]) == 0
    assert 'attached SEG "Liver"' in capsys.readouterr().out


def test_real_mr_series_with_non_dicom_files(capsys: pytest.CaptureFixture[str]) -> None:
    root = shared("dcm_qa_nih", "In")
    tree = run_json(capsys, str(root))
    assert tree["summary"]["series"] >= 8
    readmes = [s for s in tree["skipped"] if Path(s["path"]).name.startswith("README")]
    assert len(readmes) == 10  # two study READMEs and eight series READMEs
    for stack in all_stacks(tree):
        assert all(d > 0 for d in stack["dimensions"])
        assert stack["spacing"][0] and stack["spacing"][1]
    by_desc = {se["description"]: se for se in all_series(tree)}
    # Siemens mosaic: 216x216 pixels tiling 5 slices of 72x72 (dcm2niix: 72x72x5, 3x3x12 mm)
    mosaic = by_desc["EPI PE=AP"]["stacks"][0]
    assert mosaic["dimensions"] == [72, 72, 5] and mosaic["spacing"] == [3.0, 3.0, 12.0]
    # GE EPI: 150 files = 10 volumes of 15 slices (dcm2niix: 64x64x15x10, 3.75x3.75x5 mm)
    ge = by_desc["Axial EPI-FMRI (Interleaved I to S)"]
    assert ge["files"] == 150
    assert {tuple(s["dimensions"]) for s in ge["stacks"]} == {(64, 64, 15)}
    assert ge["stacks"][0]["spacing"] == [3.75, 3.75, 5.0]


def test_real_compressed_file(capsys: pytest.CaptureFixture[str]) -> None:
    tree = run_json(capsys, str(shared("dcm_qa_ts", "In")))
    stacks = all_stacks(tree)
    assert any(s["compressed"] for s in stacks)
    assert all(s["dimensions"][:2] == stacks[0]["dimensions"][:2] for s in stacks)
