"""Viewer settings (layout, recent folders, window presets, last save folder, the main
window's geometry and dock arrangement, the memory limit for model processes) persisted
as JSON.

The file lives in ``platformdirs.user_config_path("interval")`` (or the folder named
by ``INTERVAL_CONFIG_DIR``, which tests use).  It is written atomically (temporary
file + rename) and read tolerantly: a missing, unreadable or corrupt file, or a
field of the wrong type, gives the defaults for what could not be read.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import platformdirs

from interval.core.atomic import atomic_open

log = logging.getLogger(__name__)

CONFIG_DIR_ENV = "INTERVAL_CONFIG_DIR"
SETTINGS_FILE = "settings.json"
MAX_RECENT = 10
LAYOUTS = ("1x1", "1x3", "2x2")
MAX_MODEL_MEMORY_GIB = 4096.0


@dataclass(frozen=True)
class WindowPreset:
    """A user's own window (centre/width) shown beside the CT presets."""

    name: str
    center: float
    width: float


@dataclass
class Settings:
    """Everything the viewer remembers between runs."""

    layout: str = "1x3"
    recent_folders: list[str] = field(default_factory=list)
    window_presets: list[WindowPreset] = field(default_factory=list)
    # the folder the user last saved a measurement CSV or a screenshot into ("" = none yet)
    last_save_dir: str = ""
    # the main window's size/position and its docks' and toolbars' places and visibility
    # (QMainWindow.saveGeometry / saveState, base64 text; "" = the built-in arrangement)
    window_geometry: str = ""
    window_state: str = ""
    # the most memory a model's process may use, in GiB (None: automatic, from the machine)
    model_memory_limit_gib: float | None = None

    def add_recent(self, folder: str | Path) -> None:
        """Put ``folder`` first in the recent list (no duplicates, at most MAX_RECENT)."""
        path = str(Path(folder).resolve())
        self.recent_folders = [path, *(p for p in self.recent_folders if p != path)][:MAX_RECENT]

    def to_json(self) -> dict[str, object]:
        return {"version": 1, **asdict(self)}

    @classmethod
    def from_json(cls, data: object) -> Settings:
        """Settings from parsed JSON; anything malformed falls back to its default."""
        s = cls()
        if not isinstance(data, dict):
            return s
        if data.get("layout") in LAYOUTS:
            s.layout = data["layout"]
        recent = data.get("recent_folders")
        if isinstance(recent, list):
            s.recent_folders = list(dict.fromkeys(p for p in recent if isinstance(p, str) and p))[
                :MAX_RECENT
            ]
        last = data.get("last_save_dir")
        if isinstance(last, str):
            s.last_save_dir = last
        for name in ("window_geometry", "window_state"):
            value = data.get(name)
            if isinstance(value, str) and _is_base64(value):
                setattr(s, name, value)
        limit = data.get("model_memory_limit_gib")
        if (isinstance(limit, int | float) and not isinstance(limit, bool)
                and 0 < limit <= MAX_MODEL_MEMORY_GIB):
            s.model_memory_limit_gib = float(limit)
        presets = data.get("window_presets")
        if isinstance(presets, list):
            for p in presets:
                try:
                    wp = WindowPreset(str(p["name"]), float(p["center"]), float(p["width"]))
                except (KeyError, TypeError, ValueError):
                    continue
                if wp.width > 0:
                    s.window_presets.append(wp)
        return s


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return False
    return True


def save_dir(settings: Settings) -> Path:
    """Where a save dialog starts: the last folder saved into when it still exists, else
    the user's home (never the folder the images were read from)."""
    if settings.last_save_dir:
        folder = Path(settings.last_save_dir)
        if folder.is_dir():
            return folder
    return Path.home()


def config_dir() -> Path:
    """The folder holding the settings file."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else platformdirs.user_config_path("interval")


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def load_settings(path: str | Path | None = None) -> Settings:
    """Read the settings; defaults when the file is missing or corrupt (never raises)."""
    path = Path(path) if path is not None else settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("settings file unreadable, using defaults (%s)", type(exc).__name__)
        return Settings()
    try:
        data = json.loads(text)
    except ValueError:
        log.warning("settings file is not valid JSON, using defaults")
        return Settings()
    return Settings.from_json(data)


def save_settings(settings: Settings, path: str | Path | None = None) -> bool:
    """Write the settings atomically; returns False (and logs) when it could not."""
    path = Path(path) if path is not None else settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "w", encoding="utf-8") as f:
            json.dump(settings.to_json(), f, indent=2)
    except OSError as exc:
        log.warning("could not save settings (%s)", type(exc).__name__)
        return False
    return True
