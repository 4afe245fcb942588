"""Saved PACS server profiles: ``pacs_servers.json`` in Interval's settings folder.

The file lives beside the viewer's settings, in ``platformdirs.user_config_path("interval")``
(or the folder named by ``INTERVAL_CONFIG_DIR``, which tests use).  It holds names,
addresses, AE titles and user names, never a password or a token: those live in the
platform keyring (:mod:`interval.net.credentials`).  Every profile read or written is
checked here; a problem is a :class:`~interval.net.errors.ProfileError` in words.
The TLS files a profile names (CA certificates, client certificate) are checked when a
profile is made or changed, not when the list is read: one file gone must not hide every
server (the connection then says what is missing).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from interval.core.atomic import atomic_open
from interval.net.errors import ProfileError
from interval.net.model import ServerProfile
from interval.net.tls import check_tls_files

log = logging.getLogger(__name__)

CONFIG_DIR_ENV = "INTERVAL_CONFIG_DIR"  # the same override as interval.ui.settings
PROFILES_FILE = "pacs_servers.json"
FILE_VERSION = 1
MAX_NAME_LEN = 64
MAX_AE_LEN = 16
MAX_TIMEOUT_S = 3600.0
PROTOCOLS = ("dicomweb", "dimse")
AUTH_KINDS = ("none", "token", "basic")
RETRIEVE_KINDS = ("get", "move")
# keys that would hold a secret: never read from (nor written to) the file
SECRET_KEYS = frozenset({"password", "token", "secret", "pass", "passwd", "api_key", "apikey"})

_FIELD_NAMES = tuple(f.name for f in fields(ServerProfile))


def profiles_path() -> Path:
    """Where the profiles are saved."""
    override = os.environ.get(CONFIG_DIR_ENV)
    folder = Path(override) if override else platformdirs.user_config_path("interval")
    return folder / PROFILES_FILE


# -- checking --------------------------------------------------------------------------
def is_valid_ae_title(title: str) -> bool:
    """1 to 16 characters of the DICOM default repertoire, no backslash, not only spaces."""
    text = title.strip(" ")
    return (
        0 < len(title) <= MAX_AE_LEN
        and bool(text)
        and all(" " <= ch <= "~" and ch != "\\" for ch in title)
    )


def validate_profile(profile: ServerProfile, *, check_files: bool = True) -> ServerProfile:
    """``profile`` with its text fields trimmed, or :class:`ProfileError` saying what is wrong.

    ``check_files``: the CA and client certificate files must exist and hold PEM data."""
    name = str(profile.name).strip()
    if not name:
        raise ProfileError("A PACS server needs a name.")
    label = f"Server {name!r}"
    if len(name) > MAX_NAME_LEN or any(not ch.isprintable() for ch in name):
        raise ProfileError(f"{label}: the name must be at most {MAX_NAME_LEN} printable "
                           "characters.")
    if profile.protocol not in PROTOCOLS:
        raise ProfileError(f"{label}: unknown protocol {profile.protocol!r} (expected dicomweb "
                           "or dimse).")
    if profile.auth not in AUTH_KINDS:
        raise ProfileError(f"{label}: unknown authentication {profile.auth!r} (expected none, "
                           "token or basic).")
    if profile.retrieve not in RETRIEVE_KINDS:
        raise ProfileError(f"{label}: unknown retrieval {profile.retrieve!r} (expected get or "
                           "move).")
    username = str(profile.username).strip()
    if profile.auth == "basic" and not username:
        raise ProfileError(f"{label}: user name and password sign-in needs a user name.")
    timeout = _number(profile.timeout_s, label, "the time limit")
    if not 0 < timeout <= MAX_TIMEOUT_S:
        raise ProfileError(f"{label}: the time limit must be between 0 and {MAX_TIMEOUT_S:g} "
                           "seconds.")
    calling_ae = str(profile.calling_ae)
    if not is_valid_ae_title(calling_ae):
        raise ProfileError(f"{label}: our AE title {calling_ae!r} is not valid (1 to "
                           f"{MAX_AE_LEN} letters, digits, spaces or punctuation, no backslash).")
    url, host, called_ae = str(profile.url).strip(), str(profile.host).strip(), profile.called_ae
    port = _port(profile.port, label, "port")
    move_port = _port(profile.move_port, label, "C-MOVE port", allow_zero=True)
    tls = _flag(profile.tls, label, "the TLS setting")
    verify_tls = _flag(profile.verify_tls, label, "the certificate check setting")
    ca_file = _file_path(profile.ca_file, label, "CA certificate file")
    client_cert = _file_path(profile.client_cert, label, "client certificate file")
    if profile.protocol == "dicomweb":
        _check_url(url, label)
        if tls:
            raise ProfileError(f"{label}: a DICOMweb server is reached securely when its URL "
                               "starts with https:// (the TLS setting is for DIMSE).")
    else:
        if not host:
            raise ProfileError(f"{label}: a DIMSE server needs a host name or address.")
        if any(ch.isspace() or not ch.isprintable() for ch in host):
            raise ProfileError(f"{label}: the host {host!r} is not a host name or address.")
        called_ae = str(called_ae)
        if not called_ae.strip():
            raise ProfileError(f"{label}: a DIMSE server needs its AE title (the called AE).")
        if not is_valid_ae_title(called_ae):
            raise ProfileError(f"{label}: the AE title {called_ae!r} is not valid (1 to "
                               f"{MAX_AE_LEN} letters, digits, spaces or punctuation, no "
                               "backslash).")
        if profile.retrieve == "move" and move_port == 0:
            raise ProfileError(f"{label}: C-MOVE retrieval needs the port on which Interval "
                               "receives the images (--move-port).")
    checked = replace(profile, name=name, url=url, host=host,
                      called_ae=str(called_ae).strip(" "), calling_ae=calling_ae.strip(" "),
                      username=username, port=port, move_port=move_port, timeout_s=timeout,
                      tls=tls, verify_tls=verify_tls, ca_file=ca_file, client_cert=client_cert)
    if check_files:
        check_tls_files(checked, label)
    return checked


def _check_url(url: str, label: str) -> None:
    if not url:
        raise ProfileError(f"{label}: a DICOMweb server needs its URL (e.g. "
                           "http://pacs:8042/dicom-web).")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileError(f"{label}: {url!r} is not an http:// or https:// address.")
    if parts.username or parts.password:
        raise ProfileError(f"{label}: the URL must not hold a user name or password; give the "
                           "user name separately, the password is kept in the keyring.")


def _flag(value: Any, label: str, what: str) -> bool:
    if not isinstance(value, bool):
        raise ProfileError(f"{label}: {what} must be true or false, not {value!r}.")
    return value


def _file_path(value: Any, label: str, what: str) -> str:
    """An absolute path (``~`` expanded), or "" when none is given."""
    if not isinstance(value, str):
        raise ProfileError(f"{label}: the {what} must be a file path.")
    text = value.strip()
    if not text:
        return ""
    if any(not ch.isprintable() for ch in text):
        raise ProfileError(f"{label}: the {what} {text!r} is not a file path.")
    return str(Path(text).expanduser().absolute())


def _port(value: Any, label: str, what: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool):
        raise ProfileError(f"{label}: the {what} must be a number.")
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ProfileError(f"{label}: the {what} {value!r} is not a number.") from None
    if port != value and not (isinstance(value, str) and value.strip().isdigit()):
        raise ProfileError(f"{label}: the {what} {value!r} is not a whole number.")
    low = 0 if allow_zero else 1
    if not low <= port <= 65535:
        raise ProfileError(f"{label}: the {what} {port} is outside 1 to 65535.")
    return port


def _number(value: Any, label: str, what: str) -> float:
    if isinstance(value, bool):
        raise ProfileError(f"{label}: {what} must be a number of seconds.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ProfileError(f"{label}: {what} {value!r} is not a number of seconds.") from None


# -- dictionaries ----------------------------------------------------------------------
def profile_to_dict(profile: ServerProfile) -> dict[str, Any]:
    """The profile as JSON-ready data (checked first; it holds no secret)."""
    return asdict(validate_profile(profile, check_files=False))


def profile_from_dict(data: Mapping[str, Any]) -> ServerProfile:
    """A checked profile from saved data; unknown keys are ignored with a warning."""
    if not isinstance(data, Mapping):
        raise ProfileError("A saved PACS server is not a set of named values.")
    unknown = sorted(str(k) for k in data if k not in _FIELD_NAMES)
    secrets = [k for k in unknown if k.lower() in SECRET_KEYS]
    if secrets:
        log.warning("PACS server %r: ignored %s in the settings file (secrets are only read "
                    "from the keyring)", data.get("name", "?"), ", ".join(secrets))
    others = [k for k in unknown if k.lower() not in SECRET_KEYS]
    if others:
        log.warning("PACS server %r: ignored unknown setting(s) %s", data.get("name", "?"),
                    ", ".join(others))
    known = {k: v for k, v in data.items() if k in _FIELD_NAMES}
    if "name" not in known:
        raise ProfileError("A saved PACS server has no name.")
    for key in ("name", "protocol", "url", "host", "called_ae", "calling_ae", "auth",
                "username", "retrieve", "ca_file", "client_cert"):
        if key in known and not isinstance(known[key], str):
            raise ProfileError(f"Server {known.get('name')!r}: {key} must be text.")
    return validate_profile(ServerProfile(**known), check_files=False)


# -- the file --------------------------------------------------------------------------
def load_profiles(path: str | Path | None = None) -> list[ServerProfile]:
    """The saved profiles ([] when there is no file yet)."""
    path = Path(path) if path is not None else profiles_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"The PACS server list {path} could not be read "
                           f"({type(exc).__name__}).") from exc
    try:
        data = json.loads(text)
    except ValueError:
        raise ProfileError(f"The PACS server list {path} is damaged (not valid JSON); fix or "
                           "remove it.") from None
    servers = data.get("servers") if isinstance(data, dict) else None
    if not isinstance(servers, list):
        raise ProfileError(f"The PACS server list {path} has no list of servers; fix or "
                           "remove it.")
    profiles = [profile_from_dict(item) for item in servers]
    _refuse_duplicates(profiles)
    return profiles


def save_profiles(profiles: Iterable[ServerProfile], path: str | Path | None = None) -> Path:
    """Write the profiles atomically (checked first); returns the file's path."""
    path = Path(path) if path is not None else profiles_path()
    profiles = [validate_profile(p, check_files=False) for p in profiles]
    _refuse_duplicates(profiles)
    data = {"version": FILE_VERSION, "servers": [asdict(p) for p in profiles]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
    except OSError as exc:
        raise ProfileError(f"The PACS server list could not be saved to {path} "
                           f"({exc.strerror or type(exc).__name__}).") from exc
    return path


def _refuse_duplicates(profiles: list[ServerProfile]) -> None:
    seen: set[str] = set()
    for profile in profiles:
        key = profile.name.casefold()
        if key in seen:
            raise ProfileError(f"Two PACS servers are named {profile.name!r}; names must be "
                               "unique.")
        seen.add(key)


# -- look-ups and edits --------------------------------------------------------------------
def find_profile(name: str, profiles: Iterable[ServerProfile]) -> ServerProfile:
    """The profile called ``name`` (exact, else ignoring case), or :class:`ProfileError`."""
    profiles = list(profiles)
    for profile in profiles:
        if profile.name == name:
            return profile
    folded = [p for p in profiles if p.name.casefold() == name.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    known = ", ".join(p.name for p in profiles) or "none yet"
    raise ProfileError(f"No saved PACS server is named {name!r} (saved: {known}); add it with "
                       "'interval pacs servers add'.")


def with_profile(profiles: Iterable[ServerProfile], profile: ServerProfile, *,
                 replace_existing: bool = False) -> list[ServerProfile]:
    """``profiles`` plus ``profile`` (checked); one of the same name is replaced only when
    ``replace_existing``, otherwise :class:`ProfileError`."""
    profile = validate_profile(profile)
    out: list[ServerProfile] = []
    replaced = False
    for existing in profiles:
        if existing.name.casefold() == profile.name.casefold():
            if not replace_existing:
                raise ProfileError(f"A PACS server named {existing.name!r} is already saved; "
                                   "remove it first or choose another name.")
            out.append(profile)
            replaced = True
        else:
            out.append(existing)
    if not replaced:
        out.append(profile)
    return out


def without_profile(profiles: Iterable[ServerProfile], name: str) -> list[ServerProfile]:
    """``profiles`` less the one called ``name`` (:class:`ProfileError` when there is none)."""
    profiles = list(profiles)
    gone = find_profile(name, profiles)
    return [p for p in profiles if p is not gone]
