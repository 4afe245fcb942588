"""Window/level: CT presets, automatic windows for MR and others, and the grey mapping.

Grey mapping (:func:`apply_window`) follows DICOM PS3.3 C.11.2.1.2.1, the
LINEAR VOI function, with ``ymin = 0`` and ``ymax = 255``::

    if   x <= c - 0.5 - (w - 1) / 2:  y = 0
    elif x >  c - 0.5 + (w - 1) / 2:  y = 255
    else: y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255

and the result is rounded half up (``floor(y + 0.5)``) to uint8.  So
``x = c - w/2`` gives 0, ``x = c + w/2 - 1`` and above give 255, and the
centre gives ``round(127.5 + 127.5 / (w - 1))`` (128 for any ``w`` > 255).
``exact=True`` (or any ``w < 1``, where LINEAR is undefined) uses LINEAR_EXACT
(C.11.2.1.3.2): ``y = ((x - c) / w + 0.5) * 255`` clipped to 0..255.
``function="SIGMOID"`` and ``"TABLE"`` (a VOI LUT table) follow
:mod:`interval.core.voi`.  ``invert=True`` returns ``255 - y`` (display
inversion, as for MONOCHROME1).
NaN maps to 0 (before inversion).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from interval.core.metadata import VoiLut, WindowLevel
from interval.core.voi import voi_grey
from interval.core.volume import Volume

# CT presets in HU as (center, width).  Values follow Radiopaedia "Windowing (CT)"
# (https://radiopaedia.org/articles/windowing-ct): brain W80 L40; subdural W130-300
# L50-100 (we use the common 215/75); stroke W40 L40 and the narrow W8 L32 of
# Lev et al., Radiology 1999;213:150; lungs W1500 L-600; mediastinum W350 L50;
# abdominal soft tissue W400 L40 (Radiopaedia W400 L50; 3D Slicer's CT-Abdomen
# preset is W350 L40); liver W160 L60 (common PACS value; Radiopaedia W150 L30);
# bone W1800 L400 (3D Slicer's CT-Bone preset is W1000 L400).
CT_PRESETS: tuple[WindowLevel, ...] = (
    WindowLevel(40.0, 80.0, "Brain"),
    WindowLevel(75.0, 215.0, "Subdural"),
    WindowLevel(40.0, 40.0, "Stroke"),
    WindowLevel(32.0, 8.0, "Stroke (narrow)"),
    WindowLevel(-600.0, 1500.0, "Lung"),
    WindowLevel(50.0, 350.0, "Mediastinum"),
    WindowLevel(40.0, 400.0, "Abdomen"),
    WindowLevel(60.0, 160.0, "Liver"),
    WindowLevel(400.0, 1800.0, "Bone"),
)

DEFAULT_CT_WINDOW = WindowLevel(40.0, 400.0, "Abdomen")
_MAX_SAMPLES = 1_000_000
_BACKGROUND_FRACTION = 0.1  # of the robust range: below it lies the background
_MIN_BODY_SAMPLES = 16  # fewer body voxels than this: too few to judge a window by
_MIN_GRADED = 0.02  # a window that grades fewer of the body's voxels shows almost nothing
_MIN_WIDTH_FRACTION = 0.01  # of the body's robust range: narrower is a tag error (non-HU)
_REJECTED = " (DICOM window implausible)"


def preset(name: str) -> WindowLevel:
    """The CT preset called ``name`` (case-insensitive); KeyError lists the known ones."""
    for wl in CT_PRESETS:
        if wl.name.lower() == name.strip().lower():
            return wl
    known = ", ".join(wl.name for wl in CT_PRESETS)
    raise KeyError(f"unknown window preset {name!r}; known presets: {known}")


def presets_for(modality: str) -> tuple[WindowLevel, ...]:
    """Presets offered for a modality: the CT list for CT, none otherwise."""
    return CT_PRESETS if modality.upper() == "CT" else ()


def _subsample(array: np.ndarray, max_samples: int) -> np.ndarray:
    """A strided view with at most about ``max_samples`` elements (no full copy)."""
    step = 1
    while array[::step, ::step, ::step].size > max_samples:
        step += 1
    return array[::step, ::step, ::step]


def _sample(array: np.ndarray, max_samples: int) -> np.ndarray:
    """The finite values (float64, flat) of a strided subsample of ``array``."""
    if array.ndim == 3:
        sample = _subsample(array, max_samples)
    else:
        flat = array.reshape(-1)
        sample = flat[:: max(1, flat.size // max_samples)]
    values = sample.astype(np.float64, copy=False).ravel()
    return values[np.isfinite(values)]


def _span(lo: float, hi: float, integer: bool, name: str) -> WindowLevel:
    """The window from ``lo`` (black) to ``hi`` (white); width 1 when ``hi <= lo``."""
    if hi <= lo:
        return WindowLevel(float(lo), 1.0, name)  # the constant value shows white
    # DICOM LINEAR maps [c - w/2, c + w/2 - 1] onto 0..255; integers keep that meaning.
    if integer:
        return WindowLevel((float(lo) + float(hi) + 1.0) / 2.0, float(hi - lo) + 1.0, name)
    return WindowLevel((float(lo) + float(hi)) / 2.0, float(hi - lo), name)


def auto_window(
    array: np.ndarray,
    low_percentile: float = 1.0,
    high_percentile: float = 99.0,
    *,
    ignore_zero: bool = True,
    max_samples: int = _MAX_SAMPLES,
) -> WindowLevel:
    """A window spanning the given percentiles of a strided subsample of ``array``.

    Zeros (background outside the body in MR) and non-finite values are ignored
    when ``ignore_zero``.  An empty or constant image gives a width-1 window.
    """
    values = _sample(array, max_samples)
    if ignore_zero:
        values = values[values != 0]
    if values.size == 0:
        return WindowLevel(0.5, 1.0, "Auto")
    lo, hi = np.percentile(values, [low_percentile, high_percentile])
    return _span(lo, hi, bool(np.issubdtype(array.dtype, np.integer)), "Auto")


def body_values(
    array: np.ndarray, *, hu: bool = False, max_samples: int = _MAX_SAMPLES
) -> np.ndarray:
    """Sampled values of the voxels inside the body (flat float64; may be empty).

    Background is what lies below 10 % of the robust range (2nd to 98th
    percentile) of a strided subsample (FSL BET's rough threshold); zeros are
    dropped first unless ``hu`` (0 HU is water, but zero-filled MR background).
    """
    values = _sample(array, max_samples)
    if not hu:
        values = values[values != 0]
    if values.size == 0:
        return values
    lo, hi = np.percentile(values, [2.0, 98.0])
    if hi <= lo:  # background fills more than 98 %: the body is in the top 2 %
        hi = float(values.max())
    if hi <= lo:
        return values  # constant: nothing to separate
    return values[values > lo + _BACKGROUND_FRACTION * (hi - lo)]


def body_window(
    array: np.ndarray, *, hu: bool = False, name: str = "Auto", max_samples: int = _MAX_SAMPLES
) -> WindowLevel:
    """The image-based window: 1st to 99th percentile of the voxels in the body.

    See :func:`body_values`; falls back to :func:`auto_window` when no voxel
    stands out from the background.
    """
    body = body_values(array, hu=hu, max_samples=max_samples)
    if body.size == 0:
        return replace(auto_window(array, ignore_zero=not hu, max_samples=max_samples), name=name)
    lo, hi = np.percentile(body, [1.0, 99.0])
    return _span(lo, hi, bool(np.issubdtype(array.dtype, np.integer)), name)


def window_is_plausible(
    wl: WindowLevel, array: np.ndarray, *, hu: bool = False, max_samples: int = _MAX_SAMPLES
) -> bool:
    """Whether ``wl`` shows the body of ``array`` at all.

    Not plausible when the body's robust range (1st-99th percentile of
    :func:`body_values`) lies entirely outside the window, when the window grades
    (neither black nor white) under 2 % of the body's voxels, or when it is under
    1 % of that range wide.  HU windows are absolute and set by protocol (a lung
    window targets air, a stroke window is 8 HU wide): with ``hu`` all voxels
    count, background included, and no width is too narrow.  An image without
    a body to judge by gives True.
    """
    if not (np.isfinite(wl.center) and np.isfinite(wl.width) and wl.width > 0):
        return False
    body = _sample(array, max_samples) if hu else body_values(array, max_samples=max_samples)
    if body.size < _MIN_BODY_SAMPLES:
        return True
    lo, hi = (float(v) for v in np.percentile(body, [1.0, 99.0]))
    if hi <= lo:
        return True
    if wl.high <= lo or wl.low >= hi:
        return False
    graded = float(np.mean((body > wl.low) & (body < wl.high)))
    if graded < _MIN_GRADED:
        return False
    return hu or wl.width >= _MIN_WIDTH_FRACTION * (hi - lo)


COLOUR_WINDOW = WindowLevel(127.5, 256.0, "colour")
"""The window a colour image's layer holds: unused (colour has no window/level)."""


