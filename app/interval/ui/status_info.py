"""Status-bar text for the cursor over a view: position, voxel, value, window, zoom.

Pure function of the state (no Qt): the main window calls :func:`status_text` with the
LPS point under the cursor (``MprView.cursor_moved`` gives it).  For frames in time (a 2-D
clip, a time series at one position: ``metadata.frame_axis == "time"``) the text names the
pixel and the frame ("Frame 3/10  t = 0.40 s", as the view's corner text) instead of a voxel.
"""

from __future__ import annotations

import numpy as np

from interval.core.frame_mode import frame_text, frame_time_s, is_time_series
from interval.core.fusion_probe import modality_name, probe_text
from interval.core.viewer_state import ImageLayer, LabelLayer, ViewerState
from interval.core.volume import Volume

COLOUR_NO_WINDOW = "colour image: no window/level"
"""Said instead of the window for a colour image (it is shown as it is)."""


def voxel_index(
    volume: Volume, lps: np.ndarray | tuple[float, float, float]
) -> tuple[int, int, int] | None:
    """Nearest voxel ``(i, j, k)`` of an LPS point, or None outside the volume."""
    ijk = np.floor(np.asarray(volume.lps_to_index(lps), dtype=np.float64) + 0.5).astype(int)
    if any(x < 0 or x >= n for x, n in zip(ijk, volume.size_ijk, strict=True)):
        return None
    return int(ijk[0]), int(ijk[1]), int(ijk[2])


def is_ct(volume: Volume | None) -> bool:
    """Whether the values are Hounsfield units (a CT, or units given as HU)."""
    if volume is None:
        return False
    md = volume.metadata
    return md.units == "HU" or md.modality.upper() == "CT"


def is_suv(volume: Volume | None) -> bool:
    """Whether the values are standardized uptake values (a PET loaded as SUVbw)."""
    return volume is not None and volume.metadata.units.upper().startswith("SUV")


def may_be_hu(volume: Volume | None) -> bool:
    """Whether Hounsfield-unit presets make sense: a CT (or units HU), or an image that
    does not say what it is (a NIfTI/NRRD file has no modality); False for MR, PET..."""
    if volume is None:
        return False
    md = volume.metadata
    return is_ct(volume) or (not md.modality.strip() and not md.units.strip())


def format_window_value(value: float, ct: bool) -> str:
    """A window width or level for reading: a whole number for CT (HU), three
    significant digits otherwise (whole numbers from 100 up, never an exponent)."""
    v = float(value)
    if ct or abs(v) >= 100:
        return str(int(round(v)))
    text = f"{v:.3g}"
    if "e" in text:  # tiny values: plain decimals
        text = f"{v:.6f}".rstrip("0").rstrip(".")
    return text


def window_text(volume: Volume | None, width: float, center: float) -> str:
    """``"W/L 400/40"``: the window in the style of :func:`format_window_value`;
    ``"W/L 5/2.5 SUV"`` for a PET in SUV; ``"RGB"`` for a colour image (no window)."""
    if volume is not None and volume.is_rgb:
        return "RGB"
    ct = is_ct(volume)
    text = f"W/L {format_window_value(width, ct)}/{format_window_value(center, ct)}"
    return text + " SUV" if is_suv(volume) else text


def _format_value(volume: Volume, ijk: tuple[int, int, int]) -> str:
    v = volume.array[ijk[2], ijk[1], ijk[0]]
    if volume.is_rgb:  # a colour image: its red, green and blue (0-255)
        return ", ".join(str(int(c)) for c in v)
    md = volume.metadata
    unit = "HU" if md.units == "HU" or md.modality.upper() == "CT" else md.units
    if is_suv(volume):
        text = f"{float(v):.2f}"  # SUV is read to two decimals (e.g. SUVmax 4.37)
    elif np.issubdtype(volume.dtype, np.integer):
        text = f"{int(v)}"
    else:
        text = f"{float(v):.4g}"
    return f"{text} {unit}".rstrip()


def _unread(slices_read: np.ndarray | None, k: int) -> bool:
    """Whether slice ``k`` is known not to have been read yet."""
    if slices_read is None:
        return False
    mask = np.asarray(slices_read, dtype=bool).reshape(-1)
    return 0 <= k < mask.size and not bool(mask[k])


