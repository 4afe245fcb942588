"""run_in_child: results, progress, and every way a model can fail, without harming the parent."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from interval.ai.runner import (
    ModelCrashed,
    ModelFailed,
    ModelOutOfMemory,
    ModelTimedOut,
    run_in_child,
)
from interval.ai.runner_errors import viewer_text
from interval.ai.shm import leftover_segments
from interval.core.errors import Cancelled, IntervalError, UnsupportedData

T = "tests.ai._runner_targets:"
LINUX = sys.platform.startswith("linux")


def _zombie_children() -> list[int]:
    """Children of this process that died and were never reaped (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(autouse=True)
def _no_leaks():
    yield
    assert leftover_segments() == [], "a shared-memory segment was left in /dev/shm"
    if LINUX:
        assert _zombie_children() == []


def test_result_computed_from_the_input_in_another_process():
    image = np.arange(-30, 30, dtype=np.int16).reshape(3, 4, 5)
    out, info = run_in_child(T + "double", {"image": image}, {"offset": 5})
    assert info["pid"] != os.getpid()
    assert info["qt_loaded"] is False  # the child never imports Qt
    assert out["doubled"].dtype == np.int32 and out["doubled"].shape == (3, 4, 5)
    np.testing.assert_array_equal(out["doubled"], image.astype(np.int32) * 2 + 5)
    np.testing.assert_array_equal(out["mask"], image > 0)
    out["doubled"][0, 0, 0] = 99  # the caller owns the arrays (no shared name remains)
    with pytest.raises(ProcessLookupError):
        os.kill(info["pid"], 0)  # the child is gone and reaped


def test_non_contiguous_input_and_bare_dict_result():
    a = np.arange(24, dtype=np.float64).reshape(4, 6)[:, ::2]  # a strided view
    out, info = run_in_child(T + "arrays_only", {"a": a}, {})
    assert info == {}
    assert out["sum"][0] == a.sum()
    assert out["empty"].shape == (0, 3) and out["empty"].dtype == np.float32


def test_model_exception_becomes_model_failed(caplog):
    with caplog.at_level("DEBUG", logger="interval.ai.runner"), \
            pytest.raises(ModelFailed) as info:
        run_in_child(T + "raise_value_error", {"x": np.zeros(3)}, {})
    err = info.value
    assert err.type_name == "ValueError"
    assert "the window size must be odd" in str(err)
    assert "Traceback" not in str(err)
    # the message is the caller's to put in context: only the viewer says it is unaffected
    assert "viewer" not in str(err)
    assert viewer_text(err) == f"{err} The viewer is unaffected."
    assert "raise_value_error" in caplog.text  # the traceback is logged at debug level


def test_interval_error_from_the_model_passes_through():
    with pytest.raises(UnsupportedData, match="needs a CT"):
        run_in_child(T + "raise_interval_error", {}, {})


def test_unknown_target_is_a_clear_failure():
    with pytest.raises(ModelFailed, match="ModuleNotFoundError"):
        run_in_child("tests.ai.no_such_module:f", {}, {})


@pytest.mark.parametrize("target", ["segfault", "null_pointer"])
def test_segfault_gives_model_crashed(target):
    with pytest.raises(ModelCrashed) as info:
        run_in_child(T + target, {"x": np.ones((64, 64))}, {})
    assert info.value.signal_number == 11
    assert "signal 11, segmentation fault" in str(info.value).lower()
    assert "viewer" not in str(info.value)
    # the parent still works: run another model straight away
    out, _ = run_in_child(T + "double", {"image": np.ones((1, 1, 2), np.uint8)}, {})
    assert out["doubled"].tolist() == [[[2, 2]]]


def test_unexpected_exit_code():
    with pytest.raises(ModelCrashed, match="exit code 7") as info:
        run_in_child(T + "exit_code", {}, {})
    assert info.value.exit_code == 7


def test_hang_is_ended_by_the_timeout():
    t0 = time.monotonic()
    with pytest.raises(ModelTimedOut, match="did not finish within 1.5 s"):
        run_in_child(T + "hang", {"x": np.zeros(10)}, {}, timeout=1.5)
    assert time.monotonic() - t0 < 30  # start-up (slow on a busy CI machine) + 1.5 s + stop


def test_cancel_stops_a_model_that_ignores_it():
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        run_in_child(T + "hang", {}, {}, cancel=lambda: time.monotonic() - t0 > 0.5,
                     cancel_grace_s=0.5)
    assert time.monotonic() - t0 < 30  # start-up + 0.5 s + 0.5 s grace + terminate


def test_cancel_is_seen_by_a_cooperative_model():
    seen = []
    with pytest.raises(Cancelled):
        run_in_child(T + "cooperative", {}, {}, progress=lambda d, t: seen.append(time.monotonic()),
                     cancel=lambda: bool(seen), cancel_grace_s=60)
    # it stopped by itself (Cancelled from its own check), not by the runner after the grace
    assert seen and time.monotonic() - seen[0] < 30


def test_cancel_before_start_starts_nothing():
    with pytest.raises(Cancelled):
        run_in_child(T + "double", {"image": np.zeros((1, 1, 1))}, {}, cancel=lambda: True)


@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS is a Linux mechanism")
def test_memory_limit_gives_model_out_of_memory():
    with pytest.raises(ModelOutOfMemory, match="ran out of memory") as info:
        run_in_child(T + "allocate", {}, {"nbytes": 2**30}, memory_limit_bytes=256 * 2**20)
    assert isinstance(info.value, IntervalError)
    assert "limit 256 MiB" in str(info.value)
    with pytest.raises(ModelOutOfMemory):  # torch's allocator failing the same way
        run_in_child(T + "torch_allocate", {}, {"nbytes": 2**31}, memory_limit_bytes=256 * 2**20,
                     preload=("torch",))
    # under the limit the same function works
    out, _ = run_in_child(T + "allocate", {}, {"nbytes": 2**20}, memory_limit_bytes=256 * 2**20)
    assert out["n"][0] == 2**20


def test_progress_is_relayed_in_the_calling_thread():
    import threading

    calls = []
    me = threading.get_ident()
    run_in_child(T + "report_progress", {}, {"steps": 4},
                 progress=lambda d, t: calls.append((d, t, threading.get_ident())))
    assert [(d, t) for d, t, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert {tid for *_, tid in calls} == {me}


@pytest.mark.skipif(not LINUX, reason="uses /proc and /dev/shm")
def test_model_process_ends_when_the_viewer_is_killed(tmp_path):
    import signal
    import subprocess

    pid_file = tmp_path / "child.pid"
    script = (
        "import numpy as np\n"
        "from interval.ai.runner import run_in_child\n"
        f"run_in_child({T + 'hang_after_pid_file'!r}, {{'x': np.ones(1000)}},\n"
        f"             {{'pid_file': {str(pid_file)!r}}})\n"
    )
    repo = Path(__file__).resolve().parents[2]
    viewer = subprocess.Popen([sys.executable, "-c", script], cwd=repo,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists():
            assert viewer.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        child = int(pid_file.read_text())
        time.sleep(0.3)  # the viewer has seen "ready" and dropped the input's name
        viewer.send_signal(signal.SIGKILL)
        viewer.wait(10)
        deadline = time.monotonic() + 10
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(child), "the model process outlived the viewer"
        assert leftover_segments(viewer.pid) == []
    finally:
        if viewer.poll() is None:
            viewer.kill()
            viewer.wait()


def test_run_segmentation_in_a_child_process(tmp_path):
    from interval.ai.options import InferenceOptions, SegmentationResult
    from interval.ai.runner import run_segmentation
    from interval.core.volume import Volume
    from tests.cli.test_segment import _write_model

    model = _write_model(tmp_path / "bands")
    plugin = model.parents[1]  # the plugin folder _write_model writes (its code folder)
    hu = np.array([-100, 50, 101, 400, 501, 2000], np.int16)
    image = np.resize(hu, (4, 6, 9)).astype(np.int16)
    direction = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, -1]])  # not the identity
    volume = Volume(image, (0.7, 0.8, 3.0), (10.0, -5.0, 2.0), direction)
    steps = []
    result = run_segmentation(volume, model, InferenceOptions(device="cpu"),
                              progress=lambda d, t: steps.append((d, t)), code_path=plugin)
    assert isinstance(result, SegmentationResult)
    assert result.labels.same_grid(volume) and result.device == "cpu"
    np.testing.assert_array_equal(result.labels.array, np.select([image > 500, image > 100],
                                                                 [2, 1], 0))
    assert [(i.value, i.name) for i in result.labels.labels] == [(1, "soft"), (2, "bone")]
    assert result.timings["process"] > 0 and "network" in result.timings
    assert steps and steps[-1][0] == steps[-1][1]
    with pytest.raises(Cancelled):
        run_segmentation(volume, model, {"device": "cpu"}, cancel=lambda: True, code_path=plugin)


