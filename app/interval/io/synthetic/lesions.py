"""Synthetic lesions: irregular blobs in an organ whose volume follows a trajectory in time.

A lesion is a lobulated ellipsoid (an ellipsoid whose radius is modulated by a
random cubic polynomial of the direction) fixed in the body frame.  Its volume
over time follows one of these kinds (days since the baseline scan):

``grow``    Gompertz growth ``V = K exp(ln(V0/K) exp(-a t))`` (initial doubling 45-100 days)
``shrink``  response to treatment ``V = V0 (f + (1 - f) exp(-t / tau))``
``appear``  absent until an onset day between two scans, then Gompertz growth
``vanish``  ``V = V0 exp(-t / tau)``, gone once smaller than a 3 mm sphere
``stable``  a slow drift of at most 10 % a year

The shape keeps its proportions; only its scale changes with the volume.
A lesion may have extra *lobes* (same id, their own shape and course): a lesion
that splits in two is drawn that way (see :mod:`.groups`).  Lymph nodes
(:mod:`.nodes`) are smooth ellipsoids in the fat, with their own label value.

*Hard* lesions are opt-in (``hard`` in :func:`place_lesions`, for training): a
lesion may be drawn with low contrast (:func:`low_contrast_hu`) and/or centred
on its organ's border (:func:`border_points`), so part of it lies outside the
organ: a kidney lesion then bulges into the fat (or muscle) around it
(exophytic); liver and lung lesions, painted only over their organ, end flat
against its surface.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from interval.io.synthetic.grid import Box, Coords, ellipsoid_bounds

KINDS = ("grow", "shrink", "appear", "vanish", "stable")
ORGAN_LABELS = {"liver": 1, "kidney": 3, "lung": 4}
NODE = "lymph node"  # the organ of lymph-node lesions (they lie in the fat: host label 0)
HOST_LABELS = {**ORGAN_LABELS, NODE: 0}
# Labels a lesion may grow into: kidney lesions may bulge out into the fat around it.
PAINT_OVER = {"liver": (1,), "kidney": (3, 0), "lung": (4,), NODE: (0,)}
LESION_LABEL, NODE_LABEL = 9, 10  # label values painted (phantom.LESION, phantom.LYMPH_NODE)
MIN_VOLUME = math.pi / 6 * 3.0**3  # a 3 mm sphere: smaller counts as absent

# Monomials of degree 2 and 3 of the unit direction (degree 1 would only move the centre).
_MONOMIALS = (
    (2, 0, 0), (0, 2, 0), (0, 0, 2), (1, 1, 0), (1, 0, 1), (0, 1, 1),
    (3, 0, 0), (0, 3, 0), (0, 0, 3), (2, 1, 0), (2, 0, 1), (1, 2, 0),
    (0, 2, 1), (1, 0, 2), (0, 1, 2), (1, 1, 1),
)


def sphere_volume(diameter: float) -> float:
    return math.pi / 6 * diameter**3


def equivalent_diameter(volume: float) -> float:
    return (6 * volume / math.pi) ** (1 / 3) if volume > 0 else 0.0


@dataclass(frozen=True)
class Trajectory:
    """Volume (mm^3) of a lesion as a function of the day since baseline."""

    kind: str
    v0: float  # volume at day 0 (at the onset day for "appear")
    onset_day: float = 0.0
    k: float = 0.0  # Gompertz plateau
    rate: float = 0.0  # Gompertz a (1/day), or 1/tau for shrink/vanish, or yearly drift
    floor: float = 0.0  # residual fraction for "shrink"

    def volume(self, day: float) -> float:
        """Nominal volume at ``day`` (0 when absent)."""
        t = day - self.onset_day
        if t < 0:
            return 0.0
        if self.kind in ("grow", "appear"):
            v = self.k * math.exp(math.log(self.v0 / self.k) * math.exp(-self.rate * t))
        elif self.kind == "shrink":
            v = self.v0 * (self.floor + (1 - self.floor) * math.exp(-self.rate * t))
        elif self.kind == "vanish":
            v = self.v0 * math.exp(-self.rate * t)
        else:
            v = self.v0 * max(0.5, 1 + self.rate * t / 365.0)
        return v if v >= MIN_VOLUME else 0.0

    def max_volume(self, days: tuple[float, ...]) -> float:
        return max(self.volume(d) for d in days)


@dataclass(frozen=True)
class LesionSpec:
    """One lesion in the body frame (fixed in the anatomy, moving with the patient)."""

    id: int
    organ: str
    kind: str
    centre_body: tuple[float, float, float]
    axes: tuple[tuple[float, float, float], ...]  # 3x3, columns are the shape's axes
    shape_radii: tuple[float, float, float]  # radii (mm) at scale 1
    coeffs: tuple[float, ...]  # radius modulation, one per monomial
    unit_volume: float  # volume (mm^3) at scale 1
    hu: float  # mean attenuation
    core_hu: float  # attenuation of a necrotic core (used when larger than 25 mm)
    trajectory: Trajectory
    label: int = LESION_LABEL  # label value painted in the organ map
    site: str = ""  # where a lymph node lies ("left para-aortic", ...)
    lobes: tuple[LesionSpec, ...] = ()  # further parts of the same lesion (same id)
    hard: str = ""  # "", or how it was drawn hard: "contrast", "border", "contrast+border"

    @property
    def host_label(self) -> int:
        return HOST_LABELS[self.organ]

    @property
    def paint_labels(self) -> tuple[int, ...]:
        """Labels this lesion replaces where it overlaps them."""
        return PAINT_OVER[self.organ]

    @property
    def parts(self) -> tuple[LesionSpec, ...]:
        """This lesion's shapes: itself, then its lobes."""
        return (self, *self.lobes)

    def scale(self, day: float) -> float:
        v = self.trajectory.volume(day)
        return (v / self.unit_volume) ** (1 / 3) if v > 0 else 0.0

    def radii(self, day: float) -> tuple[float, float, float]:
        s = self.scale(day)
        return tuple(float(r * s) for r in self.shape_radii)  # type: ignore[return-value]

    def nominal_volume(self, day: float) -> float:
        """Analytic volume (mm^3) of all parts at ``day`` (the bridge between parts excluded)."""
        return sum(p.trajectory.volume(day) for p in self.parts)

    def reach(self, day: float) -> tuple[float, float]:
        """(smallest, largest) distance (mm) of this part's surface from its centre at ``day``."""
        s = self.scale(day)
        lo, hi = surface_range(self.coeffs)
        return s * min(self.shape_radii) * lo, s * max(self.shape_radii) * hi

    def max_extent(self, days: tuple[float, ...]) -> float:
        """The largest distance (mm) of the surface (of every part) from the centre over ``days``."""
        c = np.asarray(self.centre_body)
        out = 0.0
        for p in self.parts:
            s = max(p.scale(d) for d in days)
            own = s * max(p.shape_radii) * (1 + sum(abs(x) for x in p.coeffs))
            out = max(out, own + float(np.linalg.norm(np.asarray(p.centre_body) - c)))
        return out

    def bounds(self, day: float) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = None, None
        for p in self.parts:
            s = p.scale(day)
            bump = 1 + sum(abs(c) for c in p.coeffs)
            radii = tuple(r * s * bump for r in p.shape_radii)
            a, b = ellipsoid_bounds(p.centre_body, radii, np.array(p.axes))  # type: ignore[arg-type]
            lo = a if lo is None else np.minimum(lo, a)
            hi = b if hi is None else np.maximum(hi, b)
        return lo, hi  # type: ignore[return-value]

    def _rho_surface(self, coords: Coords, s: float) -> tuple[np.ndarray, np.ndarray]:
        """Normalised radius ``rho`` and the surface level at each point's direction."""
        x, y, z = coords
        c = self.centre_body
        dx, dy, dz = x - np.float32(c[0]), y - np.float32(c[1]), z - np.float32(c[2])
        r = np.asarray(self.axes, dtype=np.float32)
        inv = [np.float32(1.0 / (rad * s)) for rad in self.shape_radii]
        ux = (r[0, 0] * dx + r[1, 0] * dy + r[2, 0] * dz) * inv[0]
        uy = (r[0, 1] * dx + r[1, 1] * dy + r[2, 1] * dz) * inv[1]
        uz = (r[0, 2] * dx + r[1, 2] * dy + r[2, 2] * dz) * inv[2]
        rho = np.sqrt(ux * ux + uy * uy + uz * uz)
        safe = np.maximum(rho, np.float32(1e-6))
        ux /= safe
        uy /= safe
        uz /= safe
        return rho, _modulation(self.coeffs, ux, uy, uz)

    def inside(self, coords: Coords, day: float) -> tuple[np.ndarray, np.ndarray] | None:
        """``(mask, core)`` boolean arrays over ``coords``; None when absent at ``day``."""
        s = self.scale(day)
        if s <= 0:
            return None
        rho, surface = self._rho_surface(coords, s)
        mask = rho < surface
        big = equivalent_diameter(self.trajectory.volume(day)) > 25.0
        core = (rho < surface * np.float32(0.45)) if big else np.zeros_like(mask)
        return mask, core

    def field(self, coords: Coords, day: float) -> tuple[np.ndarray, np.ndarray] | None:
        """``(distance, core)``: an approximate signed distance (mm, negative inside) to
        this part's surface and its necrotic core; None when absent at ``day``."""
        s = self.scale(day)
        if s <= 0:
            return None
        rho, surface = self._rho_surface(coords, s)
        ratio = rho / surface
        big = equivalent_diameter(self.trajectory.volume(day)) > 25.0
        core = (ratio < np.float32(0.45)) if big else np.zeros(ratio.shape, bool)
        ratio -= np.float32(1.0)
        ratio *= np.float32(s * float(np.mean(self.shape_radii)))
        return ratio, core


