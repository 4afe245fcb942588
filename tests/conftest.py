"""Shared test fixtures: where the real DICOM data lives, headless Qt/VTK settings."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data").resolve()
DICOM_DATA = SHARED_DATA / "dicom"


def pytest_configure(config: pytest.Config) -> None:
    """Give the suite the usual Ctrl-C handler.  A shell that starts it in the background
    without job control (``(make test &)``) ignores SIGINT, Python then keeps it ignored,
    and every process the tests start inherits that: the Ctrl-C tests would fail."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# Headless Qt/VTK everywhere in the test suite (set before any Qt or VTK import).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


def shared(*parts: str) -> Path:
    """Path inside ``../shared/data/dicom``; fails the test clearly if the data is absent."""
    path = DICOM_DATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared test data missing: {path} (expected ../shared beside the repo)")
    return path


@pytest.fixture(scope="session")
def dicom_data() -> Path:
    """Root of the shared real DICOM data."""
    if not DICOM_DATA.is_dir():
        pytest.fail(f"shared test data missing: {DICOM_DATA}")
    return DICOM_DATA


@pytest.fixture
def no_torch(monkeypatch):
    """This installation as the viewer-only edition sees it: torch cannot be found."""
    from importlib.machinery import PathFinder

    from interval.ai import model_runtime

    real = PathFinder.find_spec
    monkeypatch.setattr(PathFinder, "find_spec", classmethod(
        lambda cls, name, *a: None if name == "torch" else real(name, *a)))
    model_runtime.model_runtime_available.cache_clear()
    yield
    model_runtime.model_runtime_available.cache_clear()


@pytest.fixture(scope="session")
def orthanc():
    """A real Orthanc (tests/net/orthanc_server.py) with DICOMweb, HTTP auth and a C-MOVE
    destination, one per test session (per xdist worker).

    Missing packages fail the test (CI installs them): never a silent skip."""
    from tests.net.orthanc_server import OrthancServer, orthanc_available

    missing = orthanc_available()
    if missing:
        pytest.fail(missing)
    server = OrthancServer().start()
    yield server
    server.stop()


@pytest.fixture
def empty_orthanc(orthanc):
    """The session's Orthanc with nothing stored in it."""
    orthanc.delete_all()
    yield orthanc
    orthanc.delete_all()
