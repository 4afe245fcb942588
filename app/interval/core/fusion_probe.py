"""The value of a fused image (PET over CT) at a patient position, as status-bar text.

A fusion layer lies on its own grid (a PET is coarser than its CT), so the point under
the cursor is mapped through the overlay volume's own geometry
(:meth:`~interval.core.volume.Volume.lps_to_index`) and sampled there with trilinear
interpolation, as the view draws it.  A point is inside when its nearest voxel is (up to
half a voxel beyond the outer voxel centres; there the edge value is used).  No Qt.

Texts: ``"PET SUVbw 3.21"`` (SUV: the unit first, two decimals, as SUVmax is read),
``"PET 1234 Bq/mL"`` (other units after the value), ``"PET -"`` outside the PET.
"""

from __future__ import annotations

import numpy as np

from interval.core.volume import Volume

NO_VALUE = "-"
"""Said instead of a value outside the overlay's extent."""

_MODALITY_NAMES = {"PT": "PET", "NM": "NM", "CT": "CT", "MR": "MR"}


def modality_name(volume: Volume) -> str:
    """How a fused image is named in the status bar: ``"PET"`` for a PT series, else its
    modality (``"CT"``, ``"MR"``...), or ``"overlay"`` when it does not say."""
    modality = volume.metadata.modality.strip().upper()
    return _MODALITY_NAMES.get(modality, modality) or "overlay"


def sample_at(volume: Volume, lps: np.ndarray | tuple[float, float, float]) -> float | None:
    """The value of ``volume`` at LPS point ``lps`` (mm), trilinear between voxel centres;
    None outside (nearest voxel not in the array) or for a colour image."""
    if volume.is_rgb:
        return None
    ijk = np.asarray(volume.lps_to_index(np.asarray(lps, dtype=np.float64).reshape(3)))
    size = np.asarray(volume.size_ijk)
    if not np.all(np.isfinite(ijk)) or np.any(ijk < -0.5) or np.any(ijk >= size - 0.5):
        return None
    pos = np.clip(ijk, 0.0, size - 1)  # the half voxel beyond the edge takes the edge value
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, size - 1)
    f = pos - lo
    a = volume.array
    value = 0.0
    for di in (0, 1):
        wi = f[0] if di else 1.0 - f[0]
        i = hi[0] if di else lo[0]
        for dj in (0, 1):
            wj = f[1] if dj else 1.0 - f[1]
            j = hi[1] if dj else lo[1]
            for dk in (0, 1):
                wk = f[2] if dk else 1.0 - f[2]
                w = wi * wj * wk
                if w:
                    value += w * float(a[hi[2] if dk else lo[2], j, i])
    return value


def is_suv_units(units: str) -> bool:
    """Whether ``units`` are standardized uptake values (``"SUVbw"``, ``"SUV"``...)."""
    return units.strip().upper().startswith("SUV")


def format_probe_value(value: float, units: str) -> str:
    """``"SUVbw 3.21"`` for SUV; else ``"1234 Bq/mL"`` (whole numbers from 100 up, four
    significant digits below, never an exponent; the unit left out when unknown)."""
    units = units.strip()
    if is_suv_units(units):
        return f"{units} {value:.2f}"
    if abs(value) >= 100:
        text = str(int(round(value)))
    else:
        text = f"{value:.4g}"
        if "e" in text:
            text = f"{value:.6f}".rstrip("0").rstrip(".") or "0"
    return f"{text} {units}".rstrip()


def probe_text(volume: Volume, lps: np.ndarray | tuple[float, float, float]) -> str:
    """The status text of fused image ``volume`` at LPS ``lps``: ``"PET SUVbw 3.21"``,
    ``"PET 1234 Bq/mL"``, or ``"PET -"`` outside its extent."""
    value = sample_at(volume, lps)
    shown = NO_VALUE if value is None else format_probe_value(value, volume.metadata.units)
    return f"{modality_name(volume)} {shown}"