@functools.lru_cache(maxsize=256)
def surface_range(coeffs: tuple[float, ...]) -> tuple[float, float]:
    """(min, max) of the radius modulation over all directions (slightly widened)."""
    u = _unit_directions(2000).astype(np.float32)
    f = _modulation(coeffs, u[:, 0], u[:, 1], u[:, 2])
    return float(f.min()) * 0.98, float(f.max()) * 1.02


def _modulation(coeffs: tuple[float, ...], ux: np.ndarray, uy: np.ndarray, uz: np.ndarray) -> np.ndarray:
    """``1 + sum(c * monomial(u))`` for unit directions."""
    powers = {}
    for name, u in (("x", ux), ("y", uy), ("z", uz)):
        p2 = u * u
        powers[name] = (None, u, p2, p2 * u)
    out = np.ones_like(ux)
    for c, (a, b, d) in zip(coeffs, _MONOMIALS, strict=True):
        if c == 0:
            continue
        term = np.float32(c)
        for name, e in (("x", a), ("y", b), ("z", d)):
            if e:
                term = term * powers[name][e]
        out += term
    return out


def _unit_directions(n: int = 400) -> np.ndarray:
    """Quasi-uniform unit vectors (Fibonacci sphere)."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


def random_shape(rng: np.random.Generator, irregularity: float) -> tuple[tuple[float, ...], float]:
    """Modulation coefficients with peak amplitude ``irregularity``; and E[f^3] over directions."""
    u = _unit_directions().astype(np.float32)
    raw = rng.normal(size=len(_MONOMIALS))
    f = _modulation(tuple(raw), u[:, 0], u[:, 1], u[:, 2]) - 1
    peak = float(np.max(np.abs(f))) or 1.0
    coeffs = tuple(float(c * irregularity / peak) for c in raw)
    f = _modulation(coeffs, u[:, 0], u[:, 1], u[:, 2])
    return coeffs, float(np.mean(f.astype(np.float64) ** 3))


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


# --- sampling ------------------------------------------------------------------------

@dataclass(frozen=True)
class HostInfo:
    """What the sampler needs to know about the organs: their mean HU."""

    hu: dict[str, float]


def sample_kinds(rng: np.random.Generator, n_timepoints: int, n_lesions: int | None) -> list[str]:
    """Kinds for one patient: at least one grow, shrink and appear when there are follow-ups."""
    if n_timepoints >= 2:
        n = int(rng.integers(3, 7)) if n_lesions is None else n_lesions
        base = ["grow", "shrink", "appear"][: max(n, 0)]
        extra_kinds, weights = ("grow", "shrink", "stable", "appear", "vanish"), (3, 2, 2, 1, 1)
    else:
        n = int(rng.integers(2, 7)) if n_lesions is None else n_lesions
        base = []
        extra_kinds, weights = ("grow", "shrink", "stable"), (1, 1, 1)
    p = np.array(weights, dtype=np.float64) / sum(weights)
    extra = [str(k) for k in rng.choice(extra_kinds, size=max(n - len(base), 0), p=p)]
    kinds = base + extra
    rng.shuffle(kinds)
    return kinds


def sample_trajectory(
    rng: np.random.Generator, kind: str, organ: str, days: tuple[int, ...],
    appear_at: int | None = None, scale: float = 1.0,
) -> Trajectory:
    """A plausible volume curve of ``kind`` for a lesion in ``organ`` over the scan ``days``.

    An ``appear`` lesion is first visible at scan ``appear_at`` (random when None).
    """
    cap = {"liver": 1.0, "lung": 0.7, "kidney": 0.8}[organ] * scale
    last = float(days[-1]) if len(days) > 1 else 180.0
    if kind == "grow":
        v0 = sphere_volume(rng.uniform(11, 24) * cap)
        doubling = rng.uniform(45, 100)
        plateau = v0 * rng.uniform(6, 20)
        rate = math.log(2) / doubling / math.log(plateau / v0)
        return Trajectory("grow", v0, 0.0, plateau, rate)
    if kind == "shrink":
        v0 = sphere_volume(rng.uniform(18, 36) * cap)
        return Trajectory("shrink", v0, 0.0, rate=1 / rng.uniform(40, 90), floor=rng.uniform(0.15, 0.4))
    if kind == "vanish":
        v0 = sphere_volume(rng.uniform(8, 14) * cap)
        tau = last / math.log(v0 / MIN_VOLUME) * rng.uniform(0.55, 0.85)
        return Trajectory("vanish", v0, 0.0, rate=1 / tau)
    if kind == "appear":
        # Onset between the baseline and a follow-up scan, visible (7-12 mm) at that scan.
        m = int(rng.integers(1, len(days))) if len(days) > 1 else 1
        if appear_at is not None and len(days) > 1:
            m = min(max(appear_at, 1), len(days) - 1)
        before = float(days[m - 1]) if len(days) > 1 else 0.0
        at = float(days[m]) if len(days) > 1 else 90.0
        onset = before + rng.uniform(0.15, 0.5) * (at - before)
        v_on = sphere_volume(2.5)
        v_at = sphere_volume(rng.uniform(8, 13) * max(cap, 0.85))
        plateau = sphere_volume(rng.uniform(20, 32) * cap)
        plateau = max(plateau, v_at * 2.5)
        rate = -math.log(math.log(v_at / plateau) / math.log(v_on / plateau)) / (at - onset)
        return Trajectory("appear", v_on, onset, plateau, rate)
    v0 = sphere_volume(rng.uniform(7, 20) * cap)
    return Trajectory("stable", v0, 0.0, rate=rng.uniform(-0.1, 0.1))


def lesion_hu(rng: np.random.Generator, organ: str, host: HostInfo) -> tuple[float, float]:
    """(HU, necrotic-core HU): hypo- or hyper-dense relative to the host organ."""
    if organ == "lung":
        hu = rng.uniform(-10, 45)
        return hu, hu - rng.uniform(10, 25)
    base = host.hu[organ]
    if organ == "liver":
        hu = base - rng.uniform(35, 60) if rng.random() < 0.75 else base + rng.uniform(30, 50)
    else:  # kidney: cyst-like (hypo) or dense (hyper)
        hu = rng.uniform(0, 15) if rng.random() < 0.7 else base + rng.uniform(25, 40)
    return hu, min(hu, base) - rng.uniform(15, 30)


def low_contrast_hu(rng: np.random.Generator, organ: str, host: HostInfo) -> tuple[float, float]:
    """(HU, core HU) of a low-contrast lesion: 8-20 HU from its host's mean, no darker core.

    Kidney lesions are hypodense only (the cortex is already 8 HU above the kidney's
    mean, so a slightly hyperdense lesion would vanish in it).  In the lung, where
    8-20 HU would sink below the noise, the low-contrast lesion is a ground-glass
    (subsolid) nodule of -650 to -450 HU.
    """
    base = host.hu[organ]
    if organ == "lung":
        hu = rng.uniform(-650, -450)
    elif organ == "liver" and rng.random() < 0.3:
        hu = base + rng.uniform(8, 20)
    else:
        hu = base - rng.uniform(8, 20)
    return hu, hu


HARD_STYLES = ("contrast", "border", "contrast+border")


def hard_style(rng: np.random.Generator, probability: float) -> str:
    """How one lesion is drawn: "" (as usual) or, with ``probability``, one of :data:`HARD_STYLES`."""
    if probability <= 0 or rng.random() >= probability:
        return ""
    return HARD_STYLES[int(rng.integers(len(HARD_STYLES)))]


def organ_solid(labels: np.ndarray, label: int) -> np.ndarray:
    """The voxels of ``label`` with the holes in it filled (a closing by a 15 mm ball on the
    coarse 5 mm map, then hole filling): the kidney with its sinus fat, whose border is the
    kidney's outer contour."""
    from scipy import ndimage  # only for hard lesions: the generator is otherwise numpy alone

    mask = labels == label
    r = np.arange(-3, 4)
    ball = r[:, None, None] ** 2 + r[None, :, None] ** 2 + r[None, None, :] ** 2 <= 9
    closed = ndimage.binary_closing(np.pad(mask, 3), ball)[3:-3, 3:-3, 3:-3]
    return ndimage.binary_fill_holes(mask | closed)


