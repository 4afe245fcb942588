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
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from interval.core.measurements import (
    NAMED_CSV_COLUMNS,
    Measurement,
    MeasurementBook,
    Ruler,
    describe,
    outline_lps,
)
from interval.core.viewer_state import ViewerState
from interval.ui.measure_tools import series_key
from interval.ui.plain_text import set_plain_tooltip

_KEY_ROLE = Qt.ItemDataRole.UserRole


class MeasurementsPanel(QDockWidget):
    """Dock listing the measurements of every series."""

    error = Signal(str)  # a message in words (export failed)
    exported = Signal(str)  # the path written
    message = Signal(str)  # a note for the status bar

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
        self.tree.setColumnWidth(0, 60)  # series rows span every column (full name)
        self.tree.setColumnWidth(1, 64)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)  # the statistics
        self.tree.setColumnWidth(3, 90)
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
        # the Delete (and Backspace) key in the list deletes the selection, as in OHIF/Horos
        self.tree.installEventFilter(self)
        self.delete_button.setToolTip("Delete the selected measurements (Delete key)")
        self.export_button.clicked.connect(self._ask_export)
        self.tree.itemDoubleClicked.connect(self._go_to)
        self.tree.itemChanged.connect(self._on_item_changed)
        self._updating = False
        # series key -> (title, units), remembered while the series is open so that its
        # measurements stay named (and in the right units) after it is closed
        self._known: dict[str, tuple[str, str]] = {}
        self._length_units: dict[str, str] = {}  # "px" for series without a pixel spacing
        # the folder the export dialog starts in (the window keeps it in the settings)
        self.save_dir: str | Path | None = None
        book.changed.connect(self._on_changed)
        state.events.volumes.connect(self._on_changed)
        self.refresh()

    # --- book -> widgets ------------------------------------------------------------------
    def _remember_open_series(self) -> None:
        for vid, vol in self.state.volumes.items():
            if vol.labels is not None:
                continue
            key = series_key(self.state, vid)
            if key is None:
                continue
            meta = vol.metadata
            number = f"#{meta.series_number} " if meta.series_number is not None else ""
            text = meta.series_description or ("" if number else vid)
            when = meta.series_date or meta.study_date
            date = f" ({when.isoformat()})" if when else ""
            title = f"{meta.modality} {number}{text}".strip() + date
            self._known[key] = (title, meta.units)
            self._length_units[key] = meta.length_unit

    def _series_title(self, key: str) -> str:
        known = self._known.get(key)
        return known[0] if known else key

    def _shown_key(self) -> str | None:
        return series_key(self.state) if self.state.active_volume is not None else None

    def refresh(self) -> None:
        """Rebuild the tree: one branch per series with measurements."""
        self._updating = True
        try:
            self._rebuild()
        finally:
            self._updating = False

    def _rebuild(self) -> None:
        self._remember_open_series()
        self.tree.clear()
        shown = self._shown_key()
        for lst in self.book:
            if not len(lst):
                continue
            top = QTreeWidgetItem(
                [f"{self._series_title(lst.series_uid)}: {len(lst)} item(s)", "", ""]
            )
            top.setData(0, _KEY_ROLE, (lst.series_uid, None))
            note = "" if lst.series_uid == shown else "  (not shown now)"
            set_plain_tooltip(top, top.text(0) + note, 0)
            if lst.series_uid != shown:  # another series: in italics, not read as this one
                font = top.font(0)
                font.setItalic(True)
                top.setFont(0, font)
            units = self._units(lst.series_uid)
            for m in lst:
                length_unit = self._length_units.get(lst.series_uid, "mm")
                child = QTreeWidgetItem([str(m.id), m.kind, describe(m, units, length_unit),
                                         m.label])
                child.setData(0, _KEY_ROLE, (lst.series_uid, m.id))
                for col in range(3):  # long values (ROI statistics) stay readable
                    set_plain_tooltip(child, child.text(col), col)
                child.setFlags(child.flags() | Qt.ItemFlag.ItemIsEditable)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setFirstColumnSpanned(True)  # the series' name in full, not "CT A…"
            top.setExpanded(True)
        self.delete_button.setEnabled(len(self.book) > 0)
        self.export_button.setEnabled(len(self.book) > 0)

    def _units(self, key: str) -> str:
        known = self._known.get(key)
        return known[1] if known else ""

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
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802  (Qt name)
        """Delete / Backspace in the list (not while a label is being edited) deletes."""
        if (
            obj is self.tree
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
            and self.tree.state() != QAbstractItemView.State.EditingState
            and self.tree.selectedItems()
        ):
            self.delete_selected()
            return True
        return super().eventFilter(obj, event)

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

    def csv_rows(self) -> tuple[list[str], list[dict[str, str]]]:
        """The CSV columns and rows: the book's, with each series' name (and date) and the
        units of its statistics (HU for CT), so a row can be read without the viewer."""
        self._remember_open_series()
        return list(NAMED_CSV_COLUMNS), self.book.rows(self._known)

    def export_csv(self, path: str | Path) -> Path | None:
        """Write every measurement to ``path`` (atomically); errors go to :attr:`error`."""
        self._remember_open_series()
        try:
            written = self.book.to_csv(path, self._known)
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
            self.go_to(self.book.for_series(key)[mid], key)

    def go_to(self, m: Measurement, series: str | None = None) -> bool:
        """Move the crosshair to the centre of a measurement of ``series`` (default: the
        series shown).  A measurement of a series that is not shown is not placed on the
        one that is (its coordinates belong to another scan): the user is told to open
        it instead.  True when the crosshair moved."""
        shown = self._shown_key()
        if shown is None:
            return False
        if series is not None and series != shown:
            self.message.emit(
                f"Measurement {m.id} belongs to {self._series_title(series)}: "
                "open that series to see it."
            )
            return False
        pts = outline_lps(m.shape)
        centre = pts.mean(axis=0) if isinstance(m.shape, Ruler) else pts[:-1].mean(axis=0)
        self.state.set_crosshair(np.asarray(centre))
        return True

