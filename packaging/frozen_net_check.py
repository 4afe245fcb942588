"""Check a frozen bundle's DICOM networking and cohort runs (packaging/check.sh step).

    python packaging/frozen_net_check.py pacs  APP WORKDIR   # real Orthanc: find, get, send
    python packaging/frozen_net_check.py batch APP WORKDIR   # `interval batch` on 2 workers

``pacs``: starts a real Orthanc (``tests/net/orthanc_server.py``; the Debian packages
``orthanc`` and ``orthanc-dicomweb``) with a generated patient in it, then runs the
bundle's ``interval pacs find``/``get`` over DICOMweb and over DIMSE (C-GET) and
``interval pacs send``; the retrieved files must be the uploaded ones (DICOMweb:
byte for byte; DIMSE: same images, same pixel data).  ``batch``: the bundle's
``interval batch`` tracks two generated patients (their label maps given) on a local
Dask cluster of 2 worker processes, which must finish both cases and leave no process.

Runs with the source checkout's Python (it generates the data and starts Orthanc).
Exit 0 when every check passed, 1 otherwise, 2 when Orthanc is not installed (pacs).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import psutil
import pydicom

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "app"))

from tests.net.orthanc_server import (  # noqa: E402
    AE_TITLE,
    PASSWORD,
    USER,
    OrthancServer,
    orthanc_available,
)

from interval.io.synthetic.patient import generate_patient  # noqa: E402

SHAPE = (40, 80, 80)


def _run(app: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([app, *args], input=stdin, capture_output=True, text=True,
                          timeout=600)
    print(f"$ interval {' '.join(args)}  -> exit {done.returncode}")
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
    return done


def _pixels(path: Path) -> tuple[str, bytes]:
    ds = pydicom.dcmread(path)
    return str(ds.SOPInstanceUID), bytes(ds.PixelData)


def check_pacs(app: str, work: Path) -> int:
    missing = orthanc_available()
    if missing:
        print(f"not checked: {missing}")
        return 2
    failures = 0
    patient = generate_patient(work / "pacs-patient", 11, 2, SHAPE, keep_arrays=False)
    files = sorted(f for f in patient.dicom_dir.rglob("*") if f.is_file())
    originals = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID): f
                 for f in files}
    with OrthancServer() as server:
        server.upload(files)
        web = ["--dicomweb", server.dicomweb_url, "--auth", "basic", "--user", USER,
               "--password-stdin"]
        dimse = ["--host", "127.0.0.1", "--port", str(server.dicom_port), "--aet", AE_TITLE]
        found = _run(app, "pacs", "find", *web, "--patient-id", patient.patient_id, "--json",
                     stdin=PASSWORD + "\n")
        studies = json.loads(found.stdout) if found.returncode == 0 else []
        if isinstance(studies, dict):
            studies = studies.get("studies", [])
        ok = len(studies) == len(patient.timepoints)
        print(f"{'ok' if ok else 'FAILED'}: DICOMweb find: {len(studies)} studies")
        failures += not ok
        study_uid = patient.timepoints[0].study_instance_uid
        for name, server_args, stdin in (("DICOMweb", web, PASSWORD + "\n"),
                                         ("DIMSE C-GET", dimse, None)):
            out = work / f"get-{name.split()[0].lower()}"
            got = _run(app, "pacs", "get", *server_args, study_uid, "-o", str(out),
                       "--cache-dir", str(out) + "-cache", stdin=stdin)
            fetched = sorted(out.rglob("*.dcm")) if got.returncode == 0 else []
            same = bool(fetched) and len(fetched) == patient.timepoints[0].n_files
            for path in fetched:
                uid, pixels = _pixels(path)
                original = originals.get(uid)
                byte_check = name == "DICOMweb"  # DIMSE rewrites the file meta
                if (original is None or pixels != _pixels(original)[1]
                        or (byte_check and path.read_bytes() != original.read_bytes())):
                    same = False
            print(f"{'ok' if same else 'FAILED'}: {name} get: {len(fetched)} files")
            failures += not same
        server.delete_all()
        sent = _run(app, "pacs", "send", *dimse, str(files[0]))
        ok = sent.returncode == 0 and server.instance_count() == 1
        print(f"{'ok' if ok else 'FAILED'}: DIMSE send")
        failures += not ok
    return 1 if failures else 0


def check_batch(app: str, work: Path) -> int:
    rows = []
    for seed in (21, 22):
        p = generate_patient(work / f"batch-p{seed}", seed, 2, SHAPE, keep_arrays=False)
        rows.append({"case_id": f"p{seed}", "path": str(p.dicom_dir),
                     "labels": ";".join(str(tp.labels_path) for tp in p.timepoints),
                     "tasks": "track,forecast"})
    manifest = work / "cohort.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    out = work / "batch-out"
    done = _run(app, "batch", str(manifest), "-o", str(out), "--workers", "2",
                "--registration", "rigid", "--no-reports")
    with (out / "summary.csv").open(newline="") as fh:
        summary = list(csv.DictReader(fh)) if done.returncode == 0 else []
    ok = done.returncode == 0 and [r["status"] for r in summary] == ["ok", "ok"]
    print(f"{'ok' if ok else 'FAILED'}: frozen batch on 2 workers: "
          f"{[r.get('status') for r in summary]}")
    left = {p.pid for p in psutil.Process().children(recursive=True)} - before
    print(f"{'ok' if not left else 'FAILED'}: no process left ({len(left)})")
    return 0 if ok and not left else 1


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("pacs", "batch"):
        print(__doc__)
        return 1
    work = Path(argv[2])
    work.mkdir(parents=True, exist_ok=True)
    return (check_pacs if argv[0] == "pacs" else check_batch)(argv[1], work)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
