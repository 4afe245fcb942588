"""``interval demo``: generate (or reuse) a synthetic patient, index and load it, summarise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from interval.cli.demo import default_demo_dir, run_demo
from interval.core.errors import IntervalError
from interval.io.synthetic.patient import MANIFEST, read_synthetic_patient

SHAPE = (20, 64, 64)


def _run(out: Path | None, seed: int = 0) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = run_demo(out, seed, lines.append, shape=SHAPE)
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