def _label_under(state: ViewerState, lps: np.ndarray) -> str:
    for layer in reversed(state.layers):
        if not (isinstance(layer, LabelLayer) and layer.visible):
            continue
        vol = state.volume(layer.volume_id)
        ijk = voxel_index(vol, lps)
        if ijk is None:
            continue
        value = int(vol.array[ijk[2], ijk[1], ijk[0]])
        if value > 0:
            name = next((i.name for i in layer.labels if i.value == value), "") or f"label {value}"
            return name
    return ""


def _fused_volumes(state: ViewerState) -> list[Volume]:
    """The images fused over the active one and shown now (PET over CT), bottom first."""
    return [state.volume(layer.volume_id) for layer in state.fusion_layers() if layer.visible]


def _position_text(vol: Volume, p: np.ndarray, frame_ijk: tuple[int, int, int] | None) -> str:
    """``"LPS (x, y, z) mm"`` of the cursor.  For a frame in time (``frame_ijk``) the point
    on the image plane itself: k then counts frames, its nominal spacing is no distance."""
    if frame_ijk is not None:
        i, j, _k = (float(x) for x in vol.lps_to_index(p))
        p = np.asarray(vol.index_to_lps((i, j, 0.0)), dtype=np.float64).reshape(3)
    return f"LPS ({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) {vol.metadata.length_unit}"


def status_text(
    state: ViewerState,
    view_id: str,
    lps: np.ndarray | tuple[float, float, float] | None,
    *,
    slices_read: np.ndarray | None = None,
) -> str:
    """One line for the status bar, e.g.
    ``"LPS (12.5, -40.0, 103.0) mm | voxel (40, 21, 7) | 45 HU | W/L 400/40 | zoom 100%"``.
    With a PET fused over the CT, both values under the cursor, the PET's sampled on its
    own grid (:mod:`interval.core.fusion_probe`): ``"... | CT 45 HU | PET SUVbw 3.21 | ..."``
    (``"PET -"`` outside the PET).

    ``lps`` None (cursor outside any view) gives only the window and zoom.
    ``slices_read``: while the active volume is still loading, which of its slices (k)
    have been read; a voxel on a slice not read yet shows "not loaded yet" instead of
    the placeholder value in memory (which would read as a real 0 HU).
    """
    parts: list[str] = []
    vol = state.active_volume
    if lps is not None and vol is not None:
        p = np.asarray(lps, dtype=np.float64).reshape(3)
        ijk = voxel_index(vol, p)
        frames = is_time_series(vol.metadata)
        parts.append(_position_text(vol, p, ijk if frames else None))
        if ijk is None:
            parts.append("outside the image")
            parts.extend(probe_text(f, p) for f in _fused_volumes(state))
        else:
            if frames:
                parts.append(f"pixel ({ijk[0]}, {ijk[1]})")
                parts.append(frame_text(ijk[2] + 1, vol.size_ijk[2], frame_time_s(vol.metadata, ijk[2])))
            else:
                parts.append(f"voxel ({ijk[0]}, {ijk[1]}, {ijk[2]})")
            fused = _fused_volumes(state)
            if _unread(slices_read, ijk[2]):
                parts.append("not loaded yet")
            elif fused:  # "CT -45 HU | PET SUVbw 3.21"
                parts.append(f"{modality_name(vol)} {_format_value(vol, ijk)}")
            else:
                parts.append(_format_value(vol, ijk))
            parts.extend(probe_text(f, p) for f in fused)
            label = _label_under(state, p)
            if label:
                parts.append(label)
    vid = state.active_volume_id
    layer = next(
        (lay for lay in state.layers if isinstance(lay, ImageLayer) and lay.volume_id == vid), None
    )
    if layer is not None and state.volume(vid).is_rgb:
        parts.append(COLOUR_NO_WINDOW)
    elif layer is not None:
        parts.append(window_text(state.volume(vid), layer.window.width, layer.window.center))
    if view_id != "3d":
        parts.append(f"zoom {state.view(view_id).zoom * 100:.0f}%")
    return " | ".join(parts)
