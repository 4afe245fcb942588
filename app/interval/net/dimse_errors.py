"""DIMSE failures in words: association failures and status codes as :mod:`errors`.

Every sentence names the profile and the address it used (``AE@host:port``) and never
a secret or any patient data.
"""

from __future__ import annotations

from pynetdicom.status import (
    QR_FIND_SERVICE_CLASS_STATUS,
    QR_GET_SERVICE_CLASS_STATUS,
    QR_MOVE_SERVICE_CLASS_STATUS,
    STORAGE_SERVICE_CLASS_STATUS,
    code_to_category,
)

from interval.net.errors import (
    AssociationRejected,
    AuthenticationFailed,
    PacsError,
    PacsRefused,
    PacsTimeout,
    ServerUnreachable,
    TransferInterrupted,
)
from interval.net.model import ServerProfile

MOVE_DESTINATION_UNKNOWN = 0xA801
_TABLES = {
    "find": QR_FIND_SERVICE_CLASS_STATUS,
    "get": QR_GET_SERVICE_CLASS_STATUS,
    "move": QR_MOVE_SERVICE_CLASS_STATUS,
    "store": STORAGE_SERVICE_CLASS_STATUS,
}
# (result source, diagnostic) of an A-ASSOCIATE-RJ, PS3.8 9.3.4
_CALLING_AE_UNKNOWN = (1, 3)
_CALLED_AE_UNKNOWN = (1, 7)
_REJECT_REASONS = {
    (1, 1): "no reason given",
    (1, 2): "application context not supported",
    (1, 3): "calling AE title not recognised",
    (1, 7): "called AE title not recognised",
    (2, 1): "no reason given",
    (2, 2): "protocol version not supported",
    (3, 1): "temporary congestion",
    (3, 2): "too many connections",
}


def where(profile: ServerProfile) -> str:
    """``'name' (AE@host:port)`` for messages."""
    return f"{profile.name!r} ({profile.address()})"


def status_words(code: int, service: str) -> str:
    """``0xA700 (Refused: Out of Resources)`` for a DIMSE status code."""
    table = _TABLES.get(service, {})
    text = table.get(code, (code_to_category(code), ""))[1]
    return f"0x{code:04X}" + (f" ({text})" if text else "")


def unreachable(profile: ServerProfile, detail: str = "") -> ServerUnreachable:
    """Nothing accepted a TCP connection (refused, no route, unknown host, connect timeout)."""
    why = f" ({detail})" if detail else ""
    return ServerUnreachable(
        f"The PACS {where(profile)} cannot be reached{why}: check that it is running and "
        "that the host name and port in the server profile are right."
    )


def rejected(
    profile: ServerProfile, source: int | None, diagnostic: int | None, transient: bool
) -> PacsError:
    """The PACS answered the association request with A-ASSOCIATE-RJ."""
    key = (source or 0, diagnostic or 0)
    if key == _CALLED_AE_UNKNOWN:
        return AssociationRejected(
            f"The PACS {where(profile)} does not recognise the AE title "
            f"{profile.called_ae!r} it was called with: enter the PACS's own AE title in "
            "the server profile."
        )
    if key == _CALLING_AE_UNKNOWN:
        return AssociationRejected(
            f"The PACS {where(profile)} does not know this computer's AE title "
            f"{profile.calling_ae!r}: ask its administrator to allow it, or change the "
            "calling AE title in the server profile."
        )
    reason = _REJECT_REASONS.get(key, "no reason given")
    later = " for now; try again later" if transient else ""
    if profile.auth != "none" and key not in ((3, 1), (3, 2), (1, 2), (2, 2)):
        return AuthenticationFailed(
            f"The PACS {where(profile)} refused the connection from AE title "
            f"{profile.calling_ae!r}{later} ({reason}): the user name or password may be "
            "wrong."
        )
    return AssociationRejected(
        f"The PACS {where(profile)} refused the connection from AE title "
        f"{profile.calling_ae!r}{later} ({reason})."
    )


def no_services(profile: ServerProfile, purpose: str) -> AssociationRejected:
    """The association was accepted but none of the proposed services was."""
    return AssociationRejected(
        f"The PACS {where(profile)} accepted the connection but does not offer "
        f"{purpose} to AE title {profile.calling_ae!r}."
    )


def closed_before_accepting(profile: ServerProfile) -> AssociationRejected:
    """The peer closed the connection instead of answering the association request."""
    return AssociationRejected(
        f"The PACS {where(profile)} closed the connection without accepting it: check "
        f"that port {profile.port} is its DICOM port, that its AE title is "
        f"{profile.called_ae!r} and that it accepts calls from AE title "
        f"{profile.calling_ae!r}."
    )


def timed_out(profile: ServerProfile, during: str) -> PacsTimeout:
    """No answer within ``profile.timeout_s``."""
    return PacsTimeout(
        f"The PACS {where(profile)} did not answer within {profile.timeout_s:g} s "
        f"during {during}."
    )


def cut(profile: ServerProfile, during: str) -> TransferInterrupted:
    """The association ended (aborted, connection closed) before the operation did."""
    return TransferInterrupted(
        f"The connection to the PACS {where(profile)} was cut during {during}; "
        "nothing partial was kept."
    )


def refused(profile: ServerProfile, what: str, code: int, service: str) -> PacsRefused:
    """A failure status for a whole request."""
    return PacsRefused(
        f"The PACS {where(profile)} refused {what}: status {status_words(code, service)}."
    )


def move_destination_unknown(profile: ServerProfile, port: int) -> AssociationRejected:
    """C-MOVE status 0xA801: the PACS does not know where to send to."""
    return AssociationRejected(
        f"The PACS {where(profile)} does not know the destination AE title "
        f"{profile.calling_ae!r}: its administrator must add AE title "
        f"{profile.calling_ae!r} at this computer's address, port {port} (or choose "
        "C-GET in the server profile)."
    )


def move_refused(profile: ServerProfile, port: int, code: int) -> PacsRefused:
    """A C-MOVE failing before any image was sent: often an unknown destination."""
    return PacsRefused(
        f"The PACS {where(profile)} refused to send the series to AE title "
        f"{profile.calling_ae!r} (status {status_words(code, 'move')}). If it does not know "
        f"AE title {profile.calling_ae!r} at this computer's address, port {port}, its "
        "administrator must add it (or choose C-GET in the server profile)."
    )


def no_answer(profile: ServerProfile, waited_s: float, during: str) -> PacsError:
    """The operation ended without a final response: a timeout, or the connection cut."""
    if waited_s >= 0.9 * profile.timeout_s:
        return timed_out(profile, during)
    return cut(profile, during)
