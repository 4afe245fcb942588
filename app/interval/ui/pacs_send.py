"""File > Send results to PACS: the DICOM SEG and SR of an output folder, sent in the background.

The reader chooses a server and an output folder (by default the tracking results the
window shows, else the last tracking run of the Timeline dock); the files to send are
those :func:`~interval.net.results.results_to_send` finds (looked for in the
background and listed in the dialog).  *Send* stores them with the client's ``store``
(STOW-RS / C-STORE) in a background job with progress and Cancel, and says how many the
PACS accepted; a failure is shown in the dialog and in the Problems panel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from interval.core.errors import IntervalError
from interval.ui.pacs_common import NO_SERVER, ServerCombo, with_client
from interval.ui.plain_text import plain_label
from interval.ui.workers import Job, JobContext, JobProgress, JobRunner

TITLE = "Send results to PACS"
Report = Callable[[str, str], Any]


@dataclass(frozen=True)
class SendResult:
    """What a send did: files found, files the PACS accepted."""

    files: tuple[Path, ...]
    accepted: int

    def text(self, server: str) -> str:
        n = len(self.files)
        if self.accepted == n:
            return f"{server} accepted all {n} file(s) (DICOM SEG and SR)."
        return (f"{server} accepted {self.accepted} of {n} file(s); the others were refused "
                "(see the server's log).")


def send_job(profile: Any, folder: Path) -> Callable[[JobContext], SendResult]:
    """A job function: find the results in ``folder`` and store them on ``profile``'s PACS."""

    def run(ctx: JobContext) -> SendResult:
        from interval.net.results import results_to_send

        files = results_to_send(folder)
        if not files:
            raise IntervalError("This folder holds no DICOM SEG or SR to send (a tracking "
                                "run writes them in its dicom folder).", path=folder)
        accepted = with_client(profile, lambda c: c.store(
            files, progress=ctx.progress, cancel=ctx.cancelled))
        return SendResult(tuple(files), int(accepted))

    return run


def known_output_folder(window: Any) -> Path | None:
    """The output folder the window shows or made last (None when it knows none): the
    newest open tracking-results window, else the Timeline dock's last run."""
    for w in reversed(list(getattr(window, "workspace_windows", []) or [])):
        workspace = getattr(w, "workspace", None)
        out = getattr(workspace, "out_dir", None)
        if isValid(w) and out is not None and Path(out).is_dir():
            return Path(out)
    dock = getattr(window, "timeline_dock", None)
    result = getattr(dock, "last_result", None)
    out = getattr(result, "out_dir", None)
    if out is not None and Path(out).is_dir():
        return Path(out)
    return None


