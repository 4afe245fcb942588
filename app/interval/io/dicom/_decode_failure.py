"""Why compressed data was not decoded: unsupported compression, or probably damaged.

pydicom raises one ``RuntimeError`` when every decoder plugin failed, with
each plugin's reason on its own line; that means the file's encapsulation was
sound and the decoders themselves gave up (:func:`inside_decoders`), the only
case in which the GDCM fallback is tried.  :func:`not_decoded` builds the
error a user sees: "unsupported compression <syntax>" when every decoder that
tried said it lacks the feature (or none exists), otherwise "probably damaged",
with the decoders' reasons in plain text.
"""

from __future__ import annotations

from collections.abc import Sequence

from interval.core.errors import IntervalError, UnreadableFile, UnsupportedData
from interval.io.dicom import pydicom_log
from interval.io.dicom.records import DicomHeader
from interval.io.dicom.transfer_syntax import describe

# pydicom's words when every decoder plugin raised (the file's structure was fine)
_ALL_PLUGINS_FAILED = "unable to decode as exceptions were raised by all available plugins"
_UNSUPPORTED_WORDS = ("not support", "unsupported", "not implemented", "no decoder")


def inside_decoders(exc: BaseException) -> bool:
    """Whether pydicom's decoders themselves gave up (not the file's encapsulation or size)."""
    text = str(exc).lower()
    return isinstance(exc, NotImplementedError) or text.startswith(_ALL_PLUGINS_FAILED)


def _plugin_reasons(exc: BaseException) -> list[str]:
    """Each plugin's reason, from pydicom's all-plugins-failed message (else the message)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if lines and lines[0].lower().startswith(_ALL_PLUGINS_FAILED):
        return lines[1:] or [lines[0]]
    return lines[:1] or [type(exc).__name__]


def _all_unsupported(reasons: Sequence[str]) -> bool:
    return bool(reasons) and all(
        any(word in reason.lower() for word in _UNSUPPORTED_WORDS) for reason in reasons
    )


def not_decoded(
    header: DicomHeader, exc: BaseException | None, fallback: str | None = None
) -> IntervalError:
    """The error for data no decoder could decode: unsupported, or probably damaged.

    ``exc`` is pydicom's failure (None when it has no decoder for the syntax),
    ``fallback`` GDCM's reason when it was tried.
    """
    name = describe(header.transfer_syntax_uid)
    reasons = _plugin_reasons(exc) if exc is not None else []
    # GDCM says the same for unsupported and corrupt data: pydicom's plugins decide
    unsupported = exc is None or isinstance(exc, NotImplementedError) or _all_unsupported(reasons)
    if fallback is not None:
        reasons.append(f"GDCM: {fallback}")
    detail = "; ".join(pydicom_log.plain_text(r, 120) for r in reasons)[:300]
    if unsupported:
        return UnsupportedData(
            f"unsupported compression {name}" + (f" ({detail})" if detail else ""),
            path=header.path,
        )
    return UnreadableFile(
        f"its {name} image data could not be decoded; the file is probably damaged ({detail})",
        path=header.path,
    )
