"""Compare two report.json files of `interval demo` / `interval track`: same lesions, same
numbers; timings, creation times, host details and absolute paths are ignored.

    python packaging/compare_reports.py A/report.json B/report.json [--rtol 1e-6]

Exit 0 when they agree, 1 with the differences listed (at most 40) otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path, PurePath
from typing import Any

# keys whose values differ from run to run (or machine to machine) by nature; UIDs are
# made afresh by each run
IGNORED_KEY = re.compile(
    r"(^|_)(created|timings?|seconds|elapsed|duration|wall|path|paths|dir|folder|host|"
    r"hostname|platform|python|machine|cpu|threads|device|runtime|pid|uid|at)($|_)", re.IGNORECASE)


_ABS_PATH = re.compile(r"(?:(?<=\s)|^)(?:/|[A-Za-z]:[\\/]|\\\\)\S*")


def _without_folders(value: str) -> str:
    """``value`` with every absolute path in it cut to its last component (e.g. a
    plugin's "bundled: /x/plugins/interval_unet" -> "bundled: interval_unet")."""
    return _ABS_PATH.sub(lambda m: PurePath(m.group(0).replace("\\", "/")).name, value)


def differences(a: Any, b: Any, where: str = "", rtol: float = 1e-6,
                out: list[str] | None = None) -> list[str]:
    """Where ``a`` and ``b`` differ (``"/key/0/key: a != b"``), ignoring :data:`IGNORED_KEY`
    keys; floats agree within ``rtol`` (relative) or 1e-9 (absolute)."""
    out = [] if out is None else out
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if IGNORED_KEY.search(str(key)):
                continue
            if key not in a or key not in b:
                out.append(f"{where}/{key}: only in {'second' if key not in a else 'first'}")
                continue
            differences(a[key], b[key], f"{where}/{key}", rtol, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: {len(a)} items != {len(b)} items")
        for n, (x, y) in enumerate(zip(a, b, strict=False)):
            differences(x, y, f"{where}/{n}", rtol, out)
    elif isinstance(a, bool) or isinstance(b, bool):
        if a is not b:
            out.append(f"{where}: {a!r} != {b!r}")
    elif isinstance(a, int | float) and isinstance(b, int | float):
        if not math.isclose(a, b, rel_tol=rtol, abs_tol=1e-9) and not (
                math.isnan(a) and math.isnan(b)):
            out.append(f"{where}: {a!r} != {b!r}")
    elif isinstance(a, str) and isinstance(b, str):
        if _without_folders(a) != _without_folders(b):
            out.append(f"{where}: {a!r} != {b!r}")
    elif a != b:
        out.append(f"{where}: {a!r} != {b!r}")
    return out


def lesion_ids(report: dict[str, Any]) -> list[str]:
    """The lesion ids of a report (its tracks), sorted."""
    return sorted({str(t.get("lesion_id", "")) for t in report.get("tracks", [])
                   if isinstance(t, dict)} - {""})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--rtol", type=float, default=1e-6)
    args = parser.parse_args(argv)
    a = json.loads(args.first.read_text(encoding="utf-8"))
    b = json.loads(args.second.read_text(encoding="utf-8"))
    found = differences(a, b, rtol=args.rtol)
    print(f"compare: lesions {lesion_ids(a)} / {lesion_ids(b)}")
    if found:
        print(f"compare: {len(found)} difference(s):")
        for line in found[:40]:
            print(f"  {line}")
        return 1
    print("compare: the reports agree (timings, times and paths ignored)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
