"""A case's time limit (``--case-timeout``, the manifest's ``timeout_min``): a case past it
stops at its next step (a hung model's process is stopped), leaves no staging folder, is
recorded as failed with the phase it was in, and the other cases go on; a rerun runs it
again only with ``--retry-failed``."""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

import pytest

from interval.batch import case_work as case_work_module
from interval.batch import pacs_fetch
from interval.batch.case_deadline import CaseDeadline
from interval.batch.case_runner import run_case
from interval.batch.case_work import CaseResult
from interval.batch.manifest import Case, ManifestError, read_manifest
from interval.batch.out_folder import BatchFolder
from interval.batch.runner import plan_run
from interval.batch.settings import BatchSettings, case_work, fingerprint
from interval.cli.main import EXIT_DATA, main
from interval.core.jobs import check_cancel
from interval.io.synthetic.patient import generate_patient
from interval.plugins.discovery import set_session_plugin_dirs
from tests.batch.conftest import alive, descendants, labels_of, read_csv, write_manifest
from tests.plugins.conftest import network_plugin

FAST = BatchSettings(tasks=("track",), registration="rigid", reports=False)
HUNG_MODEL = "batch-hung-model"

HUNG_NETWORK = '''
import time
from torch import nn


class Hang(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 1, 1)

    def forward(self, x):
        while True:  # a model that never returns
            time.sleep(0.05)


def build(**params):
    return Hang()
'''


@pytest.fixture
def out(tmp_path: Path) -> BatchFolder:
    folder = BatchFolder(tmp_path / "out")
    folder.prepare()
    return folder


@pytest.fixture(autouse=True)
def _no_session_plugins():
    yield
    set_session_plugin_dirs([])  # run_case and the command set --plugins-dir in this process


def _hung_plugin(root: Path) -> Path:
    return network_plugin(root, "hung", "org.test.batch-hung", HUNG_MODEL, "hang_net",
                          HUNG_NETWORK)


def _files(folder: BatchFolder, case_id: str) -> list[str]:
    return sorted(p.name for p in folder.case_dir(case_id).iterdir())


def _hidden(folder: BatchFolder) -> list[str]:
    return sorted(p.name for p in folder.cases.iterdir() if p.name.startswith("."))


def _stuck(phase_words: str, swallow: bool = False, case_step: bool = True):
    """A case step that never ends by itself: it looks at ``cancel()`` only."""

    def step(*args, cancel, phase=None, **kw):
        if phase is not None:
            phase(phase_words)
        if case_step:  # do_case(work, paths, staging): a half-written result
            (args[2] / "report.json").write_text("{half")
        while not cancel():
            time.sleep(0.01)
        if swallow:  # a step that ends early on cancel() without raising
            return CaseResult(outputs={"report_json": "report.json"})
        check_cancel(cancel)
        raise AssertionError("unreachable")

    return step


def test_the_deadline_notes_the_phase_it_passed_in():
    now = [100.0]
    deadline = CaseDeadline(0.5, clock=lambda: now[0])
    deadline.set_phase("indexing the scans")
    now[0] += 29.0
    assert not deadline.passed() and not deadline.hit
    deadline.set_phase("registering timepoint 2")
    now[0] += 1.0
    assert deadline.passed() and deadline.hit
    deadline.set_phase("tracking")  # later phases do not change where it stopped
    assert deadline.passed()
    assert deadline.reason() == "stopped after its time limit of 0.5 min (at registering " \
        "timepoint 2)"
    endless = CaseDeadline(None, clock=lambda: now[0])
    now[0] += 1e9
    assert not endless.passed() and not endless.hit


