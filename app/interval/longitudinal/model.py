"""The plain data of a longitudinal analysis: what every step produces and every report reads.

Everything here is a dataclass of plain values (no arrays, no Qt, no SimpleITK), so the
same objects serve the CLI, the demo, the viewer and the tests, and :meth:`to_dict` /
:func:`report_from_dict` give the documented ``report.json`` (``SCHEMA_VERSION``).

Conventions (as everywhere in Interval):

* positions are DICOM patient coordinates, LPS, millimetres;
* voxel indices are in array order ``(slice, row, column)`` = ``(k, j, i)``;
* timepoints are numbered from 0 (the baseline) in date order;
* a *component* is one connected region of lesion voxels in one timepoint's segmentation,
  numbered from 1 in that timepoint's component map; a *track* is one lesion followed
  across timepoints (``lesion_id`` "L1", "L2"... and a DICOM ``tracking_uid``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1

Vec3 = tuple[float, float, float]
Index3 = tuple[int, int, int]

# Registration verdicts.
REG_IDENTITY = "identity"  # the reference timepoint itself
REG_OK = "ok"
REG_QUESTIONABLE = "questionable"  # usable, but the reader should check it
REG_FAILED = "failed"  # never used: its lesions are not matched by position

# Track roles (RECIST 1.1).
ROLE_TARGET = "target"
ROLE_NON_TARGET = "non-target"
ROLE_NEW = "new"  # first seen after the baseline
ROLE_EXCLUDED = "excluded"  # the reader excluded it (e.g. a false positive)

# Match event kinds.
EVENT_MATCH = "match"
EVENT_NEW = "new"
EVENT_VANISHED = "vanished"
EVENT_MERGE = "merge"
EVENT_SPLIT = "split"

# RECIST responses.
CR, PR, SD, PD, NE = "CR", "PR", "SD", "PD", "NE"
NON_CR_NON_PD = "Non-CR/Non-PD"


@dataclass(frozen=True)
class SeriesChoice:
    """The series used for one timepoint, and why it was chosen."""

    series_instance_uid: str
    stack_uid: str  # Interval's stack uid (give it to ``interval convert``)
    series_number: int | None
    modality: str
    description: str
    dimensions: Index3  # columns, rows, slices (as ``interval info``)
    spacing: Vec3  # x, y, z mm
    orientation: str  # "axial", "sagittal oblique", ...
    reason: str  # e.g. "thinnest axial CT series (1.0 mm) of 3"
    candidates: int = 1  # how many series of the study were considered
    frame_of_reference_uid: str = ""


@dataclass(frozen=True)
class TimepointInfo:
    """One examination on the patient's timeline."""

    index: int  # 0 = baseline
    label: str  # "baseline", "follow-up 1", ...
    study_instance_uid: str
    study_date: dt.date | None
    study_time: str
    days_from_baseline: int | None
    series: SeriesChoice
    accession_number: str = ""
    study_description: str = ""
    source: str = ""  # the folder or file it was read from, as given


@dataclass
class Timeline:
    """The studies of ONE patient, oldest first."""

    patient_id: str
    patient_name: str
    timepoints: list[TimepointInfo]
    patient_birth_date: dt.date | None = None
    patient_sex: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegistrationResult:
    """How one timepoint was aligned to its reference (ITK convention: the transform maps a
    point of the *reference* (fixed) image to the same anatomy in this (moving) timepoint)."""

    timepoint: int  # the moving timepoint
    reference: int  # the fixed timepoint (the baseline, or the previous one when chained)
    method: str  # "identity", "rigid", "affine", "deformable"
    status: str  # REG_IDENTITY / REG_OK / REG_QUESTIONABLE / REG_FAILED
    message: str  # one sentence for the reader, e.g. "body overlap 0.97 after affine"
    metric: float | None = None  # final Mattes mutual information (lower is better)
    body_overlap: float | None = None  # Dice of the body masks after registration, 0..1
    matrix: tuple[tuple[float, ...], ...] | None = None  # 4x4 reference LPS -> timepoint LPS (linear part)
    translation_mm: Vec3 | None = None  # of the linear part
    rotation_deg: float | None = None  # of the linear part
    transform_file: str | None = None  # relative to the output folder (.tfm or .h5)
    seconds: float = 0.0


