"""The ``interval`` entry point: help, version, exit codes, error reporting, demo wiring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import interval
from interval.cli import info as info_cmd
from interval.cli.main import main
from interval.core.errors import Cancelled, UnreadableFile
from interval.core.volume import Volume
from interval.io.image_files import write_image


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"interval {interval.__version__}"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("info", "convert", "demo", "exit codes"):
        assert word in out


def test_subcommand_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--irregular" in out and "SERIES_UID" in out


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["info"], ["convert", "x"], ["info", "x", "--nope"], ["demo", "--seed", "one"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage" in capsys.readouterr().err


def test_data_error_exits_1_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("interval: error: missing: not found")
    assert "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--debug", "info", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "UnreadableFile" in err
    # --debug is accepted after the subcommand too
    assert main(["info", str(tmp_path / "missing"), "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), Cancelled()])
def test_cancel_exits_130(
    exc: BaseException, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(info_cmd, "build_tree", interrupted)
    assert main(["info", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert "cancelled" in err and "Traceback" not in err


def test_unexpected_errors_exit_3_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def buggy(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(info_cmd, "build_tree", buggy)
    assert main(["info", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err and "--debug" in err and "Traceback" not in err
    assert main(["info", str(tmp_path), "--debug"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_error_messages_name_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unreadable(*args: object, **kwargs: object) -> None:
        raise UnreadableFile("damaged DICOM header (bad tag)", path=tmp_path / "IM0001")

    monkeypatch.setattr(info_cmd, "build_tree", unreadable)
    assert main(["info", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "interval: error: IM0001: damaged DICOM header (bad tag)\n"


def test_demo_is_called_with_out_and_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[Path | None, int]] = []
    seen: list[dict] = []

    def run_demo(out_dir: Path | None, seed: int, echo, **options) -> int:  # type: ignore[no-untyped-def]
        calls.append((out_dir, seed))
        seen.append(options)
        echo("demo ran")
        return 0

    from interval.cli import demo as demo_cli

    monkeypatch.setattr(demo_cli, "run_demo", run_demo)
    monkeypatch.setattr(demo_cli, "options_from_args",
                        lambda args: {"segment": not args.no_segment})
    assert main(["demo", "--out", str(tmp_path / "d"), "--seed", "7", "--no-segment"]) == 0
    assert seen[-1] == {"segment": False}
    assert calls == [(tmp_path / "d", 7)]
    assert capsys.readouterr().out == "demo ran\n"
    assert main(["demo"]) == 0
    assert calls[-1] == (None, 0)  # the demo picks its own default folder


def test_demo_exit_code_is_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from interval.cli import demo as demo_cli

    monkeypatch.setattr(demo_cli, "run_demo", lambda out_dir, seed, echo, **options: 1)
    monkeypatch.setattr(demo_cli, "options_from_args", lambda args: {})
    assert main(["demo", "--out", "x"]) == 1


def _console_script() -> str:
    script = Path(sys.executable).parent / "interval"
    assert script.exists(), f"console script not installed beside {sys.executable}"
    return str(script)


def test_console_script_runs_in_a_real_process(tmp_path: Path) -> None:
    vol = Volume(np.arange(60, dtype=np.int16).reshape(3, 4, 5), (0.5, 0.5, 2.0))
    path = write_image(vol, tmp_path / "scan.nii.gz")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [_console_script(), "info", str(path), "--json"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert done.returncode == 0, done.stderr
    tree = json.loads(done.stdout)
    assert tree["image"]["dimensions"] == [5, 4, 3]
    assert done.stderr == ""  # not a terminal: no progress bar
    bad = subprocess.run(
        [_console_script(), "convert", str(path), "-o", str(tmp_path / "out.txt")],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr and "output format" in bad.stderr


def test_progress_bar_draws_only_when_enabled() -> None:
    import io

    from interval.cli.progress import ProgressBar, progress_wanted

    stream = io.StringIO()
    assert progress_wanted(False, stream) is False  # not a terminal
    assert progress_wanted(True, stream) is True
    with ProgressBar("Loading", enabled=True, stream=stream) as bar:
        bar(0, 4)
        bar(4, 4)
    text = stream.getvalue()
    assert "Loading [" in text and "100%" in text and "4/4" in text and text.endswith("\n")
    quiet = io.StringIO()
    with ProgressBar("Loading", enabled=False, stream=quiet) as bar:
        bar(1, 2)
    assert quiet.getvalue() == ""


def test_demo_opens_the_viewer_only_for_a_person_at_a_display(monkeypatch) -> None:
    """`interval demo` shows the viewer on a desktop, never under CI or without a display."""
    from interval.cli import main as cli_main

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(cli_main.sys, "stdin", Tty())
    monkeypatch.setattr(cli_main.sys, "stdout", Tty())
    monkeypatch.setattr(cli_main.sys, "platform", "linux")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    assert cli_main._interactive_display()
    monkeypatch.setenv("CI", "true")
    assert not cli_main._interactive_display()
    monkeypatch.delenv("CI")
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not cli_main._interactive_display()
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert not cli_main._interactive_display()
