"""The text drawn on a 2-D view's four corners, as reading viewers show it (OHIF, Horos).

Pure logic, no Qt or VTK: given a volume's metadata and where the view is, build the
four corner strings.  Every value that comes from a file header is made one plain
line (control characters removed, long lines cut) before it is shown.

- top left: patient name, patient ID, study date/time, study description
  (name, ID, date and time are left out of an *anonymised* view);
- top right: series number and description, modality;
- bottom left: view name and slice n/N, slice position in mm along the view
  normal, slice thickness (or spacing); for frames in time "Frame n/N  t = 0.40 s";
- bottom right: window/level, zoom.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from interval.core.frame_mode import frame_text
from interval.core.metadata import VolumeMetadata

MAX_LINE_CHARS = 40  # a header line longer than this is cut ("...")
SCALE_BAR_STEPS_MM: tuple[float, ...] = (
    0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0,
)
_NOMINAL_PLACEMENT = "nominal placement"  # the loader's warning for images without position
_AXIS_NAMES = "XYZ"


@dataclass(frozen=True)
class CornerTexts:
    """The four corner strings of one view ("" for an empty corner)."""

    top_left: str = ""
    top_right: str = ""
    bottom_left: str = ""
    bottom_right: str = ""

    def as_dict(self) -> dict[str, str]:
        """``{"top_left": ..., "top_right": ..., "bottom_left": ..., "bottom_right": ...}``."""
        return {
            "top_left": self.top_left,
            "top_right": self.top_right,
            "bottom_left": self.bottom_left,
            "bottom_right": self.bottom_right,
        }


@dataclass(frozen=True)
class SliceInfo:
    """Where a view cuts its volume.

    ``number`` is 1-based of ``total``; ``voxel_axis`` ("i", "j", "k") names the voxel
    index it runs with when the plane lies on the voxel grid (None for an oblique cut);
    ``position_label`` and ``position_mm`` come from :func:`slice_position`;
    ``thickness_mm`` is the slice thickness (None when unknown) and ``thickness_label``
    says what it is ("Thick" for the acquired slice thickness, "Spacing" for the distance
    between reformatted planes).  ``frame`` marks a frame in time of a 2-D clip or time
    series (see :mod:`interval.core.frame_mode`): the text then reads "Frame n/N" with
    ``time_s`` (seconds from the first frame, when known) and no position in mm.
    """

    number: int
    total: int
    voxel_axis: str | None = None
    position_label: str = ""
    position_mm: float | None = None
    thickness_mm: float | None = None
    thickness_label: str = "Thick"
    frame: bool = False
    time_s: float | None = None


def plain_line(text: object, max_chars: int = MAX_LINE_CHARS) -> str:
    """``text`` as one printable line: control and format characters (line breaks, tabs,
    escapes, bidi controls) become spaces, runs of spaces one space; longer than
    ``max_chars``, it is cut and ends with "..."."""
    chars = [
        " " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in str(text)
    ]
    line = " ".join("".join(chars).split())
    if max_chars > 3 and len(line) > max_chars:
        line = line[: max_chars - 3].rstrip() + "..."
    return line


def patient_name_text(name: str) -> str:
    """A DICOM person name ("Family^Given^Middle^Prefix^Suffix", alphabetic group first)
    as people write it: "Family, Prefix Given Middle Suffix"."""
    groups = [g for g in str(name).split("=") if g.strip("^ ")]
    if not groups:
        return ""
    parts = [p.strip() for p in groups[0].split("^")] + [""] * 5
    family, given, middle, prefix, suffix = parts[:5]
    rest = " ".join(p for p in (prefix, given, middle, suffix) if p)
    if family and rest:
        return f"{family}, {rest}"
    return family or rest


def _time_text(time: str) -> str:
    digits = "".join(c for c in str(time).split(".")[0] if c.isdigit())
    return f"{digits[:2]}:{digits[2:4]}" if len(digits) >= 4 else ""


def _mm(value: float) -> str:
    """Millimetres with at most two decimals, no trailing zeros ("12.5", "-3", "0.63")."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def slice_position(normal: Sequence[float], point: Sequence[float]) -> tuple[str, float]:
    """``(label, mm)``: where the plane through ``point`` with unit ``normal`` lies.

    For a plane across a patient axis the label is that LPS axis ("X", "Y" or "Z") and
    the value the point's coordinate on it (the same whichever way the normal points);
    for an oblique plane the label is "Pos" and the value the signed distance
    ``point . normal`` from the origin.
    """
    n = [float(v) for v in normal]
    p = [float(v) for v in point]
    axis = max(range(3), key=lambda a: abs(n[a]))
    if abs(abs(n[axis]) - 1.0) < 1e-4:
        return _AXIS_NAMES[axis], p[axis]
    return "Pos", sum(a * b for a, b in zip(n, p, strict=True))


