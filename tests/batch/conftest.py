"""Fixtures of the batch tests: tiny generated patients (two scans each), a manifest writer,
and the processes a test started (for the "nothing left behind" checks)."""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path

import psutil
import pytest

from interval.io.synthetic.patient import SyntheticPatient, generate_patient

SHAPE = (40, 80, 80)  # the track tests' coarse grid: seconds per case, still trackable


@pytest.fixture(scope="session")
def patients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SyntheticPatient]:
    """Two synthetic patients (seeds 0 and 1) of two CT scans each, with their truth."""
    root = tmp_path_factory.mktemp("batch_patients")
    return {f"p{seed}": generate_patient(root / f"p{seed}", seed, 2, SHAPE, keep_arrays=False)
            for seed in (0, 1)}


def labels_of(patient: SyntheticPatient) -> str:
    """The patient's ground-truth label maps as a manifest cell (oldest first)."""
    return ";".join(str(tp.labels_path) for tp in patient.timepoints)


def write_manifest(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    """A CSV manifest with the union of the rows' keys as columns."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def descendants() -> set[int]:
    """Process ids of this process's living descendants, Python's own helpers left out."""
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            text = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if "resource_tracker" not in text and "forkserver" not in text:
            out.add(p.pid)
    return out


def alive(pids: set[int], within_s: float = 10.0) -> set[int]:
    """Those of ``pids`` still running after at most ``within_s`` seconds (zombies count
    as gone): a grandchild may take a moment to exit after its parent stopped."""
    deadline = time.monotonic() + within_s
    while True:
        out = set()
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    out.add(pid)
            except psutil.Error:
                pass
        if not out or time.monotonic() >= deadline:
            return out
        time.sleep(0.2)