@dataclass(frozen=True)
class Axis:
    """A diameter drawn on one slice: its length and end points (for drawing and checking)."""

    length_mm: float
    slice_index: int  # k, the array slice the axis lies in
    start_voxel: Vec3  # (k, j, i), sub-voxel allowed
    end_voxel: Vec3
    start_lps: Vec3
    end_lps: Vec3


@dataclass(frozen=True)
class LesionMeasurement:
    """One connected lesion region at one timepoint, measured."""

    timepoint: int
    component: int  # id in this timepoint's component map (1..n)
    label_value: int  # value in the segmentation it came from
    label_name: str  # name of that label ("lesion", "lymph node", ...)
    organ: str  # organ it sits in ("liver", "lung", "lymph node", "unknown")
    is_lymph_node: bool
    voxel_count: int
    volume_ml: float
    long_axis: Axis  # RECIST long axis: longest in-plane diameter over all slices
    short_axis: Axis  # longest diameter perpendicular to it, same slice
    max_diameter_3d_mm: float
    centroid_lps: Vec3  # in this timepoint's space
    centroid_baseline_lps: Vec3 | None = None  # the same point mapped into baseline space
    mean_intensity: float | None = None
    sd_intensity: float | None = None
    bbox_lo: Index3 = (0, 0, 0)  # (k, j, i) inclusive
    bbox_hi: Index3 = (0, 0, 0)  # (k, j, i) exclusive
    touches_border: bool = False  # cut by the edge of the image: size unreliable
    # how sure the segmentation is of this region, 0..1 (e.g. its mean foreground
    # probability); None when the segmentation came without one (a label file, an older
    # report): never "equivocal" then (see recist.RecistRules.equivocal_below)
    score: float | None = None

    @property
    def recist_diameter_mm(self) -> float:
        """The diameter RECIST sums: the short axis of a lymph node, else the long axis."""
        return self.short_axis.length_mm if self.is_lymph_node else self.long_axis.length_mm

    @property
    def key(self) -> tuple[int, int]:
        return (self.timepoint, self.component)


@dataclass
class Track:
    """One lesion followed across the timeline."""

    lesion_id: str  # "L1", "L2", ... stable for the same input and corrections
    tracking_uid: str  # DICOM UID, stable like lesion_id
    name: str  # shown to the reader (default: lesion_id + organ); the reader may rename
    organ: str
    is_lymph_node: bool
    role: str = ROLE_NON_TARGET  # ROLE_TARGET / ROLE_NON_TARGET / ROLE_NEW / ROLE_EXCLUDED
    role_reason: str = ""  # e.g. "measurable (long axis 23 mm), among the 2 largest in liver"
    role_source: str = "auto"  # "auto" or "reader"
    # timepoint -> component ids (several when the lesion split; empty list = not seen)
    members: dict[int, list[int]] = field(default_factory=dict)
    first_seen: int = 0
    merged_into: dict[int, str] = field(default_factory=dict)  # timepoint -> track it merged into

    def components_at(self, timepoint: int) -> list[int]:
        return list(self.members.get(timepoint, []))


@dataclass(frozen=True)
class MatchEvent:
    """One decision of the matcher (or of the reader) between two timepoints."""

    kind: str  # EVENT_MATCH / EVENT_NEW / EVENT_VANISHED / EVENT_MERGE / EVENT_SPLIT
    from_timepoint: int | None  # None for a lesion new at ``to_timepoint``
    to_timepoint: int
    lesions: tuple[str, ...]  # track ids involved
    components_from: tuple[int, ...] = ()
    components_to: tuple[int, ...] = ()
    overlap: float | None = None  # Dice in baseline space
    distance_mm: float | None = None  # centroid distance in baseline space
    source: str = "auto"  # "auto" or "reader"


