"""The longitudinal workspace window: review, correct and sign off one tracking run.

:class:`LongitudinalWorkspaceWindow` shows a
:class:`~interval.longitudinal.workspace.LongitudinalWorkspace` (the logic lives there;
this window only shows it and sends the reader's actions back):

* centre: the timepoints side by side (``interval.ui.longitudinal.timepoint_views``,
  imported lazily: a placeholder when this build lacks it) over the
  :class:`~interval.ui.longitudinal.lesion_table.LesionTableView`;
* right dock: the selected lesion's growth chart and the RECIST sum chart (tabs), with
  "Export chart…" (PNG / SVG);
* a click in the table shows that lesion in every view and the chart follows; the row's
  context menu holds the corrections (rename, exclude / include, target / non-target,
  unlink, link, merge, split: :mod:`.correction_dialogs`).  A refused action shows its
  sentence; after every change the table, charts, views and title ("*" while the report
  is not re-exported) follow;
* Edit > Undo / Redo with the workspace's labels; File > Export report… asks the sign-off
  name and writes the reports in the background (:class:`~interval.ui.workers.JobRunner`);
* closing with unsaved changes asks (Export / Discard / Cancel); the window geometry,
  dock / splitter layout, chart tab and selected lesion are saved with the workspace's
  session and restored when it opens again;
* View > On-image text (T) shows or hides the views' corner texts and scale bar.  Opened
  from the viewer, it is bound to the viewer's own View > On-image text: the views start
  with the viewer's setting and follow it either way while the window is open.

Text from reports, plugins and DICOM is shown as plain text throughout.
"""

from __future__ import annotations

import importlib
import logging
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStatusBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from interval.core.errors import IntervalError
from interval.longitudinal.lesion_rows import LesionTableRows, timepoint_headers
from interval.longitudinal.model import ROLE_EXCLUDED, ROLE_NEW, ROLE_NON_TARGET, ROLE_TARGET
from interval.longitudinal.workspace import (
    ExportResult,
    LongitudinalWorkspace,
    WorkspaceChange,
)
from interval.ui.longitudinal import correction_dialogs as dialogs
from interval.ui.longitudinal.growth_charts import LesionGrowthChart, SumChart
from interval.ui.longitudinal.lesion_table import LesionTableView
from interval.ui.plain_text import make_plain, plain_label
from interval.ui.workers import Job, JobProgress, JobRunner

log = logging.getLogger(__name__)

SESSION_KEY = "workspace_window"
_STATE_VERSION = 1
_VIEWS_MODULE = "interval.ui.longitudinal.timepoint_views"
CHART_DELAY_MS = 40  # the growth chart follows a selection this much later (views first)
#: the viewer's View > On-image text (:mod:`interval.ui.overlay_actions`), the one switch
#: of the on-image text that the workspace's views follow too
OVERLAY_TEXT_ACTION = "overlay_text"


class _Relay(QObject):
    """Brings the workspace's notifications to the UI thread (the export runs on a worker)."""

    changed = Signal(object)


def _b64(data: QByteArray) -> str:
    return bytes(data.toBase64().data()).decode("ascii")


def _unb64(text: Any) -> QByteArray | None:
    if not isinstance(text, str) or not text:
        return None
    return QByteArray.fromBase64(QByteArray(text.encode("ascii")))


def viewer_text_action(parent: QWidget | None) -> QAction | None:
    """The viewer window's View > On-image text action (``parent``'s), or None when the
    workspace runs on its own (``interval demo``)."""
    actions = getattr(parent, "actions_by_id", None)
    action = actions.get(OVERLAY_TEXT_ACTION) if isinstance(actions, dict) else None
    return action if isinstance(action, QAction) else None


