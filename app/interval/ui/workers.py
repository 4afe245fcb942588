"""Background jobs for the viewer: indexing, loading, thumbnails, off the UI thread.

A :class:`Job` runs a function ``fn(ctx)`` on a :class:`QThreadPool`; ``ctx``
carries the ``progress(done, total)`` and ``cancel() -> bool`` callbacks that
``index_folder`` / ``load_stack`` accept, plus ``emit(obj)`` for partial results.
Results, :class:`IntervalError` messages, cancellation and progress reach the UI
thread through Qt signals (queued connections), so the UI never blocks.
:class:`JobProgress` is the status-bar widget (message, progress bar, Cancel).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget
from shiboken6 import isValid

from interval.core.errors import Cancelled, IntervalError, TooLarge
from interval.io.dicom.policy import DEFAULT_POLICY, DicomReadPolicy
from interval.io.dicom.records import DicomIndex, ImageStack
from interval.ui.plain_text import plain_label

log = logging.getLogger(__name__)

_PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress signals a second


class JobSignals(QObject):
    """Signals of one job; they are delivered on the thread that owns this object (UI)."""

    progress = Signal(int, int)
    partial = Signal(object)
    finished = Signal(object)
    failed = Signal(object)  # an IntervalError
    cancelled = Signal()
    ended = Signal()  # after any of finished / failed / cancelled


@dataclass
class JobContext:
    """What a job function gets: progress, cancel and partial-result callbacks."""

    job: Job

    def progress(self, done: int, total: int) -> None:
        self.job._report(done, total)

    def cancelled(self) -> bool:
        return self.job.is_cancelled()

    def emit(self, obj: object) -> None:
        self.job.signals.partial.emit(obj)


class Job(QRunnable):
    """One background task; ``cancel()`` asks the function to stop at its next check."""

    def __init__(self, name: str, fn: Callable[[JobContext], Any]) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the JobRunner keeps the Python object alive
        self.name = name
        self.fn = fn
        self.signals = JobSignals()
        self._cancel = threading.Event()
        self._last_report = 0.0
        self.done = threading.Event()
        self.state = "pending"  # -> running -> finished | failed | cancelled

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _report(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_report >= _PROGRESS_INTERVAL_S:
            self._last_report = now
            self.signals.progress.emit(int(done), int(total))

    def run(self) -> None:  # runs on a pool thread
        self.state = "running"
        try:
            if self.is_cancelled():
                raise Cancelled()
            result = self.fn(JobContext(self))
            if self.is_cancelled():
                raise Cancelled()
        except Cancelled:
            self.state = "cancelled"
            self.signals.cancelled.emit()
        except IntervalError as exc:
            self.state = "failed"
            self.signals.failed.emit(exc)
        except MemoryError:
            self.state = "failed"
            self.signals.failed.emit(TooLarge("There is not enough memory to open this."))
        except Exception as exc:  # noqa: BLE001 - a bug must not take the viewer down
            log.exception("background job %r failed", self.name)
            self.state = "failed"
            self.signals.failed.emit(
                IntervalError(f"Unexpected error while {self.name}: {type(exc).__name__}: {exc}")
            )
        else:
            self.state = "finished"
            self.signals.finished.emit(result)
        finally:
            # PySide keeps a QRunnable handed to QThreadPool.start alive: drop what the
            # function captured (volumes...) so it can be freed now
            self.fn = None
            self.done.set()
            self.signals.ended.emit()


class JobRunner(QObject):
    """Starts jobs on its own thread pool and keeps them alive until they end."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._jobs: set[Job] = set()
        self._closed = False

    def _guard(self, callback: Callable[..., None]) -> Callable[..., None]:
        """``callback`` unless the runner was shut down (its window may be gone)."""

        def call(*args: object) -> None:
            if not self._closed and isValid(self):
                callback(*args)

        return call

    def submit(
        self,
        name: str,
        fn: Callable[[JobContext], Any],
        *,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[IntervalError], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        progress_widget: JobProgress | None = None,
        text: str = "",
    ) -> Job:
        """Run ``fn`` in the background; the callbacks run on the UI thread (never after
        :meth:`shutdown`).  ``progress_widget`` shows its progress (with ``text``)."""
        job = Job(name, fn)
        if on_done is not None:
            job.signals.finished.connect(self._guard(on_done))
        if on_error is not None:
            job.signals.failed.connect(self._guard(on_error))
        if on_cancel is not None:
            job.signals.cancelled.connect(self._guard(on_cancel))
        if on_partial is not None:
            job.signals.partial.connect(self._guard(on_partial))
        if on_progress is not None:
            job.signals.progress.connect(self._guard(on_progress))
        ref = weakref.ref(job)  # no cycle job -> signals -> lambda -> job
        job.signals.ended.connect(lambda: self._jobs.discard(ref()))
        if progress_widget is not None:  # connected before the job can report anything
            progress_widget.track(job, text or f"{name.capitalize()}…")
        self._jobs.add(job)
        self.pool.start(job)
        return job

    @property
    def jobs(self) -> tuple[Job, ...]:
        return tuple(self._jobs)

    def cancel_all(self) -> None:
        for job in list(self._jobs):
            job.cancel()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel every job and wait for the threads; True when all stopped in time.

        Results still on their way to the UI thread are dropped afterwards.
        """
        self._closed = True
        self.cancel_all()
        return bool(self.pool.waitForDone(timeout_ms))


class JobProgress(QWidget):
    """Status-bar widget: what runs, a progress bar and a Cancel button for one job."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = plain_label("")  # file and series names
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(220)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelJob")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self._cancel)
        self.job: Job | None = None
        self.setVisible(False)

    def track(self, job: Job, text: str) -> None:
        """Show ``job``'s progress until it ends."""
        self.job = job
        self.label.setText(text)
        self.bar.setRange(0, 0)  # busy until the first report
        self.cancel_button.setEnabled(True)
        job.signals.progress.connect(lambda d, t: isValid(self) and self._progress(d, t))
        ref = weakref.ref(job)
        job.signals.ended.connect(lambda: isValid(self) and self._ended(ref()))
        self.setVisible(True)

    def _progress(self, done: int, total: int) -> None:
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))

    def _cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def _ended(self, job: Job) -> None:
        if job is self.job:
            self.job = None
            self.setVisible(False)


