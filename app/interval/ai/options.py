"""Options and results of a segmentation run (torch-free: shared by viewer and child process)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from interval.core.volume import Volume


@dataclass(frozen=True)
class InferenceOptions:
    """Per-run overrides; ``None`` means "as model.json says".

    ``device``: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".
    ``amp``: mixed precision on CUDA (never on the CPU).  ``cleanup``: apply
    model.json's post-processing.  ``threads``: CPU threads for torch (None: leave).
    ``confidence``: also return the confidence map when model.json has a ``confidence``
    section (False: labels only, as fast as without one unless its calibrated
    ``drop_below`` region filter needs the map).
    ``overlap`` and ``batch_size`` do not apply to whole-volume models
    (``"inference": {"mode": "whole"}``: one forward pass, no windows).
    """

    device: str = "auto"
    overlap: float | None = None
    batch_size: int | None = None
    mirror_tta: bool | None = None
    amp: bool = True
    cleanup: bool = True
    threads: int | None = None
    confidence: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (for the child process)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> InferenceOptions:
        """Options from :meth:`to_dict` output (unknown keys are a ``ValueError``)."""
        data = dict(data or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown inference option(s): {', '.join(unknown)}")
        return cls(**data)


@dataclass
class SegmentationResult:
    """A label map on the input grid, where the time went, the device used, any warnings.

    ``confidence``: with model.json's ``confidence`` section, a ``uint8`` Volume on the
    input grid: 0-255 for a probability 0-1 that the voxel belongs to one of its labels
    (None without the section, or with ``InferenceOptions.confidence`` False).
    """

    labels: Volume
    timings: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    warnings: list[str] = field(default_factory=list)
    confidence: Volume | None = None
