"""The plugin registry: loaded plugins, refused ones with their reasons, their contributions.

:func:`discover_plugins` never raises because of a plugin: every failure (unreadable or
invalid manifest, incompatible API, duplicate id, broken model package) becomes a
:class:`RefusedPlugin` whose ``reason`` is a sentence a researcher understands.
Longitudinal analyzers are imported only when used
(:meth:`PluginRegistry.load_longitudinal_analyzer`); an import error there is recorded as
a refusal too.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interval.core.errors import IntervalError
from interval.plugins.api import (
    API_VERSION,
    LongitudinalAnalyzer,
    LongitudinalAnalyzerEntry,
    PluginError,
    PluginManifest,
    SegmentationModelEntry,
)
from interval.plugins.discovery import Candidate, PluginSource, all_candidates
from interval.plugins.manifest import (
    MODEL_FILE,
    InvalidManifest,
    missing_requirements,
    read_manifest,
    requirements_reason,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedPlugin:
    """A plugin whose manifest and contributions were accepted."""

    manifest: PluginManifest
    source: PluginSource
    segmentation_models: tuple[SegmentationModelEntry, ...] = ()

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def path(self) -> Path:
        """The plugin's folder (the folder holding its manifest)."""
        return self.manifest.folder

    def longitudinal_analyzers(self) -> list[LongitudinalAnalyzerEntry]:
        """Entries for the declared analyzers (nothing imported)."""
        m = self.manifest
        return [
            LongitudinalAnalyzerEntry(m.id, a.id, a.name, a.entry, a.description, m.code_path)
            for a in m.longitudinal_analyzers
        ]


@dataclass(frozen=True)
class RefusedPlugin:
    """A plugin (or a plugin part) that cannot be used, and why."""

    name: str  # the plugin id when known, else its folder or entry-point name
    reason: str
    source: PluginSource
    manifest_path: Path | None = None
    plugin_id: str | None = None
    version: str | None = None
    title: str | None = None  # the manifest's "name", when it could be read


@dataclass
class PluginRegistry:
    """What discovery found: ``plugins`` (loaded) and ``refused`` (with reasons)."""

    plugins: list[LoadedPlugin] = field(default_factory=list)
    refused: list[RefusedPlugin] = field(default_factory=list)
    _analyzers: dict[str, LongitudinalAnalyzer] = field(default_factory=dict, repr=False)

    def get(self, plugin_id: str) -> LoadedPlugin | None:
        """The loaded plugin with this id, if any."""
        return next((p for p in self.plugins if p.id == plugin_id), None)

    # --- segmentation models ------------------------------------------------------------
    def segmentation_models(self, modality: str | None = None) -> list[SegmentationModelEntry]:
        """Models of all loaded plugins (only those accepting ``modality`` when given)."""
        out = [m for p in self.plugins for m in p.segmentation_models]
        if modality is not None:
            out = [m for m in out if m.accepts_modality(modality)]
        return out

    def find_segmentation_model(self, name: str) -> SegmentationModelEntry:
        """The model called ``name`` (or ``plugin_id:name``); PluginError saying what exists."""
        models = self.segmentation_models()
        if ":" in name:
            found = [m for m in models if m.qualified_id == name]
        else:
            found = [m for m in models if m.model_id == name]
            if not found:
                found = [m for m in models if m.model_id.lower() == name.lower()]
        if len(found) == 1:
            return found[0]
        if found:
            raise PluginError(
                f"several plugins provide a model called {name!r}; name one of: "
                + ", ".join(m.qualified_id for m in found)
            )
        known = ", ".join(sorted(m.model_id for m in models)) or "none"
        hint = ""
        refused = [r.name for r in self.refused]
        if refused:
            hint = f" ({len(refused)} plugin(s) refused; run `interval plugins` to see why)"
        raise PluginError(f"no segmentation model called {name!r}; available: {known}{hint}")

    # --- longitudinal analyzers ---------------------------------------------------------
    def longitudinal_analyzers(self) -> list[LongitudinalAnalyzerEntry]:
        """Declared analyzers of all loaded plugins (their code is not imported)."""
        return [a for p in self.plugins for a in p.longitudinal_analyzers()]

    def load_longitudinal_analyzer(
        self, entry: LongitudinalAnalyzerEntry | str
    ) -> LongitudinalAnalyzer | None:
        """Import and instantiate an analyzer; on failure record a refusal and return None.

        ``entry`` is an entry or its ``analyzer_id`` / ``plugin_id:analyzer_id``.
        """
        if isinstance(entry, str):
            matches = [
                a for a in self.longitudinal_analyzers()
                if entry in (a.qualified_id, a.analyzer_id)
            ]
            if len(matches) != 1:
                return None
            entry = matches[0]
        if entry.qualified_id in self._analyzers:
            return self._analyzers[entry.qualified_id]
        try:
            analyzer = resolve_analyzer(entry)
        except PluginError as exc:
            plugin = self.get(entry.plugin_id)
            if any(r.name == entry.qualified_id for r in self.refused):
                return None  # already reported
            self.refused.append(RefusedPlugin(
                name=entry.qualified_id, reason=str(exc),
                source=plugin.source if plugin else PluginSource("plugin", entry.plugin_id),
                manifest_path=plugin.manifest.manifest_path if plugin else None,
                plugin_id=entry.plugin_id,
                version=plugin.manifest.version if plugin else None,
            ))
            log.warning("plugin analyzer refused: %s", exc)
            return None
        self._analyzers[entry.qualified_id] = analyzer
        return analyzer

    # --- reporting ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (``interval plugins --json``)."""
        return {
            "api_version": API_VERSION,
            "plugins": [plugin_to_dict(p) for p in self.plugins],
            "refused": [
                {
                    "name": r.name, "title": r.title, "id": r.plugin_id, "version": r.version,
                    "source": r.source.kind, "location": r.source.location,
                    "manifest": str(r.manifest_path) if r.manifest_path else None,
                    "reason": r.reason,
                }
                for r in self.refused
            ],
        }


