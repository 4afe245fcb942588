"""The DIMSE backend against a real Orthanc (happy paths, no mocks) and against peers
that misbehave (tests/net/dimse_peers.py)."""

from __future__ import annotations

import copy
import dataclasses
import io
import logging
import socket
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.uid import JPEG2000Lossless, generate_uid

from interval.core.errors import Cancelled
from interval.io.open_path import open_volume
from interval.net.connect import open_client
from interval.net.dimse import DimseClient
from interval.net.dimse_storage import write_atomically
from interval.net.errors import (
    AssociationRejected,
    AuthenticationFailed,
    PacsRefused,
    PacsTimeout,
    ServerUnreachable,
    TransferInterrupted,
)
from interval.net.model import ServerProfile, StudyQuery
from tests.net.dimse_peers import (
    PEER_AE,
    cutting_get_scp,
    identity_checking_scp,
    refusing_store_scp,
    silent_move_scp,
    unknown_destination_move_scp,
)
from tests.net.orthanc_server import AE_TITLE, MOVE_AE, free_port
from tests.net.silent_server import SilentServer

DATA = Path(__file__).resolve().parents[2].parent / "shared/data/dicom"
GENERIC = DATA / "dicom2nifti_testdata/tests/data/generic"
SERIES = GENERIC / "anatomical/001"  # 4 MR slices, Explicit VR Little Endian
J2K_SERIES = GENERIC / "compressed_j2k/001"  # the same 4 slices, JPEG 2000 lossless
CT = Path(get_testdata_file("CT_small.dcm"))  # patient 1CT1, 2004-01-19
MR = Path(get_testdata_file("MR_small.dcm"))  # patient 4MR1, 2004-08-26


