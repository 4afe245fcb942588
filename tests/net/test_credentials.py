"""PACS secrets: in the keyring under one key per profile and user, never in messages."""

from __future__ import annotations

import pytest

from interval.net import credentials as cred
from interval.net.errors import ProfileError
from interval.net.model import ServerProfile
from tests.net.memory_keyring import BrokenKeyring, MemoryKeyring, installed, no_keyring

BASIC = ServerProfile(name="Web PACS", url="https://pacs.example/dicom-web", auth="basic",
                      username="reader")
TOKEN = ServerProfile(name="Cloud", url="https://cloud.example/dicomweb", auth="token")
OPEN = ServerProfile(name="Open", url="http://localhost:8042/dicom-web")


@pytest.fixture
def memory_keyring(monkeypatch):
    monkeypatch.delenv(cred.SECRET_ENV, raising=False)
    with installed(MemoryKeyring()) as backend:
        yield backend


def test_set_get_delete(memory_keyring) -> None:
    assert cred.get_secret(BASIC) is None
    cred.set_secret(BASIC, "pw-1")
    assert memory_keyring.store == {("interval-pacs", "Web PACS/reader"): "pw-1"}
    assert cred.get_secret(BASIC) == "pw-1"
    cred.set_secret(BASIC, "pw-2")  # replaced
    assert cred.get_secret(BASIC) == "pw-2"
    assert cred.delete_secret(BASIC) is True
    assert cred.get_secret(BASIC) is None
    assert cred.delete_secret(BASIC) is False


def test_the_key_names_profile_and_user(memory_keyring) -> None:
    assert cred.secret_key(BASIC) == "Web PACS/reader"
    assert cred.secret_key(TOKEN) == "Cloud/-"
    cred.set_secret(TOKEN, "tok")
    other_user = ServerProfile(name="Web PACS", url=BASIC.url, auth="basic", username="admin")
    cred.set_secret(BASIC, "pw")
    assert cred.get_secret(other_user) is None
    assert cred.get_secret(TOKEN) == "tok"


def test_a_profile_without_sign_in_needs_no_keyring(monkeypatch) -> None:
    monkeypatch.delenv(cred.SECRET_ENV, raising=False)
    with installed(no_keyring()):
        assert cred.get_secret(OPEN) is None


def test_the_environment_variable_comes_first(memory_keyring, monkeypatch) -> None:
    cred.set_secret(BASIC, "stored")
    monkeypatch.setenv(cred.SECRET_ENV, "from-env")
    assert cred.get_secret(BASIC) == "from-env"


def test_without_a_keyring_the_message_says_what_to_do(monkeypatch) -> None:
    monkeypatch.delenv(cred.SECRET_ENV, raising=False)
    with installed(no_keyring()):
        assert not cred.keyring_available()
        for call in (lambda: cred.get_secret(BASIC), lambda: cred.set_secret(BASIC, "pw"),
                     lambda: cred.delete_secret(BASIC)):
            with pytest.raises(ProfileError) as info:
                call()
            message = str(info.value)
            assert "platform keyring is unavailable" in message
            assert "--password-stdin" in message and cred.SECRET_ENV in message
        monkeypatch.setenv(cred.SECRET_ENV, "headless")  # a cluster node: the env var works
        assert cred.get_secret(BASIC) == "headless"


def test_a_failing_backend_never_leaks_its_message_or_the_secret(monkeypatch) -> None:
    monkeypatch.delenv(cred.SECRET_ENV, raising=False)
    with installed(BrokenKeyring()):
        assert cred.keyring_available()
        with pytest.raises(ProfileError) as info:
            cred.set_secret(BASIC, "hunter2")
        assert "hunter2" not in str(info.value) and "keyring" in str(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__
        with pytest.raises(ProfileError) as info:
            cred.get_secret(BASIC)
        assert "hunter2" not in str(info.value)


def test_an_empty_secret_is_refused(memory_keyring) -> None:
    with pytest.raises(ProfileError, match="empty"):
        cred.set_secret(BASIC, "")
    assert memory_keyring.store == {}


def test_keyring_available_with_a_real_backend(memory_keyring) -> None:
    assert cred.keyring_available()
