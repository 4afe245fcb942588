"""Fuzz harness: seed files, case recipes, the per-case check, and an isolated runner.

A case is a :class:`Recipe` ``seed/mutator/case_seed``: the seed's real files are
copied into a fresh folder, one of them is mutated (see :mod:`tests.fuzz.mutators`),
then the real pipeline runs on it: ``index_folder`` and ``load_stack`` for every
stack found.  A case passes when

* nothing but an :class:`~interval.core.errors.IntervalError` escapes,
* every file ends up in a stack, as a non-image object, or skipped with a reason
  (a file that was an image and still claims its image SOP class must not turn
  into an unnamed "other" object: that would hide the damage from the user),
* every stack is either loaded (a sane ``Volume``) or refused with a clear message,
* the case's files are byte-for-byte unchanged afterwards.

Cases run in worker subprocesses (:func:`run_isolated`) whose address space is
capped with ``RLIMIT_AS``: a header claiming a 60000x60000 image (or a million
frames) that makes the loader allocate it fails the case with ``MemoryError``
instead of eating the machine; a crash of a native decoder (segfault) or a hang
fails only the case it happened in.

Reproduce one case: ``python tests/fuzz/fuzz_long.py --replay SEED/MUTATOR/CASE_SEED``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DICOM_DATA = (REPO_ROOT.parent / "shared" / "data" / "dicom").resolve()


def _pydicom_test_files() -> Path:
    import pydicom

    return Path(pydicom.__file__).resolve().parent / "data" / "test_files"


def _seed_table() -> dict[str, tuple[Path, ...]]:
    pyd = _pydicom_test_files()
    ts = DICOM_DATA / "dcm_qa_ts" / "In"
    ct3 = DICOM_DATA / "dcmqi_data" / "data" / "segmentations" / "ct-3slice"
    hd = DICOM_DATA / "highdicom_test_files" / "data" / "test_files"
    xa10 = DICOM_DATA / "dcm_qa_enh" / "In" / "Siemens" / "XA10"
    tseg = DICOM_DATA / "totalsegmentator_ref" / "tests" / "reference_files" / "example_ct_dicom"
    ct_files = tuple(sorted(ct3.glob("*.dcm")))
    return {
        # pydicom's own small files: every syntax, colour, multi-frame, deflate
        "ct_small": (pyd / "CT_small.dcm",),
        "mr_implicit": (pyd / "MR_small_implicit.dcm",),
        "mr_bigendian": (pyd / "MR_small_bigendian.dcm",),
        "mr_rle": (pyd / "MR_small_RLE.dcm",),
        "mr_j2k": (pyd / "MR_small_jp2klossless.dcm",),
        "mr_jpegls": (pyd / "MR_small_jpeg_ls_lossless.dcm",),
        "jpeg_lossy": (pyd / "JPEG-lossy.dcm",),
        "rtdose_multiframe": (pyd / "rtdose.dcm",),
        "rgb_rle_2frame": (pyd / "SC_rgb_rle_2frame.dcm",),
        "deflated": (pyd / "image_dfl.dcm",),
        # one real MR in the transfer syntaxes of dcm_qa_ts
        "ts_explicit_le": (ts / "1.dcm",),
        "ts_explicit_be": (ts / "3.dcm",),
        "ts_rle": (ts / "4.dcm",),
        "ts_jpeg_lossless": (ts / "5.dcm",),
        "ts_jpegls": (ts / "7.dcm",),
        "ts_j2k": (ts / "9.dcm",),
        # CT: a single J2K slice, highdicom's CT, a real 3-slice series
        "ct_j2k": tuple(sorted(tseg.iterdir()))[:1],
        "ct_image": (hd / "ct_image.dcm",),
        "ct_series": ct_files,
        # enhanced multi-frame: one Philips file, a 4-file Siemens XA10 series
        "enhanced_philips": (DICOM_DATA / "dcm_qa_enh" / "In" / "Philips" / "IM_0027_fMAP.dcm",),
        "enhanced_series": tuple(sorted(xa10.glob("*.dcm"))),
        # non-image objects, alone and beside their images
        "seg": (hd / "seg_image_ct_binary.dcm",),
        "seg_with_ct": (*ct_files, DICOM_DATA / "dcmqi_data" / "data" / "segmentations" / "liver.dcm"),
        "sr": (DICOM_DATA / "dcmqi_data" / "data" / "sr-example" / "sr.dcm",),
    }


_SEEDS: dict[str, tuple[Path, ...]] | None = None


def seeds() -> dict[str, tuple[Path, ...]]:
    """Seed name -> the real files of that seed (missing data fails loudly)."""
    global _SEEDS
    if _SEEDS is None:
        table = _seed_table()
        missing = [str(p) for files in table.values() for p in files if not p.is_file()]
        if missing or any(not files for files in table.values()):
            raise FileNotFoundError(f"fuzz seed files missing: {missing[:5]}")
        _SEEDS = table
    return _SEEDS


# --- recipes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """One reproducible fuzz case."""

    seed: str
    mutator: str
    case_seed: int

    @property
    def label(self) -> str:
        return f"{self.seed}/{self.mutator}/{self.case_seed}"

    @classmethod
    def parse(cls, label: str) -> Recipe:
        seed, mutator, case_seed = label.split("/")
        return cls(seed, mutator, int(case_seed))


def make_recipes(
    n: int, master_seed: int, *, mutators: list[str] | None = None, seed_names: list[str] | None = None
) -> list[Recipe]:
    """``n`` recipes cycling through every (seed, mutator) pair in a shuffled order."""
    from tests.fuzz.mutators import MUTATORS

    rng = random.Random(master_seed)
    combos = list(product(sorted(seed_names or seeds()), sorted(mutators or MUTATORS)))
    out: list[Recipe] = []
    while len(out) < n:
        rng.shuffle(combos)
        out.extend(Recipe(s, m, rng.randrange(1 << 31)) for s, m in combos)
    return out[:n]


_RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"  # may legitimately come without pixel data
_SOURCE_SOP: dict[Path, str | None] = {}


def _image_sop_class(path: Path) -> str | None:
    """SOP class UID of an (unmutated) seed file when it is an image, else ``None``."""
    if path not in _SOURCE_SOP:
        from interval.io.dicom.header import read_header

        header = read_header(path)
        image = header.kind == "image" and header.sop_class_uid != _RT_DOSE
        _SOURCE_SOP[path] = header.sop_class_uid if image else None
    return _SOURCE_SOP[path]


def is_image_source(path: Path) -> bool:
    """Whether an (unmutated) seed file is an image."""
    return _image_sop_class(path) is not None


def image_files_of(recipe: Recipe, case_dir: Path) -> dict[str, str]:
    """Case path -> SOP class UID, for the case files whose seed file is an image."""
    out = {}
    for src in seeds()[recipe.seed]:
        sop = _image_sop_class(src)
        if sop is not None:
            out[os.path.realpath(case_dir / src.name)] = sop
    return out


def build_case(recipe: Recipe, case_dir: Path) -> tuple[list[Path], str]:
    """Write the case's files into ``case_dir``; returns them and what was mutated."""
    from tests.fuzz.mutators import mutate

    sources = seeds()[recipe.seed]
    rng = random.Random(recipe.label)
    target = rng.randrange(len(sources))
    case_dir.mkdir(parents=True, exist_ok=True)
    files = []
    detail = ""
    for i, src in enumerate(sources):
        dst = case_dir / src.name
        if i == target:
            data, detail = mutate(src.read_bytes(), recipe.mutator, rng)
            dst.write_bytes(data)
            detail = f"{src.name}: {detail}"
        else:
            shutil.copyfile(src, dst)
        files.append(dst)
    return files, detail


