"""Key images: each lesion at each timepoint, cropped, with its outline and RECIST axes.

For a lesion seen at a timepoint the crop is the slice of its RECIST long axis (the
component grid's slice, shown in the standard view closest to it: axial for an axial
series), centred on the long axis, with

* the outline of the lesion's component(s) (orange),
* the long axis (yellow) and short axis (cyan) of every component measured on that slice,
* a scale bar, orientation letters and a caption (lesion, timepoint, date, sizes).

For a lesion not seen (absent, or merged into another) the crop is centred on where it
would be: its baseline-space position from the nearest timepoint it was seen at, mapped
through the registration into this timepoint, captioned "not seen".  When that position is
unknown (failed registration) the tile says so and shows no image.

Every crop of one lesion covers the same field of view (from the lesion's largest size over
time), so the tiles of a row compare at a glance.  Views follow the radiological convention
of :mod:`interval.core.planes` (patient left on image right, anterior at top): the image is
resampled in patient space, so any acquisition direction shows the same way.

Grey levels: the series' DICOM default window, else the CT abdomen window (W400 L40) for
CT, else the 1st-99th percentile of the crop.  Drawing uses Pillow only (no global state;
safe in worker threads).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from interval.core.metadata import WindowLevel
from interval.core.planes import (
    Plane,
    align_to_volume,
    reslice,
    screen_markers,
    slice_grid,
    view_plane,
)
from interval.core.volume import Volume
from interval.core.window_presets import DEFAULT_CT_WINDOW, apply_window, auto_window
from interval.longitudinal.model import LongitudinalReport, Track
from interval.longitudinal.report_common import (
    LesionAtTimepoint,
    apply_matrix,
    baseline_to_timepoint,
    fmt,
    lesion_at,
    lesion_title,
    shown_tracks,
    timepoint_title,
)

OUTLINE = (255, 140, 0)
LONG_AXIS = (255, 235, 0)
SHORT_AXIS = (0, 210, 255)
TEXT = (255, 255, 255)
CAPTION_BG = (24, 24, 24)
MIN_FOV_MM = 40.0
MAX_FOV_MM = 240.0


@dataclass(frozen=True)
class KeyImage:
    """One tile: the PNG, and what it shows."""

    lesion_id: str
    timepoint: int
    png: bytes
    caption: str  # the caption lines, joined by newlines (also drawn on the image)
    seen: bool
    width: int
    height: int

    @property
    def name(self) -> str:
        """A file name: ``L1_tp1.png`` for the baseline (timepoints numbered from 1 in file
        names, as the pipeline's other outputs; lesion ids made safe for file names)."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.lesion_id)
        return f"{safe}_tp{self.timepoint + 1}.png"


@dataclass(frozen=True)
class Crop:
    """A resampled crop (before drawing): grey levels, the lesion mask and axes in pixels."""

    grey: np.ndarray  # uint8 (rows, cols)
    mask: np.ndarray  # bool (rows, cols): the lesion's components
    axes: tuple[tuple[tuple[float, float], tuple[float, float], bool], ...]  # (row, col) ends, long?
    mm_per_pixel: float
    markers: dict[str, str]  # orientation letters at the left/right/top/bottom edges


def render_key_images(
    report: LongitudinalReport,
    volumes: Sequence[Volume | None],
    component_maps: Sequence[Volume | None],
    *,
    include_non_targets: bool = True,
    size_px: int = 200,
) -> list[KeyImage]:
    """Tiles for every shown lesion (targets first) at every timepoint.

    ``volumes[t]`` is timepoint ``t``'s image and ``component_maps[t]`` its component map as
    a :class:`Volume` (any grid; placed by patient position).  A timepoint without an image
    gives tiles that say so.
    """
    out = []
    tracks = shown_tracks(report, include_non_targets=include_non_targets)
    for track in tracks:
        items = [lesion_at(report, track, tp.index) for tp in report.timeline.timepoints]
        fov = field_of_view_mm(items)
        for item in items:
            t = item.timepoint
            image = volumes[t] if t < len(volumes) else None
            comps = component_maps[t] if t < len(component_maps) else None
            out.append(render_tile(report, item, image, comps, fov_mm=fov, size_px=size_px))
    return out


def field_of_view_mm(items: Sequence[LesionAtTimepoint]) -> float:
    """Side of the square crop: twice the lesion's largest size over time plus a margin."""
    sizes = [m.max_diameter_3d_mm for it in items for m in it.measurements]
    sizes += [m.long_axis.length_mm for it in items for m in it.measurements]
    largest = max(sizes, default=0.0)
    return float(np.clip(2.0 * largest + 20.0, MIN_FOV_MM, MAX_FOV_MM))


def render_tile(report: LongitudinalReport, item: LesionAtTimepoint, image: Volume | None,
                components: Volume | None, *, fov_mm: float, size_px: int = 200) -> KeyImage:
    """One tile (see the module docstring)."""
    title = f"{lesion_title(item.track)} ({item.track.role})"
    when = timepoint_title(report, item.timepoint)
    crop = None
    if image is not None:
        crop = lesion_crop(report, item, image, components, fov_mm=fov_mm, size_px=size_px)
    if crop is None:
        why = ("no image for this timepoint" if image is None else
               "not seen; its position here is unknown (no usable registration)")
        lines = [title, when, why]
        return _tile(None, lines, item, size_px)
    if item.seen:
        sizes = f"LA {fmt(item.long_axis_mm)} mm  SA {fmt(item.short_axis_mm)} mm"
        if item.track.is_lymph_node:
            sizes = f"SA {fmt(item.short_axis_mm)} mm  LA {fmt(item.long_axis_mm)} mm"
        extra = f"{sizes}  {fmt(item.volume_ml, 2)} mL"
        if len(item.measurements) > 1:
            extra += f"  ({len(item.measurements)} parts)"
    elif item.merged_into:
        extra = f"merged into {item.merged_into}"
    else:
        extra = "not seen"
    return _tile(crop, [title, when, extra], item, size_px)


def lesion_crop(report: LongitudinalReport, item: LesionAtTimepoint, image: Volume,
                components: Volume | None, *, fov_mm: float, size_px: int = 200) -> Crop | None:
    """The resampled crop of ``item`` on ``image`` (``None``: no position to show)."""
    plane = tile_plane(report, item, image, components)
    if plane is None:
        return None
    px = fov_mm / size_px
    half = fov_mm / 2.0
    grid = slice_grid(image, plane, spacing=px, bounds=(-half, half, -half, half))
    pixels = reslice(image, grid, order="linear")
    window = _window(image, pixels.pixels[pixels.inside])
    grey = apply_window(pixels.pixels, window.center, window.width)
    grey = np.where(pixels.inside, grey, 0).astype(np.uint8)
    mask = np.zeros(grid.shape, dtype=bool)
    axes: list[tuple[tuple[float, float], tuple[float, float], bool]] = []
    if item.seen and components is not None:
        labels = reslice(components, grid, order="nearest")
        mask = np.isin(labels.pixels, np.asarray(item.components)) & labels.inside
        tolerance = 0.5 * _slice_spacing(components, plane)
        for m in item.measurements:
            for ax, is_long in ((m.long_axis, True), (m.short_axis, False)):
                ends = np.asarray([ax.start_lps, ax.end_lps], dtype=np.float64)
                if np.all(np.abs(plane.distance(ends)) <= tolerance + 1e-6):
                    rc = grid.uv_to_pixel(plane.to_uv(ends))
                    axes.append(((float(rc[0, 0]), float(rc[0, 1])),
                                 (float(rc[1, 0]), float(rc[1, 1])), is_long))
    return Crop(grey, mask, tuple(axes), px, screen_markers(plane))


def tile_plane(report: LongitudinalReport, item: LesionAtTimepoint, image: Volume,
               components: Volume | None) -> Plane | None:
    """The display plane through the lesion (seen) or its mapped position (not seen)."""
    main = item.main if item.seen else None
    reference = components if components is not None else image
    if main is not None:
        ends = np.asarray([main.long_axis.start_lps, main.long_axis.end_lps], dtype=np.float64)
        centre = ends.mean(axis=0)
    else:
        centre = _mapped_position(report, item)
        if centre is None:
            return None
    normal = reference.direction[:, 2] / np.linalg.norm(reference.direction[:, 2])
    kind = ("sagittal", "coronal", "axial")[int(np.argmax(np.abs(normal)))]
    return align_to_volume(view_plane(kind, centre), reference)


def _mapped_position(report: LongitudinalReport, item: LesionAtTimepoint) -> np.ndarray | None:
    """Where a lesion not seen at ``item.timepoint`` would be, in that timepoint's LPS."""
    track: Track = item.track
    seen_at = [t for t, comps in track.members.items()
               if comps and t not in track.merged_into and t != item.timepoint]
    for t in sorted(seen_at, key=lambda s: (abs(s - item.timepoint), s > item.timepoint)):
        base = lesion_at(report, track, t).centroid_baseline_lps
        if base is None:
            continue
        matrix = baseline_to_timepoint(report, item.timepoint)
        if matrix is None:
            return None
        return apply_matrix(matrix, base)
    return None


def _slice_spacing(volume: Volume, plane: Plane) -> float:
    """Distance between the volume's slices along the plane normal (mm)."""
    steps = np.abs(volume.direction.T @ plane.normal) * np.asarray(volume.spacing)
    return float(steps.max())


def _window(image: Volume, values: np.ndarray) -> WindowLevel:
    meta = image.metadata
    wl = meta.default_window
    if wl is not None and math.isfinite(wl.center) and math.isfinite(wl.width) and wl.width > 0:
        return wl
    if meta.modality.upper() == "CT" or meta.units.upper() == "HU":
        return DEFAULT_CT_WINDOW
    return auto_window(values.reshape(-1), ignore_zero=False)


# --- drawing ------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it, thickened to about 2 pixels."""
    if not mask.any():
        return mask
    padded = np.pad(mask, 1)
    inner = (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1]
             & padded[1:-1, :-2] & padded[1:-1, 2:])
    edge = mask & ~inner
    p = np.pad(edge, 1)
    return (p[1:-1, 1:-1] | p[:-2, 1:-1] | p[1:-1, :-2]) & mask