@pytest.mark.parametrize(("target", "where"), [
    ("do_case", "registering timepoint 2"),
    ("fetch_studies", "fetching the studies from the PACS"),
])
def test_a_case_past_its_limit_fails_at_its_phase_and_leaves_no_staging(
        patients, out, monkeypatch, target, where):
    if target == "do_case":
        monkeypatch.setattr(case_work_module, "do_case", _stuck(where))
        case = Case("slow", "folder", paths=(str(patients["p0"].dicom_dir),),
                    timeout_min=0.005)
    else:  # the PACS does not answer
        monkeypatch.setattr(pacs_fetch, "fetch_studies", _stuck("(not told)", case_step=False))
        case = Case("slow", "pacs", server="main", study_uids=("1.2.3",), timeout_min=0.005)
    work = case_work(case, FAST)
    t0 = time.monotonic()
    record = run_case(work, str(out.root))
    assert time.monotonic() - t0 < 5  # 0.3 s, then the next look at cancel()
    reason = f"stopped after its time limit of 0.005 min (at {where})"
    assert record["status"] == "failed" and record["reason"] == reason
    assert _files(out, "slow") == ["case.json", "log.txt"] and _hidden(out) == []
    assert json.loads((out.case_dir("slow") / "case.json").read_text()) == record
    log = (out.case_dir("slow") / "log.txt").read_text()
    assert f"failed: {reason}" in log and "Traceback" not in log
    # like any failed case: skipped by a rerun unless --retry-failed (any limit)
    assert plan_run([case], out, FAST).todo == []
    assert plan_run([case], out, BatchSettings(tasks=("track",), registration="rigid",
                                               reports=False, case_timeout_min=60)).todo == []
    retry = BatchSettings(tasks=("track",), registration="rigid", reports=False,
                          retry_failed=True)
    assert [c.case_id for c in plan_run([case], out, retry).todo] == ["slow"]


def test_a_step_that_returns_after_the_limit_does_not_publish(patients, out, monkeypatch):
    monkeypatch.setattr(case_work_module, "do_case",
                        _stuck("segmenting timepoint 1", swallow=True))
    case = Case("cut", "folder", paths=(str(patients["p0"].dicom_dir),))
    work = case_work(case, BatchSettings(tasks=("segment",), case_timeout_min=0.005))
    record = run_case(work, str(out.root))
    assert record["status"] == "failed"
    assert record["reason"] == ("stopped after its time limit of 0.005 min (at segmenting "
                                "timepoint 1)")
    assert _files(out, "cut") == ["case.json", "log.txt"] and _hidden(out) == []


def test_a_cancelled_run_wins_over_the_limit(patients, out, monkeypatch):
    def stuck_then_ctrl_c(*args, cancel, phase, **kw):
        phase("registering timepoint 2")
        while not cancel():  # the limit passes ...
            time.sleep(0.01)
        out.request_cancel()  # ... and Ctrl-C comes while the case stops
        check_cancel(cancel)

    monkeypatch.setattr(case_work_module, "do_case", stuck_then_ctrl_c)
    case = Case("both", "folder", paths=(str(patients["p0"].dicom_dir),), timeout_min=0.005)
    record = run_case(case_work(case, FAST), str(out.root))
    assert record["status"] == "cancelled"  # not recorded: the next run does it
    assert not out.case_dir("both").exists() and _hidden(out) == []


def test_a_tracked_case_tells_its_phases(patients, tmp_path):
    patient = patients["p0"]
    case = Case("p0", "folder", paths=(str(patient.dicom_dir),),
                labels=tuple(labels_of(patient).split(";")))
    staging = tmp_path / "staging"
    staging.mkdir()
    phases: list[str] = []
    case_work_module.do_case(case_work(case, FAST), [patient.dicom_dir], staging,
                             echo=lambda _line: None, phase=phases.append)
    assert phases[:2] == ["indexing the scans", "tracking"]
    for words in ("reading timepoint 1", "reading timepoint 2", "registering timepoint 2",
                  "writing reports"):
        assert words in phases
        assert phases[phases.index(words) + 1] == "tracking"  # between two named steps