@dataclass(frozen=True)
class RecistTimepoint:
    """RECIST 1.1 at one timepoint (the baseline has response "baseline")."""

    timepoint: int
    sum_mm: float | None  # sum of target diameters (None if a target is not evaluable)
    target_diameters: dict[str, float]  # lesion_id -> mm counted in the sum
    change_from_baseline_pct: float | None
    nadir_mm: float | None  # smallest sum so far, baseline included, before this timepoint
    change_from_nadir_pct: float | None
    change_from_nadir_mm: float | None
    target_response: str  # CR / PR / SD / PD / NE, "baseline" at the baseline
    non_target_response: str  # CR / Non-CR/Non-PD / PD / NE / "none"
    new_lesions: tuple[str, ...]  # lesion ids counted here as unequivocal new lesions
    overall_response: str
    reason: str  # why, in one or two sentences
    total_volume_ml: float  # all tracked (not excluded) lesions
    volume_change_pct: float | None  # against the baseline total
    # new lesions seen here but held equivocal (score below the calibrated threshold): no PD
    equivocal_new_lesions: tuple[str, ...] = ()
    # of ``new_lesions``, those that confirm an earlier equivocal finding: lesion id -> the
    # timepoint it was first seen (equivocal) at, which the progression dates from
    confirmed_new_lesions: dict[str, int] = field(default_factory=dict)


@dataclass
class SegmentationSource:
    """Where one timepoint's lesion segmentation came from."""

    timepoint: int
    kind: str  # "model" or "file"
    description: str  # "phantom-unet 1.0.0 (plugin interval.unet 1.0.0, bundled: /...)" or a path
    model: str = ""
    model_version: str = ""
    plugin_id: str = ""
    plugin_version: str = ""
    plugin_source: str = ""  # the plugin's source kind and path
    path: str = ""  # the label file, if given


@dataclass(frozen=True)
class LesionForecast:
    """One method's forecast of one lesion's RECIST diameter at a future day (a model
    estimate, never a measurement), as the growth-forecast analyzer returned it.

    ``method`` is e.g. "gru" or "gompertz" (``method_label`` the name shown), ``kind``
    "network" or "classical"; ``default`` marks the forecast to show first (the network's).
    Days count from the baseline, as ``TimepointInfo.days_from_baseline``: ``last_day`` is
    the lesion's last observed visit, ``target_day`` (``target_date``) the day forecast at,
    ``horizon_days`` the distance between them. ``median_mm`` is the median forecast,
    ``lower_mm`` / ``upper_mm`` the central ``interval`` band (0.8: 80 %), ``quantiles``
    level ("0.1") -> mm; None when the method has none. ``status`` is "ok", "widened"
    (input the model was not trained for: wider band) or "refused" (no number), with the
    reason in ``message``.
    """

    lesion_id: str
    method: str
    method_label: str
    kind: str
    default: bool
    target_day: float | None
    target_date: dt.date | None
    horizon_days: float | None
    median_mm: float | None
    lower_mm: float | None
    upper_mm: float | None
    quantiles: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    message: str = ""
    last_day: float | None = None
    interval: float | None = None


