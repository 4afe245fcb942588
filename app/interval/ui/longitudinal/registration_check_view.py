"""The registration check view of the longitudinal workspace: is the follow-up aligned?

:class:`RegistrationCheckView` shows one follow-up resampled onto the baseline's grid with
the registration in use (:mod:`interval.longitudinal.registration_check`), on one axial
slice of the baseline (or a slab of them), as

* **Fused**: baseline green, follow-up magenta (grey where they agree); the balance slider
  dims one or the other;
* **Blend**: an alpha blend in grey (the slider is the follow-up's share);
* **Checkerboard**: tiles alternating the two scans (tile size in baseline pixels),

with the registration's method, verdict, metric and body overlap as plain text.  The slice
follows the workspace's current point (:meth:`set_point`, given in any timepoint's LPS and
mapped to the baseline).

"Re-run registration…" offers rigid / affine / deformable: the registration runs on a
worker thread with progress and Cancel; a result that did not fail replaces the one in use
(:mod:`interval.longitudinal.registration_rerun`: the transform saved atomically where the
pipeline keeps it, the old one as ``.bak``), the workspace maps points with it at once
and :attr:`registrationChanged` is emitted.  Then the matching and RECIST are made again
with it (:func:`~interval.longitudinal.retrack.retrack`: the pipeline run again into the
same folder, everything but matching, RECIST and the reports reused) on a worker thread
with progress and Cancel, and :attr:`retracked` carries the new
:class:`~interval.longitudinal.retrack.RetrackResult`: the window opens the folder again.
"Update matching and RECIST" does the same on demand; it is enabled while the
registrations in use differ from those the report was made with (a re-run saved earlier,
or an update cancelled).  Scans are read on a worker thread
(:class:`~interval.ui.longitudinal.timepoint_images.ScanLoader`), or taken from
``volume_source`` (e.g. the side-by-side views) when it already holds them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from interval.core.errors import IntervalError
from interval.core.volume import Volume
from interval.longitudinal import registration_check as rc
from interval.longitudinal import registration_rerun as rr
from interval.longitudinal import retrack as rt
from interval.longitudinal.model import RegistrationResult
from interval.longitudinal.registration import METHODS
from interval.longitudinal.workspace import LongitudinalWorkspace
from interval.ui.longitudinal.timepoint_images import ScanLoader, timepoint_label
from interval.ui.plain_text import plain_label
from interval.ui.workers import Job, JobProgress, JobRunner

MODE_TITLES = {"fused": "Fused (green / magenta)", "blend": "Blend",
               "checkerboard": "Checkerboard"}
VolumeSource = Callable[[int], Volume | None]


class CheckImage(QWidget):
    """Paints an RGB array centred, scaled to fit with square millimetres."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._image: QImage | None = None
        self._aspect = 1.0  # height / width in mm

    def set_rgb(self, rgb: np.ndarray | None, pixel_mm: tuple[float, float] = (1.0, 1.0)
                ) -> None:
        if rgb is None:
            self._image = None
        else:
            data = np.ascontiguousarray(rgb, dtype=np.uint8)
            h, w = data.shape[:2]
            self._image = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            self._aspect = (h * pixel_mm[1]) / max(w * pixel_mm[0], 1e-6)
        self.update()

    def image_rect(self) -> QRectF:
        """Where the image is drawn in this widget."""
        w, h = float(self.width()), float(self.height())
        if w * self._aspect <= h:
            dw, dh = w, w * self._aspect
        else:
            dw, dh = h / self._aspect, h
        return QRectF((w - dw) / 2.0, (h - dh) / 2.0, dw, dh)

    def paintEvent(self, _event: object) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        if self._image is not None:
            painter.drawImage(self.image_rect(), self._image)
        painter.end()


