"""DICOM UIDs as text: what a valid one looks like, and a safe file name for one."""

from __future__ import annotations

import hashlib
import re

MAX_UID_LEN = 64
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def is_uid(text: object) -> bool:
    """Whether ``text`` is a DICOM UID: digits and dots, at most 64 characters."""
    return isinstance(text, str) and len(text) <= MAX_UID_LEN and _UID.fullmatch(text) is not None


def instance_file_name(sop_instance_uid: str) -> str:
    """``<uid>.dcm`` for a valid UID; anything else (a server's junk, ``../x``) becomes
    ``x<sha1>.dcm``, so a name from outside never leaves its folder."""
    uid = sop_instance_uid.strip().rstrip("\x00")
    if not is_uid(uid):
        uid = "x" + hashlib.sha1(uid.encode("utf-8", "replace")).hexdigest()
    return f"{uid}.dcm"
