"""``interval pacs`` against a real Orthanc, over DICOMweb and DIMSE.

The configuration folder, the cache and the keyring are the test's own (a temporary
folder, an in-memory keyring): the machine's settings and keyring are never touched.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pydicom
import pytest

from interval.cli.main import main
from interval.net.credentials import SECRET_ENV
from tests.cli.dicom_factory import write_ct_series, write_junk
from tests.net.memory_keyring import MemoryKeyring, installed, no_keyring
from tests.net.orthanc_server import (
    AE_TITLE,
    MOVE_AE,
    PASSWORD,
    USER,
    free_port,
)

PROTOCOLS = ("dicomweb", "dimse")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One patient's study: two CT series (3 and 2 slices) in two folders."""
    root = tmp_path_factory.mktemp("study")
    first = write_ct_series(root / "s1", n=3, series_number=1, seed=1, prefix="a",
                            patient_name="TEST^PATIENT", patient_id="PACS-CLI-1")
    second = write_ct_series(root / "s2", n=2, series_number=2, seed=2, prefix="b",
                             study_uid=first.study_uid, description="Second",
                             patient_name="TEST^PATIENT", patient_id="PACS-CLI-1")
    return root, first, second


@pytest.fixture
def stored(orthanc, study):
    """Orthanc holding exactly the study."""
    orthanc.delete_all()
    _, first, second = study
    orthanc.upload([*first.paths, *second.paths])
    yield orthanc
    orthanc.delete_all()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private settings folder, cache folder and in-memory keyring."""
    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("INTERVAL_PACS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with installed(MemoryKeyring()) as backend:
        yield backend


def run(argv, capsys, monkeypatch, stdin: str = "") -> tuple[int, str, str]:
    """``interval ARGV`` with ``stdin``; (exit code, stdout, stderr).  No secret shows."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    captured = capsys.readouterr()
    assert PASSWORD not in captured.out + captured.err
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def address(orthanc, protocol: str) -> tuple[list[str], str]:
    """(ad hoc server options, what goes to stdin) for ``protocol``."""
    if protocol == "dicomweb":
        return ["--dicomweb", orthanc.dicomweb_url, "--user", USER, "--password-stdin"], \
            PASSWORD + "\n"
    return ["--host", "127.0.0.1", "--port", str(orthanc.dicom_port), "--aet", AE_TITLE], ""


# -- echo, find ------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_echo(protocol, orthanc, home, capsys, monkeypatch) -> None:
    opts, stdin = address(orthanc, protocol)
    code, out, err = run(["pacs", "echo", *opts], capsys, monkeypatch, stdin)
    assert code == 0, err
    assert "answers" in out and "ms" in out


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_find_as_text_and_json(protocol, stored, study, home, capsys, monkeypatch) -> None:
    _, first, second = study
    opts, stdin = address(stored, protocol)
    code, out, err = run(["pacs", "find", *opts, "--patient-id", "PACS-CLI-1", "--series"],
                         capsys, monkeypatch, stdin)
    assert code == 0, err
    assert "TEST PATIENT" in out and "^" not in out  # the name as plain text
    assert "2024-01-02" in out and first.study_uid in out
    assert first.series_uid in out and second.series_uid in out
    assert "1 study found" in out

    code, out, err = run(["pacs", "find", *opts, "--patient-name", "TEST*", "--date",
                          "20240101-2024-01-31", "--modality", "ct", "--json", "--series"],
                         capsys, monkeypatch, stdin)
    assert code == 0, err
    data = json.loads(out)
    [hit] = data["studies"]
    assert hit["study_uid"] == first.study_uid and hit["patient_id"] == "PACS-CLI-1"
    assert sorted(s["series_uid"] for s in hit["series"]) == sorted(
        [first.series_uid, second.series_uid])

    code, out, err = run(["pacs", "find", *opts, "--date", "2025-01-01-"],
                         capsys, monkeypatch, stdin)
    assert code == 0, err
    assert "0 studies found" in out


# -- get -------------------------------------------------------------------------------------
def _by_sop_uid(paths) -> dict[str, Path]:
    return {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: Path(p) for p in paths}


