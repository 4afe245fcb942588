"""Which files of an output folder go back to the PACS: its real DICOM SEG and SR (TID 1500)
as the tracking writes them, SEGs first, nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from interval.core.errors import IntervalError
from interval.net.results import dicom_result_kind, results_to_send
from tests.longitudinal._report_fixture import shared_case
from tests.net.result_files import write_tracking_dicom


def test_seg_and_sr_of_a_tracking_output_segs_first(tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = write_tracking_dicom(out, timepoints=2)
    (out / "report.json").write_text("{}")
    (out / "key_images").mkdir()
    (out / "key_images" / "L1_tp1.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    image = Path(shared_case().series_files[0][0])
    shutil.copyfile(image, out / "an_image.dcm")  # a CT slice: not a result
    shutil.copyfile(written[0][0], out / "dicom" / ".tp1_seg.0123abcd.tmp.dcm")  # cut save
    (out / "notes").write_text("not DICOM at all")

    found = results_to_send(out)
    segs = [seg for seg, _ in written]
    srs = [sr for _, sr in written]
    assert found == sorted(segs) + sorted(srs)
    assert [dicom_result_kind(p) for p in found] == ["SEG", "SEG", "SR", "SR"]
    assert dicom_result_kind(out / "an_image.dcm") == ""
    assert dicom_result_kind(out / "notes") == ""


def test_a_folder_without_results_gives_none(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hello")
    assert results_to_send(tmp_path) == []


def test_a_missing_folder_is_said_in_words(tmp_path: Path) -> None:
    with pytest.raises(IntervalError, match="does not exist"):
        results_to_send(tmp_path / "gone")