class SendDialog(QDialog):
    """Choose a server and an output folder and send its SEG and SR (module text)."""

    def __init__(self, parent: QWidget | None = None, *, runner: JobRunner | None = None,
                 progress: JobProgress | None = None, report: Report | None = None,
                 folder: str | Path | None = None,
                 profiles_path: str | Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pacsSendDialog")
        self.setWindowTitle(TITLE)
        self._own_runner = runner is None
        self.runner = runner if runner is not None else JobRunner(self, max_threads=2)
        self.report = report
        self.profiles_path = profiles_path
        self.files: list[Path] = []
        self.scan_job: Job | None = None
        self.send_job: Job | None = None
        self.last_result: SendResult | None = None
        self._generation = 0
        self._build(progress)
        if folder is not None:
            self.set_folder(folder)
        self._sync()

    def _build(self, progress: JobProgress | None) -> None:
        lay = QVBoxLayout(self)
        form = QFormLayout()
        server_row = QHBoxLayout()
        self.server_combo = ServerCombo(self, self.profiles_path)
        self.server_combo.currentIndexChanged.connect(lambda _i: self._sync())
        servers = QPushButton("Servers…")
        servers.clicked.connect(self.edit_servers)
        server_row.addWidget(self.server_combo, 1)
        server_row.addWidget(servers)
        form.addRow("Server:", server_row)
        folder_row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setObjectName("pacsSendFolder")
        self.folder_edit.setPlaceholderText("A tracking or segmentation output folder")
        self.folder_edit.editingFinished.connect(lambda: self.set_folder(self.folder_edit.text()))
        browse = QPushButton("…")
        browse.setToolTip("Choose the output folder")
        browse.clicked.connect(self._ask_folder)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        form.addRow("Results:", folder_row)
        lay.addLayout(form)
        self.files_label = plain_label("")
        self.files_label.setObjectName("pacsSendFiles")
        self.files_label.setWordWrap(True)
        lay.addWidget(self.files_label)
        self.message = plain_label("")
        self.message.setObjectName("pacsSendMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.message)
        buttons = QHBoxLayout()
        self.progress = progress if progress is not None else JobProgress(self)
        if progress is None:
            buttons.addWidget(self.progress)
        buttons.addStretch(1)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("pacsSend")
        self.send_button.clicked.connect(self.send)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons.addWidget(self.send_button)
        buttons.addWidget(close)
        lay.addLayout(buttons)
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)

    def edit_servers(self) -> QDialog:
        from interval.ui.pacs_servers_dialog import ServersDialog

        dialog = ServersDialog(self, profiles_path=self.profiles_path)
        dialog.profiles_changed.connect(lambda name: self.server_combo.reload(name or None))
        dialog.open()
        return dialog

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder with DICOM SEG / SR",
                                                  self.folder_edit.text())
        if folder:
            self.set_folder(folder)

    # --- the files --------------------------------------------------------------------
    def set_folder(self, folder: str | Path) -> Job | None:
        """Show ``folder`` and list its SEG and SR files (found in the background)."""
        text = str(folder).strip()
        if self.folder_edit.text() != text:
            self.folder_edit.setText(text)
        self._generation += 1
        gen = self._generation
        self.files = []
        if not text:
            self.files_label.setText("")
            self._sync()
            return None
        path = Path(text).expanduser()
        self.files_label.setText("Looking for DICOM SEG and SR…")

        def run(_ctx: JobContext) -> list[Path]:
            from interval.net.results import results_to_send

            return results_to_send(path)

        self.scan_job = self.runner.submit(
            "looking for results", run,
            on_done=lambda files: self._current(gen) and self._listed(files),
            on_error=lambda exc: self._current(gen) and self._not_listed(exc))
        self._sync()
        return self.scan_job

    def _listed(self, files: list[Path]) -> None:
        from interval.net.results import dicom_result_kind

        self.scan_job = None
        self.files = list(files)
        if not files:
            self.files_label.setText("No DICOM SEG or SR in this folder.")
        else:
            kinds = [dicom_result_kind(f) for f in files]
            names = ", ".join(f.name for f in files[:6]) + (" …" if len(files) > 6 else "")
            self.files_label.setText(f"{len(files)} file(s) to send: {kinds.count('SEG')} "
                                     f"SEG, {kinds.count('SR')} SR ({names}).")
        self._sync()

    def _not_listed(self, exc: IntervalError) -> None:
        self.scan_job = None
        self.files_label.setText(str(exc))
        self._sync()

    # --- sending ----------------------------------------------------------------------
    def send(self) -> Job | None:
        """Send the folder's SEG and SR in the background (None: nothing to send; the
        dialog says why)."""
        profile = self.server_combo.current_profile()
        if self.send_job is not None:
            return None
        if profile is None:
            self.message.setText(NO_SERVER)
            return None
        text = self.folder_edit.text().strip()
        if not text:
            self.message.setText("Choose the output folder whose results are sent.")
            return None
        folder = Path(text).expanduser()
        self.message.setText(f"Sending to {profile.name}…")
        self.last_result = None
        self.send_job = self.runner.submit(
            "sending to the PACS", send_job(profile, folder),
            on_done=lambda result: self._sent(result, profile.name),
            on_error=self._send_failed, on_cancel=self._send_cancelled,
            progress_widget=self.progress, text=f"Sending results to {profile.name}…")
        self._sync()
        return self.send_job

    def _sent(self, result: SendResult, server: str) -> None:
        text = result.text(server)
        if isValid(self):
            self.send_job = None
            self.last_result = result
            self.message.setText(text)
            self._sync()
        if result.accepted < len(result.files) and self.report is not None:
            self.report(TITLE, text)

    def _send_failed(self, exc: IntervalError) -> None:
        text = f"Sending failed: {exc}"
        if isValid(self):
            self.send_job = None
            self.message.setText(text)
            self._sync()
        if self.report is not None:
            self.report(TITLE, text)

    def _send_cancelled(self) -> None:
        if isValid(self):
            self.send_job = None
            self.message.setText("Sending was cancelled; files the PACS had already "
                                 "accepted stay there.")
            self._sync()

    # --- state ------------------------------------------------------------------------
    def _current(self, gen: int) -> bool:
        return isValid(self) and gen == self._generation

    def _sync(self) -> None:
        profile = self.server_combo.current_profile()
        if profile is None and not self.message.text():
            self.message.setText(self.server_combo.problem or NO_SERVER)
        self.send_button.setEnabled(profile is not None and self.send_job is None
                                    and bool(self.folder_edit.text().strip()))

    def done(self, result: int) -> None:  # noqa: D102 - Qt's
        if self.scan_job is not None:
            self.scan_job.cancel()
        if self._own_runner:
            self.runner.shutdown(5000)
        super().done(result)


def show_send_dialog(window: Any) -> SendDialog:
    """File > Send results to PACS… on the main window (non-modal; sending runs on the
    window's runner with the status bar's progress and Cancel)."""
    dialog = getattr(window, "pacs_send_dialog", None)
    if dialog is None or not isValid(dialog):
        folder = known_output_folder(window)
        dialog = SendDialog(window, runner=window.runner, progress=window.progress,
                            report=window._show_text_problem, folder=folder)
        dialog.setModal(False)
        window.pacs_send_dialog = dialog
    elif not dialog.folder_edit.text().strip():
        folder = known_output_folder(window)
        if folder is not None:
            dialog.set_folder(folder)
    dialog.show()
    dialog.raise_()
    return dialog
