"""``interval view [PATH]``: open the viewer, optionally on a folder or file."""

from __future__ import annotations

import argparse
from pathlib import Path

from interval.core.errors import UnreadableFile


def add_parser(sub, parents) -> argparse.ArgumentParser:
    """Register the ``view`` subcommand."""
    parser = sub.add_parser(
        "view", parents=parents,
        help="open the viewer (optionally on a DICOM folder or an image file)",
        description="Open Interval's viewer window; PATH may be a DICOM folder, a DICOM file "
        "or a NIfTI/NRRD/MHA image.",
    )
    parser.add_argument("path", nargs="?", metavar="PATH", help="folder or file to open")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check the path, then start the GUI (Qt is imported only here)."""
    path = args.path
    if path is not None and not Path(path).expanduser().exists():
        raise UnreadableFile("not found (check the path)", path=Path(path))
    return open_viewer(str(Path(path).expanduser()) if path else None)


def open_viewer(path: str | None, segmentations: dict[str, Path] | None = None) -> int:
    """Run the viewer on ``path`` (heavy imports happen here); ``segmentations``: series
    instance UID -> label file shown with that series."""
    from interval.ui.app import run_viewer

    return int(run_viewer(path, segmentations) or 0)
