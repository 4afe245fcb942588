"""The series cache: complete series only, atomic placement, LRU eviction, hostile UIDs."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from interval.core.errors import Cancelled
from interval.core.jobs import check_cancel
from interval.net import cache as cache_mod
from interval.net.cache import SeriesCache, check_uid
from interval.net.errors import PacsError, TransferInterrupted
from interval.net.model import RetrieveResult, SeriesHit, ServerProfile

STUDY = "1.2.840.99.1"
SERIES_A = "1.2.840.99.1.1"
SERIES_B = "1.2.840.99.1.2"


class FakeClient:
    """A PACS whose series are ``n`` files of ``size`` bytes; failures on request."""

    def __init__(self, series: dict[str, int] | None = None, size: int = 1000) -> None:
        self.profile = ServerProfile(name="Fake PACS", url="http://fake/dicom-web")
        self.series = series if series is not None else {SERIES_A: 3, SERIES_B: 2}
        self.size = size
        self.fail_after: dict[str, int] = {}  # series -> raise after writing this many files
        self.cancel_after: dict[str, int] = {}  # series -> "user cancels" after this many
        self.hostile_series: list[str] = []
        self.retrievals: list[str] = []
        self.delay_s = 0.0
        self.lock = threading.Lock()

    def find_series(self, study_uid: str) -> list[SeriesHit]:
        hits = [SeriesHit(study_uid, uid, "CT", i + 1, "", n)
                for i, (uid, n) in enumerate(self.series.items())]
        return hits + [SeriesHit(study_uid, uid) for uid in self.hostile_series]

    def retrieve_series(self, study_uid, series_uid, dest: Path, progress=None, cancel=None):
        with self.lock:
            self.retrievals.append(series_uid)
        n = self.series[series_uid]
        files = []
        for k in range(n):
            check_cancel(cancel)
            if self.fail_after.get(series_uid) == k:
                raise TransferInterrupted("The transfer stopped half-way.")
            if self.cancel_after.get(series_uid) == k:
                raise Cancelled("cancelled")
            path = dest / f"{series_uid}.{k + 1}.dcm"
            path.write_bytes(b"\0" * 128 + b"DICM" + bytes(self.size - 132))
            files.append(path)
            if progress is not None:
                progress(k + 1, n)
            time.sleep(self.delay_s)
        return RetrieveResult(files=files)

    def close(self) -> None:
        pass


def _visible_tree(root: Path) -> list[str]:
    """Every file under ``root`` except the markers and staging folders, relative."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and not p.relative_to(root).parts[0].startswith("."))


def _outside(root: Path, cache_name: str) -> list[Path]:
    """What exists under ``root`` but outside its cache folder ``cache_name``."""
    return [p for p in root.rglob("*") if p.relative_to(root).parts[0] != cache_name]


def test_fetch_places_a_complete_series_with_its_marker(tmp_path) -> None:
    cache = SeriesCache(tmp_path / "c")
    client = FakeClient()
    seen = []
    folder = cache.fetch(client, STUDY, SERIES_A, progress=lambda d, t: seen.append((d, t)))
    assert folder == tmp_path / "c" / STUDY / SERIES_A
    assert sorted(p.name for p in folder.iterdir()) == [f"{SERIES_A}.{k}.dcm" for k in (1, 2, 3)]
    assert cache.path_of(STUDY, SERIES_A) == folder
    assert cache.path_of(STUDY, SERIES_B) is None
    assert seen[-1] == (3, 3)
    [entry] = cache.entries()
    assert (entry.n_instances, entry.n_bytes, entry.server) == (3, 3000, "Fake PACS")
    assert cache.size_bytes() == 3000
    assert list((tmp_path / "c" / ".partial").iterdir()) == []  # staging gone
    # the study folder holds DICOM files only (the marker lives outside it)
    assert all(p.suffix == ".dcm" for p in cache.study_folder(STUDY).rglob("*") if p.is_file())


def test_a_cached_series_is_not_retrieved_again_and_its_use_is_recorded(tmp_path) -> None:
    cache = SeriesCache(tmp_path)
    client = FakeClient()
    cache.fetch(client, STUDY, SERIES_A)
    marker = tmp_path / ".complete" / STUDY / f"{SERIES_A}.json"
    os.utime(marker, (1000, 1000))
    assert cache.fetch(client, STUDY, SERIES_A) == cache.path_of(STUDY, SERIES_A)
    assert client.retrievals == [SERIES_A]
    assert marker.stat().st_mtime > 1000


