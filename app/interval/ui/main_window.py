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
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QEvent, QObject, QSize, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
)
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDialog,
    QFileDialog,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QStatusBar,
    QTextEdit,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

import interval
from interval.core.errors import IntervalError, IrregularGeometry
from interval.core.viewer_state import (
    VIEW_IDS,
    CineChanged,
    ImageLayer,
    LayoutChanged,
    ViewerState,
)
from interval.core.volume import Volume
from interval.core.window_presets import CT_PRESETS, initial_window
from interval.io.dicom.policy import DEFAULT_POLICY, DicomReadPolicy
from interval.ui import shortcuts
from interval.ui.problems_panel import ProblemsPanel
from interval.ui.settings import (
    Settings,
    WindowPreset,
    load_settings,
    save_dir,
    save_settings,
)
from interval.ui.status_info import format_window_value
from interval.ui.study_browser import StudyBrowser
from interval.ui.workers import (
    IndexResult,
    Job,
    JobProgress,
    JobRunner,
    Thumbnail,
    index_job,
    load_stack_job,
    read_image_job,
    thumbnails_job,
)

log = logging.getLogger(__name__)

_TYPING_WIDGETS = (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit)
LAYOUT_NAMES = {"1x1": "One view", "1x3": "Axial, coronal, sagittal (1x3)", "2x2": "2 x 2 with 3-D"}
# measuring tool -> (menu text, toolbar text); None is navigation (left-drag W/L)
TOOL_NAMES: dict[str | None, tuple[str, str]] = {
    None: ("Navigate (window / level)", "Navigate"),
    "ruler": ("Ruler", "Ruler"),
    "ellipse": ("Ellipse ROI", "Ellipse"),
    "rectangle": ("Rectangle ROI", "Rectangle"),
}


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


