"""What a hostile DICOMweb server can make us hold: search answers, images, disk space."""

from __future__ import annotations

import filecmp
import threading
import time
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from interval.core.errors import Cancelled
from interval.net import dicomweb_limits as limits
from interval.net.dicomweb import DicomWebClient
from interval.net.errors import PacsRefused, PacsTimeout, TransferInterrupted
from interval.net.model import ServerProfile, StudyQuery
from tests.net.fake_dicomweb_hostile import HostileDicomWeb

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))


def client_for(fake: HostileDicomWeb, timeout_s: float = 5.0) -> DicomWebClient:
    return DicomWebClient(ServerProfile(name="Hostile", url=fake.url, timeout_s=timeout_s))


def retrieve(fake: HostileDicomWeb, dest: Path, timeout_s: float = 5.0):
    with client_for(fake, timeout_s) as client:
        return client.retrieve_series("1.2", "1.2.3", dest)


def everything(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- QIDO-RS ------------------------------------------------------------------------------


def test_results_kept_at_the_limit_when_the_server_ignores_it():
    with HostileDicomWeb(search="many", n_studies=40) as fake, client_for(fake) as client:
        hits = client.find_studies(StudyQuery(patient_id="*", limit=5))
        assert "limit=5" in fake.paths[-1]
        assert [h.study_uid for h in hits] == [f"1.2.{n}" for n in range(5)]
        assert len(client.find_studies(StudyQuery(patient_id="*", limit=0))) == 40


def test_endless_search_answer_is_refused(monkeypatch):
    monkeypatch.setattr(limits, "MAX_SEARCH_ANSWER_BYTES", 1 << 20)
    start = time.monotonic()
    with (
        HostileDicomWeb(search="endless") as fake,
        client_for(fake) as client,
        pytest.raises(PacsRefused) as err,
    ):
        client.find_studies(StudyQuery(patient_id="*"))
    assert time.monotonic() - start < 10
    assert str(err.value) == (f"The PACS 'Hostile' ({fake.url}) sent a search answer larger "
                              "than 1 MiB; narrow the search.")


@pytest.mark.parametrize("which", ["series", "listing"])
def test_endless_series_search_or_instance_listing_is_refused(tmp_path, monkeypatch, which):
    monkeypatch.setattr(limits, "MAX_SEARCH_ANSWER_BYTES", 1 << 20)
    start = time.monotonic()
    with (
        HostileDicomWeb(**{which: "endless"}, instance="endless-epilogue",
                        payload=CT_SMALL.read_bytes()) as fake,
        client_for(fake) as client,
        pytest.raises(PacsRefused) as err,
    ):
        if which == "series":
            client.find_series("1.2")
        else:
            client.retrieve_series("1.2", "1.2.3", tmp_path)
    assert time.monotonic() - start < 10
    assert str(err.value) == (f"The PACS 'Hostile' ({fake.url}) sent a search answer larger "
                              "than 1 MiB; narrow the search.")
    assert "/dicom-web/studies/1.2/series" in fake.paths[-1]
    assert everything(tmp_path) == []


def test_series_search_and_instance_listing_work_under_the_cap(tmp_path):
    """dicomweb-client runs these two searches; the cap's response hook lets a normal
    answer through untouched and is removed afterwards."""
    with (
        HostileDicomWeb(instance="endless-epilogue", payload=CT_SMALL.read_bytes()) as fake,
        client_for(fake) as client,
    ):
        hits = client.find_series("1.2")
        result = client.retrieve_series("1.2", "1.2.3", tmp_path)
        assert client._session.hooks["response"] == []
    assert [(h.series_uid, h.modality) for h in hits] == [("1.2.3", "CT")]
    assert fake.paths[0].startswith("/dicom-web/studies/1.2/series")
    assert fake.paths[1].startswith("/dicom-web/studies/1.2/series/1.2.3/instances")
    assert result.files == [tmp_path / "1.2.3.4.dcm"]


def test_search_answer_announced_too_large_is_refused_unread():
    with (
        HostileDicomWeb(search="huge-length") as fake,
        client_for(fake) as client,
        pytest.raises(PacsRefused, match="larger than 64 MiB; narrow the search"),
    ):
        client.find_studies(StudyQuery(patient_id="*"))


# -- WADO-RS: the size of one image ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["endless-part", "endless-plain", "trickle"])
def test_endless_image_stops_at_the_cap(tmp_path, monkeypatch, mode):
    monkeypatch.setattr(limits, "MAX_INSTANCE_BYTES", 256 << 10)
    start = time.monotonic()
    with HostileDicomWeb(instance=mode) as fake, pytest.raises(TransferInterrupted) as err:
        retrieve(fake, tmp_path)
    assert time.monotonic() - start < 10
    assert str(err.value) == (f"The PACS 'Hostile' ({fake.url}) sent an image larger than "
                              "256 KiB: the transfer was stopped and nothing partial was kept.")
    assert everything(tmp_path) == []


def test_image_announced_too_large_is_refused_unread(tmp_path):
    with (
        HostileDicomWeb(instance="huge-length") as fake,
        pytest.raises(TransferInterrupted, match="an image larger than 8 GiB"),
    ):
        retrieve(fake, tmp_path)
    assert everything(tmp_path) == []


def test_endless_bytes_after_a_complete_image_keep_the_image(tmp_path, monkeypatch):
    # 64 KiB read chunks: the image's, then two of the endless epilogue, well under 4 MiB
    monkeypatch.setattr(limits, "MAX_INSTANCE_BYTES", 4 << 20)
    with HostileDicomWeb(instance="endless-epilogue", payload=CT_SMALL.read_bytes()) as fake:
        result = retrieve(fake, tmp_path)
    assert result.files == [tmp_path / "1.2.3.4.dcm"]
    assert filecmp.cmp(result.files[0], CT_SMALL, shallow=False)
    assert everything(tmp_path) == ["1.2.3.4.dcm"]


def test_cancel_during_a_trickling_image_stops_and_keeps_nothing(tmp_path, monkeypatch):
    # The bound is what would end this test if the cancellation went unheard.
    monkeypatch.setattr(limits, "MAX_INSTANCE_BYTES", 16 << 20)
    asked = threading.Event()
    with HostileDicomWeb(instance="trickle") as fake, client_for(fake) as client:
        timer = threading.Timer(0.5, asked.set)
        start = time.monotonic()
        timer.start()
        with pytest.raises(Cancelled):
            client.retrieve_series("1.2", "1.2.3", tmp_path, cancel=asked.is_set)
        stopped = time.monotonic() - start
        timer.cancel()
    assert fake.paths[-1].endswith("/instances/1.2.3.4")  # cancelled mid-image
    assert stopped < 2.5
    assert everything(tmp_path) == []


def test_silence_mid_image_is_a_timeout(tmp_path):
    start = time.monotonic()
    with (
        HostileDicomWeb(instance="stall",
        stall_s=5) as fake,
        pytest.raises(PacsTimeout, match="stopped"),
    ):
        retrieve(fake, tmp_path, timeout_s=1)
    assert time.monotonic() - start < 4
    assert everything(tmp_path) == []


# -- WADO-RS: the disk --------------------------------------------------------------------


def test_disk_almost_full_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "free_bytes", lambda folder: 500 << 20)
    with (
        HostileDicomWeb(instance="endless-epilogue",
        payload=CT_SMALL.read_bytes()) as fake,
        pytest.raises(TransferInterrupted) as err,
    ):
        retrieve(fake, tmp_path)
    assert str(err.value).startswith("The disk holding the PACS cache is almost full: "
                                     "500 MiB free, and Interval keeps 1 GiB free.")
    assert everything(tmp_path) == []


def test_disk_filling_while_writing(tmp_path, monkeypatch):
    free = iter([10 << 30] + [900 << 20] * 1000)
    monkeypatch.setattr(limits, "free_bytes", lambda folder: next(free))
    monkeypatch.setattr(limits, "DISK_CHECK_EVERY", 128 << 10)
    with (
        HostileDicomWeb(instance="endless-part") as fake,
        pytest.raises(TransferInterrupted, match="almost full: 900 MiB free"),
    ):
        retrieve(fake, tmp_path)
    assert everything(tmp_path) == []


def test_real_free_space_is_read(tmp_path):
    assert limits.free_bytes(tmp_path) > 0


@pytest.mark.parametrize(("n", "text"), [(512, "512 bytes"), (1536, "1.5 KiB"),
                                         (64 << 20, "64 MiB"), (8 << 30, "8 GiB"),
                                         (int(2.5 * (1 << 30)), "2.5 GiB")])
def test_format_size(n, text):
    assert limits.format_size(n) == text
