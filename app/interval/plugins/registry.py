"""The plugin registry: loaded plugins, refused ones with their reasons, their contributions.

:func:`discover_plugins` never raises because of a plugin: every failure (unreadable or
invalid manifest, incompatible API, duplicate id, broken model package) becomes a
:class:`RefusedPlugin` whose ``reason`` is a sentence a researcher understands.

Precedence: bundled first-party plugins are searched first and keep their ids; a later
plugin with the same id is refused with both locations. Manifests are read from their real
path (symbolic links resolved), so a link to a plugin's manifest is that plugin, reached a
second time: it is listed as a refusal and changes nothing.
Longitudinal analyzers are imported only when used
(:meth:`PluginRegistry.load_longitudinal_analyzer`); an import error there is recorded as
a refusal too.
"""

from __future__ import annotations

import importlib
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
    PluginProvenance,
    SegmentationModelEntry,
)
from interval.plugins.discovery import Candidate, PluginSource, all_candidates
from interval.plugins.manifest import (
    MODEL_FILE,
    InvalidManifest,
    manifest_file_problem,
    missing_requirements,
    read_manifest,
    requirements_reason,
)
from interval.plugins.untrusted_files import UntrustedFileError, load_json_file

log = logging.getLogger(__name__)

MAX_MINIMAL_MODEL_BYTES = 1_000_000  # model.json read by discovery without the AI runtime


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
        """The plugin's folder (the folder holding its manifest; symbolic links resolved)."""
        return self.manifest.folder

    @property
    def manifest_path(self) -> Path:
        """The manifest file the plugin was read from (symbolic links resolved)."""
        return self.manifest.manifest_path

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def provenance(self) -> PluginProvenance:
        """Id, version, source kind and folder, as reports name the plugin."""
        return provenance_of(self.manifest, self.source)

    def longitudinal_analyzers(self) -> list[LongitudinalAnalyzerEntry]:
        """Entries for the declared analyzers (nothing imported)."""
        m = self.manifest
        return [
            LongitudinalAnalyzerEntry(m.id, a.id, a.name, a.entry, a.description, m.code_path,
                                      self.provenance)
            for a in m.longitudinal_analyzers
        ]


def provenance_of(manifest: PluginManifest, source: PluginSource) -> PluginProvenance:
    """The :class:`PluginProvenance` of a plugin read from ``manifest`` found in ``source``."""
    return PluginProvenance(manifest.id, manifest.version, source.kind, manifest.folder,
                            manifest.name)


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
    conflicts_with: Path | None = None  # the folder of the plugin that keeps this id / file

    @property
    def path(self) -> str:
        """The manifest (or, when none was found, the searched location) refused."""
        return str(self.manifest_path) if self.manifest_path else self.source.location


@dataclass
class PluginRegistry:
    """What discovery found: ``plugins`` (loaded) and ``refused`` (with reasons)."""

    plugins: list[LoadedPlugin] = field(default_factory=list)
    refused: list[RefusedPlugin] = field(default_factory=list)
    _analyzers: dict[str, LongitudinalAnalyzer] = field(default_factory=dict, repr=False)

    def get(self, plugin_id: str) -> LoadedPlugin | None:
        """The loaded plugin with this id, if any."""
        return next((p for p in self.plugins if p.id == plugin_id), None)

    def plugin_for(
        self, item: SegmentationModelEntry | LongitudinalAnalyzerEntry | str
    ) -> PluginProvenance | None:
        """Id, version, source kind and folder of the plugin providing ``item``.

        ``item`` is a model or analyzer entry, or a plugin id. None when no loaded plugin
        has that id (e.g. a model package given by path).
        """
        plugin = self.get(item if isinstance(item, str) else item.plugin_id)
        return plugin.provenance if plugin is not None else None

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
                    "path": r.path,
                    "conflicts_with": str(r.conflicts_with) if r.conflicts_with else None,
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
        "path": str(m.folder), "manifest": str(m.manifest_path),
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
    state = _DiscoveryState()
    for candidate in candidates:
        try:
            _register(registry, state, candidate)
        except Exception as exc:  # noqa: BLE001 - a plugin must never stop the app
            # every known problem is a refusal already; this is a bug of Interval
            log.warning("internal error while checking plugin %s: %s", candidate.name,
                        type(exc).__name__)
            log.debug("internal error while checking plugin %s", candidate.name,
                      exc_info=True)
            registry.refused.append(RefusedPlugin(
                candidate.name,
                f"Interval could not check this plugin (internal error {type(exc).__name__}); "
                "please report it",
                candidate.source, candidate.manifest_path,
            ))
    return registry


@dataclass
class _Claim:
    """Who holds a plugin id (or a real manifest file) during one discovery."""

    source: PluginSource
    folder: Path
    plugin_id: str | None
    version: str | None
    refused: str | None = None  # the reason, when the holder itself was refused


@dataclass
class _DiscoveryState:
    ids: dict[str, _Claim] = field(default_factory=dict)
    files: dict[Path, _Claim] = field(default_factory=dict)


