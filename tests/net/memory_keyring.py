"""An in-memory keyring for the tests (the machine's own keyring is never touched)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.compat import properties


class MemoryKeyring(KeyringBackend):
    """Secrets in a dict; never chosen by keyring on its own (priority raises)."""

    @properties.classproperty
    def priority(cls) -> float:  # never picked by keyring on its own: set with set_keyring
        raise RuntimeError("test backend only")

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.store.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("no such password")


class BrokenKeyring(MemoryKeyring):
    """A keyring whose every call fails (a locked or crashed backend)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringError("backend exploded: hunter2")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError(f"could not store {password}")


@contextlib.contextmanager
def installed(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    """``backend`` as the keyring while the block runs; the previous one afterwards."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def no_keyring() -> KeyringBackend:
    """What keyring uses when the platform has none."""
    return fail.Keyring()
