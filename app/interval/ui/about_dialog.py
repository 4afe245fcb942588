"""Help > About Interval and Help > User guide.

The About dialog shows the version, build date, edition and capabilities, and the
bundled components with their licences (from :func:`interval.about_info.build_info`:
the bundled ``build_info.json`` in a built bundle, computed live in a checkout).
Component names, licences and licence texts come from package metadata: they are
untrusted and shown as plain text only.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFont, QGuiApplication, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from interval.about_info import about_text, build_date_text, build_info, user_guide_location
from interval.ui.plain_text import make_plain, plain_label, set_plain_tooltip

DISCLAIMER = ("A clinical imaging viewer with AI plugins. "
              "Not for primary diagnosis unless validated for that use.")
COMPONENT_COLUMNS = ("Component", "Version", "Licence")


def component_text(component: dict[str, Any]) -> str:
    """What the licence pane shows for one component: its summary, then each licence file."""
    lines = [
        f"{component.get('name', '')} {component.get('version', '')}",
        f"Licence: {component.get('licence', '') or 'unknown'}",
    ]
    if component.get("homepage"):
        lines.append(f"Homepage: {component['homepage']}")
    files = component.get("licence_files") or []
    if not files:
        lines += ["", "The package ships no licence file; see its homepage."]
    for entry in files:
        lines += ["", f"===== {entry.get('name', '')} =====", "", str(entry.get("text", ""))]
    return "\n".join(lines)


class AboutDialog(QDialog):
    """Version, build date, edition, capabilities and the components' licences."""

    def __init__(self, parent: QWidget | None = None, info: dict[str, Any] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About Interval")
        self.info = build_info() if info is None else info
        self.components: list[dict[str, Any]] = list(self.info.get("licences") or [])
        lay = QVBoxLayout(self)

        title = plain_label(f"{self.info.get('app', 'Interval')} {self.info.get('version', '')}")
        title.setObjectName("aboutTitle")
        font = QFont(title.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        title.setFont(font)
        lay.addWidget(title)
        details = plain_label("\n".join((
            f"Build date: {build_date_text(self.info)}",
            f"Edition: {self.info.get('edition', '')}",
            f"Licence: {self.info.get('app_licence', '')}",
        )))
        details.setObjectName("aboutDetails")
        details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(details)
        lay.addWidget(plain_label(DISCLAIMER))
        caps = plain_label("Capabilities:\n" + "\n".join(
            f"• {c}" for c in self.info.get("capabilities") or []))
        caps.setObjectName("aboutCapabilities")
        caps.setWordWrap(True)
        lay.addWidget(caps)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        self.component_list = QTreeWidget(split)
        self.component_list.setObjectName("componentsList")
        self.component_list.setHeaderLabels(COMPONENT_COLUMNS)
        self.component_list.setRootIsDecorated(False)
        for n, component in enumerate(self.components):
            item = QTreeWidgetItem([str(component.get(k, "")) for k in ("name", "version", "licence")])
            item.setData(0, Qt.ItemDataRole.UserRole, n)
            set_plain_tooltip(item, str(component.get("licence", "")), column=2)
            if component.get("homepage"):
                set_plain_tooltip(item, str(component["homepage"]), column=0)
            self.component_list.addTopLevelItem(item)
        self.component_list.resizeColumnToContents(0)
        self.licence_text = QPlainTextEdit(split)  # plain text: never rendered as markup
        self.licence_text.setObjectName("licenceText")
        self.licence_text.setReadOnly(True)
        self.licence_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.licence_text.setPlaceholderText("Select a component to see its licence.")
        split.setSizes([320, 480])
        lay.addWidget(split, 1)
        self.component_list.currentItemChanged.connect(self._show_component)

        buttons = QHBoxLayout()
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setObjectName("aboutCopy")
        self.copy_button.setToolTip("Copy the version, edition, capabilities and components")
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        guide = QPushButton("User guide", self)
        guide.setObjectName("aboutUserGuide")
        guide.clicked.connect(lambda: open_user_guide(self))
        buttons.addWidget(self.copy_button)
        buttons.addWidget(guide)
        buttons.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.close)
        buttons.addWidget(close)
        lay.addLayout(buttons)
        self.resize(820, 640)

    def _show_component(self, item: QTreeWidgetItem | None, _previous: object = None) -> None:
        if item is None:
            self.licence_text.clear()
            return
        component = self.components[int(item.data(0, Qt.ItemDataRole.UserRole))]
        self.licence_text.setPlainText(component_text(component))
        self.licence_text.moveCursor(QTextCursor.MoveOperation.Start)

    def select_component(self, name: str) -> bool:
        """Select the component called ``name`` (case-insensitive); False if none is."""
        for i in range(self.component_list.topLevelItemCount()):
            item = self.component_list.topLevelItem(i)
            if item.text(0).lower() == name.lower():
                self.component_list.setCurrentItem(item)
                return True
        return False

    def copy_to_clipboard(self) -> str:
        """Put the About information on the clipboard as plain text (and return it)."""
        text = about_text(self.info)
        QGuiApplication.clipboard().setText(text)
        return text


def show_about_dialog(parent: QWidget) -> AboutDialog:
    """The About dialog of ``parent`` (made on first use), shown non-modal."""
    dialog = parent.findChild(QDialog, "aboutDialog")
    if not isinstance(dialog, AboutDialog):
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # live licences: ~1 s
        try:
            dialog = AboutDialog(parent)
        finally:
            QGuiApplication.restoreOverrideCursor()
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


def user_guide_url() -> QUrl | None:
    """The user guide's address: the README's section (bundled or in the repository),
    else the project's web page; None when neither is known."""
    where = user_guide_location()
    if where is None:
        return None
    target, anchor = where
    url = QUrl(target) if isinstance(target, str) else QUrl.fromLocalFile(str(target))
    if anchor:
        url.setFragment(anchor)
    return url


def open_user_guide(parent: QWidget | None = None) -> QUrl | None:
    """Open the user guide with the desktop's viewer (no network needed for the README);
    a message when it cannot be found or opened."""
    url = user_guide_url()
    if url is not None and QDesktopServices.openUrl(url):
        return url
    box = QMessageBox(QMessageBox.Icon.Information, "User guide",
                      "The user guide (README.md) could not be opened"
                      + (f":\n{url.toDisplayString()}" if url is not None else "."),
                      QMessageBox.StandardButton.Ok, parent)
    make_plain(box)
    box.setModal(False)
    box.show()
    global _unparented_message
    if parent is None:  # kept alive while shown
        _unparented_message = box
    return None


_unparented_message: QMessageBox | None = None