def _assert_same_instances(retrieved: list[Path], originals: list[Path], *, exact: bool) -> None:
    got, want = _by_sop_uid(retrieved), _by_sop_uid(originals)
    assert sorted(got) == sorted(want)
    for uid, path in got.items():
        a, b = pydicom.dcmread(path), pydicom.dcmread(want[uid])
        assert a.PixelData == b.PixelData and a == b
        if exact:
            assert path.read_bytes() == want[uid].read_bytes()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_get_into_a_folder_gives_the_original_instances(protocol, stored, study, home, tmp_path,
                                                        capsys, monkeypatch) -> None:
    _, first, second = study
    opts, stdin = address(stored, protocol)
    out_dir = tmp_path / "out"
    code, out, err = run(["pacs", "get", *opts, first.study_uid, "-o", str(out_dir)],
                         capsys, monkeypatch, stdin)
    assert code == 0, err
    study_dir = out_dir / first.study_uid
    assert str(study_dir) in out and "2 series (5 files)" in out
    assert sorted(p.name for p in study_dir.iterdir()) == sorted(
        [first.series_uid, second.series_uid])
    retrieved = sorted(study_dir.rglob("*.dcm"))
    _assert_same_instances(retrieved, [*first.paths, *second.paths],
                           exact=protocol == "dicomweb")
    assert not [p for p in out_dir.rglob("*") if p.name.startswith(".")]  # no staging left
    # the cache holds the same complete series
    cache_study = tmp_path / "cache" / first.study_uid
    assert sorted(p.name for p in cache_study.iterdir()) == sorted(
        [first.series_uid, second.series_uid])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_get_one_series_into_the_cache(protocol, stored, study, home, tmp_path, capsys,
                                       monkeypatch) -> None:
    _, first, second = study
    opts, stdin = address(stored, protocol)
    code, out, err = run(["pacs", "get", *opts, first.study_uid, "--series", second.series_uid],
                         capsys, monkeypatch, stdin)
    assert code == 0, err
    study_dir = tmp_path / "cache" / first.study_uid
    assert out.strip().splitlines()[-1] == str(study_dir)
    assert [p.name for p in study_dir.iterdir()] == [second.series_uid]
    _assert_same_instances(sorted(study_dir.rglob("*.dcm")), second.paths, exact=False)


