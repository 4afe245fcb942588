"""Study browser dock: patient -> study (date, description) -> series (modality,
description, image count, thumbnail of the middle slice).

Double-clicking a series (or one of its stacks) emits ``stack_activated(uid)``.
Thumbnails arrive later from a background job through :meth:`set_thumbnail`.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from interval.io.dicom.records import DicomIndex, ImageStack, PatientRecord, SeriesRecord
from interval.ui.plain_text import plain_label, set_plain_tooltip

KIND_ROLE = Qt.ItemDataRole.UserRole
UID_ROLE = Qt.ItemDataRole.UserRole + 1
NAME_ROLE = Qt.ItemDataRole.UserRole + 3  # the row's name without a flag
PROBLEM_ROLE = Qt.ItemDataRole.UserRole + 4  # "irregular" / "refused"
IRREGULAR_FLAG = "⚠"
REFUSED_FLAG = "⛔"
COLUMNS = ("Name", "Date / modality", "Description", "Images")
ICON_SIZE = 48


class StudyBrowser(QDockWidget):
    """The "Studies" dock over a :class:`DicomIndex`."""

    stack_activated = Signal(str)
    index_changed = Signal()  # set_index showed another index (e.g. another folder)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Studies", parent)
        self.setObjectName("studyBrowser")
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(2, 2, 2, 2)
        self.status = plain_label("Open a folder (File > Open folder…) or drop one here.")
        self.status.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.tree.setColumnWidth(0, 200)
        self.tree.setUniformRowHeights(False)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        lay.addWidget(self.status)
        lay.addWidget(self.tree)
        self.setWidget(body)
        self.index: DicomIndex | None = None
        self._stacks: dict[str, ImageStack] = {}
        self._items: dict[str, QTreeWidgetItem] = {}  # stack uid -> item showing it

    # --- content ------------------------------------------------------------------------
    def clear(self, message: str = "") -> None:
        self.tree.clear()
        self.index = None
        self._stacks.clear()
        self._items.clear()
        self.status.setText(message)

    def set_index(
        self,
        index: DicomIndex,
        irregular: dict[str, list[str]] | None = None,
        unloadable: dict[str, str] | None = None,
    ) -> None:
        """Show ``index``; stacks listed in ``irregular`` (or ``unloadable``) are flagged
        with their problems."""
        self.clear()
        self.index = index
        irregular = irregular or {}
        unloadable = unloadable or {}
        for patient in index.patients:
            p_item = QTreeWidgetItem(self.tree, [_patient_label(patient), _sex_birth(patient), "", ""])
            p_item.setData(0, KIND_ROLE, "patient")
            _tooltips(p_item)
            for study in patient.studies:
                date = study.study_date.isoformat() if study.study_date else "(no date)"
                n_images = sum(s.n_frames for se in study.series for s in se.stacks)
                s_item = QTreeWidgetItem(
                    p_item, [study.study_description or "Study", date, "", str(n_images)]
                )
                set_plain_tooltip(s_item, f"{study.study_description or 'Study'} of {date}", 0)
                s_item.setData(0, KIND_ROLE, "study")
                s_item.setData(0, UID_ROLE, study.study_instance_uid)
                for series in study.series:
                    self._add_series(s_item, series, irregular, unloadable)
                _tooltips(s_item)
                s_item.setExpanded(True)
            p_item.setExpanded(True)
        n_series = sum(1 for _ in index.iter_series())
        n_studies = sum(len(p.studies) for p in index.patients)
        text = f"{len(index.patients)} patient(s), {n_studies} study(ies), {n_series} series"
        if index.skipped:
            text += f"; {len(index.skipped)} file(s) skipped (see Problems)"
        self.status.setText(text)
        for col in range(1, len(COLUMNS)):
            self.tree.resizeColumnToContents(col)
        self.index_changed.emit()

    def _add_series(
        self, parent: QTreeWidgetItem, series: SeriesRecord, irregular, unloadable=None
    ) -> None:
        unloadable = unloadable or {}
        number = f"#{series.series_number} " if series.series_number is not None else ""
        n_images = sum(s.n_frames for s in series.stacks)
        label = f"{number}{series.series_description or series.modality or 'Series'}"
        item = QTreeWidgetItem(
            parent, [label, series.modality or "?", series.series_description, str(n_images)]
        )
        item.setData(0, KIND_ROLE, "series")
        item.setData(0, UID_ROLE, series.series_instance_uid)
        set_plain_tooltip(item, f"{label}: {n_images} image(s)", 0)
        if not series.stacks:
            kinds = sorted({o.kind.upper() for o in series.objects})
            item.setText(3, f"{len(series.objects)} object(s)")
            set_plain_tooltip(item, "No images: " + ", ".join(kinds), 0)
            item.setForeground(0, Qt.GlobalColor.gray)
        targets = [item] if len(series.stacks) == 1 else []
        if len(series.stacks) > 1:
            for k, stack in enumerate(series.stacks):
                child = QTreeWidgetItem(
                    item,
                    [stack.label or f"part {k + 1}", series.modality, "", str(stack.n_frames)],
                )
                targets.append(child)
            item.setExpanded(True)
        for target, stack in zip(targets, series.stacks, strict=True):
            target.setData(0, KIND_ROLE, "stack" if target is not item else "series")
            target.setData(0, UID_ROLE, stack.uid)
            self._stacks[stack.uid] = stack
            self._items[stack.uid] = target
            problems = irregular.get(stack.uid)
            if problems:
                self.mark_problem(stack.uid, problems, irregular=True)
            elif stack.uid in unloadable:
                self.mark_problem(stack.uid, [unloadable[stack.uid]], irregular=False)
        if series.attached:
            names = ", ".join(sorted({o.kind.upper() for o in series.attached}))
            set_plain_tooltip(item, f"Attached: {names}", 2)
        _tooltips(item)

    def mark_problem(self, stack_uid: str, reasons: list[str], *, irregular: bool) -> None:
        """Flag a stack's row in its FIRST column (visible at any dock width): a warning
        sign, a warning colour and the reasons as the tooltip of every column."""
        item = self._items.get(stack_uid)
        if item is None:
            return
        flag = IRREGULAR_FLAG if irregular else REFUSED_FLAG
        name = item.data(0, NAME_ROLE) or item.text(0)
        item.setData(0, NAME_ROLE, name)
        item.setText(0, f"{flag} {name}")
        item.setData(0, PROBLEM_ROLE, "irregular" if irregular else "refused")
        head = "Irregular slices" if irregular else "Cannot be loaded"
        hint = (" — double-click, then choose Load as-is or Resample in Problems"
                if irregular else "")
        tip = f"{head}: " + "; ".join(reasons) + hint
        colour = QColor(200, 110, 0) if irregular else QColor(190, 40, 40)
        for col in range(len(COLUMNS)):
            set_plain_tooltip(item, tip, col)
            item.setForeground(col, colour)

    def problem_of(self, stack_uid: str) -> str | None:
        """"irregular", "refused" or None (no flag) for a stack's row."""
        item = self._items.get(stack_uid)
        return None if item is None else item.data(0, PROBLEM_ROLE)

    def set_thumbnail(self, stack_uid: str, pixels: np.ndarray) -> None:
        """Show a (h, w) uint8 picture as the icon of the stack's row."""
        item = self._items.get(stack_uid)
        if item is None:
            return
        item.setIcon(0, QIcon(_pixmap(pixels)))
        item.setData(0, Qt.ItemDataRole.UserRole + 2, True)

    # --- queries ------------------------------------------------------------------------
    def stack(self, uid: str) -> ImageStack | None:
        return self._stacks.get(uid)

    def stacks(self) -> list[tuple[str, ImageStack]]:
        """Every loadable stack as (uid, stack), in tree order."""
        return list(self._stacks.items())

    def item_for(self, stack_uid: str) -> QTreeWidgetItem | None:
        return self._items.get(stack_uid)

    def has_thumbnail(self, stack_uid: str) -> bool:
        item = self._items.get(stack_uid)
        return bool(item is not None and item.data(0, Qt.ItemDataRole.UserRole + 2))

    def items_of_kind(self, kind: str) -> list[QTreeWidgetItem]:
        out: list[QTreeWidgetItem] = []

        def walk(item: QTreeWidgetItem) -> None:
            if item.data(0, KIND_ROLE) == kind:
                out.append(item)
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return out

    def _double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        uid = item.data(0, UID_ROLE)
        if item.data(0, KIND_ROLE) in ("series", "stack") and uid in self._stacks:
            self.stack_activated.emit(uid)


def _tooltips(item: QTreeWidgetItem) -> None:
    """Every column without a tooltip gets its own text (cut-off texts stay readable)."""
    for col in range(item.columnCount()):
        if not item.toolTip(col) and item.text(col):
            set_plain_tooltip(item, item.text(col), col)
    for i in range(item.childCount()):
        _tooltips(item.child(i))


def _patient_label(p: PatientRecord) -> str:
    name = p.patient_name.replace("^", " ").strip() or "(no name)"
    return f"{name} ({p.patient_id})" if p.patient_id else name


def _sex_birth(p: PatientRecord) -> str:
    parts = [p.patient_sex] if p.patient_sex else []
    if p.patient_birth_date:
        parts.append(f"born {p.patient_birth_date.isoformat()}")
    return ", ".join(parts)


def _pixmap(pixels: np.ndarray) -> QPixmap:
    grey = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = grey.shape
    image = QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(image)
