"""The DICOMweb backend against a real Orthanc (and small local servers for the failures)."""

from __future__ import annotations

import filecmp
import logging
import time
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from interval.core.errors import Cancelled
from interval.io.open_path import open_volume
from interval.net import dicomweb, dicomweb_log
from interval.net.connect import open_client
from interval.net.dicomweb import DicomWebClient, display_address
from interval.net.errors import (
    AuthenticationFailed,
    PacsRefused,
    PacsTimeout,
    ProfileError,
    ServerUnreachable,
    TransferInterrupted,
)
from interval.net.model import ServerProfile, StudyQuery
from tests.conftest import shared
from tests.net.fake_dicomweb import FakeDicomWeb
from tests.net.orthanc_server import PASSWORD, USER, free_port
from tests.net.silent_server import SilentServer

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))  # 1CT1, CompressedSamples^CT1, 20040119
MR_SMALL = Path(get_testdata_file("MR_small.dcm"))  # 4MR1, CompressedSamples^MR1, 20040826


def ct_series() -> list[Path]:
    """A real 3-slice CT (99000, JANCT000, 20030417, accession 03086212), 1.5 MB."""
    return sorted(shared("dcmqi_data", "data", "segmentations", "ct-3slice").glob("*.dcm"))


def profile(url: str, **kw) -> ServerProfile:
    kw = {"auth": "basic", "username": USER, "timeout_s": 10.0, **kw}
    return ServerProfile(name="Test PACS", url=url, **kw)


def header(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path, stop_before_pixels=True)


def dicom_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.dcm"))


def leftovers(folder: Path) -> list[str]:
    """Anything in ``folder`` that is not a finished ``.dcm`` file."""
    return sorted(p.name for p in folder.iterdir() if p.suffix != ".dcm")


@pytest.fixture
def stocked(empty_orthanc):
    """Orthanc holding exactly CT_small, MR_small and the 3-slice CT series."""
    empty_orthanc.upload([CT_SMALL, MR_SMALL, *ct_series()])
    return empty_orthanc


@pytest.fixture
def client(orthanc):
    with DicomWebClient(profile(orthanc.dicomweb_url), PASSWORD) as c:
        yield c


# -- queries ----------------------------------------------------------------------------


def test_echo_answers(stocked, client):
    client.echo()


@pytest.mark.parametrize(("query", "patients"), [
    (StudyQuery(), {"1CT1", "4MR1", "99000"}),
    (StudyQuery(patient_id="1CT1"), {"1CT1"}),
    (StudyQuery(patient_id="4MR*"), {"4MR1"}),
    (StudyQuery(patient_name="Compressed*"), {"1CT1", "4MR1"}),
    (StudyQuery(patient_name="*samples^mr?"), {"4MR1"}),  # caret, lower case, ?
    (StudyQuery(patient_name="CompressedSamples^CT1"), {"1CT1"}),
    (StudyQuery(patient_name="Compressed"), set()),  # no implicit wildcard
    (StudyQuery(date_from=date(2004, 1, 1)), {"1CT1", "4MR1"}),
    (StudyQuery(date_to=date(2004, 1, 31)), {"1CT1", "99000"}),
    (StudyQuery(date_from=date(2004, 1, 19), date_to=date(2004, 1, 19)), {"1CT1"}),
    (StudyQuery(date_from=date(2003, 1, 1), date_to=date(2003, 12, 31)), {"99000"}),
    (StudyQuery(modality="MR"), {"4MR1"}),
    (StudyQuery(modality="ct"), {"1CT1", "99000"}),
    (StudyQuery(modality="US"), set()),
    (StudyQuery(accession_number="03086212"), {"99000"}),
    (StudyQuery(patient_name="Compressed*", modality="CT"), {"1CT1"}),
])
def test_find_studies(stocked, client, query, patients):
    hits = client.find_studies(query)
    assert {h.patient_id for h in hits} == patients
    assert len(hits) == len(patients)