def border_points(labels: np.ndarray, label: int, solid: np.ndarray) -> np.ndarray:
    """``[k, j, i]`` of the voxels of ``label`` with a face neighbour outside ``solid``
    (the organ, holes filled: :func:`organ_solid`)."""
    pad = np.pad(solid, 1)
    inner = pad.copy()
    for axis in range(3):
        for shift in (1, -1):
            inner &= np.roll(pad, shift, axis)
    return np.argwhere((labels == label) & ~inner[1:-1, 1:-1, 1:-1])


def place_lesions(
    rng: np.random.Generator,
    kinds: list[str],
    days: tuple[int, ...],
    host: HostInfo,
    coarse_labels: np.ndarray,
    coarse_origin: np.ndarray,
    coarse_step: float,
    z_range: tuple[float, float],
    avoid: tuple[LesionSpec, ...] = (),
    hard: float = 0.0,
    hard_rng: np.random.Generator | None = None,
) -> list[LesionSpec]:
    """Put one lesion of each kind in an organ, fully inside it at its largest, not touching others
    (nor the lesions in ``avoid``).

    ``coarse_labels`` is the anatomy's label map on an isotropic body-frame grid
    (``[k, j, i]``, voxel (0,0,0) at ``coarse_origin``, ``coarse_step`` mm).
    With ``hard_rng``, each lesion is drawn *hard* with probability ``hard`` (see
    :func:`hard_style`; every draw for it comes from ``hard_rng``, so ``rng``'s
    stream is the usual one until a lesion is tried on a border): low contrast
    and/or centred on its organ's border (falling back to the usual placement when
    no border spot fits).  Its ``hard`` field says which it got.
    """
    dirs = np.concatenate([_unit_directions(48), np.zeros((1, 3))])
    specs: list[LesionSpec] = []
    candidates = {
        organ: np.argwhere(coarse_labels == label) for organ, label in ORGAN_LABELS.items()
    }
    solids: dict[str, np.ndarray] = {}  # organs, holes filled where lesions may bulge out
    borders: dict[str, np.ndarray] = {}
    organs, weights = ("liver", "lung", "kidney"), np.array([0.5, 0.32, 0.18])
    first_appear = True  # the first "appear" lesion shows at the first follow-up
    liver_grower = "grow" in kinds  # the first growing lesion goes to the liver if it fits
    for kind in kinds:
        style = hard_style(hard_rng, hard) if hard_rng is not None else ""
        if "border" in style and not borders:
            solids = {organ: organ_solid(coarse_labels, label) if len(PAINT_OVER[organ]) > 1
                      else coarse_labels == label for organ, label in ORGAN_LABELS.items()}
            borders = {organ: border_points(coarse_labels, ORGAN_LABELS[organ], solid)
                       for organ, solid in solids.items()}
        first_organ = ""
        for attempt in range(180):
            organ = str(rng.choice(organs, p=weights))
            if liver_grower and kind == "grow" and attempt < 60:
                organ = "liver"
            on_border = "border" in style and attempt < 120
            first_organ = first_organ or organ
            if on_border and attempt < 60:  # keep trying the organ first drawn (border spots
                organ = first_organ  # are rarer: the kidney would otherwise lose its share)
            pts = (borders if on_border else candidates)[organ]
            if len(pts) == 0:
                continue
            scale = 1.0 if attempt < 60 else (0.75 if attempt < 120 else 0.55)  # crowded: smaller
            traj = sample_trajectory(rng, kind, organ, days, 1 if first_appear else None, scale)
            irregularity = rng.uniform(0.08, 0.25)
            coeffs, mean_f3 = random_shape(rng, irregularity)
            aspect = rng.uniform(0.75, 1.0, size=3)
            aspect /= np.prod(aspect) ** (1 / 3)
            rot = random_rotation(rng)
            unit_volume = 4 / 3 * math.pi * float(np.prod(aspect)) * mean_f3
            k, j, i = pts[int(rng.integers(len(pts)))]
            centre = coarse_origin + coarse_step * np.array([i, j, k], dtype=np.float64)
            centre += rng.uniform(-0.5, 0.5, size=3) * coarse_step
            scale = (traj.max_volume(days) / unit_volume) ** (1 / 3)
            extent = scale * float(aspect.max()) * (1 + irregularity * 1.5) + 2.5
            if not z_range[0] + extent < centre[2] < z_range[1] - extent:
                continue
            if on_border:
                reach = scale * float(np.mean(aspect))  # its radius at its largest
                fits = _fits_border(coarse_labels, solids[organ], coarse_origin, coarse_step,
                                    centre, reach, extent, ORGAN_LABELS[organ], PAINT_OVER[organ])
            else:
                fits = _fits(coarse_labels, coarse_origin, coarse_step, centre, extent, dirs,
                             ORGAN_LABELS[organ], PAINT_OVER[organ])
            if not fits:
                continue
            if any(np.linalg.norm(centre - np.array(s.centre_body)) < extent + s.max_extent(days) + 4
                   for s in (*avoid, *specs)):
                continue
            hu, core = lesion_hu(rng, organ, host)
            if "contrast" in style:
                hu, core = low_contrast_hu(hard_rng, organ, host)  # type: ignore[arg-type]
            drawn = [p for p in ("contrast", "border")
                     if p in style and (p == "contrast" or on_border)]
            specs.append(LesionSpec(
                id=len(specs) + 1, organ=organ, kind=kind,
                centre_body=tuple(float(v) for v in centre),  # type: ignore[arg-type]
                axes=tuple(tuple(float(v) for v in row) for row in rot),
                shape_radii=tuple(float(a) for a in aspect),  # type: ignore[arg-type]
                coeffs=coeffs, unit_volume=unit_volume, hu=float(hu), core_hu=float(core),
                trajectory=traj, hard="+".join(drawn),
            ))
            first_appear = first_appear and kind != "appear"
            liver_grower = liver_grower and kind != "grow"
            break
    return specs