def orientation_is_anatomical(metadata: VolumeMetadata | None) -> bool:
    """False when the loader placed the image nominally (no patient position, e.g. a
    projection X-ray): its edges then have no anatomical direction to label."""
    if metadata is None:
        return False
    return not any(_NOMINAL_PLACEMENT in w for w in metadata.warnings)


def scale_bar_mm(mm_per_pixel: float, max_px: float, min_px: float = 12.0) -> float | None:
    """The longest round length (1-2-5 steps, 0.1 to 500 mm) whose bar is at most
    ``max_px`` pixels long at ``mm_per_pixel``; None when none is at least ``min_px``."""
    if not (mm_per_pixel > 0 and max_px > 0):
        return None
    fitting = [mm for mm in SCALE_BAR_STEPS_MM if mm / mm_per_pixel <= max_px]
    if not fitting or fitting[-1] / mm_per_pixel < min_px:
        return None
    return fitting[-1]


def scale_bar_label(mm: float, unit: str = "mm") -> str:
    """``"10 mm"``, ``"0.5 mm"``; ``"100 px"`` on an image without a pixel spacing."""
    return f"{_mm(mm)} {unit}"


def _patient_lines(md: VolumeMetadata, anonymised: bool) -> list[str]:
    lines: list[str] = []
    if not anonymised:
        lines.append(plain_line(patient_name_text(md.patient_name)))
        pid = plain_line(md.patient_id)
        lines.append(f"ID: {pid}" if pid else "")
        when = " ".join(
            t for t in (md.study_date.isoformat() if md.study_date else "",
                        _time_text(md.study_time)) if t
        )
        lines.append(when)
    lines.append(plain_line(md.study_description))
    return [line for line in lines if line]


def _series_lines(md: VolumeMetadata) -> list[str]:
    desc = plain_line(md.series_description)
    if md.series_number is not None:
        series = f"Series {md.series_number}" + (f": {desc}" if desc else "")
        series = plain_line(series)
    else:
        series = desc
    return [line for line in (series, plain_line(md.modality)) if line]


def _slice_lines(view_name: str, info: SliceInfo) -> list[str]:
    if info.frame:
        return [frame_text(info.number, info.total, info.time_s)]
    first = f"{view_name}  {info.number}/{info.total}"
    if info.voxel_axis is not None:
        first += f"  ({info.voxel_axis} {info.number - 1})"
    lines = [first]
    if info.position_mm is not None:
        lines.append(f"{info.position_label or 'Pos'}: {_mm(info.position_mm)} mm")
    if info.thickness_mm is not None and info.thickness_mm > 0:
        lines.append(f"{info.thickness_label}: {_mm(info.thickness_mm)} mm")
    return lines


def corner_texts(
    metadata: VolumeMetadata | None,
    view_name: str,
    slice_info: SliceInfo | None = None,
    *,
    window: str = "",
    zoom: float | None = None,
    anonymised: bool = False,
) -> CornerTexts:
    """The four corner strings of a view named ``view_name`` ("Axial") showing a volume
    with ``metadata`` (None: no volume, only the view name is shown).

    ``window`` is the W/L text as the status bar writes it ("W/L 400/40", with "  inv"
    when inverted); ``zoom`` the view's zoom (1 = fitted). ``anonymised`` leaves out the
    patient's name and ID and the study date and time.
    """
    if metadata is None:
        return CornerTexts(bottom_left=view_name)
    bottom_right = [window] if window else []
    if zoom is not None and zoom > 0:
        bottom_right.append(f"Zoom {zoom:.2f}x")
    return CornerTexts(
        top_left="\n".join(_patient_lines(metadata, anonymised)),
        top_right="\n".join(_series_lines(metadata)),
        bottom_left="\n".join(_slice_lines(view_name, slice_info)) if slice_info else view_name,
        bottom_right="\n".join(bottom_right),
    )


def identifying_values(metadata: VolumeMetadata) -> tuple[str, ...]:
    """The header values an anonymised view must not show (as :func:`corner_texts`
    would write them; "" values left out)."""
    values = (
        plain_line(patient_name_text(metadata.patient_name)),
        plain_line(metadata.patient_id),
        metadata.study_date.isoformat() if metadata.study_date else "",
    )
    return tuple(v for v in values if v)
