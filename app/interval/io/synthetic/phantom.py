"""A CT-like phantom of the chest and upper abdomen, in memory, randomised by a seed.

:func:`generate_phantom` returns one scan of a synthetic patient: an ``int16``
array of Hounsfield units, a ``uint8`` label map (see :data:`LABELS`), a map of
lesion ids, and the ground truth of every lesion at that timepoint.  It is pure
numpy and fast (a 96x160x160 case takes a fraction of a second), so training
scripts can draw thousands of cases.

The patient (:class:`PatientModel`, from :func:`sample_patient`) is fixed by the
seed: body habitus, organ sizes and positions, HU values, lesions and their
trajectories (including lesions that merge or split, :mod:`.groups`, and lymph
nodes, :mod:`.nodes`), scan dates at irregular intervals, the patient's pose on
the table at each scan and a smooth non-rigid deformation (breathing, posture;
:mod:`.deformation`) of each follow-up.  Rendering a timepoint places the body
in the scanner with that scan's pose and deformation and evaluates every
structure at the voxel centres, so the motion between scans is real (the
anatomy moves, the grid stays a regular axial grid).

Body frame: millimetres, LPS axes (x to the patient's left, y posterior, z
superior), origin at the centre of the torso in the middle of the default field
of view.  Label table (fixed; everything else is 0):

===  =======  ==========================================
 1   liver    including its vessels
 2   spleen
 3   kidney   both kidneys, cortex and medulla (not the sinus fat)
 4   lung     both lungs, including the vessels inside them
 5   bone     vertebral bodies and arches, ribs, sternum (not discs, cartilage)
 6   aorta
 7   heart
 8   stomach  wall and content (fluid and gas)
 9   lesion   every lesion in an organ (ids in :attr:`Phantom.lesion_ids`)
10   lymph    lymph nodes ("lymph node"; ids in :attr:`Phantom.lesion_ids` too)
===  =======  ==========================================
"""

from __future__ import annotations

import calendar
import functools
import math
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np

from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.volume import Volume
from interval.io.synthetic.deformation import Deformation, GridWarp, sample_deformation
from interval.io.synthetic.grid import (
    BodySampler,
    Box,
    Grid,
    Pose,
    capsule_bounds,
    capsule_d2,
    ellipsoid_bounds,
    ellipsoid_r2,
    rotation_zyx,
)
from interval.io.synthetic.groups import LesionGroup, place_merge, place_split, smooth_min
from interval.io.synthetic.lesions import (
    NODE,
    ORGAN_LABELS,
    CoarseMap,
    HostInfo,
    LesionSpec,
    axial_diameters,
    box_of,
    place_lesions,
    sample_kinds,
)
from interval.io.synthetic.nodes import NodeSite, place_nodes, sample_courses

LIVER, SPLEEN, KIDNEY, LUNG, BONE, AORTA, HEART, STOMACH, LESION, LYMPH_NODE = range(1, 11)
LABELS: dict[int, str] = {
    LIVER: "liver", SPLEEN: "spleen", KIDNEY: "kidney", LUNG: "lung", BONE: "bone",
    AORTA: "aorta", HEART: "heart", STOMACH: "stomach", LESION: "lesion",
    LYMPH_NODE: "lymph node",
}
# Distinct named colours (CSS names), so neighbouring organs never read alike.
_COLORS = {
    LIVER: (210, 105, 30),  # chocolate
    SPLEEN: (186, 85, 211),  # medium orchid
    KIDNEY: (255, 255, 0),  # yellow
    LUNG: (135, 206, 250),  # light sky blue
    BONE: (245, 222, 179),  # wheat
    AORTA: (255, 20, 147),  # deep pink
    HEART: (65, 105, 225),  # royal blue
    STOMACH: (64, 224, 208),  # turquoise
    LESION: (255, 30, 30),  # red
    LYMPH_NODE: (50, 205, 50),  # lime green
}
MAX_TIMEPOINTS = 8
MIN_GAP_DAYS, MAX_GAP_DAYS = 35, 112  # irregular intervals: 5 to 16 weeks
DEFAULT_SHAPE = (140, 256, 256)  # (nz, ny, nx): 9.2 M voxels
DEFAULT_FOV_MM = (384.0, 384.0, 350.0)  # x, y, z extent of the default field of view
DEFAULT_SPACING = (1.5, 1.5, 2.5)

# Tissue zones painted by the torso pass (private to rendering).
_OUT, _SKIN, _FAT, _MUSCLE, _THORAX, _ABDOMEN, _DIAPHRAGM = range(7)


def label_table() -> LabelTable:
    """The fixed :class:`LabelTable` of the phantom's label maps."""
    return LabelTable([LabelInfo(v, n, _COLORS[v]) for v, n in LABELS.items()])


def spacing_for(shape: tuple[int, int, int], fov_mm: tuple[float, float, float] = DEFAULT_FOV_MM
                ) -> tuple[float, float, float]:
    """Voxel spacing (x, y, z) that makes ``shape`` cover the default field of view."""
    nz, ny, nx = shape
    return (fov_mm[0] / nx, fov_mm[1] / ny, fov_mm[2] / nz)


# --- the patient model ---------------------------------------------------------------

@dataclass(frozen=True)
class Anatomy:
    """Body-frame geometry (mm) and attenuation (HU) of one synthetic patient."""

    width: float  # x scale of the organ layout
    depth: float  # y scale
    a_abd: float
    a_chest: float
    b_ant_abd: float
    b_ant_chest: float
    b_post: float
    skin: float
    fat: float
    muscle: float
    z_dome: float
    dome_right: float
    spine_y: float
    pitch: float
    first_level: float
    liver: tuple[tuple[float, ...], ...]  # (centre, radii) of the right and left lobes
    spleen: tuple[tuple[float, ...], ...]  # centre, radii, (rz,)
    stomach: tuple[tuple[float, ...], ...]  # centre, radii, (gas fraction,)
    kidneys: tuple[tuple[tuple[float, ...], ...], ...]  # per side: centre, radii, (rz, ry)
    heart: tuple[tuple[float, ...], ...]  # centre, radii, (rz,)
    gallbladder: tuple[tuple[float, ...], ...]
    hu: dict[str, float] = field(hash=False)
    lung_vessels: tuple[tuple[tuple[float, ...], tuple[float, ...], float], ...] = ()
    liver_vessels: tuple[tuple[tuple[float, ...], tuple[float, ...], float], ...] = ()


@dataclass(frozen=True)
class PatientModel:
    """Everything that a seed fixes about a synthetic patient (render it with :func:`render`)."""

    seed: int
    anatomy: Anatomy
    lesions: tuple[LesionSpec, ...]
    dates: tuple[date, ...]  # study date of each timepoint
    days: tuple[int, ...]  # days since the baseline
    poses: tuple[Pose, ...]  # body -> scanner LPS at each timepoint
    scanner_centre: tuple[float, float, float]  # LPS centre of the default field of view
    sex: str
    birth_date: date
    noise_sd: float
    deformations: tuple[Deformation | None, ...] = ()  # per timepoint (None: none, baseline)
    groups: tuple[LesionGroup, ...] = ()  # lesions that merge or split

    @property
    def n_timepoints(self) -> int:
        return len(self.dates)

    def default_grid(self, shape: tuple[int, int, int] = DEFAULT_SHAPE,
                     spacing: tuple[float, float, float] | None = None) -> Grid:
        """The scanner grid of ``shape`` (spacing covering the default field of view if None)."""
        return Grid.centred(shape, spacing or spacing_for(shape), self.scanner_centre)


