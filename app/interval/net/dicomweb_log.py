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

from interval.core.log_relay import LogRelay, relay
from interval.io.dicom.pydicom_log import plain_text

LOG_NAME = "interval.dicomweb"
ROUTED = ("dicomweb_client", "urllib3.connectionpool")
_QUERY = re.compile(r"\?\S*")
_UID = re.compile(r"\b\d+(?:\.\d+){4,}\b")  # 5 or more components: not an IPv4


def scrub(text: str) -> str:
    """``text`` without query strings, UIDs or quoted values, on one line."""
    return plain_text(_UID.sub("…", _QUERY.sub("?…", text)))


def quiet_http_logging() -> None:
    """Route :data:`ROUTED` to ``interval.dicomweb`` (idempotent)."""
    debug = logging.getLogger(LOG_NAME).isEnabledFor(logging.DEBUG)
    relay(ROUTED, lambda: LogRelay(LOG_NAME, scrub),
          logging.DEBUG if debug else logging.WARNING)