def test_run_segmentation_brings_the_confidence_map_back(tmp_path):
    """A model with a confidence section: the map crosses from the child through shared
    memory, the same bytes as the engine gives in this process."""
    from interval.ai.engine import segment
    from interval.ai.model_package import load_model_spec
    from interval.ai.options import InferenceOptions
    from interval.ai.runner import run_segmentation
    from interval.core.volume import Volume
    from tests.cli.test_segment import _write_model

    model = _write_model(tmp_path / "bands", confidence={"labels": [1, 2],
                                                          "equivocal_below": 0.4})
    plugin = model.parents[1]
    image = np.random.default_rng(0).integers(-200, 900, (4, 6, 9)).astype(np.int16)
    volume = Volume(image, (0.7, 0.8, 3.0), (10.0, -5.0, 2.0),
                    np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, -1]]))
    result = run_segmentation(volume, model, InferenceOptions(device="cpu"), code_path=plugin)
    conf = result.confidence
    assert conf is not None and conf.same_grid(volume) and conf.array.dtype == np.uint8
    spec = load_model_spec(model, code_path=plugin)
    here = segment(volume, spec, InferenceOptions(device="cpu"))
    assert here.confidence is not None
    np.testing.assert_array_equal(conf.array, here.confidence.array)
    np.testing.assert_array_equal(result.labels.array, here.labels.array)
    assert len(np.unique(conf.array)) > 2  # probabilities, not a mask
    off = run_segmentation(volume, model, {"device": "cpu", "confidence": False},
                           code_path=plugin)
    assert off.confidence is None
    np.testing.assert_array_equal(off.labels.array, here.labels.array)