def test_study_hit_fields_and_limit(stocked, client):
    (hit,) = client.find_studies(StudyQuery(accession_number="03086212"))
    ds = header(ct_series()[0])
    assert hit.study_uid == ds.StudyInstanceUID
    assert hit.patient_name == "JANCT000"
    assert hit.study_date == "20030417"
    assert hit.modalities == ("CT",)
    assert (hit.n_series, hit.n_instances) == (1, 3)
    by_uid = client.find_studies(StudyQuery(study_uid=ds.StudyInstanceUID))
    assert [h.patient_id for h in by_uid] == ["99000"]
    assert len(client.find_studies(StudyQuery(limit=2))) == 2


def test_find_series(stocked, client):
    ds = header(ct_series()[0])
    (series,) = client.find_series(ds.StudyInstanceUID)
    assert series.series_uid == ds.SeriesInstanceUID
    assert (series.modality, series.number, series.n_instances) == ("CT", 2, 3)
    assert client.find_series("1.2.3.4.5.6.7") == []


# -- retrieval --------------------------------------------------------------------------


def test_retrieve_series_byte_identical_and_same_voxels(stocked, client, tmp_path):
    originals = ct_series()
    ds = header(originals[0])
    calls = []
    result = client.retrieve_series(ds.StudyInstanceUID, ds.SeriesInstanceUID, tmp_path,
                                    progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert sorted(result.files) == dicom_files(tmp_path) and result.warnings == []
    assert leftovers(tmp_path) == []
    # Orthanc stores the uploaded file as is and "transfer-syntax=*" sends it unchanged.
    for original in originals:
        copy = tmp_path / f"{header(original).SOPInstanceUID}.dcm"
        assert filecmp.cmp(original, copy, shallow=False)
    retrieved = open_volume(tmp_path)
    reference = open_volume(originals[0].parent)
    assert retrieved.shape == reference.shape and sorted(retrieved.shape) == [3, 512, 512]
    np.testing.assert_array_equal(retrieved.array, reference.array)
    np.testing.assert_array_equal(retrieved.affine, reference.affine)


def test_retrieve_single_instance_byte_identical(stocked, client, tmp_path):
    ds = header(MR_SMALL)
    result = client.retrieve_series(ds.StudyInstanceUID, ds.SeriesInstanceUID, tmp_path)
    assert result.files == [tmp_path / f"{ds.SOPInstanceUID}.dcm"]
    assert result.files[0].read_bytes() == MR_SMALL.read_bytes()


def test_no_patient_data_in_the_debug_log(stocked, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    ds = header(ct_series()[0])
    with DicomWebClient(profile(stocked.dicomweb_url), PASSWORD) as client:
        assert client.find_studies(StudyQuery(patient_name="JANCT*", patient_id="99000"))
        client.find_series(ds.StudyInstanceUID)
        client.retrieve_series(ds.StudyInstanceUID, ds.SeriesInstanceUID, tmp_path)
    # pytest also hooks its handler on non-propagating loggers: read Interval's records,
    # and check that the libraries' own records cannot reach the root logger's handlers.
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("interval"))
    assert "urllib3.connectionpool debug" in text and "GET" in text  # there, scrubbed
    for secret in ("JANCT", "99000", ds.StudyInstanceUID, ds.SeriesInstanceUID, PASSWORD):
        assert secret not in text
    assert not any(logging.getLogger(n).propagate for n in dicomweb_log.ROUTED)


def test_cancel_after_first_instance(stocked, client, tmp_path):
    ds = header(ct_series()[0])
    done = []
    with pytest.raises(Cancelled):
        client.retrieve_series(ds.StudyInstanceUID, ds.SeriesInstanceUID, tmp_path,
                               progress=lambda d, t: done.append(d), cancel=lambda: bool(done) and done[-1] >= 1)
    assert len(dicom_files(tmp_path)) == 1  # the first one, complete
    assert pydicom.dcmread(dicom_files(tmp_path)[0]).pixel_array.shape == (512, 512)
    assert leftovers(tmp_path) == []


def _uids(path: Path) -> tuple[str, str, str]:
    ds = header(path)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


@pytest.mark.parametrize("mode", ["cut-length", "cut-close"])
def test_transfer_cut_half_way(tmp_path, mode):
    first, second = ct_series()[:2]
    study, series, uid1 = _uids(first)
    uid2 = _uids(second)[2]
    instances = {uid1: (first.read_bytes(), "whole"), uid2: (second.read_bytes(), mode)}
    with FakeDicomWeb(study, series, instances) as fake:
        client = DicomWebClient(profile(fake.url, auth="none"))
        with pytest.raises(TransferInterrupted, match="cut during the transfer"):
            client.retrieve_series(study, series, tmp_path)
    assert not (tmp_path / f"{uid2}.dcm").exists()
    assert filecmp.cmp(first, tmp_path / f"{uid1}.dcm", shallow=False)
    assert leftovers(tmp_path) == []


def test_bare_data_set_gets_file_meta(tmp_path):
    original = pydicom.dcmread(CT_SMALL)
    raw = CT_SMALL.read_bytes()
    meta_end = 132 + 12 + original.file_meta.FileMetaInformationGroupLength
    study, series, uid = _uids(CT_SMALL)
    syntax = str(original.file_meta.TransferSyntaxUID)
    with FakeDicomWeb(study, series, {uid: (raw[meta_end:], "bare")}, syntax) as fake:
        result = DicomWebClient(profile(fake.url, auth="none")).retrieve_series(
            study, series, tmp_path)
    (path,) = result.files
    written = path.read_bytes()
    assert written[128:132] == b"DICM"
    assert written.endswith(raw[meta_end:])  # the data set bytes untouched
    copy = pydicom.dcmread(path)
    assert copy.file_meta.TransferSyntaxUID == syntax
    assert copy.file_meta.MediaStorageSOPInstanceUID == uid
    assert copy == original
    np.testing.assert_array_equal(copy.pixel_array, original.pixel_array)


def test_plain_answer_and_vanished_instance(tmp_path):
    first, second = ct_series()[:2]
    study, series, uid1 = _uids(first)
    uid2 = _uids(second)[2]
    instances = {uid1: (first.read_bytes(), "plain"), uid2: (b"", "gone")}
    with FakeDicomWeb(study, series, instances) as fake:
        result = DicomWebClient(profile(fake.url, auth="none")).retrieve_series(
            study, series, tmp_path)
    assert result.files == [tmp_path / f"{uid1}.dcm"]
    assert result.files[0].read_bytes() == first.read_bytes()
    assert result.warnings == ["1 of 2 images listed by the server could not be retrieved "
                               "(no longer there)."]


# -- sending ----------------------------------------------------------------------------


def test_store_to_an_empty_server(empty_orthanc, tmp_path, monkeypatch):
    monkeypatch.setattr(dicomweb, "STOW_MAX_FILES", 2)
    files = [*ct_series(), MR_SMALL]
    calls = []
    with DicomWebClient(profile(empty_orthanc.dicomweb_url), PASSWORD) as client:
        posts = []
        real_post = client._session.post
        client._session.post = lambda *a, **kw: posts.append(1) or real_post(*a, **kw)
        assert client.store(files, progress=lambda d, t: calls.append((d, t))) == 4
    assert len(posts) == 2  # two batches of two
    assert calls == [(0, 4), (2, 4), (4, 4)]
    assert empty_orthanc.instance_count() == 4
    stored = {empty_orthanc.get(f"/instances/{i}/file") for i in empty_orthanc.get("/instances")}
    assert stored == {f.read_bytes() for f in files}


def test_store_refused_file_is_named(empty_orthanc, tmp_path):
    no_uids = tmp_path / "no-uids.dcm"  # valid DICOM, but without any UID
    ds = pydicom.dcmread(CT_SMALL)
    del ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
    ds.save_as(no_uids, enforce_file_format=True)
    client = DicomWebClient(profile(empty_orthanc.dicomweb_url), PASSWORD)
    with pytest.raises(PacsRefused, match=r"refused 1 of 2 files \(1 stored\)") as err:
        client.store([CT_SMALL, no_uids])
    assert "Test PACS" in str(err.value)
    assert empty_orthanc.instance_count() == 1


# -- failures ---------------------------------------------------------------------------


def test_open_client_gives_this_backend(stocked):
    client = open_client(profile(stocked.dicomweb_url), PASSWORD)
    assert isinstance(client, DicomWebClient)
    assert len(client.find_studies(StudyQuery())) == 3
    client.close()


def test_wrong_password(orthanc):
    client = DicomWebClient(profile(orthanc.dicomweb_url), "not-the-password")
    with pytest.raises(AuthenticationFailed) as err:
        client.echo()
    message = str(err.value)
    assert "Test PACS" in message and orthanc.dicomweb_url in message and USER in message
    assert "not-the-password" not in message


def test_no_login_given(orthanc):
    with pytest.raises(AuthenticationFailed, match="asks for a login"):
        DicomWebClient(profile(orthanc.dicomweb_url, auth="none")).echo()


def test_token_is_sent_as_bearer(orthanc):
    with FakeDicomWeb("1.2", "1.2.3", {}) as fake:
        DicomWebClient(profile(fake.url, auth="token"), "tok-123").echo()
    assert fake.authorizations == ["Bearer tok-123"]
    with pytest.raises(AuthenticationFailed, match="access token"):  # Orthanc knows none
        DicomWebClient(profile(orthanc.dicomweb_url, auth="token"), "tok-123").echo()


def test_server_down():
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    with pytest.raises(ServerUnreachable, match="does not answer: is it running") as err:
        DicomWebClient(profile(url), PASSWORD).echo()
    assert "'Test PACS'" in str(err.value) and url in str(err.value)


def test_unknown_host():
    with pytest.raises(ServerUnreachable):
        DicomWebClient(profile("http://no-such-host.invalid/dicom-web"), PASSWORD).echo()


@pytest.mark.parametrize("call", [
    lambda c: c.find_studies(StudyQuery(patient_id="X")),
    lambda c: c.find_series("1.2.3"),  # through dicomweb-client: no retries either
])
def test_server_that_never_answers(call):
    with SilentServer() as silent:
        client = DicomWebClient(profile(silent.url, timeout_s=1.0), PASSWORD)
        start = time.monotonic()
        with pytest.raises(PacsTimeout, match="stopped answering"):
            call(client)
    assert time.monotonic() - start < 3


@pytest.mark.parametrize("suffix", ["", "/nothing-here"])
def test_not_a_dicomweb_root(orthanc, suffix):
    # Orthanc's own REST root answers /studies with a JSON list of its ids; an unknown
    # path answers 404: both are "probably not a DICOMweb root".
    client = DicomWebClient(profile(orthanc.url + suffix), PASSWORD)
    with pytest.raises(PacsRefused, match="probably not a DICOMweb root"):
        client.echo()


@pytest.mark.parametrize("url", ["", "pacs:8042/dicom-web", "ftp://pacs/dicom-web"])
def test_bad_address_is_a_profile_error(url):
    with pytest.raises(ProfileError):
        DicomWebClient(profile(url), PASSWORD)


def test_missing_secret_is_a_profile_error():
    with pytest.raises(ProfileError, match="password"):
        DicomWebClient(profile("http://pacs/dicom-web"), None)


def test_display_address_hides_credentials():
    assert display_address("https://bob:pw@pacs:8443/dicom-web?x=1") == "https://pacs:8443/dicom-web"
