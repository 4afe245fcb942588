"""Where a plugin comes from, in the words the Plugin Manager shows (no Qt here).

Discovery records a :class:`~interval.plugins.discovery.PluginSource` (``kind``,
``location``) for every plugin, loaded or refused.  :func:`source_text` names the kind
for a reader (bundled, user folder, environment, --plugins-dir, entry point);
:func:`plugin_location` is the real path of the plugin's folder (symbolic links
resolved), so a plugin reached through a link shows where its files really are.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# discovery's kinds -> words; a kind not listed here is shown as it is
SOURCE_WORDS = {
    "bundled": "bundled",
    "built-in": "bundled",  # the name earlier versions of discovery used
    "user folder": "user folder",
    "INTERVAL_PLUGIN_PATH": "environment (INTERVAL_PLUGIN_PATH)",
    "--plugins-dir": "--plugins-dir",
    "entry point": "entry point",
}


def source_text(source: Any) -> str:
    """The kind of ``source`` in words (``"bundled"``, ``"user folder"``...)."""
    kind = str(getattr(source, "kind", "") or "")
    return SOURCE_WORDS.get(kind, kind or "unknown")


def _real(path: str | Path) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return str(path)


def plugin_location(item: Any) -> str:
    """The real path of a plugin's folder ("" when unknown).

    A loaded plugin: its manifest's folder; a refused one: the folder of its manifest
    when one was found, else the folder it was looked for in (never an entry point's
    description).
    """
    manifest = getattr(item, "manifest", None)
    if manifest is not None and getattr(manifest, "folder", None) is not None:
        return _real(manifest.folder)
    manifest_path = getattr(item, "manifest_path", None)
    if manifest_path is not None:
        return _real(Path(manifest_path).parent)
    source = getattr(item, "source", None)
    location = str(getattr(source, "location", "") or "")
    if location and getattr(source, "kind", "") != "entry point" and os.path.isabs(location):
        return _real(location)
    return ""
