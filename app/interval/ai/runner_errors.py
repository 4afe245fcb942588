"""What can go wrong when a model runs in its own process, in words a clinician understands.

The messages hold for every caller (the viewer, ``interval segment``, scripts): they
say what happened to the model, nothing about the caller.  The viewer adds
:data:`VIEWER_NOTE` with :func:`viewer_text` (the model ran in a separate process, so
the viewer and unsaved work are still there).

:func:`error_from_child` turns the plain-data error report of a model's process into
one of these errors.  It never imports or unpickles anything: an IntervalError the
model raised comes back as the same class only when it is one of Interval's own
(:data:`KNOWN_ERRORS`, looked up by name), otherwise as :class:`ModelRefused`
carrying the model's own words.
"""

from __future__ import annotations

import signal
from typing import Any

from interval.ai.errors import (
    DeviceUnavailable,
    InferenceOutOfMemory,
    InvalidModelOutput,
    InvalidModelPackage,
)
from interval.ai.memory_limit import ENV_VAR, format_size
from interval.core import errors as core_errors
from interval.core.errors import Cancelled, IntervalError

__all__ = [
    "Cancelled",
    "KNOWN_ERRORS",
    "ModelCrashed",
    "ModelError",
    "ModelFailed",
    "ModelMisbehaved",
    "ModelOutOfMemory",
    "ModelRefused",
    "ModelTimedOut",
    "VIEWER_NOTE",
    "error_from_child",
    "viewer_text",
]

VIEWER_NOTE = "The viewer is unaffected."


class ModelError(IntervalError):
    """Base class of the errors of a model run in a child process."""


class ModelCrashed(ModelError):
    """The model's process died: a signal (segfault, abort, kill) or an unexpected exit code."""

    def __init__(self, *, signal_number: int | None = None, exit_code: int | None = None) -> None:
        self.signal_number = signal_number
        self.exit_code = exit_code
        if signal_number is not None:
            what = f"signal {signal_number}, {describe_signal(signal_number)}"
        else:
            what = f"exit code {exit_code}"
        super().__init__(f"The model stopped unexpectedly ({what}).")


class ModelTimedOut(ModelError):
    """The model did not finish in the time allowed and was stopped."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = float(timeout_s)
        super().__init__(f"The model did not finish within {_seconds(timeout_s)} and was stopped.")


class ModelOutOfMemory(ModelError):
    """The model needed more memory than allowed (or than the computer has).

    ``limit_bytes`` is the limit it ran under (None: none).  ``hint`` says how to
    change the limit (the CLI replaces it with its option).
    """

    def __init__(self, detail: str = "", *, limit_bytes: int | None = None) -> None:
        self.limit_bytes = limit_bytes or None
        limit = f" (limit {format_size(limit_bytes)})" if limit_bytes else ""
        text = f"The model ran out of memory{limit} and was stopped."
        if detail:
            text += f" {detail}"
        super().__init__(text)
        self.hint = (
            f"the limit is set by the environment variable {ENV_VAR} (e.g. {ENV_VAR}=16G, or "
            "'none' for no limit); a smaller image or closing other programs also helps"
        )


class ModelFailed(ModelError):
    """The model's code raised an exception; ``type_name`` and ``detail`` say which.

    ``detail`` is None when the exception's text could not be read (its ``__str__``
    failed).
    """

    def __init__(self, type_name: str, detail: str | None) -> None:
        self.type_name = type_name
        self.detail = detail
        if detail is None:
            text = f"The model failed ({type_name}; its message could not be read)."
        else:
            text = f"The model failed: {type_name}: {detail}" if detail else \
                f"The model failed: {type_name}"
            text = text if text.endswith((".", "!", "?")) else text + "."
        super().__init__(text)


class ModelMisbehaved(ModelFailed):
    """The model's process broke the runtime's protocol (an unreadable, oversized or
    unexpected message, results it was not allowed); it was stopped."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        ModelError.__init__(
            self, f"The model's process broke the rules of the model runtime ({reason}) and "
            "was stopped."
        )
        self.type_name = "protocol"
        self.detail = reason


class ModelRefused(ModelError):
    """The model raised an error of its own kind meant for the user (an IntervalError
    subclass defined by the plugin): its message, as plain text."""

    def __init__(self, type_name: str, message: str) -> None:
        self.type_name = type_name
        super().__init__(message or f"The model stopped with {type_name}.")


def viewer_text(exc: BaseException) -> str:
    """``str(exc)`` as the viewer shows it: a model error says the viewer is unaffected."""
    text = str(exc)
    if isinstance(exc, ModelError):
        return f"{text} {VIEWER_NOTE}"
    return text


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# Interval's own error classes a model may raise that come back as themselves (by name).
KNOWN_ERRORS: dict[str, type[IntervalError]] = {
    _name(cls): cls
    for cls in (
        IntervalError, core_errors.UnreadableFile, core_errors.NotAnImage,
        core_errors.UnsupportedData, core_errors.TooLarge, core_errors.IrregularGeometry,
        Cancelled, InvalidModelPackage, InvalidModelOutput, DeviceUnavailable,
        InferenceOutOfMemory,
    )
}


def error_from_child(report: dict[str, Any], limit_bytes: int | None, *,
                     cancelled: bool) -> IntervalError:
    """The error for a checked ``"error"`` message (see :mod:`interval.ai.child_protocol`).

    ``cancelled``: the user had asked the model to stop.
    """
    from interval.ai.child_protocol import MAX_MESSAGE_CHARS, plain_text

    type_name = plain_text(report["type"], 200) or "an exception"
    kind = report["error"]
    if kind == "cancelled":
        return Cancelled()
    message = report["message"]
    if kind == "memory":
        engine_words = report["interval_error"] == _name(InferenceOutOfMemory) and message
        return ModelOutOfMemory(plain_text(message, MAX_MESSAGE_CHARS) if engine_words else "",
                                limit_bytes=limit_bytes)
    if message is None:
        return ModelFailed(type_name, None)
    message = plain_text(message, MAX_MESSAGE_CHARS)
    if report["interval_error"] is not None:
        known = KNOWN_ERRORS.get(report["interval_error"])
        if known is not None:
            return Cancelled() if known is Cancelled else known(message)
        return ModelRefused(type_name, message)
    if cancelled and type_name == "KeyboardInterrupt":
        return Cancelled()
    return ModelFailed(type_name, message)


def describe_signal(number: int) -> str:
    """``11`` -> ``"segmentation fault"`` (the platform's description, lower-case)."""
    try:
        text = signal.strsignal(number)
    except (ValueError, AttributeError):
        text = None
    if not text:
        try:
            return signal.Signals(number).name
        except ValueError:
            return "unknown signal"
    return text[0].lower() + text[1:] if not text[:2].isupper() else text


def _seconds(value: float) -> str:
    if value >= 120:
        return f"{value / 60:.0f} minutes"
    return f"{value:g} s"
