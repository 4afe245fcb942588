"""``interval info PATH [--json]``: what a folder or file holds, from headers only."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from interval.cli.progress import ProgressBar, progress_wanted

SKIPPED_SHOWN = 5  # skipped files listed by name without --verbose


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``info`` subcommand."""
    p = subparsers.add_parser(
        "info",
        parents=parents,
        help="show the patient/study/series tree of a DICOM folder or file, or an image file",
        description=(
            "Show what PATH holds: patients, studies, series and loadable image stacks with "
            "modality, dimensions, spacing and warnings, non-image objects (SEG, RTSTRUCT, SR...) "
            "and skipped files with their reasons. Reads headers only."
        ),
    )
    p.add_argument("path", metavar="PATH", help="DICOM folder, DICOM file, or NIfTI/NRRD/MHA file")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run_info)


def build_tree(path: Path, *, progress: bool = False) -> dict[str, Any]:
    """The info tree of ``path`` (see :mod:`interval.cli.tree`)."""
    # heavy imports (pydicom, SimpleITK) only when a command runs: --help stays instant
    from interval.cli.tree import image_tree, index_tree
    from interval.io.dicom.policy import DEFAULT_POLICY
    from interval.io.image_files import read_image_info
    from interval.io.open_path import classify_path, index_path

    kind = classify_path(path)
    if kind == "image-file":
        return image_tree(read_image_info(path), path)
    with ProgressBar("Indexing", enabled=progress) as bar:
        index = index_path(path, DEFAULT_POLICY, progress=bar)
    return index_tree(index, path, kind)


def run_info(args: argparse.Namespace) -> int:
    """Print the tree as text or JSON; 0 on success."""
    path = Path(args.path)
    tree = build_tree(path, progress=progress_wanted(getattr(args, "progress", False)))
    if args.json:
        json.dump(tree, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(tree, verbose=getattr(args, "verbose", False)))
    return 0


# --- text rendering --------------------------------------------------------------------


def render_text(tree: dict[str, Any], *, verbose: bool = False) -> str:
    """A readable, indented rendering of an info tree."""
    lines: list[str] = []
    if tree["image"] is not None:
        _render_image(tree, lines)
    else:
        _render_dicom(tree, lines, verbose)
    for w in tree["warnings"]:
        lines.append(f"warning: {w}")
    return "\n".join(lines) + "\n"


def _render_image(tree: dict[str, Any], lines: list[str]) -> None:
    im = tree["image"]
    lines.append(f"{im['format']} file {tree['path']}")
    lines.append(
        f"  {_dims(im['dimensions'])}  {im['dtype']}"
        + (f" x{im['components']}" if im["components"] > 1 else "")
        + f"  spacing {_spacing(im['spacing'])}  {im['orientation']}"
    )
    lines.append("  origin (" + ", ".join(f"{o:.4g}" for o in im["origin"]) + ") mm LPS")


def _render_dicom(tree: dict[str, Any], lines: list[str], verbose: bool) -> None:
    s = tree["summary"]
    what = "DICOM file" if tree["kind"] == "dicom-file" else "DICOM folder"
    lines.append(
        f"{what} {tree['path']}: {_n(s['patients'], 'patient')}, {_n(s['studies'], 'study', 'studies')}, "
        f"{_n(s['series'], 'series', 'series')}, {_n(s['stacks'], 'image stack')}, "
        f"{_n(s['files'], 'file')}" + (f"; {s['skipped']} skipped" if s["skipped"] else "")
    )
    for patient in tree["patients"]:
        lines.append("")
        extra = [f"ID {patient['patient_id'] or '?'}"]
        if patient["sex"]:
            extra.append(f"sex {patient['sex']}")
        if patient["birth_date"]:
            extra.append(f"born {patient['birth_date']}")
        lines.append(f"Patient {_person(patient['patient_name'])}  ({', '.join(extra)})")
        for study in patient["studies"]:
            head = f"  Study {study['date'] or 'no date'}"
            if study["time"]:
                head += f" {_time(study['time'])}"
            head += f"  {_quoted(study['description'])}"
            if study["accession_number"]:
                head += f"  accession {study['accession_number']}"
            lines.append(head)
            for series in study["series"]:
                _render_series(series, lines)
    _render_skipped(tree["skipped"], lines, verbose)


def _render_series(series: dict[str, Any], lines: list[str]) -> None:
    number = series["series_number"]
    lines.append(
        f"    Series {number if number is not None else '-'}  {series['modality'] or '?'}  "
        f"{_quoted(series['description'])}  {_n(series['files'], 'file')}  "
        f"uid {series['series_instance_uid']}"
    )
    for w in series["warnings"]:
        lines.append(f"      ! {w}")
    for stack in series["stacks"]:
        label = f" [{stack['label']}]" if stack["label"] else ""
        extras = [stack["orientation"]] if stack["orientation"] else []
        if stack["multiframe"]:
            extras.append("multi-frame")
        if stack["compressed"]:
            extras.append(stack["transfer_syntax"])
        lines.append(
            f"      Stack {stack['uid']}{label}  {_dims(stack['dimensions'])}  "
            f"spacing {_spacing(stack['spacing'])}" + (f"  {', '.join(extras)}" if extras else "")
        )
        for w in stack["warnings"]:
            lines.append(f"        ! {w}")
    for obj in series["objects"]:
        lines.append(f"      {obj['kind'].upper()} {_quoted(obj['description'])}  ({obj['path']})")
    for obj in series["attached"]:
        lines.append(
            f"      attached {obj['kind'].upper()} {_quoted(obj['description'])}  "
            f"from series {obj['series_instance_uid']}"
        )


def _render_skipped(skipped: list[dict[str, str]], lines: list[str], verbose: bool) -> None:
    if not skipped:
        return
    lines.append("")
    lines.append(f"Skipped {_n(len(skipped), 'file')}:")
    if verbose:
        for item in skipped:
            lines.append(f"  {item['path']}: {item['reason']}")
        return
    from interval.io.dicom.pydicom_log import reason_group

    for reason, count in Counter(reason_group(i["reason"]) for i in skipped).most_common():
        lines.append(f"  {count:>5}  {reason}")
    shown = skipped[:SKIPPED_SHOWN]
    lines.append("  for example:")
    for item in shown:
        lines.append(f"    {item['path']}: {item['reason']}")
    if len(skipped) > len(shown):
        lines.append(f"  ({len(skipped) - len(shown)} more; --verbose lists every file)")


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _dims(dims: list[int]) -> str:
    return " x ".join(str(d) for d in dims)


def _spacing(spacing: list[float | None]) -> str:
    return " x ".join("?" if s is None else f"{s:.4g}" for s in spacing) + " mm"


def _quoted(text: str) -> str:
    return f'"{text}"' if text else "(no description)"


def _person(name: str) -> str:
    """DICOM person name ``FAMILY^GIVEN^^`` shown as ``FAMILY GIVEN``."""
    parts = [p.strip() for p in name.split("^") if p.strip()]
    return " ".join(parts) if parts else "(no name)"


def _time(text: str) -> str:
    digits = text.split(".")[0]
    if len(digits) >= 4 and digits[:4].isdigit():
        return f"{digits[:2]}:{digits[2:4]}"
    return text
