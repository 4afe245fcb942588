"""Lesions that merge and lesions that split: shapes drawn together as a smooth union.

A :class:`LesionGroup` joins two shapes with a *bridge*: the smooth minimum
(width ``w`` mm) of their signed distances, so tissue fills the space between
them wherever their surfaces are closer than about ``w / 2``.  The bridge
switches on (merge) or off (split) between two scans:

merge  two growing lesions ``a`` and ``b`` side by side, at least 6.5 mm apart
       (surface to surface, whatever their shape) at every scan before
       ``timepoint``; from that scan on a bridge joins them into one connected
       component.  Each voxel keeps the id of the lesion whose surface is
       nearest, so both ids stay in the lesion-id map.
split  one shrinking lesion made of two lobes (same id) joined by a bridge
       until ``timepoint``; from that scan on the bridge is gone and the lobes,
       at least 6.5 mm apart, are two components.

Gaps of 6.5 mm keep the parts apart (for any connectivity) on grids up to
about 4 mm in-plane.  A bridge is the narrowest (1 mm steps) that fills a
waist of radius 5 mm (less for small parts) between the two parts at the scan
where it must hold, so it stays connected on such grids.  What was actually
drawn is measured on the label maps (``LesionTruth.n_components``/``touching``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from interval.io.synthetic.lesions import (
    ORGAN_LABELS,
    PAINT_OVER,
    CoarseMap,
    HostInfo,
    LesionSpec,
    Trajectory,
    lesion_hu,
    random_rotation,
    random_shape,
    sphere_volume,
)

MIN_GAP_MM = 6.5  # surface-to-surface distance of parts that must be apart
NECK_MM = 5.0  # radius of the waist a bridge must fill


@dataclass(frozen=True)
class LesionGroup:
    """Shapes drawn as one smooth union whose bridge forms (merge) or breaks (split)."""

    kind: str  # "merge" or "split"
    lesions: tuple[int, ...]  # the two merging lesions, or the one that splits
    timepoint: int  # the first scan where they are one component (merge) / two (split)
    switch_day: float  # the bridge changes between the scan before and that scan
    bridge_before_mm: float
    bridge_after_mm: float

    def bridge(self, day: float) -> float:
        """Width (mm) of the smooth union at ``day`` (0: a plain union)."""
        return self.bridge_before_mm if day < self.switch_day else self.bridge_after_mm

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "lesions": list(self.lesions), "timepoint": self.timepoint,
                "switch_day": round(self.switch_day, 3),
                "bridge_before_mm": round(self.bridge_before_mm, 3),
                "bridge_after_mm": round(self.bridge_after_mm, 3)}

    @classmethod
    def from_dict(cls, d: dict) -> LesionGroup:
        return cls(str(d["kind"]), tuple(int(i) for i in d["lesions"]), int(d["timepoint"]),
                   float(d["switch_day"]), float(d["bridge_before_mm"]),
                   float(d["bridge_after_mm"]))

    def with_ids(self, mapping: dict[int, int]) -> LesionGroup:
        return LesionGroup(self.kind, tuple(mapping[i] for i in self.lesions), self.timepoint,
                           self.switch_day, self.bridge_before_mm, self.bridge_after_mm)


def smooth_min(a: np.ndarray, b: np.ndarray, width: float) -> np.ndarray:
    """Polynomial smooth minimum of two distance fields (plain minimum when ``width`` <= 0)."""
    m = np.minimum(a, b)
    if width <= 0:
        return m
    h = np.float32(width) - np.abs(a - b)
    np.maximum(h, 0, out=h)
    h *= h
    h *= np.float32(0.25 / width)
    m -= h
    return m


# --- placement ------------------------------------------------------------------------------

def _cap(organ: str) -> float:
    return {"liver": 1.0, "lung": 0.9}[organ]


def _grow(rng: np.random.Generator, organ: str) -> Trajectory:
    v0 = sphere_volume(rng.uniform(10, 15) * _cap(organ))
    plateau = v0 * rng.uniform(4, 9)
    rate = math.log(2) / rng.uniform(40, 80) / math.log(plateau / v0)
    return Trajectory("grow", v0, 0.0, plateau, rate)


def _shrink(rng: np.random.Generator, organ: str, diameter: float, fast: bool) -> Trajectory:
    v0 = sphere_volume(diameter * _cap(organ))
    if fast:
        return Trajectory("shrink", v0, 0.0, rate=1 / rng.uniform(25, 60),
                          floor=rng.uniform(0.25, 0.4))
    return Trajectory("shrink", v0, 0.0, rate=1 / rng.uniform(40, 90), floor=rng.uniform(0.3, 0.5))


def _part(rng: np.random.Generator, organ: str, kind: str, trajectory: Trajectory,
          hu: tuple[float, float]) -> LesionSpec:
    """A nearly round shape (placed later) with ``trajectory``."""
    coeffs, mean_f3 = random_shape(rng, rng.uniform(0.04, 0.1))
    aspect = rng.uniform(0.85, 1.0, size=3)
    aspect /= np.prod(aspect) ** (1 / 3)
    rot = random_rotation(rng)
    return LesionSpec(
        id=0, organ=organ, kind=kind, centre_body=(0.0, 0.0, 0.0),
        axes=tuple(tuple(float(v) for v in row) for row in rot),
        shape_radii=tuple(float(a) for a in aspect),  # type: ignore[arg-type]
        coeffs=coeffs, unit_volume=4 / 3 * math.pi * float(np.prod(aspect)) * mean_f3,
        hu=float(hu[0]), core_hu=float(hu[1]), trajectory=trajectory,
    )


def _moved(spec: LesionSpec, centre: np.ndarray) -> LesionSpec:
    return replace(spec, centre_body=tuple(float(v) for v in centre))


def bridge_width(a: LesionSpec, b: LesionSpec, day: float) -> float:
    """The narrowest bridge (mm, 1 mm steps) whose union of ``a`` and ``b`` at ``day``
    holds a waist of radius :data:`NECK_MM` (60 % of the smaller part if less) along
    the whole segment between their centres."""
    ca, cb = np.asarray(a.centre_body), np.asarray(b.centre_body)
    axis = (cb - ca) / np.linalg.norm(cb - ca)
    e1 = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    neck = min(NECK_MM, 0.6 * a.reach(day)[0], 0.6 * b.reach(day)[0])
    t = np.linspace(0.0, 1.0, 61)[:, None]
    line = ca + t * (cb - ca)
    pts = np.concatenate([line + neck * np.cos(q) * e1 + neck * np.sin(q) * e2
                          for q in np.linspace(0, 2 * math.pi, 8, endpoint=False)] + [line])
    coords = tuple(pts[:, n].astype(np.float32) for n in range(3))
    da, db = a.field(coords, day), b.field(coords, day)  # type: ignore[arg-type]
    if da is None or db is None:
        raise ValueError("both parts must be present where the bridge holds")
    for width in np.arange(1.0, 120.0, 1.0):
        if np.all(smooth_min(da[0], db[0], float(width)) < -0.3):
            return float(width)
    return 120.0


def _direction(rng: np.random.Generator) -> np.ndarray:
    """A unit vector close to the axial plane (the gap then lies across the finer axes)."""
    theta, phi = rng.uniform(0, 2 * math.pi), rng.uniform(-0.25, 0.25)
    return np.array([math.cos(phi) * math.cos(theta), math.cos(phi) * math.sin(theta), math.sin(phi)])


def _fits_pair(coarse: CoarseMap, organ: str, parts: list[LesionSpec], days: tuple[int, ...],
               avoid: tuple[LesionSpec, ...]) -> bool:
    host, outer = ORGAN_LABELS[organ], PAINT_OVER[organ]
    for p in parts:
        extent = p.max_extent(days) + 2.5
        if not coarse.fits(np.array(p.centre_body), extent, host, outer):
            return False
        for other in avoid:
            gap = np.linalg.norm(np.array(p.centre_body) - np.array(other.centre_body))
            if gap < extent + other.max_extent(days) + 4:
                return False
    a, b = (np.array(p.centre_body) for p in parts)
    return all(coarse.fits(a + t * (b - a), 8.0, host, (host,)) for t in (0.3, 0.5, 0.7))


def place_merge(rng: np.random.Generator, days: tuple[int, ...], timepoint: int, host: HostInfo,
                coarse: CoarseMap, avoid: tuple[LesionSpec, ...]
                ) -> tuple[list[LesionSpec], LesionGroup] | None:
    """Two growing lesions that are apart before scan ``timepoint`` and one component from it on."""
    before, at = float(days[timepoint - 1]), float(days[timepoint])
    candidates = {organ: coarse.points(ORGAN_LABELS[organ]) for organ in ("liver", "lung")}
    for _attempt in range(150):
        organ = "liver" if rng.random() < 0.75 else "lung"
        pts = candidates[organ]
        if len(pts) == 0:
            continue
        a = _part(rng, organ, "grow", _grow(rng, organ), lesion_hu(rng, organ, host))
        b = _part(rng, organ, "grow", _grow(rng, organ), lesion_hu(rng, organ, host))
        distance = a.reach(before)[1] + b.reach(before)[1] + rng.uniform(MIN_GAP_MM, 9.0)
        u = _direction(rng)
        mid = pts[int(rng.integers(len(pts)))] + rng.uniform(-0.5, 0.5, size=3) * coarse.step
        parts = [_moved(a, mid - u * distance / 2), _moved(b, mid + u * distance / 2)]
        if not _fits_pair(coarse, organ, parts, days, avoid):
            continue
        width = bridge_width(parts[0], parts[1], at)
        group = LesionGroup("merge", (0, 0), timepoint, (before + at) / 2, 0.0, width)
        return parts, group
    return None


def place_split(rng: np.random.Generator, days: tuple[int, ...], timepoint: int, host: HostInfo,
                coarse: CoarseMap, avoid: tuple[LesionSpec, ...]
                ) -> tuple[list[LesionSpec], LesionGroup] | None:
    """One shrinking lesion of two lobes: one component before scan ``timepoint``, two from it on."""
    before, at = float(days[timepoint - 1]), float(days[timepoint])
    candidates = {organ: coarse.points(ORGAN_LABELS[organ]) for organ in ("liver", "lung")}
    for _attempt in range(150):
        organ = "liver" if rng.random() < 0.75 else "lung"
        pts = candidates[organ]
        if len(pts) == 0:
            continue
        hu = lesion_hu(rng, organ, host)
        d0 = rng.uniform(18, 28)
        main = _part(rng, organ, "shrink", _shrink(rng, organ, d0, fast=False), hu)
        lobe = _part(rng, organ, "shrink", _shrink(rng, organ, d0 * rng.uniform(0.65, 0.9), True), hu)
        distance = main.reach(at)[1] + lobe.reach(at)[1] + rng.uniform(MIN_GAP_MM, 9.0)
        u = _direction(rng)
        mid = pts[int(rng.integers(len(pts)))] + rng.uniform(-0.5, 0.5, size=3) * coarse.step
        main, lobe = _moved(main, mid - u * distance / 2), _moved(lobe, mid + u * distance / 2)
        if not _fits_pair(coarse, organ, [main, lobe], days, avoid):
            continue
        width = bridge_width(main, lobe, before)
        spec = replace(main, lobes=(lobe,))
        group = LesionGroup("split", (0,), timepoint, (before + at) / 2, width, 0.0)
        return [spec], group
    return None
