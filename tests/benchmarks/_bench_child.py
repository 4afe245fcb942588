"""Run one measurement of a benchmark script in a fresh Python process.

The script is re-run as ``SCRIPT --child MODE FOLDER RESULT_JSON``; the result comes back
through a file (not a pipe, which index worker processes could keep open), and a failed
child gives ``{"error": ...}`` with the last lines of its output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_script_child(script: str | Path, mode: str, folder: Path, timeout: float = 600) -> dict:
    """``script --child mode folder out.json`` in a fresh process (offscreen Qt by default)."""
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    with tempfile.TemporaryDirectory() as tmp:
        result, log = Path(tmp) / "result.json", Path(tmp) / "log.txt"
        with open(log, "w") as fp:
            proc = subprocess.run(
                [sys.executable, str(script), "--child", mode, str(folder), str(result)],
                stdout=fp, stderr=subprocess.STDOUT, cwd=REPO, env=env, timeout=timeout,
            )
        if result.exists():
            return json.loads(result.read_text())
        tail = log.read_text().strip().splitlines()[-6:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
