"""``interval batch`` on a local Dask cluster: cases run side by side in worker processes, a
failing case is recorded while the others finish, reruns skip finished cases, and the
summary and cohort report say what each case's report.json says."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from interval.batch.manifest import read_manifest
from interval.batch.out_folder import BatchFolder
from interval.batch.runner import plan_run
from interval.batch.settings import BatchSettings
from interval.cli.main import EXIT_DATA, EXIT_OK, main
from tests.batch.conftest import descendants, labels_of, read_csv, write_manifest

OPTIONS = ["--registration", "rigid", "--no-reports"]


def _main(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def cohort(patients, tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    broken = root / "broken"
    broken.mkdir()
    (broken / "IM0001.dcm").write_bytes(b"DICM" + bytes(300))
    p0, p1 = patients["p0"], patients["p1"]
    manifest = write_manifest(root / "cohort.csv", [
        {"case_id": "p0", "path": str(p0.dicom_dir), "labels": labels_of(p0),
         "tasks": "track,forecast"},
        {"case_id": "p1", "path": str(p1.dicom_dir), "labels": labels_of(p1), "tasks": "track"},
        {"case_id": "missing", "path": "no<b>such</b>", "labels": "", "tasks": "track"},
        {"case_id": "broken", "path": "broken", "labels": "", "tasks": "track"},
    ])
    out = root / "out"
    before = descendants()
    code, text = _main(["batch", str(manifest), "-o", str(out), "--workers", "2", *OPTIONS])
    return {"manifest": manifest, "out": out, "code": code, "text": text,
            "left": descendants() - before}


def _report(out: Path, case_id: str) -> dict:
    return json.loads((out / "cases" / case_id / "report.json").read_text())


def test_failing_cases_are_recorded_while_the_others_finish(cohort):
    text, out = cohort["text"], cohort["out"]
    assert cohort["code"] == EXIT_DATA, text  # some case failed
    assert "Local Dask cluster: 2 worker process(es), 1 thread(s) each" in text
    assert "Cases: 2 done, 2 failed" in text
    assert f"Summary: {out / 'summary.csv'}" in text
    for case_id in ("p0", "p1"):
        record = json.loads((out / "cases" / case_id / "case.json").read_text())
        assert record["status"] == "ok" and (out / "cases" / case_id / "report.json").is_file()
    missing = json.loads((out / "cases" / "missing" / "case.json").read_text())
    assert missing["status"] == "failed"
    assert missing["reason"].endswith("no<b>such</b>: folder or file not found")
    broken = json.loads((out / "cases" / "broken" / "case.json").read_text())
    assert broken["reason"].startswith("No DICOM images were found")
    assert not [p for p in (out / "cases").iterdir() if p.name.startswith(".")]  # no staging
    workers = {json.loads((out / "cases" / c / "case.json").read_text())["worker"]
               for c in ("p0", "p1", "missing", "broken")}
    assert len(workers) == 2  # both worker processes ran cases
    assert cohort["left"] == set()  # every worker process is gone


def test_summary_csv_says_what_each_report_says(cohort):
    out = cohort["out"]
    rows = {r["case_id"]: r for r in read_csv(out / "summary.csv")}
    assert list(rows) == ["p0", "p1", "missing", "broken"]
    for case_id in ("p0", "p1"):
        row, report = rows[case_id], _report(out, case_id)
        recist = report["recist"]
        roles = [t["role"] for t in report["tracks"]]
        timepoints = report["timeline"]["timepoints"]
        assert row["status"] == "ok" and row["reason"] == "" and row["this_run"] == "yes"
        assert row["timepoints"] == str(len(timepoints)) == "2"
        assert (row["first_date"], row["last_date"]) == \
            (timepoints[0]["study_date"], timepoints[-1]["study_date"])
        assert row["target_lesions"] == str(roles.count("target"))
        assert row["lesions"] == str(sum(1 for r in roles if r != "excluded"))
        assert row["baseline_sum_mm"] == f"{recist[0]['sum_mm']:.1f}"
        assert row["baseline_volume_ml"] == f"{recist[0]['total_volume_ml']:.2f}"
        assert row["last_response"] == row["fu1_response"] == recist[1]["overall_response"]
        assert row["fu1_date"] == timepoints[1]["study_date"]
        assert row["report"] == f"cases/{case_id}/report.json"
    p0, report = rows["p0"], _report(out, "p0")
    defaults = [f for f in report["forecasts"] if f["default"]]
    assert defaults and p0["forecast_date"] == defaults[0]["target_date"]
    assert p0["forecasts_ok"] == str(sum(1 for f in defaults if f["status"] == "ok"))
    targets = [t["lesion_id"] for t in report["tracks"] if t["role"] == "target"]
    medians = {f["lesion_id"]: f["median_mm"] for f in defaults if f["status"] == "ok"}
    if all(t in medians for t in targets):
        assert float(p0["forecast_target_sum_mm"]) == pytest.approx(
            sum(medians[t] for t in targets), abs=0.06)
    assert rows["p1"]["forecast_date"] == "" and rows["p1"]["forecasts_ok"] == ""  # no task
    assert rows["missing"]["status"] == "failed" and "no<b>such</b>" in rows["missing"]["reason"]
    assert rows["missing"]["timepoints"] == "" and rows["broken"]["report"] == ""


def test_cohort_report_holds_every_case_and_escapes_the_text(cohort):
    out = cohort["out"]
    data = json.loads((out / "cohort_report.json").read_text())
    assert data["counts"] == {"cases": 4, "ok": 2, "failed": 2, "not_run": 0,
                              "finished_earlier": 0}
    for case in data["cases"]:
        record = json.loads((out / "cases" / case["case_id"] / "case.json").read_text())
        assert case["numbers"] == record["numbers"] and case["status"] == record["status"]
    p0 = next(c for c in data["cases"] if c["case_id"] == "p0")
    report = _report(out, "p0")
    assert [r["overall_response"] for r in p0["numbers"]["recist"]] == \
        [r["overall_response"] for r in report["recist"]]
    assert {f["lesion_id"] for f in p0["numbers"]["forecasts"]} == \
        {f["lesion_id"] for f in report["forecasts"]}
    page = (out / "cohort_report.html").read_text()
    assert "no&lt;b&gt;such&lt;/b&gt;" in page and "<b>such" not in page
    assert "<script" not in page
    for case_id in ("p0", "p1", "missing", "broken"):
        assert f'id="case-{case_id}"' in page
    for row in report["recist"]:
        assert f"<td>{row['overall_response']}</td>" in page
    assert "Growth forecast (model estimate)" in page


def test_a_rerun_skips_finished_cases_and_retry_failed_runs_only_the_failed(cohort):
    out, manifest = cohort["out"], cohort["manifest"]
    stamps = {c: (out / "cases" / c / "case.json").stat().st_mtime_ns
              for c in ("p0", "p1", "missing", "broken")}
    report_stamp = (out / "cases" / "p0" / "report.json").stat().st_mtime_ns
    code, text = _main(["batch", str(manifest), "-o", str(out), *OPTIONS])
    assert code == EXIT_DATA, text
    assert "4 case(s) had finished in an earlier run: skipped" in text
    assert "Local Dask cluster" not in text  # nothing to run: no cluster started
    assert {c: (out / "cases" / c / "case.json").stat().st_mtime_ns for c in stamps} == stamps
    assert (out / "cases" / "p0" / "report.json").stat().st_mtime_ns == report_stamp
    assert {r["this_run"] for r in read_csv(out / "summary.csv")} == {"earlier"}

    code, text = _main(["batch", str(manifest), "-o", str(out), "--retry-failed",
                        "--workers", "1", *OPTIONS])
    assert code == EXIT_DATA, text
    assert "2 case(s) had finished in an earlier run: skipped" in text
    after = {c: (out / "cases" / c / "case.json").stat().st_mtime_ns for c in stamps}
    assert after["p0"] == stamps["p0"] and after["p1"] == stamps["p1"]
    assert after["missing"] != stamps["missing"] and after["broken"] != stamps["broken"]
    rows = {r["case_id"]: r["this_run"] for r in read_csv(out / "summary.csv")}
    assert rows == {"p0": "earlier", "p1": "earlier", "missing": "yes", "broken": "yes"}


def test_changed_work_is_not_taken_for_finished(cohort):
    out = BatchFolder(cohort["out"])
    cases = read_manifest(cohort["manifest"])
    same = plan_run(cases, out, BatchSettings(registration="rigid", reports=False))
    assert same.todo == []
    other = plan_run(cases, out, BatchSettings(registration="affine", reports=False))
    assert [c.case_id for c in other.todo] == ["p0", "p1", "missing", "broken"]


def test_usage_mistakes_are_refused_before_anything_runs(cohort, tmp_path):
    manifest = cohort["manifest"]
    code, text = _main(["batch", str(manifest), "-o", str(tmp_path / "o"), "--tasks", "forecast"])
    assert code == EXIT_DATA and "forecast needs track" in text
    code, text = _main(["batch", str(manifest), "-o", str(tmp_path / "o"), "--workers", "2",
                        "--scheduler", "tcp://127.0.0.1:1"])
    assert code == EXIT_DATA and "--workers is for the local cluster" in text
    code, text = _main(["batch", str(manifest), "-o", str(tmp_path / "o"), "--model", "nope"])
    assert code == EXIT_DATA and "'nope' is not available" in text
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep")
    code, text = _main(["batch", str(manifest), "-o", str(tmp_path / "busy")])
    assert code == EXIT_DATA and "holds files of something else" in text
    assert not (tmp_path / "o").exists()
    code, _text = _main(["batch", str(manifest), "-o", str(tmp_path / "o"), "--workers", "0"])
    assert code != EXIT_OK
