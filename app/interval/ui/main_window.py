"""The main window: views in the centre, study browser and problems docks, menus, a
toolbar (measuring tools as one exclusive group, layouts, presets, invert, reset,
screenshot), status bar with the active tool, background-job progress and Cancel.

The window owns a :class:`ViewerState` (plain Python); the central
``interval.ui.view_layout.ViewLayout`` draws it.  Indexing, loading and
thumbnails run on a :class:`~interval.ui.workers.JobRunner`; their results and
errors come back as signals, and errors are listed in the Problems dock (never a
crash dialog).  The "AI" dock (``interval.ui.ai_panel``) runs the plugins' segmentation
models (plugins are looked for after the window is shown; Tools > Plugin Manager lists
them, refused ones with their reasons).

The window's methods live in four files: this one (construction, docks and tools,
plugins, cursor read-out, drag and drop, settings, closing), ``window_menus`` (menus,
toolbar, status bar), ``window_opening`` (indexing, loading, segmentations) and
``window_view_actions`` (layouts, presets, invert, cine, screenshots, help).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from interval.core.errors import IntervalError
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.io.dicom.policy import DEFAULT_POLICY, DicomReadPolicy
from interval.ui.plugin_discovery import PluginDiscovery
from interval.ui.problems_panel import ProblemsPanel
from interval.ui.settings import Settings, load_settings, save_dir, save_settings
from interval.ui.study_browser import StudyBrowser
from interval.ui.window_menus import (  # noqa: F401 - re-exported names
    LAYOUT_NAMES,
    TOOL_NAMES,
    ElidingLabel,
    MenusMixin,
)
from interval.ui.window_opening import OpeningMixin
from interval.ui.window_view_actions import ViewActionsMixin
from interval.ui.workers import IndexResult, Job, JobRunner

log = logging.getLogger(__name__)

_TYPING_WIDGETS = (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit)


def make_central(state: ViewerState) -> QWidget:
    """The views (``interval.ui.view_layout.ViewLayout``) or a placeholder until it exists."""
    try:
        from interval.ui.view_layout import ViewLayout
    except ModuleNotFoundError as exc:
        if exc.name not in ("interval.ui.view_layout",):
            raise
        label = QLabel("Views are not available in this build.")
        label.setObjectName("viewPlaceholder")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        return label
    return ViewLayout(state)


class MainWindow(OpeningMixin, ViewActionsMixin, MenusMixin, QMainWindow):
    """Interval's reading window."""

    def __init__(
        self,
        state: ViewerState | None = None,
        *,
        settings_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("intervalMainWindow")
        self.setWindowTitle("Interval")
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        self.state = state if state is not None else ViewerState()
        self._settings_path = settings_path
        self.settings: Settings = load_settings(settings_path)
        self.state.set_layout(self.settings.layout)

        self.runner = JobRunner(self, max_threads=3)
        self.index_job: Job | None = None
        self.load_job: Job | None = None
        self.thumb_job: Job | None = None
        self.index_result: IndexResult | None = None
        self.current_folder: Path | None = None
        self.loaded_stack_uid: str | None = None
        self._policy: DicomReadPolicy = DEFAULT_POLICY
        self._focus_file: Path | None = None  # a DICOM file opened alone: show its series
        self._last_open_dir: Path | None = None  # where File > Open… last found a file
        # series instance UID -> segmentation file added whenever that series is loaded
        self.series_segmentations: dict[str, Path] = {}

        self.views = make_central(self.state)
        self.setCentralWidget(self.views)

        self.browser = StudyBrowser(self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.browser)
        self.browser.stack_activated.connect(self._on_stack_activated)
        self._wire_browser()  # SEG/RTSTRUCT rows, focus to the view after a double-click
        self.problems = ProblemsPanel(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.problems)
        self.problems.reload_requested.connect(self.load_stack)
        self.problems.hide()  # shown when there is something to say
        self.resizeDocks([self.browser], [340], Qt.Orientation.Horizontal)
        self.resizeDocks([self.problems], [160], Qt.Orientation.Vertical)

        self._build_status_bar()
        self.actions_by_id: dict[str, QAction] = {}
        self.layers_panel: QWidget | None = None
        self.measurements_panel: QWidget | None = None
        self.measure_tool = None
        self.ai_panel: QWidget | None = None
        # one background plugin discovery for the AI dock and the Plugin Manager
        self.plugin_discovery = PluginDiscovery(parent=self)
        self._plugin_dialog: QDialog | None = None
        self._tool_buttons: dict[QObject, str] = {}
        self.cine = None
        self._install_companions()
        self._build_menus()
        self._build_toolbar()
        self.state.events.layout.connect(self._on_layout_changed)
        self.state.events.active_volume.connect(self._sync_presets)
        self.state.events.volumes.connect(self._sync_presets)
        self.state.events.cine.connect(self._on_cine_changed)
        self._help_dialog: QDialog | None = None
        self.restore_window_layout()
        if self.ai_panel is not None:  # plugins are looked for once the window is up
            QTimer.singleShot(0, self._discover_plugins)

    # --- building -----------------------------------------------------------------------


    def eventFilter(self, obj, event) -> bool:  # noqa: N802  (Qt name)
        """Double-click on a tool's toolbar button selects that tool locked."""
        mode = self._tool_buttons.get(obj) if hasattr(self, "_tool_buttons") else None
        if mode is not None and event.type() == QEvent.Type.MouseButtonDblClick:
            self.select_tool(mode, sticky=True)
            return True
        return super().eventFilter(obj, event)

    def select_tool(self, mode: str | None, *, sticky: bool | None = None) -> None:
        """Turn on a measuring tool (None: navigation); ``sticky`` locks or unlocks it."""
        if self.measure_tool is None:
            return
        if sticky is not None:
            self.measure_tool.set_sticky(sticky)
        self.measure_tool.set_mode(mode)
        self._on_tool_changed(self.measure_tool.mode)

    def _on_tool_changed(self, mode: object) -> None:
        """Check the active tool's action and name it in the status bar."""
        action = self.actions_by_id.get(f"tool_{mode or 'none'}")
        if action is not None and not action.isChecked():
            action.setChecked(True)
        sticky = bool(self.measure_tool is not None and self.measure_tool.sticky)
        lock = self.actions_by_id.get("tool_lock")
        if lock is not None and lock.isChecked() != sticky:
            lock.setChecked(sticky)
        name = TOOL_NAMES.get(mode, (str(mode), str(mode)))[1]  # type: ignore[arg-type]
        if mode is None:
            text = "Tool: Navigate (left-drag W/L)"
        else:
            text = f"Tool: {name}" + (", locked" if sticky else "") + " (Esc: stop)"
        self.tool_indicator.setText(text)

    def _on_stack_activated(self, stack_uid: str) -> None:
        """A series double-clicked in the browser: load it.  A series already known to be
        irregular also brings its Problems entry (with Load as-is / Resample) into view at
        once; a failed load selects its entry again (ProblemsPanel.add_series_problem)."""
        if self.browser.problem_of(stack_uid) is not None:
            self.problems.focus_series(stack_uid)
        self.load_stack(stack_uid)


    # --- companions: docks and tools written beside this window -------------------------
    def _install_companions(self) -> None:
        """Status-bar cursor text, cine, layers and measurements docks, measuring tools.

        Each comes from its own module; a module missing from this build is skipped.
        """
        mpr_views = dict(getattr(self.views, "views", {}) or {})
        status_info = _optional("interval.ui.status_info")
        self._cursor: tuple[str, tuple[float, float] | None] | None = None
        if status_info is not None:
            for view in mpr_views.values():
                if hasattr(view, "cursor_moved"):
                    view.cursor_moved.connect(self._on_cursor)
            ev = self.state.events
            # connected after the views (built above), so they have moved their slice and
            # camera by the time the text is recomputed
            for sig in (ev.volumes, ev.layers, ev.layer, ev.active_volume, ev.crosshair, ev.view):
                sig.connect(self.refresh_cursor_info)
        cine = _optional("interval.ui.cine")
        if cine is not None:
            self.cine = cine.CinePlayer(self.state, self)
        layers = _optional("interval.ui.layers_panel")
        if layers is not None:
            self.layers_panel = layers.LayersPanel(self.state, self)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.layers_panel)
            self.layers_panel.error.connect(lambda m: self._show_text_problem("Layers", m))
            # its button does what File > Open segmentation does: in the background (the
            # panel's own loader reads on the UI thread) with warnings in Problems
            self.layers_panel.open_button.clicked.disconnect()
            self.layers_panel.open_button.clicked.connect(self._ask_open_segmentation)
        panel = _optional("interval.ui.measurements_panel")
        tools = _optional("interval.ui.measure_tools")
        if panel is not None:
            from interval.core.measurements import MeasurementBook

            self.book = MeasurementBook()
            self.measurements_panel = panel.MeasurementsPanel(self.state, self.book, self)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.measurements_panel)
            self.measurements_panel.error.connect(
                lambda m: self._show_text_problem("Measurements", m)
            )
            self.measurements_panel.exported.connect(self._on_saved)
            self.measurements_panel.message.connect(self._set_message)
            self.measurements_panel.save_dir = save_dir(self.settings)
            if tools is not None:
                self.measure_tool = tools.MeasureTool(self.state, self.book, self)
                self.measure_tool.still_loading = self._is_still_loading
                self.measure_tool.refused.connect(self._set_message)
                for view in mpr_views.values():
                    self.measure_tool.attach(view)
        if self.layers_panel is not None and self.measurements_panel is not None:
            self.tabifyDockWidget(self.layers_panel, self.measurements_panel)
            self.layers_panel.raise_()
        ai = _optional("interval.ui.ai_panel")
        if ai is not None:
            self.ai_panel = ai.AiPanel(
                self.state, parent=self, sources_for=self._dicom_sources,
                image_ready=lambda v: not self._is_still_loading(v),
                discovery=self.plugin_discovery,
            )
            self.ai_panel.set_memory_limit_gib(self.settings.model_memory_limit_gib)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.ai_panel)
            self.ai_panel.problem.connect(self._show_text_problem)
            self.ai_panel.warning.connect(self._show_warning)
            self.ai_panel.message.connect(self._set_message)
            self.ai_panel.saved.connect(self._on_saved)
            self.ai_panel.plugins_requested.connect(self.show_plugin_manager)
            first = self.layers_panel or self.measurements_panel
            if first is not None:
                self.tabifyDockWidget(first, self.ai_panel)
                first.raise_()
        right = [
            d for d in (self.layers_panel, self.measurements_panel, self.ai_panel) if d is not None
        ]
        if right:
            self.resizeDocks(right, [280] * len(right), Qt.Orientation.Horizontal)

    # --- plugins and the AI panel -------------------------------------------------------
    def _discover_plugins(self) -> None:
        """Look for plugins in the background (manifests only: no plugin code, no torch);
        the AI dock says "Looking for plugins…" and fills when they are found."""
        if self.ai_panel is not None:
            self.ai_panel.discover_plugins()
        else:
            self.plugin_discovery.start()

    def show_plugin_manager(self) -> QDialog | None:
        """The Plugin Manager (non-modal): loaded plugins, refused ones and why."""
        module = _optional("interval.ui.plugin_manager")
        if module is None:
            self._set_message("The Plugin Manager is not available in this build.")
            return None
        if self._plugin_dialog is None:
            # shares the window's discovery: it shows what was found (or "Looking for
            # plugins…" until then) and its Rescan refreshes the AI dock's models too
            dialog = module.PluginManagerDialog(self, discovery=self.plugin_discovery)
            dialog.setModal(False)
            self._plugin_dialog = dialog
        self._plugin_dialog.show()
        self._plugin_dialog.raise_()
        return self._plugin_dialog

    def _show_warning(self, title: str, message: str) -> None:
        self.problems.add_message(title, message)
        self.problems.show()
        self._set_message(message)

    def _dicom_sources(self, volume: Volume) -> list[Path] | None:
        """The DICOM files ``volume`` was read from (for DICOM SEG), None if not DICOM."""
        meta = volume.metadata
        uids = set(meta.sop_instance_uids)
        if not meta.series_instance_uid or not uids:
            return None
        for _key, stack in self.browser.stacks():
            headers = {f.header.sop_instance_uid: f.header.path for f in stack.frames}
            if uids <= set(headers):
                paths = {headers[u] for u in uids}
                return [Path(p) for p in sorted(paths)]
        return None

    def _on_cursor(self, view_id: str, lps: object) -> None:
        """A view reports the LPS point under the mouse (None: no image under it)."""
        screen = None
        view = self._mpr_view(view_id)
        if lps is not None and view is not None and hasattr(view, "lps_to_display"):
            x, row = view.lps_to_display(np.asarray(lps, dtype=np.float64))
            ratio = float(view.devicePixelRatioF()) or 1.0
            screen = (float(x) / ratio, float(row) / ratio)
        self._cursor = (view_id, screen)
        self._show_cursor_info(view_id, lps)
        self._focus_hovered_view(view)

    def _focus_hovered_view(self, view: QWidget | None) -> None:
        """Give the keyboard to the view under the mouse, so arrow/Page keys act on it
        without a click, unless the user is typing somewhere (a text field keeps it)."""
        target = getattr(view, "vtk", None)
        if not isinstance(target, QWidget) or not self.isActiveWindow():
            return
        focus = QApplication.focusWidget()
        if focus is target or isinstance(focus, _TYPING_WIDGETS):
            return
        if isinstance(focus, QComboBox) and focus.isEditable():
            return
        target.setFocus(Qt.FocusReason.MouseFocusReason)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802  (Qt name)
        """Slice keys nobody took (focus on the window, a button, after a menu) go to the
        view the mouse was last over.  Escape goes back to navigation."""
        tool = self.measure_tool
        if event.key() == Qt.Key.Key_Escape and tool is not None and tool.mode is not None:
            self.select_tool(None)
            event.accept()
            return
        view = self._mpr_view(self._cursor[0]) if self._cursor is not None else None
        interaction = getattr(view, "interaction", None)
        if interaction is not None and interaction.key_press_event(event):
            return
        super().keyPressEvent(event)

    def set_cursor(self, view_id: str, x: float, row: float) -> None:
        """Remember the mouse at widget position ``(x, row)`` of ``view_id`` and show its
        status text; it is recomputed whenever the state changes under it."""
        self._cursor = (view_id, (float(x), float(row)))
        self.refresh_cursor_info()

    def refresh_cursor_info(self, _event: object = None) -> None:
        """Recompute the cursor text for the remembered screen position: the point under the
        mouse changes when the slice, zoom or pan does, its value when the image does."""
        if self._cursor is None:
            return
        view_id, screen = self._cursor
        lps = None
        view = self._mpr_view(view_id)
        if (
            screen is not None
            and view is not None
            and self.state.active_volume is not None
            and getattr(getattr(view, "slice_view", None), "volume", None) is not None
        ):
            lps = view.display_to_lps(*screen)
        self._show_cursor_info(view_id, lps)

    def _show_cursor_info(self, view_id: str, lps: object) -> None:
        from interval.ui.status_info import status_text

        self.cursor_info.setText(
            status_text(self.state, view_id, lps, slices_read=self.slices_still_loading())
        )

    # --- a series still loading ---------------------------------------------------------
    def slices_still_loading(self, volume: Volume | None = None) -> np.ndarray | None:
        """While ``volume`` (default: the active image) is shown before it is completely
        read, which of its slices (k) have been read; None once every slice is final."""
        shown = getattr(self, "_progressive", None)
        vol = self.state.active_volume if volume is None else volume
        if shown is None or shown.closed or vol is None or shown.volume is not vol:
            return None
        if not shown.showing or shown.mask.size == 0 or bool(shown.mask.all()):
            return None
        return shown.mask

    def _is_still_loading(self, volume: Volume) -> bool:
        return self.slices_still_loading(volume) is not None

    def _on_partial(self, shown, partial: object) -> None:  # noqa: ANN001
        shown.on_partial(partial)
        self._sync_loading_ui()

    def _sync_loading_ui(self) -> None:
        """What must wait for the whole series: running a model (it would segment the
        placeholder slices) -- the AI dock is disabled until the load ends; the status
        bar's value under the cursor says "not loaded yet" on slices not read."""
        loading = self.slices_still_loading() is not None
        panel = self.ai_panel
        if panel is not None:
            body = panel.widget()
            running = bool(getattr(panel, "running", False))
            if body is not None:
                body.setEnabled(not loading or running)
                body.setToolTip(
                    "The series is still loading; models can run once it has loaded."
                    if loading else ""
                )
        self.refresh_cursor_info()

    def _mpr_view(self, view_id: str):  # noqa: ANN202
        return (getattr(self.views, "views", None) or {}).get(view_id)

    def _show_text_problem(self, title: str, message: str) -> None:
        self.problems.add_message(title, message, kind="error")
        self.problems.show()
        self._set_message(message)


    # --- opening ------------------------------------------------------------------------


    def _show_error(self, title: str, exc: IntervalError) -> None:
        self.problems.add_message(title, str(exc), kind="error")
        self.problems.show()
        self._set_message(str(exc))

    def _set_message(self, text: str) -> None:
        self.message.setText(text)

    # --- view menu ----------------------------------------------------------------------


    # --- screenshots --------------------------------------------------------------------


    # --- help ---------------------------------------------------------------------------


    # --- drag and drop ------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = _local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_path(paths[0])

    # --- closing ------------------------------------------------------------------------
    def _save_settings(self) -> None:
        if not self.state.two_d_mode:  # 2-D mode's forced 1x1 is not the user's layout
            self.settings.layout = self.state.layout
        self.settings.window_geometry = _b64(self.saveGeometry())
        self.settings.window_state = _b64(self.saveState(WINDOW_STATE_VERSION))
        if self.ai_panel is not None:
            self.settings.model_memory_limit_gib = self.ai_panel.memory_limit_gib()
        save_settings(self.settings, self._settings_path)

    def restore_window_layout(self) -> bool:
        """Put the window, its docks and toolbar back where the user left them (settings);
        True when a saved arrangement was applied.  The Problems dock still opens hidden:
        it appears when there is something to say."""
        restored = False
        if self.settings.window_geometry:
            restored = bool(self.restoreGeometry(_unb64(self.settings.window_geometry)))
        if self.settings.window_state:
            state = _unb64(self.settings.window_state)
            restored = bool(self.restoreState(state, WINDOW_STATE_VERSION)) or restored
        self.problems.hide()
        return restored

    def shutdown(self) -> None:
        """Cancel background work and wait for it; save the settings."""
        self._save_settings()
        ev = self.state.events
        for sig in (ev.volumes, ev.layers, ev.layer, ev.active_volume, ev.crosshair, ev.view):
            sig.disconnect(self.refresh_cursor_info)
        for sig in (ev.active_volume, ev.volumes):
            sig.disconnect(self._sync_presets)
        if self.ai_panel is not None:
            self.ai_panel.shutdown()
        self.plugin_discovery.shutdown()
        self.runner.shutdown()
        if self.cine is not None:
            self.cine.timer.stop()
        time_bar = getattr(self, "time_bar", None)  # 3-D + time (interval.ui.time_axis_bar)
        if time_bar is not None:
            time_bar.close_bar()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)


WINDOW_STATE_VERSION = 1  # bump when docks or toolbars are renamed or removed


def _b64(data: QByteArray) -> str:
    return bytes(data.toBase64().data()).decode("ascii")


def _unb64(text: str) -> QByteArray:
    return QByteArray.fromBase64(QByteArray(text.encode("ascii")))


def _optional(name: str):
    """Module ``name``, or None when this build does not have it."""
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        log.info("%s is not available; its part of the window is left out", name)
        return None


def _local_paths(mime) -> list[Path]:
    if mime is None or not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]
