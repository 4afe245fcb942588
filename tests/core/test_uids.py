"""DICOM UIDs as text: the check used for folder names, manifests and headers, and the
file name a retrieved instance gets."""

from __future__ import annotations

from interval.core.uids import instance_file_name, is_uid


def test_is_uid():
    assert is_uid("1.2.840.10008.1.2") and is_uid("0")
    for bad in ("", "1..2", ".1", "1.2.", "1.2a", "../x", "1" * 65, None, 12):
        assert not is_uid(bad)


def test_file_name_stays_in_the_folder():
    assert instance_file_name("1.2.840.5") == "1.2.840.5.dcm"
    assert instance_file_name("1.2.840.5\x00") == "1.2.840.5.dcm"  # padded as sent
    for hostile in ("../../etc/passwd", "..", "a/b", ""):
        name = instance_file_name(hostile)
        assert "/" not in name and not name.startswith(".") and name.endswith(".dcm")
    assert instance_file_name("../x") == instance_file_name("../x")  # stable
