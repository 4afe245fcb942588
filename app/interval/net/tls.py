"""Secure (TLS) connections to a PACS: trust, certificates and failures in words.

Both backends share the rules of a profile (:class:`~interval.net.model.ServerProfile`):

* ``ca_file`` given: exactly the CA certificates in that PEM file are trusted (the
  hospital's own CA); empty: the system's trust store (``certifi`` for DICOMweb, as
  ``requests`` does; the operating system's for DIMSE);
* ``verify_tls`` False: the server's certificate is not checked at all; every use logs a
  warning (:func:`warn_if_unverified`);
* ``client_cert``: a PEM file with this computer's certificate and its unencrypted key,
  sent when the server asks for one (mutual TLS).

:func:`check_tls_files` checks the files, :func:`dimse_context` makes the
:class:`ssl.SSLContext` of a DIMSE association, :func:`https_session` the ``requests``
session of DICOMweb, and :func:`tls_failure` turns a failed handshake into a sentence
(:class:`~interval.net.errors.CertificateError` when a certificate is the cause).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

import requests

from interval.net.errors import CertificateError, PacsError, ProfileError, ServerUnreachable
from interval.net.model import ServerProfile

log = logging.getLogger(__name__)

_PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
_PEM_KEY_END = "PRIVATE KEY-----"
_MAX_PEM_BYTES = 4 * 1024 * 1024
# OpenSSL verification codes (X509_V_ERR_*) that a CA file cannot cure
_NOT_VALID_NOW = {9, 10}  # not yet valid, expired
_OTHER_NAME = {62, 64}  # host name mismatch, IP address mismatch
CA_HINT = "give the hospital's CA certificate with --ca-file (in the viewer: CA certificates)"


# -- the files of a profile ---------------------------------------------------------------
def check_tls_files(profile: ServerProfile, label: str | None = None) -> None:
    """Raise :class:`ProfileError` when ``ca_file`` or ``client_cert`` is given but is not
    a readable PEM file of what it should hold."""
    label = label or f"Server {profile.name!r}"
    if profile.ca_file:
        text = _read_pem(profile.ca_file, label, "CA certificate file")
        if _PEM_CERTIFICATE not in text:
            raise ProfileError(f"{label}: the CA certificate file {profile.ca_file} holds no "
                               "certificate (a PEM file starting with '-----BEGIN "
                               "CERTIFICATE-----' is needed).")
    if profile.client_cert:
        text = _read_pem(profile.client_cert, label, "client certificate file")
        if _PEM_CERTIFICATE not in text or _PEM_KEY_END not in text:
            raise ProfileError(f"{label}: the client certificate file {profile.client_cert} "
                               "must hold both the certificate and its private key (PEM).")
        if "ENCRYPTED" in text:
            raise ProfileError(f"{label}: the key in {profile.client_cert} is protected by a "
                               "pass phrase, which Interval cannot ask for: save it without "
                               "one (and keep the file private).")


def _read_pem(path: str, label: str, what: str) -> str:
    file = Path(path)
    try:
        if not file.is_file():
            raise ProfileError(f"{label}: the {what} {path} does not exist (or is not a file).")
        if file.stat().st_size > _MAX_PEM_BYTES:
            raise ProfileError(f"{label}: the {what} {path} is too large to be a PEM file.")
        return file.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise ProfileError(f"{label}: the {what} {path} cannot be read "
                           f"({exc.strerror or type(exc).__name__}).") from None


def warn_if_unverified(profile: ServerProfile) -> None:
    """Log a warning when the profile connects securely without checking the certificate."""
    if profile.uses_tls() and not profile.verify_tls:
        log.warning("PACS server %r: its certificate is NOT verified (--insecure): another "
                    "computer could pose as this server and read what is sent.", profile.name)


# -- DIMSE ------------------------------------------------------------------------------
class _RecordingSocket(ssl.SSLSocket):
    """An SSL socket that keeps why TLS failed (pynetdicom only logs it): any failure of
    the handshake, and TLS alerts received later (TLS 1.3 refuses a client certificate
    after the handshake)."""

    def _record(self, exc: OSError) -> None:
        context = self.context
        if isinstance(context, HandshakeContext):
            context.tls_errors.append(exc)

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except OSError as exc:
            self._record(exc)
            raise

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        try:
            return super().recv(buflen, flags)
        except ssl.SSLError as exc:
            self._record(exc)
            raise


class HandshakeContext(ssl.SSLContext):
    """A client :class:`ssl.SSLContext` whose sockets record TLS failures in
    :attr:`tls_errors` (the newest last)."""

    sslsocket_class = _RecordingSocket

    def __init__(self, protocol: int = ssl.PROTOCOL_TLS_CLIENT) -> None:
        self.tls_errors: list[OSError] = []


def dimse_context(profile: ServerProfile) -> HandshakeContext:
    """The TLS context for a DIMSE association with ``profile`` (see the module text).

    Host names and IP addresses are both checked against the certificate (pass
    ``profile.host`` as the server name)."""
    check_tls_files(profile)
    context = HandshakeContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    label = f"Server {profile.name!r}"
    try:
        if profile.ca_file:
            context.load_verify_locations(cafile=profile.ca_file)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    except (ssl.SSLError, OSError):
        raise ProfileError(f"{label}: the CA certificate file {profile.ca_file} could not be "
                           "used (is it a PEM file of certificates?).") from None
    if not profile.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if profile.client_cert:
        try:
            context.load_cert_chain(profile.client_cert, password=lambda: b"")
        except (ssl.SSLError, OSError):
            raise ProfileError(f"{label}: the client certificate file {profile.client_cert} "
                               "could not be used (a PEM certificate with its unencrypted "
                               "key is needed).") from None
    return context


# -- DICOMweb ------------------------------------------------------------------------------
class _PinnedSession(requests.Session):
    """A session whose ``verify`` wins over ``REQUESTS_CA_BUNDLE`` (requests lets the
    environment replace a session's CA file or ``verify=False``)."""

    pinned_verify: bool | str | None = None

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.pinned_verify is not None:
            settings["verify"] = self.pinned_verify
        return settings


def https_session(profile: ServerProfile) -> requests.Session:
    """A ``requests`` session that trusts what ``profile`` says (see the module text)."""
    session = _PinnedSession()
    if not profile.uses_tls():
        return session
    check_tls_files(profile)
    if not profile.verify_tls:
        import warnings

        import urllib3

        # warn_if_unverified() says it once per use, urllib3 would at every request
        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        session.pinned_verify = session.verify = False
    elif profile.ca_file:
        session.pinned_verify = session.verify = profile.ca_file
    if profile.client_cert:
        session.cert = profile.client_cert
    return session


# -- failures in words --------------------------------------------------------------------------
def find_ssl_error(exc: BaseException | None) -> ssl.SSLError | None:
    """The :class:`ssl.SSLError` behind ``exc`` (through ``requests``' and ``urllib3``'s
    wrappers), or None."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLError):
            return item
        todo.extend([*item.args, getattr(item, "reason", None), item.__cause__,
                     item.__context__])
    return None


def tls_failure(who: str, profile: ServerProfile, exc: BaseException | None) -> PacsError:
    """The error for a failed secure connection; ``who`` names the server, capitalised
    (``The PACS 'name' (address)``)."""
    cause = find_ssl_error(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        reason = (cause.verify_message or _short(cause)).rstrip(".")
        code = cause.verify_code
        if code in _OTHER_NAME:
            return CertificateError(
                f"{who} presented a certificate for another name ({reason}): use the host "
                "name or address that its certificate names.")
        if code in _NOT_VALID_NOW:
            return CertificateError(
                f"{who} presented a certificate that is not valid now ({reason}): its "
                "administrator must renew it (or this computer's clock is wrong).")
        if profile.ca_file:
            return CertificateError(
                f"{who} presented a certificate that the CA certificates in "
                f"{profile.ca_file} do not vouch for ({reason}): give the CA that signed "
                "the server's certificate.")
        return CertificateError(
            f"{who} presented a certificate that this computer does not trust ({reason}): "
            f"{CA_HINT}.")
    if cause is not None:
        reason = _short(cause)
    elif isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror.lower()
    else:
        reason = "the connection ended during the handshake"
    if cause is not None and "CERTIFICATE" in (cause.reason or "").upper():
        if profile.client_cert:
            return CertificateError(f"{who} refused the secure connection ({reason}): it may "
                                    f"not accept the client certificate {profile.client_cert}.")
        return CertificateError(f"{who} refused the secure connection ({reason}): it may ask "
                                "for a certificate of this computer (--client-cert).")
    return ServerUnreachable(
        f"{who}: the secure connection failed ({reason}): check that the server uses TLS "
        "on this port (https:// for DICOMweb, --tls for DIMSE only when the PACS expects it).")


def _short(exc: ssl.SSLError) -> str:
    """``wrong version number`` from ``[SSL: WRONG_VERSION_NUMBER] wrong version number``."""
    if exc.reason:
        return str(exc.reason).replace("_", " ").lower()
    text = str(exc.strerror or exc)
    return text.rpartition("] ")[2] or type(exc).__name__
