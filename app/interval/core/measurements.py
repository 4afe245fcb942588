"""Measurements: rulers in mm, ellipse/rectangle ROIs with statistics, per-series lists.

ROI statistics are computed on the plane the ROI was drawn on: the volume is
resliced there (nearest neighbour, pixels anchored on voxel centres, pixel size
the voxel spacing along each screen axis, see
:func:`~interval.core.planes.spacing_along`) and every pixel whose centre lies
inside the shape and inside the volume counts.  For a plane parallel to the
volume axes each pixel is one voxel, so the numbers are those of the voxels
inside.  ``sd`` is the population standard deviation (ddof=0),
``area_mm2`` the counted pixels times the pixel area.

On a colour image (:attr:`Volume.is_rgb`) only the area and pixel count are
given: red, green and blue are not one quantity, so mean/SD/min/max are NaN
(empty in the CSV) and the text says "colour image: no intensity statistics".
Rulers measure mm on colour images as on any other.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interval.core.atomic import atomic_open
from interval.core.observable import Signal
from interval.core.planes import Plane, reslice, slice_grid, spacing_along
from interval.core.volume import Volume

Point = tuple[float, float, float]


def distance_mm(a: Point | np.ndarray, b: Point | np.ndarray) -> float:
    """Euclidean distance between two LPS points (mm)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def _point(p: Point | np.ndarray) -> Point:
    t = tuple(float(x) for x in np.asarray(p, dtype=np.float64).reshape(3))
    if not all(math.isfinite(x) for x in t):
        raise ValueError("measurement points must be finite")
    return t  # type: ignore[return-value]


@dataclass(frozen=True)
class Ruler:
    """A straight line between two LPS points."""

    p1: Point
    p2: Point

    @property
    def length_mm(self) -> float:
        return distance_mm(self.p1, self.p2)


@dataclass(frozen=True, eq=False)
class EllipseROI:
    """An axis-aligned ellipse on ``plane``: ``center`` and ``radii`` in screen mm (u, v)."""

    plane: Plane
    center: tuple[float, float]
    radii: tuple[float, float]

    def bounds(self) -> tuple[float, float, float, float]:
        (cu, cv), (ru, rv) = self.center, self.radii
        return (cu - abs(ru), cu + abs(ru), cv - abs(rv), cv + abs(rv))

    def contains(self, uv: np.ndarray) -> np.ndarray:
        """Mask of screen points ``(..., 2)`` inside the ellipse (boundary included)."""
        ru, rv = abs(self.radii[0]), abs(self.radii[1])
        if ru == 0 or rv == 0:
            return np.zeros(uv.shape[:-1], dtype=bool)
        du = (uv[..., 0] - self.center[0]) / ru
        dv = (uv[..., 1] - self.center[1]) / rv
        return du * du + dv * dv <= 1.0 + 1e-9

    @property
    def shape_area_mm2(self) -> float:
        return math.pi * abs(self.radii[0] * self.radii[1])


@dataclass(frozen=True, eq=False)
class RectangleROI:
    """A rectangle on ``plane`` between two screen corners ``(u, v)`` in mm."""

    plane: Plane
    corner1: tuple[float, float]
    corner2: tuple[float, float]

    def bounds(self) -> tuple[float, float, float, float]:
        (u1, v1), (u2, v2) = self.corner1, self.corner2
        return (min(u1, u2), max(u1, u2), min(v1, v2), max(v1, v2))

    def contains(self, uv: np.ndarray) -> np.ndarray:
        umin, umax, vmin, vmax = self.bounds()
        e = 1e-9
        u, v = uv[..., 0], uv[..., 1]
        return (u >= umin - e) & (u <= umax + e) & (v >= vmin - e) & (v <= vmax + e)

    @property
    def shape_area_mm2(self) -> float:
        umin, umax, vmin, vmax = self.bounds()
        return (umax - umin) * (vmax - vmin)


Roi = EllipseROI | RectangleROI


@dataclass(frozen=True)
class RoiStats:
    """Statistics of the voxels inside an ROI (NaN when no pixel falls inside)."""

    mean: float
    sd: float
    min: float
    max: float
    area_mm2: float
    n_pixels: int
    colour: bool = False  # a colour image: area only, no intensity statistics


