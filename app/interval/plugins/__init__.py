"""Interval plugins: the public API (:mod:`interval.plugins.api`), discovery and registry.

Importing this package is cheap and never imports torch or any plugin code.
"""

from __future__ import annotations

from interval.plugins.api import (
    API_VERSION,
    ENTRY_POINT_GROUP,
    MANIFEST_NAME,
    AnalyzerDeclaration,
    LesionObservation,
    LongitudinalAnalyzer,
    LongitudinalAnalyzerEntry,
    LongitudinalResult,
    PluginError,
    PluginManifest,
    PluginProvenance,
    SegmentationModelEntry,
    Timepoint,
)
from interval.plugins.discovery import (
    SEARCH_ORDER,
    PluginSource,
    plugin_dirs_from_args,
    registry_from_args,
    set_session_plugin_dirs,
    user_plugin_dir,
)
from interval.plugins.manifest import InvalidManifest, code_path_for_model, read_manifest
from interval.plugins.registry import (
    LoadedPlugin,
    PluginRegistry,
    RefusedPlugin,
    discover_plugins,
)

__all__ = [
    "LesionObservation",
    "API_VERSION",
    "ENTRY_POINT_GROUP",
    "MANIFEST_NAME",
    "SEARCH_ORDER",
    "AnalyzerDeclaration",
    "InvalidManifest",
    "LoadedPlugin",
    "LongitudinalAnalyzer",
    "LongitudinalAnalyzerEntry",
    "LongitudinalResult",
    "PluginError",
    "PluginManifest",
    "PluginProvenance",
    "PluginRegistry",
    "PluginSource",
    "RefusedPlugin",
    "SegmentationModelEntry",
    "Timepoint",
    "code_path_for_model",
    "discover_plugins",
    "plugin_dirs_from_args",
    "read_manifest",
    "registry_from_args",
    "set_session_plugin_dirs",
    "user_plugin_dir",
]
