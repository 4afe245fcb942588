"""The cohort manifest: CSV and JSON read into checked cases; every mistake names its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interval.batch.manifest import Case, ManifestError, check_case_id, parse_tasks, read_manifest
from interval.batch.settings import BatchSettings, case_work, fingerprint


def _csv(tmp_path: Path, text: str, name: str = "cohort.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_rows_become_cases_with_absolute_paths_and_options(tmp_path):
    path = _csv(tmp_path, (
        "Case_ID,path,labels,tasks,baseline,horizon,registration,notes\n"
        "\n"
        "p1,scans/p1;/data/p1b,,\"track,forecast\",2024-03-01,90,Rigid,first\n"
        "# a comment line\n"
        "p-2.b,scans/p2,scans/p2/t1.nii.gz;scans/p2/t2.nii.gz,,,,,\n"
    ))
    cases = read_manifest(path)
    assert [c.case_id for c in cases] == ["p1", "p-2.b"]
    one, two = cases
    assert one.kind == "folder" and one.line == 3
    assert one.paths == (str(tmp_path / "scans" / "p1"), "/data/p1b")
    assert one.tasks == ("track", "forecast") and one.baseline == "2024-03-01"
    assert one.horizon_days == 90.0 and one.registration == "rigid"
    assert two.line == 5 and two.tasks is None
    assert two.labels == (str(tmp_path / "scans/p2/t1.nii.gz"), str(tmp_path / "scans/p2/t2.nii.gz"))
    assert Case.from_dict(json.loads(json.dumps(one.to_dict()))) == one  # plain data both ways


def test_json_manifest_as_a_list_or_cases_object(tmp_path):
    data = [{"case_id": "a", "paths": ["x", "y"]},
            {"case_id": "b", "server": "main-pacs", "study_uids": ["1.2.3", "1.2.4"],
             "model": "phantom-unet", "patient": None}]
    listed = read_manifest(_csv(tmp_path, json.dumps(data, indent=1), "m.json"))
    wrapped = read_manifest(_csv(tmp_path, json.dumps({"cases": data}, indent=2), "w.json"))
    assert [c.to_dict() | {"line": 0} for c in listed] == \
        [c.to_dict() | {"line": 0} for c in wrapped]
    a, b = listed
    assert a.paths == (str(tmp_path / "x"), str(tmp_path / "y")) and a.kind == "folder"
    assert b.kind == "pacs" and b.server == "main-pacs" and b.study_uids == ("1.2.3", "1.2.4")
    assert b.model == "phantom-unet" and b.patient is None
    assert (a.line, b.line) == (2, 9)  # where each object starts in the file


@pytest.mark.parametrize(("text", "message"), [
    ("path\nx\n", "line 1: the header has no case_id column"),
    ("case_id,path,colour\np1,x,red\n", "line 1: unknown column 'colour'"),
    ("case_id,path\np1,x\n../evil,x\n", "line 3: the case_id '../evil' may hold only"),
    ("case_id,path\nCON,x\n", "line 2: the case_id 'CON' is a reserved file name"),
    ("case_id,path\np1,x\nP1,y\n", "line 3: case_id 'P1' is already used on line 2"),
    ("case_id,path\np1,\n", "line 2 (case p1): give the patient's folder (path) or a PACS"),
    ("case_id,path,server,study_uids\np1,x,pacs,1.2\n", "line 2 (case p1): give either path"),
    ("case_id,server\np1,pacs\n", "server 'pacs' needs the study_uids"),
    ("case_id,server,study_uids\np1,pacs,1.2;abc\n", "'abc' is not a Study Instance UID"),
    ("case_id,path,tasks\np1,x,segment\np2,x,\"track,measure\"\n",
     "line 3 (case p2), tasks: unknown task 'measure'"),
    ("case_id,path,tasks\np1,x,forecast\n", "forecast needs track"),
    ("case_id,path,labels,tasks\np1,x,a.nii,segment\n", "nothing to segment"),
    ("case_id,path,baseline\np1,x,01/03/2024\n", "baseline '01/03/2024' is not a date"),
    ("case_id,path,horizon\np1,x,-5\n", "horizon must be above 0"),
    ("case_id,path,registration\np1,x,magic\n", "registration 'magic' is not one of"),
    ("case_id,path\np1,x,extra\n", "line 2: 3 values for 2 columns"),
    ("case_id,path\n", "the manifest lists no case"),
    ("", "the manifest is empty"),
])
def test_csv_mistakes_are_refused_naming_the_line(tmp_path, text, message):
    with pytest.raises(ManifestError) as info:
        read_manifest(_csv(tmp_path, text))
    assert message in str(info.value)
    assert str(info.value).startswith("cohort.csv")


def test_json_mistakes_name_the_line(tmp_path):
    with pytest.raises(ManifestError, match=r"m.json, line 3: not valid JSON"):
        read_manifest(_csv(tmp_path, '[\n {"case_id": "a", "path": "x"},\n {oops}\n]', "m.json"))
    with pytest.raises(ManifestError, match=r"m.json, line 4: a case is an object"):
        read_manifest(_csv(tmp_path, '[\n {"case_id": "a",\n  "path": "x"},\n "b"\n]', "m.json"))
    with pytest.raises(ManifestError, match=r"m.json, line 3 \(case b\): path must be text"):
        read_manifest(_csv(tmp_path, '[{"case_id": "a", "path": "x"},\n\n'
                                     ' {"case_id": "b", "path": [1, 2]}]', "m.json"))
    with pytest.raises(ManifestError, match="a list of cases"):
        read_manifest(_csv(tmp_path, '{"patients": []}', "m.json"))


def test_missing_manifest_says_so(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "nope.csv")


def test_tasks_and_case_ids():
    assert parse_tasks("forecast, TRACK,segment") == ("segment", "track", "forecast")
    assert parse_tasks(["track"]) == ("track",)
    with pytest.raises(ManifestError, match="no task"):
        parse_tasks(" , ")
    assert check_case_id("Patient_01.a-b") is None
    for bad in ("", ".", "..", "a/b", "a b", "-x", "x.", "lpt1.txt", "é", "a" * 65):
        assert check_case_id(bad), bad


def test_case_work_merges_the_run_settings_and_labels_skip_the_model():
    settings = BatchSettings(model="m1", registration="rigid", horizon_days=30.0)
    plain = Case("a", "folder", paths=("/x",))
    work = case_work(plain, settings)
    assert work["tasks"] == ["segment", "track", "forecast"] and work["model"] == "m1"
    assert work["registration"] == "rigid" and work["horizon_days"] == 30.0
    given = Case("b", "folder", paths=("/x",), labels=("/l1", "/l2"), registration="affine",
                 horizon_days=60.0)
    work = case_work(given, settings)
    assert work["tasks"] == ["track", "forecast"] and work["model"] is None
    assert work["registration"] == "affine" and work["horizon_days"] == 60.0
    assert json.loads(json.dumps(work)) == work  # plain data only


def test_fingerprint_follows_the_work_not_the_speed_settings():
    case = Case("a", "folder", paths=("/x",), line=3)
    base = fingerprint(case_work(case, BatchSettings()))
    assert base == fingerprint(case_work(Case("a", "folder", paths=("/x",), line=9),
                                         BatchSettings(threads=4, device="cpu")))
    assert base != fingerprint(case_work(case, BatchSettings(tasks=("segment",))))
    assert base != fingerprint(case_work(case, BatchSettings(model="other")))
    assert base != fingerprint(case_work(Case("a", "folder", paths=("/y",)), BatchSettings()))