# --- the viewer's jobs (plain functions of a JobContext) -------------------------------------


@dataclass
class IndexResult:
    """An index plus the geometry problems found in each stack (stack uid -> problems)."""

    index: DicomIndex
    irregular: dict[str, list[str]] = field(default_factory=dict)
    unloadable: dict[str, str] = field(default_factory=dict)


def index_job(path: str | Path, policy: DicomReadPolicy = DEFAULT_POLICY, *, siblings: bool = False):
    """A job function indexing ``path`` (folder or DICOM file) and surveying geometry.

    ``siblings``: a single file is indexed with the other files of its folder.
    """

    def run(ctx: JobContext) -> IndexResult:
        from interval.io import open_path

        index = open_path.index_path(
            path, policy, progress=ctx.progress, cancel=ctx.cancelled, siblings=siblings
        )
        result = IndexResult(index)
        survey_geometry(result, policy, ctx.cancelled)
        return result

    return run


def survey_geometry(result: IndexResult, policy: DicomReadPolicy, cancel=None) -> None:
    """Find stacks whose slices are irregular (headers only, no pixels)."""
    from interval.io.dicom.geometry import analyse_stack
    from interval.io.dicom.load import frame_infos
    from interval.io.dicom.mosaic import is_mosaic
    from interval.io.dicom.time_frames import is_time_stack

    for stack in result.index.iter_stacks():
        if cancel is not None and cancel():
            raise Cancelled()
        if stack.n_frames < 2 or any(is_mosaic(f.header) for f in stack.frames[:1]):
            continue
        try:
            infos = frame_infos(list(stack.frames))
            if is_time_stack(stack.frames, infos):
                continue  # frames in time (a clip, one position): loaded as a 2-D sequence
            geom = analyse_stack(
                infos,
                spacing_tolerance=policy.spacing_tolerance,
                spacing_tolerance_mm=policy.spacing_tolerance_mm,
            )
        except IntervalError as exc:
            result.unloadable[stack.uid] = str(exc)
            continue
        except Exception:  # noqa: BLE001 - the loader will say what is wrong
            continue
        if geom.problems:
            result.irregular[stack.uid] = list(geom.problems)


@dataclass(frozen=True)
class PartialVolume:
    """A volume still being loaded: ``filled[k]`` is True for slices with final values.

    ``volume`` is the object the finished job returns (same array), so the UI can
    show it at once and only refresh it as more slices arrive.
    """

    volume: Any  # interval.core.volume.Volume (not imported here: keeps start-up light)
    filled: np.ndarray

    @property
    def complete(self) -> bool:
        return bool(self.filled.all())


