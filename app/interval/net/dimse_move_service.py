"""What a C-MOVE needs besides the request: our storage service and a watchdog.

:class:`StorageService` is the storage SCP the PACS sends the images to (AE title
``profile.calling_ae`` on ``profile.move_port``), running only inside a ``with``; on
leaving it stops listening, aborts what the PACS left open and waits for every thread.
:class:`IdleWatchdog` is the time limit of the C-MOVE association itself: a PACS need
not answer until every image has gone, so the limit counts time without traffic on
either association.
"""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Callable

from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.transport import ThreadedAssociationServer

from interval.net import dimse_errors as err
from interval.net.dimse_connection import JOIN_S
from interval.net.dimse_storage import InstanceWriter, scp_contexts
from interval.net.errors import TransferInterrupted
from interval.net.model import ServerProfile


class IdleWatchdog:
    """Aborts ``assoc`` after ``timeout_s`` without activity (``last()`` is the time of
    the latest, ``busy()`` says that something is under way right now)."""

    POLL_S = 0.05

    def __init__(self, assoc: Association, timeout_s: float,
                 last: Callable[[], float], busy: Callable[[], bool]) -> None:
        self.assoc = assoc
        self.timeout_s = float(timeout_s)
        self.last = last
        self.busy = busy
        self.expired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="interval-move-watchdog",
                                        daemon=True)

    def _run(self) -> None:
        seen = time.monotonic()
        while not self._stop.wait(self.POLL_S):
            now = time.monotonic()
            if self.busy():
                seen = now
            elif now - max(seen, self.last()) > self.timeout_s:
                self.expired = True
                self.assoc.abort()
                # wake the reader waiting without a DIMSE timer, as pynetdicom's state
                # machine does when the peer aborts
                self.assoc.dimse.msg_queue.put((None, None))
                return

    def __enter__(self) -> IdleWatchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(JOIN_S)


class StorageService:
    """The storage SCP a C-MOVE sends to: AE title ``profile.calling_ae`` listening on
    ``profile.move_port`` (all interfaces; 0 = any free port) while in a ``with``."""

    POLL_S = 0.05  # how often the listening loop checks for the end

    def __init__(self, profile: ServerProfile, writer: InstanceWriter) -> None:
        self.profile = profile
        self.writer = writer
        self.ae = AE(ae_title=profile.calling_ae)
        self.ae.supported_contexts = scp_contexts()
        self.ae.acse_timeout = self.ae.dimse_timeout = float(profile.timeout_s)
        self.ae.network_timeout = 2 * float(profile.timeout_s)
        self.ae.maximum_pdu_size = 0
        self.server: ThreadedAssociationServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1]) if self.server else 0

    def __enter__(self) -> StorageService:
        try:
            self.server = self.ae.make_server(
                ("", self.profile.move_port),
                evt_handlers=[(evt.EVT_C_STORE, self.writer.handle)],
                server_class=ThreadedAssociationServer)
        except OSError as exc:
            raise TransferInterrupted(
                f"This computer cannot receive images on port {self.profile.move_port} "
                f"for {err.where(self.profile)} ({exc.strerror or exc}): choose another "
                "port, or C-GET, in the server profile."
            ) from exc
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": self.POLL_S},
                                       name="interval-move-storage", daemon=True)
        self.thread.start()
        return self

    def busy(self) -> bool:
        """Whether the PACS holds an association with this service now."""
        return bool(self.server and self.server.active_associations)

    def wait_idle(self, timeout_s: float = JOIN_S) -> None:
        """Wait until no association from the PACS is open any more."""
        deadline = time.monotonic() + timeout_s
        while self.server and self.server.active_associations and time.monotonic() < deadline:
            time.sleep(0.01)

    def __exit__(self, *exc) -> None:
        """Stop listening, abort what the PACS left open, wait for every thread."""
        self.writer.refuse()
        server = self.server
        if server is None:
            return
        # pynetdicom's own shutdown() expects a server made by start_server(): stop the
        # listening loop and close the socket directly
        socketserver.BaseServer.shutdown(server)
        server.server_close()
        if self.thread is not None:
            self.thread.join(JOIN_S)
        deadline = time.monotonic() + JOIN_S
        for assoc in server.active_associations:
            assoc.abort()
            assoc.join(max(0.0, deadline - time.monotonic()))
