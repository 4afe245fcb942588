"""PACS over TLS with the hospital's own certificate authority.

DICOMweb over https and DIMSE over TLS reach a real Orthanc through a TLS front
(:class:`~tests.net.tls_peers.TlsProxy`; the Debian Orthanc crashes on HTTPS itself) and
a pynetdicom SCP over TLS; the certificates are made here by a test CA.  Trusted with
the CA file, refused in words without it (or with the wrong one), accepted unchecked
only with ``verify_tls`` False (warned); profiles keep the settings; the command line
takes ``--tls``, ``--ca-file``, ``--client-cert`` and ``--insecure``.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pynetdicom.sop_class import Verification

from interval.cli.main import main
from interval.net import profiles as prof
from interval.net.credentials import SECRET_ENV
from interval.net.dicomweb import DicomWebClient
from interval.net.dimse import DimseClient
from interval.net.errors import CertificateError, ProfileError, ServerUnreachable
from interval.net.model import ServerProfile, StudyQuery
from tests.net.dimse_peers import PEER_AE, PeerScp
from tests.net.orthanc_server import AE_TITLE, PASSWORD, USER
from tests.net.tls_peers import (
    FOUND_STUDY_UID,
    TlsProxy,
    TlsScp,
    make_pki,
    server_context,
)

CT = Path(get_testdata_file("CT_small.dcm"))
CT_PATIENT = "1CT1"
CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def no_ca_bundle_from_the_environment(monkeypatch):
    """requests would trust REQUESTS_CA_BUNDLE for a profile without a CA file."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def web_front(orthanc, pki):
    """https://127.0.0.1:<port> in front of Orthanc's HTTP port (server certificate for
    127.0.0.1 and localhost, signed by the test CA)."""
    with TlsProxy(orthanc.http_port, server_context(pki.server)) as front:
        yield front


@pytest.fixture(scope="module")
def dicom_front(orthanc, pki):
    """DICOM over TLS in front of Orthanc's DICOM port."""
    with TlsProxy(orthanc.dicom_port, server_context(pki.server)) as front:
        yield front


@pytest.fixture
def stored(orthanc):
    """Orthanc holding exactly pydicom's CT_small."""
    orthanc.delete_all()
    orthanc.upload([CT])
    yield orthanc
    orthanc.delete_all()


def web_profile(front: TlsProxy, **changes) -> ServerProfile:
    return replace(ServerProfile("Hospital", url=f"https://127.0.0.1:{front.port}/dicom-web",
                                 auth="basic", username=USER, timeout_s=10), **changes)


def dimse_profile(port: int, **changes) -> ServerProfile:
    return replace(ServerProfile("Hospital DIMSE", protocol="dimse", host="127.0.0.1",
                                 port=port, called_ae=PEER_AE, tls=True, timeout_s=10),
                   **changes)


# -- DICOMweb over https ----------------------------------------------------------------------
def test_dicomweb_over_https_trusts_the_hospital_ca(stored, web_front, pki, tmp_path) -> None:
    with DicomWebClient(web_profile(web_front, ca_file=str(pki.ca)), PASSWORD) as client:
        client.echo()
        hits = client.find_studies(StudyQuery(patient_id=CT_PATIENT))
        assert [h.study_uid for h in hits] == [CT_STUDY]
        series = client.find_series(CT_STUDY)
        assert len(series) == 1
        result = client.retrieve_series(CT_STUDY, series[0].series_uid, tmp_path)
    original = pydicom.dcmread(CT)
    (path,) = result.files
    received = pydicom.dcmread(path)
    assert received.SOPInstanceUID == original.SOPInstanceUID
    assert received.PixelData == original.PixelData


