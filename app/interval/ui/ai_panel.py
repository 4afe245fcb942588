"""The "AI" dock: the segmentation models that fit the active series, Run / Cancel, results.

The models come from the plugin registry (:func:`interval.plugins.discover_plugins`,
manifests and ``model.json`` files only: no plugin code runs and torch is not imported
here).  Models whose modality does not fit the active image are hidden, or shown greyed
with the reason when "Show all models" is ticked.  For the selected model the panel shows
its plugin, labels (names and colour swatches), target spacing and patch size, and
offers a compute device (checked without torch: the model's process decides for real),
the sliding-window overlap, mirror test-time augmentation and the memory limit of the
model's process (Automatic: the runner's limit derived from the machine; or GiB, which
the window keeps in its settings).  Every text from a plugin or an image is shown as
plain text.

Run hands the image to :func:`interval.ai.runner.run_segmentation` on a
:class:`~interval.ui.workers.JobRunner` thread; the model itself runs in a child process,
so a model that raises, crashes, hangs or runs out of memory leaves the viewer running.
Its label map becomes a label layer (named after the model, with its label names and
colours) over the image it was run on.  Errors and warnings are *signals*
(``problem(title, text)``, ``warning(title, text)``, ``message(text)``): the window lists
them in its Problems dock; there is never a modal dialog.  "Save…" writes the last result
as NIfTI (+ ``.labels.json`` sidecar) or, for an image read from DICOM, as DICOM SEG.
"""

from __future__ import annotations

import html
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from interval.ai.model_runtime import NO_MODEL_RUNTIME, model_runtime_available
from interval.core.errors import IntervalError
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.ui.plain_text import plain_label, set_plain_tooltip
from interval.ui.plugin_discovery import LOOKING_TEXT, PluginDiscovery
from interval.ui.workers import Job, JobRunner

log = logging.getLogger(__name__)

ENTRY_ROLE = Qt.ItemDataRole.UserRole  # index into AiPanel.entries
FITS_ROLE = Qt.ItemDataRole.UserRole + 1

SAVE_NIFTI = "NIfTI label map (*.nii.gz)"
SAVE_SEG = "DICOM SEG (*.dcm)"
GIB = 1 << 30
MAX_MEMORY_GIB = 4096.0  # the most the memory-limit control offers


# --- devices (no torch here) -----------------------------------------------------------------


def _cuda_likely() -> bool:
    """Whether an NVIDIA driver seems installed (checked without importing torch)."""
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidia0").exists()
    if sys.platform == "win32":
        root = Path(os.environ.get("SYSTEMROOT", r"C:\Windows"))
        return (root / "System32" / "nvcuda.dll").exists()
    return False


def _mps_likely() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


def device_choices() -> list[tuple[str, str]]:
    """``(value, text)`` of the devices to offer: auto and CPU always, GPUs when likely.

    Cheap, torch-free guesses: the model's own process checks for real and says so
    clearly when the chosen device cannot be used.
    """
    out = [("auto", "Auto (GPU when available, else CPU)"), ("cpu", "CPU")]
    if _cuda_likely():
        out.append(("cuda", "NVIDIA GPU (CUDA)"))
    if _mps_likely():
        out.append(("mps", "Apple GPU (MPS)"))
    return out


def device_text(device: str) -> str:
    """``"cpu"`` -> ``"CPU"``, ``"cuda:0"`` -> ``"GPU (cuda:0)"``, ``"mps"`` -> ``"Apple GPU"``."""
    d = (device or "cpu").lower()
    if d == "cpu":
        return "CPU"
    if d.startswith("cuda"):
        return f"GPU ({d})"
    if d == "mps":
        return "Apple GPU (MPS)"
    return device


# --- models --------------------------------------------------------------------------------


