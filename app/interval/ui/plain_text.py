"""Text from plugins, files and DICOM headers shown as plain text in Qt widgets.

Qt guesses whether a string is rich text (``Qt.mightBeRichText``) for a QLabel or
QMessageBox left at ``Qt.TextFormat.AutoText`` and for *every* tooltip: a plugin's error
message, a DICOM series description or a file name holding ``<b>x</b>`` or
``<img src=...>`` would be drawn as formatted text, local images included.  Labels and
message boxes that may show such text get ``Qt.TextFormat.PlainText``
(:func:`plain_label`, :func:`make_plain`); tooltips, whose format cannot be set, get the
text escaped inside a paragraph that keeps its line breaks and spaces
(:func:`plain_tooltip`, :func:`set_plain_tooltip`).
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

_TOOLTIP_OPEN = '<p style="white-space:pre-wrap">'
_TOOLTIP_CLOSE = "</p>"


def plain_tooltip(text: str) -> str:
    """Tooltip markup that shows ``text`` literally ("" stays "": no tooltip)."""
    text = str(text)
    if not text:
        return ""
    return _TOOLTIP_OPEN + html.escape(text) + _TOOLTIP_CLOSE


def tooltip_text(tooltip: str) -> str:
    """The text a :func:`plain_tooltip` tooltip shows (any other tooltip as it is)."""
    if tooltip.startswith(_TOOLTIP_OPEN) and tooltip.endswith(_TOOLTIP_CLOSE):
        return html.unescape(tooltip[len(_TOOLTIP_OPEN):-len(_TOOLTIP_CLOSE)])
    return tooltip


def set_plain_tooltip(target: Any, text: str, column: int | None = None) -> None:
    """Give ``target`` (a widget, action, or list/table item; a tree item with
    ``column``) the tooltip ``text``, shown as plain text."""
    if column is None:
        target.setToolTip(plain_tooltip(text))
    else:
        target.setToolTip(column, plain_tooltip(text))


def make_plain(*widgets: QLabel | QMessageBox) -> None:
    """Show the labels' / message boxes' texts as plain text, whatever they hold."""
    for widget in widgets:
        widget.setTextFormat(Qt.TextFormat.PlainText)


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A QLabel that shows ``text`` (and every later text) as plain text."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(str(text))
    return label
