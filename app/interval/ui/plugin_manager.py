"""The Plugin Manager dialog: loaded and refused plugins, why, and where to put new ones.

A table (name, id, version, source, status, contributions) with a details pane below
(description, folder, models with modality and labels, or the refusal reason), and the
buttons "Open plugin folder" (the user plugin folder, created when missing) and "Rescan".
Discovery reads manifests only; no plugin code runs here.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from interval.plugins.api import API_VERSION
from interval.plugins.discovery import user_plugin_dir
from interval.plugins.registry import (
    LoadedPlugin,
    PluginRegistry,
    RefusedPlugin,
    discover_plugins,
    model_to_dict,
)

COLUMNS = ("Name", "ID", "Version", "Source", "Status", "Contributions")
STATUS_LOADED = "Loaded"
STATUS_REFUSED = "Refused"
_REFUSED_COLOR = QColor(200, 60, 60)


def _open_folder(path: Path) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def contributions_text(plugin: LoadedPlugin) -> str:
    """Short summary of a plugin's contributions, e.g. "1 segmentation model, 1 analyzer"."""
    parts = []
    n_models = len(plugin.segmentation_models)
    n_analyzers = len(plugin.manifest.longitudinal_analyzers)
    if n_models:
        parts.append(f"{n_models} segmentation model{'s' if n_models > 1 else ''}")
    if n_analyzers:
        parts.append(f"{n_analyzers} longitudinal analyzer{'s' if n_analyzers > 1 else ''}")
    return ", ".join(parts) or "nothing"


