"""What the DICOMweb backend sends and reads, without a server."""

from __future__ import annotations

import io
from datetime import date

import pytest

from interval.net import dicomweb_wire as wire
from interval.net.model import StudyHit, StudyQuery


def test_query_string_keeps_wildcards_and_widens_carets():
    qs = wire.study_query_string(StudyQuery(patient_name="DOE^J*", patient_id="12?4 5",
                                            date_from=date(2020, 1, 2), modality="mr", limit=7))
    params = qs.split("&")
    assert "PatientName=DOE*J*" in params
    assert "PatientID=12?4%205" in params
    assert "StudyDate=20200102-" in params
    assert "ModalitiesInStudy=MR" in params
    assert "fuzzymatching=false" in params and "limit=7" in params
    assert "includefield=NumberOfStudyRelatedInstances" in params


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (None, None, ""), (date(2020, 1, 2), None, "20200102-"), (None, date(2020, 1, 2), "-20200102"),
    (date(2020, 1, 2), date(2020, 1, 2), "20200102"),
    (date(2019, 5, 1), date(2020, 1, 2), "20190501-20200102"),
])
def test_date_range(lo, hi, expected):
    assert wire.dicom_date_range(StudyQuery(date_from=lo, date_to=hi)) == expected


@pytest.mark.parametrize(("pattern", "name", "matches"), [
    ("DOE^JOHN", "Doe^John", True), ("DOE^JOHN", "DOE^JOHN^^^", True),
    ("DOE^J*", "DOE^JANE", True), ("DOE^J?HN", "DOE^JOHN", True),
    ("DOE^JOHN", "DOE^JOHNNY", False), ("DOE", "DOE^JOHN", False), ("D.E^*", "DOE^X", False),
])
def test_name_matches(pattern, name, matches):
    assert wire.name_matches(pattern, name) is matches


def test_keep_study_checks_modality_and_widened_name():
    hit = StudyHit(study_uid="1.2", patient_name="DOE^JOHN", modalities=("CT", "SR"))
    assert wire.keep_study(hit, StudyQuery(modality="ct"))
    assert not wire.keep_study(hit, StudyQuery(modality="MR"))
    assert wire.keep_study(StudyHit(study_uid="1.2"), StudyQuery(modality="MR"))  # none listed
    assert not wire.keep_study(hit, StudyQuery(patient_name="DOE^JANE"))
    assert wire.keep_study(hit, StudyQuery(patient_name="doe^*"))


def test_study_hit_from_sparse_dicom_json():
    item = {
        "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "DOE^JOHN", "Ideographic": "x"}]},
        "00100020": {"vr": "LO"},  # present without a value
        "00080061": {"vr": "CS", "Value": ["CT\\PT"]},  # one string, two values
        "00201206": {"vr": "IS", "Value": ["4"]},
        "00201208": {"vr": "IS", "Value": ["not a number"]},
    }
    hit = wire.study_hit(item)
    assert hit == StudyHit(study_uid="1.2.3", patient_name="DOE^JOHN", modalities=("CT", "PT"),
                           n_series=4, n_instances=None)
    assert wire.study_hit({"00100020": {"vr": "LO", "Value": ["X"]}}) is None
    assert wire.dataset_list(["abc"]) is None and wire.dataset_list({"a": {}}) == [{"a": {}}]


def test_instance_uids_ordered_once():
    items = [{"00080018": {"Value": [uid]}, "00200013": {"Value": [n]}}
             for uid, n in [("1.9", 3), ("1.7", 1), ("1.8", None), ("1.7", 1)]]
    assert wire.instance_uids(items) == ["1.7", "1.9", "1.8"]


def _multipart(body: bytes, boundary: str = "b0UND", length: bool = True) -> bytes:
    head = "Content-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n"
    if length:
        head += f"Content-Length: {len(body)}\r\n"
    return (f"--{boundary}\r\n{head}\r\n".encode() + body + f"\r\n--{boundary}--\r\n".encode())


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_write_first_part_any_chunking(chunk):
    body = bytes(range(256)) * 40 + b"\r\n--b0UN"  # a near-delimiter inside the data
    data = _multipart(body)
    out = io.BytesIO()
    headers = wire.write_first_part(iter([data[i:i + chunk] for i in range(0, len(data), chunk)]),
                                    "b0UND", out)
    assert out.getvalue() == body
    assert "transfer-syntax=1.2.840.10008.1.2.1" in wire.part_header(headers, "content-type")


@pytest.mark.parametrize("length", [True, False])
def test_write_first_part_cut(length):
    data = _multipart(b"x" * 5000, length=length)
    with pytest.raises(wire.Truncated):
        wire.write_first_part(iter([data[:3000]]), "b0UND", io.BytesIO())


def test_write_first_part_wrong_length():
    data = _multipart(b"x" * 50).replace(b"Content-Length: 50", b"Content-Length: 60")
    with pytest.raises(wire.Truncated):
        wire.write_first_part(iter([data]), "b0UND", io.BytesIO())


def test_multipart_body_round_trip():
    body, content_type = wire.multipart_body([b"one", b"two"])
    media, params = wire.media_type_params(content_type)
    assert media == "multipart/related" and params["type"] == "application/dicom"
    out = io.BytesIO()
    wire.write_first_part(iter([body]), params["boundary"], out)
    assert out.getvalue() == b"one"
    assert body.count(params["boundary"].encode()) == 3


def test_store_answer_in_words():
    answer = wire.store_answer({
        "00081199": {"vr": "SQ", "Value": [{}, {}]},
        "00081198": {"vr": "SQ", "Value": [{"00081197": {"vr": "US", "Value": [0xA700]}},
                                           {"00081197": {"vr": "US", "Value": [272]}},
                                           {}]},
    })
    assert answer.accepted == 2
    assert answer.reasons == ["the server is out of resources (disk full?)",
                              "the server failed to process it", "no reason given"]
    assert wire.store_answer({"00081198": {"vr": "SQ"}}).accepted is None
    assert wire.failure_words(0xC122).startswith("the server does not accept its transfer")
    assert wire.failure_words(0x1234) == "failure status 0x1234"
