"""Non-modal dock listing what could not be opened, and why, in words.

Entries: skipped files (from the index), index warnings, series refused or found
irregular (with "Load as-is" / "Resample" buttons that ask for a reload with a
:class:`DicomReadPolicy`), and load errors.  Never a dialog.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from interval.io.dicom.policy import DEFAULT_POLICY, DicomReadPolicy
from interval.io.dicom.records import SkippedFile
from interval.ui.plain_text import plain_label, set_plain_tooltip

KIND_ROLE = Qt.ItemDataRole.UserRole
KEY_ROLE = Qt.ItemDataRole.UserRole + 1
REASON_ROLE = Qt.ItemDataRole.UserRole + 2  # a series entry's whole reason text
EXPAND_AT_MOST = 20  # longer lists of skipped files start collapsed


class ProblemsPanel(QDockWidget):
    """The "Problems" dock.  ``reload_requested(stack_uid, policy)`` asks for a reload."""

    reload_requested = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Problems", parent)
        self.setObjectName("problemsPanel")
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(2, 2, 2, 2)
        self.summary = plain_label("No problems.")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Item", "Reason"])
        self.tree.setColumnWidth(0, 260)
        self.tree.setRootIsDecorated(True)
        lay.addWidget(self.summary)
        lay.addWidget(self.tree)
        self.setWidget(body)
        self._skipped_root: QTreeWidgetItem | None = None
        self._series: dict[str, QTreeWidgetItem] = {}
        self._series_messages: dict[str, list[QTreeWidgetItem]] = {}
        self.action_buttons: dict[tuple[str, str], QPushButton] = {}

    # --- content ------------------------------------------------------------------------
    def clear(self) -> None:
        self.tree.clear()
        self._skipped_root = None
        self._series.clear()
        self._series_messages.clear()
        self.action_buttons.clear()
        self._update_summary()

    def add_skipped(self, skipped: list[SkippedFile], root: str | Path | None = None) -> None:
        """List skipped files (relative to ``root`` when possible) with their reasons."""
        if not skipped:
            return
        if self._skipped_root is None:
            self._skipped_root = QTreeWidgetItem(self.tree, ["Skipped files", ""])
            self._skipped_root.setData(0, KIND_ROLE, "skipped-group")
        for entry in skipped:
            name = _relative(entry.path, root)
            item = QTreeWidgetItem(self._skipped_root, [name, entry.reason])
            item.setData(0, KIND_ROLE, "skipped")
            item.setData(0, KEY_ROLE, entry.path)
            set_plain_tooltip(item, entry.path, 0)
            set_plain_tooltip(item, entry.reason, 1)
        self._skipped_root.setText(0, f"Skipped files ({self._skipped_root.childCount()})")
        set_plain_tooltip(self._skipped_root, self._skipped_root.text(0), 0)
        self._skipped_root.setExpanded(self._skipped_root.childCount() <= EXPAND_AT_MOST)
        self._update_summary()

    def add_message(self, title: str, message: str, kind: str = "warning", *,
                    series: str | None = None) -> QTreeWidgetItem:
        """A line with a title and a sentence (an index warning, a load error...).

        A message about a loaded ``series`` (its stack uid) goes when that series is
        loaded again or its entry removed (:meth:`remove_series_problem`), so a warning
        of an earlier load (e.g. "Resampled..." before the reader chose Load as-is) does
        not outlive the state it described.
        """
        item = QTreeWidgetItem(self.tree, [title, message])
        item.setData(0, KIND_ROLE, kind)
        if series is not None:
            self._series_messages.setdefault(series, []).append(item)
        set_plain_tooltip(item, title, 0)
        set_plain_tooltip(item, message, 1)
        self._update_summary()
        return item

    def add_series_problem(
        self,
        stack_uid: str,
        title: str,
        reasons: list[str],
        *,
        irregular: bool,
        policy: DicomReadPolicy = DEFAULT_POLICY,
    ) -> QTreeWidgetItem:
        """A series that was refused or is irregular; irregular ones get reload buttons."""
        old = self._series.pop(stack_uid, None)
        if old is not None:
            self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(old))
            for key in [k for k in self.action_buttons if k[0] == stack_uid]:
                del self.action_buttons[key]
        reason = "; ".join(reasons) if reasons else "cannot be loaded"
        # one reason: on the entry's own line; several: a count there, one line each below
        shown = reason if len(reasons) <= 1 else f"{len(reasons)} problems (listed below)"
        item = QTreeWidgetItem(self.tree, [title, shown])
        item.setData(0, KIND_ROLE, "irregular" if irregular else "refused")
        item.setData(0, KEY_ROLE, stack_uid)
        item.setData(0, REASON_ROLE, reason)
        set_plain_tooltip(item, title, 0)
        set_plain_tooltip(item, reason, 1)
        if len(reasons) > 1:
            for r in reasons:
                child = QTreeWidgetItem(item, ["", r])
                child.setData(0, KIND_ROLE, "reason")
                set_plain_tooltip(child, r, 1)
        actions = None
        if irregular:
            actions = QTreeWidgetItem(item, ["Load it anyway:", ""])
            actions.setData(0, KIND_ROLE, "actions")
            box = QWidget()
            row = QHBoxLayout(box)
            row.setContentsMargins(0, 0, 0, 0)
            for label, mode in (("Load as-is", "as-is"), ("Resample", "resample")):
                button = QPushButton(label)
                button.setToolTip(
                    "Load the slices in order on their mean spacing (distances across "
                    "slices may be wrong)" if mode == "as-is"
                    else "Place every slice at its true position and resample onto a regular grid"
                )
                button.clicked.connect(
                    lambda _=False, u=stack_uid, m=mode, p=policy: self.reload_requested.emit(
                        u, replace(p, irregular=m)
                    )
                )
                row.addWidget(button)
                self.action_buttons[(stack_uid, mode)] = button
            row.addStretch(1)
            self.tree.setItemWidget(actions, 1, box)
        item.setExpanded(True)
        self._series[stack_uid] = item
        self._update_summary()
        self._select(item, actions)
        return item

    def focus_series(self, stack_uid: str) -> bool:
        """Show and raise the dock with the series' entry selected and scrolled to (its
        reload buttons visible); False when the series has no entry."""
        item = self._series.get(stack_uid)
        if item is None:
            return False
        self.show()
        self.raise_()
        actions = next(
            (item.child(i) for i in range(item.childCount())
             if item.child(i).data(0, KIND_ROLE) == "actions"),
            None,
        )
        self._select(item, actions)
        return True

    def selected_series(self) -> str | None:
        """The stack uid of the selected series entry, if one is selected."""
        item = self.tree.currentItem()
        while item is not None and item.parent() is not None:
            item = item.parent()
        if item is None or item.data(0, KIND_ROLE) not in ("irregular", "refused"):
            return None
        return item.data(0, KEY_ROLE)

    def _select(self, item: QTreeWidgetItem, actions: QTreeWidgetItem | None) -> None:
        item.setExpanded(True)
        self.tree.setCurrentItem(item)
        if actions is not None:  # the buttons below the entry, then the entry itself
            self.tree.scrollToItem(actions)
        self.tree.scrollToItem(item)

    def remove_series_problem(self, stack_uid: str) -> None:
        """Drop a series' entry (it loaded after all) and the messages of its last load."""
        item = self._series.pop(stack_uid, None)
        for old in (item, *self._series_messages.pop(stack_uid, [])):
            index = -1 if old is None else self.tree.indexOfTopLevelItem(old)
            if index >= 0:
                self.tree.takeTopLevelItem(index)
        for key in [k for k in self.action_buttons if k[0] == stack_uid]:
            del self.action_buttons[key]
        self._update_summary()

    # --- reading back -------------------------------------------------------------------
    def entries(self) -> list[tuple[str, str, str]]:
        """Every entry as ``(kind, item text, reason)``, skipped files included."""
        out: list[tuple[str, str, str]] = []

        def walk(item: QTreeWidgetItem) -> None:
            kind = item.data(0, KIND_ROLE) or ""
            if kind not in ("skipped-group", "reason", "actions"):
                reason = item.data(0, REASON_ROLE) or item.text(1)
                out.append((kind, item.text(0), reason))
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return out

    def series_problems(self) -> dict[str, str]:
        """stack uid -> reason text of every series entry."""
        return {uid: item.data(0, REASON_ROLE) for uid, item in self._series.items()}

    def count(self) -> int:
        return len(self.entries())

    def _update_summary(self) -> None:
        n = self.count()
        self.summary.setText("No problems." if n == 0 else f"{n} problem(s): see below.")


def _relative(path: str, root: str | Path | None) -> str:
    if root is not None:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            pass
    return Path(path).name or path
