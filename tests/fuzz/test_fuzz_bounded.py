"""Bounded fuzz run: mutated real DICOM files through ``index_folder`` and ``load_stack``.

Every (seed file, mutator) pair once (~340 cases), in two memory-capped worker
processes (see :mod:`tests.fuzz.harness`): only ``IntervalError`` may escape,
every file is loaded, skipped with a reason or refused with a clear message,
no case allocates what a lying header claims, and no source file changes.
A failure prints each bad case with the command that replays it.
The long run is ``python tests/fuzz/fuzz_long.py --cases 5000 --seed N``.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter

import pydicom
import pytest

from tests.fuzz.harness import (
    Recipe,
    build_case,
    make_recipes,
    run_isolated,
    seeds,
    summarize,
)
from tests.fuzz.mutators import DEFLATED_LE, MUTATORS, mutate, parse_layout

BOUNDED_SEED = 20240611
HUGE_MUTATORS = ("huge_image", "million_frames")
RANDOM_MUTATORS = sorted(m for m in MUTATORS if m not in HUGE_MUTATORS)
MEM_MIB = 1024  # address space a worker may add to its baseline; a lying header claims 7+ GiB
CASE_TIMEOUT_S = 5.0  # a sane case takes well under a second


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the tools themselves ---------------------------------------------------------------


def test_walker_maps_every_seed_file() -> None:
    """The tag walker sees the same top-level elements as pydicom, up to the last byte."""
    for name, files in seeds().items():
        for path in files:
            data = path.read_bytes()
            layout = parse_layout(data)
            if layout.transfer_syntax == DEFLATED_LE:
                continue
            top = [el.tag for el in layout.elements if el.depth == 0 and not el.in_meta]
            ds = pydicom.dcmread(path, force=True)
            assert top == [int(el.tag) for el in ds], f"{name}: {path.name}"
            assert max(el.end for el in layout.elements) == len(data), f"{name}: {path.name}"


def test_mutations_are_deterministic_and_leave_seeds_alone(tmp_path) -> None:
    before = _seed_digests()
    recipe = Recipe("ct_series", "bad_length", 12345)
    files_a, detail_a = build_case(recipe, tmp_path / "a")
    files_b, detail_b = build_case(recipe, tmp_path / "b")
    assert detail_a == detail_b
    assert [f.read_bytes() for f in files_a] == [f.read_bytes() for f in files_b]
    assert sum(a.read_bytes() != src.read_bytes() for a, src in zip(files_a, seeds()["ct_series"], strict=True)) == 1
    assert _seed_digests() == before


@pytest.mark.parametrize("mutator", sorted(MUTATORS))
def test_every_mutator_changes_files(mutator: str) -> None:
    """Each mutator applies (without falling back to a byte flip) to most seed files."""
    applied = 0
    total = 0
    for name, files in sorted(seeds().items()):
        data = files[0].read_bytes()
        out, detail = mutate(data, mutator, random.Random(f"{name}/{mutator}"))
        total += 1
        assert out != data, f"{mutator} left {name} unchanged"
        applied += "not applicable" not in detail
    assert applied >= total // 2, f"{mutator} applied to only {applied} of {total} seeds"


# --- the bounded run -------------------------------------------------------------------


def _seed_digests() -> dict[str, str]:
    return {str(p): _digest(p.read_bytes()) for files in seeds().values() for p in files}


@pytest.mark.slow
def test_bounded_fuzz_run(tmp_path) -> None:
    """Every seed x mutator pair once: nothing escapes, everything is loaded or reported."""
    recipes = make_recipes(len(seeds()) * len(RANDOM_MUTATORS), BOUNDED_SEED, mutators=RANDOM_MUTATORS)
    assert len(recipes) >= 300
    originals = _seed_digests()
    results = run_isolated(recipes, workers=2, mem_mib=MEM_MIB, timeout_s=CASE_TIMEOUT_S,
                           total_timeout_s=300, work_root=tmp_path)
    assert _seed_digests() == originals
    report = summarize(results)
    failures = [r for r in results if r.outcome == "failure"]
    assert not failures, report
    counts = Counter(r.outcome for r in results)
    # the run must exercise both ends: real loads and refusals with reasons
    assert counts["loaded"] >= 30, report
    assert counts["reported"] >= 100, report


@pytest.mark.slow
def test_headers_claiming_huge_images_are_refused_before_allocating(tmp_path) -> None:
    """Rows = Columns = 60000, or NumberOfFrames = 10^6, over real pixel data of normal size.

    Each must end as a refusal (TooLarge / UnreadableFile / skipped with a
    reason, or UnsupportedData for a seed refused anyway) found before the
    array is allocated: the workers cannot map more than ``MEM_MIB`` beyond
    their baseline, so an attempt fails the case with MemoryError, and a slow
    walk over a million frames times out.
    """
    image_seeds = [  # one per reading path: native LE/BE/implicit, each codec, multi-frame
        "ct_small", "mr_bigendian", "mr_implicit", "ts_explicit_le", "ts_rle", "ts_jpeg_lossless",
        "ts_jpegls", "ts_j2k", "jpeg_lossy", "rtdose_multiframe", "enhanced_philips", "rgb_rle_2frame",
    ]
    recipes = [Recipe(n, m, 0) for n in image_seeds for m in HUGE_MUTATORS]
    results = run_isolated(recipes, workers=2, mem_mib=MEM_MIB, timeout_s=CASE_TIMEOUT_S,
                           total_timeout_s=300, work_root=tmp_path)
    # UnsupportedData: refused for another reason (colour, no volume) before any allocation
    allowed = {"TooLarge", "UnreadableFile", "UnsupportedData", "skipped"}
    bad = [
        r for r in results
        if r.outcome != "reported" or not set(r.errors) <= allowed
    ]
    lines = [f"{r.label}: {r.outcome} errors={r.errors} {r.failures or r.notes}" for r in bad]
    assert not bad, summarize(results) + "\n" + "\n".join(lines)
