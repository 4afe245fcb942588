"""A local DICOMweb server that misbehaves on purpose: answers without end, too many
results, sizes it never sends, bytes trickling forever, or silence mid-image.

:class:`HostileDicomWeb` serves a study search and one series; ``search`` and
``instance`` choose how each is answered (see the class).  It runs in a daemon thread on
a free loopback port and records the paths asked for.  Every endless answer stops after
:data:`SAFETY_BYTES` or when the client hangs up, so a failing test never hangs forever.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOUNDARY = "hostile-boundary-0123456789"
SAFETY_BYTES = 256 << 20
_BLOCK = 64 << 10


def study_item(n: int) -> dict:
    """One QIDO study data set (Study Instance UID ``1.2.<n>``)."""
    return {"0020000D": {"vr": "UI", "Value": [f"1.2.{n}"]},
            "00100020": {"vr": "LO", "Value": [f"ID{n}"]}}


class HostileDicomWeb:
    """A DICOMweb root serving series ``1.2.3`` of study ``1.2`` with one instance ``1.2.3.4``.

    ``search`` (the study search): ``"many"`` (``n_studies`` studies, ``limit`` ignored),
    ``"endless"`` (a JSON array that never closes, no Content-Length) or ``"huge-length"``
    (announces 10 GiB, sends ``[]``).  ``series`` (the series search of study ``1.2``)
    and ``listing`` (the instance listing of the series): ``"one"`` or ``"endless"``.
    ``instance`` (WADO-RS of the instance): ``"endless-part"`` (a part that never ends),
    ``"endless-plain"`` (``application/dicom`` without end), ``"endless-epilogue"``
    (``payload`` as a complete part, then bytes without end), ``"huge-length"`` (announces
    100 GiB), ``"trickle"`` (a part whose body comes 4 KiB every 10 ms, forever) or
    ``"stall"`` (the part header and 1 KiB, then silence for ``stall_s``).
    """

    def __init__(self, search: str = "many", instance: str = "endless-part",
                 payload: bytes = b"", n_studies: int = 40, stall_s: float = 5.0,
                 series: str = "one", listing: str = "one") -> None:
        self.search = search
        self.series = series
        self.listing = listing
        self.instance = instance
        self.payload = payload
        self.n_studies = n_studies
        self.stall_s = stall_s
        self.paths: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                fake.paths.append(self.path)
                with contextlib.suppress(OSError):  # the client hung up, as it should
                    fake.answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/dicom-web"

    # -- answers --------------------------------------------------------------------------
    def answer(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        series = "/dicom-web/studies/1.2/series/1.2.3/instances"
        if path == "/dicom-web/studies":
            self._search(h)
        elif path == "/dicom-web/studies/1.2/series":
            item = {"0020000E": {"vr": "UI", "Value": ["1.2.3"]},
                    "00080060": {"vr": "CS", "Value": ["CT"]}}
            self._items(h, item, endless=self.series == "endless")
        elif path == series:
            item = {"00080018": {"vr": "UI", "Value": ["1.2.3.4"]},
                    "00200013": {"vr": "IS", "Value": [1]}}
            self._items(h, item, endless=self.listing == "endless")
        elif path == series + "/1.2.3.4":
            self._instance(h)
        else:
            h.send_error(404)

    def _json(self, h: BaseHTTPRequestHandler, body: bytes, length: int | None = None) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/dicom+json")
        h.send_header("Content-Length", str(len(body) if length is None else length))
        h.end_headers()
        h.wfile.write(body)

    def _search(self, h: BaseHTTPRequestHandler) -> None:
        if self.search == "many":
            self._json(h, json.dumps([study_item(n) for n in range(self.n_studies)]).encode())
        elif self.search == "huge-length":
            self._json(h, b"[]", length=10 << 30)
            h.close_connection = True
        else:
            self._items(h, study_item(1), endless=True)

    def _items(self, h: BaseHTTPRequestHandler, item: dict, endless: bool) -> None:
        """``[item]``, or with ``endless`` a JSON array of it that never closes (no
        Content-Length: the answer ends when the connection does)."""
        if not endless:
            self._json(h, json.dumps([item]).encode())
            return
        h.send_response(200)
        h.send_header("Content-Type", "application/dicom+json")
        h.end_headers()
        h.close_connection = True
        text = json.dumps(item).encode() + b","
        h.wfile.write(b"[")
        self._endless(h, text * (_BLOCK // len(text)))

    def _instance(self, h: BaseHTTPRequestHandler) -> None:
        mode = self.instance
        plain = mode == "endless-plain"
        h.send_response(200)
        h.send_header("Content-Type", "application/dicom" if plain else
                      f'multipart/related; type="application/dicom"; boundary={BOUNDARY}')
        if mode == "huge-length":
            h.send_header("Content-Length", str(100 << 30))
        h.end_headers()
        h.close_connection = True
        if plain:
            self._endless(h, b"\0" * _BLOCK)
            return
        h.wfile.write(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        if mode == "endless-epilogue":
            h.wfile.write(self.payload + f"\r\n--{BOUNDARY}--\r\n".encode())
            self._endless(h, b"x" * _BLOCK)
        elif mode == "trickle":
            self._endless(h, b"\0" * 4096, pause_s=0.01)
        elif mode == "stall":
            h.wfile.write(b"\0" * 1024)
            h.wfile.flush()
            time.sleep(self.stall_s)
        elif mode == "endless-part":
            self._endless(h, b"\0" * _BLOCK)

    @staticmethod
    def _endless(h: BaseHTTPRequestHandler, block: bytes, pause_s: float = 0.0) -> None:
        sent = 0
        while sent < SAFETY_BYTES:
            h.wfile.write(block)
            h.wfile.flush()
            sent += len(block)
            if pause_s:
                time.sleep(pause_s)

    def __enter__(self) -> HostileDicomWeb:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