def _register(registry: PluginRegistry, state: _DiscoveryState, candidate: Candidate) -> None:
    found = candidate.manifest_path
    if found is None:
        registry.refused.append(RefusedPlugin(
            candidate.name, candidate.problem or "no manifest", candidate.source
        ))
        return
    problem = manifest_file_problem(found)  # stat only: a FIFO or a device is not opened
    if problem is not None:
        registry.refused.append(RefusedPlugin(candidate.name, problem, candidate.source, found))
        return
    real = candidate.real_path
    assert real is not None
    earlier = state.files.get(real)
    if earlier is not None:
        registry.refused.append(_same_file_refusal(candidate, earlier))
        return
    try:
        manifest = read_manifest(real)
    except InvalidManifest as exc:
        state.files[real] = _Claim(candidate.source, real.parent, exc.plugin_id,
                                   exc.plugin_version, str(exc))
        if candidate.source.bundled and exc.plugin_id and exc.plugin_id not in state.ids:
            state.ids[exc.plugin_id] = state.files[real]  # still first-party: reserved
        registry.refused.append(RefusedPlugin(
            exc.plugin_id or candidate.name, str(exc), candidate.source,
            real, exc.plugin_id, exc.plugin_version, exc.plugin_name,
        ))
        return
    claim = _Claim(candidate.source, manifest.folder, manifest.id, manifest.version)
    state.files[real] = claim
    holder = state.ids.get(manifest.id)
    if holder is not None and (holder.source.bundled or holder.refused is None):
        registry.refused.append(RefusedPlugin(
            manifest.id, _collision_reason(manifest, holder), candidate.source, real,
            manifest.id, manifest.version, manifest.name, conflicts_with=holder.folder,
        ))
        return
    reason = _contribution_problem(manifest)
    models: tuple[SegmentationModelEntry, ...] = ()
    if reason is None:
        try:
            provenance = provenance_of(manifest, candidate.source)
            models = tuple(_model_entry(manifest, rel, provenance)
                           for rel in manifest.segmentation_models)
        except PluginError as exc:
            reason = str(exc)
    if reason is not None:
        # a refused bundled plugin keeps its id (nothing may stand in for it); a refused
        # plugin from elsewhere lets a later copy with the same id load
        claim.refused = reason
        if holder is None or candidate.source.bundled:
            state.ids[manifest.id] = claim
        registry.refused.append(RefusedPlugin(
            manifest.id, reason, candidate.source, real,
            manifest.id, manifest.version, manifest.name,
        ))
        return
    state.ids[manifest.id] = claim
    registry.plugins.append(LoadedPlugin(manifest, candidate.source, models))


def _contribution_problem(manifest: PluginManifest) -> str | None:
    missing = missing_requirements(manifest.requires)
    if missing:  # checked with importlib.util.find_spec: nothing is imported
        return requirements_reason(missing)
    return None


def _collision_reason(manifest: PluginManifest, holder: _Claim) -> str:
    here = manifest.folder
    if holder.source.bundled:
        if holder.refused is not None:
            return (f"plugin id {manifest.id} belongs to the bundled plugin at {holder.folder} "
                    f"(itself refused: {holder.refused}); this copy at {here} was not loaded")
        return (f"plugin id {manifest.id} is already provided by the bundled plugin at "
                f"{holder.folder}; this copy at {here} was not loaded")
    return (f"plugin id {manifest.id} is already provided by the plugin (version "
            f"{holder.version}) from {holder.source.kind} at {holder.folder}; this copy at "
            f"{here} was not loaded")


def _same_file_refusal(candidate: Candidate, earlier: _Claim) -> RefusedPlugin:
    what = f"the {earlier.source.kind} plugin"
    if earlier.plugin_id:
        what += f" {earlier.plugin_id}"
    found = candidate.manifest_path
    outcome = ("its problems are listed there" if earlier.refused is not None
               else "it was not loaded a second time")
    reason = (f"{found} is the manifest of {what} at {earlier.folder} (reached again through a "
              f"symbolic link or another path); {outcome}")
    return RefusedPlugin(
        earlier.plugin_id or candidate.name, reason, candidate.source, found,
        earlier.plugin_id, earlier.version, conflicts_with=earlier.folder,
    )


def _model_entry(
    manifest: PluginManifest, rel: str, provenance: PluginProvenance | None = None
) -> SegmentationModelEntry:
    folder = manifest.folder / rel
    try:
        spec = load_spec(folder, manifest.code_path)
    except IntervalError as exc:
        raise PluginError(f"model folder {rel}: {exc.message}") from None
    except RecursionError:
        raise PluginError(f"model folder {rel}: {MODEL_FILE} is nested too deeply") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):
            raise PluginError(
                f"model folder {rel}: {MODEL_FILE} holds a number that is too long") from None
        raise PluginError(f"model folder {rel}: {MODEL_FILE} is not valid ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - the package reader must not stop discovery
        raise PluginError(f"model folder {rel}: {type(exc).__name__}: {exc}") from None
    unavailable = getattr(spec, "unavailable_reason", None)  # absent on the minimal spec
    reason = unavailable() if callable(unavailable) else None
    if reason:  # e.g. an ONNX network without onnxruntime installed
        raise PluginError(f"model folder {rel}: {reason}")
    name = str(getattr(spec, "name", "") or folder.name)
    return SegmentationModelEntry(manifest.id, name, spec, folder, manifest.code_path,
                                  provenance)


def load_spec(folder: Path, code_path: Path | None = None) -> Any:
    """The model package's spec via ``interval.ai.model_package.load_model_spec``.

    ``code_path`` is the declaring plugin's code folder: the only place a ``"plugin"``
    network's code may come from. Falls back to a minimal reader (name, version,
    modality, labels) when the model runtime is not installed in this build.
    """
    try:
        from interval.ai.model_package import load_model_spec
    except ImportError as exc:
        if exc.name not in ("interval.ai", "interval.ai.model_package"):
            raise
        return _minimal_spec(folder)
    return load_model_spec(folder, code_path=code_path)


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
        data = load_json_file(folder / MODEL_FILE, MODEL_FILE, MAX_MINIMAL_MODEL_BYTES)
    except UntrustedFileError as exc:
        raise PluginError(str(exc)) from None
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
