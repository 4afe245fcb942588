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
    """The first usable WindowCenter/Width (VOI LUT) of the frames, in array order.

    MONOCHROME1 pixels are inverted when read (``min + max - v`` over the
    stored range, then rescaled), so the window centre is mirrored the same way.
    """
    for ref in frames:
        if not ref.header.frames:
            continue
        info = ref.info
        if info.window_center is not None and info.window_width is not None and info.window_width > 0:
            center = float(info.window_center)
            h = ref.header
            if h.photometric_interpretation == "MONOCHROME1" and h.bits_stored > 0:
                if h.pixel_representation == 1:
                    lo, hi = -(1 << (h.bits_stored - 1)), (1 << (h.bits_stored - 1)) - 1
                else:
                    lo, hi = 0, (1 << h.bits_stored) - 1
                slope, intercept = info.rescale_slope, info.rescale_intercept
                center = slope * (lo + hi) + 2.0 * intercept - center
            return WindowLevel(center=center, width=float(info.window_width))
    return None


def _common_folder(frames: Sequence[FrameRef]) -> str:
    paths = {os.path.dirname(f.header.path) for f in frames}
    if len(paths) == 1:
        return next(iter(paths))
    try:
        return os.path.commonpath(sorted(paths))
    except ValueError:
        return sorted(paths)[0]
