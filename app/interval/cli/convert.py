"""``interval convert PATH [SERIES_UID] -o OUT``: save one volume as NIfTI, NRRD or MetaImage."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from interval.cli.progress import ProgressBar, progress_wanted
from interval.core.errors import IntervalError, IrregularGeometry
from interval.core.volume import Volume


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``convert`` subcommand."""
    p = subparsers.add_parser(
        "convert",
        parents=parents,
        help="save one series as NIfTI (.nii/.nii.gz), NRRD (.nrrd/.nhdr) or MetaImage (.mha/.mhd)",
        description=(
            "Load one image stack from PATH (DICOM folder or file, or an image file) and save it. "
            "The output format follows the extension of OUT. When PATH holds several stacks, "
            "name one with SERIES_UID (a stack uid, a series instance UID or a series number); "
            "'interval info PATH' lists them."
        ),
    )
    p.add_argument("path", metavar="PATH", help="DICOM folder, DICOM file, or NIfTI/NRRD/MHA file")
    p.add_argument(
        "series", metavar="SERIES_UID", nargs="?", default=None,
        help="stack uid, series instance UID or series number (needed when PATH holds several)",
    )
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="file to write")
    p.add_argument(
        "--irregular", choices=("refuse", "as-is", "resample"), default="refuse",
        help="slices that do not form a regular grid: refuse (default), load as-is in slice "
        "order with a warning, or resample onto a regular grid",
    )
    p.add_argument("--force", action="store_true", help="replace OUT if it already exists")
    p.set_defaults(func=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    """Load, then write atomically; 0 on success."""
    # heavy imports (pydicom, SimpleITK) only when a command runs: --help stays instant
    from interval.io.dicom.policy import DEFAULT_POLICY
    from interval.io.image_files import SUPPORTED_TEXT, image_extension, write_image

    src = Path(args.path)
    out = Path(args.output)
    if image_extension(out) is None:
        raise IntervalError(f"cannot tell the output format of {out.name}; use {SUPPORTED_TEXT}")
    _check_target(out, {src}, force=args.force)
    show = progress_wanted(getattr(args, "progress", False))
    policy = replace(DEFAULT_POLICY, irregular=args.irregular)
    try:
        volume = _load(src, args.series, policy, out, show, force=args.force)
    except IrregularGeometry as exc:
        if args.irregular == "refuse":
            exc.hint = (  # type: ignore[attr-defined]
                "'--irregular as-is' loads the slices in order anyway; "
                "'--irregular resample' resamples them onto a regular grid"
            )
        raise
    with ProgressBar("Saving", enabled=show) as bar:
        bar(0, 1)
        write_image(volume, out)
        bar(1, 1)
    for warning in volume.metadata.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    sp = " x ".join(f"{s:.4g}" for s in volume.spacing)
    dims = " x ".join(str(d) for d in volume.size_ijk)
    kind = "label map" if volume.is_label_map else str(volume.dtype)
    sys.stdout.write(f"Wrote {out}: {dims} {kind}, spacing {sp} mm\n")
    return 0


def _load(
    src: Path, key: str | None, policy: Any, out: Path, show: bool, *, force: bool
) -> Volume:
    volume, _ = load_series(
        src, key, policy, show, check_sources=lambda files: _check_target(out, files, force=force)
    )
    return volume


def load_series(
    src: Path,
    key: str | None,
    policy: Any,
    show: bool,
    *,
    check_sources: Callable[[set[Path]], None] | None = None,
) -> tuple[Volume, set[Path]]:
    """An image file or one DICOM stack, with progress bars; also the stack's source files.

    ``check_sources(files)`` runs before any pixel is read (e.g. to refuse an output
    path that is one of the inputs; the image file itself is the caller's to check).
    Shared by ``convert`` and ``segment``.
    """
    from interval.io.dicom.load import load_stack
    from interval.io.image_files import read_image
    from interval.io.open_path import (
        SeriesNotFound,
        classify_path,
        index_path,
        select_stack,
        stack_files,
    )

    if classify_path(src) == "image-file":
        if key is not None:
            raise SeriesNotFound(f"{src.name} holds a single image; no series can be chosen")
        return read_image(src), set()

    with ProgressBar("Indexing", enabled=show) as bar:
        index = index_path(src, policy, progress=bar)
    stack = select_stack(index, key)
    files = stack_files(stack)
    if check_sources is not None:
        check_sources(files)
    with ProgressBar("Loading", enabled=show) as bar:
        return load_stack(stack, policy, progress=bar), files


def _check_target(out: Path, sources: set[Path], *, force: bool) -> None:
    """Refuse to write over an input file, or over anything without ``--force``."""
    if out.is_dir():
        raise IntervalError(f"{out} is a folder; give a file name such as {out / 'volume.nii.gz'}")
    if not out.exists():
        return
    for src in sources:
        if src.exists() and _same_file(out, src):
            raise IntervalError("refusing to overwrite an input file; choose another name", path=out)
    if not force:
        raise IntervalError("already exists; add --force to replace it", path=out)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return _resolved(a) == _resolved(b)


def _resolved(p: Path) -> Path:
    try:
        return p.resolve()
    except OSError:
        return p.absolute()
