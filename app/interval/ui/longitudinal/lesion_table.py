"""The lesion table of the longitudinal workspace: one row per tracked lesion, one column
group per timepoint, the RECIST 1.1 response per follow-up in a band above the header.

* :class:`LesionTableModel` - a read-only ``QAbstractTableModel`` over
  :class:`~interval.longitudinal.lesion_rows.LesionTableRows` (built from a report by
  :func:`~interval.longitudinal.lesion_rows.build_lesion_rows`): columns Lesion, Organ,
  Role, then per timepoint LA, SA, Vol, Conf (the segmentation's confidence, 0-1; "-"
  when it gave none; "equivocal" / "confirmed" after it where RECIST held the new lesion
  equivocal there or confirmed it) and (follow-ups only) the change of the lesion's
  RECIST diameter vs baseline and vs nadir.  A new lesion RECIST held equivocal and never
  counted has the role "New (equivocal)".  Header text is two lines ("follow-up 1" /
  "LA mm"); header tooltips give the timepoint's date and RECIST result.
* :class:`LesionTableView` - the band and a sortable ``QTableView`` behind a
  :class:`LesionSortProxy` (numbers sort as numbers, blank cells last in both orders).
  The band is a one-row ``QTableWidget`` whose cells span each timepoint's column group;
  its column widths and horizontal scrolling follow the table's, so it stays aligned.
  ``lesionActivated(lesion_id)`` is emitted on a click or Enter.

Names and organs come from reports the reader or a plugin wrote: the standard item
delegate and header draw them as plain text, and every tooltip goes through
:func:`~interval.ui.plain_text.plain_tooltip`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from interval.longitudinal.lesion_rows import (
    LesionCell,
    LesionRow,
    LesionTableRows,
    TimepointHeader,
    build_lesion_rows,
)
from interval.longitudinal.model import (
    CR,
    PD,
    PR,
    ROLE_EXCLUDED,
    ROLE_NEW,
    ROLE_NON_TARGET,
    ROLE_TARGET,
    SD,
    LongitudinalReport,
)
from interval.longitudinal.report_common import STATUS_ABSENT, STATUS_MERGED, fmt, fmt_pct
from interval.longitudinal.report_text import (
    NEW_CONFIRMED,
    NEW_EQUIVOCAL,
    SCORE_NOTE,
    score_text,
)
from interval.ui.plain_text import plain_tooltip

LESION_ID_ROLE = Qt.ItemDataRole.UserRole + 1  # the row's lesion id, in every column

_Index = QModelIndex | QPersistentModelIndex

# per-timepoint columns: field, header line, tooltip words
_LA, _SA, _VOL, _SCORE = "long", "short", "volume", "score"
_DBASE, _DNADIR = "d_base", "d_nadir"
_TP_FIELDS = {
    _LA: ("LA mm", "long axis (mm)"),
    _SA: ("SA mm", "short axis (mm)"),
    _VOL: ("Vol mL", "volume (mL)"),
    _SCORE: ("Conf", "confidence: the segmentation's score of the lesion (0-1)"),
    _DBASE: ("Δ baseline", "change of the lesion's RECIST diameter from the baseline (%)"),
    _DNADIR: ("Δ nadir", "change of the lesion's RECIST diameter from its nadir (smallest "
                         "earlier value) (%)"),
}
_ROLE_TEXT = {ROLE_TARGET: "Target", ROLE_NON_TARGET: "Non-target", ROLE_NEW: "New",
              ROLE_EXCLUDED: "Excluded"}
_ROLE_RANK = {ROLE_TARGET: 0, ROLE_NON_TARGET: 1, ROLE_NEW: 2, ROLE_EXCLUDED: 3}
# pale backgrounds with dark text: readable in light and dark palettes
_ROLE_COLOUR = {ROLE_TARGET: QColor(190, 215, 255), ROLE_NON_TARGET: QColor(225, 225, 225),
                ROLE_NEW: QColor(255, 210, 160), ROLE_EXCLUDED: QColor(240, 240, 240)}
_RESPONSE_COLOUR = {CR: QColor(170, 230, 170), PR: QColor(200, 240, 190),
                    SD: QColor(250, 240, 180), PD: QColor(255, 185, 180)}
_DARK_TEXT = QColor(20, 20, 20)
_GREY_TEXT = QColor(140, 140, 140)


@dataclass(frozen=True)
class Column:
    """One column: ``field`` is "lesion", "organ", "role" or a per-timepoint field."""

    field: str
    timepoint: int | None = None


def _columns(data: LesionTableRows) -> list[Column]:
    cols = [Column("lesion"), Column("organ"), Column("role")]
    for h in data.timepoints:
        fields = ((_LA, _SA, _VOL, _SCORE) if h.is_baseline
                  else (_LA, _SA, _VOL, _SCORE, _DBASE, _DNADIR))
        cols.extend(Column(f, h.timepoint) for f in fields)
    return cols


def _natural(text: str) -> tuple:
    """Sort key: "L2" before "L10", case ignored."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in re.split(r"(\d+)", text.casefold()) if p)