@dataclass(frozen=True)
class LesionTruth:
    """Ground truth of one lesion at one timepoint (absent lesions have zero volume)."""

    id: int
    organ: str
    kind: str
    timepoint: int
    day: int
    present: bool
    centre_lps: tuple[float, float, float]  # nominal centre (of the main part) in this scan's LPS
    centre_body: tuple[float, float, float]
    radii_mm: tuple[float, float, float]  # nominal semi-axes at this timepoint
    nominal_volume_mm3: float  # analytic volume of the shape
    volume_mm3: float  # voxels labelled with this id x voxel volume
    longest_diameter_mm: float  # longest axial caliper of the voxel mask (outer edges)
    short_diameter_mm: float  # perpendicular to it, same slice
    hu: float
    n_components: int = 0  # face-connected components of its voxels (0 when absent)
    touching: tuple[int, ...] = ()  # ids of lesions whose voxels touch its voxels (faces)
    centroid_lps: tuple[float, float, float] | None = None  # mean position of its voxels
    site: str = ""  # lymph nodes: where the node lies

    @property
    def volume_ml(self) -> float:
        return self.volume_mm3 / 1000.0

    def to_dict(self) -> dict[str, object]:
        r = lambda v: round(float(v), 3)  # noqa: E731
        return {
            "id": self.id, "organ": self.organ, "kind": self.kind, "timepoint": self.timepoint,
            "day": self.day, "present": self.present,
            "centre_lps": [r(v) for v in self.centre_lps],
            "centre_body": [r(v) for v in self.centre_body],
            "radii_mm": [r(v) for v in self.radii_mm],
            "nominal_volume_mm3": r(self.nominal_volume_mm3), "volume_mm3": r(self.volume_mm3),
            "volume_ml": round(self.volume_mm3 / 1000.0, 6),
            "longest_diameter_mm": r(self.longest_diameter_mm),
            "short_diameter_mm": r(self.short_diameter_mm), "hu": r(self.hu),
            "n_components": self.n_components, "touching": list(self.touching),
            "centroid_lps": None if self.centroid_lps is None else [r(v) for v in self.centroid_lps],
            "site": self.site,
        }

    @classmethod
    def from_dict(cls, t: dict) -> LesionTruth:
        """Inverse of :meth:`to_dict` (older files without the newer keys are accepted)."""
        centroid = t.get("centroid_lps")
        return cls(
            id=t["id"], organ=t["organ"], kind=t["kind"], timepoint=t["timepoint"],
            day=t["day"], present=t["present"], centre_lps=tuple(t["centre_lps"]),
            centre_body=tuple(t["centre_body"]), radii_mm=tuple(t["radii_mm"]),
            nominal_volume_mm3=t["nominal_volume_mm3"], volume_mm3=t["volume_mm3"],
            longest_diameter_mm=t["longest_diameter_mm"],
            short_diameter_mm=t["short_diameter_mm"], hu=t["hu"],
            n_components=int(t.get("n_components", 1 if t["present"] else 0)),
            touching=tuple(t.get("touching", ())),
            centroid_lps=None if centroid is None else tuple(centroid),
            site=str(t.get("site", "")),
        )


@dataclass(eq=False)
class Phantom:
    """One rendered scan: CT (HU, int16), labels (uint8), lesion ids (uint8), all ``[k, j, i]``."""

    ct: np.ndarray
    labels: np.ndarray
    lesion_ids: np.ndarray
    grid: Grid
    pose: Pose
    timepoint: int
    day: int
    study_date: date
    lesions: tuple[LesionTruth, ...]
    deformation: Deformation | None = None  # non-rigid motion since the baseline (None: none)
    deformation_mm: tuple[float, float] | None = None  # (max, RMS) of it over the body

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.grid.spacing

    @property
    def origin(self) -> tuple[float, float, float]:
        return self.grid.origin

    def ct_volume(self, metadata: VolumeMetadata | None = None) -> Volume:
        """The CT as an :class:`~interval.core.volume.Volume` (HU, axial, LPS)."""
        md = metadata or VolumeMetadata(
            modality="CT", units="HU", study_date=self.study_date, body_part="CHEST_ABDOMEN",
            manufacturer="Interval synthetic", source="synthetic phantom",
            default_window=WindowLevel(40, 400, "soft tissue"),
        )
        return Volume(self.ct, self.grid.spacing, self.grid.origin, np.eye(3), md)

    def label_volume(self) -> Volume:
        """The organ/lesion label map as a label :class:`Volume` on the CT grid."""
        return Volume(self.labels, self.grid.spacing, self.grid.origin, np.eye(3),
                      VolumeMetadata(source="synthetic ground truth"), label_table())

    def lesion_id_volume(self) -> Volume:
        """The map of lesion ids (0 = none) as a label :class:`Volume`."""
        table = LabelTable.from_names({t.id: f"lesion {t.id} ({t.organ})" for t in self.lesions})
        return Volume(self.lesion_ids, self.grid.spacing, self.grid.origin, np.eye(3),
                      VolumeMetadata(source="synthetic ground truth"), table)

    def present_lesions(self) -> list[LesionTruth]:
        return [t for t in self.lesions if t.present]


# --- sampling ------------------------------------------------------------------------------

def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _weekday(d: date) -> date:
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def _sample_anatomy(rng: np.random.Generator) -> Anatomy:
    u = rng.uniform
    w, d = u(0.9, 1.1), u(0.9, 1.1)
    z_dome = u(20.0, 40.0)
    spine_y = 108 * d - 78 + u(-4.0, 4.0)
    hu = {
        "fat": u(-110, -90), "muscle": u(45, 55), "skin": u(20, 40), "lung": u(-880, -840),
        "liver": u(55, 66), "spleen": u(44, 52), "kidney": u(28, 34), "blood": u(38, 46),
        "bone": u(750, 1000), "marrow": u(190, 280), "disc": u(70, 95), "csf": u(8, 18),
        "fluid": u(5, 15), "bowel": u(20, 35), "mediastinum": u(-80, -50), "cartilage": u(100, 160),
    }
    liver = ((-62 * w + u(-6, 6), 10 * d + u(-6, 6), z_dome - 55 + u(-5, 5)),
             (86 * w * u(0.9, 1.08), 80 * d * u(0.9, 1.08), 76 * u(0.9, 1.1)),
             (8 * w + u(-8, 8), -45 * d + u(-6, 6), z_dome - 35 + u(-5, 5)),
             (55 * w * u(0.85, 1.1), 32 * d * u(0.85, 1.1), 36 * u(0.85, 1.1)))
    spleen = ((95 * w + u(-6, 6), 48 * d + u(-6, 6), z_dome - 50 + u(-8, 8)),
              (25 * u(0.85, 1.15), 55 * u(0.85, 1.2), 45 * u(0.85, 1.2)), (u(25, 45),))
    stomach = ((55 * w + u(-6, 6), -40 * d + u(-6, 6), z_dome - 45 + u(-6, 6)),
               (45 * u(0.85, 1.1), 33 * u(0.85, 1.1), 52 * u(0.85, 1.1)), (u(0.15, 0.55),))
    z_k = z_dome - 120 + u(-8, 8)
    kidneys = tuple(
        ((side * (72 * w + u(-5, 5)), spine_y + 12 * d + u(-5, 5), z_k + (8 if side > 0 else -2)),
         (27 * u(0.9, 1.1), 30 * u(0.9, 1.1), 55 * u(0.9, 1.1)),
         (side * u(20, 40), -side * u(8, 18)))
        for side in (-1, 1)
    )
    heart = ((25 * w + u(-5, 5), -30 * d + u(-5, 5), z_dome + 45 + u(-5, 5)),
             (58 * u(0.9, 1.1), 45 * u(0.9, 1.1), 50 * u(0.9, 1.1)), (u(-45, -25),))
    gallbladder = ((-48 * w + u(-6, 6), -58 * d + u(-5, 5), z_dome - 100 + u(-8, 8)),
                   (14 * u(0.8, 1.2), 14 * u(0.8, 1.2), 32 * u(0.8, 1.2)))
    a = Anatomy(
        width=w, depth=d, a_abd=160 * w, a_chest=150 * w * u(0.95, 1.05),
        b_ant_abd=112 * d * u(0.95, 1.12), b_ant_chest=100 * d, b_post=108 * d,
        skin=2.5, fat=u(8.0, 32.0), muscle=u(9.0, 14.0), z_dome=z_dome, dome_right=u(6.0, 16.0),
        spine_y=spine_y, pitch=u(28.0, 32.0), first_level=u(0.0, 1.0),
        liver=liver, spleen=spleen, stomach=stomach, kidneys=kidneys, heart=heart,
        gallbladder=gallbladder, hu=hu,
    )
    return a


