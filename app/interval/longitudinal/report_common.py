"""What every report writer derives the same way from a :class:`LongitudinalReport`.

One lesion (track) at one timepoint becomes a :class:`LesionAtTimepoint`: its status and
the values of its components added up, so ``lesions.csv``, the HTML/PDF tables, the
charts and the DICOM SR all show the same numbers.

Status of a track at a timepoint (first rule that applies):

* ``merged``  - it merged into another lesion there (``Track.merged_into``); its size is
  counted with that lesion, so its values are blank;
* ``absent``  - no component (not seen, or not yet appeared);
* ``new``     - first seen at this follow-up;
* ``split``   - several components;
* ``present`` - one component.

Values of a lesion with several components (split): volume, voxel count, mean and SD of
intensity over all its voxels (pooled); long and short axis of the component with the
longest long axis; maximum 3-D diameter the largest; RECIST diameter the sum of the
components' diameters (RECIST 1.1: the diameters of fragments are added).  The RECIST
diameter of a target lesion is the one the RECIST table counted when it has one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from interval.core.errors import IntervalError
from interval.core.labels import LabelInfo, LabelTable
from interval.core.volume import Volume
from interval.longitudinal.model import (
    REG_FAILED,
    ROLE_EXCLUDED,
    LesionMeasurement,
    LongitudinalReport,
    TimepointInfo,
    Track,
)

STATUS_PRESENT = "present"
STATUS_ABSENT = "absent"
STATUS_NEW = "new"
STATUS_MERGED = "merged"
STATUS_SPLIT = "split"


class ReportError(IntervalError):
    """A report could not be written or read (damaged file, inconsistent inputs)."""


@dataclass(frozen=True)
class LesionAtTimepoint:
    """One lesion at one timepoint, as the reports show it (``None``: not applicable)."""

    track: Track
    timepoint: int
    status: str
    components: tuple[int, ...]
    measurements: tuple[LesionMeasurement, ...]
    volume_ml: float | None
    long_axis_mm: float | None
    short_axis_mm: float | None
    recist_diameter_mm: float | None
    max_diameter_3d_mm: float | None
    centroid_baseline_lps: tuple[float, float, float] | None
    mean_intensity: float | None
    sd_intensity: float | None
    merged_into: str = ""

    @property
    def seen(self) -> bool:
        """Whether the lesion has its own measured region here."""
        return bool(self.measurements) and self.status != STATUS_MERGED

    @property
    def main(self) -> LesionMeasurement | None:
        """The component whose axes are reported (the longest long axis)."""
        if not self.measurements:
            return None
        return max(self.measurements, key=lambda m: m.long_axis.length_mm)


def status_of(track: Track, timepoint: int) -> str:
    """The status word of ``track`` at ``timepoint`` (see the module docstring)."""
    if timepoint in track.merged_into:
        return STATUS_MERGED
    components = track.components_at(timepoint)
    if not components:
        return STATUS_ABSENT
    if timepoint == track.first_seen and timepoint > 0:
        return STATUS_NEW
    return STATUS_SPLIT if len(components) > 1 else STATUS_PRESENT


def lesion_at(report: LongitudinalReport, track: Track, timepoint: int) -> LesionAtTimepoint:
    """Status and added-up values of ``track`` at ``timepoint``."""
    status = status_of(track, timepoint)
    ms = tuple(report.measurements_of(track, timepoint))
    counted = _recist_counted(report, track.lesion_id, timepoint)
    if status == STATUS_MERGED or not ms:
        return LesionAtTimepoint(
            track, timepoint, status, tuple(track.components_at(timepoint)), ms,
            None, None, None, counted, None, None, None, None,
            merged_into=track.merged_into.get(timepoint, ""),
        )
    main = max(ms, key=lambda m: m.long_axis.length_mm)
    recist = counted if counted is not None else sum(m.recist_diameter_mm for m in ms)
    mean, sd = _pooled(ms)
    return LesionAtTimepoint(
        track=track, timepoint=timepoint, status=status,
        components=tuple(track.components_at(timepoint)), measurements=ms,
        volume_ml=sum(m.volume_ml for m in ms),
        long_axis_mm=main.long_axis.length_mm, short_axis_mm=main.short_axis.length_mm,
        recist_diameter_mm=recist,
        max_diameter_3d_mm=max(m.max_diameter_3d_mm for m in ms),
        centroid_baseline_lps=_centroid(ms, timepoint),
        mean_intensity=mean, sd_intensity=sd,
    )


def lesion_table(report: LongitudinalReport) -> list[LesionAtTimepoint]:
    """Every track at every timepoint, tracks in report order, timepoints in date order."""
    return [lesion_at(report, track, tp.index)
            for track in report.tracks for tp in report.timeline.timepoints]


def shown_tracks(report: LongitudinalReport, *, include_non_targets: bool = True) -> list[Track]:
    """Tracks the images, charts and SR show: not excluded; targets first."""
    tracks = [t for t in report.tracks if t.role != ROLE_EXCLUDED]
    if not include_non_targets:
        tracks = [t for t in tracks if t.role == "target"]
    return sorted(tracks, key=lambda t: (t.role != "target", report.tracks.index(t)))


def lesion_title(track: Track) -> str:
    """``"L1 liver"``: the name, with the lesion id and organ added when it lacks them."""
    name = track.name if track.lesion_id in track.name else f"{track.lesion_id} {track.name}"
    if track.organ and track.organ != "unknown" and track.organ.lower() not in name.lower():
        name += f", {track.organ}"
    return name


def _recist_counted(report: LongitudinalReport, lesion_id: str, timepoint: int) -> float | None:
    for r in report.recist:
        if r.timepoint == timepoint and lesion_id in r.target_diameters:
            return float(r.target_diameters[lesion_id])
    return None


def _pooled(ms: Sequence[LesionMeasurement]) -> tuple[float | None, float | None]:
    """Voxel-weighted mean and pooled population SD of the components' intensities."""
    rows = [(m.voxel_count, m.mean_intensity, m.sd_intensity) for m in ms
            if m.mean_intensity is not None and m.voxel_count > 0]
    if len(rows) != len(ms) or not rows:
        return None, None
    n = sum(r[0] for r in rows)
    mean = sum(r[0] * r[1] for r in rows) / n
    if any(r[2] is None for r in rows):
        return mean, None
    var = sum(r[0] * (r[2] ** 2 + (r[1] - mean) ** 2) for r in rows) / n
    return mean, math.sqrt(max(var, 0.0))