# --- checks shared with the bad-input tests -------------------------------------------

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_JUNK_MARKERS = ("Traceback", 'File "', " object at 0x", "<class '", "<module")


def message_problem(message: str) -> str | None:
    """Why a user-facing message is not acceptable, or ``None`` when it is."""
    text = message.strip()
    if not text:
        return "empty message"
    for marker in _JUNK_MARKERS:
        if marker in text:
            return f"message contains {marker!r}: {text[:300]!r}"
    if len(text) > 2000:
        return f"message is {len(text)} characters long"
    if text.count("\n") > 10:
        return "message spans more than 10 lines"
    return None


def volume_problem(volume: Any, rows: int, columns: int, max_bytes: int) -> str | None:
    """Why a loaded volume is not sane, or ``None``."""
    import numpy as np

    from interval.core.volume import Volume

    if not isinstance(volume, Volume):
        return f"load_stack returned {type(volume).__name__}, not a Volume"
    arr = volume.array
    if (arr.ndim != 3 and not volume.is_rgb) or min(arr.shape) < 1:  # colour: [k, j, i, 3]
        return f"volume array has shape {arr.shape}"
    if arr.dtype == np.float64:
        return "volume array is float64 (contract: never float64)"
    if arr.nbytes > max_bytes:
        return f"volume array holds {arr.nbytes} bytes (> {max_bytes})"
    nj, ni = arr.shape[1], arr.shape[2]
    mosaic_tiles = nj <= rows and ni <= columns and rows % nj == 0 and columns % ni == 0
    if (nj, ni) != (rows, columns) and not mosaic_tiles:
        return f"volume slices are {(nj, ni)} but the stack says {(rows, columns)}"
    return None