def _with_vessels(a: Anatomy, rng: np.random.Generator, labels: np.ndarray, origin: np.ndarray,
                  step: float) -> Anatomy:
    """Vessel trees that branch from the hila (and the liver veins) towards random points
    of the organ, so they fill it and taper like real ones (``labels``: coarse body-frame map)."""
    def targets(label: int, n: int, where: np.ndarray | None = None) -> np.ndarray:
        pts = np.argwhere(labels == label if where is None else (labels == label) & where)
        if len(pts) == 0:
            return np.zeros((0, 3))
        pick = pts[rng.choice(len(pts), size=min(n, len(pts)), replace=False)]
        return origin + step * (pick[:, ::-1] + rng.uniform(-0.5, 0.5, size=(len(pick), 3)))

    lung: list[tuple[tuple[float, ...], tuple[float, ...], float]] = []
    xs = (np.arange(labels.shape[2]) * step + origin[0])[None, None, :]
    for side in (-1, 1):
        hilum = np.array([side * 40 * a.width, a.spine_y - 25, a.z_dome + 65])
        _tree(rng, hilum, targets(LUNG, 96, xs * side > 0), 5.0, lung)
    liver: list[tuple[tuple[float, ...], tuple[float, ...], float]] = []
    ivc = np.array([-20 * a.width, a.spine_y - 30, a.z_dome - 8])
    portal = np.array([-30 * a.width, -5 * a.depth, a.z_dome - 75])
    for root, radius in ((ivc, 5.5), (portal, 6.0)):
        _tree(rng, root, targets(LIVER, 12), radius, liver)
    return replace(a, lung_vessels=tuple(lung), liver_vessels=tuple(liver))


def _tree(rng: np.random.Generator, root: np.ndarray, targets: np.ndarray, radius: float,
          out: list) -> None:
    """Split ``targets`` in two along their main axis and grow a branch towards each half."""
    if len(targets) == 0:
        return
    if len(targets) == 1:
        out.append((tuple(float(v) for v in root), tuple(float(v) for v in targets[0]),
                    float(max(radius, 1.0))))
        return
    centred = targets - targets.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    order = np.argsort(centred @ axis)
    half = len(targets) // 2
    for group in (targets[order[:half]], targets[order[half:]]):
        node = root + (group.mean(axis=0) - root) * rng.uniform(0.35, 0.55)
        out.append((tuple(float(v) for v in root), tuple(float(v) for v in node),
                    float(max(radius, 1.0))))
        _tree(rng, node, group, radius * 0.78, out)


def _sample_poses(rng: np.random.Generator, n: int, z_table: float) -> tuple[Pose, ...]:
    base_t = np.array([rng.uniform(-6, 6), rng.uniform(-8, 8), z_table])
    poses = [Pose.from_angles((0.0, 0.0, 0.0), tuple(base_t))]  # type: ignore[arg-type]
    for _ in range(1, n):
        while True:
            shift = np.array([rng.uniform(-5, 5), rng.uniform(-5, 5), rng.uniform(-8, 8)])
            angles = (rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-2, 2))
            if np.linalg.norm(shift) >= 2.0 and max(abs(v) for v in angles) >= 0.3:
                break
        poses.append(Pose.from_angles(angles, tuple(base_t + shift)))  # type: ignore[arg-type]
    return tuple(poses)


@functools.lru_cache(maxsize=16)
def sample_patient(seed: int = 0, n_timepoints: int = 3, months_between: int | None = None,
                   n_lesions: int | None = None, *, n_merge: int | None = None,
                   n_split: int | None = None, n_nodes: int | None = None,
                   deform: bool = True, hard_lesions: float = 0.0) -> PatientModel:
    """The synthetic patient of ``seed``: anatomy, lesions, scan dates and poses (cached).

    ``n_timepoints`` 1 to 8.  Scans are 5 to 16 weeks apart (irregular, from the
    seed), or exactly ``months_between`` months apart when given.  ``n_lesions``
    (0-12) organ lesions with a course each (random when None); on top of them
    ``n_merge`` pairs of lesions that merge, ``n_split`` lesions that split (0-2
    each; random 0 or 1 when None, 0 with one scan) and ``n_nodes`` lymph nodes
    (0-4; 1-3 when None).  ``deform`` False gives rigid motion only.
    ``hard_lesions`` (0-1, for training) is the chance that an organ lesion is drawn
    hard: low contrast and/or on its organ's border (kidney lesions then bulge out
    of the kidney); see :func:`~interval.io.synthetic.lesions.place_lesions`.  Its draws
    come from a stream of their own, so 0 (the default) gives exactly the usual patient.
    """
    if not 1 <= n_timepoints <= MAX_TIMEPOINTS:
        raise ValueError(f"a synthetic patient has 1 to {MAX_TIMEPOINTS} timepoints, "
                         f"not {n_timepoints}")
    if n_lesions is not None and not 0 <= n_lesions <= 12:
        raise ValueError("n_lesions must be between 0 and 12")
    for name, value, top in (("n_merge", n_merge, 2), ("n_split", n_split, 2), ("n_nodes", n_nodes, 4)):
        if value is not None and not 0 <= value <= top:
            raise ValueError(f"{name} must be between 0 and {top}")
    if n_timepoints < 2 and (n_merge or n_split):
        raise ValueError("lesions can only merge or split in a patient with two or more timepoints")
    if months_between is not None and months_between < 1:
        raise ValueError("months_between must be at least 1")
    if not 0.0 <= hard_lesions <= 1.0:
        raise ValueError("hard_lesions must be between 0 and 1")
    seed = int(seed)
    anatomy = _sample_anatomy(np.random.default_rng([seed, 1]))
    rng = np.random.default_rng([seed, 2])
    first = _weekday(date(2019, 1, 7) + timedelta(days=int(rng.integers(0, 5 * 365))))
    dates = _scan_dates(seed, first, n_timepoints, months_between)
    days = tuple((d - first).days for d in dates)
    z_table = float(np.round(rng.uniform(-600, -200), 1))
    poses = _sample_poses(rng, n_timepoints, z_table)
    sex = str(rng.choice(["F", "M"]))
    birth = first - timedelta(days=int(rng.uniform(40, 80) * 365.25))
    noise_sd = float(rng.uniform(8, 14))
    centre = (0.0, 0.0, z_table)
    lesion_rng = np.random.default_rng([seed, 3])
    kinds = sample_kinds(lesion_rng, n_timepoints, n_lesions)
    coarse_step = 5.0
    coarse = Grid.centred((80, 70, 84), (coarse_step,) * 3, (0.0, 0.0, 0.0))
    canvas = _Canvas.empty(coarse.shape)
    _paint_anatomy(canvas, BodySampler(coarse, Pose.from_angles((0, 0, 0), (0, 0, 0))), anatomy)
    anatomy = _with_vessels(anatomy, np.random.default_rng([seed, 4]), canvas.labels,
                            np.array(coarse.origin), coarse_step)
    half_z = DEFAULT_FOV_MM[2] / 2
    host = HostInfo({organ: anatomy.hu[organ] for organ in ORGAN_LABELS})
    cmap = CoarseMap(canvas.labels, canvas.hu, canvas.zone, np.array(coarse.origin), coarse_step,
                     (-half_z + 12.0, half_z - 12.0))
    grouped = _place_groups(np.random.default_rng([seed, 6]), days, host, cmap, n_merge, n_split)
    group_specs = tuple(spec for _g, specs in grouped for spec in specs)
    specs = place_lesions(lesion_rng, kinds, days, host, canvas.labels, np.array(coarse.origin),
                          coarse_step, (-half_z + 12.0, half_z - 12.0), avoid=group_specs,
                          hard=hard_lesions,
                          hard_rng=np.random.default_rng([seed, 11]) if hard_lesions > 0 else None)
    node_rng = np.random.default_rng([seed, 7])
    nodes = place_nodes(node_rng, sample_courses(node_rng, n_nodes), days, _node_sites(anatomy),
                        cmap, (_THORAX, _ABDOMEN), avoid=(*group_specs, *specs))
    lesions, groups = _numbered(specs, grouped, nodes)
    deformations = _sample_deformations(seed, anatomy, poses, z_table, half_z) if deform \
        else (None,) * n_timepoints
    return PatientModel(
        seed=seed, anatomy=anatomy, lesions=lesions, dates=tuple(dates), days=days,
        poses=poses, scanner_centre=centre, sex=sex, birth_date=birth, noise_sd=noise_sd,
        deformations=deformations, groups=groups,
    )


