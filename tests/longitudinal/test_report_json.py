"""report.json: written atomically as sorted, indented JSON, read back, every key documented,
and a damaged file refused with a clear message."""

from __future__ import annotations

import json
import math
import re

import pytest

from interval.core.errors import UnreadableFile
from interval.longitudinal import report_json
from interval.longitudinal.model import SCHEMA_VERSION
from interval.longitudinal.report_common import ReportError
from interval.longitudinal.report_json import read_report, report_json_text, write_report_json
from tests.longitudinal._equivocal_fixture import EQUIVOCAL_ID, THRESHOLD, equivocal_report
from tests.longitudinal._report_fixture import fresh_report, shared_case


@pytest.fixture(scope="module")
def case():
    return shared_case()


def test_round_trip_is_exact_and_sorted(case, tmp_path):
    report = fresh_report(case)
    path = write_report_json(report, tmp_path / "report.json")
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    assert data["schema"] == SCHEMA_VERSION
    back = read_report(path)
    assert back.to_dict() == report.to_dict()
    # typed again: dates, tuples, dict keys of members
    assert back.timeline.timepoints[1].study_date == report.timeline.timepoints[1].study_date
    assert back.tracks[0].members == report.tracks[0].members
    assert back.measurements[0].long_axis == report.measurements[0].long_axis


def test_non_finite_numbers_become_null(case):
    report = fresh_report(case)
    report.timings["odd"] = math.inf
    report.recist[1] = type(report.recist[1])(**{**vars(report.recist[1]),
                                                 "change_from_baseline_pct": math.nan})
    data = json.loads(report_json_text(report))  # strict JSON: no NaN/Infinity tokens
    assert data["timings"]["odd"] is None
    assert data["recist"][1]["change_from_baseline_pct"] is None


# Objects whose keys are data (timepoint indices, lesion ids, phase or output names).
_DATA_MAPS = {"members", "merged_into", "target_diameters", "timings", "outputs", "corrections",
              "confirmed_new_lesions"}


def _keys(value, out: set[str]) -> set[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            out.add(k)
            if k not in _DATA_MAPS:
                _keys(v, out)
    elif isinstance(value, list):
        for v in value:
            _keys(v, out)
    return out


def test_every_key_is_documented(case):
    data = json.loads(report_json_text(case.report))
    documented = set(re.findall(r"``([a-z_0-9]+)(?:\[\])?``", report_json.__doc__ or ""))
    data_keys = _keys(data, set())
    assert len(data_keys) > 60
    assert data_keys <= documented, f"undocumented keys: {sorted(data_keys - documented)}"
    assert "Schema, version 1" in report_json.__doc__


@pytest.mark.parametrize(("content", "words"), [
    ('{"schema": 1, "timeline": {"patient_id": "x", ', "not valid JSON"),
    ("[1, 2, 3]", "not an Interval longitudinal report"),
    ('{"hello": 1}', "not an Interval longitudinal report"),
    ('{"timeline": {}}', "schema version is missing"),
    ('{"schema": 99, "timeline": {}}', "newer than this Interval reads"),
    ('{"schema": 1, "timeline": {"patient_id": "x"}}', "missing or of the wrong kind"),
    ('{"schema": 1, "timeline": {"patient_id": "x", "patient_name": "y", "timepoints": 5}}',
     "missing or of the wrong kind"),
])
def test_damaged_files_are_refused_clearly(tmp_path, content, words):
    path = tmp_path / "report.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportError) as err:
        read_report(path)
    assert words in str(err.value)
    assert str(err.value).startswith("report.json: ")  # names the file


def test_unreadable_files(tmp_path):
    with pytest.raises(UnreadableFile, match="cannot be read"):
        read_report(tmp_path / "missing.json")
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"schema": 1, "timeline": "\xe9"}')
    with pytest.raises(UnreadableFile, match="not UTF-8"):
        read_report(bad)


def test_truncated_real_report_is_refused(case, tmp_path):
    text = report_json_text(case.report)
    path = tmp_path / "report.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(ReportError, match="damaged"):
        read_report(path)


def test_scores_and_equivocal_new_lesions_round_trip(case, tmp_path):
    report = equivocal_report(case)
    back = read_report(write_report_json(report, tmp_path / "report.json"))
    assert back.to_dict() == report.to_dict()
    assert back.equivocal_below == THRESHOLD
    assert {m.score for m in back.measurements} >= {0.41, 0.85, 0.9, None}
    assert back.recist[1].equivocal_new_lesions == (EQUIVOCAL_ID,)
    assert back.recist[2].confirmed_new_lesions == {EQUIVOCAL_ID: 1}  # int timepoint again
    data = json.loads(report_json_text(report))
    assert data["recist"][1]["equivocal_new_lesions"] == [EQUIVOCAL_ID]
    assert data["recist"][2]["confirmed_new_lesions"] == {EQUIVOCAL_ID: 1}


def test_an_older_report_without_scores_reads_as_unknown(case, tmp_path):
    data = json.loads(report_json_text(equivocal_report(case)))
    del data["equivocal_below"]
    for m in data["measurements"]:
        del m["score"]
    for r in data["recist"]:
        del r["equivocal_new_lesions"], r["confirmed_new_lesions"]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    back = read_report(path)
    assert back.equivocal_below is None
    assert all(m.score is None for m in back.measurements)
    assert all(r.equivocal_new_lesions == () and r.confirmed_new_lesions == {}
               for r in back.recist)
