"""Measurements: rulers in mm, ellipse/rectangle ROIs with statistics, per-series lists.

ROI statistics are computed on the plane the ROI was drawn on: the volume is
resliced there (nearest neighbour, pixels anchored on voxel centres, pixel size
the voxel spacing along each screen axis, see
:func:`~interval.core.planes.spacing_along`) and every pixel whose centre lies
inside the shape and inside the volume counts.  For a plane parallel to the
volume axes each pixel is one voxel, so the numbers are those of the voxels
inside.  ``sd`` is the population standard deviation (ddof=0),
``area_mm2`` the counted pixels times the pixel area.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


def roi_values(volume: Volume, roi: Roi) -> tuple[np.ndarray, float]:
    """Values of the pixels counted by :func:`roi_stats`, and the pixel area (mm2)."""
    spacing = (spacing_along(volume, roi.plane.right), spacing_along(volume, roi.plane.down))
    grid = slice_grid(volume, roi.plane, spacing, bounds=roi.bounds())
    image = reslice(volume, grid, order="nearest")
    rows, cols = np.indices(grid.shape)
    mask = roi.contains(grid.pixel_to_uv(rows, cols)) & image.inside
    return image.pixels[mask], grid.pixel_area_mm2


def roi_stats(volume: Volume, roi: Roi) -> RoiStats:
    """Mean, SD (ddof=0), min, max and area of ``volume`` inside ``roi``."""
    values, pixel_area = roi_values(volume, roi)
    n = int(values.size)
    if n == 0:
        nan = float("nan")
        return RoiStats(nan, nan, nan, nan, 0.0, 0)
    v = values.astype(np.float64, copy=False)
    return RoiStats(
        float(v.mean()), float(v.std()), float(v.min()), float(v.max()), n * pixel_area, n
    )


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


_CSV_COLUMNS = (
    "id", "series_uid", "kind", "label", "length_mm", "area_mm2", "mean", "sd", "min", "max",
    "n_pixels", "x1", "y1", "z1", "x2", "y2", "z2",
)


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
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=_CSV_COLUMNS)
                writer.writeheader()
                writer.writerows(self.rows())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def _num(x: float | None, digits: int = 4) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _safe_text(text: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in free text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _row(series_uid: str, m: Measurement) -> dict[str, str]:
    """CSV fields; x1..z2 are ruler ends, or for ROIs two opposite corners of the bounding box."""
    row = dict.fromkeys(_CSV_COLUMNS, "")
    row.update(id=str(m.id), series_uid=series_uid, kind=m.kind, label=_safe_text(m.label))
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