def plugin_to_dict(plugin: LoadedPlugin) -> dict[str, Any]:
    """JSON-able description of a loaded plugin and its contributions."""
    m = plugin.manifest
    return {
        "id": m.id, "name": m.name, "version": m.version, "interval_api": m.interval_api,
        "description": m.description, "author": m.author, "license": m.license,
        "source": plugin.source.kind, "location": plugin.source.location,
        "path": str(m.folder),
        "requires": list(m.requires),
        "segmentation_models": [model_to_dict(e) for e in plugin.segmentation_models],
        "longitudinal_analyzers": [
            {"id": a.analyzer_id, "name": a.name, "entry": a.entry}
            for a in plugin.longitudinal_analyzers()
        ],
    }


def model_to_dict(entry: SegmentationModelEntry) -> dict[str, Any]:
    """JSON-able description of a model entry (name, modality, spacing, labels)."""
    spec = entry.spec
    labels = []
    for lab in getattr(spec, "labels", None) or []:
        if isinstance(lab, Mapping):
            labels.append({"value": lab.get("value"), "name": lab.get("name"),
                           "color": lab.get("color")})
        else:
            color = getattr(lab, "color", None)
            labels.append({"value": getattr(lab, "value", None),
                           "name": getattr(lab, "name", None),
                           "color": list(color) if color is not None else None})
    spacing = getattr(spec, "target_spacing", None)
    return {
        "id": entry.model_id,
        "qualified_id": entry.qualified_id,
        "version": getattr(spec, "version", None),
        "description": getattr(spec, "description", "") or "",
        "modality": list(entry.modalities),
        "target_spacing": list(spacing) if spacing is not None else None,
        "labels": labels,
        "folder": str(entry.folder),
    }


# --- discovery -----------------------------------------------------------------------------


def discover_plugins(
    extra_dirs: Iterable[str | Path] = (),
    *,
    include_entry_points: bool = True,
    entry_point_paths: Sequence[str | Path] | None = None,
    include_user_dir: bool = True,
    include_env: bool = True,
    include_session: bool = True,
    include_first_party: bool = True,
    environ: Mapping[str, str] | None = None,
) -> PluginRegistry:
    """Find, validate and register every plugin (see :mod:`interval.plugins.discovery`).

    Never raises because of a plugin. ``entry_point_paths`` limits entry-point discovery
    to distributions installed in those folders (default: ``sys.path``); the ``include_*``
    switches leave out a part of the search path (tests, tools).
    """
    registry = PluginRegistry()
    candidates = all_candidates(
        extra_dirs,
        include_entry_points=include_entry_points, entry_point_paths=entry_point_paths,
        include_user_dir=include_user_dir, include_env=include_env,
        include_session=include_session, include_first_party=include_first_party,
        environ=environ,
    )
    for candidate in candidates:
        try:
            _register(registry, candidate)
        except Exception as exc:  # noqa: BLE001 - a plugin must never stop the app
            log.warning("unexpected problem with plugin %s", candidate.name, exc_info=True)
            registry.refused.append(RefusedPlugin(
                candidate.name, f"unexpected problem: {type(exc).__name__}: {exc}",
                candidate.source, candidate.manifest_path,
            ))
    return registry