@pytest.mark.parametrize("trust", ["system", "other CA"])
def test_dicomweb_untrusted_certificate_is_said(web_front, pki, trust) -> None:
    ca_file = str(pki.other_ca) if trust == "other CA" else ""
    client = DicomWebClient(web_profile(web_front, ca_file=ca_file), PASSWORD)
    with pytest.raises(CertificateError) as info:
        client.echo()
    text = str(info.value)
    assert text.startswith(f"The PACS 'Hospital' (https://127.0.0.1:{web_front.port}/dicom-web)"
                           " presented a certificate that ")
    if trust == "system":
        assert "this computer does not trust (" in text and "with --ca-file" in text
    else:
        assert f"the CA certificates in {pki.other_ca} do not vouch for" in text
    assert PASSWORD not in text


def test_dicomweb_unverified_connects_and_warns_at_each_use(web_front, caplog) -> None:
    profile = web_profile(web_front, verify_tls=False)
    with caplog.at_level(logging.WARNING, logger="interval.net"):
        for _ in range(2):
            with DicomWebClient(profile, PASSWORD) as client:
                client.echo()
    warnings = [r for r in caplog.records if "NOT verified" in r.getMessage()]
    assert len(warnings) == 2 and "'Hospital'" in warnings[0].getMessage()


def test_the_profile_decides_over_requests_ca_bundle(web_front, pki, monkeypatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.other_ca))
    DicomWebClient(web_profile(web_front, ca_file=str(pki.ca)), PASSWORD).echo()
    DicomWebClient(web_profile(web_front, verify_tls=False), PASSWORD).echo()
    with pytest.raises(CertificateError):  # no CA file: the environment's bundle counts
        DicomWebClient(web_profile(web_front), PASSWORD).echo()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
    DicomWebClient(web_profile(web_front), PASSWORD).echo()


def test_https_to_a_plain_http_server_is_not_a_certificate_problem(orthanc, pki) -> None:
    profile = ServerProfile("Plain", url=f"https://127.0.0.1:{orthanc.http_port}/dicom-web",
                            auth="basic", username=USER, ca_file=str(pki.ca), timeout_s=10)
    with pytest.raises(ServerUnreachable) as info:
        DicomWebClient(profile, PASSWORD).echo()
    assert "the secure connection failed" in str(info.value)
    assert not isinstance(info.value, CertificateError)


def test_a_missing_ca_file_is_said_before_connecting(web_front, tmp_path) -> None:
    gone = tmp_path / "hospital-ca.pem"
    with pytest.raises(ProfileError, match=str(gone)):
        DicomWebClient(web_profile(web_front, ca_file=str(gone)), PASSWORD)


# -- DIMSE over TLS -------------------------------------------------------------------------------
def test_dimse_over_tls_trusts_the_hospital_ca(pki) -> None:
    with TlsScp(server_context(pki.server)) as scp:
        client = DimseClient(dimse_profile(scp.port, ca_file=str(pki.ca)))
        client.echo()
        hits = client.find_studies(StudyQuery(patient_id="TLS-1"))
    assert [h.study_uid for h in hits] == [FOUND_STUDY_UID]


@pytest.mark.parametrize("trust", ["system", "other CA"])
def test_dimse_untrusted_certificate_is_said(pki, trust) -> None:
    ca_file = str(pki.other_ca) if trust == "other CA" else ""
    with TlsScp(server_context(pki.server)) as scp, pytest.raises(CertificateError) as info:
        DimseClient(dimse_profile(scp.port, ca_file=ca_file)).echo()
    text = str(info.value)
    assert text.startswith(f"The PACS 'Hospital DIMSE' ({PEER_AE}@127.0.0.1:{scp.port}) "
                           "presented a certificate that ")
    if trust == "system":
        assert "does not trust" in text and "--ca-file" in text
    else:
        assert str(pki.other_ca) in text


def test_dimse_unverified_connects_and_warns(pki, caplog) -> None:
    with TlsScp(server_context(pki.server)) as scp, \
            caplog.at_level(logging.WARNING, logger="interval.net"):
        DimseClient(dimse_profile(scp.port, verify_tls=False)).echo()
    assert any("NOT verified" in r.getMessage() for r in caplog.records)