class ElidingLabel(QLabel):
    """A one-line label that never widens its window: a long text is cut with "…".

    ``text()`` still returns the whole text (shown in full when there is room, and as
    the tooltip).
    """

    def __init__(self, text: str = "", parent: QWidget | None = None, *, max_hint: int = 600) -> None:
        super().__init__(text, parent)
        self._max_hint = int(max_hint)  # the width it asks for at most
        self.setMinimumWidth(1)
        self.setTextFormat(Qt.TextFormat.PlainText)

    def setText(self, text: str) -> None:  # noqa: N802  (Qt name)
        super().setText(text)
        self._update_tooltip()

    def _update_tooltip(self) -> None:
        """The whole text as the tooltip whenever it is cut (or long)."""
        text = self.text()
        cut = self.fontMetrics().horizontalAdvance(text.replace("\n", " ")) > self.width()
        self.setToolTip(text if text and (cut or len(text) > 60) else "")

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001  (Qt name)
        super().resizeEvent(event)
        self._update_tooltip()

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt name)
        hint = super().sizeHint()
        return QSize(min(hint.width(), self._max_hint), hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802  (Qt name)
        return QSize(1, super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802  (Qt name)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(
            self.text().replace("\n", " "), Qt.TextElideMode.ElideRight, rect.width()
        )
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(rect, self.alignment(), text)
        painter.end()


class MainWindow(QMainWindow):
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
    def _build_status_bar(self) -> None:
        bar = QStatusBar(self)
        self.setStatusBar(bar)
        self.message = ElidingLabel("Ready.", max_hint=200)
        self.message.setObjectName("statusMessage")
        bar.addWidget(self.message, 1)
        self.tool_indicator = QLabel("Tool: Navigate (left-drag W/L)")
        self.tool_indicator.setObjectName("toolIndicator")
        self.tool_indicator.setMinimumWidth(  # room for the longest, so it never jumps
            self.tool_indicator.fontMetrics().horizontalAdvance("Tool: Rectangle, locked (Esc: stop)")
            + 8
        )
        bar.addPermanentWidget(self.tool_indicator)
        self.cursor_info = ElidingLabel("", max_hint=640)
        self.cursor_info.setObjectName("cursorInfo")
        bar.addPermanentWidget(self.cursor_info)
        self.progress = JobProgress(self)
        bar.addPermanentWidget(self.progress)

    def _action(self, action_id: str, text: str, slot, *, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        keys = shortcuts.keys_for(action_id)
        if keys:
            action.setShortcut(QKeySequence(keys))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        action.setObjectName(action_id)
        self.actions_by_id[action_id] = action
        self.addAction(action)  # shortcuts work even when the menu bar is hidden
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self._action("open_folder", "Open folder…", self._ask_open_folder))
        file_menu.addAction(self._action("open_file", "Open file…", self._ask_open_file))
        if self.layers_panel is not None:
            file_menu.addAction(
                self._action("open_segmentation", "Open segmentation…", self._ask_open_segmentation)
            )
        self.recent_menu = QMenu("Recent folders", self)
        file_menu.addMenu(self.recent_menu)
        self._rebuild_recent_menu()
        file_menu.addSeparator()
        file_menu.addAction(
            self._action("screenshot_view", "Save screenshot of view…", self._ask_screenshot_view)
        )
        file_menu.addAction(
            self._action("screenshot_layout", "Save screenshot of layout…", self._ask_screenshot_layout)
        )
        file_menu.addSeparator()
        quit_action = self._action("quit", "Quit", self.close)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        file_menu.addAction(quit_action)

        view_menu = bar.addMenu("&View")
        group = QActionGroup(self)
        for layout, name in LAYOUT_NAMES.items():
            action = self._action(
                f"layout_{layout}", name, lambda _=False, lay=layout: self.set_layout(lay),
                checkable=True,
            )
            action.setChecked(layout == self.state.layout)
            group.addAction(action)
            view_menu.addAction(action)
        view_menu.addSeparator()
        self.presets_menu = QMenu("Window presets", self)
        view_menu.addMenu(self.presets_menu)
        self._rebuild_presets_menu()
        save_preset = QAction("Save window as preset…", self)
        save_preset.triggered.connect(self._ask_save_preset)
        view_menu.addAction(save_preset)
        view_menu.addAction(self._action("invert", "Invert", self.toggle_invert, checkable=True))
        view_menu.addAction(self._action("cine", "Cine", self.toggle_cine, checkable=True))
        view_menu.addAction(self._action("reset", "Reset view", self.reset_view))
        view_menu.addSeparator()
        view_menu.addAction(self.browser.toggleViewAction())
        view_menu.addAction(self.problems.toggleViewAction())
        for dock in (self.layers_panel, self.measurements_panel, self.ai_panel):
            if dock is not None:
                view_menu.addAction(dock.toggleViewAction())

        tools = bar.addMenu("&Tools")
        if self.measure_tool is not None:
            tool_group = QActionGroup(self)
            tool_group.setExclusive(True)
            for mode, (text, icon_text) in TOOL_NAMES.items():
                action = self._action(
                    f"tool_{mode or 'none'}", text,
                    lambda _=False, m=mode: self.select_tool(m), checkable=True,
                )
                action.setIconText(icon_text)
                action.setToolTip(f"{text} ({action.shortcut().toString()}); "
                                  "double-click the button to lock it")
                action.setChecked(mode is None)
                tool_group.addAction(action)
                tools.addAction(action)
            tools.addSeparator()
            lock = self._action(
                "tool_lock", "Lock tool (keep it after each measurement)",
                lambda checked=False: self.measure_tool.set_sticky(bool(checked)),
                checkable=True,
            )
            lock.setIconText("Lock")
            tools.addAction(lock)
            self.measure_tool.mode_changed.connect(self._on_tool_changed)
            tools.addSeparator()
        tools.addAction(
            self._action("plugin_manager", "Plugin Manager…", self.show_plugin_manager)
        )

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("shortcuts", "Keyboard shortcuts…", self.show_shortcuts))
        about = QAction("About Interval", self)
        about.triggered.connect(self.show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        help_menu.addAction(about)

    def _build_toolbar(self) -> None:
        """The main toolbar: tools (exclusive, checked = active), layouts, presets, invert,
        reset and screenshot, all the same QActions as the menus."""
        bar = QToolBar("Main toolbar", self)
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.toolbar = bar
        ids = self.actions_by_id
        if self.measure_tool is not None:
            for mode in TOOL_NAMES:
                action = ids[f"tool_{mode or 'none'}"]
                bar.addAction(action)
                button = bar.widgetForAction(action)
                if button is not None and mode is not None:
                    button.installEventFilter(self)  # double-click: lock this tool
                    self._tool_buttons[button] = mode
            bar.addAction(ids["tool_lock"])
            bar.addSeparator()
        for layout in LAYOUT_NAMES:
            action = ids[f"layout_{layout}"]
            action.setIconText(layout)
            bar.addAction(action)
        bar.addSeparator()
        presets = QToolButton(bar)
        presets.setObjectName("presetsButton")
        presets.setText("Presets")
        presets.setToolTip("Window presets (F2…)")
        presets.setMenu(self.presets_menu)
        presets.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        bar.addWidget(presets)
        for action_id in ("invert", "reset", "screenshot_view"):
            bar.addAction(ids[action_id])
        ids["screenshot_view"].setIconText("Screenshot")
        ids["reset"].setIconText("Reset")

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

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for folder in self.settings.recent_folders:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _=False, f=folder: self.open_path(f))
        self.recent_menu.setEnabled(bool(self.settings.recent_folders))

    def _rebuild_presets_menu(self) -> None:
        self.presets_menu.clear()
        default = self.presets_menu.addAction("Series default (DICOM window, or automatic)")
        default.setObjectName("preset-default")
        default.triggered.connect(self.apply_default_window)
        self._default_preset_action = default
        self.presets_menu.addSeparator()
        self._ct_preset_actions: list[QAction] = []
        for n, wl in enumerate(CT_PRESETS):
            action = self.presets_menu.addAction(f"{wl.name}  (W {wl.width:g} L {wl.center:g})")
            if n < len(shortcuts.PRESET_KEYS):
                action.setShortcut(QKeySequence(shortcuts.PRESET_KEYS[n]))
            action.triggered.connect(
                lambda _=False, w=wl: self.apply_window(w.center, w.width, w.name)
            )
            self._ct_preset_actions.append(action)
        self._sync_presets()
        if self.settings.window_presets:
            self.presets_menu.addSeparator()
            for wp in self.settings.window_presets:
                w, c = (format_window_value(v, False) for v in (wp.width, wp.center))
                action = self.presets_menu.addAction(f"{wp.name}  (W {w} L {c})")
                action.triggered.connect(
                    lambda _=False, w=wp: self.apply_window(w.center, w.width, w.name)
                )

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
            )
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
        """Look for plugins in the background (manifests only: no plugin code, no torch)."""
        if self.ai_panel is not None:
            self.ai_panel.discover_plugins()

    def show_plugin_manager(self) -> QDialog | None:
        """The Plugin Manager (non-modal): loaded plugins, refused ones and why."""
        module = _optional("interval.ui.plugin_manager")
        if module is None:
            self._set_message("The Plugin Manager is not available in this build.")
            return None
        if self._plugin_dialog is None:
            dialog = module.PluginManagerDialog(self)
            dialog.setModal(False)
            if self.ai_panel is not None:  # a rescan there refreshes the AI panel's models
                dialog.rescan_button.clicked.connect(
                    lambda: self.ai_panel.set_registry(dialog.registry)
                )
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

    def _open_dialog_start(self) -> str:
        """Where an Open dialog starts: the folder a file was last opened from, else the
        folder being read, else home (never the program's working directory)."""
        for folder in (getattr(self, "_last_open_dir", None), self.current_folder):
            if folder is not None and Path(folder).is_dir():
                return str(folder)
        return str(Path.home())

    def _ask_open_segmentation(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a segmentation", self._open_dialog_start(),
            "Segmentations (*.nii *.nii.gz *.nrrd *.seg.nrrd *.mha *.dcm);;All files (*)",
        )
        if path:
            self._last_open_dir = Path(path).parent
            self.open_segmentation(path)

    def open_segmentation(self, path: str | Path) -> Job | None:
        """Load a label map (NIfTI/NRRD/MHA or DICOM SEG) onto the active image, in the
        background, placed by geometry."""
        from interval.ui.layers_panel import prepare_segmentation

        image = self.state.active_volume
        path = Path(path)
        if image is None:
            self._show_text_problem("Segmentation", "Open an image before its segmentation.")
            return None
        job = self.runner.submit(
            "loading a segmentation",
            lambda ctx: prepare_segmentation(path, image),
            on_done=lambda vols: self._on_segmentation_loaded(vols, image, path),
            on_error=lambda exc: self._show_error("Segmentation", exc),
            progress_widget=self.progress,
            text=f"Loading {path.name}…",
        )
        return job

    def attach_segmentation(self, series_instance_uid: str, path: str | Path) -> None:
        """Add ``path`` as a layer each time the series ``series_instance_uid`` is loaded.

        Used by ``interval demo --view`` (the AI result of every timepoint appears with
        it); when the folder being opened has several series and none is chosen, the
        first series with an attached segmentation is loaded.
        """
        self.series_segmentations[series_instance_uid] = Path(path)

    def _stack_series_uid(self, key: str) -> str | None:
        stack = self.browser.stack(key)
        return stack.first.series_instance_uid if stack is not None and stack.frames else None

    def _on_segmentation_loaded(self, volumes: list[Volume], image: Volume, path: Path) -> None:
        """Add a loaded segmentation on ``image`` (if still active) and list its warnings
        (e.g. a damaged label description) in the Problems dock."""
        from interval.ui.layers_panel import add_segmentation

        if self.state.active_volume is not image:
            return
        add_segmentation(self.state, volumes, path.name)
        warnings = list(dict.fromkeys(w for v in volumes for w in v.metadata.warnings))
        for warning in warnings:
            self.problems.add_message(path.name, warning)
        if warnings:
            self.problems.show()
            self._set_message(f"{path.name}: {warnings[0]}")
        else:
            n = sum(len(v.labels) for v in volumes if v.labels is not None)
            self._set_message(f"Opened {path.name}: {n} label(s) on this series.")

    # --- opening ------------------------------------------------------------------------
    def _ask_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of DICOM files")
        if folder:
            self.open_path(folder)

    def _ask_open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a file", self._open_dialog_start(),
            "Images (*.dcm *.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd);;All files (*)",
        )
        if path:
            self._last_open_dir = Path(path).parent
            self.open_path(path)

    def open_path(self, path: str | Path, policy: DicomReadPolicy = DEFAULT_POLICY) -> Job | None:
        """Open a DICOM folder, a DICOM file or an image file, in the background."""
        from interval.io.open_path import classify_path

        path = Path(path).expanduser()
        try:
            kind = classify_path(path)
        except IntervalError as exc:
            self._show_error("Cannot open", exc)
            return None
        if kind == "image-file":
            return self._start_load(read_image_job(path), path.name, key=str(path))
        return self.open_dicom(path, policy)

    def open_dicom(self, path: Path, policy: DicomReadPolicy = DEFAULT_POLICY) -> Job:
        """Index ``path`` (folder or DICOM file) in the background and show the result."""
        for job in (self.index_job, self.thumb_job):
            if job is not None:
                job.cancel()
        self._policy = policy
        self.current_folder = path if path.is_dir() else path.parent
        # one image of a series opens the whole series it belongs to
        self._focus_file = None if path.is_dir() else path
        self.browser.clear(f"Reading {path.name}…")
        self.problems.clear()
        self.index_result = None
        job = self.runner.submit(
            "indexing",
            index_job(path, policy, siblings=self._focus_file is not None),
            on_done=self._on_indexed,
            on_error=lambda exc: self._on_index_failed(exc),
            on_cancel=self._on_index_cancelled,
            progress_widget=self.progress,
            text=f"Reading {path.name}…",
        )
        self.index_job = job
        self._set_message(f"Reading {path.name}…")
        if path.is_dir():
            self.settings.add_recent(path)
            self._save_settings()
            self._rebuild_recent_menu()
        return job

    def _on_indexed(self, result: IndexResult) -> None:
        self.index_result = result
        index = result.index
        self.browser.set_index(index, result.irregular, result.unloadable)
        self.problems.add_skipped(index.skipped, index.root)
        for warning in index.warnings:
            self.problems.add_message("Folder", warning)
        for uid, problems in result.irregular.items():
            self.problems.add_series_problem(
                uid, self._stack_title(uid), problems, irregular=True, policy=self._policy
            )
        for uid, reason in result.unloadable.items():
            self.problems.add_series_problem(uid, self._stack_title(uid), [reason], irregular=False)
        stacks = self.browser.stacks()
        if self.problems.count() and _worth_showing(result, bool(stacks)):
            self.problems.show()
        self._set_message(self.browser.status.text())
        if stacks:
            self.thumb_job = self.runner.submit(
                "making thumbnails", thumbnails_job(stacks), on_partial=self._on_thumbnail
            )
        loadable = [uid for uid, _s in stacks if uid not in result.irregular]
        focus = self._focus_file
        if focus is not None:
            from interval.io.open_path import stack_containing

            uid = stack_containing(index, focus)
            if uid is not None and uid in loadable:
                self.load_stack(uid)
                return
        if len(stacks) == 1 and loadable:
            self.load_stack(loadable[0])
            return
        attached = [uid for uid in loadable
                    if self._stack_series_uid(uid) in self.series_segmentations]
        if attached:
            self.load_stack(attached[0])

    def _on_index_failed(self, exc: IntervalError) -> None:
        self.browser.clear(str(exc))
        self._show_error("Cannot read the folder", exc)

    def _on_index_cancelled(self) -> None:
        self.browser.clear("Reading cancelled.")
        self._set_message("Reading cancelled.")

    def _on_thumbnail(self, thumb: Thumbnail) -> None:
        self.browser.set_thumbnail(thumb.key, thumb.pixels)

    def load_stack(self, stack_uid: str, policy: DicomReadPolicy | None = None) -> Job | None:
        """Load one stack of the current index in the background and show it."""
        stack = self.browser.stack(stack_uid)
        if stack is None:
            self._set_message("That series is no longer available; open the folder again.")
            return None
        policy = policy if policy is not None else self._policy
        return self._start_load(load_stack_job(stack, policy), self._stack_title(stack_uid), stack_uid)

    def _start_load(self, fn, title: str, key: str) -> Job:
        from interval.ui.progressive_load import ProgressiveLoad

        if self.load_job is not None:
            self.load_job.cancel()
        # the series is shown as it loads (middle slice first); see progressive_load
        shown = ProgressiveLoad(self.state, self.views, title, self)
        older = getattr(self, "_progressive", None)
        if older is not None and not (self.load_job is not None and self.load_job.state == "finished"):
            shown.take_over(older)  # its partial volume goes; what it replaced comes back
        self._progressive = shown
        job = self.runner.submit(
            "loading",
            fn,
            on_done=lambda volume, k=key, t=title, p=shown: self._on_loaded(volume, k, t, p),
            on_error=lambda exc, k=key, t=title, p=shown: self._on_load_failed(exc, k, t, p),
            on_cancel=lambda t=title, p=shown: self._on_load_cancelled(t, p),
            on_partial=lambda partial, p=shown: self._on_partial(p, partial),
            progress_widget=self.progress,
            text=f"Loading {title}…",
        )
        self.load_job = job
        self._set_message(f"Loading {title}…")
        return job

    def _on_loaded(self, volume: Volume, key: str, title: str, shown=None) -> None:
        current = shown is None or shown is getattr(self, "_progressive", None)
        if not current and shown.closed:
            return  # a newer load took over the views before this one ended
        if shown is None or not shown.finish(volume):
            if not current:
                return  # a newer load already shows its own slices
            with self.state.events.batch():
                for vid in list(self.state.volumes):
                    self.state.remove_volume(vid)
                self.state.add_volume(volume, name=title)
        if current:
            self._progressive = None
        self.loaded_stack_uid = key
        self.problems.remove_series_problem(key)
        for warning in volume.metadata.warnings:
            self.problems.add_message(title, warning)
        if volume.metadata.warnings:
            self.problems.show()
        nz, ny, nx = volume.array.shape[:3]
        self._set_message(f"{title}: {nx} x {ny} x {nz} voxels")
        self._sync_invert_action()
        self._sync_loading_ui()
        seg = self.series_segmentations.get(self._stack_series_uid(key) or "")
        if seg is not None:
            self.open_segmentation(seg)

    def _on_load_failed(self, exc: IntervalError, key: str, title: str, shown=None) -> None:
        if shown is not None and shown is getattr(self, "_progressive", None):
            shown.abandon()  # the slices shown so far go; what was shown before comes back
            self._progressive = None
        self._sync_loading_ui()
        if isinstance(exc, IrregularGeometry):
            self.problems.add_series_problem(
                key, title, exc.problems or [str(exc)], irregular=True, policy=self._policy
            )
            self._set_message(f"{title}: irregular slices; see Problems to load it anyway.")
        else:
            self.problems.add_series_problem(key, title, [str(exc)], irregular=False)
            self._set_message(f"{title}: {exc}")
        self.problems.show()
        self.problems.raise_()

    def _on_load_cancelled(self, title: str, shown=None) -> None:
        if shown is not None and shown is not getattr(self, "_progressive", None):
            return  # replaced by a newer load, which now owns the views
        self._progressive = None
        had_partial = shown is not None and shown.volume is not None and shown.showing
        restored = shown.abandon() if shown is not None else False
        self._sync_loading_ui()
        if restored:
            self._set_message(f"Loading {title} cancelled; the previous series is shown again.")
        elif had_partial:
            self._set_message(f"Loading {title} cancelled; its partly loaded slices were closed.")
        else:
            self._set_message(f"Loading {title} cancelled.")

    def _stack_title(self, stack_uid: str) -> str:
        index = self.index_result.index if self.index_result else self.browser.index
        if index is not None:
            for _p, study, series in index.iter_series():
                for stack in series.stacks:
                    if stack.uid == stack_uid:
                        desc = series.series_description or series.modality or "series"
                        number = f"#{series.series_number} " if series.series_number is not None else ""
                        date = f" ({study.study_date.isoformat()})" if study.study_date else ""
                        part = f" [{stack.label}]" if stack.label and len(series.stacks) > 1 else ""
                        return f"{number}{desc}{part}{date}"
        return Path(stack_uid).name or stack_uid

    def _show_error(self, title: str, exc: IntervalError) -> None:
        self.problems.add_message(title, str(exc), kind="error")
        self.problems.show()
        self._set_message(str(exc))

    def _set_message(self, text: str) -> None:
        self.message.setText(text)

    # --- view menu ----------------------------------------------------------------------
    def set_layout(self, layout: str) -> None:
        self.state.set_layout(layout)

    def _on_layout_changed(self, event: LayoutChanged) -> None:
        action = self.actions_by_id.get(f"layout_{event.layout}")
        if action is not None:
            action.setChecked(True)
        self.settings.layout = event.layout

    def _active_image_layer(self) -> ImageLayer | None:
        vid = self.state.active_volume_id
        if vid is None:
            return None
        for layer in self.state.layers:
            if isinstance(layer, ImageLayer) and layer.volume_id == vid:
                return layer
        return None

    def _sync_presets(self, _event: object = None) -> None:
        """The CT presets are in Hounsfield units: offered for a CT (or an image that does
        not say what it is, e.g. a NIfTI file), not for MR or PET, where they would give a
        meaningless near-black or white image."""
        from interval.ui.status_info import may_be_hu

        volume = self.state.active_volume
        hu = may_be_hu(volume)
        for action in getattr(self, "_ct_preset_actions", []):
            action.setEnabled(hu)
            action.setToolTip("" if hu or volume is None else "CT presets need an image in HU.")
        default = getattr(self, "_default_preset_action", None)
        if default is not None:
            default.setEnabled(volume is not None)

    def apply_default_window(self) -> None:
        """Back to the series' own window: its DICOM default, else the automatic one."""
        layer = self._active_image_layer()
        if layer is not None:
            wl = initial_window(self.state.volume(layer.volume_id))
            self.apply_window(wl.center, wl.width, wl.name or "default")

    def apply_window(self, center: float, width: float, name: str = "") -> None:
        layer = self._active_image_layer()
        if layer is not None:
            self.state.set_window(layer.id, center, width, name)
            from interval.ui.status_info import window_text

            text = window_text(self.state.volume(layer.volume_id), width, center)
            self._set_message(f"Window {name} {text}" if name else f"Window {text}")

    def _ask_save_preset(self) -> None:
        layer = self._active_image_layer()
        if layer is None:
            self._set_message("Open an image first.")
            return
        name, ok = QInputDialog.getText(self, "Save window preset", "Name:")
        if ok and name.strip():
            self.save_window_preset(name.strip())

    def save_window_preset(self, name: str) -> WindowPreset | None:
        """Remember the active image's window as a named preset (kept in the settings)."""
        layer = self._active_image_layer()
        if layer is None:
            return None
        preset = WindowPreset(name, layer.window.center, layer.window.width)
        self.settings.window_presets = [
            *(p for p in self.settings.window_presets if p.name != name), preset
        ]
        self._save_settings()
        self._rebuild_presets_menu()
        self._set_message(f"Saved window preset {name}")
        return preset

    def toggle_invert(self) -> None:
        layer = self._active_image_layer()
        if layer is not None:
            self.state.set_invert(layer.id, not layer.invert)
        self._sync_invert_action()

    def _sync_invert_action(self) -> None:
        layer = self._active_image_layer()
        self.actions_by_id["invert"].setChecked(bool(layer is not None and layer.invert))

    def toggle_cine(self) -> None:
        """Play or stop cine in the focused 2-D view."""
        playing = not self.state.cine.playing
        view_id = self.state.focused_view if self.state.focused_view != "3d" else "axial"
        if self.state.active_volume is None:
            playing = False
        self.state.set_cine(playing=playing, view_id=view_id)
        self.actions_by_id["cine"].setChecked(self.state.cine.playing)

    def _on_cine_changed(self, event: CineChanged) -> None:
        self.actions_by_id["cine"].setChecked(event.cine.playing)

    def reset_view(self) -> None:
        with self.state.events.batch():
            for view_id in VIEW_IDS:
                self.state.reset_view(view_id)
            layer = self._active_image_layer()
            if layer is not None:
                wl = initial_window(self.state.volume(layer.volume_id))
                self.state.set_window(layer.id, wl.center, wl.width, wl.name)

    # --- screenshots --------------------------------------------------------------------
    def _focused_view_widget(self) -> QWidget:
        """The VTK view to save: the layout's own answer when it has one, else the first."""
        finder = getattr(self.views, "widget", None)
        if callable(finder):
            try:
                widget = finder(self.state.focused_view)
            except (KeyError, ValueError):
                widget = None
            if widget is not None:
                return widget
        from interval.ui.vtk_widget import VtkWidget

        views = [w for w in self.views.findChildren(VtkWidget) if w.isVisible()]
        focused = next((w for w in views if w.hasFocus()), None)
        return focused or (views[0] if views else self.views)

    def save_view_screenshot(self, path: str | Path) -> Path:
        from interval.ui.screenshot import save_view

        return save_view(self._focused_view_widget(), path)

    def save_layout_screenshot(self, path: str | Path) -> Path:
        from interval.ui.screenshot import save_layout

        return save_layout(self, path)

    def _ask_screenshot(self, which: str) -> None:
        start = save_dir(self.settings) / f"interval-{which}.png"
        path, _ = QFileDialog.getSaveFileName(
            self, f"Save screenshot of {which}", str(start), "PNG (*.png)"
        )
        if not path:
            return
        try:
            saved = (self.save_view_screenshot if which == "view" else self.save_layout_screenshot)(path)
        except IntervalError as exc:
            self._show_error("Screenshot", exc)
        else:
            self._on_saved(str(saved))

    def _on_saved(self, path: str) -> None:
        """A file was saved (CSV, screenshot): say so, and start the next save dialog in
        its folder (kept in the settings)."""
        self._set_message(f"Saved {path}")
        self.settings.last_save_dir = str(Path(path).resolve().parent)
        if self.measurements_panel is not None:
            self.measurements_panel.save_dir = self.settings.last_save_dir
        self._save_settings()

    def _ask_screenshot_view(self) -> None:
        self._ask_screenshot("view")

    def _ask_screenshot_layout(self) -> None:
        self._ask_screenshot("layout")

    # --- help ---------------------------------------------------------------------------
    def show_shortcuts(self) -> QDialog:
        """The shortcut table (non-modal)."""
        if self._help_dialog is None:
            dialog = QDialog(self)
            dialog.setObjectName("shortcutsDialog")
            dialog.setWindowTitle("Keyboard shortcuts")
            lay = QVBoxLayout(dialog)
            preset_rows = tuple(
                shortcuts.Shortcut(key, f"Window preset: {wl.name}", "Window presets")
                for key, wl in zip(shortcuts.PRESET_KEYS, CT_PRESETS, strict=False)
            )
            label = QLabel(shortcuts.as_html(preset_rows))
            label.setTextFormat(Qt.TextFormat.RichText)
            lay.addWidget(label)
            self._help_dialog = dialog
        self._help_dialog.show()
        self._help_dialog.raise_()
        return self._help_dialog

    def show_about(self) -> QMessageBox:
        box = QMessageBox(self)
        box.setWindowTitle("About Interval")
        box.setText(
            f"Interval {interval.__version__}\n\nA clinical imaging viewer with AI plugins.\n"
            "Not for primary diagnosis unless validated for that use."
        )
        box.setModal(False)
        box.show()
        return box

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
        self.settings.layout = self.state.layout
        self.settings.window_geometry = _b64(self.saveGeometry())
        self.settings.window_state = _b64(self.saveState(WINDOW_STATE_VERSION))
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
        self.runner.shutdown()
        if self.cine is not None:
            self.cine.timer.stop()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)


def _worth_showing(result: IndexResult, found_images: bool) -> bool:
    """Whether an indexing result should open the Problems dock by itself: not when the
    only things skipped were files that are not DICOM at all (README, LICENSE, NIfTI
    beside the series) and images were found -- the browser's status line still counts
    them, and View > Problems lists them."""
    index = result.index
    if result.irregular or result.unloadable or index.warnings or not found_images:
        return True
    return any(s.reason.strip() != "not a DICOM file" for s in index.skipped)


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
