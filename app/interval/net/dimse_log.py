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

from interval.io.dicom.pydicom_log import plain_text

LOG_NAME = "interval.pynetdicom"


class _ToIntervalLog(logging.Handler):
    """Re-logs pynetdicom's records as plain debug text on :data:`LOG_NAME`."""

    def emit(self, record: logging.LogRecord) -> None:
        target = logging.getLogger(LOG_NAME)
        if not target.isEnabledFor(logging.DEBUG):
            return
        try:
            text = plain_text(record.getMessage())
        except Exception:  # noqa: BLE001 - a record whose arguments do not format
            text = "(unformattable message)"
        target.debug("%s: %s", record.levelname.lower(), text)


def quiet_pynetdicom_logging() -> None:
    """Route logger ``pynetdicom`` to ``interval.pynetdicom`` (idempotent, any process)."""
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False
    logger = logging.getLogger("pynetdicom")
    if not any(isinstance(h, _ToIntervalLog) for h in logger.handlers):
        logger.addHandler(_ToIntervalLog())
    logger.propagate = False
    debug = logging.getLogger(LOG_NAME).isEnabledFor(logging.DEBUG)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
