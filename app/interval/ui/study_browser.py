"""Study browser dock: patient -> study (date, time, patient position, description)
-> series (modality, patient position, description, image count, thumbnail of the
middle slice) -> the series' stacks and the objects attached to it (DICOM SEG,
RTSTRUCT, reports...).

The volumes of a 3-D + time series (fMRI, DCE: the stacks the indexer split by
repeated positions, which the viewer's Time bar steps through; see
:func:`interval.io.dicom.time_series.volume_siblings`) share ONE row, "fMRI BOLD —
16 volumes in time", showing the first volume, with a collapsed child row per volume.
Diffusion volumes (they carry a b-value) keep a row each: they differ in gradient,
not in time; echoes and orientations are separate rows as before.

Double-clicking a series (or one of its stacks or volumes) emits ``stack_activated(uid)``;
double-clicking a segmentation or structure set emits ``object_activated(key)``
(:meth:`object_of` tells what it is and which stack it belongs on).  After either,
``view_focus_requested`` asks the window to give the keyboard to the image view (so
arrow keys page through the series just opened, not through the browser's rows).
Thumbnails arrive later from a background job through :meth:`set_thumbnail`.
"""

from __future__ import annotations

import re

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

from interval.io.dicom.records import (
    DicomIndex,
    ImageStack,
    NonImageObject,
    PatientRecord,
    SeriesRecord,
    StudyRecord,
)
from interval.io.dicom.time_series import volume_siblings, volume_times_ms
from interval.ui.plain_text import plain_label, set_plain_tooltip

KIND_ROLE = Qt.ItemDataRole.UserRole
UID_ROLE = Qt.ItemDataRole.UserRole + 1
NAME_ROLE = Qt.ItemDataRole.UserRole + 3  # the row's name without a flag
PROBLEM_ROLE = Qt.ItemDataRole.UserRole + 4  # "irregular" / "refused"
VOLUMES_ROLE = Qt.ItemDataRole.UserRole + 5  # a row of volumes in time: how many
IRREGULAR_FLAG = "⚠"
REFUSED_FLAG = "✖"  # U+2716: in DejaVu Sans, Segoe UI Symbol and Apple's fonts (U+26D4 is not)
OPENABLE_KINDS = ("seg", "rtstruct")  # objects shown as label layers
_KIND_NAMES = {"seg": "SEG", "rtstruct": "RTSTRUCT", "sr": "Report", "pr": "Presentation state",
               "raw": "Raw data", "waveform": "Waveform", "other": "Object", "image": "Image"}
COLUMNS = ("Name", "Date / modality", "Description", "Images")
ICON_SIZE = 48


