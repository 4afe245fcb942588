"""Every pydicom / pydicom-data test file goes through the indexer without an exception.

Each file ends up either in the index (image stack, non-image object) or in
``DicomIndex.skipped`` with a reason; none is lost and none is both.  The
files are read in place (read-only), never modified.
"""

from __future__ import annotations

import os
from pathlib import Path

import pydicom.data
import pytest
from pydicom.data import get_testdata_files

from interval.io.dicom.index import index_files, index_folder

PYDICOM_TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
ALL_TESTDATA = sorted(get_testdata_files())


def files_under(folder: Path) -> set[str]:
    return {os.path.join(r, f) for r, _d, fs in os.walk(folder) for f in fs}


def indexed_paths(index) -> set[str]:
    paths = set()
    for _p, _st, se in index.iter_series():
        paths.update(f.header.path for s in se.stacks for f in s.frames)
        paths.update(o.header.path for o in se.objects + se.attached)
    return paths


def assert_accounted(index, expected: set[str]) -> None:
    indexed = indexed_paths(index)
    skipped = [s.path for s in index.skipped]
    assert len(skipped) == len(set(skipped)), "a file is skipped twice"
    assert not indexed & set(skipped), "a file is both indexed and skipped"
    assert indexed | set(skipped) == expected
    assert all(s.reason and not s.reason.startswith("Traceback") for s in index.skipped)


def test_testdata_files_exist() -> None:
    assert PYDICOM_TEST_FILES.is_dir()
    assert len(ALL_TESTDATA) > 150  # pydicom's own plus pydicom-data's downloaded files
    assert any("data_store" in f for f in ALL_TESTDATA), "pydicom-data is not installed"


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pydicom_test_files_folder() -> None:
    index = index_folder(PYDICOM_TEST_FILES)
    assert_accounted(index, files_under(PYDICOM_TEST_FILES))
    reasons = {os.path.relpath(s.path, PYDICOM_TEST_FILES): s.reason for s in index.skipped}
    assert reasons["README.txt"] == "not a DICOM file"
    assert reasons["zipMR.gz"] == "not a DICOM file"
    assert reasons["MR_truncated.dcm"].startswith("truncated")
    assert reasons["rtplan_truncated.dcm"].startswith("truncated")
    assert reasons[os.path.join("dicomdirtests", "DICOMDIR")].startswith("DICOMDIR")
    kinds = {
        Path(o.header.path).name: o.kind
        for _p, _st, se in index.iter_series()
        for o in se.objects + se.attached
    }
    assert kinds["rtstruct.dcm"] == "rtstruct"
    assert kinds["waveform_ecg.dcm"] == "waveform"
    assert kinds["test-SR.dcm"] == "sr"
    in_stacks = {Path(f.header.path).name for s in index.iter_stacks() for f in s.frames}
    assert {"CT_small.dcm", "MR_small.dcm", "image_dfl.dcm", "SC_rgb_jpeg.dcm", "examples_palette.dcm"} <= in_stacks
    # rtdose.dcm and badVR.dcm share a SOP Instance UID but are different files: both kept
    assert "rtdose.dcm" not in reasons and "badVR.dcm" not in reasons


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pydicom_data_store_folder() -> None:
    store = {Path(f).parent for f in ALL_TESTDATA if "data_store" in f}
    assert store
    for folder in store:
        index = index_folder(folder)
        assert_accounted(index, files_under(folder))
        assert index.patients


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_testdata_file_individually_listed() -> None:
    """index_files with the explicit list: every file is parsed (no DICOMDIR rules apply)."""
    index = index_files(ALL_TESTDATA)  # the list names a few folders too
    expected = {f for f in ALL_TESTDATA if os.path.isfile(f)}
    for folder in (f for f in ALL_TESTDATA if os.path.isdir(f)):
        expected |= files_under(Path(folder))
    assert_accounted(index, expected)
    # files pydicom cannot make sense of are explained, not hidden
    reasons = {Path(s.path).name: s.reason for s in index.skipped}
    assert reasons["DICOMDIR-bigEnd"].startswith("DICOMDIR")
    assert reasons["no_meta.dcm"].startswith("not a DICOM file")
