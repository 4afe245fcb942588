"""What can go wrong when a model runs in its own process, in words a clinician understands.

Every message ends by saying the viewer is unaffected: the model ran in a child
process, so whatever it did, the viewer (and unsaved work) is still there.
"""

from __future__ import annotations

import signal

from interval.core.errors import Cancelled, IntervalError

__all__ = [
    "Cancelled",
    "ModelCrashed",
    "ModelError",
    "ModelFailed",
    "ModelOutOfMemory",
    "ModelTimedOut",
]

UNAFFECTED = "The viewer is unaffected."


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
        super().__init__(f"The model stopped unexpectedly ({what}). {UNAFFECTED}")


class ModelTimedOut(ModelError):
    """The model did not finish in the time allowed and was stopped."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = float(timeout_s)
        super().__init__(
            f"The model did not finish within {_seconds(timeout_s)} and was stopped. {UNAFFECTED}"
        )


class ModelOutOfMemory(ModelError):
    """The model needed more memory than allowed (or than the computer has)."""

    def __init__(self, detail: str = "", *, limit_bytes: int | None = None) -> None:
        self.limit_bytes = limit_bytes
        limit = f" (limit {_size(limit_bytes)})" if limit_bytes else ""
        text = f"The model ran out of memory{limit} and was stopped. {UNAFFECTED}"
        if detail:
            text += f" {detail}"
        super().__init__(text)


class ModelFailed(ModelError):
    """The model's code raised an exception; ``type_name`` and ``detail`` say which."""

    def __init__(self, type_name: str, detail: str) -> None:
        self.type_name = type_name
        self.detail = detail
        text = f"{type_name}: {detail}" if detail else type_name
        super().__init__(f"The model failed: {text}. {UNAFFECTED}")


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


def _size(nbytes: int) -> str:
    if nbytes >= 2**30:
        return f"{nbytes / 2**30:.1f} GiB"
    return f"{nbytes / 2**20:.0f} MiB"