def fit_reason(entry: Any, volume: Volume | None) -> str | None:
    """Why model ``entry`` does not fit ``volume`` (None: it fits)."""
    if volume is None:
        return "no image is open"
    if volume.is_rgb:
        return "this model needs a greyscale image; this is a colour image"
    if volume.array.ndim != 3 or volume.array.dtype.kind not in "iuf":
        return "the model needs a grey-scale 3-D image"
    modality = (volume.metadata.modality or "").upper()
    mods = tuple(entry.modalities)
    if mods and modality and modality not in mods:
        return f"the model is for {'/'.join(mods)} images; this series is {modality}"
    return None


def spec_labels(spec: Any) -> list[tuple[int, str, tuple[int, int, int]]]:
    """``(value, name, colour)`` of a model's labels (ModelSpec or minimal spec)."""
    out = []
    for lab in getattr(spec, "labels", None) or ():
        if isinstance(lab, dict):
            value, name, color = lab.get("value"), lab.get("name"), lab.get("color")
        else:
            value, name, color = lab.value, lab.name, lab.color
        if color is None:
            from interval.core.labels import default_color

            color = default_color(int(value))
        out.append((int(value), str(name), tuple(int(c) for c in color)[:3]))
    return out


def swatch(color: Sequence[int], size: int = 12) -> QIcon:
    """A small square of ``color``."""
    pix = QPixmap(size, size)
    pix.fill(QColor(*color[:3]))
    return QIcon(pix)


def _spacing_text(spacing: Sequence[float] | None) -> str:
    if not spacing:
        return "native (as the image is)"
    return " x ".join(f"{float(s):g}" for s in spacing) + " mm"


def timings_text(timings: dict[str, float]) -> str:
    """Where the time went, one phase a line, longest first (``"network  3.20 s"``)."""
    rows = sorted(((k, float(v)) for k, v in timings.items() if k != "total"),
                  key=lambda kv: -kv[1])
    return "\n".join(f"{name}: {value:.2f} s" for name, value in rows if value >= 0.005)


@dataclass
class AiResult:
    """The last model result shown: its layer, label map, model and source image."""

    layer_id: str
    labels: Volume
    entry: Any
    image: Volume
    seconds: float
    device: str


# --- the dock ------------------------------------------------------------------------------


