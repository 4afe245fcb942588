"""Errors of the model runtime (model packages, devices, inference), in plain words."""

from __future__ import annotations

from pathlib import Path

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