def file_digests(paths: list[Path]) -> dict[str, tuple[str, int]]:
    """sha256 and mtime (ns) of each file."""
    out = {}
    for p in paths:
        st = p.stat()
        out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns)
    return out


# --- one case -------------------------------------------------------------------------


class CaseTimeout(BaseException):
    """Raised by the per-case alarm; a BaseException so ``except Exception`` won't eat it."""


@dataclass
class CaseResult:
    label: str
    detail: str = ""
    outcome: str = ""  # loaded | reported | non-image | failure
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # IntervalError types seen, "skipped"
    seconds: float = 0.0
    maxrss_mib: float = 0.0


def _short_traceback(exc: BaseException, full: bool = False) -> str:
    if full:
        return "".join(traceback.format_exception(exc))
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames[-4:]))
    return f"{type(exc).__name__}: {str(exc)[:300]} [at {where}]"


def fuzz_policy() -> Any:
    """The default policy, with header parsing in-process (one tiny folder per case)."""
    from dataclasses import replace

    from interval.io.dicom.policy import DEFAULT_POLICY

    return replace(DEFAULT_POLICY, workers=1)


def check_folder(
    case_dir: Path, files: list[Path], policy: Any, max_bytes: int, *,
    images: dict[str, str] | None = None, full_tb: bool = False,
) -> CaseResult:
    """Run index + load on ``case_dir`` and judge the outcome (see module doc).

    ``images`` maps the real paths of files that were images before mutation
    to their SOP class: while such a file still claims that image class, it
    may load, be refused, or be skipped with a reason, but not be listed as
    an unnamed "other" object, which hides from the user what went wrong.
    """
    images = images or {}
    from interval.core.errors import IntervalError
    from interval.io.dicom.index import index_folder
    from interval.io.dicom.load import load_stack

    res = CaseResult(label=str(case_dir))
    before = file_digests(files)
    outcomes: set[str] = set()
    try:
        index = index_folder(case_dir, policy)
    except IntervalError as exc:
        problem = message_problem(str(exc))
        if problem:
            res.failures.append(f"index_folder raised {type(exc).__name__} with a bad message: {problem}")
        res.notes.append(f"index refused: {type(exc).__name__}: {exc}")
        res.errors.append(type(exc).__name__)
        outcomes.add("reported")
        index = None
    except CaseTimeout:
        raise
    except BaseException as exc:  # noqa: BLE001 - anything else is exactly what we look for
        res.failures.append(f"index_folder raised {_short_traceback(exc, full_tb)}")
        index = None
    accounted: set[str] = set()
    demoted: set[str] = set()
    if index is not None:
        for skipped in index.skipped:
            accounted.add(os.path.realpath(skipped.path))
            problem = message_problem(skipped.reason)
            if problem:
                res.failures.append(f"skip reason for {Path(skipped.path).name}: {problem}")
            res.notes.append(f"skipped {Path(skipped.path).name}: {skipped.reason}")
            res.errors.append("skipped")
            outcomes.add("reported")
        for _p, _st, series in index.iter_series():
            for obj in [*series.objects, *series.attached]:
                real = os.path.realpath(obj.header.path)
                accounted.add(real)
                outcomes.add("non-image")
                if obj.kind != "other" or real in demoted:
                    continue
                sop = obj.header.sop_class_uid
                if images.get(real) == sop:
                    demoted.add(real)
                    res.failures.append(
                        f"{Path(real).name} was an image; now listed as a non-image object "
                        "('other') with no reason given"
                    )
                elif not _UID.fullmatch(sop):
                    demoted.add(real)
                    res.failures.append(
                        f"{Path(real).name} is listed as a non-image object ('other') although "
                        f"its SOP Class UID is {'missing' if not sop else 'malformed: ' + repr(sop[:40])}"
                        " (damage that should be reported as a reason)"
                    )
            for stack in series.stacks:
                accounted.update(os.path.realpath(f.header.path) for f in stack.frames)
                try:
                    volume = load_stack(stack, policy)
                except IntervalError as exc:
                    problem = message_problem(str(exc))
                    if problem:
                        res.failures.append(f"load_stack raised {type(exc).__name__} with a bad message: {problem}")
                    res.notes.append(f"stack {stack.label or '#'} refused: {type(exc).__name__}: {exc}")
                    res.errors.append(type(exc).__name__)
                    outcomes.add("reported")
                    continue
                except CaseTimeout:
                    raise
                except BaseException as exc:  # noqa: BLE001
                    res.failures.append(f"load_stack raised {_short_traceback(exc, full_tb)}")
                    continue
                problem = volume_problem(volume, stack.rows, stack.columns, max_bytes)
                if problem:
                    res.failures.append(f"loaded volume is not sane: {problem}")
                else:
                    res.notes.append(f"loaded {volume.shape} {volume.dtype}")
                    outcomes.add("loaded")
                del volume
        missing = {os.path.realpath(p) for p in files} - accounted
        if missing:
            names = sorted(Path(m).name for m in missing)
            res.failures.append(f"files neither indexed nor reported as skipped: {names}")
    after = file_digests(files)
    if after != before:
        res.failures.append("source files were modified by indexing/loading")
    if res.failures:
        res.outcome = "failure"
    elif "reported" in outcomes:
        res.outcome = "reported"
    elif "loaded" in outcomes:
        res.outcome = "loaded"
    elif "non-image" in outcomes:
        res.outcome = "non-image"
    else:
        res.outcome = "failure"
        res.failures.append("case ended neither loaded nor reported")
    return res