class RegistrationCheckView(QWidget):
    """Fused / blend / checkerboard of baseline and one follow-up (see the module doc)."""

    registrationChanged = Signal(int)  # noqa: N815 - the timepoint whose registration changed
    retracked = Signal(object)  # a RetrackResult: report.json was made again, reload it
    shown = Signal()  # a new picture is on screen

    def __init__(self, workspace: LongitudinalWorkspace, parent: QWidget | None = None, *,
                 volume_source: VolumeSource | None = None,
                 loader: ScanLoader | None = None, retrack_after_rerun: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("registrationCheckView")
        self.workspace = workspace
        report = workspace.report
        self.baseline = min(tp.index for tp in report.timeline.timepoints)
        self._loader = loader or ScanLoader(report, workspace.out_dir)
        self._volume_source = volume_source
        self.runner = JobRunner(self, max_threads=1)
        self.retrack_runner = JobRunner(self, max_threads=1)  # the scans load meanwhile
        self.retrack_after_rerun = retrack_after_rerun
        self.load_job: Job | None = None
        self.rerun_job: Job | None = None
        self.prepare_job: Job | None = None
        self.retrack_job: Job | None = None
        self.last_retrack: rt.RetrackResult | None = None
        self._volumes: dict[int, Volume] = {}
        self._moving: dict[int, Any] = {}  # timepoint -> its SimpleITK image, made once
        self._transforms: dict[int, tuple[Any, str]] = {}  # timepoint -> (transform, note)
        self._made_with = list(report.registrations)  # those the report's matching used
        self._registrations, warnings = rr.registrations_in_use(report, workspace.out_dir)
        self._window = None
        self._pending_point: tuple[Sequence[float], int | None] | None = None
        self.pair: rc.CheckPair | None = None
        self.rgb: np.ndarray | None = None
        self._build()
        follow_ups = [tp.index for tp in report.timeline.timepoints if tp.index != self.baseline]
        for t in follow_ups:
            self.follow_combo.addItem(timepoint_label(report, t), t)
        self.follow_combo.currentIndexChanged.connect(lambda _i: self._follow_changed())
        if warnings:
            self.note.setText(" ".join(warnings))
        if follow_ups:
            self._follow_changed()
        else:
            self.note.setText("The patient has one timepoint: there is nothing to register.")
            self.rerun_button.setEnabled(False)
        self._sync_buttons()

    # --- building -----------------------------------------------------------------------------
    def _build(self) -> None:
        self.follow_combo = QComboBox(self)
        self.follow_combo.setObjectName("checkFollowUp")
        self.mode_combo = QComboBox(self)
        self.mode_combo.setObjectName("checkMode")
        for mode in rc.MODES:
            self.mode_combo.addItem(MODE_TITLES[mode], mode)
        self.blend_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.blend_slider.setObjectName("checkBlend")
        self.blend_slider.setRange(0, 100)
        self.blend_slider.setValue(50)
        self.tile_spin = QSpinBox(self)
        self.tile_spin.setObjectName("checkTile")
        self.tile_spin.setRange(2, 256)
        self.tile_spin.setValue(16)
        self.tile_spin.setSuffix(" px")
        self.slab_spin = QSpinBox(self)
        self.slab_spin.setObjectName("checkSlab")
        self.slab_spin.setRange(1, 50)
        self.slab_spin.setSuffix(" slices")
        self.slice_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slice_slider.setObjectName("checkSlice")
        self.slice_slider.setEnabled(False)
        self.slice_label = plain_label("", self)
        self.image = CheckImage(self)
        self.verdict = plain_label("", self)
        self.verdict.setObjectName("checkVerdict")
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note = plain_label("", self)
        self.note.setObjectName("checkNote")
        self.note.setWordWrap(True)
        self.rerun_button = QPushButton("Re-run registration…", self)
        self.rerun_button.setObjectName("rerunRegistration")
        menu = QMenu(self.rerun_button)
        for method in METHODS:
            action = menu.addAction(method.capitalize())
            action.setObjectName(f"rerun_{method}")
            action.triggered.connect(lambda _=False, m=method: self.rerun(m))
        self.rerun_button.setMenu(menu)
        self.rerun_menu = menu
        self.retrack_button = QPushButton("Update matching and RECIST", self)
        self.retrack_button.setObjectName("retrackButton")
        self.retrack_button.setToolTip("Match the lesions across time and assess RECIST again "
                                       "with the registrations in use (your re-runs)")
        self.retrack_button.clicked.connect(lambda _=False: self.retrack())
        self.progress = JobProgress(self)
        self.retrack_progress = JobProgress(self)

        grid = QGridLayout()
        grid.addWidget(QLabel("Follow-up", self), 0, 0)
        grid.addWidget(self.follow_combo, 0, 1)
        grid.addWidget(QLabel("View", self), 0, 2)
        grid.addWidget(self.mode_combo, 0, 3)
        grid.addWidget(QLabel("Balance", self), 1, 0)
        grid.addWidget(self.blend_slider, 1, 1)
        grid.addWidget(QLabel("Tiles", self), 1, 2)
        grid.addWidget(self.tile_spin, 1, 3)
        grid.addWidget(QLabel("Slab", self), 2, 2)
        grid.addWidget(self.slab_spin, 2, 3)
        grid.addWidget(self.slice_label, 2, 0)
        grid.addWidget(self.slice_slider, 2, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.rerun_button)
        buttons.addWidget(self.progress, 1)
        update = QHBoxLayout()
        update.addWidget(self.retrack_button)
        update.addWidget(self.retrack_progress, 1)
        box = QVBoxLayout(self)
        box.addLayout(grid)
        box.addWidget(self.image, 1)
        box.addWidget(self.verdict)
        box.addWidget(self.note)
        box.addLayout(buttons)
        box.addLayout(update)

        self.mode_combo.currentIndexChanged.connect(lambda _i: self._mode_changed())
        for signal in (self.blend_slider.valueChanged, self.tile_spin.valueChanged):
            signal.connect(lambda _v: self.render())
        self.slab_spin.valueChanged.connect(lambda _v: self.update_pair())
        self.slice_slider.valueChanged.connect(lambda _v: self.update_pair())
        self._mode_changed()

    # --- state --------------------------------------------------------------------------------
    @property
    def follow_up(self) -> int | None:
        data = self.follow_combo.currentData()
        return None if data is None else int(data)

    @property
    def mode(self) -> str:
        return str(self.mode_combo.currentData())

    def set_follow_up(self, timepoint: int) -> None:
        i = self.follow_combo.findData(int(timepoint))
        if i >= 0:
            self.follow_combo.setCurrentIndex(i)

    def set_mode(self, mode: str) -> None:
        i = self.mode_combo.findData(mode)
        if i < 0:
            raise ValueError(f"unknown view {mode!r}")
        self.mode_combo.setCurrentIndex(i)

    def registration(self, timepoint: int | None = None) -> RegistrationResult | None:
        """The registration in use for ``timepoint`` (default: the follow-up shown)."""
        t = self.follow_up if timepoint is None else timepoint
        return next((r for r in self._registrations if r.timepoint == t), None)

    def verdict_text(self) -> str:
        return self.verdict.text()

    @property
    def loaded(self) -> bool:
        t = self.follow_up
        return t is not None and self.baseline in self._volumes and t in self._volumes

    # --- loading ------------------------------------------------------------------------------
    def _follow_changed(self) -> None:
        self._show_verdict()
        self._load_missing()

    def _volume(self, t: int) -> Volume | None:
        if t in self._volumes:
            return self._volumes[t]
        if self._volume_source is not None:
            try:
                v = self._volume_source(t)
            except (IntervalError, AttributeError, RuntimeError):
                v = None
            if v is not None:
                self._volumes[t] = v
                return v
        return None

    def _load_missing(self) -> None:
        t = self.follow_up
        if t is None:
            return
        missing = [x for x in (self.baseline, t) if self._volume(x) is None]
        if not missing:
            self._volumes_ready()
            return
        if self.load_job is not None:
            self.load_job.cancel()
        loader = self._loader

        def run(ctx) -> dict[int, Volume]:  # noqa: ANN001 - a JobContext, on a worker thread
            return {x: loader.load(x, progress=ctx.progress, cancel=ctx.cancelled).volume
                    for x in missing}

        self.note.setText("Loading the scans…")
        self.image.set_rgb(None)
        job = self.runner.submit("loading the scans", run, on_done=self._loaded,
                                 on_error=self._load_failed, on_cancel=lambda: None,
                                 progress_widget=self.progress, text="Loading the scans…")
        self.load_job = job

    def _loaded(self, volumes: dict[int, Volume]) -> None:
        self.load_job = None
        self._volumes.update(volumes)
        self.note.setText("")
        if self.loaded:
            self._volumes_ready()
        else:
            self._load_missing()  # the reader chose another follow-up meanwhile

    def _load_failed(self, exc: IntervalError) -> None:
        self.load_job = None
        self.note.setText(f"The scans cannot be shown: {exc}")

    def _volumes_ready(self) -> None:
        base = self._volumes[self.baseline]
        if self._window is None:
            self._window = rc.default_window(base)
        n = base.shape[0]
        self.slice_slider.blockSignals(True)
        self.slice_slider.setRange(0, n - 1)
        if not self.slice_slider.isEnabled():
            self.slice_slider.setValue(n // 2)
        self.slice_slider.setEnabled(True)
        self.slice_slider.blockSignals(False)
        if self._pending_point is not None:
            point, t = self._pending_point
            self._pending_point = None
            self.set_point(point, t)
            return
        self.update_pair()

    def wait_loaded(self, timeout_s: float = 60.0) -> bool:
        """Process events until the scans of the follow-up shown are in (tests, demo)."""
        import time  # noqa: PLC0415

        from PySide6.QtWidgets import QApplication  # noqa: PLC0415

        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            QApplication.processEvents()
            if (self.loaded and self.load_job is None and self.prepare_job is None
                    and self.pair is not None and self.follow_up in self._moving):
                return True
            if self.load_job is None and not self.loaded and self.note.text():
                return False
            time.sleep(0.01)
        return False

    # --- the picture --------------------------------------------------------------------------
    def set_point(self, point_lps: Sequence[float], timepoint: int | None = None) -> None:
        """Show the baseline slice of ``point_lps`` (LPS of ``timepoint``; default the
        baseline).  Kept for later while the baseline is loading."""
        base = self._volumes.get(self.baseline)
        if base is None:
            self._pending_point = (tuple(float(v) for v in point_lps), timepoint)
            return
        try:
            p = (point_lps if timepoint in (None, self.baseline)
                 else self.workspace.point_in(self.baseline, point_lps,
                                              from_timepoint=timepoint))
        except IntervalError as exc:
            self.note.setText(str(exc))
            return
        k = int(np.clip(np.rint(base.lps_to_index(np.asarray(p, dtype=np.float64))[2]),
                        0, base.shape[0] - 1))
        if k == self.slice_slider.value():
            if self.pair is None or self.pair.k != k:
                self.update_pair()
            return
        self.slice_slider.setValue(k)  # -> update_pair

    def update_pair(self) -> None:
        """Resample the follow-up on the current baseline slice (slab) and show it."""
        t = self.follow_up
        if t is None or not self.loaded:
            return
        base, follow = self._volumes[self.baseline], self._volumes[t]
        if t not in self._moving:
            self._prepare_moving(t, follow)
            return
        transform, note = self._transform(t)
        k = self.slice_slider.value()
        self.pair = rc.resample_pair(base, self._moving[t], transform, k,
                                     self.slab_spin.value())
        last = self.pair.k + self.pair.thickness
        self.slice_label.setText(f"Slice {k + 1}/{base.shape[0]}" if self.pair.thickness == 1
                                 else f"Slices {k + 1}-{last}/{base.shape[0]}")
        self.note.setText(note)
        self.render()

    def _prepare_moving(self, t: int, follow: Volume) -> None:
        """Convert the follow-up for resampling on a worker (a large CT takes ~0.3 s)."""
        if self.prepare_job is not None:
            return

        def ready(image: Any) -> None:
            self.prepare_job = None
            self._moving = {t: image}  # one follow-up's copy at a time
            self.update_pair()

        def ended(*_args: Any) -> None:
            self.prepare_job = None

        self.prepare_job = self.runner.submit(
            "preparing the follow-up", lambda _ctx: rc.moving_image(follow), on_done=ready,
            on_error=lambda exc: (ended(), self.note.setText(str(exc))), on_cancel=ended)

    def _transform(self, t: int) -> tuple[Any, str]:
        """The transform in use for ``t`` (read once) and a note when there is none."""
        if t not in self._transforms:
            reg = self.registration(t)
            note = ""
            try:
                if reg is None:
                    raise rc.RegistrationCheckError("the report has no registration of this "
                                                    "timepoint")
                transform = rc.load_transform(self.workspace.out_dir, reg)
            except rc.RegistrationCheckError as exc:
                import SimpleITK as sitk  # noqa: PLC0415

                transform = sitk.AffineTransform(3)
                note = f"Not registered ({exc}): the follow-up is shown as acquired."
            self._transforms[t] = (transform, note)
        return self._transforms[t]

    def render(self) -> None:
        """Draw the current pair in the current mode."""
        if self.pair is None or self._window is None:
            return
        self.rgb = rc.check_image(self.pair, self.mode, self._window,
                                  blend=self.blend_slider.value() / 100.0,
                                  tile_px=self.tile_spin.value())
        self.image.set_rgb(self.rgb, self.pair.pixel_mm)
        self.shown.emit()

    def _mode_changed(self) -> None:
        mode = self.mode
        self.tile_spin.setEnabled(mode == "checkerboard")
        self.blend_slider.setEnabled(mode != "checkerboard")
        self.blend_slider.setToolTip("Follow-up share" if mode == "blend"
                                     else "Baseline (left) / follow-up (right)")
        self.render()

    def _show_verdict(self) -> None:
        t = self.follow_up
        reg = None if t is None else self.registration(t)
        if reg is None:
            self.verdict.setText("" if t is None else "The report has no registration of "
                                 "this timepoint.")
            return
        report = self.workspace.report
        self.verdict.setText(rc.verdict_text(reg, timepoint_label(report, reg.timepoint),
                                             timepoint_label(report, reg.reference)))

    # --- re-running ---------------------------------------------------------------------------
    def rerun(self, method: str) -> Job | None:
        """Register the follow-up shown again with ``method`` in the background; None when
        it cannot start (scans not loaded, another run going)."""
        t = self.follow_up
        if t is None or self.rerun_job is not None:
            return None
        if self.retrack_job is not None:
            self.note.setText("Wait until the matching and RECIST are updated.")
            return None
        if not self.loaded:
            self.note.setText("Wait until the scans are loaded.")
            return None
        base, follow, b = self._volumes[self.baseline], self._volumes[t], self.baseline

        def run(ctx) -> Any:  # noqa: ANN001 - a JobContext, on a worker thread
            return rr.rerun_registration(base, follow, t, method, baseline_index=b,
                                         progress=ctx.progress, cancel=ctx.cancelled)

        self.rerun_button.setEnabled(False)
        self.note.setText(f"Registering {self.follow_combo.currentText()} again ({method})…")
        self.rerun_job = self.runner.submit(
            "registering", run, on_done=lambda reg: self._rerun_done(t, reg),
            on_error=self._rerun_failed, on_cancel=self._rerun_cancelled,
            progress_widget=self.progress, text=f"Registering ({method})…")
        self._sync_buttons()
        return self.rerun_job

    def _rerun_ended(self) -> None:
        self.rerun_job = None
        self._sync_buttons()

    def _rerun_done(self, timepoint: int, registration: Any) -> None:
        self._rerun_ended()
        current = self.registration(timepoint)
        try:
            if current is None:
                raise rr.RerunError("the report has no registration of this timepoint")
            rr.save_rerun(self.workspace.out_dir, registration, current)
            regs, warnings = rr.registrations_in_use(self._made_report(),
                                                     self.workspace.out_dir)
            rr.reload_point_mapping(self.workspace, regs,
                                    f"registration of timepoint {timepoint + 1} re-run")
        except IntervalError as exc:
            self.note.setText(str(exc))
            return
        self._registrations = regs
        self._transforms.clear()
        self._show_verdict()
        self.update_pair()
        self.note.setText(" ".join(["The new registration is in use; the old transform is "
                                    "kept as .bak.", *warnings]))
        self._sync_buttons()
        self.registrationChanged.emit(timepoint)
        if self.retrack_after_rerun:
            self.retrack()

    def _rerun_failed(self, exc: IntervalError) -> None:
        self._rerun_ended()
        self.note.setText(f"The registration could not be run again: {exc}")

    def _rerun_cancelled(self) -> None:
        self._rerun_ended()
        self.note.setText("Cancelled: the registration in use is kept.")

    # --- matching and RECIST again -----------------------------------------------------------
    def _made_report(self) -> Any:
        """The workspace's report with the registrations its matching was made with."""
        return dataclasses.replace(self.workspace.report, registrations=list(self._made_with))

    @property
    def needs_retrack(self) -> bool:
        """The registrations in use differ from those the report was made with."""
        return not rt.same_registrations(self._registrations, self._made_with)

    def _sync_buttons(self) -> None:
        idle = self.rerun_job is None and self.retrack_job is None
        self.rerun_button.setEnabled(idle and self.follow_combo.count() > 0)
        self.retrack_button.setEnabled(idle and self.needs_retrack)

    def retrack(self) -> Job | None:
        """Make the matching and RECIST again with the registrations in use, in the
        background; None when it cannot start (another run going, workspace not saved)."""
        if self.retrack_job is not None or self.rerun_job is not None:
            return None
        out = self.workspace.out_dir
        try:
            rt.check_workspace_saved(self.workspace, out)
        except IntervalError as exc:
            self.note.setText(f"The matching and RECIST cannot be updated: {exc}")
            return None

        def run(ctx) -> rt.RetrackResult:  # noqa: ANN001 - a JobContext, on a worker thread
            return rt.retrack(out, progress=ctx.progress, step=ctx.emit, cancel=ctx.cancelled)

        text = "Updating the matching and RECIST…"
        note = self.note.text()
        self.note.setText(f"{note} {text}" if note else text)
        self.retrack_job = self.retrack_runner.submit(
            "updating the matching and RECIST", run, on_done=self._retrack_done,
            on_error=self._retrack_failed, on_cancel=self._retrack_cancelled,
            on_partial=self._retrack_step, progress_widget=self.retrack_progress, text=text)
        self._sync_buttons()
        return self.retrack_job

    def _retrack_step(self, line: object) -> None:
        self.retrack_progress.label.setText(str(line).strip())

    def _retrack_done(self, result: rt.RetrackResult) -> None:
        self.retrack_job = None
        self.last_retrack = result
        self._made_with = list(result.report.registrations)
        regs, warnings = rr.registrations_in_use(result.report, result.out_dir)
        self._registrations = regs
        self._transforms.clear()
        self._show_verdict()
        self.update_pair()
        self.note.setText(" ".join(["The matching and RECIST were made again with the "
                                    "registrations in use.", *result.notes, *warnings]))
        self._sync_buttons()
        self.retracked.emit(result)

    def _retrack_failed(self, exc: IntervalError) -> None:
        self.retrack_job = None
        self.note.setText(f"The matching and RECIST could not be updated: {exc}")
        self._sync_buttons()

    def _retrack_cancelled(self) -> None:
        self.retrack_job = None
        self.note.setText("Cancelled: the report is unchanged (Update matching and RECIST "
                          "makes it again).")
        self._sync_buttons()

    def shutdown(self) -> None:
        """Stop the background work (the window closes)."""
        self.runner.shutdown()
        self.retrack_runner.shutdown(60000)  # the pipeline stops at its next step

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)