def roi_values(volume: Volume, roi: Roi) -> tuple[np.ndarray, float]:
    """Values of the pixels counted by :func:`roi_stats`, and the pixel area (mm2).

    For a colour image the values are rows of ``(r, g, b)``.
    """
    if volume.is_rgb:
        channels = [roi_values(_channel(volume, c), roi) for c in range(3)]
        return np.stack([v for v, _a in channels], axis=-1), channels[0][1]
    spacing = (spacing_along(volume, roi.plane.right), spacing_along(volume, roi.plane.down))
    grid = slice_grid(volume, roi.plane, spacing, bounds=roi.bounds())
    image = reslice(volume, grid, order="nearest")
    rows, cols = np.indices(grid.shape)
    mask = roi.contains(grid.pixel_to_uv(rows, cols)) & image.inside
    return image.pixels[mask], grid.pixel_area_mm2


def roi_stats(volume: Volume, roi: Roi) -> RoiStats:
    """Mean, SD (ddof=0), min, max and area of ``volume`` inside ``roi``.

    A colour image gives the area and pixel count only (the module docstring).
    """
    nan = float("nan")
    if volume.is_rgb:
        values, pixel_area = roi_values(_channel(volume, 0), roi)
        n = int(values.size)
        return RoiStats(nan, nan, nan, nan, n * pixel_area, n, colour=True)
    values, pixel_area = roi_values(volume, roi)
    n = int(values.size)
    if n == 0:
        return RoiStats(nan, nan, nan, nan, 0.0, 0)
    v = values.astype(np.float64, copy=False)
    return RoiStats(
        float(v.mean()), float(v.std()), float(v.min()), float(v.max()), n * pixel_area, n
    )


def _channel(volume: Volume, c: int) -> Volume:
    """One channel of a colour image as a grey Volume on the same grid (a view, no copy)."""
    return Volume(volume.array[..., c], volume.spacing, volume.origin, volume.direction)


@dataclass(frozen=True, eq=False)
class Measurement:
    """One entry of a :class:`MeasurementList`."""

    id: int
    shape: Ruler | EllipseROI | RectangleROI
    label: str = ""
    stats: RoiStats | None = None

    @property
    def kind(self) -> str:
        return {Ruler: "ruler", EllipseROI: "ellipse", RectangleROI: "rectangle"}[type(self.shape)]


@dataclass(frozen=True)
class MeasurementsChanged:
    series_uid: str


CSV_COLUMNS = (
    "id", "series_uid", "kind", "label", "length_mm", "area_mm2", "mean", "sd", "min", "max",
    "n_pixels", "x1", "y1", "z1", "x2", "y2", "z2",
)
# with the series' name and units (MeasurementBook rows given the series names)
NAMED_CSV_COLUMNS = (*CSV_COLUMNS[:2], "series", "units", *CSV_COLUMNS[2:])