def _centroid(ms: Sequence[LesionMeasurement], timepoint: int) -> tuple[float, float, float] | None:
    """Volume-weighted centroid in baseline space (the baseline's own centroid at tp 0)."""
    points, weights = [], []
    for m in ms:
        p = m.centroid_baseline_lps
        if p is None and timepoint == 0:
            p = m.centroid_lps
        if p is None:
            return None
        points.append(p)
        weights.append(max(m.voxel_count, 1))
    c = np.average(np.asarray(points, dtype=np.float64), axis=0, weights=weights)
    return (float(c[0]), float(c[1]), float(c[2]))


# --- timeline and geometry ------------------------------------------------------------------


def timepoint_info(report: LongitudinalReport, timepoint: int) -> TimepointInfo | None:
    for tp in report.timeline.timepoints:
        if tp.index == timepoint:
            return tp
    return None


def timepoint_title(report: LongitudinalReport, timepoint: int) -> str:
    """``"follow-up 1 (2023-06-27, day 92)"``, as far as it is known."""
    tp = timepoint_info(report, timepoint)
    if tp is None:
        return f"timepoint {timepoint}"
    bits = [tp.study_date.isoformat()] if tp.study_date else []
    if tp.days_from_baseline is not None:
        bits.append(f"day {tp.days_from_baseline}")
    return f"{tp.label} ({', '.join(bits)})" if bits else tp.label


def baseline_to_timepoint(report: LongitudinalReport, timepoint: int) -> np.ndarray | None:
    """4x4 matrix taking a baseline LPS point to ``timepoint``'s LPS (linear part of the
    registrations, chained through their references), or ``None`` when a registration on
    the way failed or is missing."""
    if timepoint == 0:
        return np.eye(4)
    by_tp = {r.timepoint: r for r in report.registrations}
    m = np.eye(4)
    seen: set[int] = set()
    t = timepoint
    while t != 0:
        r = by_tp.get(t)
        if r is None or r.status == REG_FAILED or t in seen:
            return None
        seen.add(t)
        if r.reference != r.timepoint:
            if r.matrix is None:
                return None
            m = m @ np.asarray(r.matrix, dtype=np.float64)  # reference -> t applied last
        t = r.reference
    return m


def apply_matrix(matrix: np.ndarray, point: Sequence[float]) -> np.ndarray:
    p = np.asarray(point, dtype=np.float64)
    return matrix[:3, :3] @ p + matrix[:3, 3]


def as_component_volume(component_map: Volume | np.ndarray | None, grid: Volume | None,
                        component_ids: Iterable[int] = ()) -> Volume | None:
    """A component map as a label :class:`Volume` (its own geometry, or ``grid``'s) whose
    label table names ``component_ids`` (the array itself is not scanned)."""
    if component_map is None:
        return None
    if isinstance(component_map, Volume):
        vol = component_map
    else:
        if grid is None:
            raise ReportError("a component map was given without a grid to place it on")
        vol = grid.with_array(np.asarray(component_map))
    if vol.labels is None:
        vol = vol.with_array(vol.array, labels=LabelTable(
            [LabelInfo(int(v), f"component {int(v)}", (255, 0, 0))
             for v in sorted(set(component_ids)) if int(v) > 0]))
    return vol


def component_ids(report: LongitudinalReport, timepoint: int) -> list[int]:
    """The component ids measured at ``timepoint``."""
    return sorted({m.component for m in report.measurements if m.timepoint == timepoint})


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A number for people: ``"12.3 mm"``; ``"-"`` when unknown."""
    if value is None or not math.isfinite(value):
        return "-"
    text = f"{value:.{digits}f}"
    return f"{text} {unit}" if unit else text


def fmt_pct(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+.1f} %"