def make_views(workspace: LongitudinalWorkspace, parent: QWidget) -> QWidget:
    """The side-by-side timepoint views, or a placeholder when this build lacks them."""
    try:
        module = importlib.import_module(_VIEWS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != _VIEWS_MODULE:
            raise
        label = QLabel("The side-by-side timepoint views are not available in this build.",
                       parent)
        label.setObjectName("timepointViewsPlaceholder")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        return label
    return module.TimepointViews(workspace, parent)


class LongitudinalWorkspaceWindow(QMainWindow):
    """The workspace of one ``interval track`` output folder (see the module docstring)."""

    def __init__(self, workspace: LongitudinalWorkspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("longitudinalWorkspaceWindow")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.workspace = workspace
        self.runner = JobRunner(self, max_threads=1)
        self.export_job: Job | None = None
        self.last_export: ExportResult | None = None
        self.last_message: tuple[str, str] | None = None  # (title, text) of the last box
        self._message_box: QMessageBox | None = None
        self._close_after_export = False
        self._closing = False
        self._replaced = False  # a newer window took over after the report was made again
        self.replacement: LongitudinalWorkspaceWindow | None = None
        self._chart_lesion: str | None = None  # a chart to show once the views have drawn
        self.resize(1400, 900)
        self._use_saved_registrations()

        self.views = make_views(workspace, self)
        if hasattr(self.views, "axis_edit_guard"):  # no axis drags while the export reads
            self.views.axis_edit_guard = (
                lambda: "Wait until the report is exported." if self.export_job is not None
                else "")
        self.table = LesionTableView(self)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("workspaceSplitter")
        self.splitter.addWidget(self.views)
        self.splitter.addWidget(self.table)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.setCentralWidget(self.splitter)

        self.growth_chart = LesionGrowthChart(self)
        self.sum_chart = SumChart(self)
        self.chart_tabs = QTabWidget(self)
        self.chart_tabs.setObjectName("chartTabs")
        self.chart_tabs.addTab(self.growth_chart, "Lesion")
        self.chart_tabs.addTab(self.sum_chart, "Sum of diameters")
        charts = QWidget(self)
        box = QVBoxLayout(charts)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.chart_tabs, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        self.export_chart_button = QPushButton("Export chart…", charts)
        self.export_chart_button.setObjectName("exportChart")
        self.export_chart_button.clicked.connect(self._ask_export_chart)
        row.addWidget(self.export_chart_button)
        box.addLayout(row)
        self.chart_dock = QDockWidget("Growth charts", self)
        self.chart_dock.setObjectName("growthChartsDock")
        self.chart_dock.setWidget(charts)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.chart_dock)
        self.resizeDocks([self.chart_dock], [520], Qt.Orientation.Horizontal)
        self.registration_check: QWidget | None = None  # made when its dock is first shown
        self.registration_dock = QDockWidget("Registration check", self)
        self.registration_dock.setObjectName("registrationCheckDock")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.registration_dock)
        self.tabifyDockWidget(self.chart_dock, self.registration_dock)
        self.registration_dock.hide()
        self.registration_dock.visibilityChanged.connect(self._registration_dock_shown)

        status = QStatusBar(self)
        self.setStatusBar(status)
        self.message = plain_label("", self)
        status.addWidget(self.message, 1)
        self.progress = JobProgress(self)
        status.addPermanentWidget(self.progress)

        self.actions_by_id: dict[str, QAction] = {}
        self._build_menus()
        self._viewer_text = viewer_text_action(parent)
        if self._viewer_text is not None:  # the viewer's switch: follow it, now and later
            self._viewer_text.toggled.connect(self._show_overlay_text)
            self._show_overlay_text(self._viewer_text.isChecked())

        self.table.lesionActivated.connect(self.show_lesion)
        grid = self.table.table
        grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        grid.customContextMenuRequested.connect(self._on_context_menu)
        picked = getattr(self.views, "pointPicked", None)
        if picked is not None:
            picked.connect(self._on_point_picked)

        self._relay = _Relay(self)
        self._relay.changed.connect(self._on_change)
        self._unsubscribe = workspace.subscribe(self._relay.changed.emit)

        self.refresh()
        if not self.restore_session():
            self.resize(1600, 950)
            self.splitter.setSizes([560, 390])  # the scans get the larger share
            self.resizeDocks([self.chart_dock], [660], Qt.Orientation.Horizontal)
        if not self.table.selected_lesion():  # a first lesion to look at: the first target
            rows = self.workspace.rows()
            first = next((r for r in rows if getattr(r, "is_target", False)),
                         rows[0] if rows else None)
            if first is not None:
                self.show_lesion(first.lesion_id)
        for warning in workspace.open_warnings:
            self._set_message(warning)

    # --- menus ------------------------------------------------------------------------------
    def _action(self, action_id: str, text: str, slot: Any, keys: Any = None) -> QAction:
        action = QAction(text, self)
        action.setObjectName(action_id)
        if keys is not None:
            action.setShortcut(QKeySequence(keys))
        action.triggered.connect(slot)
        self.actions_by_id[action_id] = action
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self._action("export_report", "Export report…",
                                         self._ask_export_report))
        file_menu.addAction(self._action("export_chart", "Export chart…",
                                         self._ask_export_chart))
        file_menu.addSeparator()
        file_menu.addAction(self._action("close_workspace", "Close", self.close,
                                         QKeySequence.StandardKey.Close))
        edit = bar.addMenu("&Edit")
        self.undo_action = self._action("undo", "Undo", self.undo, "Ctrl+Z")
        self.redo_action = self._action("redo", "Redo", self.redo, "Ctrl+Shift+Z")
        edit.addAction(self.undo_action)
        edit.addAction(self.redo_action)
        view = bar.addMenu("&View")
        view.addAction(self.chart_dock.toggleViewAction())
        check = self.registration_dock.toggleViewAction()
        check.setText("Registration check")
        check.setObjectName("registration_check")
        self.actions_by_id["registration_check"] = check
        check.toggled.connect(lambda on: on and self._registration_dock_shown(True))
        view.addAction(check)
        view.addSeparator()
        planes = QActionGroup(self)
        planes.setExclusive(True)
        for plane, key in (("axial", "Alt+1"), ("coronal", "Alt+2"), ("sagittal", "Alt+3")):
            action = self._action(f"plane_{plane}", f"{plane.capitalize()} plane",
                                  lambda _=False, p=plane: self.set_plane(p), key)
            action.setCheckable(True)
            action.setChecked(plane == "axial")
            planes.addAction(action)
            view.addAction(action)
        view.addSeparator()
        text = self._action(OVERLAY_TEXT_ACTION, "On-image text",
                            lambda checked=False: self.set_overlay_text_visible(bool(checked)),
                            "T")
        text.setCheckable(True)
        text.setChecked(True)
        view.addAction(text)

    def set_plane(self, plane: str) -> None:
        """Show every timepoint column in ``plane`` (axial, coronal or sagittal)."""
        setter = getattr(self.views, "set_plane", None)
        if setter is None:
            return
        setter(plane)
        action = self.actions_by_id.get(f"plane_{plane}")
        if action is not None and not action.isChecked():
            action.setChecked(True)

    # --- registration check -------------------------------------------------------------------
    def set_overlay_text_visible(self, visible: bool) -> None:
        """Show or hide the on-image text (corner texts, scale bar) of the timepoint views.
        Opened from the viewer, this is the viewer's View > On-image text: its views
        follow too, as this window follows it."""
        source = self._viewer_text
        if source is not None and isValid(source) and source.isChecked() != bool(visible):
            source.trigger()  # the viewer's own toggle; its ``toggled`` comes back here
        self._show_overlay_text(visible)

    @property
    def overlay_text_visible(self) -> bool:
        return self.actions_by_id[OVERLAY_TEXT_ACTION].isChecked()

    def _show_overlay_text(self, visible: bool) -> None:
        setter = getattr(self.views, "set_overlay_text_visible", None)
        if setter is not None:
            setter(bool(visible))
        action = self.actions_by_id[OVERLAY_TEXT_ACTION]
        if action.isChecked() != bool(visible):
            action.setChecked(bool(visible))

    def _use_saved_registrations(self) -> None:
        """Map points with the reader's re-run registrations saved from the check view."""
        from interval.longitudinal import registration_rerun as rr  # noqa: PLC0415

        ws = self.workspace
        regs, warnings = rr.registrations_in_use(ws.report, ws.out_dir)
        if regs != list(ws.report.registrations):
            rr.reload_point_mapping(ws, regs, "re-run registrations")
        ws.open_warnings.extend(w for w in warnings if w not in ws.open_warnings)

    def _registration_dock_shown(self, visible: bool) -> None:
        if not visible:
            return
        self.registration_dock.raise_()  # its tab in front of the charts'
        if self.registration_check is not None:
            return
        from interval.ui.longitudinal.registration_check_view import (  # noqa: PLC0415
            RegistrationCheckView,
        )

        check = RegistrationCheckView(self.workspace, self.registration_dock,
                                      volume_source=self._view_volume)
        check.registrationChanged.connect(
            lambda t: self._set_message(f"The registration of timepoint {t + 1} was re-run: "
                                        "positions are linked with it now."))
        check.retracked.connect(self._reload_after_retrack)
        picked = getattr(self.views, "pointPicked", None)
        if picked is not None:
            picked.connect(lambda t, p: check.set_point(p, int(t)))
        self.registration_check = check
        self.registration_dock.setWidget(check)
        lesion = self.table.selected_lesion()
        if lesion:
            self._check_follow_lesion(lesion)

    def _view_volume(self, timepoint: int) -> Any:
        """The scan a side-by-side column already holds (None when not loaded)."""
        view = getattr(self.views, "view", None)
        column = view(timepoint) if view is not None else None
        return getattr(getattr(column, "slice_view", None), "volume", None)

    def _check_follow_lesion(self, lesion_id: str) -> None:
        check = self.registration_check
        row = next((r for r in self.workspace.rows() if r.lesion_id == lesion_id), None)
        cell = None if row is None else next(
            (c for c in row.cells if c.centroid_lps is not None), None)
        if check is not None and cell is not None:
            check.set_point(cell.centroid_lps, cell.timepoint)

    # --- showing ----------------------------------------------------------------------------
    def table_data(self) -> LesionTableRows:
        """The lesion table: the workspace's rows (reader changes marked) and headers."""
        return LesionTableRows(timepoint_headers(self.workspace.report),
                               tuple(self.workspace.rows()))

    def refresh(self) -> None:
        """Show the workspace's current state everywhere (selection kept)."""
        report = self.workspace.report
        self.table.set_rows(self.table_data())
        self.sum_chart.set_report(report)
        lesion = self.table.selected_lesion()
        if lesion is not None and report.track(lesion) is not None:
            self._show_chart(lesion)
        else:
            self.growth_chart.clear()
        # the views subscribe to the workspace themselves: no second redraw from here
        self._sync_actions()

    def _sync_actions(self) -> None:
        ws = self.workspace
        busy = self.export_job is not None
        self.undo_action.setText(ws.undo_label())
        self.undo_action.setEnabled(ws.can_undo and not busy)
        self.redo_action.setText(ws.redo_label())
        self.redo_action.setEnabled(ws.can_redo and not busy)
        self.actions_by_id["export_report"].setEnabled(not busy)
        name = ws.report.timeline.patient_name or ws.report.timeline.patient_id
        where = ws.out_dir.name or str(ws.out_dir)
        title = f"{name} ({where})" if name else where
        self.setWindowTitle(f"{title}{' *' if ws.dirty else ''} - Interval workspace")

    def show_lesion(self, lesion_id: str) -> None:
        """Select ``lesion_id``: the table row, every view, the growth chart."""
        if self.workspace.report.track(lesion_id) is None:
            return
        if self.table.selected_lesion() != lesion_id:
            self.table.select_lesion(lesion_id)
        show = getattr(self.views, "show_lesion", None)
        if show is not None:
            show(lesion_id)
        if self.registration_check is not None:
            self._check_follow_lesion(lesion_id)
        # the chart after the views have drawn their frames: the images come first (Qt
        # paints at low priority, after any queued call, hence a delay and not 0), and a
        # quick run of clicks redraws the chart once, for the last lesion
        self._chart_lesion = lesion_id
        QTimer.singleShot(CHART_DELAY_MS, self, self.flush_chart)

    def flush_chart(self) -> None:
        """Show the growth chart of the lesion selected last, if not shown yet."""
        lesion_id, self._chart_lesion = self._chart_lesion, None
        if lesion_id is not None and self.workspace.report.track(lesion_id) is not None:
            self._show_chart(lesion_id)

    def _show_chart(self, lesion_id: str) -> None:
        try:
            self.growth_chart.set_lesion(self.workspace.report, lesion_id)
        except IntervalError as exc:
            self.growth_chart.clear()
            self._set_message(str(exc))

    def _on_change(self, change: WorkspaceChange) -> None:
        if change.kind == "session":
            return
        self.refresh()
        if change.kind in ("action", "undo", "redo") and change.label:
            self._set_message(f"{change.kind.capitalize()}: {change.label}"
                              if change.kind != "action" else change.label)

    def _on_point_picked(self, timepoint: int, lps: Any) -> None:
        """A click in a view: select the lesion whose region centre is nearest there."""
        try:
            p = [float(v) for v in lps]
        except (TypeError, ValueError):
            return
        best, best_d = None, math.inf
        for row in self.workspace.rows():
            cell = row.cell(int(timepoint))
            if cell is None or cell.centroid_lps is None:
                continue
            d = math.dist(p, cell.centroid_lps)
            reach = max((cell.long_axis_mm or 0.0) / 2.0, 5.0)
            if d <= reach and d < best_d:
                best, best_d = row.lesion_id, d
        if best is not None:
            self.table.select_lesion(best)
            self._show_chart(best)

    def _set_message(self, text: str) -> None:
        self.message.setText(text)

    def _tell(self, title: str, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Warning
              ) -> QMessageBox:
        """A plain-text message box, shown without blocking (kept as ``last_message``)."""
        self.last_message = (title, text)
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        make_plain(box)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self._message_box = box
        box.open()
        return box

    # --- corrections ------------------------------------------------------------------------
    def apply(self, label: str, fn: Any, *args: Any) -> bool:
        """Run one workspace action; a refusal (or any clear error) is shown in a message
        box.  True when it was done."""
        if self.export_job is not None:
            self._tell(label, "Wait until the report is exported.")
            return False
        try:
            fn(*args)
        except IntervalError as exc:
            self._tell(label, str(exc))
            return False
        return True

    def rename_lesion(self, lesion_id: str, name: str | None = None) -> bool:
        if name is None:
            track = self.workspace.report.track(lesion_id)
            name = dialogs.ask_name(self, "Rename lesion", f"New name of {lesion_id}:",
                                    track.name if track is not None else "")
            if name is None:
                return False
        return self.apply("Rename", self.workspace.rename, lesion_id, name)

    def toggle_excluded(self, lesion_id: str) -> bool:
        track = self.workspace.report.track(lesion_id)
        if track is not None and track.role == ROLE_EXCLUDED:
            return self.apply("Include", self.workspace.include, lesion_id)
        return self.apply("Exclude", self.workspace.exclude, lesion_id)

    def set_role(self, lesion_id: str, role: str) -> bool:
        return self.apply("Set role", self.workspace.set_role, lesion_id, role)

    def unlink_lesion(self, lesion_id: str, timepoint: int | None = None) -> bool:
        if timepoint is None:
            timepoint = self._pick("Unlink", f"Where does {lesion_id} become another lesion?",
                                   dialogs.unlink_choices(self.workspace.report, lesion_id),
                                   f"{lesion_id} is seen at one timepoint only: nothing to "
                                   "unlink.")
            if timepoint is None:
                return False
        return self.apply("Unlink", self.workspace.unlink, lesion_id, timepoint)

    def link_lesion(self, lesion_id: str, other: tuple[str, int] | None = None) -> bool:
        report = self.workspace.report
        if other is None:
            other = self._pick("Link", f"Which lesion is the same as {lesion_id}?",
                               dialogs.link_choices(report, lesion_id),
                               "There is no other lesion to link with.")
            if other is None:
                return False
        args = dialogs.link_arguments(report, lesion_id, other[0], other[1])
        if args is None:
            self._tell("Link", f"{lesion_id} is not seen at another timepoint than "
                               f"{dialogs.timepoint_label(report, other[1])}: they cannot be "
                               "the same lesion followed over time.")
            return False
        return self.apply("Link", self.workspace.link, *args)

    def merge_lesion(self, lesion_id: str, other_id: str | None = None) -> bool:
        if other_id is None:
            other_id = self._pick("Merge", f"Which lesion is part of {lesion_id}?",
                                  dialogs.merge_choices(self.workspace.report, lesion_id),
                                  "There is no other lesion to merge.")
            if other_id is None:
                return False
        return self.apply("Merge", self.workspace.merge, lesion_id, other_id)

    def split_lesion(self, lesion_id: str, part: tuple[int, int] | None = None) -> bool:
        if part is None:
            part = self._pick("Split", f"Which region of {lesion_id} is a lesion of its own?",
                              dialogs.split_choices(self.workspace.report, lesion_id),
                              f"{lesion_id} has a single region at every timepoint: there is "
                              "nothing to split.")
            if part is None:
                return False
        return self.apply("Split", self.workspace.split, lesion_id, part[0], part[1])

    def _pick(self, title: str, prompt: str, choices: list[dialogs.Choice], empty: str) -> Any:
        if not choices:
            self._tell(title, empty, QMessageBox.Icon.Information)
            return None
        return dialogs.ask_choice(self, title, prompt, choices)

    def undo(self) -> None:
        if self.export_job is None:
            self.workspace.undo()

    def redo(self) -> None:
        if self.export_job is None:
            self.workspace.redo()

    def context_menu(self, lesion_id: str) -> QMenu:
        """The corrections menu of one lesion row."""
        track = self.workspace.report.track(lesion_id)
        menu = QMenu(self)
        menu.setObjectName("lesionMenu")
        if track is None:
            return menu

        def add(text: str, slot: Any) -> QAction:
            action = menu.addAction(text)
            action.triggered.connect(lambda _=False: slot())
            action.setEnabled(self.export_job is None)
            return action

        add("Rename…", lambda: self.rename_lesion(lesion_id))
        add("Include" if track.role == ROLE_EXCLUDED else "Exclude (false positive)",
            lambda: self.toggle_excluded(lesion_id))
        if track.role != ROLE_TARGET:
            add("Mark target", lambda: self.set_role(lesion_id, ROLE_TARGET))
        if track.role != ROLE_NON_TARGET:
            add("Mark non-target", lambda: self.set_role(lesion_id, ROLE_NON_TARGET))
        if self.workspace.is_equivocal(lesion_id):
            add("Confirm new lesion (equivocal)", lambda: self.set_role(lesion_id, ROLE_NEW))
        menu.addSeparator()
        add("Unlink at timepoint…", lambda: self.unlink_lesion(lesion_id))
        add("Link with…", lambda: self.link_lesion(lesion_id))
        add("Merge with…", lambda: self.merge_lesion(lesion_id))
        add("Split at timepoint…", lambda: self.split_lesion(lesion_id))
        return menu

    def _on_context_menu(self, pos: QPoint) -> None:
        grid = self.table.table
        index = grid.indexAt(pos)
        if not index.isValid():
            return
        from interval.ui.longitudinal.lesion_table import LESION_ID_ROLE  # noqa: PLC0415

        lesion_id = str(index.data(LESION_ID_ROLE))
        self.table.select_lesion(lesion_id)
        self.show_lesion(lesion_id)
        menu = self.context_menu(lesion_id)
        menu.exec(grid.viewport().mapToGlobal(pos))
        menu.deleteLater()

    # --- charts -----------------------------------------------------------------------------
    def export_chart(self, path: str | Path) -> Path:
        """Write the chart on show as PNG or SVG (by the file's suffix)."""
        path = Path(path)
        chart = self.chart_tabs.currentWidget()
        if path.suffix.lower() == ".svg":
            return chart.export_svg(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        return chart.export_png(path)

    def _ask_export_chart(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export chart", str(self.workspace.out_dir / "chart.png"),
            "PNG image (*.png);;SVG drawing (*.svg)")
        if not path:
            return
        try:
            written = self.export_chart(path)
        except IntervalError as exc:
            self._tell("Export chart", str(exc))
            return
        self._set_message(f"Chart written to {written}")

    # --- report export ----------------------------------------------------------------------
    def _ask_export_report(self) -> None:
        name = dialogs.ask_name(self, "Export report",
                                "Your name, to sign the report off (required):")
        if name:
            self.export_report(name)

    def export_report(self, sign_off_name: str, *, images: bool = True) -> Job | None:
        """Write the reports in the background, signed off by ``sign_off_name``; the
        result (files, warnings) is shown when it ends.  None when it cannot start."""
        if self.export_job is not None:
            return None
        name = " ".join(sign_off_name.split())
        if not name:
            self._tell("Export report", "Type your name to sign the report off.")
            return None
        ws = self.workspace

        def run(_ctx: Any) -> ExportResult:
            return ws.export_report(name, images=images)

        self.export_job = self.runner.submit(
            "exporting the report", run, on_done=self._export_done,
            on_error=self._export_failed, on_cancel=self._export_cancelled,
            progress_widget=self.progress, text="Exporting the report…")
        self.progress.cancel_button.setEnabled(False)  # the writes are not cancellable
        self.table.setEnabled(False)
        self._sync_actions()
        return self.export_job

    def _export_ended(self) -> None:
        self.export_job = None
        self.table.setEnabled(True)
        self._sync_actions()

    def _export_done(self, result: ExportResult) -> None:
        self._export_ended()
        self.last_export = result
        lines = [f"The report was written to {self.workspace.out_dir}:"]
        lines += [f"  {Path(p).name}" for _, p in sorted(result.outputs.items())]
        if result.warnings:
            lines += ["", "Warnings:"] + [f"  {w}" for w in result.warnings]
        self._set_message(f"Report exported to {self.workspace.out_dir}")
        if self._close_after_export:
            self.close()
            return
        self._tell("Report exported", "\n".join(lines), QMessageBox.Icon.Information)

    def _export_failed(self, exc: IntervalError) -> None:
        self._export_ended()
        self._close_after_export = False
        self._tell("Export report", f"The report could not be exported: {exc}")

    def _export_cancelled(self) -> None:
        self._export_ended()
        self._close_after_export = False

    # --- session ----------------------------------------------------------------------------
    def session_state(self) -> dict[str, Any]:
        """What is saved with the workspace (plain JSON values)."""
        return {
            "version": _STATE_VERSION,
            "geometry": _b64(self.saveGeometry()),
            "state": _b64(self.saveState(_STATE_VERSION)),
            "splitter": _b64(self.splitter.saveState()),
            "lesion": self.table.selected_lesion() or "",
            "chart_tab": self.chart_tabs.currentIndex(),
            "plane": getattr(self.views, "plane", "axial"),
        }

    def _reload_after_retrack(self, result: Any) -> None:
        """The report was made again (matching, RECIST) after a registration re-run: this
        window hands over to a new one on the new report (layout and selection kept)."""
        self.save_session()
        try:
            fresh = LongitudinalWorkspace.open(result.out_dir)
        except IntervalError as exc:
            self._tell("The updated report cannot be opened", str(exc))
            return
        self._replaced = True  # its older state must not be saved over the new one
        self._closing = True  # the corrections are in the new report: nothing to ask
        window = LongitudinalWorkspaceWindow(fresh, self.parentWidget())
        window.show()
        self.replacement = window
        kept = getattr(self.parentWidget(), "workspace_windows", None)
        if isinstance(kept, list):  # the viewer's list of open workspaces
            kept.append(window)
        self.close()

    def save_session(self) -> None:
        """Keep the layout and selection in the workspace's session (errors: a message)."""
        if self._replaced:
            return
        session = self.workspace.session
        session[SESSION_KEY] = self.session_state()
        try:
            self.workspace.save_session(session)
        except IntervalError as exc:
            log.warning("workspace session not saved: %s", type(exc).__name__)
            self._set_message(f"The layout could not be saved: {exc}")

    def restore_session(self) -> bool:
        """Put back the saved layout and selected lesion; True when there was one."""
        saved = self.workspace.session.get(SESSION_KEY)
        if not isinstance(saved, dict) or saved.get("version") != _STATE_VERSION:
            return False
        for key, restore in (("geometry", self.restoreGeometry),
                             ("splitter", self.splitter.restoreState)):
            data = _unb64(saved.get(key))
            if data is not None:
                restore(data)
        state = _unb64(saved.get("state"))
        if state is not None:
            self.restoreState(state, _STATE_VERSION)
        tab = saved.get("chart_tab")
        if isinstance(tab, int) and 0 <= tab < self.chart_tabs.count():
            self.chart_tabs.setCurrentIndex(tab)
        plane = saved.get("plane")
        if plane in ("axial", "coronal", "sagittal"):
            self.set_plane(plane)
        lesion = saved.get("lesion")
        if isinstance(lesion, str) and lesion and self.workspace.report.track(lesion):
            self.show_lesion(lesion)
        return True

    # --- closing ----------------------------------------------------------------------------
    def ask_unsaved(self) -> QMessageBox.StandardButton:
        """Save (= export), Discard or Cancel, asked of the reader."""
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved corrections",
                          "The corrections since the last export are not in the report yet. "
                          "Export the report now?\n\nDiscard undoes the corrections made in "
                          "this window; they are kept in the corrections file otherwise.",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self)
        make_plain(box)
        box.button(QMessageBox.StandardButton.Save).setText("Export…")
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        return QMessageBox.StandardButton(box.exec())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802  (Qt name)
        if self.export_job is not None:
            if not self._close_after_export:
                self._set_message("The report is being exported: the window closes after.")
            self._close_after_export = True
            event.ignore()
            return
        if self.workspace.dirty and not self._closing:
            answer = self.ask_unsaved()
            if answer == QMessageBox.StandardButton.Cancel:
                event.ignore()
                return
            if answer == QMessageBox.StandardButton.Save:
                name = dialogs.ask_name(self, "Export report",
                                        "Your name, to sign the report off (required):")
                if name and self.export_report(name) is not None:
                    self._close_after_export = True
                event.ignore()
                return
            if answer == QMessageBox.StandardButton.Discard:
                while self.workspace.can_undo:
                    self.workspace.undo()
        self._closing = True
        self.save_session()
        self._unsubscribe()
        if self._viewer_text is not None and isValid(self._viewer_text):
            self._viewer_text.toggled.disconnect(self._show_overlay_text)  # closed: done
            self._viewer_text = None
        close_views = getattr(self.views, "close_views", None)
        if close_views is not None:
            close_views()  # stop its loading and its own subscription
        self.runner.shutdown()
        if self.registration_check is not None:
            self.registration_check.shutdown()
        super().closeEvent(event)


def open_workspace_window(out_dir: str | Path, parent: QWidget | None = None
                          ) -> LongitudinalWorkspaceWindow:
    """Open ``out_dir`` (an ``interval track`` output folder) in a new, shown window.
    Raises :class:`IntervalError` subclasses with a sentence for the reader."""
    window = LongitudinalWorkspaceWindow(LongitudinalWorkspace.open(out_dir), parent)
    window.show()
    return window


def run_workspace(out_dir: str | Path) -> int:
    """Show the workspace on ``out_dir`` and run until it is closed (``interval demo``)."""
    from interval.ui.app import application  # noqa: PLC0415

    app = application()
    window = open_workspace_window(out_dir)
    window.raise_()
    return int(app.exec())