class PluginManagerDialog(QDialog):
    """Lists loaded and refused plugins; ``discover`` and ``open_folder`` are injectable."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        discover: Callable[[], PluginRegistry] | None = None,
        plugin_dir: Path | None = None,
        open_folder: Callable[[Path], bool] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("pluginManagerDialog")
        self.setWindowTitle("Plugins")
        self.resize(860, 520)
        self._discover = discover or discover_plugins
        self._plugin_dir = plugin_dir
        self._open_folder = open_folder or _open_folder
        self._rows: list[LoadedPlugin | RefusedPlugin] = []
        self.registry = PluginRegistry()

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("pluginTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._show_selected)

        self.details = QTextBrowser(self)
        self.details.setObjectName("pluginDetails")
        self.details.setOpenExternalLinks(False)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        self.summary = QLabel(self)
        self.summary.setObjectName("pluginSummary")
        self.open_button = QPushButton("Open plugin folder", self)
        self.open_button.setToolTip(
            "Open the folder where you can drop plugin folders (it is created if missing)"
        )
        self.open_button.clicked.connect(self.open_plugin_folder)
        self.rescan_button = QPushButton("Rescan", self)
        self.rescan_button.setToolTip("Look for plugins again (after adding or fixing one)")
        self.rescan_button.clicked.connect(self.rescan)
        close = QPushButton("Close", self)
        close.clicked.connect(self.accept)

        buttons = QHBoxLayout()
        buttons.addWidget(self.summary, 1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.rescan_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        self.rescan()

    # --- actions --------------------------------------------------------------------------
    @property
    def plugin_dir(self) -> Path:
        """The user plugin folder the "Open plugin folder" button opens."""
        return self._plugin_dir if self._plugin_dir is not None else user_plugin_dir()

    def open_plugin_folder(self) -> Path:
        """Create (if needed) and open the user plugin folder in the file manager."""
        folder = self.plugin_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.details.setPlainText(f"Cannot create the plugin folder {folder}: {exc}")
            return folder
        if not self._open_folder(folder):
            self.details.setPlainText(f"Could not open {folder}; open it in your file manager.")
        return folder

    def rescan(self) -> None:
        """Discover plugins again and refill the table (no plugin code runs)."""
        try:
            self.registry = self._discover()
        except Exception as exc:  # noqa: BLE001 - discovery never raises; be safe in the UI
            self.registry = PluginRegistry()
            self.details.setPlainText(f"Plugin discovery failed: {exc}")
        self._fill()

    # --- table ----------------------------------------------------------------------------
    def _fill(self) -> None:
        self._rows = [*self.registry.plugins, *self.registry.refused]
        self.table.setRowCount(len(self._rows))
        for row, item in enumerate(self._rows):
            if isinstance(item, LoadedPlugin):
                m = item.manifest
                cells = (m.name, m.id, m.version, item.source.kind, STATUS_LOADED,
                         contributions_text(item))
            else:
                cells = (item.title or item.name, item.plugin_id or "", item.version or "",
                         item.source.kind, STATUS_REFUSED, "")
            for col, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setToolTip(item.reason if isinstance(item, RefusedPlugin) else text)
                if isinstance(item, RefusedPlugin) and col == COLUMNS.index("Status"):
                    cell.setForeground(QBrush(_REFUSED_COLOR))
                self.table.setItem(row, col, cell)
        n_ok, n_bad = len(self.registry.plugins), len(self.registry.refused)
        self.summary.setText(
            f"{n_ok} loaded, {n_bad} refused - plugin API {API_VERSION}"
        )
        if self._rows:
            self.table.selectRow(0)
        else:
            self.details.setHtml(
                "<p>No plugins found.</p><p>Drop a plugin folder into the plugin folder "
                f"(<code>{html.escape(str(self.plugin_dir))}</code>) and press Rescan.</p>"
            )

    def _show_selected(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if len(rows) != 1:
            return
        self.details.setHtml(details_html(self._rows[rows.pop()]))

    def status_of(self, row: int) -> str:
        """The Status column text of ``row`` (for tests and accessibility)."""
        item = self.table.item(row, COLUMNS.index("Status"))
        return item.text() if item is not None else ""


def details_html(item: LoadedPlugin | RefusedPlugin) -> str:
    """The details pane of one plugin."""
    e = html.escape
    if isinstance(item, RefusedPlugin):
        parts = [
            f"<h3>{e(item.title or item.name)} - refused</h3>",
            f"<p><b>Reason:</b> {e(item.reason)}</p>",
            f"<p><b>Source:</b> {e(str(item.source))}</p>",
        ]
        if item.manifest_path is not None:
            parts.append(f"<p><b>Manifest:</b> {e(str(item.manifest_path))}</p>")
        return "".join(parts)
    m = item.manifest
    parts = [f"<h3>{e(m.name)} {e(m.version)}</h3>"]
    if m.description:
        parts.append(f"<p>{e(m.description)}</p>")
    facts = [("ID", m.id), ("Author", m.author), ("License", m.license),
             ("Homepage", m.homepage), ("Interval API", m.interval_api),
             ("Source", str(item.source)), ("Folder", str(m.folder))]
    parts.append("".join(f"<b>{k}:</b> {e(v)}<br>" for k, v in facts if v))
    if item.segmentation_models:
        parts.append("<p><b>Segmentation models</b></p><ul>")
        for entry in item.segmentation_models:
            d = model_to_dict(entry)
            mods = ", ".join(d["modality"]) or "any modality"
            spacing = d["target_spacing"]
            spacing_text = (
                " x ".join(f"{s:g}" for s in spacing) + " mm" if spacing else "native spacing"
            )
            labels = ", ".join(
                f"<span style='color: rgb({','.join(str(c) for c in lab['color'] or (0, 0, 0))})'>"
                f"&#9632;</span> {e(str(lab['value']))} {e(str(lab['name']))}"
                for lab in d["labels"]
            )
            parts.append(f"<li><b>{e(d['id'])}</b> ({e(mods)}, {e(spacing_text)}): {labels}"
                         + (f"<br>{e(d['description'])}" if d["description"] else "") + "</li>")
        parts.append("</ul>")
    if m.longitudinal_analyzers:
        parts.append("<p><b>Longitudinal analyzers</b></p><ul>")
        for a in m.longitudinal_analyzers:
            parts.append(f"<li><b>{e(a.id)}</b>: {e(a.name)}"
                         + (f" - {e(a.description)}" if a.description else "") + "</li>")
        parts.append("</ul>")
    return "".join(parts)