def response_text(h: TimepointHeader) -> str:
    """The band's words for one timepoint: ``"follow-up 1: PD · Σ 55.8 mm (-11.3 %)"``."""
    if h.is_baseline:
        return f"{h.label}: Σ {fmt(h.sum_mm, 1, 'mm')}"
    if not h.overall_response:
        return f"{h.label}: not assessed"
    return (f"{h.label}: {h.overall_response} · Σ {fmt(h.sum_mm, 1, 'mm')} "
            f"({fmt_pct(h.sum_change_from_baseline_pct)})")


def response_details(h: TimepointHeader) -> str:
    """The full RECIST result of one timepoint, for tooltips."""
    lines = [h.title, f"Sum of target diameters: {fmt(h.sum_mm, 1, 'mm')}"]
    if not h.is_baseline:
        lines += [f"  vs baseline {fmt_pct(h.sum_change_from_baseline_pct)}, "
                  f"vs nadir {fmt_pct(h.sum_change_from_nadir_pct)}",
                  f"Overall response: {h.overall_response or 'not assessed'}",
                  f"Target: {h.target_response or '-'}; non-target: "
                  f"{h.non_target_response or '-'}; new lesions: "
                  f"{', '.join(h.new_lesions) or 'none'}"]
        if h.confirmed_new_lesions:
            lines.append(f"Confirming an earlier equivocal finding: "
                         f"{', '.join(h.confirmed_new_lesions)}")
        if h.equivocal_new_lesions:
            lines.append(f"Equivocal new lesions (no progression until confirmed): "
                         f"{', '.join(h.equivocal_new_lesions)}")
    if h.reason:
        lines.append(h.reason)
    return "\n".join(lines)