def load_stack_job(
    stack: ImageStack, policy: DicomReadPolicy = DEFAULT_POLICY, *, progressive: bool = True
):
    """A job function loading one stack into a Volume.

    ``progressive``: the volume is emitted (``ctx.emit``) as a :class:`PartialVolume`
    as soon as its middle slice is read, then again each time the loader reports more
    slices (at most ~20 a second plus one per 8 files read; never dropped, so a stalled
    read still shows everything read so far; the UI redraws at its own pace);
    stacks the loader cannot fill progressively (mosaics, resampled) emit nothing.
    """

    def run(ctx: JobContext):
        from interval.io.dicom import load

        loader = load.load_stack
        options: dict[str, Any] = {}
        if progressive and _accepts(loader, "on_partial"):
            options["on_partial"] = _emit_partial(ctx)
        return loader(stack, policy, progress=ctx.progress, cancel=ctx.cancelled, **options)

    return run


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes the keyword ``name`` (a replaced loader may not)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _emit_partial(ctx: JobContext) -> Callable[[Any, np.ndarray], None]:
    """``on_partial`` for load_stack: each report goes to the UI thread as a PartialVolume."""

    def on_partial(volume: Any, filled: np.ndarray) -> None:
        ctx.emit(PartialVolume(volume, filled))

    return on_partial


def read_image_job(path: str | Path):
    """A job function reading a NIfTI/NRRD/MHA file into a Volume."""

    def run(ctx: JobContext):
        from interval.io.image_files import read_image

        ctx.progress(0, 1)
        volume = read_image(path)
        ctx.progress(1, 1)
        return volume

    return run


THUMB_SIZE = 64


@dataclass(frozen=True)
class Thumbnail:
    """A small picture of a stack's middle slice (``pixels``: (h, w) uint8 grey, or
    (h, w, 3) uint8 RGB for a colour image)."""

    key: str
    pixels: np.ndarray


def thumbnails_job(stacks: list[tuple[str, ImageStack]], size: int = THUMB_SIZE):
    """A job function emitting one :class:`Thumbnail` per stack (middle frame), as it goes."""

    def run(ctx: JobContext) -> int:
        made = 0
        for n, (key, stack) in enumerate(stacks):
            if ctx.cancelled():
                raise Cancelled()
            try:
                pixels = middle_slice_thumbnail(stack, size)
            except Exception:  # noqa: BLE001 - no thumbnail is fine; loading will explain
                pixels = None
            if pixels is not None:
                ctx.emit(Thumbnail(key, pixels))
                made += 1
            ctx.progress(n + 1, len(stacks))
        return made

    return run


def middle_slice_thumbnail(stack: ImageStack, size: int = THUMB_SIZE) -> np.ndarray | None:
    """The middle frame of ``stack`` shrunk to at most ``size`` px: ``(h, w)`` uint8 grey,
    windowed, or ``(h, w, 3)`` uint8 RGB for a colour image (RGB, YBR and palette images
    are RGB once read), shown as it is."""
    from interval.core.window_presets import apply_window
    from interval.io.dicom.pixels import read_pixels

    if not stack.frames:
        return None
    # middle along the slice order: sort by instance number when known
    frames = sorted(stack.frames, key=lambda f: (f.header.instance_number or 0, f.frame))
    ref = frames[len(frames) // 2]
    image = read_pixels([ref])[0]
    step = max(1, int(np.ceil(max(image.shape[:2]) / size)))
    if image.ndim == 3:  # colour: no window, the picture as it is
        return np.ascontiguousarray(image[::step, ::step, :3], dtype=np.uint8)
    small = np.asarray(image[::step, ::step], dtype=np.float32)
    info = ref.info
    mono1 = ref.header.photometric_interpretation.upper() == "MONOCHROME1"
    if not mono1 and info.window_center is not None and info.window_width and info.window_width > 0:
        center, width = info.window_center, info.window_width
    else:
        finite = small[np.isfinite(small)]
        if finite.size == 0:
            return None
        lo, hi = np.percentile(finite, (1, 99))
        center, width = (lo + hi) / 2, max(hi - lo, 1.0)
    # (MONOCHROME1 values are already inverted by read_pixels: percentiles fit them)
    grey = apply_window(small, center, width)
    return np.ascontiguousarray(grey, dtype=np.uint8)
