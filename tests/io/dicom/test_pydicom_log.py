"""pydicom's log records: into Interval's log as plain text, counted per skipped file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from interval.core.log_relay import LogRelay
from interval.io.dicom import pydicom_log
from interval.io.dicom.index import index_files
from interval.io.dicom.records import SkippedFile
from tests.cli.dicom_factory import write_ct_series


def test_plain_text_drops_values_and_binary() -> None:
    text = "Invalid value for VR PN: 'DOE^JOHN\x00\x8f' and b'\xde\x00' len (12)"
    plain = pydicom_log.plain_text(text)
    assert "DOE" not in plain and "\x00" not in plain and "\x8f" not in plain
    assert plain.startswith("Invalid value for VR PN: '…'") and "(12)" in plain


def test_plain_reason_keeps_words_drops_byte_strings() -> None:
    reason = "damaged DICOM header (Expected total bytes. Instead received b'\\xde\\x00\\x00OB"
    assert pydicom_log.plain_reason(reason) == (
        "damaged DICOM header (Expected total bytes. Instead received …"
    )
    assert pydicom_log.plain_reason("bob's file (fine)") == "bob's file (fine)"


class _Names(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_records_go_to_interval_log_not_root() -> None:
    pydicom_log.route_pydicom_logging()
    pydicom_log.route_pydicom_logging()  # idempotent
    handlers = logging.getLogger("pydicom").handlers
    assert sum(isinstance(h, LogRelay) for h in handlers) == 1
    root = logging.getLogger()
    seen = _Names()
    level = root.level
    root.addHandler(seen)
    root.setLevel(logging.DEBUG)
    try:
        logging.getLogger("pydicom").warning("Invalid value for VR UI: '1.2\x00SMITH'")
    finally:
        root.removeHandler(seen)
        root.setLevel(level)
    assert [r.name for r in seen.records] == [pydicom_log.LOG_NAME]
    assert seen.records[0].levelno == logging.DEBUG
    assert seen.records[0].getMessage() == "pydicom warning: Invalid value for VR UI: '…'"


def test_parse_noted_counts_and_annotates_skipped_files() -> None:
    def parse(path: str, _force: bool) -> SkippedFile:
        for _ in range(3):
            logging.getLogger("pydicom").warning("odd value")
        return SkippedFile(path, "damaged DICOM header (got b'\\x00\\x01')")

    result = pydicom_log.parse_noted(parse, "a.dcm", True)
    assert result.reason == "damaged DICOM header (got …) [3 header warnings]"
    assert pydicom_log.reason_group(result.reason) == "damaged DICOM header (got …)"
    quiet = pydicom_log.parse_noted(lambda p, f: SkippedFile(p, "not a DICOM file"), "b", True)
    assert quiet.reason == "not a DICOM file"


def damaged_copy(path: Path) -> Path:
    """No DICM marker (so pydicom parses it) and a SOP Class UID with binary garbage."""
    data = path.read_bytes()
    sop_class = b"1.2.840.10008.5.1.4.1.1.2\x00"
    assert data.count(sop_class) == 2  # file meta and dataset
    path.write_bytes(data[132:].replace(sop_class, b"1.2.840\xe010008.5.1\x8f4.1.1.2\x00"))
    return path


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_index_counts_header_warnings_of_a_damaged_file(tmp_path: Path) -> None:
    series = write_ct_series(tmp_path / "s", n=3)
    bad = damaged_copy(series.paths[0])
    index = index_files([str(p) for p in series.paths])
    (skipped,) = index.skipped
    assert skipped.path == str(bad)
    assert skipped.reason == (
        "damaged DICOM header (its SOP Class UID is not a valid UID) [1 header warning]"
    )
