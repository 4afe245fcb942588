"""Hostile models against the runner: no code from the model runs in the parent, nothing
it starts outlives it, its memory is capped, its failures read as sentences."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from interval.ai import child_protocol
from interval.ai.memory_limit import (
    ENV_VAR,
    NO_LIMIT,
    machine_default_limit,
    parse_size,
    resolve_limit,
)
from interval.ai.runner import (
    ModelCrashed,
    ModelFailed,
    ModelMisbehaved,
    ModelOutOfMemory,
    ModelTimedOut,
    run_in_child,
)
from interval.core.errors import Cancelled, IntervalError

T = "tests.ai._runner_targets:"
LINUX = sys.platform.startswith("linux")
REPO = Path(__file__).resolve().parents[2]
GiB = 2**30


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _gone(pids: list[int], seconds: float = 10.0) -> list[int]:
    """The pids still running after waiting up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if _running(p)]


def _wait_for(path: Path, proc: subprocess.Popen | None = None, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc is None or proc.poll() is None, "the parent ended early"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)
    return path.read_text()


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


# --- no pickles, no code from the model in the parent -------------------------------------


def test_a_crafted_pickle_on_the_pipe_runs_nothing_in_the_parent(tmp_path):
    victim = tmp_path / "created-by-the-model"
    with pytest.raises(ModelMisbehaved, match="broke the rules of the model runtime"):
        run_in_child(T + "send_crafted_pickle", {}, {"path": str(victim)}, timeout=60)
    assert not victim.exists(), "a pickle from the model process was loaded in the parent"


def test_the_parent_never_unpickles(monkeypatch):
    """Whatever the model does, nothing the parent reads goes through pickle."""
    import pickle
    from multiprocessing import reduction

    def refuse(*args, **kwargs):
        raise AssertionError("the parent unpickled data from the model process")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(reduction.ForkingPickler, "loads", refuse)
    out, info = run_in_child(T + "double", {"image": np.ones((1, 2, 2), np.int16)}, {})
    assert out["doubled"].tolist() == [[[2, 2], [2, 2]]] and info["qt_loaded"] is False
    from interval.core.errors import UnsupportedData

    with pytest.raises(UnsupportedData, match="needs a CT"):  # Interval's own error, by name
        run_in_child(T + "raise_interval_error", {}, {})


def test_oversized_or_malformed_messages_stop_the_model():
    limit = child_protocol.MAX_CHILD_MESSAGE_BYTES
    with pytest.raises(ModelMisbehaved, match="larger than 4 MiB"):
        run_in_child(T + "send_oversized_message", {}, {"nbytes": limit + 10}, timeout=60)
    with pytest.raises(ModelMisbehaved, match="1.0 TiB|1024.0 GiB"):  # the parent allocates nothing
        run_in_child(T + "ask_for_huge_outputs", {}, {}, timeout=60)
    with pytest.raises(ModelFailed, match="plain data"):  # info must be JSON
        run_in_child(T + "info_not_json", {}, {})
    with pytest.raises(TypeError, match="plain JSON data"):  # so must the job's arguments
        run_in_child(T + "double", {"image": np.zeros((1, 1, 1))}, {"offset": object()})


@pytest.mark.parametrize("data", [
    b"\x80\x04K\x01.",  # a pickle
    b'{"kind": "progress", "done": true, "total": 3}',  # a bool is not a number
    b'{"kind": "progress", "done": 1, "total": 3, "extra": 1}',
    b'{"kind": "launch"}',
    b'{"kind": "done", "info": []}',
    b'{"kind": "alloc", "outputs": [{"key": "x", "shape": [2], "dtype": "|O"}]}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"kind": "progress", "done": ' + b"9" * 5000 + b', "total": 1}',
    b'{"kind": "ready"}\xff',
])
def test_the_protocol_refuses_anything_unexpected(data):
    with pytest.raises(child_protocol.ProtocolError):
        child_protocol.parse_from_child(data)


def test_the_protocol_accepts_its_messages():
    parse = child_protocol.parse_from_child
    assert parse(b'{"kind": "progress", "done": 1, "total": 3}')["done"] == 1
    error = parse(json.dumps({"kind": "error", "error": "failed", "type": "X",
                              "interval_error": None, "message": None,
                              "traceback": "t"}).encode())
    assert error["message"] is None
    assert child_protocol.plain_text("a\x1b[31mred\u202e\nb", 100) == "a[31mred\nb"


