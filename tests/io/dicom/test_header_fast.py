"""The fast header reader gives exactly what read_header gives, or steps aside.

Checked on every real test file we have (shared data, pydicom, pydicom-data)
and on synthetic files with the structures the fast path must skip correctly
(undefined-length nested sequences, large private elements across its read
window, implicit VR).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pydicom.data
import pytest
from pydicom.data import get_testdata_files
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from interval.core.errors import IntervalError, NotAnImage, UnreadableFile
from interval.io.dicom import header_fast
from interval.io.dicom.header import read_header
from interval.io.dicom.header_fast import read_header_fast, sniff_not_dicom
from tests.conftest import DICOM_DATA
from tests.io.dicom.test_grouping import write_image


class _Tracking(header_fast._Values):
    """Stand-in dataset that records keywords the fast reader does not keep."""

    unknown: set[str]

    def get(self, key, default=None):  # type: ignore[override]
        if key not in header_fast.KNOWN_KEYWORDS:
            self.unknown.add(key)
        return super().get(key, default)


def _corpus(per_folder: int = 30) -> list[str]:
    """Every test file we have, at most ``per_folder`` of each folder (fMRI runs repeat)."""
    roots = [DICOM_DATA, Path(pydicom.data.__file__).parent]
    roots += sorted({Path(f).parent for f in get_testdata_files() if "data_store" in f})
    out = []
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            out.extend(os.path.join(folder, f) for f in sorted(files)[:per_folder])
    return sorted(out)


def _outcome(fn, path: str):
    try:
        return fn(path)
    except IntervalError as exc:
        return exc


def _fast_with_tracking(path: str, unknown: set[str]):
    with open(path, "rb") as f:
        reader = header_fast._Reader(f, os.fstat(f.fileno()).st_size)
        if reader.data[128:132] != b"DICM":
            return None

        class Tracking(_Tracking):
            pass

        Tracking.unknown = unknown
        try:
            return header_fast._parse(reader, path, Tracking)
        except (header_fast._Fallback, NotAnImage):
            return None


def test_fast_reader_equals_full_parser_on_all_test_files() -> None:
    files = _corpus()
    assert len(files) > 600
    n_fast = 0
    unknown: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            fast = _outcome(read_header_fast, path)
            if fast is None:
                continue  # stepped aside: the full parser decides alone
            slow = _outcome(read_header, path)
            if isinstance(fast, NotAnImage):  # a DICOMDIR: the full parser calls it "other"
                assert not isinstance(slow, Exception) and slow.kind == "other", path
                continue
            if isinstance(fast, UnreadableFile):
                if fast.message == header_fast.TRUNCATED_HEADER_REASON:
                    continue  # pydicom may read what is there; the fast reader refuses it
                assert isinstance(slow, UnreadableFile), path  # certainly not DICOM: agreed
                continue
            n_fast += 1
            assert fast == slow, path
            assert _fast_with_tracking(path, unknown) == slow, path
    assert n_fast > 350  # the fast path is the common path
    assert unknown == set(), f"header.py reads attributes the fast reader does not keep: {unknown}"


def _with_nested_sequences(path: Path, *, implicit: bool) -> Path:
    write_image(
        path, series_uid=generate_uid(), implicit=implicit, rows=16, cols=16,
        position=(1.5, -2.25, 30.0), EchoTime=12.5, SeriesDescription="Nested",
    )
    import pydicom

    ds = pydicom.dcmread(path)
    inner = Dataset()
    inner.CodeValue = "1234"
    inner.CodeMeaning = "deep"
    item = Dataset()
    item.ReferencedSOPInstanceUID = generate_uid()
    item.PurposeOfReferenceCodeSequence = DicomSequence([inner])
    ds.ReferencedImageSequence = DicomSequence([item, item])
    ds["ReferencedImageSequence"].is_undefined_length = True
    for it in ds.ReferencedImageSequence:
        it.is_undefined_length_sequence_item = True
    ds.ReferencedImageSequence[0]["PurposeOfReferenceCodeSequence"].is_undefined_length = True
    ds.add_new(0x00291010, "OB", b"\x01" * 40_000)  # a large private element (like a CSA header)
    ds.add_new(0x00291020, "OB", b"\x02" * 16_380)  # ends near a read-window boundary
    ds.save_as(path)
    return path


@pytest.mark.parametrize("implicit", [False, True])
def test_fast_reader_skips_nested_sequences_and_large_elements(tmp_path: Path, implicit: bool) -> None:
    path = _with_nested_sequences(tmp_path / "nested.dcm", implicit=implicit)
    fast = read_header_fast(path)
    assert fast is not None
    assert fast == read_header(path)
    assert fast.frames[0].position == (1.5, -2.25, 30.0)
    assert fast.frames[0].echo_time == 12.5
    assert fast.series_description == "Nested"
    assert fast.pixel_data_offset == os.path.getsize(path) - 16 * 16 * 2


def test_fast_reader_steps_aside_for_enhanced_and_seg() -> None:
    enhanced = next((DICOM_DATA / "dcm_qa_xa30" / "In").rglob("*.dcm"))
    assert read_header_fast(enhanced) is None
    seg = DICOM_DATA / "dcmqi_data" / "data" / "segmentations" / "liver.dcm"
    assert read_header_fast(seg) is None


def test_dicomdir_is_not_an_image() -> None:
    dicomdir = Path(get_testdata_file_path("DICOMDIR"))
    with pytest.raises(NotAnImage, match="DICOMDIR"):
        read_header_fast(dicomdir)


def get_testdata_file_path(name: str) -> str:
    return str(pydicom.data.get_testdata_file(name, read=False))


def test_sniff() -> None:
    assert sniff_not_dicom(b"", 0) == "empty file"
    assert sniff_not_dicom(b"abc", 3) == "not a DICOM file (too small)"
    assert sniff_not_dicom(b"README for this series\n", 23) == "not a DICOM file"
    assert sniff_not_dicom(b'{"key": 1}\n', 11) == "not a DICOM file"
    assert sniff_not_dicom(b"\x5c\x01\x00\x00" + b"\x00" * 8, 352) == "not a DICOM file"  # NIfTI-1
    assert sniff_not_dicom(b"\x1f\x8b\x08\x00" + b"\x00" * 8, 100) == "not a DICOM file"  # gzip
    # raw (ACR-NEMA style) data sets start with a low group: might be DICOM
    assert sniff_not_dicom(b"\x08\x00\x05\x00CS\x0a\x00", 500) is None
    assert sniff_not_dicom(b"\x00\x08\x00\x05CS\x00\x0a", 500) is None  # big endian


def test_force_false_rejects_files_without_marker(tmp_path: Path) -> None:
    raw = Path(get_testdata_file_path("ExplVR_LitEndNoMeta.dcm"))
    assert read_header_fast(raw) is None  # handed to the full parser
    with pytest.raises(UnreadableFile, match="no DICOM file marker"):
        read_header_fast(raw, force=False)
