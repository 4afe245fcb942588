"""Open whatever path a person points at: a DICOM folder, a DICOM file, or an image file.

:func:`classify_path` says what a path is, :func:`index_path` indexes DICOM
(headers only), :func:`select_stack` picks one loadable stack by stack uid,
series UID or series number, and :func:`open_volume` does all of it and
returns a :class:`Volume`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from interval.core.errors import IntervalError, NotAnImage, UnreadableFile
from interval.core.jobs import CancelFn, ProgressFn
from interval.core.volume import Volume
from interval.io.dicom.mosaic import is_mosaic, read_mosaic_info
from interval.io.dicom.policy import DEFAULT_POLICY, DicomReadPolicy
from interval.io.dicom.records import DicomIndex, ImageStack, SeriesRecord, StudyRecord
from interval.io.image_files import is_image_file, read_image

PathKind = Literal["dicom-folder", "dicom-file", "image-file"]


class SeriesNotFound(IntervalError):
    """The series asked for is not in the data."""


class AmbiguousSeries(IntervalError):
    """Several stacks could be loaded and none (or an ambiguous one) was chosen.

    ``choices`` lists every candidate so the caller can show them.
    """

    def __init__(self, message: str, *, choices: Sequence[StackChoice] = ()) -> None:
        self.choices = list(choices)
        lines = "".join("\n  " + c.line() for c in self.choices)
        super().__init__(f"{message}:{lines}" if lines else message)


@dataclass(frozen=True)
class StackChoice:
    """One loadable stack, described for a person choosing between several."""

    uid: str
    series_instance_uid: str
    series_number: int | None
    modality: str
    description: str
    dimensions: tuple[int, int, int]  # columns, rows, slices (from the headers)
    study_date: str = ""  # ISO date of the study, "" when unknown

    def line(self) -> str:
        """``uid  #3 CT "Axial"  512x512x120  study 2024-01-02`` for messages."""
        number = f"#{self.series_number}" if self.series_number is not None else "#-"
        dims = "x".join(str(d) for d in self.dimensions)
        desc = f'"{self.description}"' if self.description else "(no description)"
        study = f"  study {self.study_date}" if self.study_date else ""
        return f"{self.uid}  {number} {self.modality or '?'} {desc}  {dims}{study}"


def classify_path(path: str | Path) -> PathKind:
    """What ``path`` is; raises :class:`UnreadableFile` when it does not exist."""
    path = Path(path)
    if path.is_dir():
        return "dicom-folder"
    if not path.exists():
        raise UnreadableFile("not found (check the path)", path=path)
    if is_image_file(path):
        return "image-file"
    return "dicom-file"


def index_path(
    path: str | Path,
    policy: DicomReadPolicy = DEFAULT_POLICY,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    siblings: bool = False,
) -> DicomIndex:
    """Index a DICOM folder (recursively) or a single DICOM file, headers only.

    With ``siblings``, a single file is indexed together with the other files of
    its folder (not recursively), so that the series it belongs to is complete:
    what a viewer does when a person opens one image of a series.
    """
    from interval.io.dicom.index import index_files, index_folder

    path = Path(path)
    kind = classify_path(path)
    if kind == "image-file":
        raise NotAnImage("is an image file, not DICOM", path=path)
    if kind == "dicom-folder":
        return index_folder(path, policy, progress=progress, cancel=cancel)
    files = [path]
    if siblings:
        files = sorted(p for p in path.parent.iterdir() if p.is_file())
    return index_files(files, root=path.parent, policy=policy, progress=progress, cancel=cancel)


def stack_containing(index: DicomIndex, path: str | Path) -> str | None:
    """The uid of the stack holding the file ``path``, if any."""
    target = Path(path).resolve()
    for stack in index.iter_stacks():
        if any(Path(f.header.path).resolve() == target for f in stack.frames):
            return stack.uid
    return None


def stack_choices(index: DicomIndex) -> list[StackChoice]:
    """Every loadable stack of ``index``, in tree order."""
    return [_choice(se, st, study) for study, se, st in _stacks(index)]