def _parent_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    """Run ``body`` as a fresh parent process (its sys.modules is its own)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_a_plugin_error_class_is_never_imported_into_the_parent(tmp_path):
    """A model module that ends any process importing it outside the model process, and
    one importing torch: their own IntervalError comes back as text, neither module (nor
    torch) is imported by the parent, and the parent lives on."""
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "exits_in_parent.py").write_text(textwrap.dedent("""
        import multiprocessing, sys
        from interval.core.errors import IntervalError
        if multiprocessing.parent_process() is None:  # imported outside the model process
            sys.exit(0)
        class NeedsCT(IntervalError):
            pass
        def run(arrays, *, progress=None, cancel=None):
            raise NeedsCT("this model needs a CT (says the plugin)")
    """))
    (plugin / "heavy.py").write_text(textwrap.dedent("""
        import torch
        from interval.core.errors import IntervalError
        class Heavy(IntervalError):
            pass
        def run(arrays, *, progress=None, cancel=None):
            raise Heavy("torch " + torch.__version__.split("+")[0] + " says no")
    """))
    result = _parent_script(tmp_path, f"""
        import sys
        sys.path.insert(0, {str(plugin)!r})
        from interval.ai.runner import ModelRefused, run_in_child
        for target in ("exits_in_parent:run", "heavy:run"):
            try:
                run_in_child(target, {{}}, {{}})
            except ModelRefused as exc:
                print("refused:", exc.type_name, "|", exc)
        print("alive", sorted(m for m in ("exits_in_parent", "heavy", "torch") if m in sys.modules))
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "refused: NeedsCT | this model needs a CT (says the plugin)"
    assert lines[1].startswith("refused: Heavy | torch ") and lines[1].endswith(" says no")
    assert lines[2] == "alive []"


