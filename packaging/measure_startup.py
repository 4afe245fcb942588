"""Time from starting `interval view` until its window is up and idle (Linux, a proxy).

    python packaging/measure_startup.py [--runs N] -- COMMAND...

e.g. ``-- dist/interval-viewer-only/interval view`` or ``-- .venv/bin/interval view``.
Qt offscreen (``QT_QPA_PLATFORM=offscreen``) gives no outside sign that the window is
shown, so this measures when the process's CPU time stops growing for ``--quiet`` seconds
(the event loop is idle: the window has been built and shown), minus that quiet time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def measure(cmd: list[str], quiet: float = 0.6, limit: float = 120.0) -> float:
    """Seconds until the process ``cmd`` goes idle (``quiet`` seconds without CPU)."""
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        last, last_change = -1, start
        while time.monotonic() - start < limit:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}")
            ticks = _cpu_ticks(proc.pid)
            now = time.monotonic()
            if ticks != last:
                last, last_change = ticks, now
            elif now - last_change >= quiet and ticks > 0:
                return last_change - start
            time.sleep(0.02)
        raise RuntimeError("did not go idle")
    finally:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=0.6)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    times = [measure(cmd, args.quiet) for _ in range(args.runs)]
    print(f"start-up to idle window: median {statistics.median(times):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)})  {' '.join(cmd)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
