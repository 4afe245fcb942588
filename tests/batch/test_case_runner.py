"""One case in isolation (``run_case``, here in this process): a whole result or a failed
record with its reason, never an exception, never a half-written folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interval.batch import case_work as case_work_module
from interval.batch.case_folder import new_staging, read_record, remove_leftovers
from interval.batch.case_runner import run_case
from interval.batch.manifest import Case
from interval.batch.out_folder import BatchFolder
from interval.batch.settings import BatchSettings, case_work, fingerprint
from interval.io.synthetic.patient import generate_patient
from interval.plugins.discovery import set_session_plugin_dirs
from tests.batch.conftest import labels_of
from tests.plugins.conftest import network_plugin

FAST = BatchSettings(tasks=("track",), registration="rigid", reports=False)


@pytest.fixture
def out(tmp_path: Path) -> BatchFolder:
    folder = BatchFolder(tmp_path / "out")
    folder.prepare()
    return folder


@pytest.fixture(autouse=True)
def _no_session_plugins():
    yield
    set_session_plugin_dirs([])  # run_case sets the run's --plugins-dir in its process


def _work(case_id: str, paths: list[str], labels: str = "", settings=FAST) -> dict:
    case = Case(case_id, "folder", paths=tuple(paths),
                labels=tuple(labels.split(";")) if labels else ())
    return case_work(case, settings)


def _hidden(folder: BatchFolder) -> list[str]:
    return sorted(p.name for p in folder.cases.iterdir() if p.name.startswith("."))


def test_a_tracked_case_is_published_whole_with_its_record(patients, out):
    patient = patients["p0"]
    work = _work("p0", [str(patient.dicom_dir)], labels_of(patient))
    record = run_case(work, str(out.root))
    assert record["status"] == "ok", record["reason"]
    final = out.case_dir("p0")
    assert json.loads((final / "case.json").read_text()) == record == read_record(out, "p0")
    assert record["fingerprint"] == fingerprint(work) and record["reason"] == ""
    assert record["seconds"] > 0 and record["timings"]["register"] > 0
    assert _hidden(out) == []  # no staging folder left
    report = json.loads((final / "report.json").read_text())
    numbers = record["numbers"]
    assert numbers["timepoints"] == len(report["timeline"]["timepoints"]) == 2
    assert numbers["first_date"] == report["timeline"]["timepoints"][0]["study_date"]
    roles = [t["role"] for t in report["tracks"]]
    assert numbers["target_lesions"] == roles.count("target") > 0
    assert [r["overall_response"] for r in numbers["recist"]] == \
        [r["overall_response"] for r in report["recist"]]
    assert numbers["recist"][0]["sum_mm"] == pytest.approx(report["recist"][0]["sum_mm"])
    assert numbers["forecasts"] == [] and numbers["forecast_date"] is None  # no forecast task
    assert "Timepoint 2/2" in (final / "log.txt").read_text()


def test_missing_and_broken_folders_fail_alone_with_their_reason(tmp_path, out):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "IM0001.dcm").write_bytes(b"DICM" + bytes(300))  # not a DICOM file
    missing = run_case(_work("gone", [str(tmp_path / "no-such-folder")]), str(out.root))
    bad = run_case(_work("broken", [str(broken)]), str(out.root))
    assert missing["status"] == bad["status"] == "failed"
    assert missing["reason"] == f"{tmp_path / 'no-such-folder'}: folder or file not found"
    assert bad["reason"].startswith("No DICOM images were found")
    for case_id, record in (("gone", missing), ("broken", bad)):
        folder = out.case_dir(case_id)
        assert sorted(p.name for p in folder.iterdir()) == ["case.json", "log.txt"]
        assert read_record(out, case_id) == record
        log = (folder / "log.txt").read_text()
        assert record["reason"] in log and "Traceback" not in log  # Interval's own words
    assert _hidden(out) == []


@pytest.mark.parametrize(("error", "reason"), [
    (MemoryError(), "not enough memory for this case (out of memory in the worker)"),
    (RuntimeError("boom"), "unexpected error: RuntimeError: boom"),
])
def test_any_exception_becomes_a_failed_record_without_partial_results(
        patients, out, monkeypatch, error, reason):
    def half_done(work, paths, staging, **kw):
        (staging / "report.json").write_text("{half")
        raise error

    monkeypatch.setattr(case_work_module, "do_case", half_done)
    record = run_case(_work("p0", [str(patients["p0"].dicom_dir)]), str(out.root))
    assert record["status"] == "failed" and record["reason"] == reason
    folder = out.case_dir("p0")
    assert sorted(p.name for p in folder.iterdir()) == ["case.json", "log.txt"]
    log = (folder / "log.txt").read_text()
    assert "Traceback" in log and "half_done" in log  # where it happened, for a bug report
    assert _hidden(out) == []


def test_a_cancelled_run_records_nothing(patients, out):
    out.request_cancel()
    record = run_case(_work("p0", [str(patients["p0"].dicom_dir)]), str(out.root))
    assert record["status"] == "cancelled"
    assert not out.case_dir("p0").exists() and _hidden(out) == []
    assert read_record(out, "p0") is None  # the next run does it


def test_a_new_result_replaces_the_earlier_folder_whole(patients, out, tmp_path):
    failed = run_case(_work("p1", [str(tmp_path / "later")]), str(out.root))
    assert failed["status"] == "failed"
    (out.case_dir("p1") / "stale.txt").write_text("from the failed run")
    patient = patients["p1"]
    ok = run_case(_work("p1", [str(patient.dicom_dir)], labels_of(patient)), str(out.root))
    assert ok["status"] == "ok", ok["reason"]
    assert not (out.case_dir("p1") / "stale.txt").exists()
    assert (out.case_dir("p1") / "report.json").is_file() and _hidden(out) == []


def test_leftovers_of_interrupted_cases_are_removed_by_case(out):
    a = new_staging(out, "p1")
    b = new_staging(out, "p1.x")
    (out.cases / "visible").mkdir()
    assert remove_leftovers(out, "p1") == [a]
    assert b.exists()
    assert remove_leftovers(out) == [b]
    assert (out.cases / "visible").is_dir()


CRASHING_NETWORK = '''
import os
from torch import nn


class Crash(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 1, 1)

    def forward(self, x):
        os.abort()


def build(**params):
    return Crash()
'''


def _crashing_plugin(root: Path) -> Path:
    return network_plugin(root, "crashing", "org.test.batch-crashing", "batch-crashing-model",
                          "crash_net", CRASHING_NETWORK)


def test_a_crashing_model_fails_its_case_only(tmp_path, out):
    plugin = _crashing_plugin(tmp_path / "plugins")
    patient = generate_patient(tmp_path / "tiny", 0, 1, (16, 48, 48), keep_arrays=False)
    settings = BatchSettings(tasks=("segment",), model="batch-crashing-model", device="cpu",
                             plugin_dirs=(str(plugin),))
    record = run_case(_work("tiny", [str(patient.dicom_dir)], settings=settings), str(out.root))
    assert record["status"] == "failed"
    assert record["reason"] == "The model stopped unexpectedly (signal 6, aborted)."
    assert sorted(p.name for p in out.case_dir("tiny").iterdir()) == ["case.json", "log.txt"]
    assert _hidden(out) == []


def test_a_pacs_case_is_fetched_into_the_cache_then_tracked(patients, out, monkeypatch):
    from interval.net import cache, connect, profiles
    from interval.net.model import ServerProfile

    patient = patients["p1"]
    fetched: list[tuple[str, Path]] = []
    main = ServerProfile(name="Main PACS", url="http://pacs.invalid/dicom-web")

    class FakeClient:
        def __init__(self, profile):
            self.profile = profile

        def close(self) -> None:
            fetched.append(("closed", Path()))

    class FakeCache:
        def __init__(self, root, max_bytes=0):
            self.root = Path(root)
            assert max_bytes >= 2**40  # never trimmed during a batch

        def fetch_study(self, client, study_uid, series_uids=None, progress=None, cancel=None):
            assert client.profile is main and series_uids is None
            fetched.append((study_uid, self.root))
            return patient.dicom_dir

    monkeypatch.setattr(profiles, "load_profiles", lambda *a, **k: [main])
    monkeypatch.setattr(connect, "open_client", lambda profile, secret=None: FakeClient(profile))
    monkeypatch.setattr(cache, "SeriesCache", FakeCache)
    case = Case("pacs1", "pacs", server="main pacs", study_uids=("1.2.3",),
                labels=tuple(str(tp.labels_path) for tp in patient.timepoints))
    record = run_case(case_work(case, FAST), str(out.root))
    assert record["status"] == "ok", record["reason"]
    assert fetched == [("1.2.3", out.root / "pacs_cache"), ("closed", Path())]
    assert record["timings"]["fetch"] >= 0 and record["numbers"]["timepoints"] == 2
    unknown = run_case(case_work(Case("pacs2", "pacs", server="other", study_uids=("1.2",)),
                                 FAST), str(out.root))
    assert unknown["status"] == "failed"
    assert "No saved PACS server is named 'other'" in unknown["reason"]