def _scan_dates(seed: int, first: date, n: int, months_between: int | None) -> list[date]:
    """Weekday study dates: ``months_between`` months apart, or 5-16 weeks apart at random."""
    if months_between is not None:
        return [first] + [_weekday(_add_months(first, months_between * t)) for t in range(1, n)]
    gaps = np.random.default_rng([seed, 9]).integers(MIN_GAP_DAYS, MAX_GAP_DAYS + 1, size=n - 1)
    dates = [first]
    for gap in gaps:
        dates.append(_weekday(dates[-1] + timedelta(days=int(gap))))
    return dates


def _place_groups(rng: np.random.Generator, days: tuple[int, ...], host: HostInfo,
                  cmap: CoarseMap, n_merge: int | None, n_split: int | None
                  ) -> list[tuple[LesionGroup, list[LesionSpec]]]:
    """Merging pairs and splitting lesions (placed first: they need the most room)."""
    n = len(days)
    if n < 2:
        return []
    merges = int(rng.random() < 0.5) if n_merge is None else n_merge
    splits = int(rng.random() < 0.5) if n_split is None else n_split
    out: list[tuple[LesionGroup, list[LesionSpec]]] = []
    for place in [place_merge] * merges + [place_split] * splits:
        avoid = tuple(spec for _g, specs in out for spec in specs)
        placed = place(rng, days, int(rng.integers(1, n)), host, cmap, avoid)
        if placed is not None:
            specs, group = placed
            out.append((group, specs))
    return out


def _numbered(specs: list[LesionSpec], grouped: list[tuple[LesionGroup, list[LesionSpec]]],
              nodes: list[LesionSpec]) -> tuple[tuple[LesionSpec, ...], tuple[LesionGroup, ...]]:
    """Ids 1, 2, ...: organ lesions, then merging and splitting ones, then lymph nodes."""
    out = list(specs)
    groups = []
    for group, members in grouped:
        ids = []
        for spec in members:
            ids.append(len(out) + 1)
            out.append(replace(spec, id=len(out) + 1))
        groups.append(replace(group, lesions=tuple(ids)))
    out += [replace(spec, id=len(out) + 1 + n) for n, spec in enumerate(nodes)]
    return tuple(out), tuple(groups)


def _sample_deformations(seed: int, a: Anatomy, poses: tuple[Pose, ...], z_table: float,
                         half_z: float) -> tuple[Deformation | None, ...]:
    """No deformation at the baseline; breathing and posture at each follow-up."""
    rng = np.random.default_rng([seed, 8])
    out: list[Deformation | None] = [None]
    for pose in poses[1:]:
        out.append(sample_deformation(
            rng, translation=pose.t, z_dome=a.z_dome, spine_y=a.spine_y,
            half_width=(a.a_abd + a.a_chest) / 2, front=(a.b_ant_abd + a.b_ant_chest) / 2,
            back=a.b_post, fov_z=(z_table - half_z, z_table + half_z)))
    return tuple(out)


def _node_sites(a: Anatomy) -> list[NodeSite]:
    """Lymph node stations beside the abdominal aorta and IVC, the trachea and the
    oesophagus (body frame)."""
    zd, sy, w = a.z_dome, a.spine_y, a.width
    aorta = ((24 * w, sy - 22, zd - 30), (9 * w, sy - 33, zd - 200), 11.0)
    ivc = ((-24 * w, sy - 24, zd - 240), (-26 * w, sy - 20, zd - 70), 11.0)
    trachea = ((0.0, sy - 35, zd + 170), (0.0, sy - 35, zd + 105), 11.0)
    oesophagus = ((2.0, sy - 22, zd + 80), (2.0, sy - 23, zd + 10), 7.0)
    return [
        NodeSite("left para-aortic", *aorta, (0.8, -0.6, 0.0), 0.3),
        NodeSite("pre-aortic", *aorta, (0.1, -1.0, 0.0), 0.15),
        NodeSite("right paracaval", *ivc, (-1.0, 0.0, 0.0), 0.15),
        NodeSite("right paratracheal", *trachea, (-1.0, -0.2, 0.0), 0.15),
        NodeSite("right paraesophageal", *oesophagus, (-1.0, 0.2, 0.0), 0.25),
    ]


# --- rendering -------------------------------------------------------------------------

@dataclass
class _Canvas:
    hu: np.ndarray
    labels: np.ndarray
    zone: np.ndarray
    lesion_ids: np.ndarray

    @classmethod
    def empty(cls, shape: tuple[int, int, int]) -> _Canvas:
        return cls(np.full(shape, -1000.0, np.float32), np.zeros(shape, np.uint8),
                   np.zeros(shape, np.uint8), np.zeros(shape, np.uint8))

    def paint(self, box: Box, mask: np.ndarray, value: float | np.ndarray,
              label: int | None = None, zone: int | None = None) -> None:
        np.copyto(self.hu[box], np.float32(value) if np.isscalar(value) else value, where=mask)
        if label is not None:
            np.copyto(self.labels[box], np.uint8(label), where=mask)
        if zone is not None:
            np.copyto(self.zone[box], np.uint8(zone), where=mask)


def render(model: PatientModel, timepoint: int = 0, grid: Grid | None = None, *,
           noise: bool = True, lesions: bool = True) -> Phantom:
    """Render ``model`` as scanned at ``timepoint`` on ``grid`` (default: the default grid)."""
    if not 0 <= timepoint < model.n_timepoints:
        raise ValueError(f"timepoint {timepoint} outside 0..{model.n_timepoints - 1}")
    grid = grid or model.default_grid()
    pose = model.poses[timepoint]
    day = model.days[timepoint]
    deformation = model.deformations[timepoint] if model.deformations else None
    warp = None if deformation is None else GridWarp(deformation, grid.shape, grid.spacing,
                                                     grid.origin)
    sampler = BodySampler(grid, pose, warp)
    canvas = _Canvas.empty(grid.shape)
    texture_rng = np.random.default_rng([model.seed, 10, timepoint]) if noise else None
    _paint_anatomy(canvas, sampler, model.anatomy, texture_rng)
    boxes = _paint_lesions(canvas, sampler, model, day) if lesions else {}
    truths = [_measure(canvas, grid, pose, deformation, spec, timepoint, day, boxes.get(spec.id))
              for spec in model.lesions]
    stats = None
    if warp is not None:
        peak, rms, _mean = warp.stats(canvas.zone[::3, ::3, ::3] != _OUT, step=3)
        stats = (round(peak, 3), round(rms, 3))
    rng = np.random.default_rng([model.seed, 20, timepoint]) if noise else None
    ct = _finish(canvas.hu, rng, model.noise_sd)
    return Phantom(
        ct=ct, labels=canvas.labels, lesion_ids=canvas.lesion_ids, grid=grid,
        pose=pose, timepoint=timepoint, day=day, study_date=model.dates[timepoint],
        lesions=tuple(truths), deformation=deformation, deformation_mm=stats,
    )


def generate_phantom(
    seed: int = 0,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    spacing: tuple[float, float, float] | None = None,
    timepoint: int = 0,
    *,
    n_timepoints: int = 3,
    months_between: int | None = None,
    n_lesions: int | None = None,
    noise: bool = True,
    lesions: bool = True,
    n_merge: int | None = None,
    n_split: int | None = None,
    n_nodes: int | None = None,
    deform: bool = True,
    hard_lesions: float = 0.0,
) -> Phantom:
    """One CT scan of synthetic patient ``seed`` at ``timepoint``, in memory.

    ``shape`` is ``(nz, ny, nx)``; ``spacing`` is ``(x, y, z)`` mm and defaults
    to the spacing that covers the default field of view (384 x 384 x 320 mm)
    with ``shape``, so small shapes still show the whole anatomy.  The grid is
    centred on the scanner's isocentre; the patient lies slightly differently at
    each timepoint (rigid pose and, at follow-ups, a smooth deformation).  The
    patient options are those of :func:`sample_patient`.  Same arguments, same bytes.
    """
    model = sample_patient(seed, n_timepoints, months_between, n_lesions, n_merge=n_merge,
                           n_split=n_split, n_nodes=n_nodes, deform=deform,
                           hard_lesions=hard_lesions)
    return render(model, timepoint, model.default_grid(shape, spacing), noise=noise, lesions=lesions)


