"""A PacsClient in memory for the tests: studies and series as given, retrieval copies real
DICOM files, failures on demand, a retrieval that holds until it is cancelled."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pydicom

from interval.core.errors import Cancelled
from interval.net.errors import TransferInterrupted
from interval.net.model import (
    RetrieveResult,
    SeriesHit,
    ServerProfile,
    StudyHit,
    StudyQuery,
)


class FakeClient:
    """Serves ``studies`` (StudyHit), ``series`` (study uid -> SeriesHit list) and ``files``
    (series uid -> DICOM files copied by retrieve_series).

    ``fail``: method name -> exception raised by that method.  ``hold_after``: a retrieval
    stops after that many files and waits (up to 30 s) until ``cancel()`` is true, then
    raises Cancelled (``holding`` is set while it waits).  ``cut_after``: a retrieval
    raises TransferInterrupted after that many files.
    """

    def __init__(self, profile: ServerProfile | None = None, *,
                 studies: Sequence[StudyHit] = (),
                 series: dict[str, list[SeriesHit]] | None = None,
                 files: dict[str, list[Path]] | None = None,
                 fail: dict[str, Exception] | None = None,
                 hold_after: int | None = None, cut_after: int | None = None) -> None:
        self.profile = profile or ServerProfile("fake", url="http://fake.invalid/dicom-web")
        self.studies = list(studies)
        self.series = dict(series or {})
        self.files = dict(files or {})
        self.fail = dict(fail or {})
        self.hold_after = hold_after
        self.cut_after = cut_after
        self.holding = threading.Event()
        self.queries: list[StudyQuery] = []
        self.stored: list[Path] = []
        self.closed = False
        self.calls: list[str] = []

    def _maybe_fail(self, name: str) -> None:
        self.calls.append(name)
        exc = self.fail.get(name)
        if exc is not None:
            raise exc

    def echo(self) -> None:
        self._maybe_fail("echo")

    def find_studies(self, query: StudyQuery) -> list[StudyHit]:
        self._maybe_fail("find_studies")
        self.queries.append(query)
        hits = [s for s in self.studies
                if not query.patient_id or s.patient_id == query.patient_id]
        return hits[: query.limit]

    def find_series(self, study_uid: str) -> list[SeriesHit]:
        self._maybe_fail("find_series")
        return list(self.series.get(study_uid, []))

    def retrieve_series(self, study_uid: str, series_uid: str, dest: Path, progress=None,
                        cancel=None) -> RetrieveResult:
        self._maybe_fail("retrieve_series")
        paths = self.files.get(series_uid, [])
        result = RetrieveResult()
        for n, src in enumerate(paths):
            if cancel is not None and cancel():
                raise Cancelled()
            if self.hold_after is not None and n == self.hold_after:
                self.holding.set()
                deadline = time.monotonic() + 30
                while not (cancel is not None and cancel()) and time.monotonic() < deadline:
                    time.sleep(0.01)
                raise Cancelled()
            if self.cut_after is not None and n == self.cut_after:
                raise TransferInterrupted("The transfer stopped half-way (test).")
            sop = pydicom.dcmread(src, stop_before_pixels=True).SOPInstanceUID
            target = Path(dest) / f"{sop}.dcm"
            shutil.copyfile(src, target)
            result.files.append(target)
            if progress is not None:
                progress(n + 1, len(paths))
        return result

    def store(self, files: Sequence[Path], progress=None, cancel=None) -> int:
        self._maybe_fail("store")
        for n, path in enumerate(files):
            if cancel is not None and cancel():
                raise Cancelled()
            self.stored.append(Path(path))
            if progress is not None:
                progress(n + 1, len(files))
        return len(files)

    def close(self) -> None:
        self.closed = True


def hits_of_files(paths: Sequence[Path]) -> tuple[list[StudyHit], dict[str, list[SeriesHit]],
                                                   dict[str, list[Path]]]:
    """Study and series hits (and the files of each series) read from real DICOM files."""
    studies: dict[str, StudyHit] = {}
    series: dict[str, dict[str, SeriesHit]] = {}
    files: dict[str, list[Path]] = {}
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        st, se = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)
        studies.setdefault(st, StudyHit(
            study_uid=st, patient_id=str(ds.get("PatientID", "")),
            patient_name=str(ds.get("PatientName", "")), study_date=str(ds.get("StudyDate", "")),
            study_time=str(ds.get("StudyTime", "")),
            description=str(ds.get("StudyDescription", "")),
            accession_number=str(ds.get("AccessionNumber", "")),
            modalities=(str(ds.get("Modality", "")),)))
        series.setdefault(st, {}).setdefault(se, SeriesHit(
            study_uid=st, series_uid=se, modality=str(ds.get("Modality", "")),
            number=int(ds.SeriesNumber) if ds.get("SeriesNumber") is not None else None,
            description=str(ds.get("SeriesDescription", ""))))
        files.setdefault(se, []).append(Path(path))
    series_lists = {st: list(v.values()) for st, v in series.items()}
    return list(studies.values()), series_lists, files
