"""The process-group sentinel from a source install and from a (emulated) frozen build.

A frozen app has no Python interpreter to run ``-c`` code: the sentinel is the app itself,
started with a hidden argument that ``interval.cli.main.main`` handles first.  The frozen
build is emulated by a script that sets ``sys.frozen`` and calls that ``main``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from interval.ai import process_group
from interval.ai.process_group import SENTINEL_ARG, handle_frozen_start, sentinel_command

APP = Path(__file__).resolve().parents[2] / "app"
POSIX = pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")

# the model process: its own session (Popen start_new_session), a sentinel and one
# grandchild in its group; prints both pids, exits when its stdin closes
_MODEL = """
import os, subprocess, sys
if sys.argv[1] != "-":
    sys.frozen = True
    sys.executable = sys.argv[1]
from interval.ai.process_group import start_group_sentinel
sentinel = start_group_sentinel()
child = subprocess.Popen(["sleep", "60"])
print(sentinel.pid if sentinel else -1, child.pid, flush=True)
sys.stdin.read()
os._exit(0)
"""
_FAKE_FROZEN_APP = """#!{python}
import sys
sys.frozen = True
from interval.cli.main import main
sys.exit(main())
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def test_source_install_runs_a_bare_interpreter(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    cmd = sentinel_command(4242)
    assert cmd[:4] == [sys.executable, "-I", "-S", "-c"]
    assert cmd[-1] == "4242"


def test_frozen_build_runs_the_app_with_the_hidden_argument(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/Interval/interval")
    assert sentinel_command(4242) == ["/opt/Interval/interval", SENTINEL_ARG, "4242"]


def test_hidden_argument_is_ignored_from_a_source_install(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    called = []
    monkeypatch.setattr(process_group, "run_sentinel", called.append)
    handle_frozen_start([SENTINEL_ARG, "4242"])  # returns: not frozen
    assert called == []


@POSIX
@pytest.mark.parametrize("frozen", [False, True], ids=["source", "frozen"])
def test_sentinel_kills_the_group_when_the_model_process_dies(tmp_path, frozen):
    app = "-"
    if frozen:
        fake = tmp_path / "interval"
        fake.write_text(_FAKE_FROZEN_APP.format(python=sys.executable), encoding="utf-8")
        fake.chmod(0o755)
        app = str(fake)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(APP), os.environ.get("PYTHONPATH", "")]))
    model = subprocess.Popen([sys.executable, "-c", _MODEL, app], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)
    try:
        sentinel, child = (int(p) for p in model.stdout.readline().split())
        assert sentinel > 0 and _alive(child)
        if frozen:  # the sentinel is the "app", in the sentinel loop
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                cmdline = psutil.Process(sentinel).cmdline()
                if SENTINEL_ARG in cmdline:
                    break
                time.sleep(0.05)
            assert cmdline[-2:] == [SENTINEL_ARG, str(model.pid)]
        time.sleep(1.0)  # the sentinel waits while the model process lives
        assert _alive(sentinel) and _alive(child)
        model.stdin.close()
        model.wait(10)
        assert _wait_gone([child, sentinel], 20) == []
    finally:
        if model.poll() is None:
            model.kill()
        model.wait(10)
        for pid in (locals().get("child"), locals().get("sentinel")):
            if pid and _alive(pid):
                os.kill(pid, 9)
