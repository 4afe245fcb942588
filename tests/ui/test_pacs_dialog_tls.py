"""The PACS servers dialog's TLS settings: saved and shown again, checked in words, and
*Test connection* against a DIMSE SCP over TLS (trusted with the CA file, refused
without it)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog, QPushButton

from interval.net.profiles import load_profiles
from tests.net.dimse_peers import PEER_AE
from tests.net.tls_peers import TlsScp, make_pki, server_context

TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def servers(qtbot, config_dir):
    from interval.ui.pacs_servers_dialog import ServersDialog

    dialog = ServersDialog()
    qtbot.addWidget(dialog)
    return dialog


def fill_dimse(servers, port: int) -> None:
    servers.name_edit.setText("Secure PACS")
    servers.protocol_combo.setCurrentIndex(servers.protocol_combo.findData("dimse"))
    servers.host_edit.setText("127.0.0.1")
    servers.port_spin.setValue(port)
    servers.called_edit.setText(PEER_AE)
    servers.tls_check.setChecked(True)


def test_tls_settings_are_saved_and_shown_again(servers, pki, monkeypatch) -> None:
    fill_dimse(servers, 11112)
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(pki.ca), "PEM files")))
    browse = servers.ca_edit.parentWidget().findChildren(QPushButton)[0]
    browse.click()
    assert servers.ca_edit.text() == str(pki.ca)
    servers.insecure_check.setChecked(True)
    assert servers.save() is not None, servers.message.text()
    (saved,) = load_profiles()
    assert (saved.tls, saved.ca_file, saved.verify_tls) == (True, str(pki.ca), False)
    servers.new_profile()
    assert not servers.tls_check.isChecked() and servers.ca_edit.text() == ""
    servers.reload(select="Secure PACS")
    assert servers.tls_check.isChecked() and servers.insecure_check.isChecked()
    assert servers.ca_edit.text() == str(pki.ca)


def test_the_tls_box_is_for_dimse_only(servers) -> None:
    fill_dimse(servers, 11112)
    assert servers.form.isRowVisible(servers.tls_check)
    servers.protocol_combo.setCurrentIndex(servers.protocol_combo.findData("dicomweb"))
    servers.url_edit.setText("https://pacs.example.org/dicom-web")
    assert not servers.form.isRowVisible(servers.tls_check)
    profile = servers.form_profile()
    assert profile.uses_tls() and not profile.tls


def test_a_missing_ca_file_is_said_and_nothing_saved(servers, tmp_path) -> None:
    fill_dimse(servers, 11112)
    gone = tmp_path / "hospital-ca.pem"
    servers.ca_edit.setText(str(gone))
    assert servers.save() is None
    assert str(gone) in servers.message.text() and "does not exist" in servers.message.text()
    assert load_profiles() == []


def test_test_connection_over_tls(qtbot, servers, pki) -> None:
    with TlsScp(server_context(pki.server)) as scp:
        fill_dimse(servers, scp.port)
        servers.test_connection()
        qtbot.waitUntil(lambda: servers.echo_job is None, timeout=TIMEOUT_MS)
        assert "does not trust" in servers.message.text()
        servers.ca_edit.setText(str(pki.ca))
        servers.test_connection()
        qtbot.waitUntil(lambda: servers.echo_job is None, timeout=TIMEOUT_MS)
        assert servers.message.text() == "Secure PACS answers."