@dataclass(frozen=True, eq=False)
class CoarseMap:
    """The anatomy on a coarse isotropic body-frame grid, for placing lesions.

    ``labels``, ``hu`` and ``zone`` are ``[k, j, i]`` arrays; voxel (0, 0, 0) lies at
    ``origin`` (body mm, x y z); ``step`` mm apart.  Lesions must lie within ``z_range``.
    """

    labels: np.ndarray
    hu: np.ndarray
    zone: np.ndarray
    origin: np.ndarray
    step: float
    z_range: tuple[float, float]

    def points(self, label: int) -> np.ndarray:
        """Body-frame centres (mm) of the coarse voxels of ``label``."""
        return self.origin + self.step * np.argwhere(self.labels == label)[:, ::-1].astype(float)

    def sample(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(labels, hu, zone) at body points ``(N, 3)``; None when one lies outside the map."""
        idx = np.rint((np.asarray(points) - self.origin) / self.step).astype(int)[:, ::-1]
        if np.any(idx < 0) or np.any(idx >= np.array(self.labels.shape)):
            return None
        k, j, i = idx[:, 0], idx[:, 1], idx[:, 2]
        return self.labels[k, j, i], self.hu[k, j, i], self.zone[k, j, i]

    def fits(self, centre: np.ndarray, radius: float, host: int, outer: tuple[int, ...]) -> bool:
        """Whether a ball lies in ``host`` (its outer half may lie in ``outer``), within z_range."""
        if not self.z_range[0] + radius < centre[2] < self.z_range[1] - radius:
            return False
        return _fits(self.labels, self.origin, self.step, np.asarray(centre, dtype=float), radius,
                     _DIRS, host, outer)


_DIRS = np.concatenate([_unit_directions(48), np.zeros((1, 3))])


def _fits(labels: np.ndarray, origin: np.ndarray, step: float, centre: np.ndarray, radius: float,
          dirs: np.ndarray, host: int, outer: tuple[int, ...]) -> bool:
    """Whether a ball of ``radius`` around ``centre`` lies in ``host`` on the coarse map
    (its outer half may also lie in the ``outer`` labels)."""
    def values(r: float) -> np.ndarray | None:
        idx = np.rint((centre + r * dirs - origin) / step).astype(int)[:, ::-1]  # -> k, j, i
        if np.any(idx < 0) or np.any(idx >= np.array(labels.shape)):
            return None
        return labels[idx[:, 0], idx[:, 1], idx[:, 2]]

    inner, rim = values(0.5 * radius), values(radius)
    if inner is None or rim is None:
        return False
    return bool(np.all(inner == host) and np.all(np.isin(rim, outer)))


def _fits_border(labels: np.ndarray, solid: np.ndarray, origin: np.ndarray, step: float,
                 centre: np.ndarray, reach: float, extent: float, host: int,
                 outer: tuple[int, ...]) -> bool:
    """Whether a lesion of radius ``reach`` (at most ``extent``) around ``centre`` straddles
    the border of ``host`` on the coarse map: its centre in ``host`` and 20-60 % of its
    surface outside ``solid`` (the organ, holes filled: the border passes within about half
    its radius of the centre).  Where the lesion may paint over more than its host
    (``outer``: the fat around the kidney) the whole ball of ``extent`` lies over ``outer``,
    so the part outside bulges out rather than being cut off by a neighbouring organ."""
    def where(r: float) -> tuple[np.ndarray, ...] | None:
        idx = np.rint((centre + r * _DIRS - origin) / step).astype(int)[:, ::-1]  # -> k, j, i
        if np.any(idx < 0) or np.any(idx >= np.array(labels.shape)):
            return None
        return idx[:, 0], idx[:, 1], idx[:, 2]

    surface, rim = where(reach), where(extent)
    if surface is None or rim is None or labels[surface][-1] != host:  # _DIRS ends at the centre
        return False
    if not 0.2 <= float(np.mean(~solid[surface][:-1])) <= 0.6:
        return False
    return len(outer) == 1 or bool(np.all(np.isin(labels[rim], outer)))


# --- measurement ---------------------------------------------------------------------

_ANGLES = np.radians(np.arange(0.0, 180.0, 1.0))


def axial_diameters(mask: np.ndarray, spacing: tuple[float, float, float]) -> tuple[float, float]:
    """(longest, perpendicular) in-plane diameter (mm) of a [k, j, i] mask, outer pixel edges.

    The longest diameter is the largest caliper width over all axial slices (as
    RECIST measures); the perpendicular one is the width at right angles to it
    on the same slice.
    """
    sx, sy = spacing[0], spacing[1]
    best = (0.0, 0.0)
    cos, sin = np.cos(_ANGLES), np.sin(_ANGLES)
    pad = sx * np.abs(cos) + sy * np.abs(sin)
    for k in range(mask.shape[0]):
        jj, ii = np.nonzero(mask[k])
        if len(ii) == 0:
            continue
        proj = np.outer(ii * sx, cos) + np.outer(jj * sy, sin)
        width = proj.max(axis=0) - proj.min(axis=0) + pad
        a = int(np.argmax(width))
        if width[a] > best[0]:
            best = (float(width[a]), float(width[(a + 90) % 180]))
    return best


def box_of(box: Box, mask: np.ndarray) -> Box:
    """The sub-box of ``box`` that holds the True voxels of ``mask`` (the mask is box-shaped)."""
    nz = np.nonzero(mask)
    out = []
    for axis, sl in enumerate(box):
        lo, hi = int(nz[axis].min()), int(nz[axis].max()) + 1
        out.append(slice(sl.start + lo, sl.start + hi))
    return tuple(out)  # type: ignore[return-value]
