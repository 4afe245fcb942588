"""Fallback decoder: SimpleITK's GDCM for compressed images pydicom's plugins cannot decode.

pylibjpeg's libjpeg refuses some valid streams that GDCM reads, e.g. 12-bit
JPEG Extended (1.2.840.10008.1.2.4.51) written with a non-zero spectral
selection in its scan header; GDCM also reads the retired JPEG processes
pydicom has no decoder for.  :mod:`interval.io.dicom._codec_read` calls
:func:`read_stored` only after pydicom's decoders gave up (or when none
exists for the syntax), never for files whose structure is broken.

:func:`read_stored` returns the *stored* values, like pydicom's decoders:
GDCM applies Rescale Slope/Intercept (also from the enhanced functional
groups) and inverts MONOCHROME1 itself, so a file that has either is decoded
from a temporary copy without them; Interval's own conversion then applies
them once.  GDCM's C libraries print notes on stderr (e.g. "Unsupported JPEG
data precision 12" before it retries with its 12-bit decoder); they are
captured and logged at debug level, and a note that libjpeg recovered from
corrupt data makes the decode fail instead of returning a patched image.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO

import numpy as np
import pydicom

log = logging.getLogger(__name__)

# Compressed syntaxes GDCM decodes (JPEG processes, JPEG-LS, JPEG 2000, RLE).
GDCM_SYNTAXES = frozenset({
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended (12-bit)
    "1.2.840.10008.1.2.4.52",  # JPEG Extended, processes 3 and 5 (retired)
    "1.2.840.10008.1.2.4.53",  # JPEG Spectral Selection (retired)
    "1.2.840.10008.1.2.4.55",  # JPEG Full Progression (retired)
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE Lossless
})

# What libjpeg prints when it patches over damaged data instead of failing.
_CORRUPT_NOTES = ("corrupt jpeg data", "premature end", "bogus", "invalid jpeg")

_RESCALE_TAGS = (0x00281052, 0x00281053, 0x00281054)  # intercept, slope, type
_PIXEL_VALUE_TRANSFORMATION = 0x00289145
_FUNCTIONAL_GROUPS = (0x52009229, 0x52009230)  # shared, per-frame
_stderr_lock = threading.Lock()


class FallbackFailed(Exception):
    """GDCM could not decode the file either (the text says why, in GDCM's words)."""


def can_decode(ts_uid: str) -> bool:
    """Whether the fallback handles this transfer syntax at all."""
    return ts_uid in GDCM_SYNTAXES


def handles_format(samples: int, photometric: str) -> bool:
    """Whether the fallback gives values Interval can use: grey, or RGB colour.

    GDCM converts YBR and palette colour itself, differently from pydicom's
    path, so those stay with pydicom.
    """
    return (samples == 1 and photometric.startswith("MONOCHROME")) or (
        samples == 3 and photometric == "RGB"
    )


def read_stored(path: str, ds: pydicom.Dataset | None = None) -> np.ndarray:
    """Every frame of ``path`` as stored values: ``(frames, rows, cols[, samples])``.

    ``ds`` is the file's dataset when the caller has it (read again otherwise).
    Raises :class:`FallbackFailed` when GDCM cannot decode the file.
    """
    import SimpleITK as sitk

    if ds is None:
        ds = pydicom.dcmread(path, force=True)
    copy = _neutral_copy(ds)
    try:
        source = copy or path
        with _captured_stderr() as notes:
            try:
                image = sitk.ReadImage(source)
            except RuntimeError as exc:
                raise FallbackFailed(_gdcm_reason(str(exc))) from None
            finally:
                text = notes.read()
    finally:
        if copy:
            _remove(copy)
    if text:
        log.debug("GDCM notes while decoding: %s", " | ".join(text.split("\n"))[:500])
        if any(note in text.lower() for note in _CORRUPT_NOTES):
            raise FallbackFailed("GDCM found corrupt compressed data")
    arr = sitk.GetArrayFromImage(image)
    if image.GetDimension() == 2:
        arr = arr[None]
    return arr


_ITK_PREFIX = re.compile(r"^.*?GDCMImageIO\([^)]*\):\s*")
_GDCM_WORDS = {  # GDCM's words when its codec failed, and what they mean
    "failed to change to implicit transfer syntax": "could not decompress the image data",
}


def _gdcm_reason(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    last = _ITK_PREFIX.sub("", lines[-1]) if lines else "no reason given"
    last = _GDCM_WORDS.get(last.lower(), last)
    return last[:160]


def _neutral_copy(ds: pydicom.Dataset) -> str | None:
    """A temporary copy without rescale or MONOCHROME1 (None when the file has neither)."""
    inverted = str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1"
    rescaled = any(tag in ds for tag in _RESCALE_TAGS) or _has_group_rescale(ds)
    if not (inverted or rescaled):
        return None
    copy = pydicom.Dataset(ds)  # shallow: the pixel data is shared, not copied
    copy.file_meta = ds.file_meta
    for tag in _RESCALE_TAGS:
        if tag in copy:
            del copy[tag]
    for seq_tag in _FUNCTIONAL_GROUPS:
        if seq_tag in ds:
            copy[seq_tag] = _without_rescale(ds[seq_tag])
    if inverted:
        copy.PhotometricInterpretation = "MONOCHROME2"
    fd, name = tempfile.mkstemp(suffix=".dcm", prefix="interval-gdcm-")
    try:
        with os.fdopen(fd, "wb") as fp:
            copy.save_as(fp, enforce_file_format=True)
    except Exception as exc:  # noqa: BLE001 - a header pydicom cannot write back
        _remove(name)
        raise FallbackFailed(f"could not prepare the file for GDCM ({type(exc).__name__})") from exc
    return name


def _has_group_rescale(ds: pydicom.Dataset) -> bool:
    for seq_tag in _FUNCTIONAL_GROUPS:
        for item in ds.get(seq_tag, None) or []:
            if _PIXEL_VALUE_TRANSFORMATION in item:
                return True
    return False


def _without_rescale(element: pydicom.DataElement) -> pydicom.DataElement:
    """A copy of a functional-group sequence whose items lack the pixel value transformation."""
    items = []
    for item in element.value or []:
        clone = pydicom.Dataset(item)
        if _PIXEL_VALUE_TRANSFORMATION in clone:
            del clone[_PIXEL_VALUE_TRANSFORMATION]
        items.append(clone)
    return pydicom.DataElement(element.tag, "SQ", items)


def _remove(name: str) -> None:
    with suppress(OSError):
        os.unlink(name)


class _Notes:
    """What C libraries wrote on stderr while captured."""

    def __init__(self, fp: IO[bytes] | None) -> None:
        self.fp = fp

    def read(self) -> str:
        if self.fp is None:
            return ""
        self.fp.seek(0)
        return self.fp.read().decode("utf-8", "replace").strip()


@contextmanager
def _captured_stderr() -> Iterator[_Notes]:
    """Catch what C libraries write on file descriptor 2 (one decode at a time)."""
    fd = 2  # C libraries write here, whatever sys.stderr is
    with _stderr_lock, tempfile.TemporaryFile() as fp:
        try:
            saved = os.dup(fd)
        except OSError:
            yield _Notes(None)
            return
        try:
            if sys.stderr is not None:
                with suppress(OSError, ValueError):
                    sys.stderr.flush()
            os.dup2(fp.fileno(), fd)
            yield _Notes(fp)
        finally:
            os.dup2(saved, fd)
            os.close(saved)
