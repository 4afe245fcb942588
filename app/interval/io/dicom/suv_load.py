"""PET series at load time: their values as SUVbw when the headers allow it.

:func:`pet_values` reads the SUV attributes (:data:`~interval.io.dicom.suv.SUV_TAGS`)
from the first file of a PET stack with pydicom (the header index does not keep
the radiopharmaceutical sequence) and, when :func:`~interval.io.dicom.suv.suv_factor`
gives a factor, folds it into every frame's rescale slope and intercept, so the
pixel reader writes SUVbw straight away (``float32``; a progressive load shows
SUV from its first slice).  Otherwise the frames are left alone, the values stay
in their stored units (Bq/mL) and the reason becomes a warning of the volume.
:func:`with_pet_units` puts the units and the default window on the metadata.

The series-level tags of the first file stand for the whole stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.io.dicom.records import DicomHeader, FrameInfo, FrameRef
from interval.io.dicom.suv import SUV_TAGS, SuvUnavailable, suv_factor

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

SUV_UNITS = "SUVbw"
SUV_WINDOW = WindowLevel(center=2.5, width=5.0, name="SUV 0-5")
"""Default window of a volume in SUV: 0 to 5, the usual FDG reading range."""

_STORED_UNITS = {"BQML": "Bq/mL", "CNTS": "counts", "GML": "SUV"}


@dataclass(frozen=True)
class PetValues:
    """What loading a PET stack should do: read ``frames``; label the volume ``units``."""

    frames: list[FrameRef]
    units: str
    factor: float | None = None  # Bq/mL -> SUVbw folded into the frames; None: not converted
    warning: str = ""


def pet_values(frames: Sequence[FrameRef]) -> PetValues | None:
    """The frames to read and the units for a PET stack; None for any other modality."""
    if not frames or frames[0].header.modality.upper() != "PT":
        return None
    ds = _read_tags(frames[0].header.path)
    if ds is None:
        return PetValues(
            list(frames), "", warning="Not shown as SUV: the PET attributes could not be read."
        )
    units = str(ds.get("Units", "") or "").strip().upper()
    stored = _STORED_UNITS.get(units, units)
    if units == "GML":
        return PetValues(list(frames), stored)
    times = [ref.info.acquisition_time for ref in frames if ref.info.acquisition_time]
    factor = suv_factor(ds, times)
    if isinstance(factor, SuvUnavailable):
        shown = f"in {stored}" if stored else "in their stored units"
        return PetValues(
            list(frames), stored, warning=f"Values are shown {shown}, not as SUV. {factor.reason}"
        )
    return PetValues(scaled_frames(frames, factor), SUV_UNITS, factor=factor)


def with_pet_units(meta: VolumeMetadata, pet: PetValues | None) -> VolumeMetadata:
    """``meta`` with the units (and for SUV the 0-5 window) of ``pet``; as-is when None."""
    if pet is None:
        return meta
    if pet.factor is None:
        return replace(meta, units=pet.units)
    extra = {**meta.extra, "suv_bw_factor": pet.factor}
    return replace(meta, units=pet.units, default_window=SUV_WINDOW, extra=extra)


def scaled_frames(frames: Sequence[FrameRef], factor: float) -> list[FrameRef]:
    """``frames`` whose rescale (and window) is multiplied by ``factor``: the same pixels
    then read as ``(stored * slope + intercept) * factor``."""
    new_headers: dict[int, DicomHeader] = {}
    out: list[FrameRef] = []
    for ref in frames:
        header = new_headers.get(id(ref.header))
        if header is None:
            header = replace(
                ref.header, frames=tuple(_scaled(fi, factor) for fi in ref.header.frames)
            )
            new_headers[id(ref.header)] = header
        out.append(FrameRef(header, ref.frame))
    return out


def _scaled(info: FrameInfo, factor: float) -> FrameInfo:
    return replace(
        info,
        rescale_slope=info.rescale_slope * factor,
        rescale_intercept=info.rescale_intercept * factor,
        window_center=None if info.window_center is None else info.window_center * factor,
        window_width=None if info.window_width is None else info.window_width * factor,
    )


def _read_tags(path: str) -> Dataset | None:
    """The SUV attributes of one file (no pixels), or None when it cannot be read."""
    import pydicom

    try:
        return pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=list(SUV_TAGS))
    except Exception:  # noqa: BLE001 - unreadable here: no SUV, said in a warning
        return None
