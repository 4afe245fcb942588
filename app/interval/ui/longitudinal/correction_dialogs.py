"""Small dialogs of the workspace's reader corrections: pick one item of a list, type a name.

Every text shown (lesion names and organs come from reports and plugins) is plain text:
list items never interpret markup and the labels are :func:`~interval.ui.plain_text.plain_label`.
The choices themselves (which lesions / timepoints may be linked, split...) are worked
out by pure functions here, without Qt widgets, so the window and its tests share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from interval.longitudinal.model import LongitudinalReport, Track
from interval.longitudinal.report_common import fmt
from interval.ui.plain_text import plain_label


@dataclass(frozen=True)
class Choice:
    """One line of a choice dialog: what it says and what picking it means."""

    text: str
    value: Any


def timepoint_label(report: LongitudinalReport, timepoint: int) -> str:
    """``"follow-up 1"`` (``"timepoint 3"`` when the timeline lacks it)."""
    for tp in report.timeline.timepoints:
        if tp.index == timepoint:
            return tp.label
    return f"timepoint {timepoint + 1}"


def _seen(track: Track) -> list[int]:
    return [t for t in sorted(track.members) if track.members[t] and t not in track.merged_into]


def unlink_choices(report: LongitudinalReport, lesion_id: str) -> list[Choice]:
    """Timepoints where ``lesion_id`` may be cut from its past (seen there and before)."""
    track = report.track(lesion_id)
    if track is None:
        return []
    seen = _seen(track)
    return [Choice(f"from {timepoint_label(report, t)} on", t) for t in seen[1:]]


def link_choices(report: LongitudinalReport, lesion_id: str) -> list[Choice]:
    """Other lesions at each timepoint where they are seen; value ``(lesion_id, timepoint)``."""
    out = []
    for track in report.tracks:
        if track.lesion_id == lesion_id:
            continue
        for t in _seen(track):
            out.append(Choice(f"{track.lesion_id} {track.name} at {timepoint_label(report, t)}",
                              (track.lesion_id, t)))
    return out


def link_arguments(report: LongitudinalReport, lesion_id: str, other_id: str,
                   other_t: int) -> tuple[str, int, str, int] | None:
    """The workspace's ``link(a, ta, b, tb)`` arguments for linking ``lesion_id`` with
    ``other_id`` seen at ``other_t``: the one seen earlier is continued by the later one.
    None when ``lesion_id`` is not seen anywhere but at ``other_t``."""
    track = report.track(lesion_id)
    if track is None:
        return None
    seen = _seen(track)
    before = [t for t in seen if t < other_t]
    if before:
        return lesion_id, before[-1], other_id, other_t
    after = [t for t in seen if t > other_t]
    if after:
        return other_id, other_t, lesion_id, after[0]
    return None


def merge_choices(report: LongitudinalReport, lesion_id: str) -> list[Choice]:
    """The other lesions (value: lesion id)."""
    return [Choice(f"{t.lesion_id} {t.name}", t.lesion_id) for t in report.tracks
            if t.lesion_id != lesion_id]


def split_choices(report: LongitudinalReport, lesion_id: str) -> list[Choice]:
    """Each region of ``lesion_id`` at a timepoint where it has several; value
    ``(timepoint, component)``."""
    track = report.track(lesion_id)
    if track is None:
        return []
    out = []
    for t in _seen(track):
        comps = track.components_at(t)
        if len(comps) < 2:
            continue
        for c in comps:
            m = report.measurement(t, c)
            size = f" (long axis {fmt(m.long_axis.length_mm, 1, 'mm')})" if m is not None else ""
            out.append(Choice(f"{timepoint_label(report, t)}: region {c}{size}", (t, c)))
    return out


class ChoiceDialog(QDialog):
    """Pick one of ``choices`` (plain-text lines)."""

    def __init__(self, title: str, prompt: str, choices: Sequence[Choice],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.choices = list(choices)
        box = QVBoxLayout(self)
        box.addWidget(plain_label(prompt, self))
        self.list = QListWidget(self)
        for choice in self.choices:
            self.list.addItem(QListWidgetItem(choice.text))
        if self.choices:
            self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        box.addWidget(self.list)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, parent=self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        box.addWidget(buttons)

    def value(self) -> Any:
        row = self.list.currentRow()
        return self.choices[row].value if 0 <= row < len(self.choices) else None


class NameDialog(QDialog):
    """Type a name (OK only when it is not blank)."""

    def __init__(self, title: str, prompt: str, text: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        box = QVBoxLayout(self)
        box.addWidget(plain_label(prompt, self))
        self.edit = QLineEdit(text, self)
        self.edit.selectAll()
        box.addWidget(self.edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel, parent=self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        box.addWidget(self.buttons)
        self.edit.textChanged.connect(self._sync)
        self._sync()

    def _sync(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.edit.text().strip()))

    def text(self) -> str:
        return " ".join(self.edit.text().split())


def ask_choice(parent: QWidget, title: str, prompt: str, choices: Sequence[Choice]) -> Any:
    """The value picked, or None (cancelled / nothing to pick)."""
    dialog = ChoiceDialog(title, prompt, choices, parent)
    try:
        return dialog.value() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


def ask_name(parent: QWidget, title: str, prompt: str, text: str = "") -> str | None:
    """The name typed (spaces tidied), or None when cancelled."""
    dialog = NameDialog(title, prompt, text, parent)
    try:
        return dialog.text() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()
