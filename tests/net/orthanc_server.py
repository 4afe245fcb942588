"""A real Orthanc (Debian packages ``orthanc``, ``orthanc-dicomweb``) for the PACS tests.

:class:`OrthancServer` starts ``Orthanc`` on free loopback ports with a temporary storage
folder and configuration, waits until its REST API answers, and stops it (and removes
nothing but its own temporary folder) afterwards.  HTTP needs a user name and password
(:data:`USER` / :data:`PASSWORD`); DIMSE checks the called AE title (:data:`AE_TITLE`) and
accepts any calling AE; C-MOVE knows one destination, :data:`MOVE_AE` at
``127.0.0.1:move_port``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ORTHANC_BINARY = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
AE_TITLE = "ORTHANCTEST"
MOVE_AE = "INTERVALMOVE"
USER = "interval"
PASSWORD = "s3cret-pw"


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the test process dies, so a killed
    pytest never leaves an Orthanc behind."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def orthanc_available() -> str:
    """'' when Orthanc and its DICOMweb plugin are installed, else what is missing."""
    if not Path(ORTHANC_BINARY).exists():
        return "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)"
    if not DICOMWEB_PLUGIN.exists():
        return "the Orthanc DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)"
    return ""


class OrthancServer:
    """One Orthanc process with its own ports, storage and configuration."""

    def __init__(self, root: Path | None = None) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="orthanc-")) if root is None else Path(root)
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.move_port = free_port()
        self.process: subprocess.Popen | None = None

    # -- addresses ----------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def auth(self) -> tuple[str, str]:
        return (USER, PASSWORD)

    # -- life cycle ---------------------------------------------------------------
    def config(self) -> dict:
        storage = self.root / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        return {
            "Name": "IntervalTestOrthanc",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": AE_TITLE,
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomCheckModalityHost": False,
            "DicomModalities": {"interval": [MOVE_AE, "127.0.0.1", self.move_port]},
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD},
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
            "HttpCompressionEnabled": False,
            "StorageCompression": False,
            "OverwriteInstances": True,
            "ConcurrentJobs": 2,
            "HttpTimeout": 60,
            "DicomScuTimeout": 10,
            "StableAge": 1,
        }

    def start(self, timeout_s: float = 30.0) -> OrthancServer:
        config_path = self.root / "orthanc.json"
        config_path.write_text(json.dumps(self.config(), indent=2))
        log = open(self.root / "orthanc.log", "wb")  # noqa: SIM115 (kept open for the child)
        self.process = subprocess.Popen(
            [ORTHANC_BINARY, str(config_path)], stdout=log, stderr=subprocess.STDOUT,
            cwd=self.root, env={**os.environ, "LANG": "C"}, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/system", auth=self.auth, timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout_s} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, n: int = 40) -> str:
        path = self.root / "orthanc.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])

    def __enter__(self) -> OrthancServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- REST helpers for the tests ----------------------------------------------------
    def upload(self, paths) -> list[str]:
        """POST each DICOM file to /instances; returns Orthanc's instance ids."""
        ids = []
        for path in paths:
            r = requests.post(f"{self.url}/instances", data=Path(path).read_bytes(),
                              auth=self.auth, timeout=60)
            r.raise_for_status()
            ids.append(r.json()["ID"])
        return ids

    def get(self, route: str):
        r = requests.get(f"{self.url}{route}", auth=self.auth, timeout=60)
        r.raise_for_status()
        return r.json() if "json" in r.headers.get("content-type", "") else r.content

    def delete_all(self) -> None:
        for pid in self.get("/patients"):
            requests.delete(f"{self.url}/patients/{pid}", auth=self.auth, timeout=60)

    def instance_count(self) -> int:
        return len(self.get("/instances"))
