"""Build a :class:`~interval.core.metadata.VolumeMetadata` from DICOM header records."""

from __future__ import annotations

import os
from collections.abc import Sequence

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.voi import mirrored
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
    window = _window(frames)
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
        default_window=window,
        voi_lut=window.lut if window is not None and window.function == "TABLE" else None,
        presentation_inverse=h.presentation_lut_shape == "INVERSE"
        and h.photometric_interpretation == "MONOCHROME2",
        sop_instance_uids=tuple(sop_instance_uids),
        sop_class_uid=h.sop_class_uid,
        source=source if source is not None else _common_folder(frames),
        warnings=tuple(dict.fromkeys(warnings)),
        extra=dict(extra or {}),
    )


def _window(frames: Sequence[FrameRef]) -> WindowLevel | None:
    """The series' VOI: WindowCenter/Width with their VOILUTFunction, else a VOI LUT table.

    The (centre, width, function) most frames share when more than half of the
    frames with a window share it (a series-wide window); otherwise (scanners that
    window each slice) the window of the frame nearest the middle of the array,
    since the first or last slices may lie outside the body (e.g. a decubitus
    head, where the edge slice's noise gave WC 4 / WW 8).  Without any window,
    the VOI LUT Sequence table of the frame nearest the middle (PS3.3 C.11.2).

    MONOCHROME1 pixels are inverted when read (``min + max - v`` over the
    stored range, then rescaled), so the window is mirrored the same way
    (:func:`interval.core.voi.mirrored`).
    """
    found: dict[tuple[float, float, str], list[int]] = {}
    for index, ref in enumerate(frames):
        key = _frame_window(ref)
        if key is not None:
            found.setdefault(key, []).append(index)
    if not found:
        return _table_window(frames)
    counted = sum(len(at) for at in found.values())
    shared = max(found, key=lambda key: len(found[key]))
    if 2 * len(found[shared]) <= counted:
        middle = (len(frames) - 1) / 2.0
        shared = min(found, key=lambda key: min(abs(i - middle) for i in found[key]))
    return WindowLevel(center=shared[0], width=shared[1], function=shared[2])


def _frame_window(ref: FrameRef) -> tuple[float, float, str] | None:
    """(centre, width, VOI function) of one frame's usable window (mirrored for MONOCHROME1)."""
    if not ref.header.frames:
        return None
    info = ref.info
    if info.window_center is None or info.window_width is None or not info.window_width > 0:
        return None
    function = info.voi_function if info.voi_function in ("LINEAR_EXACT", "SIGMOID") else "LINEAR"
    wl = WindowLevel(float(info.window_center), float(info.window_width), function=function)
    k = _monochrome1_mirror(ref)
    if k is not None:
        wl = mirrored(wl, k)
    return wl.center, wl.width, wl.function


def _table_window(frames: Sequence[FrameRef]) -> WindowLevel | None:
    """The TABLE window of the VOI LUT table of the frame nearest the middle, if any."""
    with_table = [i for i, ref in enumerate(frames) if ref.header.voi_lut is not None]
    if not with_table:
        return None
    middle = (len(frames) - 1) / 2.0
    ref = frames[min(with_table, key=lambda i: abs(i - middle))]
    lut = ref.header.voi_lut
    assert lut is not None
    k = _monochrome1_mirror(ref)
    if k is not None:
        lut = mirrored(WindowLevel(0.0, 1.0, function="TABLE", lut=lut), k).lut
        assert lut is not None
    name = f"VOI LUT {lut.explanation}".strip()
    return WindowLevel(
        center=lut.first + len(lut.data) / 2.0, width=float(len(lut.data)), name=name,
        function="TABLE", lut=lut,
    )


def _monochrome1_mirror(ref: FrameRef) -> float | None:
    """``k`` such that a MONOCHROME1 value ``x`` is read as ``k - x`` (None: not MONOCHROME1)."""
    h = ref.header
    if h.photometric_interpretation != "MONOCHROME1" or h.bits_stored <= 0 or not h.frames:
        return None
    if h.pixel_representation == 1:
        lo, hi = -(1 << (h.bits_stored - 1)), (1 << (h.bits_stored - 1)) - 1
    else:
        lo, hi = 0, (1 << h.bits_stored) - 1
    info = ref.info
    return info.rescale_slope * (lo + hi) + 2.0 * info.rescale_intercept


def _common_folder(frames: Sequence[FrameRef]) -> str:
    paths = {os.path.dirname(f.header.path) for f in frames}
    if len(paths) == 1:
        return next(iter(paths))
    try:
        return os.path.commonpath(sorted(paths))
    except ValueError:
        return sorted(paths)[0]