class StudyBrowser(QDockWidget):
    """The "Studies" dock over a :class:`DicomIndex`."""

    stack_activated = Signal(str)
    object_activated = Signal(str)  # key of a SEG / RTSTRUCT row (see object_of)
    view_focus_requested = Signal()  # a double-click opened something: focus the views
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
        # volume of a time series -> uid of the first volume, whose row shows them all
        self._first_volume: dict[str, str] = {}
        # object key -> (object, uid of the stack it belongs on, or None)
        self._objects: dict[str, tuple[NonImageObject, str | None]] = {}

    # --- content ------------------------------------------------------------------------
    def clear(self, message: str = "") -> None:
        self.tree.clear()
        self.index = None
        self._stacks.clear()
        self._items.clear()
        self._first_volume.clear()
        self._objects.clear()
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
                when = _study_when(study)
                n_images = sum(s.n_frames for se in study.series for s in se.stacks)
                s_item = QTreeWidgetItem(
                    p_item, [study.study_description or "Study", when, "", str(n_images)]
                )
                set_plain_tooltip(s_item, f"{study.study_description or 'Study'} of {when}", 0)
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
            text += f"; {len(index.skipped)} file(s) skipped (listed in View > Problems)"
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
        kind = ", ".join(p for p in (series.modality or "?", _series_position(series)) if p)
        item = QTreeWidgetItem(
            parent, [label, kind, series.series_description, str(n_images)]
        )
        item.setData(0, KIND_ROLE, "series")
        item.setData(0, UID_ROLE, series.series_instance_uid)
        set_plain_tooltip(item, f"{label}: {n_images} image(s)", 0)
        if not series.stacks:
            kinds = sorted({o.kind.upper() for o in series.objects})
            item.setText(3, f"{len(series.objects)} object(s)")
            set_plain_tooltip(item, "No images: " + ", ".join(kinds), 0)
            item.setForeground(0, Qt.GlobalColor.gray)
        rows = _rows_of(self.index, series)
        for n, row in enumerate(rows):
            if len(rows) == 1:
                target = item
            else:
                label = row[0].label if len(row) == 1 else _without_volume(row[0].label)
                target = QTreeWidgetItem(
                    item,
                    [_stack_row_text(row[0], n), series.modality, label,
                     str(sum(s.n_frames for s in row))],
                )
                if label:
                    set_plain_tooltip(target, label, 0)
            if len(row) > 1:
                self._add_volumes(target, row, series.modality)
            target.setData(0, KIND_ROLE, "stack" if target is not item else "series")
            self._register(target, row[0], irregular, unloadable)
            for k in range(1, len(row)):  # the row itself shows (and flags) the first volume
                self._register(target.child(k), row[k], irregular, unloadable)
        if len(rows) > 1:
            item.setExpanded(True)
        if series.attached:
            names = ", ".join(sorted({o.kind.upper() for o in series.attached}))
            set_plain_tooltip(item, f"Attached: {names}", 2)
        self._add_objects(item, series)
        _tooltips(item)

    def _register(self, item: QTreeWidgetItem, stack: ImageStack, irregular, unloadable) -> None:
        """``item`` shows ``stack``: double-click, thumbnail and problem flags reach it."""
        item.setData(0, UID_ROLE, stack.uid)
        self._stacks[stack.uid] = stack
        self._items[stack.uid] = item
        problems = irregular.get(stack.uid)
        if problems:
            self.mark_problem(stack.uid, problems, irregular=True)
        elif stack.uid in unloadable:
            self.mark_problem(stack.uid, [unloadable[stack.uid]], irregular=False)

    def _add_volumes(
        self, row: QTreeWidgetItem, volumes: list[ImageStack], modality: str
    ) -> None:
        """Make ``row`` the row of the volumes of a 3-D + time series (it opens the first
        volume; the Time bar then steps through the others), with a collapsed child row
        per volume (double-click one to start there)."""
        n = len(volumes)
        name = _without_volume(row.text(0))
        row.setText(0, f"{name} — {n} volumes in time" if name else f"{n} volumes in time")
        row.setData(0, VOLUMES_ROLE, n)
        set_plain_tooltip(
            row, f"{name or 'Series'}: {n} volumes at the same positions, in time "
                 "— double-click to open the first; the Time bar steps through them", 0)
        times_ms = volume_times_ms(volumes)
        for k, stack in enumerate(volumes):
            when = f"t = {times_ms[k] / 1000.0:.1f} s" if times_ms else ""
            child = QTreeWidgetItem(
                row, [_stack_row_text(stack, k), modality, when, str(stack.n_frames)]
            )
            child.setData(0, KIND_ROLE, "volume")
            child.setData(0, UID_ROLE, stack.uid)
            if stack.label:
                set_plain_tooltip(child, stack.label, 0)
            self._first_volume[stack.uid] = volumes[0].uid
        row.setExpanded(False)

    def _add_objects(self, item: QTreeWidgetItem, series: SeriesRecord) -> None:
        """One row per object attached to ``series`` (or kept in it), under its row."""
        # attached objects are drawn on a stack of this series; the series' own unresolved
        # objects (their images are not in the folder) on whatever image is shown
        rows = [(obj, bool(series.stacks)) for obj in series.attached]
        rows += [(obj, False) for obj in series.objects]
        for obj, on_series in rows:
            h = obj.header
            key = h.sop_instance_uid or h.path
            if key in self._objects:
                continue
            kind = _KIND_NAMES.get(obj.kind, obj.kind.upper())
            what = h.description or h.series_description or ""
            text = f"{kind}: {what}" if what else kind
            child = QTreeWidgetItem(item, [text, obj.kind.upper(), h.series_description, ""])
            child.setData(0, KIND_ROLE, "object")
            child.setData(0, UID_ROLE, key)
            if obj.kind in OPENABLE_KINDS:
                self._objects[key] = (obj, _stack_for(series, obj) if on_series else None)
                set_plain_tooltip(child, f"{text} — double-click to show it as a label layer", 0)
            else:
                child.setForeground(0, Qt.GlobalColor.gray)
                set_plain_tooltip(child, f"{text} (not shown as an image)", 0)
        if rows:
            item.setExpanded(True)

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
        if item.data(0, KIND_ROLE) == "volume" and item.parent() is not None:
            item.parent().setExpanded(True)  # a later volume of a time series: show its row
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
        """Show a (h, w) uint8 grey or (h, w, 3) uint8 RGB picture as the icon of the
        stack's row."""
        item = self._items.get(stack_uid)
        if item is None:
            return
        item.setIcon(0, QIcon(_pixmap(pixels)))
        item.setData(0, Qt.ItemDataRole.UserRole + 2, True)

    # --- queries ------------------------------------------------------------------------
    def stack(self, uid: str) -> ImageStack | None:
        return self._stacks.get(uid)

    def stacks(self) -> list[tuple[str, ImageStack]]:
        """Every loadable stack as (uid, stack), in tree order (every volume of a time
        series included)."""
        return list(self._stacks.items())

    def thumbnail_stacks(self) -> list[tuple[str, ImageStack]]:
        """The stacks whose rows want a thumbnail: all but the later volumes of a time
        series (the row of the first volume shows them all)."""
        return [(uid, s) for uid, s in self._stacks.items()
                if self._first_volume.get(uid, uid) == uid]

    def time_series_count(self, stack_uid: str) -> int:
        """How many volumes in time the row of ``stack_uid`` stands for (1: a plain stack)."""
        item = self._items.get(self._first_volume.get(stack_uid, stack_uid))
        count = item.data(0, VOLUMES_ROLE) if item is not None else None
        return int(count) if count else 1

    def item_for(self, stack_uid: str) -> QTreeWidgetItem | None:
        return self._items.get(stack_uid)

    def has_thumbnail(self, stack_uid: str) -> bool:
        """Whether the row showing the stack has its thumbnail (for a later volume of a time
        series: the row of the first volume)."""
        item = self._items.get(self._first_volume.get(stack_uid, stack_uid))
        return bool(item is not None and item.data(0, Qt.ItemDataRole.UserRole + 2))

    def object_of(self, key: str) -> tuple[NonImageObject, str | None] | None:
        """The SEG / RTSTRUCT of an object row and the uid of the stack it is drawn on
        (None when the series it refers to is not in the folder)."""
        return self._objects.get(key)

    def objects(self) -> list[str]:
        """Keys of the SEG / RTSTRUCT rows, in tree order."""
        return list(self._objects)

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
        kind = item.data(0, KIND_ROLE)
        if kind in ("series", "stack", "volume") and uid in self._stacks:
            self.stack_activated.emit(uid)
        elif kind == "object" and uid in self._objects:
            self.object_activated.emit(uid)
        else:
            return
        self.view_focus_requested.emit()


