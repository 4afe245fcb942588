"""File > Query PACS: search, series, retrieve into the cache and open; failures shown as
sentences with the viewer alive; a cancelled or cut retrieval keeps nothing; the servers
dialog keeps secrets out of the settings; the Timeline dock's priors; and the whole way
against a real Orthanc over DICOMweb."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import Qt

from interval.io.open_path import index_path, open_volume
from interval.io.synthetic.patient import SyntheticPatient, generate_patient
from interval.net import connect, credentials
from interval.net.cache import SeriesCache
from interval.net.errors import (
    AssociationRejected,
    AuthenticationFailed,
    PacsTimeout,
    ServerUnreachable,
)
from interval.net.model import ServerProfile
from interval.net.profiles import load_profiles, profiles_path, save_profiles
from interval.ui.pacs_dialog import PacsQueryDialog
from tests.net.fake_client import FakeClient, hits_of_files
from tests.net.orthanc_server import PASSWORD, USER

TIMEOUT_MS = 30_000
PROFILE = ServerProfile("Test PACS", url="http://127.0.0.1:9/dicom-web")


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> SyntheticPatient:
    """Three small CT studies of one patient (12 slices each: the timeline needs 10)."""
    root = tmp_path_factory.mktemp("pacs-patient") / "patient"
    return generate_patient(root, seed=3, n_timepoints=3, shape=(12, 48, 48),
                            ground_truth=False, keep_arrays=False)


@pytest.fixture
def cache_root(tmp_path, monkeypatch) -> Path:
    """The viewer's PACS cache for this test (never the user's)."""
    root = tmp_path / "pacs-cache"
    monkeypatch.setenv("INTERVAL_PACS_CACHE_DIR", str(root))
    return root


@pytest.fixture
def saved_profile(config_dir, cache_root) -> ServerProfile:
    save_profiles([PROFILE])
    return PROFILE


def use_client(monkeypatch, client: FakeClient) -> list[tuple[ServerProfile, str | None]]:
    """Every client the viewer opens is ``client``; returns the (profile, secret) opened."""
    opened: list[tuple[ServerProfile, str | None]] = []

    def open_client(profile, secret=None):
        opened.append((profile, secret))
        return client

    monkeypatch.setattr(connect, "open_client", open_client)
    return opened


def series_files(patient: SyntheticPatient, t: int) -> list[Path]:
    return sorted(patient.timepoints[t].series_dir.glob("*.dcm"))


def fake_for(patient: SyntheticPatient, timepoints=(0,), **options) -> FakeClient:
    files = [f for t in timepoints for f in series_files(patient, t)]
    studies, series, by_series = hits_of_files(files)
    return FakeClient(PROFILE, studies=studies, series=series, files=by_series, **options)


def cached_dicom_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.dcm")] if root.exists() else []


def search_for(qtbot, dialog: PacsQueryDialog, patient_id: str) -> None:
    dialog.patient_id_edit.setText(patient_id)
    qtbot.mouseClick(dialog.search_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.search_job is None and dialog.series_job is None
                    and bool(dialog.message.text()) and "Searching" not in dialog.message.text(),
                    timeout=TIMEOUT_MS)


# --- the menu --------------------------------------------------------------------------------


def test_file_menu_offers_query_and_send(window) -> None:
    file_menu = window.menuBar().actions()[0].menu()
    ids = [a.objectName() for a in file_menu.actions()]
    assert ids.index("query_pacs") + 1 == ids.index("send_to_pacs")
    assert window.actions_by_id["query_pacs"].text() == "Query PACS…"
    assert window.actions_by_id["send_to_pacs"].text() == "Send results to PACS…"


def test_without_a_server_the_dialog_says_how_to_add_one(qtbot, window, cache_root) -> None:
    window.actions_by_id["query_pacs"].trigger()
    dialog = window.pacs_dialog
    assert dialog.isVisible()
    assert "Servers…" in dialog.message.text()
    assert not dialog.search_button.isEnabled()
    assert dialog.search() is None


# --- searching -----------------------------------------------------------------------------


def test_search_lists_studies_then_series_as_plain_text(qtbot, saved_profile, monkeypatch,
                                                        patient) -> None:
    client = fake_for(patient, timepoints=(0, 1))
    use_client(monkeypatch, client)
    dialog = PacsQueryDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.server_combo.current_profile() == PROFILE
    dialog.modality_combo.setCurrentText("ct")
    search_for(qtbot, dialog, patient.patient_id)
    assert client.queries[0].patient_id == patient.patient_id
    assert client.queries[0].modality == "CT"
    assert dialog.message.text() == "2 studies found."
    assert dialog.study_table.rowCount() == 2
    first = patient.timepoints[0]
    dates = {dialog.study_table.item(r, 0).text() for r in range(2)}
    assert first.study_date.isoformat() in dates
    assert dialog.message.textFormat() == Qt.TextFormat.PlainText
    # the first study is selected and its series listed, ticked
    dialog.select_study(first.study_instance_uid)
    qtbot.waitUntil(lambda: dialog.series_table.rowCount() == 1, timeout=TIMEOUT_MS)
    assert dialog.series_table.item(0, 1).text() == "CT"
    assert dialog.checked_series() == [first.series_instance_uid]
    assert dialog.retrieve_button.isEnabled()
    dialog.set_series_checked(first.series_instance_uid, False)
    assert not dialog.retrieve_button.isEnabled()
    assert dialog.retrieve() is None and "Tick at least one series" in dialog.message.text()
    assert client.closed


@pytest.mark.parametrize(("fields", "said"), [
    ({"date_from_edit": "15.03.2024"}, "YYYY-MM-DD"),
    ({"date_from_edit": "2024-05-01", "date_to_edit": "2024-04-01"}, "is after the 'To' date"),
    ({}, "at least one field"),
])
def test_a_wrong_form_is_said_in_words_and_nothing_is_asked(qtbot, saved_profile, monkeypatch,
                                                           fields, said) -> None:
    client = FakeClient(PROFILE)
    opened = use_client(monkeypatch, client)
    dialog = PacsQueryDialog()
    qtbot.addWidget(dialog)
    for name, text in fields.items():
        getattr(dialog, name).setText(text)
    assert dialog.search() is None
    assert said in dialog.message.text()
    assert opened == [] and client.queries == []


@pytest.mark.parametrize("error", [
    ServerUnreachable("The PACS at http://127.0.0.1:9 does not answer: is it running?"),
    AuthenticationFailed("The PACS refused the user name or password."),
    PacsTimeout("The PACS did not answer within 30 seconds."),
    AssociationRejected("The PACS refused the association: check the AE titles."),
])
def test_server_failures_are_shown_and_the_viewer_keeps_running(qtbot, window, saved_profile,
                                                                monkeypatch, error) -> None:
    client = FakeClient(PROFILE, fail={"find_studies": error})
    use_client(monkeypatch, client)
    dialog = window.show_pacs_dialog()
    search_for(qtbot, dialog, "P1")
    assert dialog.message.text() == str(error)
    assert dialog.study_table.rowCount() == 0
    assert window.isVisible() and dialog.isVisible()
    assert dialog.search_button.isEnabled()
    assert client.closed  # the client is closed after a failure too


def test_test_connection_answers_or_says_why(qtbot, saved_profile, monkeypatch) -> None:
    client = FakeClient(PROFILE)
    use_client(monkeypatch, client)
    dialog = PacsQueryDialog()
    qtbot.addWidget(dialog)
    dialog.test_connection()
    qtbot.waitUntil(lambda: dialog.message.text() == "Test PACS answers.", timeout=TIMEOUT_MS)
    client.fail["echo"] = ServerUnreachable("Nothing answers at that address.")
    dialog.test_connection()
    qtbot.waitUntil(lambda: dialog.message.text() == "Nothing answers at that address.",
                    timeout=TIMEOUT_MS)


# --- retrieving ----------------------------------------------------------------------------


def test_retrieve_opens_the_study_from_the_cache(qtbot, window, saved_profile, monkeypatch,
                                                 patient, cache_root) -> None:
    client = fake_for(patient, timepoints=(0,))
    use_client(monkeypatch, client)
    dialog = window.show_pacs_dialog()
    search_for(qtbot, dialog, patient.patient_id)
    qtbot.waitUntil(lambda: dialog.series_table.rowCount() == 1, timeout=TIMEOUT_MS)
    job = dialog.retrieve()
    assert job is not None and window.progress.isVisible()
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)
    tp = patient.timepoints[0]
    study_folder = cache_root / tp.study_instance_uid
    assert dialog.retrieved == [study_folder]
    assert window.current_folder == study_folder
    assert len(list((study_folder / tp.series_instance_uid).glob("*.dcm"))) == tp.n_files
    stacks = window.browser.stacks()
    assert len(stacks) == 1
    assert SeriesCache(cache_root).path_of(tp.study_instance_uid, tp.series_instance_uid)


def test_cancel_during_retrieve_keeps_nothing_in_the_cache(qtbot, window, saved_profile,
                                                          monkeypatch, patient,
                                                          cache_root) -> None:
    client = fake_for(patient, timepoints=(0,), hold_after=3)
    use_client(monkeypatch, client)
    dialog = window.show_pacs_dialog()
    search_for(qtbot, dialog, patient.patient_id)
    qtbot.waitUntil(lambda: dialog.series_table.rowCount() == 1, timeout=TIMEOUT_MS)
    job = dialog.retrieve()
    assert client.holding.wait(10)
    assert len(cached_dicom_files(cache_root)) == 3  # three files in the staging folder
    assert dialog.retrieve_button.text() == "Cancel retrieval"
    qtbot.mouseClick(window.progress.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.state == "cancelled" and dialog.retrieve_job is None,
                    timeout=TIMEOUT_MS)
    assert "cancelled; nothing partial was kept" in dialog.message.text()
    assert cached_dicom_files(cache_root) == []
    assert SeriesCache(cache_root).entries() == []
    assert window.index_result is None  # nothing was opened
    assert dialog.retrieve_button.isEnabled() and dialog.retrieve_button.text() == "Retrieve"
    # the dialog's own button cancels too
    client.holding.clear()
    job = dialog.retrieve()
    assert client.holding.wait(10)
    qtbot.mouseClick(dialog.retrieve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.state == "cancelled" and dialog.retrieve_job is None,
                    timeout=TIMEOUT_MS)
    assert cached_dicom_files(cache_root) == []


def test_a_cut_transfer_is_a_problem_and_keeps_nothing(qtbot, window, saved_profile,
                                                      monkeypatch, patient, cache_root) -> None:
    client = fake_for(patient, timepoints=(0,), cut_after=4)
    use_client(monkeypatch, client)
    dialog = window.show_pacs_dialog()
    search_for(qtbot, dialog, patient.patient_id)
    qtbot.waitUntil(lambda: dialog.series_table.rowCount() == 1, timeout=TIMEOUT_MS)
    dialog.retrieve()
    qtbot.waitUntil(lambda: dialog.retrieve_job is None, timeout=TIMEOUT_MS)
    assert "stopped half-way" in dialog.message.text()
    assert "Nothing partial was kept" in dialog.message.text()
    assert window.problems.isVisible()
    assert [(kind, title) for kind, title, text in window.problems.entries()
            if "stopped half-way" in text] == [("error", "Query PACS")]
    assert cached_dicom_files(cache_root) == []
    assert window.isVisible()


def test_only_the_ticked_series_are_retrieved(qtbot, saved_profile, monkeypatch, patient,
                                             cache_root, tmp_path) -> None:
    tp = patient.timepoints[0]
    files = series_files(patient, 0)
    second = tmp_path / "second"
    second.mkdir()
    new_series = pydicom.uid.generate_uid()
    for n, src in enumerate(files[:3]):  # a second series of the same study
        ds = pydicom.dcmread(src)
        ds.SeriesInstanceUID = new_series
        ds.SeriesNumber = 9
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(second / f"{n}.dcm")
    studies, series, by_series = hits_of_files([*files, *sorted(second.glob("*.dcm"))])
    client = FakeClient(PROFILE, studies=studies, series=series, files=by_series)
    use_client(monkeypatch, client)
    opened: list[Path] = []
    dialog = PacsQueryDialog(open_path=opened.append)
    qtbot.addWidget(dialog)
    search_for(qtbot, dialog, patient.patient_id)
    qtbot.waitUntil(lambda: dialog.series_table.rowCount() == 2, timeout=TIMEOUT_MS)
    assert dialog.series_table.item(1, 0).text() == "9"  # by series number
    dialog.set_series_checked(tp.series_instance_uid, False)
    dialog.retrieve()
    qtbot.waitUntil(lambda: bool(opened), timeout=TIMEOUT_MS)
    study = cache_root / tp.study_instance_uid
    assert opened == [study]
    assert sorted(p.name for p in study.iterdir()) == [new_series]
    assert len(list((study / new_series).glob("*.dcm"))) == 3


# --- servers -------------------------------------------------------------------------------


def test_servers_dialog_saves_the_profile_and_the_secret_only_in_the_keyring(
        qtbot, config_dir, cache_root, monkeypatch) -> None:
    from interval.ui.pacs_servers_dialog import ServersDialog

    stored: dict[str, str] = {}
    monkeypatch.setattr(credentials, "set_secret",
                        lambda profile, secret: stored.__setitem__(profile.name, secret))
    dialog = PacsQueryDialog()
    qtbot.addWidget(dialog)
    servers = dialog.edit_servers()
    assert isinstance(servers, ServersDialog)
    servers.name_edit.setText("Hospital")
    servers.url_edit.setText("https://pacs.example.org/dicom-web")
    servers.auth_combo.setCurrentIndex(servers.auth_combo.findData("basic"))
    servers.user_edit.setText("reader")
    servers.secret_edit.setText("pa55-word")
    assert servers.secret_edit.echoMode() == servers.secret_edit.EchoMode.Password
    saved = servers.save()
    assert saved is not None and saved.username == "reader"
    assert stored == {"Hospital": "pa55-word"}
    assert servers.secret_edit.text() == ""
    text = profiles_path().read_text()
    assert "pa55-word" not in text and json.loads(text)["servers"][0]["name"] == "Hospital"
    for settings in config_dir.rglob("*"):  # nowhere in the settings folder
        assert not settings.is_file() or "pa55-word" not in settings.read_text(errors="replace")
    assert dialog.server_combo.current_profile().name == "Hospital"
    # a wrong profile is refused in words, nothing saved
    servers.new_profile()
    servers.name_edit.setText("Broken")
    servers.url_edit.setText("pacs.example.org")
    assert servers.save() is None
    assert "http" in servers.message.text()
    assert [p.name for p in load_profiles()] == ["Hospital"]
    servers.reload(select="Hospital")
    monkeypatch.setattr(credentials, "delete_secret", lambda profile: stored.pop(profile.name))
    servers.remove_current()
    assert load_profiles() == [] and stored == {}
    assert dialog.server_combo.current_profile() is None


def test_servers_dialog_tests_the_form_with_the_typed_secret(qtbot, config_dir,
                                                             monkeypatch) -> None:
    from interval.ui.pacs_servers_dialog import ServersDialog

    client = FakeClient(PROFILE)
    opened = use_client(monkeypatch, client)
    servers = ServersDialog()
    qtbot.addWidget(servers)
    servers.name_edit.setText("Unsaved")
    servers.protocol_combo.setCurrentIndex(servers.protocol_combo.findData("dimse"))
    servers.host_edit.setText("pacs.example.org")
    servers.port_spin.setValue(11112)
    servers.called_edit.setText("PACS")
    servers.auth_combo.setCurrentIndex(servers.auth_combo.findData("token"))
    servers.secret_edit.setText("tok-123")
    servers.test_connection()
    qtbot.waitUntil(lambda: servers.echo_job is None, timeout=TIMEOUT_MS)
    assert servers.message.text() == "Unsaved answers."
    profile, secret = opened[0]
    assert (profile.protocol, profile.address(), secret) == ("dimse", "PACS@pacs.example.org:11112",
                                                             "tok-123")
    assert load_profiles() == []  # testing saves nothing
    client.fail["echo"] = AssociationRejected("The PACS refused the association: wrong AE title.")
    servers.test_connection()
    qtbot.waitUntil(lambda: servers.echo_job is None, timeout=TIMEOUT_MS)
    assert servers.message.text() == "The PACS refused the association: wrong AE title."


def test_no_keyring_still_saves_the_profile_and_says_so(qtbot, config_dir, monkeypatch) -> None:
    from interval.net.errors import ProfileError
    from interval.ui.pacs_servers_dialog import ServersDialog

    def no_keyring(profile, secret):
        raise ProfileError("The platform keyring is unavailable, so the PACS password could "
                           "not be stored.")

    monkeypatch.setattr(credentials, "set_secret", no_keyring)
    servers = ServersDialog()
    qtbot.addWidget(servers)
    servers.name_edit.setText("Token PACS")
    servers.url_edit.setText("https://pacs.example.org/dicom-web")
    servers.auth_combo.setCurrentIndex(servers.auth_combo.findData("token"))
    servers.secret_edit.setText("tok")
    assert servers.save() is not None
    assert "keyring is unavailable" in servers.message.text()
    assert [p.name for p in load_profiles()] == ["Token PACS"]


# --- the timeline's priors -----------------------------------------------------------------


def test_timeline_priors_are_retrieved_and_added(qtbot, saved_profile, monkeypatch, patient,
                                                 cache_root, tmp_path) -> None:
    from interval.ui.longitudinal.pacs_priors import PriorsDialog
    from interval.ui.longitudinal.timeline_dock import TimelineDock

    local = tmp_path / "local"  # the reader has the latest study only
    last = patient.timepoints[2]
    shutil.copytree(last.series_dir, local / "study3")
    client = fake_for(patient, timepoints=(0, 1, 2))
    use_client(monkeypatch, client)
    dock = TimelineDock()
    qtbot.addWidget(dock)
    dock.show()
    dock.open_folder(local)
    qtbot.waitUntil(lambda: dock.plan is not None and dock._prep_job is None,
                    timeout=TIMEOUT_MS)
    assert len(dock.plan.studies) == 1
    assert dock.priors_button.isEnabled()
    qtbot.mouseClick(dock.priors_button, Qt.MouseButton.LeftButton)
    dialog = dock.findChild(PriorsDialog)
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.find_job is None and len(dialog.hits) == 2,
                    timeout=TIMEOUT_MS)
    assert [h.study_uid for h in dialog.hits] == [patient.timepoints[1].study_instance_uid,
                                                  patient.timepoints[0].study_instance_uid]
    assert dialog.table.item(0, 1).text() == patient.timepoints[1].study_date.isoformat()
    for hit in dialog.hits:
        dialog.set_checked(hit.study_uid, True)
    dialog.retrieve()
    qtbot.waitUntil(lambda: dialog.retrieve_job is None, timeout=TIMEOUT_MS)
    assert "Added 2 studies" in dialog.message.text()
    qtbot.waitUntil(lambda: dock.plan is not None and len(dock.plan.studies) == 3
                    and dock._prep_job is None, timeout=TIMEOUT_MS)
    assert [s.study_uid for s in dock.plan.studies] == [
        tp.study_instance_uid for tp in patient.timepoints]
    assert dock.folder == local
    assert dock.extra_folders == [cache_root / patient.timepoints[1].study_instance_uid,
                                  cache_root / patient.timepoints[0].study_instance_uid]
    assert dock._paths() == [local, *dock.extra_folders]
    selection = dock.selection()
    assert len(selection.timeline.timepoints) == 3
    assert dialog.hits == [] and not dialog.add_button.isEnabled()  # nothing left to add
    dialog.look()
    qtbot.waitUntil(lambda: dialog.find_job is None, timeout=TIMEOUT_MS)
    assert dialog.hits == [] and "no other study" in dialog.message.text()
    dialog.accept()
    dock.shutdown()


def test_priors_cancelled_or_failed_add_nothing(qtbot, saved_profile, monkeypatch, patient,
                                               cache_root, tmp_path) -> None:
    from interval.ui.longitudinal.pacs_priors import show_priors_dialog
    from interval.ui.longitudinal.timeline_dock import TimelineDock

    local = tmp_path / "local"
    shutil.copytree(patient.timepoints[2].series_dir, local / "study3")
    client = fake_for(patient, timepoints=(0, 1), hold_after=2)
    use_client(monkeypatch, client)
    dock = TimelineDock()
    qtbot.addWidget(dock)
    dock.open_folder(local)
    qtbot.waitUntil(lambda: dock.plan is not None and dock._prep_job is None,
                    timeout=TIMEOUT_MS)
    dialog = show_priors_dialog(dock)
    qtbot.waitUntil(lambda: len(dialog.hits) == 2, timeout=TIMEOUT_MS)
    dialog.set_checked(patient.timepoints[0].study_instance_uid, True)
    job = dialog.retrieve()
    assert client.holding.wait(10)
    qtbot.mouseClick(dialog.progress.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.retrieve_job is None, timeout=TIMEOUT_MS)
    assert job.state == "cancelled"
    assert "cancelled; nothing was added" in dialog.message.text()
    assert cached_dicom_files(cache_root) == []
    assert len(dock.plan.studies) == 1 and dock.extra_folders == []
    client.fail["find_studies"] = ServerUnreachable("The PACS does not answer.")
    dialog.look()
    qtbot.waitUntil(lambda: dialog.find_job is None, timeout=TIMEOUT_MS)
    assert dialog.message.text() == "The PACS does not answer."
    assert dialog.hits == [] and not dialog.add_button.isEnabled()
    dialog.reject()
    dock.shutdown()


def test_results_of_a_study_from_the_cache_are_proposed_outside_it(cache_root, monkeypatch,
                                                                     tmp_path) -> None:
    import platformdirs

    from interval.ui.longitudinal.pacs_priors import proposed_output

    documents = tmp_path / "Documents"
    documents.mkdir()
    monkeypatch.setattr(platformdirs, "user_documents_path", lambda: documents)
    study = cache_root / "1.2.3.4"
    (study / "1.2.3.4.5").mkdir(parents=True)
    out = proposed_output(study, "P1")
    assert cache_root not in out.parents  # the cache removes folders it did not write
    assert out == documents / "Interval tracking" / "PACS" / "1.2.3.4-interval" / "P1"
    local = tmp_path / "scans"
    local.mkdir()
    assert proposed_output(local, "P1") == tmp_path / "scans-interval" / "P1"


def test_results_of_another_server_are_cleared(qtbot, config_dir, cache_root, monkeypatch,
                                               patient) -> None:
    other = ServerProfile("Other PACS", url="http://127.0.0.1:8/dicom-web")
    save_profiles([PROFILE, other])
    use_client(monkeypatch, fake_for(patient, timepoints=(0,)))
    dialog = PacsQueryDialog()
    qtbot.addWidget(dialog)
    search_for(qtbot, dialog, patient.patient_id)
    assert dialog.study_table.rowCount() == 1
    dialog.server_combo.setCurrentIndex(1)
    assert dialog.study_table.rowCount() == 0 and dialog.current_study() is None
    assert not dialog.retrieve_button.isEnabled()


def test_priors_button_needs_a_server(qtbot, config_dir, patient) -> None:
    from interval.ui.longitudinal.timeline_dock import TimelineDock

    dock = TimelineDock()
    qtbot.addWidget(dock)
    dock.open_folder(patient.timepoints[0].series_dir)
    qtbot.waitUntil(lambda: dock.plan is not None and dock._prep_job is None,
                    timeout=TIMEOUT_MS)
    assert not dock.priors_button.isEnabled()
    save_profiles([PROFILE])
    dock._sync_buttons()
    assert dock.priors_button.isEnabled()
    dock.shutdown()


# --- against a real PACS -------------------------------------------------------------------


def test_orthanc_search_retrieve_and_open_with_the_same_voxels(qtbot, window, config_dir,
                                                               cache_root, monkeypatch, orthanc,
                                                               patient) -> None:
    orthanc.delete_all()
    tp = patient.timepoints[1]
    orthanc.upload(series_files(patient, 1))
    save_profiles([ServerProfile("Orthanc", url=orthanc.dicomweb_url, auth="basic",
                                 username=USER)])
    monkeypatch.setenv(credentials.SECRET_ENV, PASSWORD)  # no keyring on a test machine
    dialog = window.show_pacs_dialog()
    search_for(qtbot, dialog, patient.patient_id)
    assert dialog.message.text() == "1 study found."
    assert dialog.study_table.item(0, 0).text() == tp.study_date.isoformat()
    qtbot.waitUntil(lambda: dialog.series_table.rowCount() == 1, timeout=TIMEOUT_MS)
    assert dialog.series_table.item(0, 3).text() == str(tp.n_files)
    dialog.retrieve()
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)
    assert window.current_folder == cache_root / tp.study_instance_uid
    stacks = window.browser.stacks()
    assert len(stacks) == 1
    key, stack = stacks[0]
    assert stack.n_frames == tp.n_files
    window.load_stack(key)
    qtbot.waitUntil(lambda: window.load_job is not None and window.load_job.state == "finished"
                    and window.state.active_volume is not None
                    and window.slices_still_loading() is None, timeout=TIMEOUT_MS)
    original = open_volume(tp.series_dir)
    shown = window.state.active_volume
    assert shown.array.shape == original.array.shape
    assert np.array_equal(shown.array, original.array)
    assert np.allclose(shown.spacing, original.spacing)
    # the cache holds byte-identical copies of what was uploaded
    index = index_path(cache_root / tp.study_instance_uid)
    cached = sorted(Path(f.header.path) for f in next(index.iter_stacks()).frames)
    assert len(cached) == tp.n_files
    sources = {pydicom.dcmread(p).SOPInstanceUID: p.read_bytes() for p in series_files(patient, 1)}
    for path in cached:
        assert path.read_bytes() == sources[path.stem]
    orthanc.delete_all()


def test_orthanc_over_dimse_c_move_retrieves_and_opens_the_series(qtbot, window, config_dir,
                                                                  cache_root, orthanc,
                                                                  patient) -> None:
    """The same through DIMSE: C-FIND in the dialog, C-MOVE to our storage port (the
    destination the test Orthanc knows), then the series in the browser with the voxels
    of the original."""
    from tests.net.orthanc_server import AE_TITLE, MOVE_AE

    orthanc.delete_all()
    tp = patient.timepoints[0]
    orthanc.upload(series_files(patient, 0))
    save_profiles([ServerProfile("Modality PACS", protocol="dimse", host="127.0.0.1",
                                 port=orthanc.dicom_port, called_ae=AE_TITLE,
                                 calling_ae=MOVE_AE, retrieve="move",
                                 move_port=orthanc.move_port)])
    dialog = window.show_pacs_dialog()
    search_for(qtbot, dialog, patient.patient_id)
    assert dialog.message.text() == "1 study found."
    qtbot.waitUntil(lambda: dialog.series_table.rowCount() == 1, timeout=TIMEOUT_MS)
    dialog.retrieve()
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)
    assert window.current_folder == cache_root / tp.study_instance_uid
    (key, stack), = window.browser.stacks()
    assert stack.n_frames == tp.n_files
    window.load_stack(key)
    qtbot.waitUntil(lambda: window.load_job is not None and window.load_job.state == "finished"
                    and window.state.active_volume is not None
                    and window.slices_still_loading() is None, timeout=TIMEOUT_MS)
    assert np.array_equal(window.state.active_volume.array, open_volume(tp.series_dir).array)
    orthanc.delete_all()


def test_orthanc_wrong_password_is_said_and_the_viewer_runs(qtbot, window, config_dir,
                                                            cache_root, monkeypatch,
                                                            orthanc) -> None:
    save_profiles([ServerProfile("Orthanc", url=orthanc.dicomweb_url, auth="basic",
                                 username=USER)])
    monkeypatch.setenv(credentials.SECRET_ENV, "not-the-password")
    dialog = window.show_pacs_dialog()
    search_for(qtbot, dialog, "ANY")
    assert f"refused the user name '{USER}' or its password" in dialog.message.text()
    assert "not-the-password" not in dialog.message.text()
    assert dialog.study_table.rowCount() == 0
    assert window.isVisible()


def test_orthanc_down_is_said(qtbot, window, config_dir, cache_root, monkeypatch) -> None:
    from tests.net.orthanc_server import free_port

    save_profiles([ServerProfile("Nowhere", url=f"http://127.0.0.1:{free_port()}/dicom-web",
                                 timeout_s=5)])
    dialog = window.show_pacs_dialog()
    search_for(qtbot, dialog, "ANY")
    assert "does not answer: is it running" in dialog.message.text()
    assert dialog.study_table.rowCount() == 0
    assert window.isVisible()
