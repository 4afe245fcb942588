"""pydicom's own log records never reach the terminal; Interval says what was wrong per file.

The commands run in a subprocess, as a user runs them (logging set up by
``main``, index workers, C libraries writing on stderr).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from tests.cli.dicom_factory import write_ct_series
from tests.io.dicom.test_pydicom_log import damaged_copy


def interval(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interval.cli.main", *argv],
        capture_output=True, text=True, timeout=120, check=False,
    )


def assert_no_pydicom_noise(err: str) -> None:
    assert "Traceback" not in err
    assert "pydicom" not in err
    assert "Invalid value" not in err and "\\x" not in err
    assert err.isprintable() or all(line.isprintable() for line in err.splitlines())


@pytest.fixture
def damaged_folder(tmp_path: Path) -> Path:
    root = tmp_path / "study"
    series = write_ct_series(root, n=5, patient_name="NOISE^PATIENT")
    for path in series.paths[:2]:
        damaged_copy(path)
    return root


def test_info_on_damaged_folder_is_quiet(damaged_folder: Path) -> None:
    run = interval("info", str(damaged_folder), "--verbose")
    assert run.returncode == 0, run.stderr
    assert_no_pydicom_noise(run.stderr)
    assert "NOISE" not in run.stderr
    assert "Skipped 2 files:" in run.stdout
    assert run.stdout.count(
        "damaged DICOM header (its SOP Class UID is not a valid UID) [1 header warning]"
    ) == 2


def test_info_groups_damaged_files_by_reason(damaged_folder: Path) -> None:
    run = interval("info", str(damaged_folder))
    assert run.returncode == 0, run.stderr
    assert "      2  damaged DICOM header (its SOP Class UID is not a valid UID)\n" in run.stdout


def test_debug_shows_pydicom_notes_as_plain_debug_lines(damaged_folder: Path) -> None:
    run = interval("info", str(damaged_folder), "--debug")
    assert run.returncode == 0, run.stderr
    notes = [line for line in run.stderr.splitlines() if "interval.pydicom:" in line]
    assert notes and all(line.startswith("interval: DEBUG: interval.pydicom: ") for line in notes)
    assert all(line.isprintable() and "\\x" not in line for line in notes)
    assert "NOISE" not in run.stderr


def _garbled_jpeg2000(tmp_path: Path) -> Path:
    src = get_testdata_file("MR_small_jp2klossless.dcm")
    assert src is not None
    data = bytearray(Path(src).read_bytes())
    start = data.find(b"\xff\x4f\xff\x51")  # J2K codestream: SOC, SIZ
    assert start > 0
    for i in range(start + 120, start + 2000):  # inside the codestream: encapsulation intact
        data[i] ^= 0x5A
    path = tmp_path / "garbled_j2k.dcm"
    path.write_bytes(bytes(data))
    return path


def test_convert_damaged_jpeg2000_gives_one_clean_message(tmp_path: Path) -> None:
    src = _garbled_jpeg2000(tmp_path)
    run = interval("convert", str(src), "-o", str(tmp_path / "out.nii.gz"))
    assert run.returncode == 1
    assert_no_pydicom_noise(run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("interval: error: garbled_j2k.dcm: its JPEG 2000 ")
    assert "probably damaged" in lines[0]
    assert not (tmp_path / "out.nii.gz").exists()


def test_convert_12bit_jpeg_extended_without_gdcm_notes(tmp_path: Path) -> None:
    src = get_testdata_file("JPEG-lossy.dcm")
    assert src is not None
    copy = tmp_path / "lossy.dcm"
    shutil.copy(src, copy)
    run = interval("convert", str(copy), "-o", str(tmp_path / "out.nrrd"))
    assert run.returncode == 0, run.stderr
    assert "Wrote" in run.stdout and "256 x 1024 x 1" in run.stdout
    assert_no_pydicom_noise(run.stderr)
    assert "JPEG data precision" not in run.stderr and "SOS" not in run.stderr
    assert "damaged" not in run.stderr
