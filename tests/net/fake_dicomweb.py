"""Small local servers for the failures a real PACS does not produce on demand.

:class:`FakeDicomWeb` answers the QIDO-RS instance list of one series and serves each
instance by WADO-RS as told: whole, cut half-way (with or without a Content-Length), or
as a bare data set without Part-10 header; it runs in a daemon thread on a free
loopback port and records the ``Authorization`` headers it receives.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOUNDARY = "fake-boundary-0123456789"


def _element(value: str, vr: str = "UI") -> dict:
    return {"vr": vr, "Value": [value]}


class FakeDicomWeb:
    """A DICOMweb root that serves one series of ``instances``.

    ``instances`` maps SOP Instance UID to ``(payload, mode)``; mode is ``"whole"``,
    ``"plain"`` (a lone ``application/dicom`` body, not multipart), ``"gone"`` (listed,
    but 404 when fetched), ``"cut-length"`` (Content-Length of the whole, half sent,
    connection closed), ``"cut-close"`` (no Content-Length, half sent, connection
    closed) or ``"bare"`` (``payload`` is a data set without preamble; the part names
    its transfer syntax ``transfer_syntax``).
    """

    def __init__(self, study_uid: str, series_uid: str,
                 instances: dict[str, tuple[bytes, str]], transfer_syntax: str = "") -> None:
        self.study_uid = study_uid
        self.series_uid = series_uid
        self.instances = instances
        self.transfer_syntax = transfer_syntax
        self.authorizations: list[str | None] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                fake.authorizations.append(self.headers.get("Authorization"))
                fake.answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/dicom-web"

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        prefix = f"/dicom-web/studies/{self.study_uid}/series/{self.series_uid}/instances"
        if path in ("/dicom-web/studies", prefix):
            items = [] if path == "/dicom-web/studies" else [
                {"00080018": _element(uid), "00200013": {"vr": "IS", "Value": [n]}}
                for n, uid in enumerate(self.instances, start=1)]
            body = json.dumps(items).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/dicom+json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        uid = path.rsplit("/", 1)[-1]
        if not path.startswith(prefix + "/") or uid not in self.instances:
            h.send_error(404)
            return
        payload, mode = self.instances[uid]
        if mode == "gone":
            h.send_error(404)
            return
        if mode == "plain":  # not multipart, as some servers do
            h.send_response(200)
            h.send_header("Content-Type", "application/dicom")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        part_type = "application/dicom"
        if mode == "bare" and self.transfer_syntax:
            part_type += f"; transfer-syntax={self.transfer_syntax}"
        body = (f"--{BOUNDARY}\r\nContent-Type: {part_type}\r\n\r\n".encode() + payload
                + f"\r\n--{BOUNDARY}--\r\n".encode())
        h.send_response(200)
        h.send_header("Content-Type",
                      f'multipart/related; type="application/dicom"; boundary={BOUNDARY}')
        if mode != "cut-close":
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if mode.startswith("cut"):
            h.wfile.write(body[:len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(body)

    def __enter__(self) -> FakeDicomWeb:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
