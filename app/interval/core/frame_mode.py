"""2-D images and frames in time: what the viewer shows instead of three MPR planes.

A volume whose k axis is time (``metadata.frame_axis == "time"``: an ultrasound or
XA clip, a time series at one position) or a single image without a position in
the patient (a projection X-ray) has no 3-D geometry to reslice: the viewer shows
only the image plane, one frame at a time, and cine plays the frames at the
acquired rate.  Pure logic, no Qt.
"""

from __future__ import annotations

from interval.core.metadata import VolumeMetadata
from interval.core.view_alignment import view_normal_axes
from interval.core.volume import Volume

_NOMINAL_PLACEMENT = "nominal placement"  # the loader's warning for images without position


def is_time_series(metadata: VolumeMetadata | None) -> bool:
    """Whether the k axis of the volume with ``metadata`` is time (frames, not slices)."""
    return metadata is not None and getattr(metadata, "frame_axis", "space") == "time"


def is_two_d(volume: Volume | None) -> bool:
    """Whether ``volume`` is shown in the 2-D viewer mode: its frames are in time, or it is
    one image without a position in the patient (placed nominally by the loader)."""
    if volume is None or volume.labels is not None:
        return False
    if is_time_series(volume.metadata):
        return True
    nominal = any(_NOMINAL_PLACEMENT in w for w in volume.metadata.warnings)
    return nominal and volume.size_ijk[2] == 1


def frame_view_kind(volume: Volume) -> str:
    """The standard view ("axial", "coronal", "sagittal") that shows whole frames (the view
    looking along k) once the views follow the volume's acquisition plane."""
    axes = view_normal_axes(volume)
    return next((kind for kind, axis in axes.items() if axis == 2), "axial")


def frame_time_s(metadata: VolumeMetadata | None, index: int) -> float | None:
    """Seconds from the first frame to frame ``index`` (0-based); None when unknown."""
    times = getattr(metadata, "frame_times_ms", ()) if metadata is not None else ()
    if not times or not 0 <= index < len(times):
        return None
    return float(times[index]) / 1000.0


def frame_rate_hz(metadata: VolumeMetadata | None) -> float | None:
    """The acquired frame rate of a time series (None when unknown or not a time series)."""
    if not is_time_series(metadata):
        return None
    rate = getattr(metadata, "frame_rate_hz", None)
    return float(rate) if rate is not None and rate > 0 else None


def frame_text(number: int, total: int, time_s: float | None = None) -> str:
    """``"Frame 3/10"``, with the time when known: ``"Frame 3/10  t = 0.40 s"``."""
    text = f"Frame {number}/{total}"
    if time_s is not None:
        text += f"  t = {time_s:.2f} s"
    return text
