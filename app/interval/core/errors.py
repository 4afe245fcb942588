"""Typed, human-readable errors that the UI and the CLI show as they are.

Every error that can come from user data derives from :class:`IntervalError`;
its ``str()`` is a sentence a clinician understands (no tracebacks, no tag
numbers unless they help).  ``path`` names the file or folder concerned when
there is one.
"""

from __future__ import annotations

from pathlib import Path


class IntervalError(Exception):
    """Base class of every error Interval reports to a person."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else Path(path)

    def __str__(self) -> str:
        if self.path is not None:
            return f"{self.path.name}: {self.message}"
        return self.message


class UnreadableFile(IntervalError):
    """A file could not be read or parsed (missing, truncated, corrupt, no permission)."""


class NotAnImage(IntervalError):
    """The object is valid but holds no image to load (SR, RTSTRUCT, presentation state...)."""


class UnsupportedData(IntervalError):
    """The data is readable but uses a feature Interval cannot display (e.g. an unknown codec)."""


class TooLarge(IntervalError):
    """The data claims a size that cannot be held in memory."""


class IrregularGeometry(IntervalError):
    """Slices do not form a regular grid (missing slices, uneven spacing, gantry tilt...).

    ``problems`` lists each finding in words; the caller chooses to refuse,
    load as-is with a warning, or resample (see ``DicomReadPolicy``).
    """

    def __init__(
        self, message: str, *, problems: list[str] | None = None, path: str | Path | None = None
    ) -> None:
        super().__init__(message, path=path)
        self.problems = list(problems or [])


class Cancelled(IntervalError):
    """The user cancelled a long operation."""

    def __init__(self, message: str = "Cancelled by the user.") -> None:
        super().__init__(message)