@dataclass
class LongitudinalReport:
    """Everything ``report.json`` holds (see :func:`to_dict`)."""

    timeline: Timeline
    registrations: list[RegistrationResult] = field(default_factory=list)
    measurements: list[LesionMeasurement] = field(default_factory=list)
    tracks: list[Track] = field(default_factory=list)
    events: list[MatchEvent] = field(default_factory=list)
    recist: list[RecistTimepoint] = field(default_factory=list)
    segmentations: list[SegmentationSource] = field(default_factory=list)
    corrections: list[dict[str, Any]] = field(default_factory=list)  # as applied (sidecar ops)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    outputs: dict[str, str] = field(default_factory=dict)  # what -> path relative to OUT
    interval_version: str = ""
    created: str = ""  # ISO 8601 time the report was made
    schema: int = SCHEMA_VERSION
    # growth forecasts (model estimates) of the tracked lesions; empty when none was made
    forecasts: list[LesionForecast] = field(default_factory=list)
    forecast_note: str = ""  # the forecasting analyzer's summary (training data, limits)
    forecast_source: str = ""  # the analyzer and its plugin (id, version, source)
    forecast_version: str = ""  # the version of the plugin that made the forecasts
    # the reader's sign-off (the longitudinal workspace's export); empty when not signed off
    signed_off_by: str = ""  # the name the reader typed, shown as plain text
    signed_off_at: str = ""  # ISO 8601 time of the sign-off
    # values the reader changed: {"lesion_id", "timepoint" (None: the whole lesion),
    # "value" ("long_axis_mm", "role", "name", "tracking", "overall_response"...),
    # "auto", "reader"} (see longitudinal.workspace_derive.reader_changes)
    reader_changes: list[dict[str, Any]] = field(default_factory=list)
    # the calibrated score below which RECIST held a new lesion equivocal (the segmentation
    # model's; recist.RecistRules.equivocal_below), kept so a re-assessment applies the same
    # rule; None: no equivocal rule
    equivocal_below: float | None = None

    def forecasts_of(self, lesion_id: str) -> list[LesionForecast]:
        """The forecasts of one lesion, the default (network) one first."""
        found = [f for f in self.forecasts if f.lesion_id == lesion_id]
        return sorted(found, key=lambda f: not f.default)

    def measurement(self, timepoint: int, component: int) -> LesionMeasurement | None:
        for m in self.measurements:
            if m.timepoint == timepoint and m.component == component:
                return m
        return None

    def track(self, lesion_id: str) -> Track | None:
        for t in self.tracks:
            if t.lesion_id == lesion_id:
                return t
        return None

    def measurements_of(self, track: Track, timepoint: int) -> list[LesionMeasurement]:
        """The components of ``track`` at ``timepoint`` (several if it split, none if absent)."""
        return [m for c in track.components_at(timepoint)
                if (m := self.measurement(timepoint, c)) is not None]

    def score_of(self, track: Track, timepoint: int) -> float | None:
        """The segmentation score of ``track`` at ``timepoint`` (:func:`lesion_score` of its
        components); None when absent, merged into another lesion or unknown."""
        if timepoint in track.merged_into:
            return None
        return lesion_score(self.measurements_of(track, timepoint))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able ``report.json`` content (dates as ISO text, tuples as lists)."""
        return _plain(self)


def lesion_score(measurements: Sequence[LesionMeasurement]) -> float | None:
    """The score of one lesion made of ``measurements`` (its components at one timepoint):
    their voxel-weighted mean (the mean over all its voxels when each score is a mean
    probability); None when there is none or any component's score is unknown."""
    if not measurements or any(m.score is None for m in measurements):
        return None
    weights = [max(m.voxel_count, 1) for m in measurements]
    return sum(w * float(m.score) for w, m in zip(weights, measurements, strict=True)) / sum(weights)


# --- (de)serialisation -------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def report_from_dict(data: dict[str, Any]) -> LongitudinalReport:
    """Rebuild a :class:`LongitudinalReport` from ``report.json`` content.

    Raises ``ValueError`` when the schema is newer than this Interval understands.
    """
    schema = int(data.get("schema", 0))
    if schema > SCHEMA_VERSION:
        raise ValueError(f"report schema {schema} is newer than this Interval reads "
                         f"({SCHEMA_VERSION})")
    return _build(LongitudinalReport, data)


def _build(cls: Any, data: Any) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name])
    return cls(**kwargs)


def _convert(tp: Any, value: Any) -> Any:  # noqa: PLR0911 - one branch per kind of type
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value)
    if tp is dt.date:
        return dt.date.fromisoformat(value)
    if origin is list:
        return [_convert(args[0], v) for v in value] if args else list(value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        if args:
            return tuple(_convert(a, v) for a, v in zip(args, value, strict=False))
        return tuple(value)
    if origin is dict:
        key_type, value_type = args if args else (str, Any)
        return {_convert(key_type, k): _convert(value_type, v) for k, v in value.items()}
    if tp is int:
        return int(value)
    if tp is float:
        return float(value)
    return value
