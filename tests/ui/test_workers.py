"""Background jobs: results, errors, cancellation and progress reach the UI thread by signals."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from interval.core.errors import Cancelled, IntervalError, UnreadableFile
from interval.io.synthetic.patient import generate_patient
from interval.ui.workers import (
    IndexResult,
    JobProgress,
    JobRunner,
    Thumbnail,
    index_job,
    load_stack_job,
    thumbnails_job,
)

TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def patient_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("patient")
    return generate_patient(root / "p", seed=1, n_timepoints=1, shape=(12, 48, 48),
                            ground_truth=False, keep_arrays=False).dicom_dir


@pytest.fixture
def runner(qtbot):
    r = JobRunner()
    yield r
    assert r.shutdown(20_000)


def _collect(qtbot, job):
    got: dict[str, object] = {}
    job.signals.finished.connect(lambda r: got.setdefault("finished", r))
    job.signals.failed.connect(lambda e: got.setdefault("failed", e))
    job.signals.cancelled.connect(lambda: got.setdefault("cancelled", True))
    return got


def test_result_and_progress_arrive_on_the_ui_thread(qtbot, runner) -> None:
    ui_thread = QApplication.instance().thread()
    seen: list[tuple[int, int, bool]] = []
    worker_threads: list[object] = []

    def fn(ctx):
        worker_threads.append(QThread.currentThread())
        for i in range(5):
            ctx.progress(i + 1, 5)
        return 42

    done: list[int] = []
    job = runner.submit(
        "counting", fn, on_done=done.append,
        on_progress=lambda d, t: seen.append((d, t, QThread.currentThread() is ui_thread)),
    )
    qtbot.waitUntil(lambda: done == [42], timeout=TIMEOUT_MS)
    assert worker_threads and worker_threads[0] is not ui_thread
    assert job.state == "finished"
    # throttled, but the last report always comes, on the UI thread
    qtbot.waitUntil(lambda: bool(seen) and seen[-1][:2] == (5, 5), timeout=TIMEOUT_MS)
    assert all(on_ui for *_x, on_ui in seen)


def test_interval_error_is_delivered_as_is(qtbot, runner) -> None:
    def fn(ctx):
        raise UnreadableFile("file is truncated", path="/x/a.dcm")

    errors: list[IntervalError] = []
    runner.submit("reading", fn, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=TIMEOUT_MS)
    assert isinstance(errors[0], UnreadableFile)
    assert str(errors[0]) == "a.dcm: file is truncated"


def test_unexpected_exception_becomes_a_sentence(qtbot, runner) -> None:
    def fn(ctx):
        raise ValueError("boom")

    errors: list[IntervalError] = []
    runner.submit("testing", fn, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=TIMEOUT_MS)
    assert type(errors[0]) is IntervalError
    assert "Unexpected error while testing" in str(errors[0]) and "boom" in str(errors[0])


def test_cancel_stops_the_job(qtbot, runner) -> None:
    started = threading.Event()
    steps: list[int] = []

    def fn(ctx):
        started.set()
        for i in range(100_000):
            if ctx.cancelled():
                raise Cancelled()
            steps.append(i)
            threading.Event().wait(0.001)
        return "not cancelled"

    job = runner.submit("looping", fn)
    got = _collect(qtbot, job)
    assert started.wait(20)
    job.cancel()
    qtbot.waitUntil(lambda: "cancelled" in got, timeout=TIMEOUT_MS)
    assert "finished" not in got and "failed" not in got
    assert job.state == "cancelled"
    assert len(steps) < 100_000


def test_job_progress_widget_cancel_button(qtbot, runner) -> None:
    widget = JobProgress()
    qtbot.addWidget(widget)
    release = threading.Event()

    def fn(ctx):
        ctx.progress(1, 4)
        while not ctx.cancelled():
            release.wait(0.01)
        raise Cancelled()

    job = runner.submit("waiting", fn, progress_widget=widget, text="Waiting…")
    got = _collect(qtbot, job)
    widget.show()
    assert widget.label.text() == "Waiting…"
    qtbot.waitUntil(lambda: widget.bar.maximum() == 4 and widget.bar.value() == 1, timeout=TIMEOUT_MS)
    widget.cancel_button.click()
    qtbot.waitUntil(lambda: "cancelled" in got, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not widget.isVisible(), timeout=TIMEOUT_MS)


def test_index_load_and_thumbnails_of_a_real_folder(qtbot, runner, patient_dir) -> None:
    results: list[IndexResult] = []
    runner.submit("indexing", index_job(patient_dir), on_done=results.append)
    qtbot.waitUntil(lambda: bool(results), timeout=TIMEOUT_MS)
    index = results[0].index
    stacks = list(index.iter_stacks())
    assert len(stacks) == 1 and stacks[0].n_frames == 12
    assert results[0].irregular == {}

    volumes = []
    runner.submit("loading", load_stack_job(stacks[0]), on_done=volumes.append)
    qtbot.waitUntil(lambda: bool(volumes), timeout=TIMEOUT_MS)
    assert volumes[0].array.shape == (12, 48, 48)

    thumbs: list[Thumbnail] = []
    done: list[int] = []
    runner.submit("thumbnails", thumbnails_job([("k", stacks[0])], size=32),
                  on_partial=thumbs.append, on_done=done.append)
    qtbot.waitUntil(lambda: done == [1], timeout=TIMEOUT_MS)
    assert thumbs[0].key == "k"
    assert thumbs[0].pixels.dtype == np.uint8 and max(thumbs[0].pixels.shape) <= 32
    # a CT slice through a body: dark air and bright tissue both present
    assert thumbs[0].pixels.min() < 30 and thumbs[0].pixels.max() > 150


def test_index_of_missing_folder_fails_in_words(qtbot, runner, tmp_path) -> None:
    errors: list[IntervalError] = []
    runner.submit("indexing", index_job(tmp_path / "absent"), on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=TIMEOUT_MS)
    assert isinstance(errors[0], UnreadableFile)
    assert "not found" in str(errors[0])


def test_no_callback_after_shutdown(qtbot) -> None:
    """A result on its way when the window closes is dropped, not delivered to dead widgets."""
    runner = JobRunner()
    got: list[object] = []
    job = runner.submit("quick", lambda ctx: 1, on_done=got.append)
    assert job.done.wait(20)  # finished on its thread; the signal is still queued
    assert runner.shutdown(20_000)
    qtbot.wait(50)  # let the queued signal arrive
    assert got == []
