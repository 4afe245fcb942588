"""Plugin discovery off the UI thread, shared by the AI dock and the Plugin Manager.

Discovery reads manifests and ``model.json`` files (no plugin code runs), which takes
from milliseconds to over a second with many plugins or slow disks: it runs on a
:class:`~interval.ui.workers.JobRunner` thread.  ``started`` / ``found(registry)`` /
``failed(text)`` reach the UI thread as queued signals; a second :meth:`start` while one
runs joins it, so the window, the AI dock and the Plugin Manager never scan twice at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from interval.core.errors import IntervalError
from interval.ui.workers import Job, JobRunner

LOOKING_TEXT = "Looking for plugins…"


def _default_discover() -> Any:
    from interval.plugins import discover_plugins  # read at call time: tests replace it

    return discover_plugins()


class PluginDiscovery(QObject):
    """Finds the plugins in the background; keeps the last registry found."""

    started = Signal()
    found = Signal(object)  # a PluginRegistry
    failed = Signal(str)  # a sentence

    def __init__(
        self,
        discover: Callable[[], Any] | None = None,
        parent: QObject | None = None,
        *,
        runner: JobRunner | None = None,
    ) -> None:
        super().__init__(parent)
        self._discover = discover or _default_discover
        self.runner = runner if runner is not None else JobRunner(self, max_threads=1)
        self.registry: Any = None  # the last registry found (None: none yet)
        self.job: Job | None = None  # the last discovery started

    @property
    def looking(self) -> bool:
        """Whether a discovery is under way."""
        return self.job is not None and self.job.state in ("pending", "running")

    def start(self) -> Job | None:
        """Look for plugins in the background (joins a discovery already running);
        None once shut down."""
        if self.runner._closed:
            return None
        if self.looking:
            return self.job
        discover = self._discover
        self.job = self.runner.submit(
            "finding plugins", lambda _ctx: discover(),
            on_done=self._on_found, on_error=self._on_failed,
        )
        self.started.emit()
        return self.job

    def _on_found(self, registry: Any) -> None:
        self.registry = registry
        self.found.emit(registry)

    def _on_failed(self, exc: IntervalError) -> None:
        self.failed.emit(str(exc))

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Stop waiting for a discovery (its result is dropped) and wait for the thread."""
        return self.runner.shutdown(timeout_ms)