def test_get_over_c_move(stored, study, home, tmp_path, capsys, monkeypatch) -> None:
    _, first, second = study
    opts, _ = address(stored, "dimse")
    code, out, err = run(["pacs", "get", *opts, "--retrieve", "move", "--calling-aet", MOVE_AE,
                          "--move-port", str(stored.move_port), first.study_uid,
                          "-o", str(tmp_path / "out")], capsys, monkeypatch)
    assert code == 0, err
    _assert_same_instances(sorted((tmp_path / "out").rglob("*.dcm")),
                           [*first.paths, *second.paths], exact=False)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_get_of_an_unknown_study_keeps_nothing(protocol, stored, home, tmp_path, capsys,
                                               monkeypatch) -> None:
    opts, stdin = address(stored, protocol)
    code, out, err = run(["pacs", "get", *opts, "1.2.3.4.5.6.7.8.9", "-o",
                          str(tmp_path / "out")], capsys, monkeypatch, stdin)
    assert code == 1
    assert err.startswith("interval: error: ") and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "cache").rglob("*.dcm"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_get_cancelled_keeps_nothing(protocol, stored, study, home, tmp_path, capsys,
                                     monkeypatch) -> None:
    """Ctrl-C half-way (the cancel turns true after a few checks): exit 130, no files."""
    import contextlib

    import interval.cli.cancel

    calls = []

    @contextlib.contextmanager
    def ctrl_c_pressed_soon():
        yield lambda: calls.append(1) or len(calls) > 3

    monkeypatch.setattr(interval.cli.cancel, "ctrl_c_cancels", ctrl_c_pressed_soon)
    _, first, _ = study
    opts, stdin = address(stored, protocol)
    code, out, err = run(["pacs", "get", *opts, first.study_uid, "-o", str(tmp_path / "out")],
                         capsys, monkeypatch, stdin)
    assert code == 130 and "cancelled" in err
    assert len(calls) > 3
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert not (tmp_path / "out").exists()


# -- send ------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_send_a_folder(protocol, orthanc, study, home, capsys, monkeypatch) -> None:
    root, first, second = study
    orthanc.delete_all()
    write_junk(root / "s1", ["notes.txt"])
    opts, stdin = address(orthanc, protocol)
    code, out, err = run(["pacs", "send", *opts, str(root)], capsys, monkeypatch, stdin)
    assert code == 0, err
    assert "Sent 5 files" in out and "5 accepted" in out and "1 other files skipped" in out
    assert orthanc.instance_count() == 5
    orthanc.delete_all()


# -- saved servers ---------------------------------------------------------------------------
def test_servers_add_list_use_remove(orthanc, home, tmp_path, capsys, monkeypatch) -> None:
    code, out, err = run(["pacs", "servers", "list"], capsys, monkeypatch)
    assert code == 0 and "No PACS server saved yet" in out
    code, out, err = run(["pacs", "servers", "add", "--name", "Web", "--dicomweb",
                          orthanc.dicomweb_url, "--user", USER, "--password-stdin"],
                         capsys, monkeypatch, PASSWORD + "\n")
    assert code == 0, err
    assert "keyring" in out
    assert home.store == {("interval-pacs", f"Web/{USER}"): PASSWORD}
    code, out, err = run(["pacs", "servers", "add", "--name", "Dimse", "--host", "127.0.0.1",
                          "--port", str(orthanc.dicom_port), "--aet", AE_TITLE],
                         capsys, monkeypatch)
    assert code == 0, err
    settings = (tmp_path / "config" / "pacs_servers.json").read_text()
    assert PASSWORD not in settings and orthanc.dicomweb_url in settings

    code, out, err = run(["pacs", "servers", "list"], capsys, monkeypatch)
    assert code == 0
    assert f"Web: dicomweb {orthanc.dicomweb_url} (user {USER})" in out
    assert f"Dimse: dimse {AE_TITLE}@127.0.0.1:{orthanc.dicom_port}" in out
    code, out, _ = run(["pacs", "servers", "list", "--json"], capsys, monkeypatch)
    assert [p["name"] for p in json.loads(out)] == ["Web", "Dimse"]

    for name in ("Web", "Dimse"):  # the password comes from the keyring
        code, out, err = run(["pacs", "echo", "--server", name], capsys, monkeypatch)
        assert code == 0, err
        assert f"{name} (" in out and "answers" in out

    code, out, err = run(["pacs", "servers", "add", "--name", "web", "--dicomweb",
                          orthanc.dicomweb_url], capsys, monkeypatch)
    assert code == 2 and "already saved" in err
    code, out, err = run(["pacs", "servers", "remove", "Web"], capsys, monkeypatch)
    assert code == 0 and "Removed server Web" in out
    assert home.store == {}
    code, out, err = run(["pacs", "echo", "--server", "Web"], capsys, monkeypatch)
    assert code == 1 and "No saved PACS server is named 'Web'" in err


def test_without_a_keyring(orthanc, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with installed(no_keyring()):
        code, out, err = run(["pacs", "servers", "add", "--name", "Web", "--dicomweb",
                              orthanc.dicomweb_url, "--user", USER, "--password-stdin"],
                             capsys, monkeypatch, PASSWORD + "\n")
        assert code == 1 and "keyring is unavailable" in err and "--password-stdin" in err
        assert not (tmp_path / "config" / "pacs_servers.json").exists()
        # not interactive, no password given: saved, the password comes at each use
        code, out, err = run(["pacs", "servers", "add", "--name", "Web", "--dicomweb",
                              orthanc.dicomweb_url, "--user", USER], capsys, monkeypatch)
        assert code == 0 and SECRET_ENV in out
        code, out, err = run(["pacs", "echo", "--server", "Web"], capsys, monkeypatch)
        assert code == 1 and "keyring is unavailable" in err
        code, out, err = run(["pacs", "echo", "--server", "Web", "--password-stdin"],
                             capsys, monkeypatch, PASSWORD + "\n")
        assert code == 0, err
        monkeypatch.setenv(SECRET_ENV, PASSWORD)
        code, out, err = run(["pacs", "echo", "--server", "Web"], capsys, monkeypatch)
        assert code == 0, err


# -- failures --------------------------------------------------------------------------------
def test_wrong_password(orthanc, home, capsys, monkeypatch) -> None:
    code, out, err = run(["pacs", "find", "--dicomweb", orthanc.dicomweb_url, "--user", USER,
                          "--password-stdin", "--patient-id", "X"], capsys, monkeypatch,
                         "not-the-password\n")
    assert code == 1
    assert err.startswith("interval: error: ") and "refused the user name" in err
    assert "not-the-password" not in err + out


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_server_down(protocol, home, capsys, monkeypatch) -> None:
    port = free_port()
    opts = (["--dicomweb", f"http://127.0.0.1:{port}/dicom-web"] if protocol == "dicomweb"
            else ["--host", "127.0.0.1", "--port", str(port), "--aet", AE_TITLE])
    code, out, err = run(["pacs", "echo", *opts, "--timeout", "5"], capsys, monkeypatch)
    assert code == 1
    assert err.startswith("interval: error: ") and len(err.strip().splitlines()) == 1
    assert str(port) in err


def test_wrong_ae_title(orthanc, home, capsys, monkeypatch) -> None:
    code, out, err = run(["pacs", "echo", "--host", "127.0.0.1", "--port",
                          str(orthanc.dicom_port), "--aet", "WRONGAE"], capsys, monkeypatch)
    assert code == 1
    assert err.startswith("interval: error: ") and "WRONGAE" in err


@pytest.mark.parametrize("argv", [
    ["pacs"],
    ["pacs", "servers"],
    ["pacs", "echo"],  # which server?
    ["pacs", "echo", "--dicomweb", "http://x/dicom-web", "--host", "y", "--aet", "A"],
    ["pacs", "echo", "--server", "Web", "--host", "y"],
    ["pacs", "echo", "--host", "y"],  # no AE title
    ["pacs", "echo", "--port", "11112"],
    ["pacs", "echo", "--host", "y", "--aet", "A", "--port", "0"],
    ["pacs", "echo", "--host", "y", "--aet", "WAY-TOO-LONG-AE-TITLE"],
    ["pacs", "echo", "--dicomweb", "ftp://x"],
    ["pacs", "echo", "--dicomweb", "http://x", "--auth", "basic"],  # no user
    ["pacs", "echo", "--host", "y", "--aet", "A", "--retrieve", "move"],  # no move port
    ["pacs", "find", "--dicomweb", "http://x"],  # no criterion
    ["pacs", "find", "--dicomweb", "http://x", "--date", "2024-13-45"],
    ["pacs", "find", "--dicomweb", "http://x", "--date", "20240301-20240101"],
    ["pacs", "find", "--dicomweb", "http://x", "--patient-id", "P", "--limit", "0"],
    ["pacs", "get", "--dicomweb", "http://x", "../etc"],
    ["pacs", "get", "--dicomweb", "http://x", "1.2.3", "--series", "1.2/../x"],
    ["pacs", "send", "--dicomweb", "http://x"],
    ["pacs", "servers", "add", "--dicomweb", "http://x"],  # no name
    ["pacs", "servers", "add", "--name", "N"],  # no address
])
def test_bad_arguments_exit_2(argv, home, capsys, monkeypatch) -> None:
    code, out, err = run(argv, capsys, monkeypatch)
    assert code == 2
    assert err


def test_date_ranges() -> None:
    from datetime import date

    from interval.cli.pacs import date_range

    assert date_range("20240101-20240131") == (date(2024, 1, 1), date(2024, 1, 31))
    assert date_range("2024-01-01-2024-01-31") == (date(2024, 1, 1), date(2024, 1, 31))
    assert date_range("2024-01-01") == (date(2024, 1, 1), date(2024, 1, 1))
    assert date_range("20240101-") == (date(2024, 1, 1), None)
    assert date_range("-2024-01-31") == (None, date(2024, 1, 31))


def test_send_finds_nothing_to_send(home, tmp_path, capsys, monkeypatch) -> None:
    write_junk(tmp_path / "junk")
    code, out, err = run(["pacs", "send", "--dicomweb", "http://127.0.0.1:9/x",
                          str(tmp_path / "junk")], capsys, monkeypatch)
    assert code == 1 and "No DICOM files" in err
    code, out, err = run(["pacs", "send", "--dicomweb", "http://127.0.0.1:9/x",
                          str(tmp_path / "missing")], capsys, monkeypatch)
    assert code == 1 and "not found" in err
