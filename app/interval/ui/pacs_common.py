"""What the PACS dialogs share: the server combo, a client for one background call, the cache.

Each PACS call runs in a :class:`~interval.ui.workers.Job`: :func:`with_client` opens the
client of a profile on the job's thread (reading its secret from the keyring there),
runs the call and closes the client, whatever happens.  Failures are
:class:`~interval.net.errors.PacsError` sentences that the dialogs show as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

from interval.core.errors import IntervalError
from interval.net.model import PacsClient, ServerProfile
from interval.ui.plain_text import plain_tooltip

log = logging.getLogger(__name__)

T = TypeVar("T")


def with_client(profile: ServerProfile, call: Callable[[PacsClient], T],
                secret: str | None = None) -> T:
    """``call(client)`` with a fresh client of ``profile``, closed afterwards (runs on a
    job's thread; the connection module is looked up at each call, so tests can replace
    ``interval.net.connect.open_client``)."""
    from interval.net import connect

    client = connect.open_client(profile, secret)
    try:
        return call(client)
    finally:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - the call's own result or error matters
            log.debug("closing the PACS client failed", exc_info=True)


def default_cache() -> Any:
    """The viewer's local PACS cache (size-limited, under the platform's cache folder)."""
    from interval.net.cache import SeriesCache

    return SeriesCache()


def load_server_profiles(path: str | Path | None = None) -> tuple[list[ServerProfile], str]:
    """The saved profiles and "", or [] and the reason they could not be read."""
    from interval.net.profiles import load_profiles

    try:
        return load_profiles(path), ""
    except IntervalError as exc:
        return [], str(exc)


class ServerCombo(QComboBox):
    """The saved PACS servers, by name (the address as tooltip)."""

    def __init__(self, parent: QWidget | None = None,
                 profiles_path: str | Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pacsServer")
        self.profiles_path = profiles_path
        self.profiles: list[ServerProfile] = []
        self.problem = ""  # why the list could not be read ("" when it could)
        self.reload()

    def reload(self, select: str | None = None) -> list[ServerProfile]:
        """Read the saved profiles again, keeping the one chosen (or choosing ``select``)."""
        keep = select if select is not None else self.currentText()
        self.profiles, self.problem = load_server_profiles(self.profiles_path)
        self.blockSignals(True)
        self.clear()
        for n, profile in enumerate(self.profiles):
            self.addItem(profile.name)
            self.setItemData(n, plain_tooltip(profile.address()), Qt.ItemDataRole.ToolTipRole)
        names = [p.name for p in self.profiles]
        if keep in names:
            self.setCurrentIndex(names.index(keep))
        self.blockSignals(False)
        self.setEnabled(bool(self.profiles))
        self.currentIndexChanged.emit(self.currentIndex())
        return self.profiles

    def current_profile(self) -> ServerProfile | None:
        i = self.currentIndex()
        return self.profiles[i] if 0 <= i < len(self.profiles) else None


NO_SERVER = "No PACS server is set up yet: add one with Servers…"


def has_server_profiles(path: str | Path | None = None) -> bool:
    """Whether at least one PACS server is saved (the file is read again only when it
    changed: cheap enough for a button's enabled state)."""
    from interval.net.profiles import profiles_path

    target = Path(path) if path is not None else profiles_path()
    try:
        stat = target.stat()
    except OSError:
        return False
    key = (str(target), stat.st_mtime_ns, stat.st_size)
    if key not in _PROFILES_SEEN:
        _PROFILES_SEEN.clear()
        _PROFILES_SEEN[key] = bool(load_server_profiles(target)[0])
    return _PROFILES_SEEN[key]


_PROFILES_SEEN: dict[tuple[str, int, int], bool] = {}
