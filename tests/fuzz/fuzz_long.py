"""Long fuzz run of the DICOM indexer and loader (run by hand, not collected by pytest).

    python tests/fuzz/fuzz_long.py --cases 5000 --seed 7
    python tests/fuzz/fuzz_long.py --replay ts_rle/bad_length/123456 [--keep /tmp/case]

A run mutates real files (see ``tests/fuzz/mutators.py``), runs
``index_folder`` + ``load_stack`` on each case in memory-capped worker
processes, prints counts per outcome and per mutator and every failure with
its replay label, and exits 1 when any case failed.  ``--replay`` runs named
cases in this process and prints full tracebacks and what happened to each
file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fuzz.harness import (  # noqa: E402
    BIG_ALLOCATIONS,
    Recipe,
    build_case,
    check_folder,
    fuzz_policy,
    image_files_of,
    install_allocation_guard,
    make_recipes,
    run_isolated,
    summarize,
)


def replay(labels: list[str], keep: Path | None, mem_mib: int) -> int:
    """Run cases in this process with full tracebacks."""
    import tempfile

    install_allocation_guard(mem_mib * 1024 * 1024 // 2)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="interval-fuzz-replay-") as tmp:
        base = keep or Path(tmp)
        for label in labels:
            recipe = Recipe.parse(label)
            case_dir = base / label.replace("/", "_")
            files, detail = build_case(recipe, case_dir)
            t0 = time.perf_counter()
            BIG_ALLOCATIONS.clear()
            res = check_folder(case_dir, files, fuzz_policy(), mem_mib * 1024 * 1024,
                               images=image_files_of(recipe, case_dir), full_tb=True)
            res.failures.extend(f"tried to allocate: {a}" for a in BIG_ALLOCATIONS)
            if BIG_ALLOCATIONS:
                res.outcome = "failure"
            print(f"{label}: {detail}")
            print(f"  outcome: {res.outcome} ({time.perf_counter() - t0:.2f} s)")
            for note in res.notes:
                print(f"  - {note}")
            for failure in res.failures:
                print(f"  FAILURE: {failure}")
            if keep:
                print(f"  files kept in {case_dir}")
            failed += res.outcome == "failure"
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=5000, help="number of cases (default 5000)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--mem-mib", type=int, default=1024,
                        help="address space each worker may add for a case (default 1024)")
    parser.add_argument("--case-timeout", type=float, default=30.0, help="seconds per case (default 30)")
    parser.add_argument("--mutators", nargs="+", metavar="NAME", help="only these mutators")
    parser.add_argument("--seeds", nargs="+", metavar="NAME", help="only these seed files")
    parser.add_argument("--json", type=Path, help="write every case result to this JSON file")
    parser.add_argument("--replay", nargs="+", metavar="LABEL", help="run these cases in-process")
    parser.add_argument("--keep", type=Path, help="with --replay: keep the case files here")
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.keep, args.mem_mib)
    recipes = make_recipes(args.cases, args.seed, mutators=args.mutators, seed_names=args.seeds)
    t0 = time.perf_counter()
    results = run_isolated(recipes, workers=args.workers, mem_mib=args.mem_mib,
                           timeout_s=args.case_timeout, total_timeout_s=24 * 3600)
    elapsed = time.perf_counter() - t0
    print(summarize(results))
    slowest = sorted(results, key=lambda r: -r.seconds)[:5]
    print(f"{len(results)} cases in {elapsed:.1f} s with {args.workers} workers; slowest: "
          + ", ".join(f"{r.label} {r.seconds:.2f} s" for r in slowest))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 1 if any(r.outcome == "failure" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
