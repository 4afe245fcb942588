"""TLS for the PACS tests: a small certificate authority, a TLS front for a plain server
and a pynetdicom SCP over TLS.

The Debian Orthanc 1.10.1 crashes (civetweb with OpenSSL 3) on its first HTTPS request,
so a real Orthanc is reached over TLS through :class:`TlsProxy`: it ends TLS with the
server certificate and passes the bytes on to Orthanc's plain HTTP or DICOM port, the
way a hospital's TLS front (or stunnel) does.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification

from tests.net.dimse_peers import PeerScp

LOCAL_NAMES = ("localhost", "127.0.0.1")
FOUND_STUDY_UID = "1.2.826.0.1.3680043.8.498.4242"


# -- certificates ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pki:
    """PEM files: ``ca`` (the CA certificate), ``server`` (certificate and key for
    localhost and 127.0.0.1, signed by the CA), ``other_name`` (the same for
    pacs.example only), ``client`` (a client certificate and key signed by the CA) and
    ``other_ca`` (a CA that signed none of them)."""

    ca: Path
    server: Path
    other_name: Path
    client: Path
    other_ca: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: x509.Name, key) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2)))


def _ca(common_name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, encipher_only=False,
                          decipher_only=False)
    cert = (_builder(common_name, _name(common_name), key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(ca_cert, ca_key, names: tuple[str, ...], purpose) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    alt = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (_builder(names[0], ca_cert.subject, key)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))


def make_pki(folder: Path) -> Pki:
    """A CA and certificates (see :class:`Pki`) written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ca("Interval Test Hospital CA")
    other_cert, _ = _ca("Some Other CA")
    pki = Pki(ca=folder / "ca.pem", server=folder / "server.pem",
              other_name=folder / "other-name.pem", client=folder / "client.pem",
              other_ca=folder / "other-ca.pem")
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.other_ca.write_bytes(other_cert.public_bytes(serialization.Encoding.PEM))
    server = ExtendedKeyUsageOID.SERVER_AUTH
    pki.server.write_bytes(_leaf(ca_cert, ca_key, LOCAL_NAMES, server))
    pki.other_name.write_bytes(_leaf(ca_cert, ca_key, ("pacs.example",), server))
    pki.client.write_bytes(_leaf(ca_cert, ca_key, ("interval-workstation",),
                                 ExtendedKeyUsageOID.CLIENT_AUTH))
    return pki


def server_context(cert_and_key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """A server-side context; with ``client_ca`` it requires a client certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_and_key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=client_ca)
    return context


# -- a TLS front for a plain server --------------------------------------------------------------
class TlsProxy:
    """Accepts TLS on a loopback port and relays each connection to ``upstream_port``
    (``with`` runs it; one thread per connection, stopped by the test)."""

    def __init__(self, upstream_port: int, context: ssl.SSLContext) -> None:
        self.upstream_port = upstream_port
        self.context = context
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, name="tls-proxy", daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._relay, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _relay(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            secure = self.context.wrap_socket(conn, server_side=True)
        except OSError:  # the client did not trust us (or spoke plain TCP)
            conn.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
        except OSError:
            secure.close()
            return
        with secure, upstream:
            self._pump(secure, upstream)

    def _pump(self, secure: ssl.SSLSocket, plain: socket.socket) -> None:
        peers = {secure: plain, plain: secure}
        while not self._stop.is_set():
            ready = [secure] if secure.pending() else \
                select.select([secure, plain], [], [], 0.1)[0]
            for source in ready:
                try:
                    data = source.recv(1 << 16)
                except (ssl.SSLWantReadError, TimeoutError):
                    continue
                except OSError:
                    return
                if not data:
                    return
                try:
                    peers[source].sendall(data)
                except OSError:
                    return

    def __enter__(self) -> TlsProxy:
        self._accepter.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._accepter.join(5)
        self._sock.close()
        for thread in self._threads:
            thread.join(5)


# -- a DIMSE SCP over TLS ----------------------------------------------------------------------
class TlsScp(PeerScp):
    """A verification and study-root C-FIND SCP over TLS that finds one study."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__([(evt.EVT_C_FIND, _find_one_study)])
        self.ae.add_supported_context(Verification)
        self.ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        self.context = context

    def __enter__(self) -> TlsScp:
        self.server = self.ae.start_server(("127.0.0.1", 0), block=False,
                                           evt_handlers=self.handlers,
                                           ssl_context=self.context)
        return self


def _find_one_study(event):
    match = Dataset()
    match.QueryRetrieveLevel = "STUDY"
    match.StudyInstanceUID = FOUND_STUDY_UID
    match.PatientID = "TLS-1"
    match.PatientName = "SECURE^PATIENT"
    match.StudyDate = "20240102"
    yield 0xFF00, match