def _tooltips(item: QTreeWidgetItem) -> None:
    """Every column without a tooltip gets its own text (cut-off texts stay readable)."""
    for col in range(item.columnCount()):
        if not item.toolTip(col) and item.text(col):
            set_plain_tooltip(item, item.text(col), col)
    for i in range(item.childCount()):
        _tooltips(item.child(i))


def _clock(tm: str) -> str:
    """A DICOM TM value (HHMMSS.frac) as HH:MM; "" when it is not one."""
    digits = tm.strip().split(".")[0].replace(":", "")
    if len(digits) >= 4 and digits[:4].isdigit():
        return f"{digits[:2]}:{digits[2:4]}"
    return ""


def _positions(series: list[SeriesRecord]) -> list[str]:
    return list(dict.fromkeys(p for p in (_series_position(se) for se in series) if p))


def _series_position(series: SeriesRecord) -> str:
    """PatientPosition (HFS, FFS, HFDL...) of the series' images, else of its objects."""
    headers = [s.first for s in series.stacks if s.frames] + [o.header for o in series.objects]
    return next((h.patient_position.strip() for h in headers if h.patient_position.strip()), "")


def _study_when(study: StudyRecord) -> str:
    """"2024-03-05 14:03, HFS": date, time and the patient position(s) of a study."""
    date = study.study_date.isoformat() if study.study_date else "(no date)"
    clock = _clock(study.study_time)
    text = f"{date} {clock}" if clock else date
    positions = _positions(study.series)
    return f"{text}, {'/'.join(positions)}" if positions else text


