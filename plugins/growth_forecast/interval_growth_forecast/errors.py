"""Errors of the growth-forecast plugin (readable sentences, IntervalError subclasses)."""

from __future__ import annotations

from interval.core.errors import IntervalError


class MeasurementTableError(IntervalError):
    """A measurement table (CSV) cannot be used; the message says why."""


class ModelFilesError(IntervalError):
    """The forecast model's weight or configuration files are missing or invalid."""