def test_dimse_certificate_for_another_name(pki) -> None:
    refused = pytest.raises(CertificateError, match="a certificate for another name")
    with TlsScp(server_context(pki.other_name)) as scp, refused:
        DimseClient(dimse_profile(scp.port, ca_file=str(pki.ca))).echo()


def test_dimse_mutual_tls(pki) -> None:
    with TlsScp(server_context(pki.server, client_ca=pki.ca)) as scp:
        DimseClient(dimse_profile(scp.port, ca_file=str(pki.ca),
                                  client_cert=str(pki.client))).echo()
        with pytest.raises(CertificateError, match="--client-cert"):
            DimseClient(dimse_profile(scp.port, ca_file=str(pki.ca))).echo()


def test_dimse_tls_to_a_plain_server_is_not_a_certificate_problem(pki) -> None:
    peer = PeerScp([])
    peer.ae.add_supported_context(Verification)
    with peer, pytest.raises(ServerUnreachable, match="the secure connection failed"):
        DimseClient(dimse_profile(peer.port, ca_file=str(pki.ca))).echo()


def test_dimse_over_tls_finds_orthanc_studies(stored, dicom_front, pki) -> None:
    client = DimseClient(dimse_profile(dicom_front.port, called_ae=AE_TITLE,
                                       ca_file=str(pki.ca)))
    client.echo()
    hits = client.find_studies(StudyQuery(patient_id=CT_PATIENT))
    assert [h.study_uid for h in hits] == [CT_STUDY]


# -- profiles ------------------------------------------------------------------------------------
def test_profiles_keep_the_tls_settings(pki, tmp_path) -> None:
    secure = dimse_profile(11112, ca_file=str(pki.ca), verify_tls=False,
                           client_cert=str(pki.client))
    web = ServerProfile("Web", url="https://pacs.example/dicom-web", ca_file=str(pki.ca))
    path = prof.save_profiles([secure, web], tmp_path / "servers.json")
    assert prof.load_profiles(path) == [secure, web]
    saved = json.loads(path.read_text())["servers"][0]
    assert (saved["tls"], saved["ca_file"], saved["verify_tls"]) == (True, str(pki.ca), False)
    assert prof.profile_from_dict(prof.profile_to_dict(secure)) == secure


def test_a_file_without_the_tls_keys_still_loads(tmp_path) -> None:
    path = tmp_path / "servers.json"
    path.write_text(json.dumps({"version": 1, "servers": [{
        "name": "Old", "protocol": "dimse", "host": "pacs", "port": 104, "called_ae": "PACS"}]}))
    (old,) = prof.load_profiles(path)
    assert (old.tls, old.ca_file, old.verify_tls, old.client_cert) == (False, "", True, "")


def test_tls_settings_are_checked(pki, tmp_path, monkeypatch) -> None:
    dimse = dimse_profile(11112)
    gone = tmp_path / "nowhere" / "ca.pem"
    with pytest.raises(ProfileError, match=f"CA certificate file {gone} does not exist"):
        prof.validate_profile(replace(dimse, ca_file=str(gone)))
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("hello")
    with pytest.raises(ProfileError, match="holds no certificate"):
        prof.validate_profile(replace(dimse, ca_file=str(not_pem)))
    with pytest.raises(ProfileError, match="both the certificate and its private key"):
        prof.validate_profile(replace(dimse, client_cert=str(pki.ca)))
    locked = tmp_path / "locked.pem"
    locked.write_text(pki.client.read_text().replace("BEGIN PRIVATE KEY",
                                                     "BEGIN ENCRYPTED PRIVATE KEY"))
    with pytest.raises(ProfileError, match="pass phrase"):
        prof.validate_profile(replace(dimse, client_cert=str(locked)))
    with pytest.raises(ProfileError, match="https://"):
        prof.validate_profile(ServerProfile("Web", url="http://pacs/dicom-web", tls=True))
    with pytest.raises(ProfileError, match="true or false"):
        prof.profile_from_dict({**asdict(dimse), "tls": "yes"})
    # an http URL with the check off: nothing to check, nothing refused
    assert not prof.validate_profile(ServerProfile("Web", url="http://pacs/dicom-web",
                                                   verify_tls=False)).uses_tls()
    monkeypatch.chdir(pki.ca.parent)
    assert prof.validate_profile(replace(dimse, ca_file="ca.pem")).ca_file == str(pki.ca)