class MeasurementList:
    """The measurements of one series; ``changed`` fires after every edit."""

    def __init__(self, series_uid: str = "") -> None:
        self.series_uid = series_uid
        self.changed: Signal[MeasurementsChanged] = Signal("measurements")
        self._items: dict[int, Measurement] = {}
        self._next_id = 1

    def _add(self, shape: Ruler | Roi, label: str, stats: RoiStats | None) -> Measurement:
        m = Measurement(self._next_id, shape, label, stats)
        self._next_id += 1
        self._items[m.id] = m
        self.changed.emit(MeasurementsChanged(self.series_uid))
        return m

    def add_ruler(self, p1: Point | np.ndarray, p2: Point | np.ndarray, label: str = "") -> Measurement:
        """Add a ruler between two LPS points."""
        return self._add(Ruler(_point(p1), _point(p2)), label, None)

    def add_roi(self, volume: Volume, roi: Roi, label: str = "") -> Measurement:
        """Add an ROI with its statistics on ``volume``."""
        return self._add(roi, label, roi_stats(volume, roi))

    def set_label(self, measurement_id: int, label: str) -> Measurement:
        """Rename a measurement (KeyError if unknown); its id and numbers are kept."""
        old = self._items[measurement_id]
        if old.label == label:
            return old
        new = Measurement(old.id, old.shape, str(label), old.stats)
        self._items[measurement_id] = new
        self.changed.emit(MeasurementsChanged(self.series_uid))
        return new

    def remove(self, measurement_id: int) -> None:
        """Delete one measurement (KeyError if unknown)."""
        del self._items[measurement_id]
        self.changed.emit(MeasurementsChanged(self.series_uid))

    def clear(self) -> None:
        if self._items:
            self._items.clear()
            self.changed.emit(MeasurementsChanged(self.series_uid))

    def __getitem__(self, measurement_id: int) -> Measurement:
        return self._items[measurement_id]

    def __iter__(self) -> Iterator[Measurement]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def rows(self) -> list[dict[str, str]]:
        """One CSV row per measurement (numbers as text, blank when not applicable)."""
        return [_row(self.series_uid, m) for m in self]

    def to_csv(self, path: str | Path) -> Path:
        """Write the list as CSV atomically (temporary file, then ``os.replace``)."""
        return write_csv(self.rows(), path)