# -- fixtures and helpers -------------------------------------------------------------
@pytest.fixture(autouse=True)
def no_leftover_threads():
    """Every test ends with the threads it started with (pynetdicom's included)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3
    extra = []
    while time.monotonic() < deadline:
        extra = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra:
            break
        time.sleep(0.02)
    assert not extra, f"threads left running: {extra}"


def profile_for(orthanc, **changes) -> ServerProfile:
    base = ServerProfile(name="Test PACS", protocol="dimse", host="127.0.0.1",
                         port=orthanc.dicom_port, called_ae=AE_TITLE, calling_ae=MOVE_AE,
                         move_port=orthanc.move_port, timeout_s=10)
    return dataclasses.replace(base, **changes)


def peer_profile(port: int, **changes) -> ServerProfile:
    base = ServerProfile(name="Peer", protocol="dimse", host="127.0.0.1", port=port,
                         called_ae=PEER_AE, calling_ae="INTERVAL", timeout_s=5)
    return dataclasses.replace(base, **changes)


def accession_file(folder: Path) -> Path:
    """MR_small as a study of its own with an accession number (new UIDs)."""
    ds = pydicom.dcmread(MR)
    ds.PatientID = "HBACC"
    ds.PatientName = "Accession^Test"
    ds.AccessionNumber = "ACC-7731"
    ds.StudyDate = "20200202"
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["hB study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["hB series"])
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["hB instance"])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = folder / "accession.dcm"
    ds.save_as(path)
    return path


@pytest.fixture
def loaded(orthanc, tmp_path_factory):
    """Orthanc holding CT_small, MR_small, a 4-slice MR series, its JPEG 2000 twin and
    one study with an accession number."""
    orthanc.delete_all()
    orthanc.upload([CT, MR, *sorted(SERIES.glob("*.dcm")), *sorted(J2K_SERIES.glob("*.dcm")),
                    accession_file(tmp_path_factory.mktemp("upload"))])
    yield orthanc
    orthanc.delete_all()


def split(source: Path | io.BytesIO) -> tuple[pydicom.Dataset, bytes]:
    """(file meta, the encoded data set after it) of a file or the bytes of one."""
    with source if isinstance(source, io.BytesIO) else open(source, "rb") as fh:
        read_preamble(fh, False)
        meta = _read_file_meta_info(fh)
        return meta, fh.read()


def by_uid(paths) -> dict[str, Path]:
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): Path(p)
            for p in paths}


def series_uids(path: Path) -> tuple[str, str]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)


def no_partial_files(folder: Path) -> None:
    names = [p.name for p in folder.iterdir()]
    assert not [n for n in names if not n.endswith(".dcm")], names
    for path in folder.iterdir():
        pydicom.dcmread(path).PixelData  # noqa: B018 - every file reads to the end


# -- echo and queries -------------------------------------------------------------------
def test_echo_and_open_client(orthanc):
    client = open_client(profile_for(orthanc))
    assert isinstance(client, DimseClient)
    client.echo()
    client.close()


def test_find_studies_by_each_key(loaded):
    client = DimseClient(profile_for(loaded))
    everything = client.find_studies(StudyQuery())
    assert len(everything) == 5
    ct = client.find_studies(StudyQuery(patient_id="1CT1"))
    assert [h.study_uid for h in ct] == [series_uids(CT)[0]]
    assert ct[0].patient_name == "CompressedSamples^CT1"
    assert ct[0].study_date == "20040119" and ct[0].modalities == ("CT",)
    assert ct[0].n_series == 1 and ct[0].n_instances == 1
    named = client.find_studies(StudyQuery(patient_name="CompressedSamples*"))
    assert {h.patient_id for h in named} == {"1CT1", "4MR1"}
    dated = client.find_studies(StudyQuery(date_from=date(2004, 1, 1), date_to=date(2004, 1, 31)))
    assert [h.patient_id for h in dated] == ["1CT1"]
    since = client.find_studies(StudyQuery(date_from=date(2016, 1, 1)))
    assert {h.patient_id for h in since} == {"dicom2nifti", "HBACC"}
    mr = client.find_studies(StudyQuery(modality="MR"))
    assert {h.patient_id for h in mr} == {"4MR1", "dicom2nifti", "HBACC"}
    acc = client.find_studies(StudyQuery(accession_number="ACC-7731"))
    assert [(h.patient_id, h.accession_number) for h in acc] == [("HBACC", "ACC-7731")]
    study_uid = series_uids(MR)[0]
    assert [h.study_uid for h in client.find_studies(StudyQuery(study_uid=study_uid))] == [
        study_uid]
    assert len(client.find_studies(StudyQuery(limit=2))) == 2
    assert client.find_studies(StudyQuery(patient_id="NOBODY")) == []


def test_find_series(loaded):
    client = DimseClient(profile_for(loaded))
    study_uid, series_uid = series_uids(next(SERIES.glob("*.dcm")))
    (hit,) = client.find_series(study_uid)
    assert hit.series_uid == series_uid and hit.study_uid == study_uid
    assert hit.modality == "MR" and hit.n_instances == 4


def test_no_patient_data_in_the_log(loaded, caplog):
    caplog.set_level(logging.DEBUG)  # as with --debug: pynetdicom's records are shown
    DimseClient(profile_for(loaded)).find_studies(StudyQuery(patient_id="1CT1"))
    assert "interval.pynetdicom" in {r.name for r in caplog.records}
    assert "CompressedSamples" not in caplog.text
    caplog.clear()
    caplog.set_level(logging.WARNING)
    DimseClient(profile_for(loaded)).find_studies(StudyQuery(patient_id="1CT1"))
    assert logging.getLogger("pynetdicom").level == logging.WARNING
    assert caplog.records == []


# -- retrieval --------------------------------------------------------------------------
@pytest.mark.parametrize("retrieve", ["get", "move"])
def test_retrieve_series_is_the_stored_data(loaded, tmp_path, retrieve):
    client = DimseClient(profile_for(loaded, retrieve=retrieve))
    originals = by_uid(SERIES.glob("*.dcm"))
    calls = []
    result = client.retrieve_series(*series_uids(next(iter(originals.values()))), tmp_path,
                                    progress=lambda done, total: calls.append((done, total)))
    assert result.warnings == []
    assert sorted(p.name for p in result.files) == sorted(f"{u}.dcm" for u in originals)
    assert calls[-1] == (4, 4) and all(t == 4 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    no_partial_files(tmp_path)
    for path in result.files:
        original = originals[path.name[:-4]]
        meta, data = split(path)
        original_meta, original_data = split(original)
        # The data set is byte for byte the stored one.  The file meta is written here
        # (it does not travel over DIMSE): same SOP class and transfer syntax, pynetdicom's
        # implementation UID, and the SOP Instance UID of the data set (these files'
        # own meta carries another one: they were anonymised without updating it).
        assert data == original_data
        assert meta.TransferSyntaxUID == original_meta.TransferSyntaxUID
        assert meta.MediaStorageSOPClassUID == original_meta.MediaStorageSOPClassUID
        assert meta.MediaStorageSOPInstanceUID == path.name[:-4]
    received, source = open_volume(tmp_path), open_volume(SERIES)
    assert received.array.shape == source.array.shape == (4, 256, 256)
    np.testing.assert_array_equal(received.array, source.array)
    assert received.spacing == source.spacing and received.origin == source.origin


def test_retrieve_keeps_single_files_and_compressed_syntax(loaded, tmp_path):
    """CT_small and MR_small come back with their data sets unchanged except for the
    Data Set Trailing Padding (FFFC,FFFC) at their end: Orthanc sends through DCMTK,
    which drops that element (it is allowed to: PS3.10 7.2).  The JPEG 2000 series
    stays JPEG 2000 (no transcoding); DCMTK writes its encapsulated Pixel Data with
    VR OB where these files have OW (OB is what the standard requires), so only that
    VR differs: the compressed fragments and every other element are equal."""
    client = DimseClient(profile_for(loaded))
    for original in (CT, MR):
        dest = tmp_path / original.stem
        dest.mkdir()
        (path,) = client.retrieve_series(*series_uids(original), dest).files
        data, original_data = split(path)[1], split(original)[1]
        assert original_data.startswith(data)
        assert original_data[len(data):][:4] == b"\xfc\xff\xfc\xff"
        received, source = pydicom.dcmread(path), pydicom.dcmread(original)
        del source.DataSetTrailingPadding
        assert received == source
        np.testing.assert_array_equal(received.pixel_array, source.pixel_array)
    dest = tmp_path / "j2k"
    dest.mkdir()
    originals = by_uid(J2K_SERIES.glob("*.dcm"))
    result = client.retrieve_series(*series_uids(next(iter(originals.values()))), dest)
    assert len(result.files) == 4
    for path in result.files:
        received = pydicom.dcmread(path)
        source = pydicom.dcmread(originals[path.name[:-4]])
        assert received.file_meta.TransferSyntaxUID == JPEG2000Lossless
        assert received.PixelData == source.PixelData
        assert received["PixelData"].VR == "OB"
        del received.PixelData, source.PixelData
        assert received == source


def test_move_closes_its_port(loaded, tmp_path):
    client = DimseClient(profile_for(loaded, retrieve="move"))
    for _ in range(2):  # the same port again at once
        client.retrieve_series(*series_uids(CT), tmp_path)
    with socket.socket() as s:  # nothing listens on the move port any more
        assert s.connect_ex(("127.0.0.1", loaded.move_port)) != 0


def test_cancel_after_the_first_instance(loaded, tmp_path):
    client = DimseClient(profile_for(loaded))
    with pytest.raises(Cancelled):
        client.retrieve_series(*series_uids(next(SERIES.glob("*.dcm"))), tmp_path,
                               cancel=lambda: len(list(tmp_path.iterdir())) >= 1)
    assert len(list(tmp_path.iterdir())) == 1
    no_partial_files(tmp_path)
    client.echo()  # the PACS is fine afterwards


def test_move_cancelled(loaded, tmp_path):
    client = DimseClient(profile_for(loaded, retrieve="move"))
    seen = []
    with pytest.raises(Cancelled):
        client.retrieve_series(*series_uids(next(SERIES.glob("*.dcm"))), tmp_path,
                               progress=lambda d, t: seen.append(d),
                               cancel=lambda: len(seen) > 1)
    no_partial_files(tmp_path)


# -- sending ----------------------------------------------------------------------------
def test_store_to_an_empty_server(empty_orthanc):
    files = [CT, MR, *sorted(SERIES.glob("*.dcm")), next(J2K_SERIES.glob("*.dcm"))]
    calls = []
    client = DimseClient(profile_for(empty_orthanc))
    accepted = client.store(files, progress=lambda d, t: calls.append((d, t)))
    assert accepted == 7 and empty_orthanc.instance_count() == 7
    assert calls[0] == (0, 7) and calls[-1] == (7, 7)
    # Sent as it is on disk: Orthanc holds the very data set bytes of each file (the
    # series' file meta names other SOP Instance UIDs than its data sets: they went with
    # a corrected file meta).  Only in the JPEG 2000 file did Orthanc's DCMTK change the
    # VR of the encapsulated Pixel Data from OW to OB when it stored it.
    ids = {empty_orthanc.get(f"/instances/{i}/simplified-tags")["SOPInstanceUID"]: i
           for i in empty_orthanc.get("/instances")}
    for path in files:
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        on_server = split(io.BytesIO(empty_orthanc.get(f"/instances/{ids[uid]}/file")))[1]
        sent = split(path)[1]
        if path.parent != J2K_SERIES:
            assert on_server == sent, path.name
        else:
            assert len(sent) == len(on_server)
            diff = [i for i, (a, b) in enumerate(zip(sent, on_server, strict=True)) if a != b]
            assert len(diff) == 1
            assert sent[diff[0] - 1: diff[0] + 1] == b"OW"
            assert on_server[diff[0] - 1: diff[0] + 1] == b"OB"


# -- failures ---------------------------------------------------------------------------
def test_wrong_called_ae_title(orthanc):
    client = DimseClient(profile_for(orthanc, called_ae="WRONGAE"))
    with pytest.raises(AssociationRejected, match="WRONGAE") as info:
        client.echo()
    text = str(info.value)
    # Orthanc answers with A-ASSOCIATE-RJ "called AE title not recognised" and closes the
    # connection; on a busy machine pynetdicom may see the close first.  Either way the
    # sentence names the AE title that was called.
    assert "Test PACS" in text
    assert "does not recognise" in text or "its AE title is 'WRONGAE'" in text


def test_nothing_listening():
    client = DimseClient(peer_profile(free_port()))
    with pytest.raises(ServerUnreachable, match="cannot be reached"):
        client.echo()


def test_unknown_host():
    client = DimseClient(peer_profile(104, host="no-such-host.invalid"))
    with pytest.raises(ServerUnreachable, match="unknown host"):
        client.echo()


def test_no_answer_is_a_timeout():
    with SilentServer() as silent:
        client = DimseClient(peer_profile(silent.port, timeout_s=1))
        start = time.monotonic()
        with pytest.raises(PacsTimeout, match="did not answer within 1 s"):
            client.find_studies(StudyQuery())
        assert time.monotonic() - start < 5


def test_move_without_any_answer_is_a_timeout(tmp_path):
    port = free_port()
    with silent_move_scp() as peer:
        client = DimseClient(peer_profile(peer.port, retrieve="move", move_port=port,
                                          timeout_s=1))
        start = time.monotonic()
        with pytest.raises(PacsTimeout, match="did not answer within 1 s"):
            client.retrieve_series("1.2.3", "1.2.3.4", tmp_path)
        assert time.monotonic() - start < 5
    assert list(tmp_path.iterdir()) == []


def test_move_to_a_destination_orthanc_does_not_know(loaded, tmp_path):
    port = free_port()
    client = DimseClient(profile_for(loaded, retrieve="move", calling_ae="STRANGER",
                                     move_port=port))
    # Orthanc answers 0xC000 (not 0xA801) for an unknown destination
    with pytest.raises(PacsRefused, match="STRANGER") as info:
        client.retrieve_series(*series_uids(CT), tmp_path)
    assert "must add it" in str(info.value) and f"port {port}" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_move_destination_unknown_status(tmp_path):
    with unknown_destination_move_scp() as peer:
        client = DimseClient(peer_profile(peer.port, retrieve="move", move_port=free_port()))
        with pytest.raises(AssociationRejected, match="does not know the destination"):
            client.retrieve_series("1.2.3", "1.2.3.4", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_transfer_cut_half_way(tmp_path):
    datasets = [pydicom.dcmread(CT), pydicom.dcmread(MR)]
    with cutting_get_scp(datasets) as peer:
        client = DimseClient(peer_profile(peer.port))
        with pytest.raises(TransferInterrupted, match="was cut"):
            client.retrieve_series(datasets[0].StudyInstanceUID,
                                   datasets[0].SeriesInstanceUID, tmp_path)
    # the instance that arrived is complete, nothing else is there
    assert [p.name for p in tmp_path.iterdir()] == [f"{datasets[0].SOPInstanceUID}.dcm"]
    no_partial_files(tmp_path)


def test_store_refused(tmp_path):
    with refusing_store_scp(0xA700) as peer:
        client = DimseClient(peer_profile(peer.port))
        with pytest.raises(PacsRefused, match=r"accepted 0 of 2 file.*0xA700"):
            client.store([CT, MR])


def test_a_failed_write_leaves_no_partial_file(tmp_path):
    (tmp_path / "x.dcm").mkdir()  # the final name is taken by a folder: the rename fails
    with pytest.raises(OSError):
        write_atomically(tmp_path / "x.dcm", b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["x.dcm"]


def test_user_name_and_password_by_identity_negotiation():
    with identity_checking_scp("alice", "pw-1") as peer:
        profile = peer_profile(peer.port, auth="basic", username="alice")
        open_client(profile, "pw-1").echo()
        with pytest.raises(AuthenticationFailed, match="user name or password") as info:
            open_client(profile, "Xq7-guess").echo()
        assert "Xq7" not in str(info.value) and "pw-1" not in str(info.value)


class _StoreEvent:
    """What pynetdicom's EVT_C_STORE gives the handler (only what InstanceWriter reads)."""

    def __init__(self, ds: pydicom.Dataset) -> None:
        self.dataset = ds
        self.request = type("Req", (), {"AffectedSOPInstanceUID": ds.SOPInstanceUID})()

    def encoded_dataset(self, include_meta: bool = True) -> bytes:
        buffer = io.BytesIO()
        self.dataset.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()


def test_the_storage_port_refuses_instances_of_another_series(tmp_path):
    """While a C-MOVE runs the storage port is open: an instance someone else sends that
    is not of the series asked for is refused and never written."""
    from interval.net.dimse_storage import NOT_ASKED_FOR, SUCCESS, InstanceWriter

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    writer = InstanceWriter(tmp_path, series=(ds.StudyInstanceUID, ds.SeriesInstanceUID))
    assert writer.handle(_StoreEvent(ds)) == SUCCESS
    other = copy.deepcopy(ds)
    other.SeriesInstanceUID = generate_uid()
    other.SOPInstanceUID = generate_uid()
    assert writer.handle(_StoreEvent(other)) == NOT_ASKED_FOR
    assert [p.name for p in tmp_path.iterdir()] == [f"{ds.SOPInstanceUID}.dcm"]
    assert writer.refused_other == 1