def run_case(recipe: Recipe, work: Path, *, max_bytes: int, timeout_s: float) -> CaseResult:
    """Build one case under ``work``, check it, remove it."""
    case_dir = work / recipe.label.replace("/", "_")
    t0 = time.perf_counter()
    files, detail = build_case(recipe, case_dir)
    BIG_ALLOCATIONS.clear()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        res = check_folder(case_dir, files, fuzz_policy(), max_bytes,
                           images=image_files_of(recipe, case_dir))
    except CaseTimeout:
        res = CaseResult(label="", outcome="failure", failures=[f"no result after {timeout_s:.0f} s (hang?)"])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        shutil.rmtree(case_dir, ignore_errors=True)
    if BIG_ALLOCATIONS:
        res.failures.extend(f"tried to allocate what the header claims: {a}" for a in BIG_ALLOCATIONS)
        res.outcome = "failure"
    res.label = recipe.label
    res.detail = detail
    res.seconds = time.perf_counter() - t0
    res.maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


def _alarm(signum: int, frame: Any) -> None:
    raise CaseTimeout()


# --- allocation guard -----------------------------------------------------------------

BIG_ALLOCATIONS: list[str] = []
"""Array allocations above the guard's limit asked for during the current case."""


def install_allocation_guard(limit_bytes: int) -> None:
    """Record every ``np.empty/zeros/ones/full`` call asking for more than ``limit_bytes``.

    The call still goes ahead (and fails under the worker's address-space cap),
    so a loader that turns the MemoryError into a polite TooLarge is still
    caught having tried to allocate what a header claimed.
    """
    import math

    import numpy as np

    def wrap(name: str, real: Any) -> Any:
        def guarded(shape: Any, *args: Any, **kwargs: Any) -> Any:
            dtype = kwargs.get("dtype")
            if dtype is None and args:
                dtype = args[1] if name == "full" and len(args) > 1 else (None if name == "full" else args[0])
            try:
                count = math.prod(shape) if isinstance(shape, tuple | list) else int(shape)
                size = count * np.dtype(dtype if dtype is not None else float).itemsize
            except Exception:  # noqa: BLE001 - let numpy itself complain
                size = 0
            if size > limit_bytes:
                caller = traceback.extract_stack(limit=3)[0]
                BIG_ALLOCATIONS.append(
                    f"np.{name}({shape!r}) = {size / 2**30:.2f} GiB at "
                    f"{Path(caller.filename).name}:{caller.lineno} {caller.name}"
                )
            return real(shape, *args, **kwargs)

        guarded.__wrapped__ = real  # type: ignore[attr-defined]
        return guarded

    for name in ("empty", "zeros", "ones", "full"):
        real = getattr(np, name)
        setattr(np, name, wrap(name, getattr(real, "__wrapped__", real)))


