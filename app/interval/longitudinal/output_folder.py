"""The output folder of a tracking run: ours to write, never inside the inputs.

A folder that already holds files is used only when it was made by an earlier run
(it carries :data:`MARKER`) or the caller forces it; a folder inside one of the input
folders is refused, so that the next indexing of the inputs never picks up Interval's
own SEG and SR files as part of the patient.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from interval.core.errors import IntervalError

MARKER = ".interval-track"


def prepare_output_folder(out_dir: str | Path, inputs: Iterable[str | Path] = (), *,
                          force: bool = False) -> Path:
    """Create (or reuse) ``out_dir`` for a tracking run and return it.

    Raises :class:`IntervalError` when it is a file, lies inside an input folder, or holds
    files of something else (unless ``force``).
    """
    out = Path(out_dir).expanduser()
    real_out = Path(os.path.realpath(out))
    for src in inputs:
        real_src = Path(os.path.realpath(Path(src).expanduser()))
        if real_src.is_dir() and (real_out == real_src or real_src in real_out.parents):
            raise IntervalError(
                f"the output folder {out} is inside the input folder {src}; choose a folder "
                "outside the scans (Interval never writes into the folders it reads)"
            )
        if real_src.is_file() and real_out == real_src:
            raise IntervalError(f"the output folder {out} is an input file")
    if out.exists() and not out.is_dir():
        raise IntervalError(f"{out} exists and is not a folder")
    if out.is_dir() and not (out / MARKER).exists() and any(out.iterdir()) and not force:
        raise IntervalError(
            f"{out} already holds files that Interval did not write; choose an empty or new "
            "folder (or use --force to write into it anyway)"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by interval track\n", encoding="utf-8")
    return out
