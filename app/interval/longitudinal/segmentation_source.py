"""Where each timepoint's label map comes from: a plugin's model, or files the user gives.

Both kinds answer the same two calls, so the pipeline does not care which it has:
``label_map(i, volume, progress=, cancel=)`` returns a label :class:`Volume` on the
volume's grid, and ``source(i)`` says where it came from (for the report).  Both also
answer ``confidence_map(i)``: the model's per-voxel confidence (uint8 0-255) of the label
map last given for timepoint ``i``, or None (label files, a model without a confidence
section); and ``equivocal_below``: the model's calibrated score under which a new lesion
is equivocal (None when unknown).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from interval.core.errors import IntervalError
from interval.core.jobs import CancelFn, ProgressFn
from interval.core.volume import Volume
from interval.longitudinal.model import SegmentationSource

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class LabelProvider(Protocol):
    """Gives the label map of timepoint ``index`` on ``volume``'s grid."""

    def label_map(self, index: int, volume: Volume, *, progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None) -> Volume: ...

    def source(self, index: int) -> SegmentationSource: ...

    def close(self) -> None: ...


class FileLabels:
    """Label maps from files (NIfTI/NRRD/MHA, Slicer .seg.nrrd, DICOM SEG), one per timepoint
    in timeline order, placed on each scan by physical position."""

    writes_label_maps = False  # the user has them already: the report names their paths

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self.warnings: list[str] = []

    def label_map(self, index: int, volume: Volume, *, progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None) -> Volume:
        from interval.io.segmentation import load_segmentation, place_on_grid

        if index >= len(self.paths):
            raise IntervalError(
                f"no label map was given for timepoint {index + 1} ({len(self.paths)} given "
                f"for more timepoints): give one --labels file per timepoint, oldest first"
            )
        path = self.paths[index]
        labels = load_segmentation(path)
        if labels.labels is None:
            raise IntervalError(f"{path.name} is not a label map (it holds no labels)")
        placed = place_on_grid(labels, volume)
        if not labels.same_grid(volume):
            self.warnings.append(
                f"timepoint {index + 1}: the label map {path.name} is on another voxel grid than "
                "the scan; it was placed on the scan by position (nearest neighbour)"
            )
        return placed

    def confidence_map(self, index: int, *, release: bool = False) -> Volume | None:
        """None: a label file has no confidence."""
        return None

    @property
    def equivocal_below(self) -> float | None:
        """None: label files carry no calibrated threshold."""
        return None

    def source(self, index: int) -> SegmentationSource:
        path = self.paths[index] if index < len(self.paths) else Path("")
        return SegmentationSource(index, "file", f"label map {path.name}",
                                  path=str(path.resolve()))

    def close(self) -> None:
        return None


class ModelLabels:
    """Label maps from a plugin's segmentation model, each run in its own child process.

    The next timepoint's child process starts while the current one runs, so torch's
    import overlaps the work (as ``interval demo`` always did).
    """

    writes_label_maps = True  # OUT/segmentation/tpN_labels.nii.gz (+ .labels.json)

    def __init__(self, entry: Any, *, device: str = "auto",
                 memory_limit_bytes: int | None = None, describe: str = "") -> None:
        device = str(device).strip().lower()
        if not _DEVICE.match(device):
            raise IntervalError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")
        self.entry = entry
        self.device = device
        self.memory_limit_bytes = memory_limit_bytes
        self.describe = describe
        self.used_device = ""
        self.warnings: list[str] = []
        self.timings: dict[str, float] = {}
        self._next: Any = None
        self._confidence: dict[int, Volume | None] = {}

    def prestart(self) -> None:
        """Start a model process now (it imports torch while the caller reads images)."""
        if self._next is None:
            from interval.ai.runner import start_segmentation_process

            self._next = start_segmentation_process()

    @property
    def prior_timepoints(self) -> int:
        """How many earlier scans the model reads (model.json ``temporal``; 0: none)."""
        temporal = getattr(getattr(self.entry, "spec", None), "temporal", None)
        return int(getattr(temporal, "prior_timepoints", 0) or 0)

    def label_map(self, index: int, volume: Volume, *, progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None, priors: Sequence[Volume] = ()) -> Volume:
        """Timepoint ``index``'s label map; ``priors``: for a temporal model, the earlier
        scans on ``volume``'s grid, oldest first (:mod:`.prior_scans`)."""
        from interval.ai.runner import run_segmentation

        modality = volume.metadata.modality
        if modality and not self.entry.accepts_modality(modality):
            raise IntervalError(
                f"the model {self.entry.spec.name} is made for "
                f"{', '.join(self.entry.modalities)} images; timepoint {index + 1} is {modality}"
            )
        self.prestart()
        process, self._next = self._next, None
        kwargs: dict[str, Any] = {}
        if self.memory_limit_bytes is not None:
            kwargs["memory_limit_bytes"] = self.memory_limit_bytes
        result = run_segmentation(volume, self.entry.folder, {"device": self.device},
                                  progress=progress, cancel=cancel,
                                  code_path=self.entry.code_path, process=process,
                                  priors=list(priors)[-self.prior_timepoints:]
                                  if self.prior_timepoints else (), **kwargs)
        self.used_device = result.device or self.used_device
        for warning in result.warnings:
            self.warnings.append(f"timepoint {index + 1}: {warning}")
        for key, seconds in result.timings.items():
            self.timings[key] = self.timings.get(key, 0.0) + float(seconds)
        self._confidence[index] = getattr(result, "confidence", None)
        return result.labels

    def confidence_map(self, index: int, *, release: bool = False) -> Volume | None:
        """The confidence map (uint8 0-255 on the scan's grid) that came with timepoint
        ``index``'s label map; None without one.  ``release``: forget it here (the caller
        then holds the only reference)."""
        if release:
            return self._confidence.pop(index, None)
        return self._confidence.get(index)

    @property
    def equivocal_below(self) -> float | None:
        """The model's calibrated score under which a new lesion is equivocal (model.json's
        ``confidence.equivocal_below``), None when it has none."""
        confidence = getattr(getattr(self.entry, "spec", None), "confidence", None)
        value = getattr(confidence, "equivocal_below", None)
        return None if value is None else float(value)

    def source(self, index: int) -> SegmentationSource:
        spec = self.entry.spec
        plugin = _plugin_facts(self.entry)
        text = f"{spec.name} {spec.version}"
        if plugin["id"]:
            text += f" (plugin {plugin['id']} {plugin['version']}".rstrip() + ")"
        if self.describe:
            text += f"; {self.describe}"
        return SegmentationSource(
            index, "model", text, model=str(spec.name), model_version=str(spec.version),
            plugin_id=plugin["id"], plugin_version=plugin["version"],
            plugin_source=plugin["source"],
        )

    def close(self) -> None:
        if self._next is not None:
            self._next.close()
            self._next = None


def _plugin_facts(entry: Any) -> dict[str, str]:
    """Plugin id, version and source (kind and path) of a model entry, as far as known."""
    facts = {"id": str(getattr(entry, "plugin_id", "") or ""), "version": "", "source": ""}
    plugin = getattr(entry, "plugin", None)
    version = getattr(entry, "plugin_version", None) or getattr(plugin, "version", None)
    if version:
        facts["version"] = str(version)
    source = getattr(entry, "plugin_source", None) or getattr(plugin, "source", None)
    if source is not None:
        facts["source"] = str(source)
    elif getattr(entry, "folder", None) is not None:
        facts["source"] = str(entry.folder)
    return facts