# --- anatomy painting ---------------------------------------------------------------

def _interp_z(z: np.ndarray, z0: float, z1: float, v0: float, v1: float) -> np.ndarray:
    """``v0`` below ``z0``, ``v1`` above ``z1``, linear between."""
    t = (z - np.float32(z0)) * np.float32(1.0 / (z1 - z0))
    np.clip(t, 0, 1, out=t)
    return np.float32(v0) + np.float32(v1 - v0) * t


def _dome(a: Anatomy, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height (body z, mm) of the diaphragm above the point (x, y)."""
    right = np.float32(a.dome_right) / (1 + np.exp(x * np.float32(1 / 25.0)))
    ex = (np.abs(x) - np.float32(70 * a.width)) * np.float32(1 / (110 * a.width))
    ey = y * np.float32(1 / (110 * a.depth))
    drop = np.minimum(np.float32(70) * (ex * ex + ey * ey), np.float32(100))
    return np.float32(a.z_dome) + right - drop


def _paint_anatomy(c: _Canvas, s: BodySampler, a: Anatomy,
                   texture_rng: np.random.Generator | None = None) -> None:
    """Paint every structure in order (later ones over earlier ones)."""
    hu = a.hu
    _paint_table(c, s, a)
    ring = _paint_torso(c, s, a)
    if texture_rng is not None:
        _paint_bowel(c, s, a, texture_rng)
    _paint_muscles(c, s, a)
    _paint_thorax(c, s, a)
    _paint_abdomen(c, s, a)
    for p0, p1, r in _aorta_path(a):
        _capsule(c, s, p0, p1, r, hu["blood"], AORTA, zones=(_THORAX, _ABDOMEN, _DIAPHRAGM))
    for p0, p1, r in a.lung_vessels:
        _capsule(c, s, p0, p1, r, hu["blood"], None, where_label=LUNG)
    _paint_spine(c, s, a)
    _paint_ribs(c, s, a, ring)


def _capsule(c: _Canvas, s: BodySampler, p0: tuple, p1: tuple, r: float, value: float,
             label: int | None, *, zones: tuple[int, ...] | None = None,
             where_label: int | None = None) -> None:
    box = s.box(*capsule_bounds(p0, p1, r))
    if box is None:
        return
    mask = capsule_d2(s.coords(box), p0, p1) < np.float32(r * r)
    if zones is not None:
        mask &= np.isin(c.zone[box], zones)
    if where_label is not None:
        mask &= c.labels[box] == where_label
    c.paint(box, mask, value, label)


def _ellipsoid(c: _Canvas, s: BodySampler, centre: tuple, radii: tuple, rotation=None
               ) -> tuple[Box, np.ndarray] | None:
    box = s.box(*ellipsoid_bounds(centre, radii, rotation))
    if box is None:
        return None
    return box, ellipsoid_r2(s.coords(box), centre, radii, rotation)


def _paint_table(c: _Canvas, s: BodySampler, a: Anatomy) -> None:
    top = a.b_post + 3.0
    box = s.box((-225, top - 30, -1e4), (225, top + 45, 1e4))
    if box is None:
        return
    x, y, _z = s.coords(box)
    t = y - (np.float32(top) - x * x * np.float32(25.0 / 225**2))  # a cradle, edges raised
    inside = (t >= 0) & (t < 40) & (np.abs(x) < 225)
    c.paint(box, inside, -900.0)
    c.paint(box, inside & ((t < 3) | (t >= 37)), 300.0)


def _paint_torso(c: _Canvas, s: BodySampler, a: Anatomy) -> tuple:
    """Skin, fat, muscle wall and the two cavities; returns the rib ring (see _paint_ribs).

    Works through the box a few slices at a time so the temporaries stay in cache.
    """
    amax = max(a.a_abd, a.a_chest) + 3
    box = s.box((-amax, -max(a.b_ant_abd, a.b_ant_chest) - 3, -1e4), (amax, a.b_post + 3, 1e4))
    if box is None:
        return ()
    ks, js, is_ = box
    per_slice = (js.stop - js.start) * (is_.stop - is_.start)
    step = max(1, (1 << 18) // max(per_slice, 1))
    parts = [_torso_chunk(c, s, a, (slice(k, min(k + step, ks.stop)), js, is_))
             for k in range(ks.start, ks.stop, step)]
    _split_cavity(c, s, a)
    return tuple(np.concatenate([p[n] for p in parts]) for n in range(7))


def _torso_chunk(c: _Canvas, s: BodySampler, a: Anatomy, box: Box) -> tuple[np.ndarray, ...]:
    x, y, z = s.coords(box)
    chest = _interp_z(z, a.z_dome - 40, a.z_dome + 40, 0.0, 1.0)  # 0 abdomen .. 1 chest
    nx = x / (np.float32(a.a_abd) + np.float32(a.a_chest - a.a_abd) * chest)
    ant = y < 0
    b_ant = np.float32(a.b_ant_abd) + np.float32(a.b_ant_chest - a.b_ant_abd) * chest
    ny = y / np.where(ant, b_ant, np.float32(a.b_post))
    q = nx * nx
    w = ny * ny
    r2 = q + w
    q *= w
    q *= np.where(ant, np.float32(0.25), np.float32(0.6))  # squarer at the back
    r2 -= q
    np.maximum(r2, np.float32(1e-8), out=r2)
    inside = r2 < 1
    depth = np.sqrt(x * x + y * y)
    depth *= 1 / np.sqrt(r2) - 1  # distance below the skin along the ray from the centre
    fat = np.float32(a.fat) * (1 + np.clip(y * np.float32(-0.005), 0, np.float32(0.5)))
    fat *= 1 - np.float32(0.3) * chest
    wall = fat + np.float32(a.skin)
    zone = (depth >= np.float32(a.skin)).view(np.uint8) + (depth >= wall).view(np.uint8)
    wall += np.float32(a.muscle)
    zone += (depth >= wall).view(np.uint8)
    zone += 1
    zone *= inside
    c.zone[box] = zone
    lut = np.array([-1000, a.hu["skin"], a.hu["fat"], a.hu["muscle"], a.hu["mediastinum"],
                    a.hu["fat"], a.hu["muscle"]], np.float32)
    np.copyto(c.hu[box], lut[zone], where=inside)
    # Rib ring: voxels near the inner surface of the muscle wall, above the lowest ribs.
    depth -= wall
    ring = inside & (np.abs(depth) < 12) & (z > np.float32(a.z_dome - 130))
    k, j, i = np.nonzero(ring)
    return (k + box[0].start, j + box[1].start, i + box[2].start,
            x[k, j, i], y[k, j, i], z[k, j, i], depth[k, j, i])


def _split_cavity(c: _Canvas, s: BodySampler, a: Anatomy) -> None:
    """Cavity below the diaphragm becomes abdomen; a 4 mm band becomes diaphragm muscle."""
    lo_z, hi_z = a.z_dome - 105, a.z_dome + a.dome_right + 2
    below = s.box((-300, -300, -1e4), (300, 300, lo_z))
    if below is not None:
        zb = c.zone[below]
        zb[zb == _THORAX] = _ABDOMEN
        hb = c.hu[below]
        np.copyto(hb, np.float32(a.hu["fat"]), where=zb == _ABDOMEN)
    box = s.box((-300, -300, lo_z - 1), (300, 300, hi_z))
    if box is None:
        return
    x, y, z = s.coords(box)
    dome = _dome(a, x, y)
    cav = np.isin(c.zone[box], (_THORAX, _ABDOMEN))
    abd = cav & (z < dome - 4)
    dia = cav & ~abd & (z < dome)
    c.paint(box, abd, a.hu["fat"], zone=_ABDOMEN)
    c.paint(box, dia, a.hu["muscle"], zone=_DIAPHRAGM)
    c.paint(box, cav & (z >= dome), a.hu["mediastinum"], zone=_THORAX)


def _lowfreq(rng: np.random.Generator, shape: tuple[int, ...], cells: tuple[float, ...]) -> np.ndarray:
    """Smooth random field (unit variance) with features about ``cells`` voxels wide."""
    coarse = [int(n / cl) + 3 for n, cl in zip(shape, cells, strict=True)]
    f = rng.standard_normal(coarse, dtype=np.float32)
    for axis, (n, cl) in enumerate(zip(shape, cells, strict=True)):
        pos = np.arange(n) / cl + rng.uniform(0, 1)
        i0 = np.floor(pos).astype(np.intp)
        t = (pos - i0).astype(np.float32)
        t = (1 - np.cos(np.pi * t)) / 2
        shape_w = [1, 1, 1]
        shape_w[axis] = n
        lo = np.take(f, i0, axis=axis)
        hi = np.take(f, i0 + 1, axis=axis)
        hi -= lo
        hi *= t.reshape(shape_w)
        lo += hi
        f = lo
    return f


def _paint_bowel(c: _Canvas, s: BodySampler, a: Anatomy, rng: np.random.Generator) -> None:
    """Bowel loops, fat and a few gas pockets in the abdominal cavity (new at every scan)."""
    box = s.box((-200, -200, -1e4), (200, 200, a.z_dome - 20))
    if box is None:
        return
    zone = c.zone[box]
    shape = zone.shape
    sx, sy, sz = s.grid.spacing
    loops = _lowfreq(rng, shape, (22 / sz, 22 / sy, 22 / sx))
    detail = _lowfreq(rng, shape, (9 / sz, 9 / sy, 9 / sx))
    abd = zone == _ABDOMEN
    bowel = abd & (loops > -0.1)
    c.paint(box, bowel, np.float32(a.hu["bowel"]) + np.float32(6) * detail)
    gas = bowel & (detail > 1.9) & (loops > 0.6)
    c.paint(box, gas, -900.0)


def _paint_muscles(c: _Canvas, s: BodySampler, a: Anatomy) -> None:
    """Paraspinal muscles (whole length) and psoas (lower abdomen)."""
    for side in (-1, 1):
        centre = (side * 34 * a.width, a.spine_y + 48 * a.depth, 0.0)
        box = s.box((centre[0] - 26, centre[1] - 26, -1e4), (centre[0] + 26, centre[1] + 26, 1e4))
        if box is not None:
            x, y, _z = s.coords(box)
            e = ((x - np.float32(centre[0])) / np.float32(24)) ** 2 + ((y - np.float32(centre[1])) / np.float32(22)) ** 2
            mask = (e < 1) & np.isin(c.zone[box], (_MUSCLE, _THORAX, _ABDOMEN, _DIAPHRAGM))
            c.paint(box, mask, a.hu["muscle"], zone=_MUSCLE)
        top = a.z_dome - 80
        p0 = (side * 30 * a.width, a.spine_y - 2, top)
        p1 = (side * 45 * a.width, a.spine_y - 12, top - 160)
        box = s.box(*capsule_bounds(p0, p1, 26))
        if box is not None:
            coords = s.coords(box)
            below = np.clip((np.float32(top) - coords[2]) * np.float32(0.15), 0, 18) + 6
            mask = (capsule_d2(coords, p0, p1) < below * below) & (c.zone[box] == _ABDOMEN)
            c.paint(box, mask, a.hu["muscle"])


def _paint_thorax(c: _Canvas, s: BodySampler, a: Anatomy) -> None:
    hu = a.hu
    box = s.box((-250, -250, a.z_dome - 110), (250, 250, 1e4))
    if box is not None:
        idx = np.nonzero(c.zone[box] == _THORAX)
        x, y, _z = (v[idx] for v in s.coords(box))
        medial = np.interp(y, [-120, -40, -20, 50, 70, 120], [8, 10, 26, 26, 20, 20])
        keep = np.abs(x) > medial.astype(np.float32) * np.float32(a.width)
        idx = tuple(i[keep] for i in idx)
        c.hu[box][idx] = np.float32(hu["lung"]) + np.clip(y[keep] + 100, 0, 200) * np.float32(0.25)
        c.labels[box][idx] = LUNG
    centre, radii, (rz,) = a.heart
    rot = rotation_zyx(rz)
    fat = _ellipsoid(c, s, centre, tuple(r + 6 for r in radii), rot)
    if fat is not None:
        box, r2 = fat
        c.paint(box, (r2 < 1) & (c.zone[box] == _THORAX), hu["fat"])
    heart = _ellipsoid(c, s, centre, radii, rot)
    if heart is not None:
        box, r2 = heart
        inside = (r2 < 1) & (c.zone[box] == _THORAX)
        c.paint(box, inside, np.where(r2 > 0.7, np.float32(hu["muscle"]), np.float32(hu["blood"])), HEART)
    top = a.z_dome + 400
    carina = (0.0, a.spine_y - 35, a.z_dome + 95)
    trachea = [((0.0, a.spine_y - 35, top), carina, 9.0)]
    for side in (-1, 1):
        trachea.append((carina, (side * 42 * a.width, a.spine_y - 27, a.z_dome + 72), 6.5))
    for p0, p1, r in trachea:
        _capsule(c, s, p0, p1, r + 2, hu["muscle"], 0, zones=(_THORAX,))
    for p0, p1, r in trachea:
        _capsule(c, s, p0, p1, r, -1000.0, 0, zones=(_THORAX,))
    _capsule(c, s, (2.0, a.spine_y - 20, top), (2.0, a.spine_y - 24, a.z_dome - 30), 7.0,
             hu["muscle"], 0, zones=(_THORAX, _DIAPHRAGM, _ABDOMEN))


def _paint_abdomen(c: _Canvas, s: BodySampler, a: Anatomy) -> None:
    hu = a.hu
    abd = (_ABDOMEN,)
    (c1, r1, c2, r2_) = a.liver
    b1 = s.box(*ellipsoid_bounds(c1, r1))
    if b1 is not None:
        coords = s.coords(b1)
        inside = (ellipsoid_r2(coords, c1, r1) < 1) | (ellipsoid_r2(coords, c2, r2_) < 1)
        inside &= c.zone[b1] == _ABDOMEN
        c.paint(b1, inside, hu["liver"], LIVER)
    b2 = s.box(*ellipsoid_bounds(c2, r2_))
    if b2 is not None:
        inside = (ellipsoid_r2(s.coords(b2), c2, r2_) < 1) & (c.zone[b2] == _ABDOMEN)
        c.paint(b2, inside, hu["liver"], LIVER)
    for p0, p1, r in a.liver_vessels:
        _capsule(c, s, p0, p1, r, hu["liver"] - 20, None, where_label=LIVER)
    gb = _ellipsoid(c, s, *a.gallbladder)
    if gb is not None:
        box, r2 = gb
        c.paint(box, (r2 < 1) & np.isin(c.zone[box], abd), hu["fluid"], 0)
    centre, radii, (rz,) = a.spleen
    sp = _ellipsoid(c, s, centre, radii, rotation_zyx(rz))
    if sp is not None:
        box, r2 = sp
        c.paint(box, (r2 < 1) & (c.zone[box] == _ABDOMEN), hu["spleen"], SPLEEN)
    centre, radii, (gas,) = a.stomach
    st = _ellipsoid(c, s, centre, radii, rotation_zyx(-20))
    if st is not None:
        box, r2 = st
        inside = (r2 < 1) & (c.zone[box] == _ABDOMEN)
        _x, y, _z = s.coords(box)
        level = np.float32(centre[1] - radii[1] * (1 - 2 * gas))
        wall = np.float32((1 - 4.0 / min(radii)) ** 2)
        content = np.where(y < level, np.float32(-1000), np.float32(hu["fluid"]))
        c.paint(box, inside, np.where(r2 > wall, np.float32(hu["muscle"] - 10), content), STOMACH)
    for centre, radii, (rz, ry) in a.kidneys:
        rot = rotation_zyx(rz, ry)
        kid = _ellipsoid(c, s, centre, radii, rot)
        if kid is None:
            continue
        box, r2 = kid
        inside = (r2 < 1) & (c.zone[box] == _ABDOMEN)
        cortex = np.float32((1 - 7.0 / min(radii)) ** 2)
        value = np.where(r2 > cortex, np.float32(hu["kidney"] + 8), np.float32(hu["kidney"] - 3))
        c.paint(box, inside, value, KIDNEY)
        side = 1 if centre[0] > 0 else -1
        sinus_c = (centre[0] - side * 12, centre[1] - 8, centre[2])
        sinus = _ellipsoid(c, s, sinus_c, (10.0, 12.0, radii[2] * 0.45), rot)
        if sinus is not None:
            sb, sr2 = sinus
            c.paint(sb, (sr2 < 1) & (c.labels[sb] == KIDNEY), hu["fat"] + 40, 0)
    for p0, p1, r in _ivc_path(a):
        _capsule(c, s, p0, p1, r, hu["blood"], 0, zones=(_ABDOMEN, _DIAPHRAGM, _THORAX))


def _aorta_path(a: Anatomy) -> list[tuple[tuple, tuple, float]]:
    zd, sy, w = a.z_dome, a.spine_y, a.width
    pts = [(-8 * w, -35, zd + 70), (-10 * w, -25, zd + 112), (2 * w, -8, zd + 128),
           (18 * w, 14, zd + 120), (24 * w, sy - 20, zd + 98), (24 * w, sy - 22, zd),
           (10 * w, sy - 32, zd - 120), (8 * w, sy - 34, zd - 260)]
    radii = [15, 14, 13, 12, 12, 11, 10]
    return [(pts[i], pts[i + 1], float(radii[i])) for i in range(len(pts) - 1)]


def _ivc_path(a: Anatomy) -> list[tuple[tuple, tuple, float]]:
    zd, sy, w = a.z_dome, a.spine_y, a.width
    pts = [(-24 * w, sy - 24, zd - 260), (-26 * w, sy - 20, zd - 60), (-20 * w, sy - 30, zd + 5),
           (-10 * w, -20, zd + 25)]
    return [(pts[i], pts[i + 1], 11.0) for i in range(len(pts) - 1)]


def _spine_y(a: Anatomy, z: float) -> float:
    return a.spine_y + 6 * float(np.clip((z - a.z_dome) / 150, -1, 1))


def _levels(a: Anatomy) -> list[float]:
    """Body z of the centre of each vertebral body (bottom to top)."""
    start = a.z_dome - 10 * a.pitch + a.first_level * a.pitch
    return [start + k * a.pitch for k in range(22)]


def _paint_spine(c: _Canvas, s: BodySampler, a: Anatomy) -> None:
    hu = a.hu
    height = a.pitch * 0.76
    for zk in _levels(a):
        yv = _spine_y(a, zk)
        lumbar = zk < a.z_dome - 60
        rx, ry = (21.0, 16.0) if lumbar else (17.0, 14.0)
        # vertebral body: cortical shell around cancellous bone
        box = s.box((-rx, yv - ry, zk - height / 2), (rx, yv + ry, zk + height / 2))
        if box is not None:
            x, y, z = s.coords(box)
            e = (x / np.float32(rx)) ** 2 + ((y - np.float32(yv)) / np.float32(ry)) ** 2
            dz = np.abs(z - np.float32(zk))
            body = (e < 1) & (dz < height / 2)
            inner = (e < (1 - 2.5 / ry) ** 2) & (dz < height / 2 - 2)
            c.paint(box, body, np.where(inner, np.float32(hu["marrow"]), np.float32(hu["bone"] * 0.8)), BONE)
        # disc above
        zd = zk + a.pitch / 2
        gap = a.pitch - height
        box = s.box((-rx, yv - ry, zd - gap / 2), (rx, yv + ry, zd + gap / 2))
        if box is not None:
            x, y, z = s.coords(box)
            e = (x / np.float32(rx)) ** 2 + ((y - np.float32(yv)) / np.float32(ry)) ** 2
            c.paint(box, (e < 1) & (np.abs(z - np.float32(zd)) <= gap / 2), hu["disc"], 0)
        # neural arch, spinous and transverse processes
        yc = yv + ry + 8
        box = s.box((-16, yc - 16, zk - height / 2), (16, yc + 16, zk + height / 2))
        if box is not None:
            x, y, z = s.coords(box)
            d2 = x * x + (y - np.float32(yc)) ** 2
            arch = (d2 < 15.0**2) & (y > np.float32(yv + ry - 4)) & (np.abs(z - np.float32(zk)) < height / 2)
            c.paint(box, arch, hu["bone"] * 0.7, BONE)
        processes = [((0.0, yc + 10, zk), (0.0, yc + 28, zk - 10), 4.5)]
        for side in (-1, 1):
            processes.append(((side * 6.0, yc, zk), (side * (36.0 if lumbar else 30.0), yc + 6, zk + 2), 5.0))
        for p0, p1, r in processes:
            _capsule(c, s, p0, p1, r, hu["bone"] * 0.7, BONE)
    # spinal canal (cord and CSF), continuous
    top, bottom = a.z_dome + 400, a.z_dome - 400
    for z0, z1 in ((bottom, a.z_dome - 150), (a.z_dome - 150, a.z_dome + 150), (a.z_dome + 150, top)):
        y0 = _spine_y(a, z0) + (16 if z0 < a.z_dome - 60 else 14) + 8
        y1 = _spine_y(a, z1) + (16 if z1 < a.z_dome - 60 else 14) + 8
        _capsule(c, s, (0.0, y0, z0), (0.0, y1, z1), 8.5, hu["csf"], 0)


def _paint_ribs(c: _Canvas, s: BodySampler, a: Anatomy, ring: tuple) -> None:
    """Ribs (and costal cartilage, sternum) in the band inside the muscle wall."""
    if not ring:
        return
    kk, jj, ii, x, y, z, dd = ring
    if len(z) == 0:
        return
    idx = (kk, jj, ii)
    hu, lab = c.hu, c.labels
    order = np.argsort(z, kind="stable")
    zs = z[order]
    ax = np.abs(x)
    levels = [zk for zk in _levels(a) if zk > a.z_dome - 115]
    y_post = a.b_post
    for n, zk in enumerate(levels):
        floating = n < 2
        y_ant = 10.0 if floating else -0.55 * a.b_ant_chest
        drop = 55.0 if not floating else 30.0
        lo, hi = np.searchsorted(zs, [zk - drop - 12, zk + 8])
        sel = order[lo:hi]
        if len(sel) == 0:
            continue
        yy = y[sel]
        frac = np.clip((np.float32(y_post) - yy) / np.float32(y_post - y_ant), 0, 1)
        dz = (z[sel] - (np.float32(zk) - np.float32(drop) * frac)) / np.float32(6.0)
        dr = (dd[sel] - np.float32(1.5)) / np.float32(3.5)
        e = dz * dz + dr * dr
        bone = (e < 1) & (yy > np.float32(y_ant)) & (ax[sel] > 30)
        pick = sel[bone]
        target = (idx[0][pick], idx[1][pick], idx[2][pick])
        hu[target] = np.where(e[bone] < 0.35, np.float32(a.hu["marrow"]), np.float32(a.hu["bone"]))
        lab[target] = BONE
        if not floating and zk > a.z_dome - 60:
            cart = (e < 1) & (yy <= np.float32(y_ant)) & (ax[sel] > 12)
            pick = sel[cart]
            hu[(idx[0][pick], idx[1][pick], idx[2][pick])] = np.float32(a.hu["cartilage"])
    sternum = (ax < 14) & (y < 0) & (dd > -3) & (dd < 9) & (z > np.float32(a.z_dome - 30))
    target = (idx[0][sternum], idx[1][sternum], idx[2][sternum])
    hu[target] = np.where(dd[sternum] > 1.5, np.float32(a.hu["marrow"] + 100), np.float32(a.hu["bone"] * 0.8))
    lab[target] = BONE


# --- lesions, noise ---------------------------------------------------------------------

def _paint_lesions(c: _Canvas, s: BodySampler, model: PatientModel, day: int) -> dict[int, Box]:
    """Paint every lesion present at ``day``; the box holding each one's voxels, by id."""
    in_group = {i: g for g in model.groups for i in g.lesions}
    by_id = {spec.id: spec for spec in model.lesions}
    boxes: dict[int, Box] = {}
    done: set[LesionGroup] = set()
    for spec in model.lesions:
        group = in_group.get(spec.id)
        if group is None:
            box = _paint_lesion(c, s, spec, day)
            if box is not None:
                boxes[spec.id] = box
        elif group not in done:
            done.add(group)
            boxes.update(_paint_group(c, s, [by_id[i] for i in group.lesions], group.bridge(day), day))
    return boxes


def _allowed(c: _Canvas, box: Box, spec: LesionSpec) -> np.ndarray:
    """Where ``spec`` may be painted: over its host labels, inside the body (nodes: cavities)."""
    zone = c.zone[box]
    ok = np.isin(c.labels[box], spec.paint_labels)
    ok &= np.isin(zone, (_THORAX, _ABDOMEN)) if spec.organ == NODE else (zone != _OUT)
    return ok


def _paint_lesion(c: _Canvas, s: BodySampler, spec: LesionSpec, day: int) -> Box | None:
    if spec.scale(day) <= 0:
        return None
    box = s.box(*spec.bounds(day))
    if box is None:
        return None
    result = spec.inside(s.coords(box), day)
    if result is None:
        return None
    mask, core = result
    mask &= _allowed(c, box, spec)
    if not mask.any():
        return None
    value = np.where(core, np.float32(spec.core_hu), np.float32(spec.hu))
    c.paint(box, mask, value, spec.label)
    np.copyto(c.lesion_ids[box], np.uint8(spec.id), where=mask)
    return box_of(box, mask)


def _paint_group(c: _Canvas, s: BodySampler, specs: list[LesionSpec], width: float,
                 day: int) -> dict[int, Box]:
    """Paint the parts of ``specs`` as one smooth union (bridge ``width`` mm); each voxel
    takes the id of the lesion whose part is nearest."""
    parts = [(spec, part) for spec in specs for part in spec.parts if part.scale(day) > 0]
    if not parts:
        return {}
    lo = np.min([p.bounds(day)[0] for _s, p in parts], axis=0)
    hi = np.max([p.bounds(day)[1] for _s, p in parts], axis=0)
    box = s.box(lo, hi)
    if box is None:
        return {}
    coords = s.coords(box)
    fields = [p.field(coords, day) for _s, p in parts]
    union = fields[0][0].copy()
    nearest = fields[0][0].copy()
    owner = np.zeros(union.shape, np.uint8)
    for n, (dist, _core) in enumerate(fields[1:], start=1):
        union = smooth_min(union, dist, width)
        closer = dist < nearest
        owner[closer] = n
        np.minimum(nearest, dist, out=nearest)
    mask = (union < 0) & _allowed(c, box, specs[0])
    out: dict[int, Box] = {}
    for n, ((spec, _part), (_dist, core)) in enumerate(zip(parts, fields, strict=True)):
        mine = mask & (owner == n)
        if not mine.any():
            continue
        c.paint(box, mine, np.where(core, np.float32(spec.core_hu), np.float32(spec.hu)), spec.label)
        np.copyto(c.lesion_ids[box], np.uint8(spec.id), where=mine)
    for spec in specs:
        mine = c.lesion_ids[box] == spec.id
        if mine.any():
            out[spec.id] = box_of(box, mine)
    return out


def _measure(c: _Canvas, grid: Grid, pose: Pose, deformation: Deformation | None,
             spec: LesionSpec, timepoint: int, day: int, box: Box | None) -> LesionTruth:
    volume, longest, short = 0.0, 0.0, 0.0
    parts, touching, centroid = 0, (), None
    if box is not None:
        mask = c.lesion_ids[box] == spec.id
        volume = float(mask.sum()) * grid.voxel_volume
        longest, short = axial_diameters(mask, grid.spacing)
        parts = count_components(mask)
        touching = _touching(c.lesion_ids, box, spec.id)
        k, j, i = np.nonzero(mask)
        ijk = np.array([i.mean() + box[2].start, j.mean() + box[1].start, k.mean() + box[0].start])
        centroid = grid.index_to_lps(ijk)
    r3 = lambda v: round(float(v), 3)  # noqa: E731 - what lesions.json holds
    centre = np.array(spec.centre_body)[None]
    centre_lps = (pose.to_lps(centre) if deformation is None
                  else deformation.locate(pose.r, pose.t, centre))[0]
    return LesionTruth(
        id=spec.id, organ=spec.organ, kind=spec.kind, timepoint=timepoint, day=day,
        present=volume > 0,
        centre_lps=tuple(r3(v) for v in centre_lps),  # type: ignore[arg-type]
        centre_body=tuple(r3(v) for v in spec.centre_body),  # type: ignore[arg-type]
        radii_mm=tuple(r3(v) for v in spec.radii(day)),  # type: ignore[arg-type]
        nominal_volume_mm3=r3(spec.nominal_volume(day)), volume_mm3=r3(volume),
        longest_diameter_mm=r3(longest), short_diameter_mm=r3(short), hu=r3(spec.hu),
        n_components=parts, touching=touching,
        centroid_lps=None if centroid is None else tuple(r3(v) for v in centroid),  # type: ignore[arg-type]
        site=spec.site,
    )


def count_components(mask: np.ndarray) -> int:
    """Number of face-connected (6-neighbour) components of a boolean ``[k, j, i]`` mask."""
    import SimpleITK as sitk

    if not mask.any():
        return 0
    components = sitk.ConnectedComponentImageFilter()
    components.FullyConnectedOff()
    components.Execute(sitk.GetImageFromArray(mask.view(np.uint8)))
    return int(components.GetObjectCount())


def _touching(ids: np.ndarray, box: Box, lesion: int) -> tuple[int, ...]:
    """Ids of other lesions with a voxel face-adjacent to a voxel of ``lesion``."""
    grown = tuple(slice(max(sl.start - 1, 0), min(sl.stop + 1, n))
                  for sl, n in zip(box, ids.shape, strict=True))
    part = ids[grown]
    mine = part == lesion
    found: set[int] = set()
    for axis in range(3):
        for a, b in ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))):
            src = [slice(None)] * 3
            dst = [slice(None)] * 3
            src[axis], dst[axis] = a, b
            found.update(int(v) for v in np.unique(part[tuple(dst)][mine[tuple(src)]]))
    return tuple(sorted(found - {0, lesion}))


