"""Saved PACS server profiles: checked, written atomically, never holding a secret."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from interval.net import profiles as prof
from interval.net.errors import ProfileError
from interval.net.model import ServerProfile

WEB = ServerProfile(name="Web PACS", protocol="dicomweb", url="https://pacs.example/dicom-web",
                    auth="basic", username="reader")
DIMSE = ServerProfile(name="Old PACS", protocol="dimse", host="10.0.0.5", port=11112,
                      called_ae="ORTHANC", calling_ae="INTERVAL", auth="none")


def test_profiles_path_honours_the_config_folder_override(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(prof.CONFIG_DIR_ENV, str(tmp_path / "cfg"))
    assert prof.profiles_path() == tmp_path / "cfg" / "pacs_servers.json"
    from interval.ui.settings import CONFIG_DIR_ENV

    assert prof.CONFIG_DIR_ENV == CONFIG_DIR_ENV  # the same folder as the viewer's settings


def test_round_trip_through_the_file(tmp_path) -> None:
    path = tmp_path / "sub" / "pacs_servers.json"
    assert prof.load_profiles(path) == []  # no file yet
    prof.save_profiles([WEB, DIMSE], path)
    assert prof.load_profiles(path) == [WEB, DIMSE]
    assert [p.name for p in path.parent.iterdir()] == ["pacs_servers.json"]  # no temp left


def test_default_path_is_used_without_argument(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(prof.CONFIG_DIR_ENV, str(tmp_path))
    prof.save_profiles([DIMSE])
    assert (tmp_path / "pacs_servers.json").is_file()
    assert prof.load_profiles() == [DIMSE]


def test_the_file_never_holds_a_secret(tmp_path, caplog) -> None:
    path = tmp_path / "pacs_servers.json"
    prof.save_profiles([WEB, DIMSE], path)
    text = path.read_text()
    for word in ("password", "token\"", "secret"):
        assert word not in text.lower()
    # a secret typed into the file by hand is ignored (with a warning), never written back
    data = json.loads(text)
    data["servers"][0]["password"] = "hunter2"
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        loaded = prof.load_profiles(path)
    assert "password" in caplog.text and "hunter2" not in caplog.text
    prof.save_profiles(loaded, path)
    assert "hunter2" not in path.read_text()


def test_a_url_with_credentials_is_refused() -> None:
    with pytest.raises(ProfileError, match="must not hold a user name or password"):
        prof.validate_profile(replace(WEB, url="https://reader:pw@pacs.example/dicom-web"))


def test_unknown_keys_are_ignored_with_a_warning(caplog) -> None:
    data = {**asdict(DIMSE), "colour": "blue"}
    with caplog.at_level(logging.WARNING):
        assert prof.profile_from_dict(data) == DIMSE
    assert "colour" in caplog.text


@pytest.mark.parametrize(("changes", "words"), [
    ({"url": ""}, "needs its URL"),
    ({"url": "ftp://pacs/x"}, "not an http"),
    ({"protocol": "smoke"}, "unknown protocol"),
    ({"auth": "kerberos"}, "unknown authentication"),
    ({"auth": "basic", "username": ""}, "needs a user name"),
    ({"name": "  "}, "needs a name"),
    ({"timeout_s": 0}, "time limit"),
    ({"calling_ae": "A" * 17}, "not valid"),
])
def test_dicomweb_profile_problems_are_sentences(changes, words) -> None:
    with pytest.raises(ProfileError, match=words):
        prof.profile_from_dict({**asdict(WEB), **changes})


@pytest.mark.parametrize(("changes", "words"), [
    ({"host": ""}, "host name"),
    ({"called_ae": ""}, "needs its AE title"),
    ({"called_ae": "X" * 17}, "AE title 'XXXXXXXXXXXXXXXXX' is not valid"),
    ({"called_ae": "BAD\\AE"}, "not valid"),
    ({"called_ae": "TAB\tAE"}, "not valid"),
    ({"port": 0}, "outside 1 to 65535"),
    ({"port": 70000}, "outside 1 to 65535"),
    ({"port": "abc"}, "not a number"),
    ({"port": 10.5}, "not a whole number"),
    ({"port": True}, "must be a number"),
    ({"retrieve": "move", "move_port": 0}, "C-MOVE retrieval needs"),
    ({"retrieve": "fly"}, "unknown retrieval"),
])
def test_dimse_profile_problems_are_sentences(changes, words) -> None:
    with pytest.raises(ProfileError, match=words):
        prof.profile_from_dict({**asdict(DIMSE), **changes})


def test_valid_ae_titles() -> None:
    assert prof.is_valid_ae_title("ORTHANC")
    assert prof.is_valid_ae_title("A" * 16)
    assert prof.is_valid_ae_title("MY-PACS_1 ")
    assert not prof.is_valid_ae_title("")
    assert not prof.is_valid_ae_title("    ")
    assert not prof.is_valid_ae_title("ÄRZTE")


def test_text_is_trimmed_and_ports_from_text_are_numbers() -> None:
    p = prof.profile_from_dict({**asdict(DIMSE), "name": " Old PACS ", "port": "11112",
                                "called_ae": "ORTHANC "})
    assert (p.name, p.port, p.called_ae) == ("Old PACS", 11112, "ORTHANC")


def test_a_field_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ProfileError, match="must be text"):
        prof.profile_from_dict({**asdict(DIMSE), "host": 5})
    with pytest.raises(ProfileError, match="no name"):
        prof.profile_from_dict({"protocol": "dimse"})


def test_duplicate_names_are_refused(tmp_path) -> None:
    twin = replace(DIMSE, name="old pacs")
    with pytest.raises(ProfileError, match="Two PACS servers are named"):
        prof.save_profiles([DIMSE, twin], tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()
    path = tmp_path / "hand.json"
    path.write_text(json.dumps({"servers": [asdict(DIMSE), asdict(DIMSE)]}))
    with pytest.raises(ProfileError, match="unique"):
        prof.load_profiles(path)


def test_a_damaged_file_is_a_sentence_not_a_silent_reset(tmp_path) -> None:
    path = tmp_path / "pacs_servers.json"
    path.write_text("{not json")
    with pytest.raises(ProfileError, match="damaged"):
        prof.load_profiles(path)
    path.write_text(json.dumps({"servers": {"a": 1}}))
    with pytest.raises(ProfileError, match="no list of servers"):
        prof.load_profiles(path)


def test_an_invalid_profile_is_not_saved_and_the_old_file_stays(tmp_path) -> None:
    path = tmp_path / "pacs_servers.json"
    prof.save_profiles([WEB], path)
    before = path.read_text()
    with pytest.raises(ProfileError):
        prof.save_profiles([WEB, replace(DIMSE, host="")], path)
    assert path.read_text() == before


def test_find_add_and_remove() -> None:
    profiles = [WEB, DIMSE]
    assert prof.find_profile("Old PACS", profiles) is DIMSE
    assert prof.find_profile("old pacs", profiles) is DIMSE
    with pytest.raises(ProfileError, match="No saved PACS server is named 'Nope'.*Web PACS"):
        prof.find_profile("Nope", profiles)
    with pytest.raises(ProfileError, match="already saved"):
        prof.with_profile(profiles, replace(DIMSE, name="OLD PACS"))
    moved = replace(DIMSE, host="10.0.0.6")
    assert prof.with_profile(profiles, moved, replace_existing=True) == [WEB, moved]
    third = replace(DIMSE, name="Third")
    assert prof.with_profile(profiles, third) == [WEB, DIMSE, third]
    assert prof.without_profile(profiles, "web pacs") == [DIMSE]
    with pytest.raises(ProfileError):
        prof.without_profile(profiles, "Nope")


def test_an_unwritable_folder_is_a_sentence(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ProfileError, match="could not be saved"):
        prof.save_profiles([WEB], Path(blocker) / "pacs_servers.json")
