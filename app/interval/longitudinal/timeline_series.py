"""Which series of a study is the timepoint's image: candidates and the choice rule.

A *candidate* is an image stack that can be loaded as a volume (headers only are read):
its geometry forms a regular grid (or the read policy accepts irregular slices), it holds
at least :data:`MIN_SLICES` slices and is not a localizer, and it is grey-scale.  Stacks
some of whose files could not be read are candidates only when the study has nothing
complete.

The rule, applied to the candidates of the study's modality (see :func:`preferred_modality`):

1. axial (or axial oblique) before any other plane;
2. the thinnest slice spacing;
3. the most slices;
4. the lowest series number (then the stack uid, so the choice is always the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from interval.core.errors import IntervalError
from interval.io.dicom.geometry import analyse_stack
from interval.io.dicom.load import frame_infos
from interval.io.dicom.mosaic import is_mosaic, mosaic_geometry, read_mosaic_info
from interval.io.dicom.policy import DicomReadPolicy
from interval.io.dicom.records import ImageStack, SeriesRecord, StudyRecord
from interval.longitudinal.model import SeriesChoice

MIN_SLICES = 10
"""Fewer slices than this: a localizer, a single slice or a thick-slab summary, not a volume."""

MODALITY_PRIORITY = ("CT", "MR", "PT", "NM")
"""When two modalities are equally common across the studies, the earlier one here wins."""

_INCOMPLETE = "could not be read"  # the indexer's warning on series with unreadable files


@dataclass(frozen=True)
class Candidate:
    """One image stack of a study, as the choice rule sees it."""

    study: StudyRecord
    series: SeriesRecord
    stack: ImageStack
    modality: str
    orientation: str  # "axial", "sagittal oblique", ...
    dimensions: tuple[int, int, int]  # columns, rows, slices
    spacing: tuple[float, float, float]  # x, y, z mm
    complete: bool  # every file of the series was readable

    @property
    def slices(self) -> int:
        return self.dimensions[2]

    @property
    def axial(self) -> bool:
        return self.orientation.startswith("axial")

    @property
    def number(self) -> int | None:
        return self.series.series_number

    def describe(self) -> str:
        """``axial CT, 1.0 mm, 300 slices``."""
        return (f"{self.orientation or 'unknown plane'} {self.modality or '?'}, "
                f"{_mm(self.spacing[2])} mm, {self.slices} slices")



@dataclass(frozen=True)
class Rejected:
    """A stack that is not a candidate, and why (for the timeline's warnings)."""

    series: SeriesRecord
    stack: ImageStack
    reason: str


def study_candidates(study: StudyRecord, policy: DicomReadPolicy
                     ) -> tuple[list[Candidate], list[Rejected]]:
    """Every loadable stack of ``study`` and every one left out, with the reason."""
    found: list[Candidate] = []
    rejected: list[Rejected] = []
    for series in study.series:
        complete = not any(_INCOMPLETE in w for w in series.warnings)
        for stack in series.stacks:
            result = analyse_candidate(study, series, stack, policy, complete)
            if isinstance(result, Candidate):
                found.append(result)
            else:
                rejected.append(Rejected(series, stack, result))
    return found, rejected


def analyse_candidate(study: StudyRecord, series: SeriesRecord, stack: ImageStack,
                      policy: DicomReadPolicy, complete: bool = True) -> Candidate | str:
    """The stack as a :class:`Candidate`, or the reason it cannot be one."""
    if not stack.frames:
        return "it holds no images"
    first = stack.first
    if first.samples_per_pixel != 1 or first.photometric_interpretation.strip().upper() == (
        "PALETTE COLOR"
    ):
        return "it holds colour images"
    if any("LOCALIZER" in f.info.image_type.upper().split("\\") for f in stack.frames[:1]):
        return "it is a localizer"
    try:
        dims, spacing, orientation, problems = _geometry(stack, policy)
    except IntervalError as exc:
        return f"it cannot be loaded as one volume ({exc.message})"
    if problems:
        return f"its slices do not form a regular grid ({'; '.join(problems)})"
    if dims[2] < MIN_SLICES:
        return (f"it holds only {dims[2]} slice(s): a localizer, a single slice or a summary, "
                "not a volume")
    return Candidate(study, series, stack, (series.modality or first.modality or "").upper(),
                     orientation, dims, spacing, complete)


def preferred_modality(per_study: Iterable[Sequence[Candidate]]) -> str:
    """The modality found in most studies (ties: CT, MR, PT, NM, then alphabetical)."""
    counts: dict[str, int] = {}
    for candidates in per_study:
        for modality in {c.modality for c in candidates}:
            counts[modality] = counts.get(modality, 0) + 1
    if not counts:
        return ""
    return min(counts, key=lambda m: (-counts[m], _priority(m), m))


def choose(candidates: Sequence[Candidate], modality: str) -> tuple[Candidate, str]:
    """The candidate the rule picks and the reason, in words."""
    complete = [c for c in candidates if c.complete] or list(candidates)
    same = [c for c in complete if c.modality == modality]
    note = ""
    if not same:
        fallback = min({c.modality for c in complete}, key=lambda m: (_priority(m), m))
        same = [c for c in complete if c.modality == fallback]
        note = f"; no usable {modality} series in this study, {fallback} used"
    ranked = sorted(same, key=rank_key)
    best = ranked[0]
    reason = f"{best.describe()}; {_why(best, ranked)}{note}"
    if len(complete) < len(candidates):
        reason += "; every complete series was considered first"
    elif not best.complete:
        reason += "; some files of this series could not be read"
    return best, reason


def rank_key(c: Candidate) -> tuple:
    """Sort key of the rule: axial first, thinnest, most slices, lowest number, uid."""
    number = c.number if c.number is not None else 1 << 31
    return (not c.axial, round(c.spacing[2], 3), -c.slices, number, c.stack.uid)


def series_choice(c: Candidate, reason: str, considered: int) -> SeriesChoice:
    """The model record of a chosen candidate."""
    return SeriesChoice(
        series_instance_uid=c.series.series_instance_uid, stack_uid=c.stack.uid,
        series_number=c.number, modality=c.modality,
        description=c.series.series_description, dimensions=c.dimensions,
        spacing=c.spacing, orientation=c.orientation, reason=reason,
        candidates=considered, frame_of_reference_uid=c.stack.first.frame_of_reference_uid,
    )


# --- helpers ---------------------------------------------------------------------------


def _why(best: Candidate, ranked: Sequence[Candidate]) -> str:
    """The criterion that set ``best`` apart from the runner-up, in words."""
    kind = f"{best.modality} series"
    if len(ranked) == 1:
        return f"the only usable {kind}"
    runner = ranked[1]
    if best.axial != runner.axial:
        n_axial = sum(c.axial for c in ranked)
        return ("the only axial " + kind) if n_axial == 1 else f"axial, among {n_axial} axial {kind}"
    group = [c for c in ranked if c.axial == best.axial]
    plane = "axial " if best.axial else ""
    if round(best.spacing[2], 3) != round(runner.spacing[2], 3):
        return f"thinnest of {len(group)} {plane}{kind}"
    group = [c for c in group if round(c.spacing[2], 3) == round(best.spacing[2], 3)]
    if best.slices != runner.slices:
        return f"most slices of {len(group)} {plane}{kind} at {_mm(best.spacing[2])} mm"
    return (f"lowest series number of {len(group)} {plane}{kind} at {_mm(best.spacing[2])} mm "
            f"with {best.slices} slices")


def _geometry(stack: ImageStack, policy: DicomReadPolicy
              ) -> tuple[tuple[int, int, int], tuple[float, float, float], str, list[str]]:
    """(columns, rows, slices), spacing, plane name and the problems that block loading."""
    first = stack.first
    if stack.n_frames == 1 and is_mosaic(first):
        info = read_mosaic_info(first)
        _origin, direction, spacing = mosaic_geometry(first.frames[0], info, first.rows,
                                                      first.columns)
        dims = (info.tile_cols, info.tile_rows, info.n_images)
        return dims, tuple(float(s) for s in spacing), _plane(np.asarray(direction)[:, 2]), []  # type: ignore[return-value]
    geo = analyse_stack(frame_infos(list(stack.frames)),
                        spacing_tolerance=policy.spacing_tolerance,
                        spacing_tolerance_mm=policy.spacing_tolerance_mm)
    dims = (stack.columns, stack.rows, stack.n_frames)
    problems = list(geo.problems) if policy.irregular == "refuse" else []
    orientation = "" if geo.nominal else _plane(geo.normal)
    return dims, tuple(float(s) for s in geo.spacing), orientation, problems  # type: ignore[return-value]


def _plane(normal: np.ndarray) -> str:
    axis = int(np.argmax(np.abs(normal)))
    name = ("sagittal", "coronal", "axial")[axis]
    return name if abs(normal[axis]) > 0.9999 else f"{name} oblique"


def _priority(modality: str) -> int:
    return MODALITY_PRIORITY.index(modality) if modality in MODALITY_PRIORITY else len(MODALITY_PRIORITY)


def _mm(value: float) -> str:
    """1.0 -> "1.0", 0.625 -> "0.625", 5.8333 -> "5.833"."""
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text
