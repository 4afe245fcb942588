"""Third-party log records into Interval's own log, cleaned, at debug level only.

Libraries (pydicom, pynetdicom, dicomweb-client, urllib3) log values from the data they
handle (patient names, query strings, binary garbage).  A :class:`LogRelay` attached to
their logger (:func:`relay`) keeps their records off the root logger's handlers (the
terminal in the CLI) and logs each again as one cleaned debug line on an ``interval.*``
logger, so only ``--debug`` shows them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable


class LogRelay(logging.Handler):
    """Re-logs records on the logger ``target`` as ``"<name> <level>: <clean(text)>"``.

    ``on_record`` (if given) sees every record first, also when ``target`` is not
    enabled for debug; ``with_exception`` appends the exception type and message.
    """

    def __init__(self, target: str, clean: Callable[[str], str], *, with_name: bool = True,
                 with_exception: bool = False,
                 on_record: Callable[[logging.LogRecord], None] | None = None) -> None:
        super().__init__()
        self.target = target
        self.clean = clean
        self.with_name = with_name
        self.with_exception = with_exception
        self.on_record = on_record

    def emit(self, record: logging.LogRecord) -> None:
        if self.on_record is not None:
            self.on_record(record)
        target = logging.getLogger(self.target)
        if not target.isEnabledFor(logging.DEBUG):
            return
        try:
            text = self.clean(record.getMessage())
        except Exception:  # noqa: BLE001 - a record whose arguments do not format
            text = "(unformattable message)"
        if self.with_exception and record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f" [{type(exc).__name__}: {self.clean(str(exc))[:120]}]"
        level = record.levelname.lower()
        if self.with_name:
            target.debug("%s %s: %s", record.name, level, text)
        else:
            target.debug("%s: %s", level, text)


def relay(names: Iterable[str], make: Callable[[], LogRelay],
          level: int | None = None) -> None:
    """Attach a relay made by ``make`` to each logger in ``names`` (once: idempotent), stop
    their propagation to the root logger, and set their level when ``level`` is given."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(h, LogRelay) for h in logger.handlers):
            logger.addHandler(make())
        logger.propagate = False
        if level is not None:
            logger.setLevel(level)
