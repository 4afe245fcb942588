"""The Plugin Manager dialog: loaded and refused plugins, why, and where to put new ones.

A table (name, id, version, source, status, contributions, location) with a details pane
below (description, where the plugin comes from and its real path, models with modality
and labels, or the refusal reason), and the buttons "Open plugin folder" (the user plugin
folder, created when missing) and "Rescan".  Discovery reads manifests only (no plugin
code runs) and runs in the background (:mod:`interval.ui.plugin_discovery`): the dialog
says "Looking for plugins…" meanwhile and fills when it ends.  Every text from a plugin
is shown as plain text (escaped in the details pane; plain-text tooltips).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
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
from interval.plugins.registry import LoadedPlugin, PluginRegistry, RefusedPlugin, model_to_dict
from interval.ui.plain_text import plain_label, set_plain_tooltip
from interval.ui.plugin_discovery import LOOKING_TEXT, PluginDiscovery
from interval.ui.plugin_sources import plugin_location, source_text
from interval.ui.workers import Job

COLUMNS = ("Name", "ID", "Version", "Source", "Status", "Contributions", "Location")
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


def row_cells(item: LoadedPlugin | RefusedPlugin) -> tuple[str, ...]:
    """The table cells of one plugin, in :data:`COLUMNS` order."""
    location = plugin_location(item)
    if isinstance(item, LoadedPlugin):
        m = item.manifest
        return (m.name, m.id, m.version, source_text(item.source), STATUS_LOADED,
                contributions_text(item), location)
    return (item.title or item.name, item.plugin_id or "", item.version or "",
            source_text(item.source), STATUS_REFUSED, "", location)


class PluginManagerDialog(QDialog):
    """Lists loaded and refused plugins.

    ``discovery`` is the window's shared background discovery; without one the dialog
    makes its own from ``discover`` (default: :func:`interval.plugins.discover_plugins`).
    ``open_folder`` is injectable (tests).
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        discover: Callable[[], PluginRegistry] | None = None,
        discovery: PluginDiscovery | None = None,
        plugin_dir: Path | None = None,
        open_folder: Callable[[Path], bool] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("pluginManagerDialog")
        self.setWindowTitle("Plugins")
        self.resize(960, 520)
        self._own_discovery = discovery is None
        self.discovery = discovery if discovery is not None else PluginDiscovery(discover, self)
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
        self.details.setOpenLinks(False)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        self.summary = plain_label("", self)
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

        self.discovery.started.connect(self._on_looking)
        self.discovery.found.connect(self.set_registry)
        self.discovery.failed.connect(self._on_failed)
        if self.discovery.registry is not None:
            self.set_registry(self.discovery.registry)
        if self.discovery.looking:
            self._on_looking()
        elif self.discovery.registry is None:
            self.rescan()

    # --- actions --------------------------------------------------------------------------
    @property
    def plugin_dir(self) -> Path:
        """The user plugin folder the "Open plugin folder" button opens."""
        return self._plugin_dir if self._plugin_dir is not None else user_plugin_dir()

    @property
    def looking(self) -> bool:
        """Whether a discovery is under way (the table shows the previous one)."""
        return self.discovery.looking

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

    def rescan(self) -> Job | None:
        """Look for plugins again in the background (no plugin code runs); the table fills
        when the discovery ends (a rescan while one runs joins it)."""
        return self.discovery.start()

    def set_registry(self, registry: PluginRegistry) -> None:
        """Show ``registry`` (a discovery's result)."""
        self.registry = registry
        self.rescan_button.setEnabled(True)
        self._fill()

    def _on_looking(self) -> None:
        self.summary.setText(LOOKING_TEXT)
        self.rescan_button.setEnabled(False)
        if not self._rows:
            self.details.setPlainText(LOOKING_TEXT)

    def _on_failed(self, text: str) -> None:
        self.rescan_button.setEnabled(True)
        self.summary.setText("Plugin discovery failed.")
        self.details.setPlainText(f"Plugin discovery failed: {text}")

    def shutdown(self) -> None:
        """Stop waiting for a discovery this dialog started on its own."""
        if self._own_discovery:
            self.discovery.shutdown()

    # --- table ----------------------------------------------------------------------------
    def _fill(self) -> None:
        self._rows = [*self.registry.plugins, *self.registry.refused]
        self.table.setRowCount(len(self._rows))
        for row, item in enumerate(self._rows):
            for col, text in enumerate(row_cells(item)):
                cell = QTableWidgetItem(text)
                set_plain_tooltip(cell, item.reason if isinstance(item, RefusedPlugin) else text)
                if isinstance(item, RefusedPlugin) and col == COLUMNS.index("Status"):
                    cell.setForeground(QBrush(_REFUSED_COLOR))
                self.table.setItem(row, col, cell)
        n_ok, n_bad = len(self.registry.plugins), len(self.registry.refused)
        self.summary.setText(f"{n_ok} loaded, {n_bad} refused - plugin API {API_VERSION}")
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

    def column(self, name: str) -> list[str]:
        """The texts of column ``name``, top to bottom (for tests and accessibility)."""
        col = COLUMNS.index(name)
        return [self.table.item(r, col).text() for r in range(self.table.rowCount())]


