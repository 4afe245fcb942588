"""Lymph nodes: smooth oval soft-tissue nodes (30-60 HU) in the fat beside the great vessels
and airways, normal (short axis under 10 mm) or pathological (15 mm or more).

Short axes here are nominal (of the ellipsoid); the painted voxels measure about one
voxel more (outer pixel edges, see ``lesions.axial_diameters``).

A node is an ellipsoid elongated along the body axis, so its short axis lies
in the axial plane (where RECIST measures a node).  Courses (``kind``):

``normal``        stable, short axis 5.5-8 mm
``pathological``  15.5-24 mm that shrinks (response) or grows (to at most 23.5 mm);
                  stable when there is one scan only
``enlarging``     8.5-11.5 mm at baseline, growing past 15 mm

The node is placed beside a :class:`NodeSite` (a segment of a vessel's or the
trachea's axis, and the side it lies on) where the coarse anatomy map shows fat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from interval.io.synthetic.lesions import (
    NODE,
    NODE_LABEL,
    CoarseMap,
    LesionSpec,
    Trajectory,
    random_shape,
)

COURSES = ("pathological", "normal", "enlarging")


@dataclass(frozen=True)
class NodeSite:
    """Where nodes grow: beside the segment ``p0``-``p1`` (radius mm), towards ``direction``."""

    name: str
    p0: tuple[float, float, float]
    p1: tuple[float, float, float]
    radius: float
    direction: tuple[float, float, float]
    weight: float


def sample_courses(rng: np.random.Generator, n_nodes: int | None) -> list[str]:
    """One pathological node first, then normal or enlarging ones (1-3 in all when None)."""
    n = int(rng.integers(1, 4)) if n_nodes is None else n_nodes
    courses = ["pathological"] + [str(rng.choice(["normal", "enlarging"], p=[0.55, 0.45]))
                                  for _ in range(max(n - 1, 0))]
    return courses[:n]


def _trajectory(rng: np.random.Generator, course: str, unit_volume: float,
                n_timepoints: int) -> Trajectory:
    """Volume course of a node whose short axis is ``2 * scale`` (``unit_volume`` at scale 1)."""
    vol = lambda short_axis: unit_volume * (short_axis / 2) ** 3  # noqa: E731
    if course == "normal":
        return Trajectory("stable", vol(rng.uniform(5.5, 8.0)), rate=rng.uniform(-0.05, 0.05))
    if course == "pathological" and n_timepoints < 2:
        return Trajectory("stable", vol(rng.uniform(15.5, 22.0)), rate=rng.uniform(-0.05, 0.05))
    if course == "pathological" and rng.random() < 0.5:
        return Trajectory("shrink", vol(rng.uniform(16.0, 24.0)), rate=1 / rng.uniform(40, 90),
                          floor=rng.uniform(0.25, 0.5))
    if course == "pathological":
        v0, plateau = vol(rng.uniform(15.5, 19.0)), vol(23.5)
        rate = math.log(2) / rng.uniform(50, 100) / math.log(plateau / v0)
        return Trajectory("grow", v0, 0.0, plateau, rate)
    v0, plateau = vol(rng.uniform(8.5, 11.5)), vol(rng.uniform(18.0, 23.0))
    rate = math.log(2) / rng.uniform(35, 70) / math.log(plateau / v0)
    return Trajectory("grow", v0, 0.0, plateau, rate)


def _node(rng: np.random.Generator, course: str, n_timepoints: int) -> LesionSpec:
    """A node shape (centre set later): axial radii (a >= 1, 1), long axis c along z."""
    coeffs, mean_f3 = random_shape(rng, 0.03)
    radii = (float(rng.uniform(1.0, 1.35)), 1.0, float(rng.uniform(1.2, 1.9)))
    theta = rng.uniform(0, math.pi)
    c, s = math.cos(theta), math.sin(theta)
    axes = ((c, -s, 0.0), (s, c, 0.0), (0.0, 0.0, 1.0))
    unit_volume = 4 / 3 * math.pi * radii[0] * radii[1] * radii[2] * mean_f3
    trajectory = _trajectory(rng, course, unit_volume, n_timepoints)
    hu = float(rng.uniform(30, 60))
    return LesionSpec(
        id=0, organ=NODE, kind=trajectory.kind, centre_body=(0.0, 0.0, 0.0), axes=axes,
        shape_radii=radii, coeffs=coeffs, unit_volume=unit_volume, hu=hu,
        core_hu=hu - float(rng.uniform(0, 10)), trajectory=trajectory, label=NODE_LABEL,
    )


def _extent_along(spec: LesionSpec, direction: np.ndarray, scale: float) -> float:
    """Half-width (mm) of the node's ellipsoid along ``direction`` at ``scale``."""
    axes = np.asarray(spec.axes)
    radii = np.asarray(spec.shape_radii) * scale * 1.05
    return float(np.sqrt(np.sum((direction @ axes) ** 2 * radii**2)))


