"""Opening and closing one DIMSE association, failures mapped to :mod:`errors`.

:func:`new_ae` makes a pynetdicom application entity with the profile's AE title and
time limits; :func:`association` opens an association for one job and always ends it
(release after success, abort after a failure) and waits for pynetdicom's threads, so
nothing is left running after a call.  A ``tls`` profile's associations are made over
TLS (:func:`~interval.net.tls.dimse_context`); a certificate that fails the check is a
:class:`~interval.net.errors.CertificateError`.  The storage service that receives
C-MOVE images (:mod:`dimse_move_service`) stays plain TCP: it would need a server
certificate of this computer that the PACS trusts.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import UserIdentityNegotiation

from interval.net import dimse_errors as err
from interval.net.errors import ProfileError
from interval.net.model import ServerProfile
from interval.net.tls import dimse_context, tls_failure

MAX_CONTEXTS = 128  # presentation contexts in one association request (PS3.8 9.3.2.2)
JOIN_S = 5.0  # how long to wait for pynetdicom's threads after an association ends
_USER_AND_PASSWORD = 2
_JWT = 5


def check_profile(profile: ServerProfile) -> None:
    """Raise :class:`ProfileError` when the profile lacks what DIMSE needs."""
    missing = [word for word, value in (("host", profile.host), ("PACS AE title",
               profile.called_ae), ("calling AE title", profile.calling_ae)) if not value]
    if missing:
        raise ProfileError(f"Server {profile.name!r}: the DIMSE profile has no "
                           f"{' and no '.join(missing)}.")
    for title in (profile.called_ae, profile.calling_ae):
        if len(title) > 16 or not title.isascii() or "\\" in title or not title.strip():
            raise ProfileError(f"Server {profile.name!r}: {title!r} is not a valid AE title "
                               "(at most 16 plain characters).")
    if not 0 < profile.port < 65536 or not 0 <= profile.move_port < 65536:
        raise ProfileError(f"Server {profile.name!r}: port numbers must be 1 to 65535.")
    if profile.timeout_s <= 0:
        raise ProfileError(f"Server {profile.name!r}: the time limit must be positive.")


def new_ae(profile: ServerProfile) -> AE:
    """An application entity called ``profile.calling_ae`` with the profile's time limits."""
    ae = AE(ae_title=profile.calling_ae)
    t = float(profile.timeout_s)
    ae.acse_timeout = t
    ae.dimse_timeout = t
    ae.connection_timeout = t
    # Idle limit of the connection itself: longer than the DIMSE limit, so a silent PACS
    # is reported by the DIMSE timer (a clean "did not answer within ... s").
    ae.network_timeout = 2 * t
    ae.maximum_pdu_size = 0  # we accept PDUs of any size: fewer, larger writes
    return ae


def identity_items(profile: ServerProfile, secret: str | None) -> list[Any]:
    """User identity negotiation (PS3.7 D.3.3.7) for ``basic`` or ``token`` profiles."""
    if profile.auth == "none" or not secret:
        return []
    item = UserIdentityNegotiation()
    if profile.auth == "basic":
        item.user_identity_type = _USER_AND_PASSWORD
        item.primary_field = profile.username.encode("utf-8")
        item.secondary_field = secret.encode("utf-8")
    else:
        item.user_identity_type = _JWT
        item.primary_field = secret.encode("utf-8")
    item.positive_response_requested = False
    return [item]


def open_association(
    ae: AE,
    profile: ServerProfile,
    purpose: str,
    ext_neg: Sequence[Any] = (),
    evt_handlers: Sequence[tuple] = (),
) -> Association:
    """An established association with the profile's PACS, or the error in words."""
    connected: list[bool] = []
    handlers = [(evt.EVT_CONN_OPEN, lambda event: connected.append(True)), *evt_handlers]
    # the host name or IP address is what the server's certificate must name
    context = dimse_context(profile) if profile.tls else None
    start = time.monotonic()
    try:
        assoc = ae.associate(profile.host, profile.port, ae_title=profile.called_ae,
                             ext_neg=list(ext_neg) or None, evt_handlers=handlers,
                             tls_args=(context, profile.host) if context else None)
    except socket.gaierror as exc:
        raise err.unreachable(profile, "unknown host name") from exc
    except OSError as exc:
        raise err.unreachable(profile, exc.strerror or "") from exc
    except ValueError as exc:
        raise ProfileError(f"Server {profile.name!r}: {exc}") from exc
    if assoc.is_established:
        return assoc
    elapsed = time.monotonic() - start
    wait_threads(assoc)
    failure = context.tls_errors[-1] if context and context.tls_errors else None
    if failure is not None and not isinstance(failure, TimeoutError):
        raise tls_failure(f"The PACS {err.where(profile)}", profile, failure)
    if not connected:
        raise err.unreachable(profile, "no answer" if elapsed >= 0.9 * profile.timeout_s
                              else "connection refused")
    answer = assoc.acceptor.primitive
    if assoc.is_rejected and answer is not None:
        raise err.rejected(profile, answer.result_source, answer.diagnostic,
                           transient=answer.result == 0x02)
    if answer is not None and answer.result == 0x00:
        raise err.no_services(profile, purpose)
    if elapsed >= 0.9 * profile.timeout_s:
        raise err.timed_out(profile, "the connection request")
    raise err.closed_before_accepting(profile)


def wait_threads(assoc: Association) -> None:
    """Wait (briefly) until the association's reactor and DUL threads have ended."""
    deadline = time.monotonic() + JOIN_S
    for thread in (assoc.dul, assoc):
        if thread.ident is not None and thread.is_alive():
            thread.join(max(0.0, deadline - time.monotonic()))


def end_association(assoc: Association, failed: bool) -> None:
    """Release (or after a failure abort) the association and wait for its threads."""
    try:
        if assoc.is_established:
            if failed:
                assoc.abort()
            else:
                assoc.release()
                if assoc.is_established:  # the PACS did not confirm the release
                    assoc.abort()
    finally:
        if assoc.is_alive() or assoc.dul.is_alive():
            assoc.kill()
        wait_threads(assoc)


@contextmanager
def association(
    ae: AE,
    profile: ServerProfile,
    purpose: str,
    ext_neg: Sequence[Any] = (),
    evt_handlers: Sequence[tuple] = (),
) -> Iterator[Association]:
    """An association for one job, always ended afterwards (see :func:`open_association`)."""
    assoc = open_association(ae, profile, purpose, ext_neg, evt_handlers)
    failed = True
    try:
        yield assoc
        failed = False
    finally:
        end_association(assoc, failed)