def _rgb(color: Any) -> str:
    """``"r,g,b"`` of a label colour; anything malformed is black (never raw text in CSS)."""
    try:
        values = [min(255, max(0, int(c))) for c in list(color)[:3]]
    except (TypeError, ValueError):
        values = []
    return ",".join(str(v) for v in (values if len(values) == 3 else (0, 0, 0)))


def _facts(rows: Sequence[tuple[str, object]]) -> str:
    e = html.escape
    return "".join(f"<b>{e(k)}:</b> {e(str(v))}<br>" for k, v in rows if v)


def details_html(item: LoadedPlugin | RefusedPlugin) -> str:
    """The details pane of one plugin (every text from the plugin escaped)."""
    e = html.escape
    if isinstance(item, RefusedPlugin):
        parts = [
            f"<h3>{e(item.title or item.name)} - refused</h3>",
            f"<p><b>Reason:</b> {e(item.reason)}</p>",
            "<p>" + _facts([("ID", item.plugin_id or ""), ("Version", item.version or ""),
                            ("Source", source_text(item.source)),
                            ("Found in", item.source.location),
                            ("Manifest", item.manifest_path or ""),
                            ("Real path", plugin_location(item)),
                            ("Plugin kept instead", getattr(item, "conflicts_with", None) or "")])
            + "</p>",
        ]
        return "".join(parts)
    m = item.manifest
    parts = [f"<h3>{e(m.name)} {e(m.version)}</h3>"]
    if m.description:
        parts.append(f"<p>{e(m.description)}</p>")
    facts = [("ID", m.id), ("Version", m.version), ("Author", m.author), ("License", m.license),
             ("Homepage", m.homepage), ("Interval API", m.interval_api),
             ("Source", source_text(item.source)), ("Found in", item.source.location),
             ("Folder", str(m.folder)), ("Real path", plugin_location(item))]
    parts.append(_facts(facts))
    if item.segmentation_models:
        parts.append("<p><b>Segmentation models</b></p><ul>")
        for entry in item.segmentation_models:
            d = model_to_dict(entry)
            mods = ", ".join(str(x) for x in d["modality"]) or "any modality"
            spacing = d["target_spacing"]
            spacing_text = (
                " x ".join(f"{s:g}" for s in spacing) + " mm" if spacing else "native spacing"
            )
            labels = ", ".join(
                f"<span style='color: rgb({_rgb(lab['color'])})'>&#9632;</span> "
                f"{e(str(lab['value']))} {e(str(lab['name']))}"
                for lab in d["labels"]
            )
            parts.append(f"<li><b>{e(str(d['id']))}</b> ({e(mods)}, {e(spacing_text)}): {labels}"
                         + (f"<br>{e(str(d['description']))}" if d["description"] else "")
                         + "</li>")
        parts.append("</ul>")
    if m.longitudinal_analyzers:
        parts.append("<p><b>Longitudinal analyzers</b></p><ul>")
        for a in m.longitudinal_analyzers:
            parts.append(f"<li><b>{e(a.id)}</b>: {e(a.name)}"
                         + (f" - {e(a.description)}" if a.description else "") + "</li>")
        parts.append("</ul>")
    return "".join(parts)
