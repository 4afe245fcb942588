"""The Measurements dock: every ruler and ROI, grouped per series; delete; export CSV.

A view over a :class:`~interval.core.measurements.MeasurementBook` (refreshed on its
``changed`` signal).  Deleting calls ``MeasurementList.remove``; export writes every
series into one CSV through the book's atomic writer (temporary file + rename), so a
failed export never leaves a half-written file.  Double-clicking a row moves the
crosshair to the measurement, so every view shows it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from interval.core.measurements import Measurement, MeasurementBook, Ruler, describe, outline_lps
from interval.core.viewer_state import ViewerState
from interval.ui.measure_tools import series_key

_KEY_ROLE = Qt.ItemDataRole.UserRole


class MeasurementsPanel(QDockWidget):
    """Dock listing the measurements of every series."""

    error = Signal(str)  # a message in words (export failed)
    exported = Signal(str)  # the path written

    def __init__(self, state: ViewerState, book: MeasurementBook,
                 parent: QWidget | None = None) -> None:
        super().__init__("Measurements", parent)
        self.setObjectName("measurements-panel")
        self.state = state
        self.book = book
        body = QWidget(self)
        box = QVBoxLayout(body)
        box.setContentsMargins(4, 4, 4, 4)
        self.tree = QTreeWidget(body)
        self.tree.setObjectName("measurement-tree")
        self.tree.setHeaderLabels(["#", "Kind", "Value", "Label"])
        self.tree.setColumnWidth(0, 70)
        self.tree.setColumnWidth(1, 70)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        box.addWidget(self.tree, 1)
        row = QHBoxLayout()
        self.delete_button = QPushButton("Delete", body)
        self.export_button = QPushButton("Export CSV…", body)
        row.addWidget(self.delete_button)
        row.addStretch(1)
        row.addWidget(self.export_button)
        box.addLayout(row)
        self.setWidget(body)
        self.delete_button.clicked.connect(self.delete_selected)
        self.export_button.clicked.connect(self._ask_export)
        self.tree.itemDoubleClicked.connect(self._go_to)
        self.tree.itemChanged.connect(self._on_item_changed)
        self._updating = False
        # the folder the export dialog starts in (the window keeps it in the settings)
        self.save_dir: str | Path | None = None
        book.changed.connect(self._on_changed)
        state.events.volumes.connect(self._on_changed)
        self.refresh()

    # --- book -> widgets ------------------------------------------------------------------
    def _series_title(self, key: str) -> str:
        for vid, vol in self.state.volumes.items():
            if series_key(self.state, vid) == key and vol.labels is None:
                meta = vol.metadata
                text = meta.series_description or vid
                return f"{meta.modality} {text}".strip()
        return key

    def refresh(self) -> None:
        """Rebuild the tree: one branch per series with measurements."""
        self._updating = True
        try:
            self._rebuild()
        finally:
            self._updating = False

    def _rebuild(self) -> None:
        self.tree.clear()
        for lst in self.book:
            if not len(lst):
                continue
            top = QTreeWidgetItem([self._series_title(lst.series_uid), "", f"{len(lst)} item(s)"])
            top.setData(0, _KEY_ROLE, (lst.series_uid, None))
            top.setToolTip(0, top.text(0))
            top.setFirstColumnSpanned(False)
            units = self._units(lst.series_uid)
            for m in lst:
                child = QTreeWidgetItem([str(m.id), m.kind, describe(m, units), m.label])
                child.setData(0, _KEY_ROLE, (lst.series_uid, m.id))
                for col in range(3):  # long values (ROI statistics) stay readable
                    child.setToolTip(col, child.text(col))
                child.setFlags(child.flags() | Qt.ItemFlag.ItemIsEditable)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        self.delete_button.setEnabled(len(self.book) > 0)
        self.export_button.setEnabled(len(self.book) > 0)

    def _units(self, key: str) -> str:
        for vid, vol in self.state.volumes.items():
            if series_key(self.state, vid) == key:
                return vol.metadata.units
        return ""

    def _on_changed(self, _event: object) -> None:
        self.refresh()

    def rows(self) -> list[tuple[str, int, str, str, str]]:
        """``(series key, id, kind, value text, label)`` for each listed measurement."""
        out = []
        for r in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(r)
            for c in range(top.childCount()):
                item = top.child(c)
                key, mid = item.data(0, _KEY_ROLE)
                out.append((key, mid, item.text(1), item.text(2), item.text(3)))
        return out

    def item_for(self, series: str, measurement_id: int) -> QTreeWidgetItem:
        for r in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(r)
            for c in range(top.childCount()):
                if top.child(c).data(0, _KEY_ROLE) == (series, measurement_id):
                    return top.child(c)
        raise KeyError((series, measurement_id))

    # --- widgets -> book ------------------------------------------------------------------
    def delete_selected(self) -> None:
        """Delete the selected measurements (a series row deletes the whole series' list)."""
        targets = [item.data(0, _KEY_ROLE) for item in self.tree.selectedItems()]
        for key, mid in targets:
            lst = self.book.for_series(key)
            if mid is None:
                lst.clear()
            elif mid in {m.id for m in lst}:
                lst.remove(mid)

    def _ask_export(self) -> None:
        start = Path(self.save_dir) if self.save_dir else Path.home()
        path, _ = QFileDialog.getSaveFileName(
            self, "Export measurements", str(start / "measurements.csv"), "CSV (*.csv)"
        )
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> Path | None:
        """Write every measurement to ``path`` (atomically); errors go to :attr:`error`."""
        try:
            written = self.book.to_csv(path)
        except OSError as exc:
            self.error.emit(f"The measurements could not be saved to {Path(path).name}: "
                            f"{exc.strerror or exc}")
            return None
        self.exported.emit(str(written))
        return written

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        """The Label column was edited: rename the measurement."""
        key, mid = item.data(0, _KEY_ROLE)
        if self._updating or column != 3 or mid is None:
            return
        self.book.for_series(key).set_label(mid, item.text(3).strip())

    def _go_to(self, item: QTreeWidgetItem, column: int) -> None:
        key, mid = item.data(0, _KEY_ROLE)
        if mid is not None and column != 3:  # column 3 is edited in place
            self.go_to(self.book.for_series(key)[mid])

    def go_to(self, m: Measurement) -> None:
        """Move the crosshair to the centre of a measurement."""
        pts = outline_lps(m.shape)
        centre = pts.mean(axis=0) if isinstance(m.shape, Ruler) else pts[:-1].mean(axis=0)
        if self.state.active_volume is not None:
            self.state.set_crosshair(np.asarray(centre))
