"""Whether this installation has the model runtime (PyTorch): the viewer-only edition has not."""

from __future__ import annotations


def model_runtime_available() -> bool:
    """The check the CLI and the AI dock make (:mod:`interval.ai.model_runtime`: torch is
    looked up, not imported); False when even that module is missing from the build."""
    try:
        from interval.ai.model_runtime import model_runtime_available as torch_found
    except ImportError:
        return False
    return torch_found()
