"""Which files of an output folder go back to the PACS: its DICOM SEG and SR objects.

A tracking output keeps them in ``dicom/`` (``tp1_seg.dcm``, ``tp1_sr.dcm``...); a
segmentation saved by the AI panel is a ``.dcm`` SEG anywhere.  Every file under the
folder is looked at (headers only); hidden files (an interrupted atomic save) are
skipped.  SEGs come before SRs, as an SR refers to its SEG.
"""

from __future__ import annotations

import os
from pathlib import Path

from interval.core.errors import IntervalError

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
SR_SOP_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
_SKIP_SUFFIXES = {".png", ".jpg", ".jpeg", ".pdf", ".html", ".json", ".csv", ".txt", ".nii",
                  ".gz", ".nrrd", ".mha", ".npz", ".npy", ".log"}


def dicom_result_kind(path: Path) -> str:
    """"SEG", "SR" or "" (anything else, or not DICOM) for one file, from its header."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True,
                             specific_tags=["SOPClassUID", "Modality"])
    except (InvalidDicomError, OSError, ValueError, EOFError, TypeError, AttributeError):
        return ""
    sop = str(getattr(ds, "SOPClassUID", "") or "")
    modality = str(getattr(ds, "Modality", "") or "").upper()
    if sop == SEG_SOP_CLASS or (modality == "SEG" and not sop):
        return "SEG"
    if sop.startswith(SR_SOP_CLASS_PREFIX) or (modality == "SR" and not sop):
        return "SR"
    return ""


def results_to_send(output_folder: str | Path) -> list[Path]:
    """The DICOM SEG and SR files under ``output_folder``: SEGs first, then SRs, each in
    path order.  Raises :class:`IntervalError` when the folder does not exist."""
    folder = Path(output_folder).expanduser()
    if not folder.is_dir():
        raise IntervalError("This output folder does not exist (moved or deleted?).",
                            path=folder)
    found: dict[str, list[Path]] = {"SEG": [], "SR": []}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.suffix.lower() in _SKIP_SUFFIXES:
                continue
            kind = dicom_result_kind(path)
            if kind:
                found[kind].append(path)
    return sorted(found["SEG"]) + sorted(found["SR"])