def place_nodes(rng: np.random.Generator, courses: list[str], days: tuple[int, ...],
                sites: list[NodeSite], coarse: CoarseMap, zones: tuple[int, ...],
                avoid: tuple[LesionSpec, ...]) -> list[LesionSpec]:
    """A node of each course beside one of ``sites``, in fat (label 0, HU -150..-20, in
    ``zones``) on the coarse map, away from the lesions in ``avoid`` and from each other."""
    from dataclasses import replace

    weights = np.array([s.weight for s in sites], dtype=np.float64)
    weights /= weights.sum()
    ring = _ring_points()
    placed: list[LesionSpec] = []
    for course in courses:
        for _attempt in range(120):
            spec = _node(rng, course, len(days))
            site = sites[int(rng.choice(len(sites), p=weights))]
            direction = np.asarray(site.direction, dtype=np.float64)
            direction /= np.linalg.norm(direction)
            scale = max(spec.scale(d) for d in days)
            axis_point = np.asarray(site.p0) + rng.uniform(0.1, 0.9) * (
                np.asarray(site.p1) - np.asarray(site.p0))
            offset = site.radius + _extent_along(spec, direction, scale) + rng.uniform(2.0, 5.0)
            centre = axis_point + offset * direction + rng.uniform(-3, 3, size=3) * (1 - np.abs(direction))
            candidate = replace(spec, centre_body=tuple(float(v) for v in centre), site=site.name)
            if not _in_fat(candidate, scale, ring, coarse, zones):
                continue
            extent = candidate.max_extent(days)
            if any(np.linalg.norm(centre - np.asarray(o.centre_body)) < extent + o.max_extent(days) + 3
                   for o in (*avoid, *placed)):
                continue
            placed.append(candidate)
            break
    return placed


def _ring_points() -> np.ndarray:
    """Unit directions (and the centre) to probe a node's volume with."""
    i = np.arange(40) + 0.5
    phi = np.arccos(1 - 2 * i / 40)
    theta = np.pi * (1 + 5**0.5) * i
    dirs = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)
    return np.concatenate([dirs, 0.5 * dirs, np.zeros((1, 3))])


def _in_fat(spec: LesionSpec, scale: float, ring: np.ndarray, coarse: CoarseMap,
            zones: tuple[int, ...]) -> bool:
    radii = np.asarray(spec.shape_radii) * scale * 1.05
    pts = np.asarray(spec.centre_body) + (ring * radii) @ np.asarray(spec.axes).T
    if np.any(pts[:, 2] < coarse.z_range[0]) or np.any(pts[:, 2] > coarse.z_range[1]):
        return False
    found = coarse.sample(pts)
    if found is None:
        return False
    labels, hu, zone = found
    return bool(np.all(labels == 0) and np.all(np.isin(zone, zones))
                and np.all((hu > -150) & (hu < -20)))