class AiPanel(QDockWidget):
    """The "AI" dock.

    ``discovery`` is the window's :class:`~interval.ui.plugin_discovery.PluginDiscovery`
    (shared with the Plugin Manager); without one the panel makes its own from
    ``discover()`` (a function returning a plugin registry, default
    :func:`discover_plugins`).  Call :meth:`discover_plugins` (the window does it after it
    is shown; the list fills when the background discovery ends) or :meth:`set_registry`.
    ``sources_for(volume)`` returns the DICOM files an image was read from (None: not
    from DICOM), which enables saving results as DICOM SEG.
    """

    problem = Signal(str, str)  # title, sentence: an error (Problems dock + status bar)
    warning = Signal(str, str)  # title, sentence: something the reader should know
    message = Signal(str)  # a status-bar message
    result_added = Signal(str)  # the new label layer's id
    saved = Signal(str)  # a path written
    plugins_requested = Signal()  # the user asks for the Plugin Manager

    def __init__(
        self,
        state: ViewerState,
        runner: JobRunner | None = None,
        parent: QWidget | None = None,
        *,
        discover: Callable[[], Any] | None = None,
        discovery: PluginDiscovery | None = None,
        sources_for: Callable[[Volume], list[Path] | None] | None = None,
        image_ready: Callable[[Volume], bool] | None = None,
    ) -> None:
        super().__init__("AI", parent)
        self.setObjectName("aiPanel")
        self.state = state
        # its own threads: a long model run never holds up loading or thumbnails
        self.runner = runner if runner is not None else JobRunner(self, max_threads=2)
        self._own_discovery = discovery is None
        self.discovery = discovery if discovery is not None else PluginDiscovery(discover, self)
        self.sources_for = sources_for
        self.image_ready = image_ready  # False while a series is still loading
        self.registry: Any = None
        self.entries: list[Any] = []
        self.job: Job | None = None
        self.last_result: AiResult | None = None
        self.timeout_s: float | None = None  # a model running longer is stopped
        self._run_started = 0.0
        self._run_entry: Any = None
        self._run_image: Volume | None = None
        self._options_of: Any = None  # the model whose defaults the option controls show
        self._build()
        ev = state.events
        for sig in (ev.volumes, ev.active_volume):
            sig.connect(self._on_state_changed)
        self.discovery.started.connect(self._on_looking)
        self.discovery.found.connect(self.set_registry)
        self.discovery.failed.connect(self._discovery_failed)
        self._refresh_models()
        if self.discovery.registry is not None:
            self.set_registry(self.discovery.registry)
        elif self.discovery.looking:
            self._on_looking()

    # --- building -------------------------------------------------------------------------
    def _build(self) -> None:
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        if not model_runtime_available():  # the viewer-only edition: no torch
            no_runtime = plain_label(NO_MODEL_RUNTIME[0].upper() + NO_MODEL_RUNTIME[1:] + ".")
            no_runtime.setObjectName("aiNoRuntime")
            no_runtime.setWordWrap(True)
            lay.addWidget(no_runtime)
        self.series_label = plain_label("No image open.")  # a DICOM description
        self.series_label.setObjectName("aiSeries")
        self.series_label.setWordWrap(True)
        lay.addWidget(self.series_label)

        self.model_list = QListWidget()
        self.model_list.setObjectName("aiModels")
        self.model_list.currentItemChanged.connect(lambda *_: self._on_model_selected())
        lay.addWidget(self.model_list, 2)
        row = QHBoxLayout()
        self.show_all = QCheckBox("Show all models")
        self.show_all.setObjectName("aiShowAll")
        self.show_all.setToolTip("Also list models made for other kinds of images (greyed)")
        self.show_all.toggled.connect(lambda _=False: self._refresh_models())
        self.hidden_label = plain_label("")
        self.hidden_label.setObjectName("aiHidden")
        self.plugins_button = QPushButton("Plugins…")
        self.plugins_button.setObjectName("aiPlugins")
        self.plugins_button.setToolTip("The Plugin Manager: installed plugins, refused ones and why")
        self.plugins_button.clicked.connect(self.plugins_requested.emit)
        row.addWidget(self.show_all)
        row.addWidget(self.hidden_label, 1)
        row.addWidget(self.plugins_button)
        lay.addLayout(row)

        self.details = QLabel("")
        self.details.setObjectName("aiDetails")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.details)
        self.label_list = QListWidget()
        self.label_list.setObjectName("aiLabels")
        self.label_list.setMaximumHeight(110)
        lay.addWidget(self.label_list, 1)

        form = QFormLayout()
        self.device = QComboBox()
        self.device.setObjectName("aiDevice")
        for value, text in device_choices():
            self.device.addItem(text, value)
        self.device.setToolTip("Where the model runs; the model's process checks the device")
        form.addRow("Device", self.device)
        self.overlap = QDoubleSpinBox()
        self.overlap.setObjectName("aiOverlap")
        self.overlap.setRange(0.0, 0.9)
        self.overlap.setSingleStep(0.125)
        self.overlap.setDecimals(3)
        self.overlap.setToolTip("Overlap of the sliding windows (more: smoother, slower)")
        form.addRow("Overlap", self.overlap)
        self.mirror = QCheckBox("Mirror test-time augmentation (slower)")
        self.mirror.setObjectName("aiMirror")
        form.addRow("", self.mirror)
        self.memory_limit = QDoubleSpinBox()
        self.memory_limit.setObjectName("aiMemoryLimit")
        self.memory_limit.setRange(0.0, MAX_MEMORY_GIB)
        self.memory_limit.setDecimals(1)
        self.memory_limit.setSingleStep(0.5)
        self.memory_limit.setSuffix(" GiB")
        self.memory_limit.setSpecialValueText("Automatic")  # shown for 0
        self.memory_limit.setToolTip(
            "The most memory a model's process may use; a model needing more is stopped "
            "with a clear message. Automatic: what this computer can spare."
        )
        form.addRow("Memory limit for models", self.memory_limit)
        lay.addLayout(form)

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("aiRun")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("aiCancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.save_button = QPushButton("Save…")
        self.save_button.setObjectName("aiSave")
        self.save_button.setToolTip("Save the last result as NIfTI or DICOM SEG")
        self.save_button.clicked.connect(self._ask_save)
        self.save_button.setEnabled(False)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        lay.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setObjectName("aiProgress")
        self.progress.setVisible(False)
        lay.addWidget(self.progress)
        self.status = plain_label("")  # plugin names and model errors
        self.status.setObjectName("aiStatus")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.setWidget(body)

    # --- models ---------------------------------------------------------------------------
    def discover_plugins(self) -> Job | None:
        """Find the plugins in the background (manifests only); the list fills when done."""
        if self.runner._closed:  # the window is closing
            return None
        return self.discovery.start()

    @property
    def discover_job(self) -> Job | None:
        """The last plugin discovery started (by this panel or the Plugin Manager)."""
        return self.discovery.job

    def _on_looking(self) -> None:
        if self.job is None:  # a running model's status stays
            self.status.setText(LOOKING_TEXT)

    def _discovery_failed(self, text: str) -> None:
        self.status.setText("Plugins could not be read.")
        self.problem.emit("Plugins", text)

    def set_registry(self, registry: Any) -> None:
        """Show the segmentation models of ``registry`` (a PluginRegistry)."""
        self.registry = registry
        try:
            self.entries = list(registry.segmentation_models())
        except Exception as exc:  # noqa: BLE001 - a registry problem must not break the UI
            log.warning("listing segmentation models failed", exc_info=True)
            self.entries = []
            self.problem.emit("Plugins", f"The models could not be listed: {exc}")
        refused = list(getattr(registry, "refused", []) or [])
        if self.status.text() == LOOKING_TEXT:
            self.status.setText("")
        if refused and self.job is None:  # a running model's status stays
            names = ", ".join(str(r.name) for r in refused[:3])
            more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
            self.status.setText(
                f"{len(refused)} plugin(s) refused ({names}{more}); see Tools > Plugin Manager."
            )
        self._refresh_models()

    def fitting(self) -> list[Any]:
        """The model entries that fit the active image."""
        volume = self.state.active_volume
        return [e for e in self.entries if fit_reason(e, volume) is None]

    def _on_state_changed(self, _event: object = None) -> None:
        self._refresh_models()

    def _refresh_models(self) -> None:
        volume = self.state.active_volume
        if volume is None:
            self.series_label.setText("Open an image to see the models that fit it.")
        else:
            meta = volume.metadata
            what = meta.series_description or meta.source and Path(meta.source).name or "image"
            mod = meta.modality or "modality unknown"
            self.series_label.setText(f"Models for: {what} ({mod})")
        current = self.selected_entry()
        self.model_list.blockSignals(True)
        self.model_list.clear()
        hidden = 0
        select_row = -1
        for n, entry in enumerate(self.entries):
            reason = fit_reason(entry, volume)
            if reason is not None and volume is not None and not self.show_all.isChecked():
                hidden += 1
                continue
            spec = entry.spec
            version = getattr(spec, "version", "")
            item = QListWidgetItem(f"{entry.model_id}  ({entry.plugin_id})")
            item.setData(ENTRY_ROLE, n)
            item.setData(FITS_ROLE, reason is None)
            tip = [f"{entry.model_id} {version}".strip(), f"Plugin: {entry.plugin_id}"]
            description = getattr(spec, "description", "")
            if description:
                tip.append(description)
            if reason is not None:
                tip.append(f"Not available: {reason}.")
                if volume is not None:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            set_plain_tooltip(item, "\n".join(tip))
            self.model_list.addItem(item)
            if entry is current or (select_row < 0 and reason is None):
                select_row = self.model_list.count() - 1
        self.model_list.blockSignals(False)
        if select_row >= 0:
            self.model_list.setCurrentRow(select_row)
        if hidden:
            self.hidden_label.setText(f"{hidden} other model(s) do not fit this image")
        else:
            self.hidden_label.setText("")
        if not self.entries:
            self.hidden_label.setText("No segmentation models are installed.")
        self._on_model_selected()

    def model_names(self, *, enabled_only: bool = False) -> list[str]:
        """The model ids listed (only the selectable ones with ``enabled_only``)."""
        out = []
        for i in range(self.model_list.count()):
            item = self.model_list.item(i)
            if enabled_only and not item.flags() & Qt.ItemFlag.ItemIsEnabled:
                continue
            out.append(self.entries[item.data(ENTRY_ROLE)].model_id)
        return out

    def item_for(self, model_id: str) -> QListWidgetItem | None:
        for i in range(self.model_list.count()):
            item = self.model_list.item(i)
            if self.entries[item.data(ENTRY_ROLE)].model_id == model_id:
                return item
        return None

    def select_model(self, model_id: str) -> bool:
        """Select the listed model ``model_id`` (or ``plugin:model``); False if not listed."""
        for i in range(self.model_list.count()):
            entry = self.entries[self.model_list.item(i).data(ENTRY_ROLE)]
            if model_id in (entry.model_id, entry.qualified_id):
                self.model_list.setCurrentRow(i)
                return True
        return False

    def selected_entry(self) -> Any:
        item = self.model_list.currentItem() if hasattr(self, "model_list") else None
        if item is None:
            return None
        return self.entries[item.data(ENTRY_ROLE)]

    def _on_model_selected(self) -> None:
        entry = self.selected_entry()
        self.label_list.clear()
        if entry is None:
            self.details.setText("")
            self._update_buttons()
            return
        spec = entry.spec
        mods = "/".join(entry.modalities) or "any"
        patch = getattr(spec, "patch_size", None)
        rows = [
            f"<b>{html.escape(entry.model_id)}</b> {html.escape(str(getattr(spec, 'version', '')))}",
            f"Plugin: {html.escape(entry.plugin_id)}",
            f"Modality: {html.escape(mods)}",
            f"Target spacing: {html.escape(_spacing_text(getattr(spec, 'target_spacing', None)))}",
        ]
        mode = getattr(getattr(spec, "inference", None), "mode", "sliding_window")
        if mode == "whole":
            rows.append("Runs on the whole volume at once")
        elif patch:
            rows.append("Patch: " + " x ".join(str(p) for p in patch) + " voxels (z, y, x)")
        description = getattr(spec, "description", "")
        if description:
            rows.append(f"<i>{html.escape(description)}</i>")
        reason = fit_reason(entry, self.state.active_volume)
        if reason is not None and self.state.active_volume is not None:
            rows.append(f"<span style='color:#c03030'>Not available: {html.escape(reason)}</span>")
        self.details.setText("<br>".join(rows))
        for value, name, color in spec_labels(spec):
            item = QListWidgetItem(swatch(color), f"{value}: {name}")
            item.setData(Qt.ItemDataRole.UserRole, tuple(color))
            self.label_list.addItem(item)
        inference = getattr(spec, "inference", None)
        if inference is not None and entry is not self._options_of:
            # the model's defaults, once per model chosen (a later refresh keeps the user's)
            self._options_of = entry
            self.overlap.setValue(float(getattr(inference, "overlap", 0.5)))
            self.mirror.setChecked(bool(getattr(inference, "mirror_tta", False)))
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.job is not None
        entry = self.selected_entry()
        ok = entry is not None and fit_reason(entry, self.state.active_volume) is None
        self.run_button.setEnabled(ok and not running and model_runtime_available())
        self.cancel_button.setEnabled(running)
        self.save_button.setEnabled(not running and self._result_still_open())

    # --- running --------------------------------------------------------------------------
    def options(self) -> Any:
        """The :class:`~interval.ai.options.InferenceOptions` of the controls."""
        from interval.ai.options import InferenceOptions

        return InferenceOptions(
            device=str(self.device.currentData() or "auto"),
            overlap=float(self.overlap.value()),
            mirror_tta=bool(self.mirror.isChecked()),
            confidence=False,  # the panel shows labels only
        )

    def memory_limit_gib(self) -> float | None:
        """The memory limit chosen for model processes in GiB (None: automatic)."""
        value = float(self.memory_limit.value())
        return value if value > 0 else None

    def set_memory_limit_gib(self, gib: float | None) -> None:
        """Show ``gib`` (None or 0: automatic) in the memory-limit control."""
        self.memory_limit.setValue(float(gib) if gib else 0.0)

    def memory_limit_bytes(self) -> int | None:
        """The limit handed to the model's process (None: the runner's automatic one)."""
        gib = self.memory_limit_gib()
        return None if gib is None else int(gib * GIB)

    def run(self) -> Job | None:
        """Run the selected model on the active image in the background."""
        if self.job is not None:
            return None
        if not model_runtime_available():
            self.message.emit(NO_MODEL_RUNTIME[0].upper() + NO_MODEL_RUNTIME[1:] + ".")
            return None
        entry = self.selected_entry()
        image = self.state.active_volume
        if entry is None or image is None:
            self.message.emit("Open an image and choose a model first.")
            return None
        if self.image_ready is not None and not self.image_ready(image):
            self.message.emit("The series is still loading; run the model once it has loaded.")
            return None
        reason = fit_reason(entry, image)
        if reason is not None:
            self.message.emit(f"{entry.model_id} cannot run here: {reason}.")
            return None
        options = self.options()
        timeout = self.timeout_s
        memory_limit = self.memory_limit_bytes()
        folder, code_path = entry.folder, getattr(entry, "code_path", None)

        def work(ctx) -> Any:
            from interval.ai.runner import run_segmentation

            return run_segmentation(
                image, folder, options, progress=ctx.progress, cancel=ctx.cancelled,
                timeout=timeout, code_path=code_path, memory_limit_bytes=memory_limit,
            )

        self._run_entry, self._run_image = entry, image
        self._run_started = time.monotonic()
        self.progress.setRange(0, 0)  # busy until the model reports
        self.progress.setVisible(True)
        self.status.setText(f"Running {entry.model_id}…")
        self.status.setToolTip("")
        self.message.emit(f"Running {entry.model_id}…")
        self.job = self.runner.submit(
            "running a model", work,
            on_done=self._on_done, on_error=self._on_failed, on_cancel=self._on_cancelled,
            on_progress=self._on_progress,
        )
        self._update_buttons()
        return self.job

    def cancel(self) -> None:
        """Ask the running model to stop (it is stopped by force if it does not)."""
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    @property
    def running(self) -> bool:
        return self.job is not None

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))

    def _finish(self) -> tuple[Any, Volume | None, float]:
        entry, image = self._run_entry, self._run_image
        seconds = time.monotonic() - self._run_started
        self.job = None
        self._run_entry = self._run_image = None
        self.progress.setVisible(False)
        self._update_buttons()
        return entry, image, seconds

    def _on_done(self, result: Any) -> None:
        entry, image, seconds = self._finish()
        title = f"AI: {entry.model_id}"
        if image is None or not any(v is image for v in self.state.volumes.values()):
            self.status.setText("The image was closed while the model ran; its result was dropped.")
            self.message.emit(self.status.text())
            return
        labels: Volume = result.labels
        # "AI:" so a model's output is never mistaken for a reviewed segmentation
        layer_id = self.state.add_volume(labels, name=self._layer_name(f"AI: {entry.model_id}"))
        device = device_text(str(getattr(result, "device", "cpu")))
        self.last_result = AiResult(layer_id, labels, entry, image, seconds, device)
        for text in dict.fromkeys(getattr(result, "warnings", []) or []):
            self.warning.emit(title, str(text))
        self.status.setText(f"Done in {seconds:.1f} s on {device}.")
        set_plain_tooltip(self.status, timings_text(getattr(result, "timings", {}) or {}))
        self.message.emit(f"{entry.model_id}: done in {seconds:.1f} s on {device}.")
        self._update_buttons()
        self.result_added.emit(layer_id)

    def _layer_name(self, base: str) -> str:
        names = {getattr(layer, "name", "") for layer in self.state.layers}
        if base not in names:
            return base
        n = 2
        while f"{base} ({n})" in names:
            n += 1
        return f"{base} ({n})"

    def _on_failed(self, exc: IntervalError) -> None:
        from interval.ai.runner_errors import viewer_text  # a model error: "the viewer is
        # unaffected" (true here, in the viewer; the CLI does not say it)

        entry, _image, _seconds = self._finish()
        name = entry.model_id if entry is not None else "model"
        text = viewer_text(exc)
        self.status.setText(f"{name} failed: {text}")
        self.problem.emit(f"AI: {name}", text)

    def _on_cancelled(self) -> None:
        entry, _image, _seconds = self._finish()
        name = entry.model_id if entry is not None else "model"
        self.status.setText(f"{name} cancelled; no result was added.")
        self.message.emit(self.status.text())

    # --- saving ---------------------------------------------------------------------------
    def _result_still_open(self) -> bool:
        result = self.last_result
        return result is not None and any(
            getattr(layer, "id", None) == result.layer_id for layer in self.state.layers
        )

    def dicom_sources(self) -> list[Path] | None:
        """The DICOM files of the last result's image (None: it was not read from DICOM)."""
        if self.last_result is None or self.sources_for is None:
            return None
        try:
            return self.sources_for(self.last_result.image) or None
        except Exception:  # noqa: BLE001 - no SEG offered then
            log.debug("finding the DICOM sources failed", exc_info=True)
            return None

    def _ask_save(self) -> None:
        if not self._result_still_open():
            return
        filters = [SAVE_NIFTI]
        if self.dicom_sources():
            filters.append(SAVE_SEG)
        name = self.last_result.entry.model_id.replace(" ", "_")  # type: ignore[union-attr]
        path, chosen = QFileDialog.getSaveFileName(
            self, "Save the segmentation", f"{name}.nii.gz", ";;".join(filters)
        )
        if path:
            low = path.lower()
            if chosen == SAVE_SEG and not low.endswith(".dcm"):
                path += ".dcm"
            elif chosen != SAVE_SEG and not low.endswith((".nii", ".nii.gz", ".dcm")):
                path += ".nii.gz"
            self.save(path)

    def save(self, path: str | Path) -> Job | None:
        """Save the last result: ``.dcm`` as DICOM SEG, else a label image + labels sidecar."""
        result = self.last_result
        if result is None or not self._result_still_open():
            self.message.emit("There is no model result to save.")
            return None
        path = Path(path)
        seg = path.suffix.lower() == ".dcm"
        sources = self.dicom_sources() if seg else None
        if seg and not sources:
            self.problem.emit(
                "Save segmentation",
                "DICOM SEG needs an image read from DICOM files; save as NIfTI instead.",
            )
            return None
        layer = next((la for la in self.state.layers if la.id == result.layer_id), None)
        table = getattr(layer, "labels", None) or result.labels.labels
        labels = result.labels.with_array(result.labels.array, labels=table)
        spec = result.entry.spec

        def work(ctx) -> str:
            if seg:
                from interval.io.seg_writer import AlgorithmInfo, write_dicom_seg

                algorithm = AlgorithmInfo(
                    str(spec.name), str(getattr(spec, "version", "") or "1"),
                    source=result.entry.plugin_id,
                )
                written = write_dicom_seg(labels, path, sources or [], algorithm=algorithm,
                                          series_description=f"{spec.name} segmentation")
                return str(written.path)
            from interval.io.image_files import write_image
            from interval.io.label_tables import write_label_json

            written_path = write_image(labels, path)
            write_label_json(table, written_path)
            return str(written_path)

        return self.runner.submit(
            "saving a segmentation", work,
            on_done=self._on_saved,
            on_error=lambda exc: self.problem.emit("Save segmentation", str(exc)),
        )

    def _on_saved(self, path: str) -> None:
        self.status.setText(f"Saved {Path(path).name}.")
        self.saved.emit(path)

    def shutdown(self) -> None:
        """Stop a running model (its process is stopped too) and wait for the threads."""
        self.runner.shutdown()
        if self._own_discovery:
            self.discovery.shutdown()
