"""File > Send results to PACS: the SEG and SR of a tracking output, sent in the background,
how many were accepted, failures as sentences with the viewer alive, cancel; and the whole
way into a real Orthanc over DICOMweb."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pydicom
import pytest
from PySide6.QtCore import Qt

from interval.net import connect, credentials
from interval.net.errors import (
    AuthenticationFailed,
    PacsTimeout,
    ServerUnreachable,
    TransferInterrupted,
)
from interval.net.model import ServerProfile
from interval.net.profiles import save_profiles
from interval.ui.longitudinal.timeline_dock import TrackResult
from interval.ui.pacs_send import SendDialog, known_output_folder
from tests.net.fake_client import FakeClient
from tests.net.orthanc_server import PASSWORD, USER
from tests.net.result_files import write_tracking_dicom

TIMEOUT_MS = 30_000
PROFILE = ServerProfile("Test PACS", url="http://127.0.0.1:9/dicom-web")


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A tracking output folder with one real SEG and one real SR, plus other files."""
    out = tmp_path_factory.mktemp("tracking-out")
    (seg, sr), = write_tracking_dicom(out, timepoints=1)
    (out / "report.json").write_text("{}")
    (out / "report.html").write_text("<html></html>")
    return out, [seg, sr]


@pytest.fixture
def saved_profile(config_dir) -> ServerProfile:
    save_profiles([PROFILE])
    return PROFILE


def use_client(monkeypatch, client: FakeClient) -> list[ServerProfile]:
    opened: list[ServerProfile] = []

    def open_client(profile, secret=None):
        opened.append(profile)
        return client

    monkeypatch.setattr(connect, "open_client", open_client)
    return opened


def open_send_dialog(qtbot, window, out: Path) -> SendDialog:
    """File > Send results to PACS… with the Timeline dock's last run in ``out``."""
    dock = window.show_timeline_dock()
    dock.last_result = TrackResult(out, 1, 1, True, 0)
    window.actions_by_id["send_to_pacs"].trigger()
    dialog = window.pacs_send_dialog
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.scan_job is None and bool(dialog.files), timeout=TIMEOUT_MS)
    return dialog


def test_the_last_tracking_output_is_proposed_and_its_seg_and_sr_sent(
        qtbot, window, saved_profile, monkeypatch, output) -> None:
    out, files = output
    client = FakeClient(PROFILE)
    use_client(monkeypatch, client)
    dialog = open_send_dialog(qtbot, window, out)
    assert dialog.folder_edit.text() == str(out)
    assert dialog.files == files
    assert dialog.files_label.text().startswith("2 file(s) to send: 1 SEG, 1 SR")
    assert dialog.send_button.isEnabled()
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    assert window.progress.isVisible()
    qtbot.waitUntil(lambda: dialog.send_job is None, timeout=TIMEOUT_MS)
    assert client.stored == files  # the SEG before the SR that refers to it
    assert dialog.message.text() == "Test PACS accepted all 2 file(s) (DICOM SEG and SR)."
    assert dialog.last_result.accepted == 2
    assert client.closed
    assert window.problems.entries() == []


def test_known_output_folder_prefers_an_open_results_window(window, tmp_path) -> None:
    assert known_output_folder(window) is None
    dock = window.show_timeline_dock()
    dock.last_result = TrackResult(tmp_path, 1, 1, True, 0)
    assert known_output_folder(window) == tmp_path
    dock.last_result = TrackResult(tmp_path / "gone", 1, 1, True, 0)
    assert known_output_folder(window) is None


def test_a_partial_acceptance_is_said_and_listed_as_a_problem(qtbot, window, saved_profile,
                                                             monkeypatch, output) -> None:
    class Picky(FakeClient):
        def store(self, files, progress=None, cancel=None):
            super().store(files, progress, cancel)
            return 1

    use_client(monkeypatch, Picky(PROFILE))
    dialog = open_send_dialog(qtbot, window, output[0])
    dialog.send()
    qtbot.waitUntil(lambda: dialog.send_job is None, timeout=TIMEOUT_MS)
    assert dialog.message.text().startswith("Test PACS accepted 1 of 2 file(s)")
    assert [(k, t) for k, t, _text in window.problems.entries()] == [
        ("error", "Send results to PACS")]