def initial_window(volume: Volume) -> WindowLevel:
    """The window shown when a volume opens (and by "Series default" and Reset).

    The DICOM default window (Window Center/Width) when it shows the body
    (:func:`window_is_plausible`); otherwise the CT abdomen window for CT in HU;
    otherwise the image-based :func:`body_window`.  A rejected DICOM window is
    said in the name ("Auto (DICOM window implausible)").  A colour image, shown as
    it is, gets the neutral :data:`COLOUR_WINDOW`.
    """
    if volume.is_rgb:
        return COLOUR_WINDOW
    meta = volume.metadata
    hu = _in_hu(volume)
    wl = meta.default_window
    rejected = wl is not None
    if wl is not None and window_is_plausible(wl, volume.array, hu=hu):
        return wl
    if hu:
        return replace(DEFAULT_CT_WINDOW, name=f"Abdomen{_REJECTED}") if rejected else DEFAULT_CT_WINDOW
    return image_window(volume, name=f"Auto{_REJECTED}" if rejected else "Auto")


def image_window(volume: Volume, name: str = "Auto") -> WindowLevel:
    """The image-based window of ``volume`` (:func:`body_window`; the "Auto" entry)."""
    if volume.is_rgb:
        return COLOUR_WINDOW
    return body_window(volume.array, hu=_in_hu(volume), name=name)


