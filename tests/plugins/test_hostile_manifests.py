"""Issue 9, messages: every way a manifest can be hostile is a refusal with a sentence.

No manifest problem may stop discovery, block it (a FIFO), open a device, or log a
traceback at WARNING level; each is listed with its path in the refusals.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import sys
import threading
from pathlib import Path

import pytest

from interval.plugins import discover_plugins, untrusted_files
from tests.plugins.conftest import manifest, model_plugin, write_plugin

ONLY_FOLDERS = {"include_entry_points": False, "include_first_party": False}
posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and device links")


def _plugin_dir(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    return folder


def _discover_in_thread(root: Path, timeout: float = 30.0):
    """Discovery with a deadline: a FIFO that blocks the reader fails the test, not CI."""
    out: list = []
    worker = threading.Thread(target=lambda: out.append(discover_plugins([root], **ONLY_FOLDERS)),
                              daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "plugin discovery blocked"
    return out[0]


def _only_refusal(root: Path, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.DEBUG, logger="interval.plugins"):
        reg = _discover_in_thread(root)
    assert reg.plugins == []
    (refusal,) = reg.refused
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING and r.exc_info]
    assert noisy == [], "a manifest problem logged a traceback"
    assert not any("internal error" in r.getMessage() for r in caplog.records)
    return refusal


def test_manifest_nested_200k_deep(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = write_plugin(tmp_path / "r", "deep", "[" * 200_000 + "]" * 200_000)
    r = _only_refusal(tmp_path / "r", caplog)
    assert r.reason.startswith("the manifest is nested too deeply")
    assert r.path == str(folder / "interval-plugin.json")


def test_manifest_holding_a_20000_digit_number(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    text = json.dumps(manifest("org.test.num"))[:-1] + ', "n": ' + "7" * 20_000 + "}"
    write_plugin(tmp_path / "r", "num", text)
    r = _only_refusal(tmp_path / "r", caplog)
    assert r.reason == "the manifest holds a number that is too long (thousands of digits)"


@posix_only
def test_a_fifo_manifest_is_refused_without_opening_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _plugin_dir(tmp_path / "r", "fifo")
    os.mkfifo(folder / "interval-plugin.json")
    r = _only_refusal(tmp_path / "r", caplog)
    assert r.name == "fifo" and r.path == str(folder / "interval-plugin.json")
    assert r.reason == ("the manifest is a FIFO (named pipe), not a regular file; "
                        "it was not opened")


@posix_only
def test_a_device_manifest_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _plugin_dir(tmp_path / "r", "dev")
    os.symlink(os.devnull, folder / "interval-plugin.json")
    r = _only_refusal(tmp_path / "r", caplog)
    assert r.reason == ("the manifest is a character device, not a regular file; "
                        "it was not opened")


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
def test_a_socket_manifest_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _plugin_dir(tmp_path / "r", "sock")
    monkeypatch.chdir(folder)  # a socket path is limited to ~100 characters
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("interval-plugin.json")
        r = _only_refusal(tmp_path / "r", caplog)
    assert r.reason.startswith("the manifest is a socket, not a regular file")


def test_a_folder_named_like_the_manifest(tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    folder = _plugin_dir(tmp_path / "r", "dir")
    (folder / "interval-plugin.json").mkdir()
    r = _only_refusal(tmp_path / "r", caplog)
    assert r.reason == "interval-plugin.json is a folder, not a file"


def test_a_broken_symbolic_link(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _plugin_dir(tmp_path / "r", "broken")
    (folder / "interval-plugin.json").symlink_to(tmp_path / "gone.json")
    r = _only_refusal(tmp_path / "r", caplog)
    assert r.reason == (f"the manifest is a symbolic link to {str(tmp_path / 'gone.json')!r}, "
                        "which does not exist")


def test_a_symbolic_link_loop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _plugin_dir(tmp_path / "r", "loop")
    (folder / "interval-plugin.json").symlink_to(folder / "other.json")
    (folder / "other.json").symlink_to(folder / "interval-plugin.json")
    r = _only_refusal(tmp_path / "r", caplog)
    assert r.reason.startswith("the manifest is a symbolic link that leads back to itself")


def test_bytes_that_are_not_utf8_are_named(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    folder = _plugin_dir(tmp_path / "r", "latin1")
    (folder / "interval-plugin.json").write_bytes(b'{"id": "org.test.l", "name": "Caf\xe9"}')
    r = _only_refusal(tmp_path / "r", caplog)
    assert r.reason.startswith("the manifest is not UTF-8 text (byte 0xe9 at position 33")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    folder = _plugin_dir(tmp_path / "r", "bom")
    (folder / "interval-plugin.json").write_bytes(
        b"\xef\xbb\xbf" + json.dumps(manifest("org.test.bom")).encode())
    reg = discover_plugins([tmp_path / "r"], **ONLY_FOLDERS)
    assert [p.id for p in reg.plugins] == ["org.test.bom"] and reg.refused == []


def test_permission_denied(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_plugin(tmp_path / "r", "secret", manifest("org.test.secret"))
    target = folder / "interval-plugin.json"
    target.chmod(0)
    real_open = os.open

    def open_as_user(path, flags, *args, **kwargs):  # root reads mode-0 files: act as a user
        if Path(path) == target:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(untrusted_files.os, "open", open_as_user)
    try:
        r = _only_refusal(tmp_path / "r", caplog)
    finally:
        target.chmod(0o644)
    assert r.reason == "the manifest cannot be read: permission denied"


def test_a_search_folder_that_cannot_be_examined(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    real_stat = os.stat

    def stat_as_user(path, *args, **kwargs):  # like a folder inside another user's home
        if Path(path) == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(untrusted_files.os, "stat", stat_as_user)
    monkeypatch.setenv("INTERVAL_PLUGIN_PATH", str(locked))
    reg = discover_plugins(**ONLY_FOLDERS)  # before: PermissionError out of discovery
    (r,) = reg.refused
    assert (r.source.kind, r.reason) == ("INTERVAL_PLUGIN_PATH",
                                         f"folder {locked} cannot be read")


def test_a_key_given_twice(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_plugin(tmp_path / "r", "twice",
                 '{"id": "org.test.a", "id": "org.test.b", "name": "x", "version": "1.0.0", '
                 '"interval_api": ">=1.0"}')
    r = _only_refusal(tmp_path / "r", caplog)
    assert r.reason.startswith("key 'id' appears twice in one object of the manifest")


def test_an_unpaired_surrogate(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_plugin(tmp_path / "r", "sur", json.dumps(manifest("org.test.s", name="x\ud800")))
    r = _only_refusal(tmp_path / "r", caplog)
    assert r.reason == ("the manifest holds text that is not valid Unicode "
                        "(an unpaired surrogate \\ud800)")


def test_a_nul_character_in_a_path(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # before: ValueError("embedded null byte") from the file system -> "unexpected problem"
    write_plugin(tmp_path / "r", "nul", manifest(
        "org.test.nul", contributes={"segmentation_models": ["models/a\u0000b"]}))
    r = _only_refusal(tmp_path / "r", caplog)
    assert r.reason == "model folder 'models/a\\x00b' holds a NUL character"


def test_huge_values_give_short_reasons(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = manifest("x" * 400_000 + "!", version="v" * 50_000)
    data.update({f"extra{n}": n for n in range(2_000)})
    write_plugin(tmp_path / "r", "huge", data)
    r = _only_refusal(tmp_path / "r", caplog)
    assert len(r.reason) < 1_500
    assert "and 1990 more (allowed:" in r.reason
    assert "is not a valid id" in r.reason and "is not a semantic version" in r.reason
    assert r.plugin_id is None and r.version is None  # an invalid id is not shown as one
    assert r.name == "huge"


def test_a_model_json_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("FIFOs")
    folder = model_plugin(tmp_path / "r", "p", "org.test.fifo-model")
    (folder / "models" / "m" / "model.json").unlink()
    os.mkfifo(folder / "models" / "m" / "model.json")
    reg = _discover_in_thread(tmp_path / "r")
    (r,) = reg.refused
    assert r.reason == "model.json of model folder models/m is not a regular file"


def test_a_hostile_model_json_is_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    folder = model_plugin(tmp_path / "r", "p", "org.test.deep-model")
    (folder / "models" / "m" / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    reg = _discover_in_thread(tmp_path / "r")
    (r,) = reg.refused
    assert r.reason.startswith("model folder models/m: model.json is nested too deeply")


@posix_only
def test_an_entry_point_package_with_a_fifo_manifest(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = site / "ep_fifo-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep_fifo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[interval.plugins]\nep_fifo = ep_fifo_pkg\n")
    (site / "ep_fifo_pkg").mkdir()
    (site / "ep_fifo_pkg" / "__init__.py").write_text("")
    os.mkfifo(site / "ep_fifo_pkg" / "interval-plugin.json")
    reg = discover_plugins(entry_point_paths=[site], include_first_party=False,
                           include_user_dir=False, include_env=False)
    (r,) = reg.refused
    assert r.source.kind == "entry point"
    assert r.reason.startswith("the manifest is a FIFO (named pipe)")


def test_every_hostile_plugin_at_once_leaves_the_good_one_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "r"
    model_plugin(root, "a_good", "org.test.good")
    write_plugin(root, "deep", "{" * 50_000)
    write_plugin(root, "num", "[" + "1" * 5_000 + "]")
    (root / "dir" / "interval-plugin.json").mkdir(parents=True)
    (root / "broken").mkdir()
    (root / "broken" / "interval-plugin.json").symlink_to(root / "nowhere")
    if hasattr(os, "mkfifo"):
        (root / "fifo").mkdir()
        os.mkfifo(root / "fifo" / "interval-plugin.json")
    with caplog.at_level(logging.DEBUG):
        reg = _discover_in_thread(root)
    assert [p.id for p in reg.plugins] == ["org.test.good"]
    assert len(reg.refused) == (5 if hasattr(os, "mkfifo") else 4)
    assert all(r.path.endswith("interval-plugin.json") for r in reg.refused)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.exc_info]
    assert sys.getrecursionlimit() >= 1000  # nothing changed the interpreter's limits