@pytest.mark.parametrize("error", [
    ServerUnreachable("The PACS does not answer: is it running?"),
    AuthenticationFailed("The PACS refused the user name or its password."),
    PacsTimeout("The PACS stopped answering (nothing within 30 s)."),
    TransferInterrupted("The sending stopped half-way."),
])
def test_send_failures_are_said_and_the_viewer_keeps_running(qtbot, window, saved_profile,
                                                            monkeypatch, output, error) -> None:
    client = FakeClient(PROFILE, fail={"store": error})
    use_client(monkeypatch, client)
    dialog = open_send_dialog(qtbot, window, output[0])
    dialog.send()
    qtbot.waitUntil(lambda: dialog.send_job is None, timeout=TIMEOUT_MS)
    assert dialog.message.text() == f"Sending failed: {error}"
    assert [text for _k, _t, text in window.problems.entries()] == [f"Sending failed: {error}"]
    assert window.isVisible() and dialog.isVisible() and dialog.send_button.isEnabled()
    assert client.closed


def test_a_folder_without_results_sends_nothing(qtbot, saved_profile, monkeypatch,
                                               tmp_path) -> None:
    client = FakeClient(PROFILE)
    opened = use_client(monkeypatch, client)
    (tmp_path / "notes.txt").write_text("no DICOM here")
    dialog = SendDialog(folder=tmp_path)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.scan_job is None, timeout=TIMEOUT_MS)
    assert dialog.files_label.text() == "No DICOM SEG or SR in this folder."
    dialog.send()
    qtbot.waitUntil(lambda: dialog.send_job is None, timeout=TIMEOUT_MS)
    assert "holds no DICOM SEG or SR" in dialog.message.text()
    assert opened == [] and client.stored == []


def test_cancel_while_sending(qtbot, saved_profile, monkeypatch, output) -> None:
    holding = threading.Event()

    class Slow(FakeClient):
        def store(self, files, progress=None, cancel=None):
            progress(0, len(files))
            holding.set()
            deadline = time.monotonic() + 30
            while not cancel() and time.monotonic() < deadline:
                time.sleep(0.01)
            return super().store(files, progress, cancel)

    client = Slow(PROFILE)
    use_client(monkeypatch, client)
    dialog = SendDialog(folder=output[0])
    qtbot.addWidget(dialog)
    dialog.show()
    job = dialog.send()
    assert holding.wait(10)
    qtbot.waitUntil(lambda: dialog.progress.isVisible(), timeout=TIMEOUT_MS)
    qtbot.mouseClick(dialog.progress.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.send_job is None, timeout=TIMEOUT_MS)
    assert job.state == "cancelled"
    assert dialog.message.text().startswith("Sending was cancelled")
    assert client.stored == []


def test_no_server_saved_says_how_to_add_one(qtbot, config_dir, output) -> None:
    dialog = SendDialog(folder=output[0])
    qtbot.addWidget(dialog)
    assert "Servers…" in dialog.message.text()
    assert not dialog.send_button.isEnabled()
    assert dialog.send() is None


def test_orthanc_receives_the_seg_and_sr(qtbot, window, config_dir, monkeypatch, output,
                                         orthanc) -> None:
    out, files = output
    orthanc.delete_all()
    save_profiles([ServerProfile("Orthanc", url=orthanc.dicomweb_url, auth="basic",
                                 username=USER)])
    monkeypatch.setenv(credentials.SECRET_ENV, PASSWORD)
    dialog = open_send_dialog(qtbot, window, out)
    dialog.send()
    qtbot.waitUntil(lambda: dialog.send_job is None, timeout=TIMEOUT_MS)
    assert dialog.message.text() == "Orthanc accepted all 2 file(s) (DICOM SEG and SR)."
    assert orthanc.instance_count() == 2
    wanted = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID: f for f in files}
    for instance in orthanc.get("/instances"):
        tags = orthanc.get(f"/instances/{instance}/simplified-tags")
        path = wanted.pop(tags["SOPInstanceUID"])
        assert tags["Modality"] == ("SEG" if path.name.endswith("_seg.dcm") else "SR")
        assert orthanc.get(f"/instances/{instance}/file") == path.read_bytes()
    assert wanted == {}
    orthanc.delete_all()
