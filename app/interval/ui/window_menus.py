"""The main window's menus, toolbar and status bar (built once, from the window's actions)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMenu,
    QStatusBar,
    QToolBar,
    QToolButton,
    QWidget,
)
from shiboken6 import isValid

from interval.core.window_presets import CT_PRESETS
from interval.ui import shortcuts
from interval.ui.plain_text import plain_label, plain_tooltip
from interval.ui.status_info import format_window_value
from interval.ui.workers import JobProgress

LAYOUT_NAMES = {"1x1": "One view", "1x3": "Axial, coronal, sagittal (1x3)", "2x2": "2 x 2 with 3-D"}
# measuring tool -> (menu text, toolbar text); None is navigation (left-drag W/L)
TOOL_NAMES: dict[str | None, tuple[str, str]] = {
    None: ("Navigate (window / level)", "Navigate"),
    "ruler": ("Ruler", "Ruler"),
    "ellipse": ("Ellipse ROI", "Ellipse"),
    "rectangle": ("Rectangle ROI", "Rectangle"),
}


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
        self.setToolTip(plain_tooltip(text) if text and (cut or len(text) > 60) else "")

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


class MenusMixin:
    """Methods of :class:`~interval.ui.main_window.MainWindow` (a mixin; not used alone)."""

    def _build_status_bar(self) -> None:
        bar = QStatusBar(self)
        self.setStatusBar(bar)
        self.message = ElidingLabel("Ready.", max_hint=200)
        self.message.setObjectName("statusMessage")
        bar.addWidget(self.message, 1)
        self.tool_indicator = plain_label("Tool: Navigate (left-drag W/L)")
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
        file_menu.addAction(self._action(
            "open_tracking_results", "Open tracking results…", self._ask_open_tracking_results))
        self.recent_menu = QMenu("Recent folders", self)
        file_menu.addMenu(self.recent_menu)
        self._rebuild_recent_menu()
        file_menu.addSeparator()
        file_menu.addAction(self._action("query_pacs", "Query PACS…", self.show_pacs_dialog))
        file_menu.addAction(
            self._action("send_to_pacs", "Send results to PACS…", self.show_send_dialog))
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
        view_menu.addAction(self._action("fuse_pet_ct", "Fuse PET with CT", self.fuse_pet_ct))
        from interval.ui.overlay_actions import add_overlay_actions  # on-image text, anonymised

        add_overlay_actions(self, file_menu, view_menu)  # screenshots (File, after the others)
        view_menu.addSeparator()
        axes_group = QActionGroup(self)  # as 3D Slicer's slice-view menu
        for action_id, mode, text in (
            ("rotate_to_volume_plane", "volume", "Rotate to volume plane"),
            ("patient_axes", "patient", "Patient axes"),
        ):
            action = self._action(
                action_id, text, lambda _=False, m=mode: self.choose_view_axes(m), checkable=True
            )
            axes_group.addAction(action)
            view_menu.addAction(action)
        self.state.events.active_volume.connect(self._sync_axes_actions)
        self.state.events.view.connect(self._sync_axes_actions)
        self._sync_axes_actions()
        view_menu.addSeparator()
        view_menu.addAction(self.browser.toggleViewAction())
        view_menu.addAction(self.problems.toggleViewAction())
        for dock in (self.layers_panel, self.measurements_panel, self.ai_panel):
            if dock is not None:
                view_menu.addAction(dock.toggleViewAction())

        longitudinal = bar.addMenu("&Longitudinal")
        longitudinal.addAction(
            self._action("track_patient", "Track patient…", self.show_timeline_dock))
        longitudinal.addAction(self.actions_by_id["open_tracking_results"])

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
        from interval.ui.about_dialog import open_user_guide, show_about_dialog

        help_menu.addAction(self._action("user_guide", "User guide",
                                         lambda _=False: open_user_guide(self)))
        about = QAction("About Interval", self)
        about.setObjectName("about")
        about.triggered.connect(lambda _=False: show_about_dialog(self))
        about.setMenuRole(QAction.MenuRole.AboutRole)
        help_menu.addAction(about)

    def choose_view_axes(self, mode: str) -> None:
        """Show the active series in its acquisition plane (``"volume"``) or on the
        patient axes (``"patient"``); remembered for that series while it is open."""
        self.state.set_view_axes_mode(mode)
        self._sync_axes_actions()

    def _sync_axes_actions(self, _event: object = None) -> None:
        """Check the axes item the views follow (enabled once an image is shown)."""
        ids = self.actions_by_id
        actions = (ids.get("rotate_to_volume_plane"), ids.get("patient_axes"))
        if any(a is None or not isValid(a) for a in actions):
            return
        mode = self.state.view_axes_mode
        for action, m in zip(actions, ("volume", "patient"), strict=True):
            action.setEnabled(self.state.active_volume is not None)
            action.setChecked(mode == m)

    def _ask_open_tracking_results(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open the output folder of interval track or interval demo")
        if folder:
            self.open_tracking_results(folder)

    def show_timeline_dock(self) -> QWidget:
        """The Timeline dock (made on first use) on the study browser's folder, shown:
        choose the patient's timepoints and run the tracking in the background."""
        from interval.ui.longitudinal.timeline_dock import TimelineDock

        dock = getattr(self, "timeline_dock", None)
        if dock is None:
            dock = TimelineDock(self, runner=self.runner,
                                open_workspace=self.open_tracking_results)
            self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
            self.tabifyDockWidget(self.browser, dock)
            self.timeline_dock = dock
            dock.follow(self.browser.index_changed,  # the browser shows a new index
                        lambda: (self.index_result.index if self.index_result else None,
                                 self.current_folder))
        result, folder = self.index_result, self.current_folder
        if (result is not None and folder is not None and not dock.running
                and (dock.folder != folder or dock.index is not result.index)):
            dock.set_index(result.index, folder)
        dock.show()
        dock.raise_()
        return dock

    def show_pacs_dialog(self) -> QWidget:
        """File > Query PACS…: search, retrieve into the cache, open (``ui.pacs_dialog``)."""
        from interval.ui.pacs_dialog import show_pacs_dialog

        return show_pacs_dialog(self)

    def show_send_dialog(self) -> QWidget:
        """File > Send results to PACS…: an output's SEG and SR (``ui.pacs_send``)."""
        from interval.ui.pacs_send import show_send_dialog

        return show_send_dialog(self)

    def open_tracking_results(self, folder: str | Path) -> QWidget | None:
        """Open an ``interval track`` / ``interval demo`` output folder in the longitudinal
        workspace window (None, with the reason in the Problems dock, when it cannot)."""
        from interval.core.errors import IntervalError
        from interval.ui.longitudinal.workspace_window import open_workspace_window

        try:
            window = open_workspace_window(folder, self)
        except IntervalError as exc:
            self._show_error("Cannot open the tracking results", exc)
            return None
        self.workspace_windows = [w for w in getattr(self, "workspace_windows", [])
                                  if isValid(w) and w.isVisible()] + [window]
        return window

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

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for folder in self.settings.recent_folders:
            action = self.recent_menu.addAction(folder.replace("&", "&&"))  # no mnemonic
            action.triggered.connect(lambda _=False, f=folder: self.open_path(f))
        self.recent_menu.setEnabled(bool(self.settings.recent_folders))

    def _rebuild_presets_menu(self) -> None:
        self.presets_menu.clear()
        default = self.presets_menu.addAction("Series default (DICOM window if it fits, else automatic)")
        default.setObjectName("preset-default")
        default.triggered.connect(self.apply_default_window)
        self._default_preset_action = default
        auto = self.presets_menu.addAction("Auto (from the image)")
        auto.setObjectName("preset-auto")
        auto.setToolTip("1st to 99th percentile of the voxels in the body")
        auto.triggered.connect(self.apply_auto_window)
        self._auto_preset_action = auto
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