def test_a_process_started_ahead_runs_one_job_or_is_closed_unused():
    from interval.ai.runner import ModelProcess

    unused = ModelProcess(preload=("numpy",))
    unused.close()  # never given a job: stopped and reaped (the fixture checks zombies)
    unused.close()
    ahead = ModelProcess(preload=("numpy", "no_such_module_preloaded"))  # a bad preload is harmless
    out, info = run_in_child(T + "double", {"image": np.full((1, 2, 2), 3, np.int8)}, {},
                             process=ahead)
    assert out["doubled"].tolist() == [[[6, 6], [6, 6]]]
    with pytest.raises(RuntimeError, match="one job"):
        ahead.run(T + "double", {"image": np.zeros((1, 1, 1))}, {})


@pytest.mark.skipif(not LINUX, reason="POSIX shared memory")
def test_full_shared_memory_falls_back_to_a_temporary_file(monkeypatch):
    import errno

    from interval.ai import shm

    real_reserve = shm._reserve

    def small_shm(fd: int, size: int) -> None:  # /dev/shm holds at most 1 MiB
        if os.readlink(f"/proc/self/fd/{fd}").startswith("/dev/shm/") and size > 2**20:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_reserve(fd, size)

    monkeypatch.setattr(shm, "_reserve", small_shm)
    image = np.arange(2**20, dtype=np.int16).reshape(16, 256, 256)  # 2 MiB: "too big"
    out, _info = run_in_child(T + "double", {"image": image}, {})
    np.testing.assert_array_equal(out["doubled"], image.astype(np.int32) * 2)
    seg = shm.Segment.create((3,), np.dtype(np.float32))
    assert seg.spec.kind == "shm"  # small arrays still fit
    seg.unlink()
    monkeypatch.setenv("INTERVAL_SHM", "file")
    seg = shm.Segment.create((3,), np.dtype(np.float32))
    assert seg.spec.kind == "file" and os.path.exists(seg.spec.name)
    seg.unlink()
    assert not os.path.exists(seg.spec.name)


def test_runs_from_worker_threads_at_the_same_time():
    """The viewer runs models from worker threads (no signal handling there), maybe two."""
    import threading

    results: dict[int, object] = {}

    def work(n: int) -> None:
        try:
            out, _ = run_in_child(T + "double", {"image": np.full((2, 2, 2), n, np.int16)},
                                  {"offset": n})
            results[n] = int(out["doubled"][0, 0, 0])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[n] = exc

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {1: 3, 2: 6}
