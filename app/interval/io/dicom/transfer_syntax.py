"""Transfer syntax facts: which are native (raw pixel bytes) and which are encapsulated."""

from __future__ import annotations

from pydicom.uid import UID

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"

NATIVE = {IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE, DEFLATED_LE}


def is_encapsulated(ts_uid: str) -> bool:
    """Whether pixel data in this syntax is compressed (encapsulated fragments)."""
    if not ts_uid:
        return False
    return ts_uid not in NATIVE


def is_direct_readable(ts_uid: str) -> bool:
    """Whether pixel bytes lie raw in the file at a fixed offset (not deflated/compressed)."""
    return ts_uid in (IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE) or not ts_uid


def describe(ts_uid: str) -> str:
    """A readable name for a transfer syntax UID."""
    try:
        name = UID(ts_uid).name
    except Exception:  # noqa: BLE001 - any malformed UID
        name = ""
    return name or ts_uid or "unknown transfer syntax"
