"""The "PACS servers" dialog: add, edit and remove server profiles, test a connection.

Profiles are saved with :func:`~interval.net.profiles.save_profiles` (names,
addresses, AE titles, user names); the password or token typed here goes only to the
platform keyring (:func:`~interval.net.credentials.set_secret`) and the field is
cleared once saved.  Left empty, the secret stored before is kept.  *Test connection*
sends an echo in the background with what the form says (and the typed secret, else the
stored one).  Secure connections: an https URL (DICOMweb) or *Use TLS* (DIMSE), the
hospital's CA certificates file, and an unsafe switch that skips the certificate check.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from interval.net.errors import ProfileError
from interval.net.model import DEFAULT_CALLING_AE, ServerProfile
from interval.ui.pacs_common import load_server_profiles, with_client
from interval.ui.plain_text import plain_label
from interval.ui.workers import Job, JobRunner

PROTOCOLS = (("dicomweb", "DICOMweb (http/https)"), ("dimse", "DIMSE (DICOM network)"))
AUTHS = (("none", "None"), ("basic", "User name and password"), ("token", "Token"))
RETRIEVES = (("get", "C-GET (no open port needed)"), ("move", "C-MOVE to this computer"))


def _combo(items: tuple[tuple[str, str], ...]) -> QComboBox:
    combo = QComboBox()
    for value, text in items:
        combo.addItem(text, value)
    return combo


def _select(combo: QComboBox, value: str) -> None:
    combo.setCurrentIndex(max(0, combo.findData(value)))


class ServersDialog(QDialog):
    """Edit the saved PACS server profiles (see the module text)."""

    profiles_changed = Signal(str)  # the name saved (or "" after a removal)

    def __init__(self, parent: QWidget | None = None, *,
                 profiles_path: str | Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pacsServersDialog")
        self.setWindowTitle("PACS servers")
        self.profiles_path = profiles_path
        self.runner = JobRunner(self, max_threads=1)
        self.profiles: list[ServerProfile] = []
        self.editing: str | None = None  # the saved name shown in the form (None: new)
        self.echo_job: Job | None = None
        self._build()
        self.reload()

    # --- building ---------------------------------------------------------------------
    def _build(self) -> None:
        lay = QHBoxLayout(self)
        left = QVBoxLayout()
        self.list = QListWidget()
        self.list.setObjectName("pacsServerList")
        self.list.currentRowChanged.connect(self._row_changed)
        left.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.new_button = QPushButton("New")
        self.new_button.clicked.connect(self.new_profile)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("pacsServerRemove")
        self.remove_button.clicked.connect(self.remove_current)
        row.addWidget(self.new_button)
        row.addWidget(self.remove_button)
        left.addLayout(row)
        lay.addLayout(left)

        right = QVBoxLayout()
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.protocol_combo = _combo(PROTOCOLS)
        self.protocol_combo.currentIndexChanged.connect(lambda _i: self._sync_fields())
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("http://pacs:8042/dicom-web")
        self.host_edit = QLineEdit()
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(104)
        self.called_edit = QLineEdit()
        self.called_edit.setPlaceholderText("the PACS's AE title")
        self.calling_edit = QLineEdit(DEFAULT_CALLING_AE)
        self.auth_combo = _combo(AUTHS)
        self.auth_combo.currentIndexChanged.connect(lambda _i: self._sync_fields())
        self.user_edit = QLineEdit()
        self.secret_edit = QLineEdit()
        self.secret_edit.setObjectName("pacsSecret")
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText("kept in the system keyring; empty: keep the one saved")
        self.retrieve_combo = _combo(RETRIEVES)
        self.retrieve_combo.currentIndexChanged.connect(lambda _i: self._sync_fields())
        self.move_port_spin = QSpinBox()
        self.move_port_spin.setRange(0, 65535)
        self.timeout_spin = QDoubleSpinBox()
        self.timeout_spin.setRange(1, 3600)
        self.timeout_spin.setValue(30)
        self.timeout_spin.setSuffix(" s")
        self.tls_check = QCheckBox("Use TLS")
        self.tls_check.setObjectName("pacsTls")
        self.ca_edit, ca_row = self._file_row("CA certificates (PEM)")
        self.ca_edit.setObjectName("pacsCaFile")
        self.ca_edit.setPlaceholderText("empty: the system's trusted authorities")
        self.client_cert_edit, cert_row = self._file_row("Client certificate and key (PEM)")
        self.client_cert_edit.setPlaceholderText("only if the PACS asks for one")
        self.insecure_check = QCheckBox("Do not verify the certificate (unsafe)")
        self.insecure_check.setObjectName("pacsInsecure")
        for label, widget in (
            ("Name:", self.name_edit), ("Protocol:", self.protocol_combo),
            ("URL:", self.url_edit), ("Host:", self.host_edit), ("Port:", self.port_spin),
            ("PACS AE title:", self.called_edit), ("Our AE title:", self.calling_edit),
            ("Sign-in:", self.auth_combo), ("User name:", self.user_edit),
            ("Password / token:", self.secret_edit), ("Retrieval:", self.retrieve_combo),
            ("Our C-MOVE port:", self.move_port_spin), ("Time limit:", self.timeout_spin),
            ("Security:", self.tls_check), ("CA certificates:", ca_row),
            ("Client certificate:", cert_row), ("", self.insecure_check),
        ):
            form.addRow(label, widget)
        self.form = form
        right.addLayout(form)
        self.message = plain_label("")
        self.message.setObjectName("pacsServersMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right.addWidget(self.message)
        buttons = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("pacsServerTest")
        self.test_button.clicked.connect(self.test_connection)
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("pacsServerSave")
        self.save_button.clicked.connect(self.save)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        right.addLayout(buttons)
        lay.addLayout(right, 1)

    def _file_row(self, title: str) -> tuple[QLineEdit, QWidget]:
        """A path field with a Browse… button (a PEM file)."""
        edit = QLineEdit()
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: self._browse(edit, title))
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(edit, 1)
        box.addWidget(button)
        return edit, row

    def _browse(self, edit: QLineEdit, title: str) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, title, edit.text(), "PEM files (*.pem *.crt *.cer);;All files (*)")
        if path:
            edit.setText(path)

    def _sync_fields(self) -> None:
        web = self.protocol_combo.currentData() == "dicomweb"
        for widget in (self.url_edit,):
            self.form.setRowVisible(widget, web)
        for widget in (self.host_edit, self.port_spin, self.called_edit, self.calling_edit,
                       self.retrieve_combo, self.move_port_spin, self.tls_check):
            self.form.setRowVisible(widget, not web)
        auth = self.auth_combo.currentData()
        self.form.setRowVisible(self.user_edit, auth == "basic")
        self.form.setRowVisible(self.secret_edit, auth != "none")
        self.move_port_spin.setEnabled(self.retrieve_combo.currentData() == "move")

    # --- the list ---------------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        """Read the saved profiles again and show ``select`` (else the first)."""
        self.profiles, problem = load_server_profiles(self.profiles_path)
        self.list.blockSignals(True)
        self.list.clear()
        for profile in self.profiles:
            self.list.addItem(profile.name)
        self.list.blockSignals(False)
        names = [p.name for p in self.profiles]
        if select in names:
            self.list.setCurrentRow(names.index(select))
        elif names:
            self.list.setCurrentRow(0)
        else:
            self.new_profile()
        if problem:
            self.message.setText(problem)
        self.remove_button.setEnabled(bool(self.profiles))

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self.profiles):
            self.show_profile(self.profiles[row])

    def new_profile(self) -> None:
        """An empty form for a new server."""
        self.list.blockSignals(True)
        self.list.clearSelection()
        self.list.setCurrentRow(-1)
        self.list.blockSignals(False)
        self.show_profile(ServerProfile(name=""))
        self.editing = None
        self.name_edit.setFocus()

    def show_profile(self, profile: ServerProfile) -> None:
        """Put ``profile`` in the form (the secret field stays empty)."""
        self.editing = profile.name or None
        self.name_edit.setText(profile.name)
        _select(self.protocol_combo, profile.protocol)
        self.url_edit.setText(profile.url)
        self.host_edit.setText(profile.host)
        self.port_spin.setValue(int(profile.port))
        self.called_edit.setText(profile.called_ae)
        self.calling_edit.setText(profile.calling_ae)
        _select(self.auth_combo, profile.auth)
        self.user_edit.setText(profile.username)
        self.secret_edit.clear()
        _select(self.retrieve_combo, profile.retrieve)
        self.move_port_spin.setValue(int(profile.move_port))
        self.timeout_spin.setValue(float(profile.timeout_s))
        self.tls_check.setChecked(profile.tls)
        self.ca_edit.setText(profile.ca_file)
        self.client_cert_edit.setText(profile.client_cert)
        self.insecure_check.setChecked(not profile.verify_tls)
        self.message.setText("")
        self._sync_fields()

    def form_profile(self) -> ServerProfile:
        """The profile the form describes, checked (raises :class:`ProfileError`)."""
        from interval.net.profiles import validate_profile

        return validate_profile(ServerProfile(
            name=self.name_edit.text(), protocol=self.protocol_combo.currentData(),
            url=self.url_edit.text(), host=self.host_edit.text(), port=self.port_spin.value(),
            called_ae=self.called_edit.text(), calling_ae=self.calling_edit.text(),
            auth=self.auth_combo.currentData(), username=self.user_edit.text(),
            retrieve=self.retrieve_combo.currentData(), move_port=self.move_port_spin.value(),
            timeout_s=self.timeout_spin.value(),
            tls=self.tls_check.isChecked() and self.protocol_combo.currentData() == "dimse",
            ca_file=self.ca_edit.text(), client_cert=self.client_cert_edit.text(),
            verify_tls=not self.insecure_check.isChecked()))

    # --- saving -----------------------------------------------------------------------
    def save(self) -> ServerProfile | None:
        """Save the form's profile (replacing the one edited) and its secret in the keyring;
        None, with the reason shown, when it cannot be saved."""
        from interval.net.profiles import save_profiles, with_profile

        try:
            profile = self.form_profile()
            old = next((p for p in self.profiles if p.name == self.editing), None)
            others = [p for p in self.profiles if p is not old]
            save_profiles(with_profile(others, profile), self.profiles_path)
        except ProfileError as exc:
            self.message.setText(str(exc))
            return None
        notes = self._save_secret(profile, old)
        self.reload(select=profile.name)
        self.message.setText(" ".join([f"Saved {profile.name}.", *notes]))
        self.profiles_changed.emit(profile.name)
        return profile

    def _save_secret(self, profile: ServerProfile, old: ServerProfile | None) -> list[str]:
        """Store the typed secret (or move the saved one to a renamed profile)."""
        from interval.net import credentials

        secret = self.secret_edit.text()
        self.secret_edit.clear()
        notes: list[str] = []
        try:
            if profile.auth != "none" and secret:
                credentials.set_secret(profile, secret)
                if old is not None and credentials.secret_key(old) != credentials.secret_key(profile):
                    credentials.delete_secret(old)
            elif old is not None and credentials.secret_key(old) != credentials.secret_key(profile):
                kept = credentials.get_secret(old) if old.auth != "none" else None
                if kept and profile.auth != "none":
                    credentials.set_secret(profile, kept)
                if old.auth != "none":
                    credentials.delete_secret(old)
        except ProfileError as exc:
            notes.append(str(exc))
        return notes

    def remove_current(self) -> None:
        """Remove the profile shown (and its secret in the keyring)."""
        from interval.net import credentials
        from interval.net.profiles import save_profiles

        old = next((p for p in self.profiles if p.name == self.editing), None)
        if old is None:
            return
        try:
            save_profiles([p for p in self.profiles if p is not old], self.profiles_path)
        except ProfileError as exc:
            self.message.setText(str(exc))
            return
        note = ""
        if old.auth != "none":
            try:
                credentials.delete_secret(old)
            except ProfileError as exc:
                note = f" {exc}"
        self.reload()
        self.message.setText(f"Removed {old.name}.{note}")
        self.profiles_changed.emit("")

    # --- testing ----------------------------------------------------------------------
    def test_connection(self) -> Job | None:
        """Echo the server the form describes, in the background."""
        try:
            profile = self.form_profile()
        except ProfileError as exc:
            self.message.setText(str(exc))
            return None
        secret = self.secret_edit.text() or None
        self.message.setText(f"Calling {profile.address()}…")
        self.test_button.setEnabled(False)
        self.echo_job = self.runner.submit(
            "testing the connection", lambda _ctx: with_client(profile, lambda c: c.echo(), secret),
            on_done=lambda _r: self._tested(f"{profile.name} answers."),
            on_error=lambda exc: self._tested(str(exc)),
            on_cancel=lambda: self._tested(""))
        return self.echo_job

    def _tested(self, text: str) -> None:
        self.echo_job = None
        self.test_button.setEnabled(True)
        self.message.setText(text)

    def done(self, result: int) -> None:  # noqa: D102 - Qt's
        self.runner.shutdown(2000)
        super().done(result)

