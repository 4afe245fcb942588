"""Stand-ins for the DICOM writer's process target (imported in the spawned process)."""

from __future__ import annotations

import os


def crash(arrays, *, progress=None, cancel=None, **kwargs):
    """The process dies without a word (as a native crash would)."""
    os._exit(3)


def claim_everything(arrays, *, jobs, progress=None, cancel=None, **kwargs):
    """Says it wrote every object, and wrote none."""
    return {}, {"results": [{"timepoint": j["timepoint"], "seg": True, "sr": True,
                             "warning": None} for j in jobs]}


def malformed(arrays, *, progress=None, cancel=None, **kwargs):
    """An answer of the wrong shape."""
    return {}, {"results": "all fine"}
