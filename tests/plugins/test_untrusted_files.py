"""Reading files anyone may have written: kinds, limits, no blocking, sentences."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from interval.plugins.manifest import InvalidManifest, read_manifest
from interval.plugins.untrusted_files import (
    NotARegularFile,
    UntrustedFileError,
    load_json_file,
    path_kind,
    quoted,
    read_regular_file,
)

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")


@posix_only
def test_read_manifest_and_read_regular_file_never_block_on_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "interval-plugin.json"
    os.mkfifo(fifo)
    done: list[str] = []

    def read() -> None:
        with pytest.raises(InvalidManifest, match="FIFO"):
            read_manifest(fifo)
        with pytest.raises(NotARegularFile, match="FIFO"):  # the check after the open
            read_regular_file(fifo, 100)
        done.append("ok")

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(20)
    assert done == ["ok"]


def test_read_regular_file_stops_at_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 1001)
    with pytest.raises(NotARegularFile, match="more than 1000 bytes"):
        read_regular_file(path, 1000)
    assert read_regular_file(path, 1001) == b"x" * 1001


def test_path_kind_answers_instead_of_raising(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert [path_kind(tmp_path / n) for n in ("f", "missing", "loop")] == [
        "file", "missing", "unreadable"]
    assert path_kind(tmp_path) == "folder"
    assert path_kind(tmp_path / "f" / "below-a-file") == "missing"
    assert path_kind(Path("nul\0byte")) == "unreadable"
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "p")
        assert path_kind(tmp_path / "p") == "other"


def test_load_json_file_names_the_file_in_every_sentence(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    for content, sentence in [
        (b"{", "model.json is not valid JSON (line 1, column 2"),
        (b"[" * 5000 + b"]" * 5000, "model.json is nested too deeply"),
        (b"[" + b"9" * 5000 + b"]", "model.json holds a number that is too long"),
        (b'{"a": 1, "a": 2}', "key 'a' appears twice in one object of model.json"),
        (b'["\\udc00"]', "model.json holds text that is not valid Unicode"),
        (b"\xff", "model.json is not UTF-8 text (byte 0xff at position 0"),
    ]:
        path.write_bytes(content)
        with pytest.raises(UntrustedFileError) as info:
            load_json_file(path, "model.json", 100_000)
        assert str(info.value).startswith(sentence), content[:20]
    path.write_bytes(b'\xef\xbb\xbf{"ok": [1.5, "\xc3\xa9"]}')
    assert load_json_file(path, "model.json", 100) == {"ok": [1.5, "\u00e9"]}


def test_quoted_values_stay_short() -> None:
    assert quoted("abc") == "'abc'"
    assert len(quoted("x" * 10_000)) == 60 and quoted("x" * 10_000).endswith("\u2026")
    assert quoted({"a": 1}) == "<an object>" and quoted([1]) == "<a list>"