def select_stack(index: DicomIndex, key: str | None = None) -> ImageStack:
    """The stack meant by ``key``: a stack uid, a series UID or a series number.

    With no ``key`` the data must hold exactly one stack.  Raises
    :class:`NotAnImage` when there is none, :class:`SeriesNotFound` when
    ``key`` matches nothing and :class:`AmbiguousSeries` (with the choices)
    when it matches several.
    """
    found = _stacks(index)
    studies = {id(st): study for study, _se, st in found}
    pairs = [(se, st) for _study, se, st in found]

    def choice(se: SeriesRecord, st: ImageStack) -> StackChoice:
        return _choice(se, st, studies[id(st)])

    if not pairs:
        raise NotAnImage(_no_image_message(index), path=index.root)
    if key is None:
        if len(pairs) == 1:
            return pairs[0][1]
        raise AmbiguousSeries(
            f"{len(pairs)} image stacks found; say which one to use (stack uid, series UID "
            "or series number)",
            choices=[choice(se, st) for se, st in pairs],
        )
    key = key.strip()
    for _se, st in pairs:  # an exact stack uid always wins
        if st.uid == key:
            return st
    matches = [(se, st) for se, st in pairs if se.series_instance_uid == key]
    if not matches and key.lstrip("+-").isdigit():
        matches = [(se, st) for se, st in pairs if se.series_number == int(key)]
    if len(matches) == 1:
        return matches[0][1]
    if not matches:
        raise SeriesNotFound(
            f"no series or stack matches {key!r}; choose one of:\n"
            + "\n".join("  " + choice(se, st).line() for se, st in pairs)
        )
    raise AmbiguousSeries(
        f"{key!r} matches {len(matches)} image stacks; give the stack uid instead",
        choices=[choice(se, st) for se, st in matches],
    )


def open_volume(
    path: str | Path,
    key: str | None = None,
    policy: DicomReadPolicy = DEFAULT_POLICY,
    *,
    index_progress: ProgressFn | None = None,
    load_progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Volume:
    """Load the volume at ``path`` (an image file, or one stack of DICOM data)."""
    from interval.io.dicom.load import load_stack

    path = Path(path)
    if classify_path(path) == "image-file":
        if key is not None:
            raise SeriesNotFound(f"{path.name} holds a single image; no series can be chosen")
        return read_image(path)
    index = index_path(path, policy, progress=index_progress, cancel=cancel)
    stack = select_stack(index, key)
    return load_stack(stack, policy, progress=load_progress, cancel=cancel)


def stack_files(stack: ImageStack) -> set[Path]:
    """The source files a stack is read from (to refuse overwriting them)."""
    return {Path(f.header.path) for f in stack.frames}


# --- helpers -------------------------------------------------------------------------


def _stacks(index: DicomIndex) -> list[tuple[StudyRecord, SeriesRecord, ImageStack]]:
    return [
        (study, se, st)
        for patient in index.patients
        for study in patient.studies
        for se in study.series
        for st in se.stacks
    ]


def _choice(series: SeriesRecord, stack: ImageStack, study: StudyRecord) -> StackChoice:
    description = series.series_description
    if stack.label:
        description = f"{description} ({stack.label})" if description else stack.label
    return StackChoice(
        uid=stack.uid,
        series_instance_uid=series.series_instance_uid,
        series_number=series.series_number,
        modality=series.modality,
        description=description,
        dimensions=_dimensions(stack),
        study_date=study.study_date.isoformat() if study.study_date else "",
    )


def _dimensions(stack: ImageStack) -> tuple[int, int, int]:
    """(columns, rows, slices); a Siemens mosaic counts its tiles (header read, no pixels)."""
    if stack.n_frames == 1 and is_mosaic(stack.first):
        try:
            info = read_mosaic_info(stack.first)
            return (info.tile_cols, info.tile_rows, info.n_images)
        except IntervalError:
            pass
    return (stack.columns, stack.rows, stack.n_frames)


def _no_image_message(index: DicomIndex) -> str:
    objects = [o for _p, _s, se in index.iter_series() for o in se.objects]
    if objects:
        kinds = sorted({o.kind.upper() for o in objects})
        return f"holds no image to load, only {', '.join(kinds)} object(s)"
    if index.skipped:
        return f"no DICOM image found ({len(index.skipped)} file(s) skipped)"
    return "no DICOM image found"
