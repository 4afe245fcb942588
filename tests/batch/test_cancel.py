"""Ctrl-C: the running cases stop, nothing half-written stays, no process is left behind,
and the command ends with exit code 130 after writing what finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

from tests.batch.conftest import alive, read_csv, write_manifest


def _tree(pid: int) -> set[int]:
    try:
        return {pid} | {c.pid for c in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def test_ctrl_c_cancels_the_cases_and_leaves_no_process(patients, tmp_path):
    # segmenting with the U-Net takes seconds per scan: the cases are running at Ctrl-C
    manifest = write_manifest(tmp_path / "cohort.csv", [
        {"case_id": name, "path": str(p.dicom_dir), "tasks": "segment"}
        for name, p in patients.items()])
    out = tmp_path / "out"
    log = (tmp_path / "batch.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "interval.cli.main", "batch", str(manifest), "-o", str(out),
         "--workers", "2", "--device", "cpu"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # as a terminal's job
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # both cases have started working
            staging = [p for p in (out / "cases").glob(".*.staging-*")] \
                if (out / "cases").is_dir() else []
            if len(staging) == 2 or proc.poll() is not None:
                break
            time.sleep(0.2)
        assert proc.poll() is None, (tmp_path / "batch.log").read_text()
        assert len(staging) == 2
        deadline = time.monotonic() + 60
        tree = _tree(proc.pid)
        while len(tree) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # the model processes are starting (slowly on a busy machine)
            tree |= _tree(proc.pid)
        # the command, its two worker processes and their model processes (at least)
        assert len(tree) >= 5
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        code = proc.wait(timeout=90)
        seconds = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = (tmp_path / "batch.log").read_text()
    assert code == 130, text
    assert seconds < 30, text
    assert "interval: cancelled" in text and "Traceback" not in text
    assert alive(tree - {proc.pid}) == set()  # no worker, model or helper process is left
    assert not list((out / "cases").glob(".*"))  # no staging folder
    statuses = [r["status"] for r in read_csv(out / "summary.csv")]
    assert "not run" in statuses and set(statuses) <= {"not run", "ok"}
    assert not (out / ".interval-batch.lock").exists()
