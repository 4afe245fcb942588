"""``interval --self-test``: run the steps in order, stop at the first failure, summarise.

Everything happens in a temporary folder that is removed afterwards; nothing goes over
the network.  :func:`run_self_test` returns a :class:`SelfTestRun` whose
:meth:`~SelfTestRun.summary` is the one line the command prints, e.g.
``Interval self-test passed: 7 checks in 21.4 s (generate, index, load, render, model,
tracking, report)`` or ``Interval self-test FAILED at render: <reason>``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from interval.core.errors import Cancelled, IntervalError
from interval.diagnostics import runtime
from interval.diagnostics.checks import (
    CheckFailed,
    SelfTestContext,
    StepResult,
    StepSkipped,
)
from interval.diagnostics.data_steps import step_generate, step_index, step_load
from interval.diagnostics.model_steps import step_model, step_report, step_tracking
from interval.diagnostics.render_step import step_render

log = logging.getLogger(__name__)

Step = Callable[[SelfTestContext], str]
STEPS: tuple[tuple[str, Step], ...] = (
    ("generate", step_generate),
    ("index", step_index),
    ("load", step_load),
    ("render", step_render),
    ("model", step_model),
    ("tracking", step_tracking),
    ("report", step_report),
)


@dataclass(frozen=True)
class SelfTestRun:
    """The steps that ran (up to the first failure) and the total time."""

    steps: list[StepResult]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def failed(self) -> StepResult | None:
        return next((s for s in self.steps if not s.ok), None)

    def summary(self) -> str:
        """The one line ``interval --self-test`` prints."""
        failed = self.failed
        if failed is not None:
            return f"Interval self-test FAILED at {failed.name}: {failed.detail}"
        passed = [s.name for s in self.steps if not s.skipped]
        line = (f"Interval self-test passed: {len(passed)} checks in {self.seconds:.1f} s "
                f"({', '.join(passed)})")
        skipped = [s for s in self.steps if s.skipped]
        if skipped:
            line += "; " + "; ".join(f"{s.name} skipped: {s.detail}" for s in skipped)
        return line


def run_step(name: str, step: Step, ctx: SelfTestContext) -> StepResult:
    """Run one step and time it; every way it can end becomes a :class:`StepResult`
    (Ctrl-C and cancellation still stop the self-test)."""
    t0 = time.perf_counter()
    ok, skipped = True, False
    try:
        detail = step(ctx)
    except (KeyboardInterrupt, Cancelled):
        raise
    except StepSkipped as exc:
        detail, skipped = str(exc), True
    except CheckFailed as exc:
        detail, ok = str(exc), False
    except IntervalError as exc:
        detail, ok = str(exc), False
        log.debug("self-test step %s", name, exc_info=True)
    except Exception as exc:  # noqa: BLE001 - the self-test reports every failure as a result
        detail, ok = f"{type(exc).__name__}: {exc}", False
        log.debug("self-test step %s", name, exc_info=True)
    return StepResult(name, ok, time.perf_counter() - t0, detail, skipped)


def run_self_test(*, echo: Callable[[str], None] | None = None,
                  steps: Sequence[tuple[str, Step]] = STEPS) -> SelfTestRun:
    """Run ``steps`` in a temporary folder until one fails; ``echo`` gets each step's line
    as it ends (``--verbose``)."""
    t0 = time.perf_counter()
    results: list[StepResult] = []
    with tempfile.TemporaryDirectory(prefix="interval-self-test-",
                                     ignore_cleanup_errors=True) as tmp:
        ctx = SelfTestContext(Path(tmp), runtime.model_runtime_available())
        for name, step in steps:
            result = run_step(name, step, ctx)
            results.append(result)
            if echo is not None:
                echo(result.line())
            if not result.ok:
                break
        ctx.patient = ctx.outcome = ctx.scan_volume = ctx.pattern_volume = None
    return SelfTestRun(results, time.perf_counter() - t0)
