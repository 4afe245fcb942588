"""pynetdicom's log records go into Interval's log, never straight to the terminal.

pynetdicom logs every association step at info level and, unless told otherwise, the
query identifiers it sends and receives (patient names, IDs, birth dates).
:func:`quiet_pynetdicom_logging` turns the identifier dumps off, keeps the ``pynetdicom``
logger at WARNING unless Interval's ``--debug`` is active (``interval`` logs at DEBUG) and
re-logs each record as one plain-text debug line on ``interval.pynetdicom``, values in
quotes left out, so that only ``--debug`` shows them and the terminal sees Interval's own
error sentence instead of pynetdicom's.
"""

from __future__ import annotations

import logging

from pynetdicom import _config

from interval.core.log_relay import LogRelay, relay
from interval.io.dicom.pydicom_log import plain_text

LOG_NAME = "interval.pynetdicom"


def quiet_pynetdicom_logging() -> None:
    """Route logger ``pynetdicom`` to ``interval.pynetdicom`` (idempotent, any process)."""
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False
    debug = logging.getLogger(LOG_NAME).isEnabledFor(logging.DEBUG)
    relay(("pynetdicom",), lambda: LogRelay(LOG_NAME, plain_text, with_name=False),
          logging.DEBUG if debug else logging.WARNING)
