"""pydicom's log records go into Interval's log, never straight to the terminal.

pydicom logs a warning for every odd value it meets (quoting the value: often
binary garbage, sometimes patient data) and a traceback for every decoder
plugin that fails.  :func:`route_pydicom_logging` stops those records from
reaching the root logger's handlers (the terminal in the CLI) and logs each
again as one plain-text debug line on ``interval.pydicom``, values in quotes
left out, so ``--debug`` still shows them.

:func:`parse_noted` counts the records while one file is parsed, and a
skipped file's reason then ends with ``[N header warnings]``
(:func:`reason_group` strips that note for grouping); reasons are made plain
text too (:func:`plain_reason`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import replace
from typing import TypeVar

from interval.core.log_relay import LogRelay, relay
from interval.io.dicom.records import SkippedFile

LOG_NAME = "interval.pydicom"
_count: ContextVar[list[int] | None] = ContextVar("pydicom_notes", default=None)
_QUOTED = re.compile(r"b?'[^']*'|b?\"[^\"]*\"")
_BYTES_LITERAL = re.compile(r"\bb(['\"]).*?(?:\1|$)")
_NOTE = re.compile(r" \[\d+ header warnings?\]$")
T = TypeVar("T")


def _count_record(_record: logging.LogRecord) -> None:
    box = _count.get()
    if box is not None:
        box[0] += 1


def route_pydicom_logging() -> None:
    """Send logger ``pydicom``'s records to ``interval.pydicom`` (idempotent, any process)."""
    relay(("pydicom",), lambda: LogRelay(LOG_NAME, plain_text, with_exception=True,
                                         on_record=_count_record))


def plain_text(text: str, limit: int = 200) -> str:
    """``text`` with quoted values left out, printable characters only, on one line."""
    text = _QUOTED.sub("'…'", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain_reason(reason: str, limit: int = 200) -> str:
    """A skip reason without byte strings or unprintable characters (other words kept)."""
    text = _BYTES_LITERAL.sub("…", reason)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    text = text.replace("(…)", "").replace(" )", ")")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reason_group(reason: str) -> str:
    """The reason without its ``[N header warnings]`` note (to group files by reason)."""
    return _NOTE.sub("", reason)


def parse_noted(parse: Callable[[str, bool], T], path: str, force: bool) -> T:
    """``parse(path, force)``, counting pydicom's records meanwhile.

    A :class:`SkippedFile` result gets a plain-text reason, ending with
    ``[N header warnings]`` when pydicom logged any.
    """
    route_pydicom_logging()
    box = [0]
    token = _count.set(box)
    try:
        result = parse(path, force)
    finally:
        _count.reset(token)
    if isinstance(result, SkippedFile):
        reason = plain_reason(result.reason)
        if box[0]:
            reason += f" [{box[0]} header warning{'s' if box[0] != 1 else ''}]"
        if reason != result.reason:
            result = replace(result, reason=reason)  # type: ignore[assignment]
    return result
