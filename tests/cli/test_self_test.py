"""``interval --self-test``: generate, index, load, render, segment, track and report in a
temporary folder; one line on success, the failed step and its reason otherwise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from interval.cli.main import main
from interval.diagnostics import runtime
from interval.diagnostics.checks import NO_MODEL_RUNTIME, StepSkipped, check
from interval.diagnostics.render_step import EXPECTED_GREY, EXPECTED_WINDOW
from interval.diagnostics.self_test import STEPS, run_self_test

ALL_STEPS = [name for name, _step in STEPS]
PASSED = re.compile(r"Interval self-test passed: (\d+) checks in \d+\.\d s \((.*)\)(; .*)?")


@pytest.fixture
def tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the self-test makes its temporary folder in."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _left_behind(root: Path) -> list[Path]:
    return list(root.glob("interval-self-test-*"))


def _step_lines(out: str) -> dict[str, str]:
    lines = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[0] in ("ok", "FAILED", "skipped") and parts[1] in ALL_STEPS:
            lines[parts[1]] = line
    return lines


@pytest.mark.slow
def test_self_test_passes_in_process(tmp_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with_model = runtime.model_runtime_available()
    assert main(["--self-test", "--verbose"]) == 0
    out = capsys.readouterr().out
    summary = out.splitlines()[-1]
    match = PASSED.fullmatch(summary)
    assert match, summary
    expected = [s for s in ALL_STEPS if with_model or s != "model"]
    assert match.group(2).split(", ") == expected
    assert int(match.group(1)) == len(expected)
    steps = _step_lines(out)
    assert list(steps) == ALL_STEPS
    assert "1000 HU -> 255" in steps["render"] and "0 HU -> 102" in steps["render"]
    assert "nothing skipped" in steps["index"]
    if with_model:
        assert steps["model"].split()[0] == "ok" and "liver Dice" in steps["model"]
        assert "segmented by phantom-unet" in steps["tracking"]
    assert re.search(r"[1-9]\d* lesions tracked", steps["tracking"])
    assert "SYNTHETIC^" not in out and "PHANTOM0" not in out  # no patient name printed
    assert _left_behind(tmp_root) == []  # the temporary folder was removed


def _console_script() -> str:
    script = Path(sys.executable).parent / "interval"
    assert script.exists(), f"console script not installed beside {sys.executable}"
    return str(script)


@pytest.mark.slow
def test_self_test_as_a_command_without_a_display(tmp_path: Path) -> None:
    """The real command, with no display and no Qt/VTK settings: it picks offscreen itself."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM",
                        "VTK_DEFAULT_OPENGL_WINDOW")}
    env.update(TMPDIR=str(tmp_path), PYTHONWARNINGS="ignore")
    done = subprocess.run([_console_script(), "--self-test"], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and PASSED.fullmatch(lines[0]), done.stdout
    assert "Traceback" not in done.stderr
    assert _left_behind(tmp_path) == []


def test_a_wrong_pixel_fails_the_render_step(tmp_root: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A renderer that draws the wrong greys (here: inverted) fails at render; nothing after
    it runs, and the exit code is 1."""
    from interval.ui import offscreen_frame

    real = offscreen_frame.render_middle_slice

    def inverted(*args, **kwargs):
        rendered = real(*args, **kwargs)
        return offscreen_frame.RenderedSlice(255 - rendered.frame, rendered.points,
                                             rendered.window)

    monkeypatch.setattr(offscreen_frame, "render_middle_slice", inverted)
    assert main(["--self-test", "-v"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == ("Interval self-test FAILED at render: the 1000 HU square is "
                                    "drawn with grey 0, not 255")
    steps = _step_lines(captured.out)
    assert list(steps) == ["generate", "index", "load", "render"]
    assert steps["render"].split()[0] == "FAILED"
    assert _left_behind(tmp_root) == []


def test_without_the_model_runtime_the_model_step_is_skipped(
    tmp_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The viewer-only edition: no model process is started, tracking uses the truth."""
    from interval.ai import runner

    def no_model(*_args, **_kwargs):
        raise AssertionError("a model process was started")

    monkeypatch.setattr(runtime, "model_runtime_available", lambda: False)
    monkeypatch.setattr(runner, "run_segmentation", no_model)
    monkeypatch.setattr(runner, "start_segmentation_process", no_model)
    assert main(["--self-test", "--verbose"]) == 0
    out = capsys.readouterr().out
    steps = _step_lines(out)
    assert steps["model"].split()[0] == "skipped"
    assert steps["model"].endswith(f"skipped: {NO_MODEL_RUNTIME}")
    assert "generator's label maps" in steps["tracking"]
    summary = out.splitlines()[-1]
    assert summary.startswith("Interval self-test passed: 6 checks in ")
    assert summary.endswith("(generate, index, load, render, tracking, report); "
                            f"model skipped: {NO_MODEL_RUNTIME}")


def test_the_first_failure_stops_the_run_and_every_error_is_a_result(tmp_root: Path) -> None:
    ran = []

    def ok(_ctx):
        ran.append("ok")
        return "fine"

    def skipped(_ctx):
        raise StepSkipped("not here")

    def fails(_ctx):
        ran.append("fails")
        check(1 + 1 == 3, "arithmetic is off")
        return "unreachable"

    def crashes(_ctx):
        ran.append("crashes")
        raise ValueError("boom")

    run = run_self_test(steps=[("a", ok), ("b", skipped), ("c", ok)])
    assert run.ok and run.summary().startswith("Interval self-test passed: 2 checks in ")
    assert run.summary().endswith("(a, c); b skipped: not here")
    run = run_self_test(steps=[("a", ok), ("b", crashes), ("c", fails)])
    assert not run.ok and run.failed.name == "b"
    assert run.summary() == "Interval self-test FAILED at b: ValueError: boom"
    assert [s.name for s in run.steps] == ["a", "b"] and "fails" not in ran
    run = run_self_test(steps=[("c", fails)])
    assert run.summary() == "Interval self-test FAILED at c: arithmetic is off"
    assert _left_behind(tmp_root) == []


def test_self_test_with_a_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--self-test", "info", "x"]) == 2
    assert "--self-test takes no command" in capsys.readouterr().err


def test_the_expected_greys_are_the_dicom_linear_function() -> None:
    """The render step's constants agree with the viewer's reference formula."""
    from interval.ui.slice_view import dicom_linear_grey

    hus = list(EXPECTED_GREY)
    assert dicom_linear_grey(np.array(hus), *EXPECTED_WINDOW).tolist() == \
        [EXPECTED_GREY[hu] for hu in hus]
