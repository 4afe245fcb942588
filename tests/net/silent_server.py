"""A hung server: accepts TCP connections on a loopback port and never sends a byte
(the DICOMweb and the DIMSE tests' "no answer within the time limit")."""

from __future__ import annotations

import socket
import threading


class SilentServer:
    """Accepts TCP connections on a loopback port and never sends a byte."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._run, name="silent-server", daemon=True)

    @property
    def url(self) -> str:
        """As a DICOMweb root (for the HTTP clients' tests)."""
        return f"http://127.0.0.1:{self.port}/dicom-web"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._conns:
            conn.close()
        self._sock.close()
