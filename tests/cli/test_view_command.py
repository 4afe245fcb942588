"""``interval view [PATH]`` and ``interval demo --view``: wiring, errors, no Qt for --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from interval.cli import view as view_cmd
from interval.cli.main import EXIT_DATA, EXIT_OK, main

segmentations_seen: list[dict | None] = []


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Replace the GUI start with a recorder of the path it would open."""
    calls: list[str | None] = []
    segmentations_seen.clear()

    def fake(path: str | None, segmentations: dict | None = None) -> int:
        calls.append(path)
        segmentations_seen.append(segmentations)
        return 0

    monkeypatch.setattr(view_cmd, "open_viewer", fake)
    return calls


def test_view_opens_the_given_folder(tmp_path: Path, opened) -> None:
    assert main(["view", str(tmp_path)]) == EXIT_OK
    assert opened == [str(tmp_path)]


def test_view_without_path(opened) -> None:
    assert main(["view"]) == EXIT_OK
    assert opened == [None]


def test_view_missing_path_is_a_data_error(tmp_path: Path, opened, capsys) -> None:
    assert main(["view", str(tmp_path / "absent")]) == EXIT_DATA
    err = capsys.readouterr().err
    assert "absent: not found" in err and "Traceback" not in err
    assert opened == []


def test_help_lists_view_and_does_not_import_qt() -> None:
    code = (
        "import sys\n"
        "from interval.cli.main import main\n"
        "rc = main(['view', '--help'])\n"
        "print('QT' if 'PySide6' in sys.modules else 'NOQT', rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "PATH" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "NOQT 0"


def test_demo_view_opens_the_generated_dicom_folder(tmp_path: Path, opened, monkeypatch) -> None:
    from interval.cli import demo
    from interval.io.synthetic.patient import generate_patient

    patient = generate_patient(tmp_path / "demo", seed=0, n_timepoints=1, shape=(8, 32, 32),
                               ground_truth=False, keep_arrays=False)
    ran: list[Path] = []
    monkeypatch.setattr(demo, "run_demo", lambda out, seed, echo, **kw: ran.append(out) or 0)
    assert main(["demo", "--out", str(tmp_path / "demo"), "--view"]) == EXIT_OK
    assert ran == [tmp_path / "demo"]
    assert opened == [str(patient.dicom_dir)]
    assert segmentations_seen == [{}]  # nothing segmented: no layers to attach
    # without --view the viewer is not opened
    assert main(["demo", "--out", str(tmp_path / "demo")]) == EXIT_OK
    assert opened == [str(patient.dicom_dir)]


def test_run_viewer_shows_the_window_and_opens_the_path(qtbot, tmp_path, monkeypatch) -> None:
    """The real entry point with the event loop replaced (a real ``exec`` would end the
    test process's QApplication for every later test): the window is shown, the path is
    read in the background, and closing cleans up."""
    from PySide6.QtWidgets import QApplication

    from interval.ui import app as app_mod
    from interval.ui.main_window import MainWindow

    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    qapp = app_mod.application()
    assert qapp is QApplication.instance()
    seen: dict[str, object] = {}

    def fake_exec() -> int:
        (window,) = [w for w in QApplication.topLevelWidgets()
                     if isinstance(w, MainWindow) and w.isVisible()]
        qtbot.waitUntil(lambda: window.index_job is not None and window.index_job.done.is_set(),
                        timeout=30_000)
        qtbot.waitUntil(lambda: "Reading" not in window.browser.status.text(), timeout=30_000)
        seen["folder"] = window.current_folder
        seen["status"] = window.browser.status.text()
        seen["startup"] = window.startup_seconds
        window.close()
        window.deleteLater()
        return 0

    monkeypatch.setattr(qapp, "exec", fake_exec)
    assert app_mod.run_viewer(str(tmp_path)) == 0
    assert seen["folder"] == tmp_path
    assert "0 patient(s)" in str(seen["status"])  # the empty folder was read and reported
    assert float(seen["startup"]) >= 0