class LesionTableModel(QAbstractTableModel):
    """Read-only table model: one row per lesion (see the module docstring)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._data = LesionTableRows((), ())
        self._columns: list[Column] = _columns(self._data)
        self._headers: dict[int, TimepointHeader] = {}

    # --- content --------------------------------------------------------------------------
    def set_report(self, report: LongitudinalReport) -> None:
        """Show ``report`` (rows rebuilt with :func:`build_lesion_rows`)."""
        self.set_rows(build_lesion_rows(report))

    def set_rows(self, data: LesionTableRows) -> None:
        """Show ``data`` (a model reset: views keep nothing but what they restore)."""
        self.beginResetModel()
        self._data = data
        self._columns = _columns(data)
        self._headers = {h.timepoint: h for h in data.timepoints}
        self.endResetModel()

    @property
    def rows(self) -> LesionTableRows:
        return self._data

    def column(self, col: int) -> Column:
        return self._columns[col]

    def columns(self) -> list[Column]:
        return list(self._columns)

    def lesion_row(self, row: int) -> LesionRow:
        return self._data.rows[row]

    def row_of(self, lesion_id: str) -> int:
        """The source row of ``lesion_id`` (-1 when it is not shown)."""
        for n, r in enumerate(self._data.rows):
            if r.lesion_id == lesion_id:
                return n
        return -1

    # --- Qt model -------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._data.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._columns)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        col = self._columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            if col.timepoint is None:
                return {"lesion": "Lesion", "organ": "Organ", "role": "Role"}[col.field]
            return f"{self._headers[col.timepoint].label}\n{_TP_FIELDS[col.field][0]}"
        if role == Qt.ItemDataRole.ToolTipRole and col.timepoint is not None:
            h = self._headers[col.timepoint]
            return plain_tooltip(f"{_TP_FIELDS[col.field][1]}\n\n{response_details(h)}")
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._data.rows):
            return None
        r = self._data.rows[index.row()]
        col = self._columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(index.row(), index.column())
        if role == LESION_ID_ROLE:
            return r.lesion_id
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tooltip(self._tooltip(r, col))
        if role == Qt.ItemDataRole.TextAlignmentRole and col.timepoint is not None:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.BackgroundRole and col.field == "role":
            return QBrush(_ROLE_COLOUR.get(r.role, _ROLE_COLOUR[ROLE_NON_TARGET]))
        if role == Qt.ItemDataRole.ForegroundRole:
            if r.is_excluded:
                return QBrush(_GREY_TEXT)
            if col.field == "role":
                return QBrush(_DARK_TEXT)
        if role == Qt.ItemDataRole.FontRole and (r.is_excluded or col.field == "role"):
            font = QFont()
            font.setItalic(r.is_excluded)
            font.setBold(col.field == "role" and r.is_target)
            return font
        return None

    def text(self, row: int, column: int) -> str:
        """The text shown in a cell (blank when there is no value)."""
        r = self._data.rows[row]
        col = self._columns[column]
        if col.field == "lesion":
            return r.name
        if col.field == "organ":
            organ = r.organ
            if r.is_lymph_node and "lymph" not in organ.lower():
                organ += " (lymph node)"
            return organ
        if col.field == "role":
            text = _ROLE_TEXT.get(r.role, r.role)
            if r.equivocal and r.is_new:
                text += " (equivocal)"
            return f"{text} (reader)" if r.role_source == "reader" else text
        cell = r.cell(col.timepoint)
        if cell is None:
            return ""
        if col.field == _SCORE:
            return _score_cell(cell)
        if col.field == _LA and cell.long_axis_mm is None:
            if cell.status == STATUS_MERGED:
                return f"merged into {cell.merged_into}" if cell.merged_into else "merged"
            if cell.status == STATUS_ABSENT:
                return "absent"
        value = self.sort_value(row, column)
        if value is None:
            return ""
        if col.field in (_DBASE, _DNADIR):
            return fmt_pct(value)
        return fmt(value, 1)

    def sort_value(self, row: int, column: int) -> Any:
        """What the column sorts by: a number, a text key, or ``None`` (blank: sorts last)."""
        r = self._data.rows[row]
        col = self._columns[column]
        if col.field == "lesion":
            return _natural(r.name) + _natural(r.lesion_id)
        if col.field == "organ":
            return _natural(r.organ)
        if col.field == "role":
            return _ROLE_RANK.get(r.role, len(_ROLE_RANK))
        cell = r.cell(col.timepoint)
        if cell is None:
            return None
        return {_LA: cell.long_axis_mm, _SA: cell.short_axis_mm, _VOL: cell.volume_ml,
                _SCORE: cell.score, _DBASE: cell.change_from_baseline_pct,
                _DNADIR: cell.change_from_nadir_pct}[col.field]

    def _tooltip(self, r: LesionRow, col: Column) -> str:
        head = f"{r.lesion_id}: {r.name}"
        if col.timepoint is None:
            role = _ROLE_TEXT.get(r.role, r.role)
            by = "set by the reader" if r.role_source == "reader" else "automatic"
            lines = [head, f"Organ: {r.organ}" + (" (lymph node)" if r.is_lymph_node else ""),
                     f"Role: {role} ({by})"]
            if r.role_reason:
                lines.append(r.role_reason)
            if r.equivocal and r.is_new:
                lines.append("Equivocal new lesion: its confidence was below the model's "
                             "threshold, so it makes no progression until a later scan "
                             "confirms it (RECIST 1.1, 4.3.2).")
            return "\n".join(lines)
        cell = r.cell(col.timepoint)
        if cell is None:
            return head
        status = cell.status + (f" into {cell.merged_into}" if cell.merged_into else "")
        which = "short axis, lymph node" if r.is_lymph_node else "long axis"
        return "\n".join([
            head, f"{self._headers[col.timepoint].title}: {status}",
            f"Long axis {fmt(cell.long_axis_mm, 1, 'mm')}, short axis "
            f"{fmt(cell.short_axis_mm, 1, 'mm')}, volume {fmt(cell.volume_ml, 2, 'mL')}",
            f"RECIST diameter ({which}): {fmt(cell.recist_diameter_mm, 1, 'mm')}",
            f"vs baseline {fmt_pct(cell.change_from_baseline_pct)}, "
            f"vs nadir {fmt_pct(cell.change_from_nadir_pct)}",
            f"Confidence {score_text(cell.score)}"
            + (f" ({cell.new_lesion} new lesion)" if cell.new_lesion else ""),
            *([SCORE_NOTE] if col.field == _SCORE else []),
        ])


def _score_cell(cell: LesionCell) -> str:
    """The confidence column's text: "0.87", "-" (seen, no score), "" (not seen); an
    equivocal or confirming new lesion says so."""
    if cell.long_axis_mm is None and cell.score is None:
        return ""
    text = score_text(cell.score)
    if cell.new_lesion in (NEW_EQUIVOCAL, NEW_CONFIRMED):
        text += f" {cell.new_lesion}"
    return text


class LesionSortProxy(QSortFilterProxyModel):
    """Sorts by :meth:`LesionTableModel.sort_value`: numbers as numbers, text naturally,
    blank cells last whichever the order."""

    def lessThan(self, left: _Index, right: _Index) -> bool:  # noqa: N802  (Qt name)
        model = self.sourceModel()
        if not isinstance(model, LesionTableModel):
            return super().lessThan(left, right)
        a = model.sort_value(left.row(), left.column())
        b = model.sort_value(right.row(), right.column())
        if a is None or b is None:
            if a is None and b is None:
                return False
            # Qt sorts a descending order with lessThan(right, left): flip so blanks stay last
            return (a is None) == (self.sortOrder() == Qt.SortOrder.DescendingOrder)
        return a < b


class _Grid(QTableView):
    """The table itself: Enter / Return activates the current row."""

    enterPressed = Signal(QModelIndex)  # noqa: N815  (Qt naming)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802  (Qt name)
        if (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and self.currentIndex().isValid()):
            self.enterPressed.emit(self.currentIndex())
            event.accept()
            return
        super().keyPressEvent(event)


class LesionTableView(QWidget):
    """The RECIST band above a sortable lesion table (see the module docstring)."""

    lesionActivated = Signal(str)  # noqa: N815  (Qt naming) the lesion id clicked / entered

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lesion-table")
        self.model = LesionTableModel(self)
        self.proxy = LesionSortProxy(self)
        self.proxy.setSourceModel(self.model)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        self.band = QTableWidget(1, 0, self)
        self.band.setObjectName("recist-band")
        self.band.horizontalHeader().hide()
        self.band.verticalHeader().hide()
        self.band.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.band.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.band.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.band.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.band.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.band.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.band.setFixedHeight(self.band.verticalHeader().defaultSectionSize()
                                 + 2 * self.band.frameWidth())
        box.addWidget(self.band)
        self.table = _Grid(self)
        self.table.setObjectName("lesion-grid")
        self.table.setModel(self.proxy)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # report order at first
        self.table.setSortingEnabled(True)
        box.addWidget(self.table, 1)
        header.sectionResized.connect(self._on_section_resized)
        self.table.horizontalScrollBar().valueChanged.connect(
            self.band.horizontalScrollBar().setValue)
        self.table.clicked.connect(self._activate)
        self.table.enterPressed.connect(self._activate)

    # --- public ---------------------------------------------------------------------------
    def set_report(self, report: LongitudinalReport) -> None:
        """Show ``report``, keeping the selected lesion (and the sort order) when it is
        still there."""
        self.set_rows(build_lesion_rows(report))

    def set_rows(self, data: LesionTableRows) -> None:
        """Show prepared rows (see :mod:`interval.longitudinal.lesion_rows`)."""
        keep = self.selected_lesion()
        scroll = self.table.horizontalScrollBar().value()
        self.model.set_rows(data)
        self.table.resizeColumnsToContents()
        self._rebuild_band()
        if keep is not None:
            self.select_lesion(keep)
        self.table.horizontalScrollBar().setValue(scroll)

    def selected_lesion(self) -> str | None:
        """The lesion id of the selected row, if any."""
        rows = self.table.selectionModel().selectedRows()
        return str(rows[0].data(LESION_ID_ROLE)) if rows else None

    def select_lesion(self, lesion_id: str) -> bool:
        """Select (and scroll to) ``lesion_id``'s row, without emitting ``lesionActivated``;
        False when it is not in the table."""
        row = self.model.row_of(lesion_id)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect
                 | QItemSelectionModel.SelectionFlag.Rows)
        self.table.selectionModel().setCurrentIndex(index, flags)
        self.table.scrollTo(index)
        return True

    def shown_order(self) -> list[str]:
        """The lesion ids from top to bottom, as sorted now."""
        return [str(self.proxy.index(r, 0).data(LESION_ID_ROLE))
                for r in range(self.proxy.rowCount())]

    def band_texts(self) -> list[str]:
        """The band's texts, left to right (one per span)."""
        out = []
        for c in range(self.band.columnCount()):
            item = self.band.item(0, c)
            if item is not None:
                out.append(item.text())
        return out

    # --- internals ------------------------------------------------------------------------
    def _activate(self, index: QModelIndex) -> None:
        if index.isValid():
            self.lesionActivated.emit(str(index.data(LESION_ID_ROLE)))

    def _on_section_resized(self, section: int, _old: int, new: int) -> None:
        if section < self.band.columnCount():
            self.band.setColumnWidth(section, new)

    def _rebuild_band(self) -> None:
        band = self.band
        band.clearSpans()
        band.clear()
        columns = self.model.columns()
        band.setColumnCount(len(columns))
        header = self.table.horizontalHeader()
        for c in range(len(columns)):
            band.setColumnWidth(c, header.sectionSize(c))
        spans: list[tuple[int, int, TimepointHeader | None]] = [(0, 3, None)]
        for h in self.model.rows.timepoints:
            cols = [c for c, col in enumerate(columns) if col.timepoint == h.timepoint]
            spans.append((cols[0], len(cols), h))
        for start, width, h in spans:
            if h is None:
                item = QTableWidgetItem("RECIST 1.1 response")
                item.setToolTip(plain_tooltip("Overall response per follow-up and the sum of "
                                              "target diameters (vs baseline)"))
            else:
                item = QTableWidgetItem(response_text(h))
                item.setToolTip(plain_tooltip(response_details(h)))
                colour = _RESPONSE_COLOUR.get(h.overall_response)
                if colour is not None:
                    item.setBackground(QBrush(colour))
                    item.setForeground(QBrush(_DARK_TEXT))
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            band.setItem(0, start, item)
            if width > 1:
                band.setSpan(0, start, 1, width)
        band.horizontalScrollBar().setValue(self.table.horizontalScrollBar().value())
