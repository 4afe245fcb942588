"""Retrieving one series with C-GET or C-MOVE into a folder.

First an IMAGE-level C-FIND lists the series' instances and SOP classes (the total for
the progress, the contexts a C-GET proposes, what must arrive); then

* C-GET: the PACS sends the instances back on the same association (SCP role for the
  storage classes), handled by :class:`~interval.net.dimse_storage.InstanceWriter`;
* C-MOVE: a storage service listens on ``profile.move_port`` under ``calling_ae`` while
  the PACS sends the instances there, and is shut down afterwards.

Progress counts the files written; cancelling sends a C-CANCEL (and aborts if the PACS
does not stop within a few seconds) and raises :class:`~interval.core.errors.Cancelled`.
Files written before are complete and stay; a partial file never exists in ``dest``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet as GET_MODEL,
)
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelMove as MOVE_MODEL,
)
from pynetdicom.status import (
    STATUS_CANCEL,
    STATUS_FAILURE,
    STATUS_PENDING,
    STATUS_WARNING,
    code_to_category,
)

from interval.core.errors import Cancelled
from interval.core.jobs import CancelFn, ProgressFn, report
from interval.net import dimse_errors as err
from interval.net.dimse_connection import (
    MAX_CONTEXTS,
    association,
    identity_items,
    new_ae,
)
from interval.net.dimse_find import FIND_MODEL, run_find
from interval.net.dimse_move_service import IdleWatchdog, StorageService
from interval.net.dimse_query import image_identifier, retrieve_identifier
from interval.net.dimse_storage import (
    InstanceWriter,
    file_name,
    get_contexts,
)
from interval.net.errors import AssociationRejected, PacsRefused, TransferInterrupted
from interval.net.model import RetrieveResult, ServerProfile

MSG_ID = 1
CANCEL_GRACE_S = 3.0


def survey_series(
    profile: ServerProfile, secret: str | None, study_uid: str, series_uid: str
) -> list[Dataset] | None:
    """The series' instances (SOP Instance and Class UIDs) by an IMAGE-level C-FIND, or
    None when the PACS does not answer that query (retrieval then goes on without)."""
    ae = new_ae(profile)
    ae.add_requested_context(FIND_MODEL)
    try:
        with association(ae, profile, "image search (C-FIND)",
                         identity_items(profile, secret)) as assoc:
            return run_find(assoc, profile, image_identifier(study_uid, series_uid),
                            "the listing of a series")
    except (PacsRefused, AssociationRejected):  # no IMAGE-level search offered
        return None


class _Retrieval:
    """The state of one retrieval: counts, cancellation, the final status."""

    def __init__(
        self,
        profile: ServerProfile,
        dest: Path,
        expected: Sequence[Dataset] | None,
        progress: ProgressFn | None,
        cancel: CancelFn | None,
        in_caller_thread: bool,
        series: tuple[str, str] | None = None,
    ) -> None:
        self.profile = profile
        self.expected = list(expected) if expected is not None else None
        self.total = len(self.expected) if self.expected else 0
        self.progress = progress
        self.cancel = cancel
        self.cancelled_at: float | None = None
        self.cancel_sent = False
        self.last = time.monotonic()
        self.move_port = 0
        self.timed_out = False
        self.writer = InstanceWriter(
            dest,
            accept=self._keep_going if in_caller_thread else None,
            on_written=self._written if in_caller_thread else None,
            series=series,
        )

    # -- called while instances arrive ----------------------------------------------
    def _keep_going(self) -> bool:
        self.last = time.monotonic()
        if self.cancelled_at is None and self.cancel is not None and self.cancel():
            self.cancelled_at = time.monotonic()
        return self.cancelled_at is None

    def _written(self) -> None:
        self.report()

    def report(self) -> None:
        done = self.writer.count
        report(self.progress, done, max(self.total, done))

    # -- the C-GET / C-MOVE responses --------------------------------------------------
    def follow(self, assoc: Association, responses, service: str) -> Dataset | None:
        """Iterate the responses; the final status, or None when none came."""
        model = GET_MODEL if service == "get" else MOVE_MODEL
        for status, _ident in responses:
            now = time.monotonic()
            if "Status" not in status:
                return None
            self.last = now
            code = int(status.Status)
            if code_to_category(code) != STATUS_PENDING:
                return status
            counts = [int(status.get(k) or 0) for k in (
                "NumberOfRemainingSuboperations", "NumberOfCompletedSuboperations",
                "NumberOfFailedSuboperations", "NumberOfWarningSuboperations")]
            if not self.expected:
                self.total = max(self.total, sum(counts))
            self.report()
            self._keep_going()
            if self.cancelled_at is not None:
                self.writer.refuse()
                if not self.cancel_sent and assoc.is_established:
                    assoc.send_c_cancel(MSG_ID, query_model=model)
                    self.cancel_sent = True
                elif now - self.cancelled_at > CANCEL_GRACE_S:
                    assoc.abort()
                    return None
        return None

    def finish(self, final: Dataset | None, service: str, during: str) -> RetrieveResult:
        """The result, or the error, once the last response came (or did not)."""
        profile = self.profile
        writer = self.writer
        if writer.error is not None:
            raise TransferInterrupted(
                f"An image retrieved from {err.where(profile)} could not be written to "
                f"the folder {writer.dest} ({writer.error.strerror or writer.error}).",
                path=writer.dest,
            )
        code = int(final.Status) if final is not None else None
        if self.cancelled_at is not None or (
            code is not None and code_to_category(code) == STATUS_CANCEL
        ):
            raise Cancelled()
        if final is None and self.timed_out:
            raise err.timed_out(profile, during)
        if final is None:
            raise err.no_answer(profile, time.monotonic() - self.last, during)
        category = code_to_category(code)
        failed = int(final.get("NumberOfFailedSuboperations") or 0)
        done = writer.count
        if code == err.MOVE_DESTINATION_UNKNOWN and service == "move":
            raise err.move_destination_unknown(profile, self.move_port)
        if category == STATUS_FAILURE:
            if done == 0 and failed == 0 and service == "move":
                # e.g. Orthanc answers an unknown destination with 0xC000
                raise err.move_refused(profile, self.move_port, code)
            if done == 0 and failed == 0:
                raise err.refused(profile, during, code, service)
            raise TransferInterrupted(
                f"The PACS {err.where(profile)} stopped {during} after {done} image(s)"
                f"{f', {failed} failed' if failed else ''}: status "
                f"{err.status_words(code, service)}; nothing partial was kept."
            )
        result = RetrieveResult(files=sorted(writer.files))
        if category == STATUS_WARNING or failed:
            result.warnings.append(
                f"{failed or 'Some'} image(s) of the series could not be retrieved from "
                f"{err.where(profile)} (status {err.status_words(code, service)})."
            )
        if self.expected:
            names = {p.name for p in writer.files}
            missing = [ds for ds in self.expected
                       if file_name(str(ds.get("SOPInstanceUID", ""))) not in names]
            if missing and not failed:
                result.warnings.append(
                    f"{len(missing)} of the {len(self.expected)} image(s) the PACS listed "
                    "for this series did not arrive.")
        if writer.refused_other:
            result.warnings.append(
                f"{writer.refused_other} image(s) of another series arrived during the "
                "retrieval and were refused.")
        if not writer.files and not result.warnings:
            result.warnings.append(f"{err.where(profile)} sent no image for this series.")
        self.report()
        return result


def retrieve_series(
    profile: ServerProfile,
    secret: str | None,
    study_uid: str,
    series_uid: str,
    dest: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> RetrieveResult:
    """Write every instance of a series into ``dest`` with C-GET or C-MOVE."""
    dest = Path(dest)
    if not dest.is_dir():
        raise TransferInterrupted(f"The folder {dest} does not exist.", path=dest)
    if cancel is not None and cancel():
        raise Cancelled()
    expected = survey_series(profile, secret, study_uid, series_uid)
    move = profile.retrieve == "move"
    # C-GET's instances arrive on the caller's association (its thread); C-MOVE's on
    # the storage service's threads
    job = _Retrieval(profile, dest, expected, progress, cancel, in_caller_thread=not move,
                     series=(study_uid, series_uid))
    return (_move if move else _get)(profile, secret, job, study_uid, series_uid)


def _get(profile: ServerProfile, secret: str | None, job: _Retrieval, study_uid: str,
         series_uid: str) -> RetrieveResult:
    classes = [str(ds.get("SOPClassUID", "")) for ds in job.expected or []]
    contexts, roles = get_contexts(classes if all(classes) else [], MAX_CONTEXTS - 1)
    ae = new_ae(profile)
    ae.add_requested_context(GET_MODEL)
    for cx in contexts:
        ae.add_requested_context(cx.abstract_syntax, cx.transfer_syntax)
    job.report()
    during = "the retrieval (C-GET)"
    with association(ae, profile, during, [*identity_items(profile, secret), *roles],
                     [(evt.EVT_C_STORE, job.writer.handle)]) as assoc:
        responses = assoc.send_c_get(retrieve_identifier(study_uid, series_uid), GET_MODEL,
                                     msg_id=MSG_ID)
        final = job.follow(assoc, responses, "get")
    return job.finish(final, "get", during)


def _move(profile: ServerProfile, secret: str | None, job: _Retrieval, study_uid: str,
          series_uid: str) -> RetrieveResult:
    during = "the retrieval (C-MOVE)"
    with StorageService(profile, job.writer) as service:
        job.move_port = service.port
        ae = new_ae(profile)
        # A PACS need not answer the C-MOVE until every image has gone to our storage
        # service: no DIMSE timer here; the watchdog ends it after timeout_s without
        # any traffic on either association.
        ae.dimse_timeout = None
        ae.add_requested_context(MOVE_MODEL)
        job.report()
        with association(ae, profile, during, identity_items(profile, secret)) as assoc:
            responses = assoc.send_c_move(retrieve_identifier(study_uid, series_uid),
                                          profile.calling_ae, MOVE_MODEL, msg_id=MSG_ID)
            last = lambda: max(job.last, job.writer.last_activity)  # noqa: E731
            with IdleWatchdog(assoc, profile.timeout_s, last, service.busy) as watchdog:
                final = job.follow(assoc, responses, "move")
            job.timed_out = watchdog.expired
        service.wait_idle()  # the PACS may still be releasing its association to us
    return job.finish(final, "move", during)