# Noise is added before a light blur (CT noise is correlated between neighbours); the
# blur shrinks its standard deviation by this factor (kernels in _finish).
_NOISE_GAIN = math.sqrt((0.25**2 * 2 + 0.5**2) ** 2 * (0.15**2 * 2 + 0.7**2))
_XY_SIDE, _Z_SIDE = np.float32(0.25), np.float32(0.15)


def _finish(hu: np.ndarray, rng: np.random.Generator | None, sd: float) -> np.ndarray:
    """Add noise (``sd`` HU after the blur), blur lightly, round and clip to int16 HU.

    Works a few slices at a time (noise and in-plane blur, then the blur across
    slices) so the temporaries stay in cache; ``hu`` is overwritten.
    """
    nz, ny, nx = hu.shape
    step = max(1, (1 << 18) // max(ny * nx, 1))
    scale = np.float32(sd / _NOISE_GAIN)
    for k in range(0, nz, step):
        part = hu[k:k + step]
        if rng is not None:
            noise = rng.standard_normal(part.shape, dtype=np.float32)
            noise *= scale
            part += noise
        for axis in (2, 1):
            _blur_axis(part, axis, _XY_SIDE)
    out = np.empty(hu.shape, np.int16)
    for k in range(0, nz, step):
        stop = min(k + step, nz)
        below = hu[k - 1:stop - 1] if k > 0 else np.concatenate([hu[:1], hu[:stop - 1]])
        above = hu[k + 1:stop + 1] if stop < nz else np.concatenate([hu[k + 1:], hu[-1:]])
        block = below + above
        block *= _Z_SIDE
        block += hu[k:stop] * np.float32(1 - 2 * _Z_SIDE)
        np.rint(block, out=block)
        np.clip(block, -1024, 3071, out=block)
        out[k:stop] = block
    return out


def _blur_axis(a: np.ndarray, axis: int, side: np.float32) -> None:
    """In place ``[side, 1 - 2 side, side]`` along ``axis`` (edges repeated)."""
    if a.shape[axis] < 3:
        return
    v = np.moveaxis(a, axis, 0)
    out = v * np.float32(1 - 2 * side)
    tmp = v[:-1] * side
    out[1:] += tmp
    np.multiply(v[1:], side, out=tmp)
    out[:-1] += tmp
    out[0] += v[0] * side
    out[-1] += v[-1] * side
    v[...] = out