def _in_hu(volume: Volume) -> bool:
    meta = volume.metadata
    return meta.modality.upper() == "CT" or meta.units.upper() == "HU"


def apply_window(
    values: np.ndarray | float,
    center: float,
    width: float,
    *,
    invert: bool = False,
    exact: bool = False,
    function: str = "LINEAR",
    lut: VoiLut | None = None,
) -> np.ndarray:
    """Map ``values`` to grey levels 0..255 (uint8) with a DICOM VOI function.

    ``function`` is LINEAR (the module docstring's formula), LINEAR_EXACT (also
    with ``exact``), SIGMOID or TABLE (the VOI LUT table ``lut``); see
    :mod:`interval.core.voi`.  Integer arrays of 16 bits or fewer go through a
    lookup table (same result, faster).
    """
    arr = np.asarray(values)
    if not np.isfinite(center) or not np.isfinite(width):
        raise ValueError("window center and width must be finite")
    wl = WindowLevel(center, width, function="LINEAR_EXACT" if exact else function.upper(), lut=lut)
    if arr.dtype.kind in "iub" and arr.dtype.itemsize <= 2 and arr.size > 65536:
        if arr.dtype.kind == "b":
            arr = arr.view(np.uint8)
        unsigned = np.dtype(f"u{arr.dtype.itemsize}")
        # The LUT is indexed by the bit pattern, so signed data needs no widening copy.
        lut_x = np.arange(2 ** (8 * arr.dtype.itemsize), dtype=unsigned).view(arr.dtype)
        table = voi_grey(lut_x.astype(np.float64), wl).astype(np.uint8)
        if invert:
            table = 255 - table
        return table[arr.view(unsigned)]
    x = arr.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore"):
        y = voi_grey(x, wl)
    y = np.nan_to_num(y, nan=0.0)
    out = y.astype(np.uint8)
    return 255 - out if invert else out
