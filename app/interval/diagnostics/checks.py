"""What the self-test's steps share: their context, a step's result, failing and skipping.

Each step is a function ``step(context) -> str``: it checks what it did and returns one
line saying so, raises :class:`CheckFailed` (its message is the reason the self-test
gives) when a check does not hold, or :class:`StepSkipped` when this installation
cannot run it (the viewer-only edition has no model runtime).  Later steps use what
earlier ones left in the :class:`SelfTestContext`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NO_MODEL_RUNTIME = "this edition has no model runtime"


class CheckFailed(Exception):
    """A check of the self-test did not hold; the message says what was wrong."""


class StepSkipped(Exception):
    """The step cannot run in this installation; the message says why."""


def check(condition: object, message: str) -> None:
    """Raise :class:`CheckFailed` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


@dataclass(frozen=True)
class StepResult:
    """One step of the self-test: its name, whether it passed, how long it took, and
    one line of detail (what was checked, the reason it failed, or why it was skipped)."""

    name: str
    ok: bool
    seconds: float
    detail: str
    skipped: bool = False

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else "ok" if self.ok else "FAILED"

    def line(self) -> str:
        """The step as one line of ``--verbose`` output."""
        detail = f"skipped: {self.detail}" if self.skipped else self.detail
        return f"  {self.status:<7} {self.name:<9} {self.seconds:6.1f} s  {detail}"


@dataclass
class SelfTestContext:
    """The temporary folder and what the steps made so far (None until made)."""

    work: Path
    model_runtime: bool
    patient: Any = None  # interval.io.synthetic.patient.SyntheticPatient (arrays kept)
    pattern: Any = None  # the test pattern's HU array, [k, j, i]
    pattern_dir: Path | None = None
    pattern_stack: Any = None  # its ImageStack, from the index
    scan_stacks: list[Any] = field(default_factory=list)  # the patient's, oldest first
    pattern_volume: Any = None
    scan_volume: Any = None  # the first scan, as loaded
    model_entry: Any = None
    outcome: Any = None  # the tracking run's TrackingOutcome
