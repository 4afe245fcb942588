"""Build a :class:`~interval.core.metadata.VolumeMetadata` from DICOM header records."""

from __future__ import annotations

import os
from collections.abc import Sequence

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.io.dicom.records import FrameRef


def volume_metadata(
    frames: Sequence[FrameRef],
    *,
    warnings: Sequence[str] = (),
    sop_instance_uids: Sequence[str] | None = None,
    source: str | None = None,
    extra: dict[str, object] | None = None,
) -> VolumeMetadata:
    """Who/what/when of the volume made from ``frames`` (given in array order).

    ``sop_instance_uids`` defaults to one UID per frame in the given order;
    pass ``()`` when the slices no longer match source images (resampled).
    ``source`` defaults to the folder holding the files.
    """
    if not frames:
        return VolumeMetadata(warnings=tuple(warnings))
    h = frames[0].header
    modality = h.modality
    if sop_instance_uids is None:
        sop_instance_uids = tuple(f.header.sop_instance_uid for f in frames)
    return VolumeMetadata(
        patient_name=h.patient_name,
        patient_id=h.patient_id,
        patient_birth_date=h.patient_birth_date,
        patient_sex=h.patient_sex,
        patient_position=h.patient_position,
        study_instance_uid=h.study_instance_uid,
        study_date=h.study_date,
        study_time=h.study_time,
        study_description=h.study_description,
        accession_number=h.accession_number,
        series_instance_uid=h.series_instance_uid,
        series_number=h.series_number,
        series_description=h.series_description,
        series_date=h.series_date,
        modality=modality,
        frame_of_reference_uid=h.frame_of_reference_uid,
        body_part=h.body_part,
        manufacturer=h.manufacturer,
        units="HU" if modality == "CT" else "",
        default_window=_window(frames),
        sop_instance_uids=tuple(sop_instance_uids),
        sop_class_uid=h.sop_class_uid,
        source=source if source is not None else _common_folder(frames),
        warnings=tuple(dict.fromkeys(warnings)),
        extra=dict(extra or {}),
    )


def _window(frames: Sequence[FrameRef]) -> WindowLevel | None:
    """The series' WindowCenter/Width (VOI LUT), taken from the frames that show anatomy.

    The (centre, width) pair most frames share when more than half of the frames
    with a window share it (a series-wide window); otherwise (scanners that window
    each slice) the window of the frame nearest the middle of the array, since the
    first or last slices may lie outside the body (e.g. a decubitus head, where the
    edge slice's noise gave WC 4 / WW 8).

    MONOCHROME1 pixels are inverted when read (``min + max - v`` over the
    stored range, then rescaled), so the window centre is mirrored the same way.
    """
    found: dict[tuple[float, float], list[int]] = {}
    for index, ref in enumerate(frames):
        pair = _frame_window(ref)
        if pair is not None:
            found.setdefault(pair, []).append(index)
    if not found:
        return None
    counted = sum(len(at) for at in found.values())
    shared = max(found, key=lambda pair: len(found[pair]))
    if 2 * len(found[shared]) > counted:
        return WindowLevel(center=shared[0], width=shared[1])
    middle = (len(frames) - 1) / 2.0
    nearest = min(found, key=lambda pair: min(abs(i - middle) for i in found[pair]))
    return WindowLevel(center=nearest[0], width=nearest[1])


def _frame_window(ref: FrameRef) -> tuple[float, float] | None:
    """(centre, width) of one frame's usable window (centre mirrored for MONOCHROME1)."""
    if not ref.header.frames:
        return None
    info = ref.info
    if info.window_center is None or info.window_width is None or not info.window_width > 0:
        return None
    center = float(info.window_center)
    h = ref.header
    if h.photometric_interpretation == "MONOCHROME1" and h.bits_stored > 0:
        if h.pixel_representation == 1:
            lo, hi = -(1 << (h.bits_stored - 1)), (1 << (h.bits_stored - 1)) - 1
        else:
            lo, hi = 0, (1 << h.bits_stored) - 1
        slope, intercept = info.rescale_slope, info.rescale_intercept
        center = slope * (lo + hi) + 2.0 * intercept - center
    return center, float(info.window_width)


def _common_folder(frames: Sequence[FrameRef]) -> str:
    paths = {os.path.dirname(f.header.path) for f in frames}
    if len(paths) == 1:
        return next(iter(paths))
    try:
        return os.path.commonpath(sorted(paths))
    except ValueError:
        return sorted(paths)[0]
