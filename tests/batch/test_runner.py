"""The runner's bookkeeping, with a stand-in for Dask's client (no cluster): what Dask loses
is recorded, a cancel stops everything, leftovers go, and the output folder has one run at a
time."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from interval.batch.case_folder import new_staging, read_record
from interval.batch.manifest import Case
from interval.batch.out_folder import LOCK, BatchFolder
from interval.batch.runner import Progress, plan_run, run_cases
from interval.batch.settings import BatchSettings
from interval.core.errors import IntervalError


class _Future:
    def __init__(self, status: str, result: Any = None, error: BaseException | None = None):
        self.status, self._result, self._error = status, result, error

    def done(self) -> bool:
        return self.status != "pending"

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self) -> BaseException | None:
        return self._error


@dataclass
class _Client:
    """Runs each task at once in this process, except the cases named in ``lose`` (their
    worker "dies") and ``hang`` (they never finish)."""

    lose: set[str] = field(default_factory=set)
    hang: set[str] = field(default_factory=set)
    cancelled: list[Any] = field(default_factory=list)
    submitted: list[dict[str, Any]] = field(default_factory=list)

    def submit(self, fn, work, out, **kw) -> _Future:
        case_id = work["case"]["case_id"]
        self.submitted.append({"case_id": case_id, **kw})
        if case_id in self.hang:
            return _Future("pending")
        if case_id in self.lose:
            from distributed.scheduler import KilledWorker

            new_staging(BatchFolder(out), case_id)  # what a dead worker leaves behind
            return _Future("error", error=KilledWorker(kw["key"], None, 1))
        return _Future("finished", fn(work, out))

    def cancel(self, futures, force=False) -> None:
        self.cancelled.extend(futures)


@dataclass
class _Cluster:
    client: _Client
    restrict: bool = True


@pytest.fixture
def out(tmp_path) -> BatchFolder:
    folder = BatchFolder(tmp_path / "out")
    folder.prepare()
    return folder


def _cases(tmp_path) -> list[Case]:
    return [Case(name, "folder", paths=(str(tmp_path / f"no-{name}"),), line=i + 2)
            for i, name in enumerate(("a", "b", "c"))]


SETTINGS = BatchSettings(tasks=("track",), registration="rigid", reports=False)


def test_a_case_whose_worker_died_is_recorded_failed_and_its_leftovers_removed(tmp_path, out):
    client = _Client(lose={"b"})
    seen: list[Progress] = []
    outcome = run_cases(plan_run(_cases(tmp_path), out, SETTINGS), out, _Cluster(client),
                        on_progress=seen.append)
    assert [r["status"] for r in outcome.records] == ["failed"] * 3  # a, c: no folder
    lost = outcome.records[1]
    assert lost["reason"].startswith("the worker process running this case died")
    assert read_record(out, "b") == lost
    assert not [p for p in out.cases.iterdir() if p.name.startswith(".")]
    assert seen[0] == Progress(0, 0, 3) and seen[-1] == Progress(0, 3, 0)
    assert [s["priority"] for s in client.submitted] == [0, -1, -2]  # manifest order first
    assert all(s["resources"] == {"interval_case": 1} for s in client.submitted)
    assert len({s["key"] for s in client.submitted}) == 3


def test_cancel_stops_waiting_and_nothing_is_recorded_for_the_unfinished(tmp_path, out):
    client = _Client(hang={"b", "c"})
    asked = iter([False, True])
    outcome = run_cases(plan_run(_cases(tmp_path), out, SETTINGS), out, _Cluster(client),
                        cancel=lambda: next(asked, True), grace_s=0.5)
    assert outcome.cancelled
    assert [r["status"] for r in outcome.records] == ["failed", "not run", "not run"]
    assert len(client.cancelled) == 2  # what was still pending was cancelled in Dask
    assert out.cancel_flag.exists()  # the workers' signal to stop
    assert read_record(out, "b") is None and read_record(out, "c") is None
    plan = plan_run(_cases(tmp_path), out, SETTINGS)  # the next run does them
    assert [c.case_id for c in plan.todo] == ["b", "c"] and out.cancel_flag.exists()
    run_cases(plan, out, _Cluster(_Client()))
    assert not out.cancel_flag.exists()  # a new run forgets the old cancel


def test_finished_cases_are_skipped_and_leftovers_of_interrupted_runs_removed(tmp_path, out):
    cases = _cases(tmp_path)
    run_cases(plan_run(cases, out, SETTINGS), out, _Cluster(_Client()))
    stale = new_staging(out, "a")
    client = _Client()
    outcome = run_cases(plan_run(cases, out, SETTINGS), out, _Cluster(client))
    assert client.submitted == [] and outcome.skipped == ["a", "b", "c"]
    assert not stale.exists()
    retry = plan_run(cases, out, BatchSettings(tasks=("track",), registration="rigid",
                                               reports=False, retry_failed=True))
    assert [c.case_id for c in retry.todo] == ["a", "b", "c"]  # they had all failed


def test_a_cluster_without_the_resource_gets_unrestricted_cases(tmp_path, out):
    client = _Client()
    run_cases(plan_run(_cases(tmp_path)[:1], out, SETTINGS), out, _Cluster(client, False))
    assert "resources" not in client.submitted[0]


def test_one_run_at_a_time_per_output_folder(out):
    with (out.locked(), pytest.raises(IntervalError, match="another `interval batch`"),
          out.locked()):
        pass
    assert not (out.root / LOCK).exists()
    (out.root / LOCK).write_text(json.dumps({"host": os.uname().nodename, "pid": 2**22 + 7}))
    with out.locked():  # the holder is dead: the lock is taken over
        assert json.loads((out.root / LOCK).read_text())["pid"] == os.getpid()
