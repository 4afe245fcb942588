"""Errors of the model runtime (model packages, devices, inference), in plain words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interval.core.errors import IntervalError


class InvalidModelPackage(IntervalError):
    """A model package (``model.json`` + weights) is missing, malformed or unsafe.

    ``problems`` lists every finding (one sentence each) so a model author can fix
    them all at once.
    """

    def __init__(
        self, message: str, *, problems: list[str] | None = None, path: str | Path | None = None
    ) -> None:
        super().__init__(message, path=path)
        self.problems = list(problems or [])


class DeviceUnavailable(IntervalError):
    """The compute device asked for (CUDA, MPS, a GPU index) is not available here."""


class InferenceOutOfMemory(IntervalError):
    """The network did not fit in memory even with one window at a time and CPU stitching."""


class InvalidModelOutput(IntervalError):
    """The network's output cannot be turned into labels (not a tensor, NaN or infinite values).

    Raised instead of returning a label map, so that a broken result is never shown as done.
    """


def describe_value(obj: Any) -> str:
    """How a message names an unexpected value: "None", "a list", "a numpy.ndarray"."""
    if obj is None:
        return "None"
    kind = type(obj)
    if kind.__module__ == "builtins":
        return f"a {kind.__qualname__}"
    return f"a {kind.__module__}.{kind.__qualname__}"