def write_csv(
    rows: list[dict[str, str]], path: str | Path, columns: Sequence[str] = CSV_COLUMNS
) -> Path:
    """Write measurement ``rows`` as CSV atomically (temporary file, then ``os.replace``)."""
    target = Path(path)
    with atomic_open(target, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return target


class MeasurementBook:
    """Measurement lists per series; ``changed`` fires after an edit in any of them."""

    def __init__(self) -> None:
        self.changed: Signal[MeasurementsChanged] = Signal("measurement-book")
        self._lists: dict[str, MeasurementList] = {}

    def for_series(self, series_uid: str) -> MeasurementList:
        """The list of ``series_uid`` (created empty on first use)."""
        lst = self._lists.get(series_uid)
        if lst is None:
            lst = self._lists[series_uid] = MeasurementList(series_uid)
            lst.changed.connect(self.changed.emit)
        return lst

    def series(self) -> list[str]:
        """Series that have (or had) a list, in first-use order."""
        return list(self._lists)

    def __iter__(self) -> Iterator[MeasurementList]:
        return iter(list(self._lists.values()))

    def __len__(self) -> int:
        return sum(len(lst) for lst in self._lists.values())

    def rows(
        self, series_names: Mapping[str, tuple[str, str]] | None = None
    ) -> list[dict[str, str]]:
        """Every series' rows; ``series_names`` maps a series uid to ``(name, units)`` for
        the ``series`` and ``units`` columns (so a row can be read without the viewer)."""
        rows = [row for lst in self._lists.values() for row in lst.rows()]
        if series_names is not None:
            for row in rows:
                name, units = series_names.get(row["series_uid"], ("", ""))
                row["series"], row["units"] = safe_csv_text(name), safe_csv_text(units)
        return rows

    def to_csv(
        self, path: str | Path, series_names: Mapping[str, tuple[str, str]] | None = None
    ) -> Path:
        """Every series' measurements in one CSV, written atomically (with ``series`` and
        ``units`` columns when ``series_names`` is given)."""
        columns = CSV_COLUMNS if series_names is None else NAMED_CSV_COLUMNS
        return write_csv(self.rows(series_names), path, columns)


# --- drawing helpers (geometry for the measurement tools) ----------------------------------
def roi_from_drag(
    kind: str, plane: Plane, a: Point | np.ndarray, b: Point | np.ndarray
) -> EllipseROI | RectangleROI:
    """The ROI spanned by a drag from LPS point ``a`` to ``b`` on ``plane``.

    ``rectangle``: the two points are opposite corners; ``ellipse``: the ellipse
    inscribed in that rectangle (as OHIF and Horos draw it).
    """
    (u1, v1), (u2, v2) = plane.to_uv(np.asarray([_point(a), _point(b)]))
    if kind == "rectangle":
        return RectangleROI(plane, (float(u1), float(v1)), (float(u2), float(v2)))
    if kind == "ellipse":
        center = ((u1 + u2) / 2.0, (v1 + v2) / 2.0)
        radii = (abs(u2 - u1) / 2.0, abs(v2 - v1) / 2.0)
        return EllipseROI(plane, (float(center[0]), float(center[1])),
                          (float(radii[0]), float(radii[1])))
    raise ValueError(f"unknown ROI kind {kind!r}; expected 'ellipse' or 'rectangle'")


def outline_lps(shape: Ruler | Roi, segments: int = 72) -> np.ndarray:
    """LPS points ``(n, 3)`` of the shape's outline (closed for ROIs: last == first)."""
    if isinstance(shape, Ruler):
        return np.asarray([shape.p1, shape.p2], dtype=np.float64)
    if isinstance(shape, RectangleROI):
        umin, umax, vmin, vmax = shape.bounds()
        uv = np.array([[umin, vmin], [umax, vmin], [umax, vmax], [umin, vmax], [umin, vmin]])
    else:
        t = np.linspace(0.0, 2.0 * math.pi, segments + 1)
        uv = np.stack([shape.center[0] + abs(shape.radii[0]) * np.cos(t),
                       shape.center[1] + abs(shape.radii[1]) * np.sin(t)], axis=-1)
        uv[-1] = uv[0]
    return shape.plane.to_lps(uv[:, 0], uv[:, 1])


def lies_on_plane(shape: Ruler | Roi, plane: Plane, tolerance_mm: float) -> bool:
    """Whether a measurement belongs on ``plane`` (within ``tolerance_mm`` of it; an ROI's
    plane must also be parallel)."""
    if isinstance(shape, Ruler):
        d = np.abs(np.asarray(plane.distance(np.asarray([shape.p1, shape.p2]))))
        return bool(np.all(d <= tolerance_mm))
    if abs(float(shape.plane.normal @ plane.normal)) < 1.0 - 1e-6:
        return False
    return abs(float(plane.distance(shape.plane.origin))) <= tolerance_mm


def describe(m: Measurement, units: str = "", length_unit: str = "mm") -> str:
    """A short text for the view and the list: ``"42.1 mm"`` or ``"mean 40.2 SD 3.1 ..."``.

    ``length_unit`` "px" for an image whose pixel spacing is unknown (taken as 1): its
    lengths and areas are then in pixels and say so.
    """
    area = "px²" if length_unit == "px" else "mm²"
    if isinstance(m.shape, Ruler):
        return f"{m.shape.length_mm:.1f} {length_unit}"
    s = m.stats
    if s is None or s.n_pixels == 0:
        return "no voxels inside"
    if s.colour:
        return f"area {s.area_mm2:.1f} {area} (colour image: no intensity statistics)"
    u = f" {units}" if units else ""
    return (f"mean {s.mean:.1f}{u} SD {s.sd:.1f} min {s.min:g} max {s.max:g} "
            f"area {s.area_mm2:.1f} {area}")


def _num(x: float | None, digits: int = 4) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def safe_csv_text(text: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in free text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _row(series_uid: str, m: Measurement) -> dict[str, str]:
    """CSV fields; x1..z2 are ruler ends, or for ROIs two opposite corners of the bounding box."""
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(id=str(m.id), series_uid=series_uid, kind=m.kind, label=safe_csv_text(m.label))
    if isinstance(m.shape, Ruler):
        a, b = m.shape.p1, m.shape.p2
        row["length_mm"] = _num(m.shape.length_mm)
    else:
        umin, umax, vmin, vmax = m.shape.bounds()
        a, b = (tuple(m.shape.plane.to_lps(u, v)) for u, v in ((umin, vmin), (umax, vmax)))
    if m.stats is not None:
        s = m.stats
        row.update(
            area_mm2=_num(s.area_mm2), mean=_num(s.mean), sd=_num(s.sd), min=_num(s.min),
            max=_num(s.max), n_pixels=str(s.n_pixels),
        )
    for name, value in zip(("x1", "y1", "z1", "x2", "y2", "z2"), (*a, *b), strict=True):
        row[name] = _num(float(value), 3)
    return row
