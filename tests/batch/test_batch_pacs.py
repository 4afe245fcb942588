"""``interval batch`` on cases that live in a real PACS (Orthanc): the worker fetches the
studies through the saved profile into ``OUT/pacs_cache`` and tracks them exactly as it
tracks the same patient from its folder."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from interval.cli.main import EXIT_OK, main
from interval.net.credentials import SECRET_ENV
from interval.net.model import ServerProfile
from interval.net.profiles import CONFIG_DIR_ENV, save_profiles
from tests.batch.conftest import labels_of, write_manifest
from tests.net.orthanc_server import PASSWORD, USER


def _main(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue() + err.getvalue()


def _report(out: Path, case_id: str) -> dict:
    return json.loads((out / "cases" / case_id / "report.json").read_text())


def test_a_cohort_from_the_pacs_is_tracked_like_the_same_folders(
        patients, empty_orthanc, tmp_path, monkeypatch):
    p0 = patients["p0"]
    files = sorted(f for f in p0.dicom_dir.rglob("*") if f.is_file())
    empty_orthanc.upload(files)
    config = tmp_path / "config"
    monkeypatch.setenv(CONFIG_DIR_ENV, str(config))
    # the workers are other processes: they read the profile and the secret as a cluster
    # node would (the settings folder and the environment; no keyring on a headless node)
    monkeypatch.setenv(SECRET_ENV, PASSWORD)
    save_profiles([ServerProfile(name="Research PACS", url=empty_orthanc.dicomweb_url,
                                 auth="basic", username=USER)])
    uids = ";".join(tp.study_instance_uid for tp in p0.timepoints)
    manifest = write_manifest(tmp_path / "cohort.csv", [
        {"case_id": "from-pacs", "server": "Research PACS", "study_uids": uids,
         "labels": labels_of(p0), "tasks": "track"},
        {"case_id": "from-folder", "path": str(p0.dicom_dir), "labels": labels_of(p0),
         "tasks": "track"},
    ])
    out = tmp_path / "out"
    code, text = _main(["batch", str(manifest), "-o", str(out), "--workers", "1",
                        "--registration", "rigid", "--no-reports"])
    assert code == EXIT_OK, text
    assert PASSWORD not in text
    assert len(list((out / "pacs_cache").rglob("*.dcm"))) == len(files)
    pacs, folder = _report(out, "from-pacs"), _report(out, "from-folder")
    assert pacs["recist"] == folder["recist"] and len(pacs["recist"]) == len(p0.timepoints)
    assert len(pacs["tracks"]) == len(folder["tracks"]) > 0
    assert ([m["volume_ml"] for m in pacs["measurements"]]
            == [m["volume_ml"] for m in folder["measurements"]])
