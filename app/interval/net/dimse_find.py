"""One Study Root C-FIND on an open association, stopped (C-CANCEL) at a limit."""

from __future__ import annotations

import time

from pydicom.dataset import Dataset
from pynetdicom.association import Association
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND_MODEL
from pynetdicom.status import (
    STATUS_FAILURE,
    STATUS_PENDING,
    code_to_category,
)

from interval.net import dimse_errors as err
from interval.net.model import ServerProfile

MSG_ID = 1
CANCEL_GRACE_S = 3.0  # how long to wait for the final answer after a C-CANCEL

__all__ = ["FIND_MODEL", "run_find"]


def run_find(
    assoc: Association,
    profile: ServerProfile,
    identifier: Dataset,
    during: str,
    limit: int = 0,
) -> list[Dataset]:
    """The matches of ``identifier`` (at most ``limit`` when positive).

    A failure status raises :class:`PacsRefused`; a response that never comes raises
    :class:`PacsTimeout` or :class:`TransferInterrupted` (see :func:`dimse_errors.no_answer`).
    """
    matches: list[Dataset] = []
    cancelled_at: float | None = None
    last = time.monotonic()
    for status, ident in assoc.send_c_find(identifier, FIND_MODEL, msg_id=MSG_ID):
        now = time.monotonic()
        if "Status" not in status:
            if cancelled_at is not None:
                return matches
            raise err.no_answer(profile, now - last, during)
        last = now
        code = int(status.Status)
        category = code_to_category(code)
        if category == STATUS_PENDING:
            if cancelled_at is None:
                if ident is not None:
                    matches.append(ident)
                if 0 < limit <= len(matches):
                    assoc.send_c_cancel(MSG_ID, query_model=FIND_MODEL)
                    cancelled_at = now
            elif now - cancelled_at > CANCEL_GRACE_S:
                assoc.abort()
                return matches
            continue
        if category == STATUS_FAILURE and cancelled_at is None:
            raise err.refused(profile, during, code, "find")
        return matches  # success, cancel, or a warning such as "response limit reached"
    return matches