def _register(registry: PluginRegistry, candidate: Candidate) -> None:
    if candidate.manifest_path is None:
        registry.refused.append(RefusedPlugin(
            candidate.name, candidate.problem or "no manifest", candidate.source
        ))
        return
    try:
        manifest = read_manifest(candidate.manifest_path)
    except InvalidManifest as exc:
        registry.refused.append(RefusedPlugin(
            exc.plugin_id or candidate.name, str(exc), candidate.source,
            candidate.manifest_path, exc.plugin_id, exc.plugin_version, exc.plugin_name,
        ))
        return
    first = registry.get(manifest.id)
    if first is not None:
        registry.refused.append(RefusedPlugin(
            manifest.id,
            f"another plugin with id {manifest.id!r} (version {first.manifest.version}, "
            f"{first.source}) was found first",
            candidate.source, candidate.manifest_path, manifest.id, manifest.version,
            manifest.name,
        ))
        return
    missing = missing_requirements(manifest.requires)
    if missing:  # checked with importlib.util.find_spec: nothing is imported
        registry.refused.append(RefusedPlugin(
            manifest.id, requirements_reason(missing), candidate.source,
            candidate.manifest_path, manifest.id, manifest.version, manifest.name,
        ))
        return
    try:
        models = tuple(_model_entry(manifest, rel) for rel in manifest.segmentation_models)
    except PluginError as exc:
        registry.refused.append(RefusedPlugin(
            manifest.id, str(exc), candidate.source, candidate.manifest_path,
            manifest.id, manifest.version, manifest.name,
        ))
        return
    registry.plugins.append(LoadedPlugin(manifest, candidate.source, models))


def _model_entry(manifest: PluginManifest, rel: str) -> SegmentationModelEntry:
    folder = manifest.folder / rel
    try:
        spec = load_spec(folder)
    except IntervalError as exc:
        raise PluginError(f"model folder {rel}: {exc.message}") from None
    except Exception as exc:  # noqa: BLE001 - the package reader must not stop discovery
        raise PluginError(f"model folder {rel}: {type(exc).__name__}: {exc}") from None
    name = str(getattr(spec, "name", "") or folder.name)
    return SegmentationModelEntry(manifest.id, name, spec, folder, manifest.code_path)


def load_spec(folder: Path) -> Any:
    """The model package's spec via ``interval.ai.model_package.load_model_spec``.

    Falls back to a minimal reader (name, version, modality, labels) when the model
    runtime is not installed in this build.
    """
    try:
        from interval.ai.model_package import load_model_spec
    except ImportError as exc:
        if exc.name not in ("interval.ai", "interval.ai.model_package"):
            raise
        return _minimal_spec(folder)
    return load_model_spec(folder)


@dataclass(frozen=True)
class MinimalModelSpec:
    """The few ``model.json`` fields discovery shows when the model runtime is absent."""

    name: str
    version: str
    description: str
    modality: tuple[str, ...]
    labels: tuple[dict[str, Any], ...]
    target_spacing: tuple[float, float, float] | None
    folder: Path


def _minimal_spec(folder: Path) -> MinimalModelSpec:
    try:
        data = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PluginError(f"{MODEL_FILE} is not valid JSON (line {exc.lineno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PluginError(f"{MODEL_FILE} cannot be read ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise PluginError(f"{MODEL_FILE} has no model 'name'")
    modality = data.get("modality") or ()
    if isinstance(modality, str):
        modality = () if modality.lower() == "any" else (modality,)
    labels = tuple(x for x in data.get("labels") or () if isinstance(x, dict))
    spacing = data.get("target_spacing")
    return MinimalModelSpec(
        name=data["name"], version=str(data.get("version", "")),
        description=str(data.get("description", "")),
        modality=tuple(str(m) for m in modality), labels=labels,
        target_spacing=tuple(spacing) if isinstance(spacing, list) else None,  # type: ignore[arg-type]
        folder=folder,
    )


# --- analyzers -----------------------------------------------------------------------------


def resolve_analyzer(entry: LongitudinalAnalyzerEntry) -> LongitudinalAnalyzer:
    """Import ``entry.entry`` and return an analyzer instance; PluginError on any failure."""
    module_name, _, attr = entry.entry.partition(":")
    where = f"longitudinal analyzer {entry.analyzer_id!r} of plugin {entry.plugin_id}"
    if entry.code_path is not None and str(entry.code_path) not in sys.path:
        # appended, not prepended: a plugin folder must never shadow an installed module
        sys.path.append(str(entry.code_path))
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        analyzer = obj() if isinstance(obj, type) or not hasattr(obj, "analyze") else obj
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - plugin code may raise anything
        raise PluginError(f"{where} could not be loaded: {type(exc).__name__}: {exc}") from None
    if not isinstance(analyzer, LongitudinalAnalyzer):
        raise PluginError(f"{where}: {entry.entry} has no analyze() method")
    return analyzer
