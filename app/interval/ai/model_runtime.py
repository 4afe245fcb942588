"""Whether this installation has the model runtime (PyTorch), checked without importing it.

The viewer-only edition of the bundled app leaves torch out: it opens segmentations,
tracking results and reports made elsewhere, but cannot run a model.  The CLI commands
and the AI dock say so with :data:`NO_MODEL_RUNTIME` instead of an import error.
"""

from __future__ import annotations

import functools
import importlib.machinery

from interval.core.errors import IntervalError

NO_MODEL_RUNTIME = (
    "this edition of Interval has no model runtime (PyTorch); "
    "it can open results made elsewhere"
)


@functools.cache
def model_runtime_available() -> bool:
    """Whether torch can be imported here (looked up on ``sys.path``, not imported, and
    without asking the import hooks of ``sys.meta_path``; cached).  PyInstaller 6's
    frozen importer is a path hook: a bundle without torch answers no here."""
    try:
        return importlib.machinery.PathFinder.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def require_model_runtime() -> None:
    """Raise :class:`IntervalError` with :data:`NO_MODEL_RUNTIME` when torch is missing."""
    if not model_runtime_available():
        raise IntervalError(NO_MODEL_RUNTIME)
