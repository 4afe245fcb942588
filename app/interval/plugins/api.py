"""The public, versioned plugin API of Interval (``API_VERSION``).

A plugin imports only what this module (and ``interval.core``) offers.  The
API is deliberately small:

* :class:`PluginManifest` - what ``interval-plugin.json`` declares, validated
  by :mod:`interval.plugins.manifest` before any plugin code is imported;
* :class:`SegmentationModelEntry` - a model package (``model.json`` +
  weights) contributed by a plugin;
* :class:`LongitudinalAnalyzer` - the protocol of a longitudinal analyzer,
  with the data it receives (:class:`Timepoint`, and per timepoint the measured lesions as
  :class:`LesionObservation`) and returns (:class:`LongitudinalResult`).

Version 1.1 added (nothing changed or removed): :class:`LesionObservation`;
``Timepoint.lesions`` and ``Timepoint.day``; ``Timepoint.volume`` may be ``None`` (an
analyzer run from a table of measurements, without images); the optional ``options``
keyword of ``analyze``, given only to analyzers whose ``analyze`` declares it.

Versioning: ``API_VERSION`` is ``MAJOR.MINOR``.  A minor release only adds
(optional fields, new contribution kinds, new helpers); a major release may
remove or change something.  A plugin states the versions it supports with a
PEP 440 specifier in its manifest, e.g. ``">=1.0,<2"``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from interval.core.errors import IntervalError
from interval.core.jobs import CancelFn, ProgressFn
from interval.core.volume import Volume

API_VERSION = "1.1"
"""The plugin API version this build of Interval implements."""

MANIFEST_NAME = "interval-plugin.json"
"""File name of a plugin manifest (in a plugin folder or inside an installed package)."""

ENTRY_POINT_GROUP = "interval.plugins"
"""Entry-point group of pip-installed plugins; the value is the package's import name."""

__all__ = [
    "API_VERSION",
    "ENTRY_POINT_GROUP",
    "MANIFEST_NAME",
    "AnalyzerDeclaration",
    "LesionObservation",
    "LongitudinalAnalyzer",
    "LongitudinalAnalyzerEntry",
    "LongitudinalResult",
    "PluginError",
    "PluginManifest",
    "PluginProvenance",
    "SegmentationModelEntry",
    "Timepoint",
]


class PluginError(IntervalError):
    """A plugin cannot be used; the message says why in words."""


# --- manifest ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalyzerDeclaration:
    """One ``contributes.longitudinal_analyzers`` item of a manifest."""

    id: str
    name: str
    entry: str  # "package.module:Attribute" (a class or a factory returning an analyzer)
    description: str = ""


@dataclass(frozen=True)
class PluginManifest:
    """A validated ``interval-plugin.json``.

    ``folder`` is the folder holding the manifest; contribution paths are
    relative to it.  ``code_path`` is the folder that must be on ``sys.path``
    for the plugin's Python code (``None`` when it brings none).
    """

    id: str
    name: str
    version: str
    interval_api: str
    manifest_path: Path
    description: str = ""
    author: str = ""
    license: str = ""
    homepage: str = ""
    segmentation_models: tuple[str, ...] = ()
    longitudinal_analyzers: tuple[AnalyzerDeclaration, ...] = ()
    python_module: str | None = None
    code_path: Path | None = None
    requires: tuple[str, ...] = ()  # top-level import names the plugin's code needs

    @property
    def folder(self) -> Path:
        """The folder holding the manifest."""
        return self.manifest_path.parent


@dataclass(frozen=True)
class PluginProvenance:
    """Which plugin a contribution comes from, for reports and audit trails.

    ``source_kind`` is where discovery found it: ``"bundled"`` (Interval's own first-party
    plugins), ``"entry point"``, ``"user folder"``, ``"INTERVAL_PLUGIN_PATH"`` or
    ``"--plugins-dir"``; ``path`` is the plugin's folder with symbolic links resolved.
    """

    plugin_id: str
    version: str
    source_kind: str
    path: Path
    name: str = ""

    def __str__(self) -> str:
        return f"{self.plugin_id} {self.version} ({self.source_kind}: {self.path})"

    def to_dict(self) -> dict[str, str]:
        """Plain JSON-able fields (``id``, ``version``, ``name``, ``source``, ``path``)."""
        return {"id": self.plugin_id, "version": self.version, "name": self.name,
                "source": self.source_kind, "path": str(self.path)}


