"""PACS passwords and tokens: kept in the platform keyring, never in settings or logs.

Each secret is stored under the service :data:`SERVICE` and the key
``"<profile name>/<user name or ->"`` (see :func:`secret_key`).  Where there is no usable
keyring (a server or a cluster node without a desktop session) the secret is given at
each use instead: ``--password-stdin`` on the command line, or the environment variable
:data:`SECRET_ENV` for unattended runs.  An environment variable is visible to other
processes of the same user (and in ``/proc`` on Linux): use it only on machines you trust.
Nothing here logs a secret, and no error message contains one.
"""

from __future__ import annotations

import os

import keyring
import keyring.errors
from keyring.backends import fail

from interval.net.errors import ProfileError
from interval.net.model import ServerProfile

SERVICE = "interval-pacs"
SECRET_ENV = "INTERVAL_PACS_SECRET"

UNAVAILABLE_HINT = (
    "give the password or token with --password-stdin on the command line, or in the "
    f"environment variable {SECRET_ENV} for unattended runs (other programs of the same user "
    "can read environment variables)"
)


def secret_key(profile: ServerProfile) -> str:
    """The keyring's user-name field for ``profile``: ``"<name>/<user or ->"``."""
    return f"{profile.name}/{profile.username or '-'}"


def keyring_available() -> bool:
    """Whether a platform keyring that can store secrets is configured."""
    try:
        return _usable(keyring.get_keyring())
    except Exception:  # noqa: BLE001 - a broken backend means: none
        return False


def _usable(backend: object) -> bool:
    if isinstance(backend, fail.Keyring):
        return False
    inner = getattr(backend, "backends", None)  # the chainer: usable when it chains something
    return inner is None or bool(inner)


def _unavailable(action: str, cause: str = "") -> ProfileError:
    detail = f" ({cause})" if cause else ""
    return ProfileError(f"The platform keyring is unavailable{detail}, so the PACS password "
                        f"could not be {action}; {UNAVAILABLE_HINT}.")


def _backend(action: str):
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - backends fail in many ways
        raise _unavailable(action, type(exc).__name__) from None
    if not _usable(backend):
        raise _unavailable(action)
    return backend


def get_secret(profile: ServerProfile) -> str | None:
    """The password or token of ``profile``: :data:`SECRET_ENV` when set, else the one in the
    keyring; None when the profile needs none or none is stored.

    Raises :class:`ProfileError` when the profile needs a secret, the environment gives
    none and there is no usable keyring.
    """
    if profile.auth == "none":
        return None
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        return from_env
    backend = _backend("read")
    try:
        return backend.get_password(SERVICE, secret_key(profile))
    except keyring.errors.KeyringLocked:
        raise ProfileError("The platform keyring is locked, so the PACS password could not be "
                           f"read; unlock it, or {UNAVAILABLE_HINT}.") from None
    except Exception as exc:  # noqa: BLE001 - never let a backend's message (or secret) through
        raise _unavailable("read", type(exc).__name__) from None


def set_secret(profile: ServerProfile, secret: str) -> None:
    """Store ``secret`` for ``profile`` in the keyring (replacing the one stored before)."""
    if not secret:
        raise ProfileError(f"Server {profile.name!r}: the password or token is empty.")
    backend = _backend("stored")
    try:
        backend.set_password(SERVICE, secret_key(profile), secret)
    except keyring.errors.KeyringLocked:
        raise ProfileError("The platform keyring is locked, so the PACS password could not be "
                           f"stored; unlock it, or {UNAVAILABLE_HINT}.") from None
    except Exception as exc:  # noqa: BLE001 - never let a backend's message (or secret) through
        raise _unavailable("stored", type(exc).__name__) from None


def delete_secret(profile: ServerProfile) -> bool:
    """Remove the secret of ``profile`` from the keyring; False when none was stored."""
    backend = _backend("removed")
    try:
        if backend.get_password(SERVICE, secret_key(profile)) is None:
            return False
        backend.delete_password(SERVICE, secret_key(profile))
    except keyring.errors.PasswordDeleteError:
        return False
    except Exception as exc:  # noqa: BLE001 - never let a backend's message (or secret) through
        raise _unavailable("removed", type(exc).__name__) from None
    return True