def test_a_module_that_exits_at_import_is_a_failure_not_the_end_of_the_parent(tmp_path):
    (tmp_path / "exits_now.py").write_text("import sys\nsys.exit(3)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ModelFailed, match=r"SystemExit: its code called sys.exit\(3\)"):
            run_in_child("exits_now:run", {}, {})
    finally:
        sys.path.remove(str(tmp_path))
    assert "exits_now" not in sys.modules


def test_an_exception_whose_text_cannot_be_read():
    with pytest.raises(ModelFailed) as info:
        run_in_child(T + "unreadable_message", {}, {})
    assert str(info.value) == "The model failed (Unreadable; its message could not be read)."
    assert info.value.type_name == "Unreadable" and info.value.detail is None


# --- orphans ------------------------------------------------------------------------------


@pytest.mark.skipif(not LINUX, reason="uses /proc")
@pytest.mark.parametrize("how", ["timeout", "cancel", "crash", "return"])
def test_processes_the_model_started_are_stopped_with_it(tmp_path, how):
    pid_file = tmp_path / "pids"
    then = {"crash": "crash", "return": "return"}.get(how, "hang")
    kwargs = {"pid_file": str(pid_file), "then": then}
    expected = {"timeout": ModelTimedOut, "cancel": Cancelled, "crash": ModelCrashed}.get(how)
    t0 = time.monotonic()
    options = {"timeout": 60}
    if how == "timeout":
        options = {"timeout": 1.0}
    elif how == "cancel":
        options = {"cancel": lambda: pid_file.exists(), "cancel_grace_s": 0.3}
    pids: list[int] = []
    try:
        if expected is None:
            run_in_child(T + "start_sleepers", {}, kwargs, **options)
        else:
            with pytest.raises(expected):
                run_in_child(T + "start_sleepers", {}, kwargs, **options)
        pids = [int(p) for p in pid_file.read_text().split()]
        assert len(pids) == 3
        # the model process, the sleep in its group and the one in a session of its own
        assert _gone(pids) == [], f"left running after {how}"
        assert time.monotonic() - t0 < 30
    finally:
        _kill_all(pids)


@pytest.mark.skipif(not LINUX, reason="PR_SET_PDEATHSIG is Linux's")
def test_a_model_stuck_in_c_dies_with_a_killed_parent(tmp_path):
    """SIGTERM ignored, the GIL held in a C call: the parent-watch thread cannot run, the
    kernel's parent-death signal still ends the model, and its sentinel the sleep."""
    pid_file = tmp_path / "pids"
    script = (
        "from interval.ai.runner import run_in_child\n"
        f"run_in_child({T + 'stuck_in_c_ignoring_sigterm'!r}, {{}},"
        f" {{'pid_file': {str(pid_file)!r}}})\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stderr=subprocess.DEVNULL)
    pids: list[int] = []
    try:
        pids = [int(p) for p in _wait_for(pid_file, parent).split()]
        time.sleep(0.3)  # surely inside the C call
        assert all(_running(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert _gone(pids) == [], "the model (or what it started) outlived the killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        _kill_all(pids)


@pytest.mark.skipif(not LINUX, reason="sessions and process groups (POSIX), /proc")
def test_the_model_leads_its_own_group_and_session():
    _out, info = run_in_child(T + "address_space_limits", {}, {})
    assert info["pgid"] == info["pid"] and os.getpgid(0) != info["pid"]
    assert os.getsid(0) != info["pid"]  # (the session of the child is gone with it)
    assert "default_int_handler" in info["sigint"]  # its own children do not ignore Ctrl-C


# --- memory -------------------------------------------------------------------------------


@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS is a Linux mechanism")
def test_a_model_cannot_lift_its_own_memory_limit():
    with pytest.raises(ModelOutOfMemory, match=r"ran out of memory \(limit 256 MiB\)") as info:
        run_in_child(T + "lift_own_memory_limit", {}, {"nbytes": GiB},
                     memory_limit_bytes=256 * 2**20)
    assert "INTERVAL_MODEL_MEMORY_LIMIT" in info.value.hint


@pytest.mark.skipif(not LINUX, reason="uses /proc")
def test_memory_in_processes_the_model_started_is_watched():
    t0 = time.monotonic()
    with pytest.raises(ModelOutOfMemory, match="Together with the processes it started") as info:
        run_in_child(T + "memory_in_grandchildren", {}, {"nbytes": 200 * 2**20, "count": 3},
                     memory_limit_bytes=256 * 2**20, timeout=60)
    assert info.value.limit_bytes == 256 * 2**20
    assert time.monotonic() - t0 < 30


@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS is a Linux mechanism")
def test_a_default_limit_applies_when_the_caller_gives_none(monkeypatch):
    from interval.ai import runner

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(runner, "_address_space_limit_works", lambda: True)  # even with a GPU
    _out, info = run_in_child(T + "address_space_limits", {}, {})
    default = machine_default_limit()
    headroom = 64 * 2**20
    assert info["hard"] != -1 and info["soft"] != -1
    assert info["hard"] - info["soft"] == headroom
    # soft: the address space in use when the job came (a little less than now) + the limit
    assert 0 <= info["vm"] - (info["soft"] - default) < 256 * 2**20
    monkeypatch.setenv(ENV_VAR, "300M")
    with pytest.raises(ModelOutOfMemory, match=r"limit 300 MiB"):
        run_in_child(T + "allocate", {}, {"nbytes": GiB})
    monkeypatch.setenv(ENV_VAR, "lots")
    with pytest.raises(IntervalError, match="INTERVAL_MODEL_MEMORY_LIMIT 'lots' is not a size"):
        run_in_child(T + "allocate", {}, {"nbytes": 1})
    monkeypatch.setenv(ENV_VAR, "none")
    _out, info = run_in_child(T + "address_space_limits", {}, {})
    assert info["soft"] == info["hard"] == -1
    _out, info = run_in_child(T + "address_space_limits", {}, {},
                              memory_limit_bytes=512 * 2**20)  # the caller wins
    assert info["hard"] != -1


@pytest.mark.skipif(not LINUX, reason="RLIMIT_AS is a Linux mechanism")
def test_the_engine_running_out_of_memory_under_the_limit_names_the_limit(monkeypatch):
    from interval.ai import runner
    from interval.ai.errors import InferenceOutOfMemory

    monkeypatch.setattr(runner, "_address_space_limit_works", lambda: True)  # even with a GPU
    with pytest.raises(ModelOutOfMemory) as info:
        run_in_child(T + "engine_out_of_memory", {}, {}, memory_limit_bytes=GiB)
    assert str(info.value).startswith("The model ran out of memory (limit 1.0 GiB) and was "
                                      "stopped. The model does not fit in the memory of the cpu")
    with pytest.raises(InferenceOutOfMemory):  # no limit of ours: the engine's error as it is
        run_in_child(T + "engine_out_of_memory", {}, {}, memory_limit_bytes=NO_LIMIT)


def test_sizes_and_the_machine_default():
    assert parse_size("8G") == 8 * GiB and parse_size("512M") == 512 * 2**20
    assert parse_size("1.5 GiB") == int(1.5 * GiB) and parse_size("2gb") == 2 * GiB
    assert parse_size("none") == parse_size("0") == parse_size("off") == NO_LIMIT
    for bad in ("-1G", "8X", "", "G"):
        with pytest.raises(IntervalError, match="is not a size"):
            parse_size(bad)
    with pytest.raises(IntervalError, match="smaller than 1 MiB"):
        parse_size("8")
    assert machine_default_limit(8 * GiB) == 6 * GiB
    assert machine_default_limit(16 * GiB) == 12 * GiB
    assert machine_default_limit(64 * GiB) == 48 * GiB
    assert machine_default_limit(4 * GiB) == 2 * GiB
    assert machine_default_limit(2 * GiB) == GiB
    assert resolve_limit(123 * 2**20) == 123 * 2**20 and resolve_limit(0) == NO_LIMIT


@pytest.mark.skipif(not LINUX, reason="PR_SET_PDEATHSIG is Linux's")
def test_a_process_started_from_a_thread_that_ends_lives_on():
    """The parent-death signal follows the THREAD that started the child: a model process
    started from a short-lived worker thread must not die when that thread ends."""
    import threading

    from interval.ai.runner import ModelProcess

    started: list[ModelProcess] = []

    def work() -> None:
        process = ModelProcess(preload=("numpy",))
        started.append(process)
        deadline = time.monotonic() + 30
        while os.getpgid(process.pid) != process.pid and time.monotonic() < deadline:
            time.sleep(0.01)  # until the child has its own group: setsid, then prctl
        time.sleep(0.3)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(60)
    assert started and not worker.is_alive()
    time.sleep(0.5)  # a child tied to the worker thread would have been killed by now
    out, _info = run_in_child(T + "double", {"image": np.full((1, 1, 2), 4, np.int16)}, {},
                              process=started[0])
    assert out["doubled"].tolist() == [[[8, 8]]]


# --- the confidence map (issue 13) is checked like the label map ---------------------------


def _confidence_package(tmp_path: Path, confidence: bool = True) -> Path:
    from tests.ai._packages import base_json, write_package

    over = {"confidence": {"labels": [1], "equivocal_below": 0.5}} if confidence else {}
    return write_package(tmp_path / "pkg", base_json(**over))


@pytest.mark.parametrize(("target", "needle"), [
    ("confidence_wrong_shape", r"confidence map \(3x4x6, uint8\) does not match the image "
                               r"\(3x4x5, uint8\)"),
    ("confidence_flat", r"confidence map \(60, uint8\) does not match"),
    ("confidence_float", r"confidence map \(3x4x5, float32\) does not match"),
    ("confidence_int16", r"confidence map \(3x4x5, int16\) does not match"),
])
def test_a_confidence_map_that_does_not_fit_is_refused(tmp_path, monkeypatch, target, needle):
    from interval.ai import child_segment
    from interval.ai.runner import run_segmentation
    from interval.core.volume import Volume

    monkeypatch.setattr(child_segment, "TARGET", f"tests.ai._confidence_targets:{target}")
    volume = Volume(np.zeros((3, 4, 5), np.int16))
    with pytest.raises(ModelMisbehaved, match=needle) as info:
        run_segmentation(volume, _confidence_package(tmp_path), {"device": "cpu"}, timeout=120)
    assert "broke the rules of the model runtime" in str(info.value)


def test_a_confidence_map_nobody_asked_for_is_refused(tmp_path, monkeypatch):
    from interval.ai import child_segment
    from interval.ai.runner import run_segmentation
    from interval.core.volume import Volume

    monkeypatch.setattr(child_segment, "TARGET", "tests.ai._confidence_targets:confidence_uint8")
    volume = Volume(np.zeros((3, 4, 5), np.int16))
    with pytest.raises(ModelMisbehaved, match="confidence map that was not asked for"):
        run_segmentation(volume, _confidence_package(tmp_path / "a", confidence=False),
                         {"device": "cpu"}, timeout=120)
    with pytest.raises(ModelMisbehaved, match="confidence map that was not asked for"):
        run_segmentation(volume, _confidence_package(tmp_path / "b"),
                         {"device": "cpu", "confidence": False}, timeout=120)
    # the same map, declared and asked for, is taken as it is
    result = run_segmentation(volume, _confidence_package(tmp_path / "c"), {"device": "cpu"},
                              timeout=120)
    assert result.confidence is not None and result.confidence.same_grid(volume)
    assert int(result.confidence.array.min()) == int(result.confidence.array.max()) == 200