# --- contributions -----------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentationModelEntry:
    """A segmentation model contributed by a plugin.

    ``spec`` is the parsed ``model.json`` (``interval.ai.model_package.ModelSpec``);
    ``model_id`` is the model's ``name``; ``folder`` is the model package folder;
    ``code_path`` is the folder to put on ``sys.path`` (in the process that runs
    the model) before importing a ``"plugin"`` network's code; ``provenance`` names the
    plugin's version, source and folder (set by discovery; None for an entry built by hand).
    """

    plugin_id: str
    model_id: str
    spec: Any
    folder: Path
    code_path: Path | None = None
    provenance: PluginProvenance | None = None

    @property
    def qualified_id(self) -> str:
        """``plugin_id:model_id``, unique across plugins."""
        return f"{self.plugin_id}:{self.model_id}"

    @property
    def plugin_version(self) -> str:
        """The providing plugin's version ("" when not known)."""
        return self.provenance.version if self.provenance else ""

    @property
    def plugin_source(self) -> str:
        """Where the providing plugin was found, e.g. ``"bundled: /opt/interval/plugins/x"``
        ("" when not known)."""
        p = self.provenance
        return f"{p.source_kind}: {p.path}" if p else ""

    @property
    def modalities(self) -> tuple[str, ...]:
        """Accepted DICOM modalities (empty = any)."""
        value = getattr(self.spec, "modality", ())
        if isinstance(value, str):
            return () if value.lower() == "any" else (value.upper(),)
        return tuple(str(m).upper() for m in value or () if str(m).lower() != "any")

    def accepts_modality(self, modality: str | None) -> bool:
        """Whether the model accepts a series of ``modality`` (unknown modality: yes)."""
        mods = self.modalities
        return not mods or not modality or modality.upper() in mods


@dataclass(frozen=True)
class LesionObservation:
    """One lesion measured at one timepoint (what a forecasting analyzer reads). API 1.1.

    ``lesion_id`` is stable across timepoints ("L1", or a trajectory id of a table);
    ``diameter_mm`` the RECIST diameter (long axis; short axis for a lymph node): 0 = no
    longer measurable, None = not evaluable; ``volume_ml``, ``organ``, ``is_lymph_node``
    and ``mean_intensity`` (HU for CT) when known.
    """

    lesion_id: str
    diameter_mm: float | None
    volume_ml: float | None = None
    organ: str = ""
    is_lymph_node: bool = False
    mean_intensity: float | None = None


@dataclass(frozen=True)
class Timepoint:
    """One examination of a patient given to a longitudinal analyzer.

    ``volume`` is the image (None when the analyzer runs from a table of measurements,
    API 1.1); ``labels`` an optional label map on the same grid (e.g. a segmentation),
    ``label`` a short text for reports (e.g. "baseline"). API 1.1: ``lesions`` the lesions
    measured at this timepoint (a lesion absent there has no observation); ``day`` the
    days since treatment start or the baseline when known more precisely than ``date``
    (may be negative). The time of a timepoint is ``day`` when not None, else
    ``(date - first timepoint's date).days``.
    """

    date: datetime.date
    volume: Volume | None
    labels: Volume | None = None
    label: str = ""
    lesions: tuple[LesionObservation, ...] = ()
    day: float | None = None


@dataclass
class LongitudinalResult:
    """What a longitudinal analyzer returns.

    ``table`` holds one row per finding and timepoint (plain JSON-able values,
    e.g. ``{"lesion": 1, "date": "2024-01-02", "volume_ml": 3.2}``);
    ``label_maps`` (optional) one label Volume per timepoint with consistent
    values across time (tracked lesions); ``summary`` a sentence or paragraph for
    a report; ``warnings`` things the reader must know.
    """

    summary: str = ""
    table: list[dict[str, Any]] = field(default_factory=list)
    label_maps: list[Volume | None] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@runtime_checkable
class LongitudinalAnalyzer(Protocol):
    """What a ``longitudinal_analyzers`` entry resolves to (an instance)."""

    def analyze(
        self,
        timepoints: Sequence[Timepoint],
        *,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        options: dict[str, Any] | None = None,
    ) -> LongitudinalResult:
        """Analyse the timepoints (sorted by date, oldest first).

        ``options`` (API 1.1) is a plain dict of settings (e.g. ``{"horizon_days": 56.0}``
        or ``{"target_day": 140.0}`` for a forecast). Interval passes it only when this
        method declares a parameter named ``options``, so an analyzer written for 1.0
        (without it) keeps working.
        """
        ...


@dataclass(frozen=True)
class LongitudinalAnalyzerEntry:
    """A longitudinal analyzer declared by a loaded plugin; its code is imported on use.

    Resolve it with :meth:`interval.plugins.registry.PluginRegistry.load_longitudinal_analyzer`,
    which turns any import problem into a refusal message instead of an exception.
    """

    plugin_id: str
    analyzer_id: str
    name: str
    entry: str
    description: str = ""
    code_path: Path | None = None
    provenance: PluginProvenance | None = None

    @property
    def qualified_id(self) -> str:
        """``plugin_id:analyzer_id``, unique across plugins."""
        return f"{self.plugin_id}:{self.analyzer_id}"