def test_a_transfer_cut_half_way_keeps_nothing(tmp_path) -> None:
    cache = SeriesCache(tmp_path)
    client = FakeClient()
    client.fail_after[SERIES_A] = 2  # two files written, then the line drops
    with pytest.raises(TransferInterrupted):
        cache.fetch(client, STUDY, SERIES_A)
    assert cache.path_of(STUDY, SERIES_A) is None
    assert _visible_tree(tmp_path) == []
    assert list((tmp_path / ".partial").iterdir()) == []
    assert cache.entries() == []


def test_a_cancel_keeps_nothing(tmp_path) -> None:
    cache = SeriesCache(tmp_path)
    client = FakeClient()
    client.cancel_after[SERIES_A] = 1
    with pytest.raises(Cancelled):
        cache.fetch(client, STUDY, SERIES_A)
    assert _visible_tree(tmp_path) == [] and list((tmp_path / ".partial").iterdir()) == []
    # cancel() itself: the client sees it between files
    calls = iter([False, False, True, True, True, True])
    with pytest.raises(Cancelled):
        cache.fetch(client, STUDY, SERIES_B, cancel=lambda: next(calls))
    assert _visible_tree(tmp_path) == []


def test_an_interrupt_keeps_nothing(tmp_path) -> None:
    cache = SeriesCache(tmp_path)
    client = FakeClient()

    def progress(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.fetch(client, STUDY, SERIES_A, progress=progress)
    assert _visible_tree(tmp_path) == [] and list((tmp_path / ".partial").iterdir()) == []


def test_an_empty_series_is_an_error(tmp_path) -> None:
    cache = SeriesCache(tmp_path)
    with pytest.raises(PacsError, match="no images"):
        cache.fetch(FakeClient({SERIES_A: 0}), STUDY, SERIES_A)
    assert cache.path_of(STUDY, SERIES_A) is None


def test_files_the_result_does_not_list_are_not_kept(tmp_path) -> None:
    class Sloppy(FakeClient):
        def retrieve_series(self, study_uid, series_uid, dest, progress=None, cancel=None):
            result = super().retrieve_series(study_uid, series_uid, dest, progress, cancel)
            (dest / "half-written.part").write_bytes(b"xx")
            return result

    folder = SeriesCache(tmp_path).fetch(Sloppy(), STUDY, SERIES_A)
    assert sorted(p.suffix for p in folder.iterdir()) == [".dcm"] * 3


def test_a_listed_file_that_is_missing_keeps_nothing(tmp_path) -> None:
    class Liar(FakeClient):
        def retrieve_series(self, study_uid, series_uid, dest, progress=None, cancel=None):
            result = super().retrieve_series(study_uid, series_uid, dest, progress, cancel)
            result.files.append(dest / "never-written.dcm")
            return result

    cache = SeriesCache(tmp_path)
    with pytest.raises(TransferInterrupted):
        cache.fetch(Liar(), STUDY, SERIES_A)
    assert _visible_tree(tmp_path) == []


@pytest.mark.parametrize("uid", ["../x", "..", "1.2/../../3", "/etc", "1.2.3 ", "", "1." * 40,
                                 "1..2", "1.2.\u0663", None])
def test_hostile_uids_never_become_folder_names(tmp_path, uid) -> None:
    cache = SeriesCache(tmp_path / "cache")
    client = FakeClient({uid: 1} if isinstance(uid, str) else {})
    with pytest.raises(PacsError, match="invalid"):
        cache.fetch(client, STUDY, uid)
    with pytest.raises(PacsError, match="invalid"):
        cache.fetch(client, uid, SERIES_A)
    assert client.retrievals == []
    assert _outside(tmp_path, "cache") == []


def test_a_hostile_series_uid_from_find_series_stops_the_study(tmp_path) -> None:
    cache = SeriesCache(tmp_path / "cache")
    client = FakeClient()
    client.hostile_series = ["../../escape"]
    with pytest.raises(PacsError, match="invalid series UID"):
        cache.fetch_study(client, STUDY)
    assert client.retrievals == []
    assert _outside(tmp_path, "cache") == []


def test_check_uid() -> None:
    assert check_uid("1.2.840.10008.1.1") == "1.2.840.10008.1.1"
    assert check_uid("1" * 64)
    with pytest.raises(PacsError):
        check_uid("1" * 65)


def test_fetch_study_gets_every_series_with_progress_over_the_study(tmp_path) -> None:
    cache = SeriesCache(tmp_path)
    client = FakeClient()
    seen = []
    folder = cache.fetch_study(client, STUDY, progress=lambda d, t: seen.append((d, t)))
    assert folder == cache.study_folder(STUDY)
    assert sorted(p.name for p in folder.iterdir()) == [SERIES_A, SERIES_B]
    assert seen[-1] == (5, 5)
    assert all(t == 5 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # never goes back
    # only some series
    other = SeriesCache(tmp_path / "other")
    other.fetch_study(client, STUDY, [SERIES_B])
    assert sorted(p.name for p in other.study_folder(STUDY).iterdir()) == [SERIES_B]


def test_a_study_cut_half_way_removes_what_this_call_retrieved(tmp_path) -> None:
    cache = SeriesCache(tmp_path)
    client = FakeClient({SERIES_A: 3, SERIES_B: 2, "1.2.840.99.1.3": 2})
    cache.fetch(client, STUDY, "1.2.840.99.1.3")  # cached before: stays
    client.fail_after[SERIES_B] = 1
    with pytest.raises(TransferInterrupted):
        cache.fetch_study(client, STUDY)
    assert cache.path_of(STUDY, SERIES_A) is None
    assert cache.path_of(STUDY, SERIES_B) is None
    assert cache.path_of(STUDY, "1.2.840.99.1.3") is not None
    assert {p.parent.name for p in (tmp_path / STUDY).rglob("*.dcm")} == {"1.2.840.99.1.3"}


def test_a_huge_study_cancelled_keeps_nothing(tmp_path) -> None:
    cache = SeriesCache(tmp_path)
    client = FakeClient({f"1.2.3.{k}": 5 for k in range(1, 5)})
    stop = threading.Event()

    def progress(done, total):
        if done >= 12:
            stop.set()

    with pytest.raises(Cancelled):
        cache.fetch_study(client, "1.2.3", progress=progress, cancel=stop.is_set)
    assert len(client.retrievals) == 3
    assert _visible_tree(tmp_path) == [] and cache.entries() == []


def test_a_study_with_no_series_is_a_sentence(tmp_path) -> None:
    with pytest.raises(PacsError, match="no series"):
        SeriesCache(tmp_path).fetch_study(FakeClient({}), STUDY)


def test_eviction_removes_the_least_recently_used_until_under_the_limit(tmp_path) -> None:
    cache = SeriesCache(tmp_path, max_bytes=10_000)
    client = FakeClient({f"1.2.5.{k}": 3 for k in range(1, 6)}, size=1000)  # 3000 bytes each
    for k in range(1, 4):
        cache.fetch(client, "1.2.5", f"1.2.5.{k}")
        os.utime(tmp_path / ".complete" / "1.2.5" / f"1.2.5.{k}.json", (k * 100, k * 100))
    assert cache.size_bytes() == 9000
    cache.fetch(client, "1.2.5", "1.2.5.1")  # used again: now the most recent
    cache.fetch(client, "1.2.5", "1.2.5.4")  # 12000 > 10000: the oldest (1.2.5.2) goes
    assert cache.path_of("1.2.5", "1.2.5.2") is None
    assert all(cache.path_of("1.2.5", f"1.2.5.{k}") for k in (1, 3, 4))
    assert cache.size_bytes() == 9000
    assert not (tmp_path / "1.2.5" / "1.2.5.2").exists()
    assert not (tmp_path / ".complete" / "1.2.5" / "1.2.5.2.json").exists()


def test_eviction_spares_what_is_kept(tmp_path) -> None:
    cache = SeriesCache(tmp_path, max_bytes=1000)
    client = FakeClient({"1.2.6.1": 2, "1.2.7.1": 2}, size=1000)
    cache.fetch(client, "1.2.6", "1.2.6.1")  # over the limit alone, but just fetched: kept
    assert cache.path_of("1.2.6", "1.2.6.1") is not None
    removed = cache.evict(keep={cache.study_folder("1.2.6")})
    assert removed == [] and cache.path_of("1.2.6", "1.2.6.1") is not None
    cache.fetch(client, "1.2.7", "1.2.7.1")  # the older one goes now
    assert cache.path_of("1.2.6", "1.2.6.1") is None
    assert not (tmp_path / "1.2.6").exists()  # empty study folder removed too
    assert cache.evict() == [tmp_path / "1.2.7" / "1.2.7.1"]
    assert cache.size_bytes() == 0


def test_clear_and_remove_study(tmp_path) -> None:
    cache = SeriesCache(tmp_path)
    client = FakeClient()
    cache.fetch_study(client, STUDY)
    cache.fetch(FakeClient({"1.9.1": 1}), "1.9", "1.9.1")
    cache.remove_study(STUDY)
    assert [e.study_uid for e in cache.entries()] == ["1.9"]
    cache.clear()
    assert cache.entries() == [] and cache.size_bytes() == 0
    assert _visible_tree(tmp_path) == []


def test_start_up_sweep_removes_what_a_crash_left(tmp_path) -> None:
    cache = SeriesCache(tmp_path)
    cache.fetch(FakeClient(), STUDY, SERIES_A)
    dead = tmp_path / ".partial" / "999999999-abc"  # no such process
    dead.mkdir()
    (dead / "x.dcm").write_bytes(b"half")
    odd = tmp_path / ".partial" / "not-a-pid"
    odd.mkdir()
    mine = tmp_path / ".partial" / f"{os.getpid()}-leftover"  # this process, not active
    mine.mkdir()
    alive = tmp_path / ".partial" / f"{os.getppid()}-busy"  # another live process: kept
    alive.mkdir()
    orphan = tmp_path / STUDY / SERIES_B  # moved in, marker never written
    orphan.mkdir()
    (orphan / "y.dcm").write_bytes(b"y")
    old = time.time() - cache_mod.ORPHAN_AFTER_S - 10
    os.utime(orphan, (old, old))
    stray_marker = tmp_path / ".complete" / "1.5" / "1.5.1.json"
    stray_marker.parent.mkdir(parents=True)
    stray_marker.write_text("{}")
    SeriesCache(tmp_path)  # start-up
    assert sorted(p.name for p in (tmp_path / ".partial").iterdir()) == [alive.name]
    assert not orphan.exists() and not stray_marker.exists()
    assert not stray_marker.parent.exists()
    assert cache.path_of(STUDY, SERIES_A) is not None


def test_the_sweep_never_touches_folders_the_cache_did_not_make(tmp_path) -> None:
    """Results a reader saved under the cache root (e.g. '<study uid>-interval/...')
    are not the cache's: a sweep leaves them, however old."""
    results = tmp_path / f"{STUDY}-interval" / "patient-1"
    results.mkdir(parents=True)
    (results / "report.json").write_text("{}")
    other = tmp_path / STUDY / "tracking results"
    other.mkdir(parents=True)
    old = time.time() - cache_mod.ORPHAN_AFTER_S - 10
    for folder in (results, results.parent, other):
        os.utime(folder, (old, old))
    SeriesCache(tmp_path).sweep(orphan_age_s=0.0)
    assert (results / "report.json").is_file()
    assert other.is_dir()


def test_two_fetches_of_the_same_series_at_once(tmp_path) -> None:
    cache = SeriesCache(tmp_path)
    client = FakeClient({SERIES_A: 4})
    client.delay_s = 0.02
    results, errors = [], []

    def fetch() -> None:
        try:
            results.append(SeriesCache(tmp_path).fetch(client, STUDY, SERIES_A))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert client.retrievals == [SERIES_A]  # the others waited and found it complete
    assert len(set(results)) == 1
    assert sorted(p.name for p in results[0].iterdir()) == [f"{SERIES_A}.{k}.dcm"
                                                           for k in range(1, 5)]
    assert cache.entries()[0].n_instances == 4


def test_a_waiting_fetch_can_be_cancelled(tmp_path) -> None:
    cache = SeriesCache(tmp_path)
    client = FakeClient({SERIES_A: 20})
    client.delay_s = 0.05
    first = threading.Thread(target=lambda: cache.fetch(client, STUDY, SERIES_A))
    first.start()
    while not client.retrievals:
        time.sleep(0.01)
    start = time.monotonic()
    with pytest.raises(Cancelled):
        cache.fetch(client, STUDY, SERIES_A, cancel=lambda: time.monotonic() - start > 0.2)
    assert time.monotonic() - start < 0.9  # did not wait for the whole first retrieval
    first.join(30)
    assert cache.path_of(STUDY, SERIES_A) is not None


def test_default_root_and_its_override(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(cache_mod.CACHE_DIR_ENV, str(tmp_path / "x"))
    assert SeriesCache().root == tmp_path / "x"
    monkeypatch.delenv(cache_mod.CACHE_DIR_ENV)
    default = cache_mod.default_cache_root()
    assert default.name == "pacs" and "interval" in default.parts


def test_an_unwritable_cache_is_a_sentence(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = SeriesCache(blocker / "cache")
    with pytest.raises(PacsError, match="cannot be written"):
        cache.fetch(FakeClient(), STUDY, SERIES_A)