def _nice_length(fov_mm: float) -> float:
    target = fov_mm / 4.0
    for v in (1, 2, 5, 10, 20, 25, 50, 100, 200):
        if v >= target * 0.6:
            return float(v)
    return 200.0


def _tile(crop: Crop | None, lines: list[str], item: LesionAtTimepoint, size_px: int) -> KeyImage:
    font = _font(11)
    line_h = 14
    caption_h = line_h * len(lines) + 6
    if crop is not None:
        rows, cols = crop.grey.shape
    else:
        rows = cols = size_px
    img = Image.new("RGB", (cols, rows + caption_h), CAPTION_BG)
    if crop is not None:
        rgb = np.repeat(crop.grey[:, :, None], 3, axis=2)
        rgb[_outline(crop.mask)] = OUTLINE
        img.paste(Image.fromarray(rgb, "RGB"), (0, 0))
        draw = ImageDraw.Draw(img)
        for (r0, c0), (r1, c1), is_long in crop.axes:
            draw.line([(c0, r0), (c1, r1)], fill=LONG_AXIS if is_long else SHORT_AXIS, width=2)
        _scale_bar(draw, crop, rows, cols, font)
        for edge, xy, anchor in (("left", (3, rows / 2), "lm"), ("right", (cols - 3, rows / 2), "rm"),
                                 ("top", (cols / 2, 3), "mt")):
            draw.text(xy, crop.markers[edge], fill=TEXT, font=font, anchor=anchor)
    else:
        draw = ImageDraw.Draw(img)
        draw.rectangle([0, 0, cols - 1, rows - 1], fill=(60, 60, 60))
        draw.text((cols / 2, rows / 2), "not shown", fill=TEXT, font=font, anchor="mm")
    for n, text in enumerate(lines):
        draw.text((4, rows + 3 + n * line_h), _fit(draw, text, font, cols - 8), fill=TEXT,
                  font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=3)
    return KeyImage(item.track.lesion_id, item.timepoint, buf.getvalue(), "\n".join(lines),
                    item.seen, img.width, img.height)


def _scale_bar(draw: ImageDraw.ImageDraw, crop: Crop, rows: int, cols: int, font) -> None:
    fov = crop.mm_per_pixel * cols
    length_mm = _nice_length(fov)
    length_px = length_mm / crop.mm_per_pixel
    x1 = cols - 8
    x0 = x1 - length_px
    y = rows - 10
    draw.line([(x0, y), (x1, y)], fill=TEXT, width=3)
    draw.text(((x0 + x1) / 2, y - 3), f"{length_mm:g} mm", fill=TEXT, font=font, anchor="mb")


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> str:
    """``text`` shortened with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."
