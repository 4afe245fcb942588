"""The HTTP libraries' log records go into Interval's log without patient data.

``dicomweb-client`` logs each request URL at debug level and the UIDs it fetches at info;
``urllib3`` logs each request line (``"GET /dicom-web/studies?PatientName=DOE* ..."``)
at debug.  A QIDO query string holds patient names and IDs, so
:func:`quiet_http_logging` keeps both loggers off the root logger's handlers and re-logs
each record as one plain-text debug line on ``interval.dicomweb``, with query strings,
UIDs and quoted values left out; only ``--debug`` shows them.
"""

from __future__ import annotations

import logging
import re

from interval.io.dicom.pydicom_log import plain_text

LOG_NAME = "interval.dicomweb"
ROUTED = ("dicomweb_client", "urllib3.connectionpool")
_QUERY = re.compile(r"\?\S*")
_UID = re.compile(r"\b\d+(?:\.\d+){4,}\b")  # 5 or more components: not an IPv4


def scrub(text: str) -> str:
    """``text`` without query strings, UIDs or quoted values, on one line."""
    return plain_text(_UID.sub("…", _QUERY.sub("?…", text)))


class _ToIntervalLog(logging.Handler):
    """Re-logs a library's records as scrubbed debug text on :data:`LOG_NAME`."""

    def emit(self, record: logging.LogRecord) -> None:
        target = logging.getLogger(LOG_NAME)
        if not target.isEnabledFor(logging.DEBUG):
            return
        try:
            text = scrub(record.getMessage())
        except Exception:  # noqa: BLE001 - a record whose arguments do not format
            text = "(unformattable message)"
        target.debug("%s %s: %s", record.name, record.levelname.lower(), text)


def quiet_http_logging() -> None:
    """Route :data:`ROUTED` to ``interval.dicomweb`` (idempotent)."""
    debug = logging.getLogger(LOG_NAME).isEnabledFor(logging.DEBUG)
    for name in ROUTED:
        logger = logging.getLogger(name)
        if not any(isinstance(h, _ToIntervalLog) for h in logger.handlers):
            logger.addHandler(_ToIntervalLog())
        logger.propagate = False
        logger.setLevel(logging.DEBUG if debug else logging.WARNING)
