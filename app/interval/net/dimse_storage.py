"""Receiving instances (C-STORE) during a C-GET or into the C-MOVE storage service.

:class:`InstanceWriter` is the ``EVT_C_STORE`` handler shared by both: each instance is
written as ``<SOPInstanceUID>.dcm`` with the exact bytes the PACS sent (its data set as
encoded on the wire, behind a file meta header made from the C-STORE request), under a
temporary name first and then renamed, so ``dest`` never holds a partial file.
:func:`get_contexts` and :func:`scp_contexts` are the presentation contexts a C-GET
proposes and the C-MOVE storage service accepts.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from pydicom import uid as tsuid
from pynetdicom import (
    ALL_TRANSFER_SYNTAXES,
    AllStoragePresentationContexts,
    StoragePresentationContexts,
    build_context,
    build_role,
)
from pynetdicom.presentation import PresentationContext

from interval.core.uids import instance_file_name as file_name

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # our answer to instances that arrive after a cancel
NOT_ASKED_FOR = 0xC000  # "cannot understand": an instance of another series (C-MOVE port)

# One context per (SOP class, transfer syntax), most common first, so that the PACS can
# send each instance in the syntax it holds it in (no transcoding, the stored bytes).
RECEIVE_SYNTAXES = (
    tsuid.ExplicitVRLittleEndian,
    tsuid.ImplicitVRLittleEndian,
    tsuid.JPEG2000Lossless,
    tsuid.JPEGLosslessSV1,
    tsuid.JPEGBaseline8Bit,
    tsuid.JPEG2000,
    tsuid.JPEGLossless,
    tsuid.JPEGExtended12Bit,
    tsuid.JPEGLSLossless,
    tsuid.JPEGLSNearLossless,
    tsuid.RLELossless,
    tsuid.DeflatedExplicitVRLittleEndian,
    tsuid.HTJ2KLossless,
    tsuid.HTJ2KLosslessRPCL,
    tsuid.HTJ2K,
    tsuid.ExplicitVRBigEndian,
)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class InstanceWriter:
    """``EVT_C_STORE`` handler writing each received instance into ``dest``.

    ``accept()`` (called in the handler's thread) says whether to keep taking
    instances; after it says no, or after :meth:`refuse`, instances are answered with a
    failure status and not written.  ``on_written()`` is called after each file.
    """

    def __init__(
        self,
        dest: Path,
        accept: Callable[[], bool] | None = None,
        on_written: Callable[[], None] | None = None,
        series: tuple[str, str] | None = None,
    ) -> None:
        self.dest = Path(dest)
        self.series = series  # (study UID, series UID) asked for; others are refused
        self.refused_other = 0  # instances of another series (someone else's C-STORE)
        self.files: list[Path] = []
        self.error: OSError | None = None
        self._accept = accept
        self._on_written = on_written
        self._refusing = threading.Event()
        self._lock = threading.Lock()
        self.last_activity = time.monotonic()  # when the latest instance arrived

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.files)

    @property
    def refusing(self) -> bool:
        return self._refusing.is_set()

    def refuse(self) -> None:
        """Answer every further instance with a failure status."""
        self._refusing.set()

    def handle(self, event) -> int:
        """Write one C-STORE request's data set; the C-STORE status to answer."""
        self.last_activity = time.monotonic()
        if self.refusing or self.error is not None:
            return OUT_OF_RESOURCES
        if self._accept is not None and not self._accept():
            self.refuse()
            return OUT_OF_RESOURCES
        if self.series is not None and not self._of_series(event):
            with self._lock:
                self.refused_other += 1
            return NOT_ASKED_FOR
        path = self.dest / file_name(str(event.request.AffectedSOPInstanceUID or ""))
        try:
            write_atomically(path, event.encoded_dataset(include_meta=True))
        except OSError as exc:
            self.error = exc
            self.refuse()
            return OUT_OF_RESOURCES
        self.last_activity = time.monotonic()
        with self._lock:
            if path not in self.files:
                self.files.append(path)
        if self._on_written is not None:
            self._on_written()
        return SUCCESS


    def _of_series(self, event) -> bool:
        """Whether the instance belongs to the series asked for: the C-MOVE storage port
        is open to anyone while a retrieval runs, and nothing else may join the series."""
        try:
            ds = event.dataset
            study, series = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)
        except Exception:  # noqa: BLE001 - an undecodable data set is not the series
            return False
        return (study, series) == self.series


def get_contexts(
    sop_classes: Iterable[str], room: int
) -> tuple[list[PresentationContext], list]:
    """Storage contexts (SCP role) a C-GET proposes, at most ``room``, and their roles.

    With the series' SOP classes known: one context per (class, transfer syntax) so the
    PACS need not transcode; else pynetdicom's common storage classes with the
    uncompressed syntaxes.
    """
    classes = list(dict.fromkeys(str(c) for c in sop_classes if str(c)))
    contexts: list[PresentationContext] = []
    if classes and len(classes) <= room:
        per_class = max(1, min(len(RECEIVE_SYNTAXES), room // len(classes)))
        for sop_class in classes:
            contexts += [build_context(sop_class, ts) for ts in RECEIVE_SYNTAXES[:per_class]]
    else:
        contexts = [build_context(cx.abstract_syntax, cx.transfer_syntax)
                    for cx in StoragePresentationContexts[:room]]
    uids = dict.fromkeys(str(cx.abstract_syntax) for cx in contexts)
    roles = [build_role(uid, scp_role=True) for uid in uids]
    return contexts, roles


def scp_contexts() -> list[PresentationContext]:
    """Every storage SOP class with every transfer syntax pynetdicom knows (C-MOVE SCP)."""
    return [build_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES[:])
            for cx in AllStoragePresentationContexts]