def test_a_hung_model_is_stopped_at_its_limit(tmp_path, out):
    plugin = _hung_plugin(tmp_path / "plugins")
    patient = generate_patient(tmp_path / "tiny", 0, 1, (16, 48, 48), keep_arrays=False)
    settings = BatchSettings(tasks=("segment",), model=HUNG_MODEL, device="cpu",
                             plugin_dirs=(str(plugin),), case_timeout_min=0.1)
    case = Case("hung", "folder", paths=(str(patient.dicom_dir),))
    before = descendants()
    t0 = time.monotonic()
    record = run_case(case_work(case, settings), str(out.root))
    seconds = time.monotonic() - t0
    assert record["status"] == "failed"
    assert record["reason"] == ("stopped after its time limit of 0.1 min (at segmenting "
                                "timepoint 1)")
    assert 6 <= seconds < 6 + 30  # the limit, then the model's grace to stop and its end
    assert alive(descendants() - before) == set()  # the model process was stopped
    assert _files(out, "hung") == ["case.json", "log.txt"] and _hidden(out) == []


def test_the_manifest_column_and_the_fingerprint(tmp_path):
    path = write_manifest(tmp_path / "m.csv", [
        {"case_id": "a", "path": "x", "timeout_min": "1.5"},
        {"case_id": "b", "path": "y", "timeout_min": ""}])
    a, b = read_manifest(path)
    assert a.timeout_min == 1.5 and b.timeout_min is None
    assert Case.from_dict(a.to_dict()) == a
    settings = BatchSettings(case_timeout_min=30)
    assert case_work(a, settings)["timeout_min"] == 1.5
    assert case_work(b, settings)["timeout_min"] == 30
    # the limit decides whether a case finishes, not its result: not in the fingerprint
    assert fingerprint(case_work(a, settings)) == fingerprint(case_work(
        Case("a", "folder", paths=a.paths), BatchSettings()))
    for bad in ("0", "-2", "soon", "nan"):
        write_manifest(tmp_path / "bad.csv", [{"case_id": "c", "path": "x", "timeout_min": bad}])
        with pytest.raises(ManifestError, match="line 2 .*timeout_min .* positive number"):
            read_manifest(tmp_path / "bad.csv")


def _main(argv: list[str]) -> tuple[int, str]:
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        code = main(argv)
    return code, text.getvalue()


def test_batch_stops_the_hung_case_and_finishes_the_others(patients, tmp_path):
    plugin = _hung_plugin(tmp_path / "plugins")
    p0, p1 = patients["p0"], patients["p1"]
    cohort = write_manifest(tmp_path / "cohort.csv", [
        {"case_id": "ok", "path": str(p0.dicom_dir), "labels": labels_of(p0),
         "tasks": "track", "model": "", "timeout_min": ""},
        {"case_id": "hung", "path": str(p1.dicom_dir), "labels": "", "tasks": "segment",
         "model": HUNG_MODEL, "timeout_min": "0.1"},
    ])
    out = tmp_path / "out"
    options = ["-o", str(out), "--registration", "rigid", "--no-reports", "--device", "cpu",
               "--plugins-dir", str(plugin)]
    before = descendants()
    code, text = _main(["batch", str(cohort), "--workers", "2", "--case-timeout", "5",
                        *options])
    assert code == EXIT_DATA, text
    reason = "stopped after its time limit of 0.1 min (at segmenting timepoint 1)"
    assert "Cases: 1 done, 1 failed" in text and f"failed: hung: {reason}" in text, text
    rows = {r["case_id"]: r for r in read_csv(out / "summary.csv")}
    assert rows["ok"]["status"] == "ok" and rows["hung"]["status"] == "failed"
    assert rows["hung"]["reason"] == reason
    assert (out / "cases" / "ok" / "report.json").is_file()
    assert sorted(p.name for p in (out / "cases" / "hung").iterdir()) == ["case.json",
                                                                          "log.txt"]
    assert not [p for p in (out / "cases").iterdir() if p.name.startswith(".")]
    assert alive(descendants() - before) == set()  # workers and the model process are gone
    code, text = _main(["batch", str(cohort), *options])  # no --retry-failed: not again
    assert code == EXIT_DATA and "2 case(s) had finished in an earlier run" in text, text
    assert "Local Dask cluster" not in text