# --- worker subprocess ----------------------------------------------------------------


def _vm_size_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _warm_up() -> None:
    """Import and exercise every decoder once so the memory cap only meets case data."""
    import warnings

    import pydicom

    from interval.io.dicom import index, load  # noqa: F401

    warnings.simplefilter("ignore")
    for files in seeds().values():
        for path in files:
            is_image_source(path)
    for name in ("mr_rle", "mr_j2k", "mr_jpegls", "jpeg_lossy", "ct_small"):
        with contextlib.suppress(Exception):  # warm-up only
            pydicom.dcmread(seeds()[name][0]).pixel_array  # noqa: B018


def worker_main(
    recipes_path: Path, results_path: Path, mem_mib: int, timeout_s: float, work_root: Path | None = None
) -> int:
    """Run recipes from a JSON file, appending JSON lines (start marker, then result).

    Each case is built in its own folder under ``work_root`` (a temp dir by
    default) and removed after it ran.
    """
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    labels = json.loads(recipes_path.read_text())
    work = Path(tempfile.mkdtemp(prefix="interval-fuzz-", dir=work_root))
    try:
        _warm_up()
        base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cap = _vm_size_bytes() + mem_mib * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        max_bytes = mem_mib * 1024 * 1024 // 2
        install_allocation_guard(max_bytes)
        with open(results_path, "a", encoding="utf-8") as out:
            for label in labels:
                out.write(json.dumps({"start": label}) + "\n")
                out.flush()
                res = run_case(Recipe.parse(label), work, max_bytes=max_bytes, timeout_s=timeout_s)
                if res.maxrss_mib > base_rss + mem_mib:
                    res.failures.append(f"resident memory reached {res.maxrss_mib:.0f} MiB")
                    res.outcome = "failure"
                out.write(json.dumps({"result": asdict(res)}) + "\n")
                out.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env.update(MALLOC_ARENA_MAX="2", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONFAULTHANDLER="1", PYTHONWARNINGS="ignore")
    return env