def _stack_row_text(stack: ImageStack, k: int) -> str:
    """A stack's row name: the most specific part of its label first ("volume 3 · b=2000"),
    so rows that differ only there stay distinguishable when the column cuts them off.
    A part's own commas, inside parentheses, stay: "b=2000 dir 3 (0.71, 0.00, 0.71)"."""
    parts = [p.strip() for p in _LABEL_PARTS.split(stack.label) if p.strip()]
    return " · ".join(reversed(parts)) if parts else f"part {k + 1}"


_LABEL_PARTS = re.compile(r",\s(?![^()]*\))")  # ", " not inside parentheses
_VOLUME_PART = re.compile(r"^volume \d+$")


def _without_volume(text: str) -> str:
    """A row text or stack label without its "volume 3" part ("volume 3 · echo 2" ->
    "echo 2", "echo 2, volume 3" -> "echo 2", "volume 3" -> "")."""
    for sep in (" · ", ", "):
        parts = [p for p in text.split(sep) if not _VOLUME_PART.match(p.strip())]
        if len(parts) != len(text.split(sep)):
            return sep.join(parts)
    return text


def _rows_of(index: DicomIndex | None, series: SeriesRecord) -> list[list[ImageStack]]:
    """The series' stacks as the browser's rows, in series order: one stack a row, except
    the volumes of a 3-D + time series, which share one (the siblings the Time bar steps
    through, :func:`volume_siblings`).  Diffusion volumes (with a b-value) keep a row each:
    they differ in gradient direction, not in time."""
    rows: list[list[ImageStack]] = []
    grouped: set[str] = set()  # in a row of volumes already
    alone: set[str] = set()  # known to keep a row of its own
    for stack in series.stacks:
        if stack.uid in grouped:
            continue
        lonely = index is None or len(series.stacks) == 1 or stack.uid in alone
        siblings = [] if lonely else volume_siblings(index, stack.uid)
        if siblings and not any(s.frames and s.frames[0].info.b_value is not None
                                for s in siblings):
            rows.append(siblings)
            grouped.update(s.uid for s in siblings)
        else:
            rows.append([stack])
            alone.update(s.uid for s in siblings)
    return rows


def _stack_for(series: SeriesRecord, obj: NonImageObject) -> str:
    """The stack of ``series`` holding most of the images ``obj`` refers to (else the first)."""
    refs = set(obj.header.referenced_sop_uids)
    if not refs or len(series.stacks) == 1:
        return series.stacks[0].uid
    best = max(series.stacks,
               key=lambda s: sum(f.header.sop_instance_uid in refs for f in s.frames))
    return best.uid


def _patient_label(p: PatientRecord) -> str:
    name = p.patient_name.replace("^", " ").strip() or "(no name)"
    return f"{name} ({p.patient_id})" if p.patient_id else name


def _sex_birth(p: PatientRecord) -> str:
    parts = [p.patient_sex] if p.patient_sex else []
    if p.patient_birth_date:
        parts.append(f"born {p.patient_birth_date.isoformat()}")
    return ", ".join(parts)


def _pixmap(pixels: np.ndarray) -> QPixmap:
    """A (h, w) grey or (h, w, 3) RGB uint8 picture as a pixmap."""
    data = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = data.shape[:2]
    if data.ndim == 3:
        image = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    else:
        image = QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(image)