def test_a_ca_file_gone_since_does_not_hide_the_servers(pki, tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.ca.read_bytes())
    path = prof.save_profiles([dimse_profile(11112, ca_file=str(ca))], tmp_path / "s.json")
    ca.unlink()
    (profile,) = prof.load_profiles(path)
    with pytest.raises(ProfileError, match=str(ca)):
        DimseClient(profile)


# -- the command line ------------------------------------------------------------------------------
@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("INTERVAL_PACS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(SECRET_ENV, raising=False)


def run(argv, capsys, monkeypatch, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and PASSWORD not in captured.out + captured.err
    return code, captured.out, captured.err


def test_cli_echo_over_https(web_front, pki, home, capsys, monkeypatch) -> None:
    web = ["pacs", "echo", "--dicomweb", f"https://127.0.0.1:{web_front.port}/dicom-web",
           "--user", USER, "--password-stdin"]
    code, out, err = run([*web, "--ca-file", str(pki.ca)], capsys, monkeypatch, PASSWORD + "\n")
    assert code == 0, err
    assert "answers" in out
    code, out, err = run(web, capsys, monkeypatch, PASSWORD + "\n")
    assert code == 1
    assert "presented a certificate that this computer does not trust" in err
    assert "with --ca-file" in err
    code, out, err = run([*web, "--insecure"], capsys, monkeypatch, PASSWORD + "\n")
    assert code == 0, err


def test_cli_echo_over_dimse_tls(pki, home, capsys, monkeypatch) -> None:
    with TlsScp(server_context(pki.server)) as scp:
        dimse = ["pacs", "echo", "--host", "127.0.0.1", "--port", str(scp.port), "--aet",
                 PEER_AE, "--tls"]
        code, out, err = run([*dimse, "--ca-file", str(pki.ca)], capsys, monkeypatch)
        assert code == 0, err
        code, out, err = run(dimse, capsys, monkeypatch)
        assert code == 1 and "does not trust" in err


def test_cli_saves_and_lists_the_tls_settings(pki, home, capsys, monkeypatch) -> None:
    code, out, err = run(["pacs", "servers", "add", "--name", "Secure", "--host", "pacs",
                          "--aet", "PACS", "--tls", "--ca-file", str(pki.ca), "--insecure"],
                         capsys, monkeypatch)
    assert code == 0, err
    code, out, err = run(["pacs", "servers", "list"], capsys, monkeypatch)
    assert code == 0
    assert "TLS" in out and f"CA file {pki.ca}" in out and "certificate NOT verified" in out
    code, out, err = run(["pacs", "servers", "list", "--json"], capsys, monkeypatch)
    (saved,) = json.loads(out)
    assert (saved["tls"], saved["ca_file"], saved["verify_tls"]) == (True, str(pki.ca), False)


@pytest.mark.parametrize("extra, words", [
    (["--dicomweb", "https://pacs/dicom-web", "--tls"], "https://"),
    (["--host", "pacs", "--aet", "PACS", "--tls", "--ca-file", "/nowhere/ca.pem"],
     "/nowhere/ca.pem does not exist"),
])
def test_cli_wrong_tls_options_exit_2(extra, words, home, capsys, monkeypatch) -> None:
    code, out, err = run(["pacs", "echo", *extra], capsys, monkeypatch)
    assert code == 2
    assert words in err