def _run_chunk(labels: list[str], mem_mib: int, timeout_s: float, deadline: float,
               results: dict[str, CaseResult], tmp: Path, tag: str, work_root: Path | None) -> None:
    """Run ``labels`` in worker processes, restarting after a crash."""
    todo = list(labels)
    attempt = 0
    while todo:
        attempt += 1
        recipes = tmp / f"{tag}-{attempt}-recipes.json"
        out = tmp / f"{tag}-{attempt}-results.jsonl"
        err = tmp / f"{tag}-{attempt}-stderr.txt"
        recipes.write_text(json.dumps(todo))
        cmd = [sys.executable, "-m", "tests.fuzz.harness", "--worker", str(recipes), str(out),
               "--mem-mib", str(mem_mib), "--case-timeout", str(timeout_s)]
        if work_root is not None:
            cmd += ["--work", str(work_root)]
        with open(err, "wb") as errf:
            proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=_worker_env(),
                                    stdout=subprocess.DEVNULL, stderr=errf)
            try:
                rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = None
        started = None
        if out.exists():
            for line in out.read_text().splitlines():
                rec = json.loads(line)
                if "start" in rec:
                    started = rec["start"]
                else:
                    results[rec["result"]["label"]] = CaseResult(**rec["result"])
                    started = None
        todo = [lab for lab in todo if lab not in results]
        if not todo:
            return
        if rc is None:
            for lab in todo:
                results[lab] = CaseResult(lab, outcome="failure",
                                          failures=["not run: the fuzz run's time limit was reached"])
            if started:
                results[started].failures = [f"still running when the time limit hit ({timeout_s} s/case)"]
            return
        if started is None:  # died between cases: setup problem, don't loop forever
            tail = err.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"fuzz worker exited with {rc} outside a case:\n{tail}")
        why = f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit status {rc}"
        tail = err.read_text(errors="replace").strip().splitlines()[-12:]
        results[started] = CaseResult(started, outcome="failure", failures=[
            f"worker process died ({why}) in this case; stderr tail: " + " | ".join(tail)])
        todo = [lab for lab in todo if lab not in results]


def run_isolated(recipes: list[Recipe], *, workers: int = 2, mem_mib: int = 1024,
                 timeout_s: float = 20.0, total_timeout_s: float = 3600.0,
                 work_root: Path | None = None) -> list[CaseResult]:
    """Run ``recipes`` in ``workers`` capped subprocesses; results in recipe order.

    Cases are written under ``work_root`` (default: the system temp dir).
    """
    labels = [r.label for r in recipes]
    results: dict[str, CaseResult] = {}
    deadline = time.monotonic() + total_timeout_s
    with tempfile.TemporaryDirectory(prefix="interval-fuzz-run-") as tmp:
        chunks = [labels[i::workers] for i in range(workers)]
        errors: list[BaseException] = []

        def go(i: int, chunk: list[str]) -> None:
            try:
                _run_chunk(chunk, mem_mib, timeout_s, deadline, results, Path(tmp), f"w{i}", work_root)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                errors.append(exc)

        threads = [threading.Thread(target=go, args=(i, c)) for i, c in enumerate(chunks) if c]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
    return [results[lab] for lab in labels]


def summarize(results: list[CaseResult]) -> str:
    """Counts per outcome and per mutator, then every failure with its replay label."""
    from collections import Counter

    counts = Counter(r.outcome for r in results)
    lines = [f"{len(results)} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))]
    per_mut: dict[str, Counter[str]] = {}
    for r in results:
        per_mut.setdefault(r.label.split("/")[1], Counter())[r.outcome] += 1
    for mut, c in sorted(per_mut.items()):
        lines.append(f"  {mut:20s} " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    for r in results:
        if r.outcome == "failure":
            lines.append(f"FAIL {r.label}  ({r.detail})")
            lines.extend(f"     - {f}" for f in r.failures)
            lines.append(f"     replay: python tests/fuzz/fuzz_long.py --replay {r.label}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fuzz worker (internal)")
    parser.add_argument("--worker", nargs=2, metavar=("RECIPES", "RESULTS"), required=True)
    parser.add_argument("--mem-mib", type=int, default=1024)
    parser.add_argument("--case-timeout", type=float, default=20.0)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    return worker_main(Path(args.worker[0]), Path(args.worker[1]), args.mem_mib, args.case_timeout,
                       args.work)


if __name__ == "__main__":
    sys.exit(main())
