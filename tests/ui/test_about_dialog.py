"""Help > About Interval (components and their licences, plain text) and Help > User guide."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from interval import about_info
from interval.ui import about_dialog
from interval.ui.about_dialog import AboutDialog
from interval.ui.plain_text import tooltip_text
from tests.conftest import REPO_ROOT

UNTRUSTED = {
    "app": "Interval",
    "version": "9.9.9",
    "build_date": None,
    "edition": "development",
    "app_licence": "Apache-2.0",
    "capabilities": ["Viewer <b>bold</b>"],
    "licences": [
        {"name": "<i>evil</i>", "version": "1.0", "licence": "<b>MIT</b>",
         "homepage": "<img src=x>",
         "licence_files": [{"name": "LICENSE", "text": "Licensed <b>x</b> & <a href=y>z</a>"}]},
        {"name": "plain", "version": "2.0", "licence": "BSD", "homepage": "",
         "licence_files": []},
    ],
}


def test_dialog_lists_the_components_and_shows_a_licence(qtbot) -> None:
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    info = dialog.info
    assert info["edition"] == "development"
    listed = dialog.component_list
    assert listed.topLevelItemCount() == len(info["licences"]) > 10
    names = {listed.topLevelItem(i).text(0).lower() for i in range(listed.topLevelItemCount())}
    assert {"numpy", "pydicom", "vtk"} <= names
    assert any(n.startswith("pyside6") for n in names)
    assert dialog.licence_text.toPlainText() == ""
    assert dialog.select_component("pydicom")
    shown = dialog.licence_text.toPlainText()
    assert shown.startswith(f"pydicom {about_info.md.version('pydicom')}")
    assert "Licence: MIT" in shown and "Permission is hereby granted" in shown
    details = dialog.findChild(QLabel, "aboutDetails").text()
    assert "Build date: not a built bundle" in details and "Edition: development" in details
    # Copy: the whole About text as plain text
    dialog.copy_button.click()
    copied = QGuiApplication.clipboard().text()
    assert copied.startswith(f"Interval {info['version']}\n")
    assert "- numpy " in copied and "Edition: development" in copied


def test_untrusted_texts_are_shown_literally(qtbot) -> None:
    dialog = AboutDialog(info=UNTRUSTED)
    qtbot.addWidget(dialog)
    dialog.show()
    item = dialog.component_list.topLevelItem(0)
    assert (item.text(0), item.text(2)) == ("<i>evil</i>", "<b>MIT</b>")
    assert tooltip_text(item.toolTip(0)) == "<img src=x>"
    assert dialog.select_component("<i>evil</i>")
    text = dialog.licence_text.toPlainText()
    assert "Licensed <b>x</b> & <a href=y>z</a>" in text  # not "Licensed x & z"
    assert "Licence: <b>MIT</b>" in text
    for label in dialog.findChildren(QLabel):
        assert label.textFormat() == Qt.TextFormat.PlainText
    caps = dialog.findChild(QLabel, "aboutCapabilities").text()
    assert "Viewer <b>bold</b>" in caps
    assert dialog.select_component("plain")
    assert "ships no licence file" in dialog.licence_text.toPlainText()


def test_help_menu_about_and_user_guide(qtbot, window, monkeypatch) -> None:
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    texts = [a.text() for a in help_menu.actions()]
    assert "User guide" in texts and "About Interval" in texts

    window.findChild(QAction, "about").trigger()
    dialog = window.findChild(AboutDialog, "aboutDialog")
    assert dialog is not None and dialog.isVisible()
    window.findChild(QAction, "about").trigger()  # the same dialog again, not a second one
    assert len(window.findChildren(AboutDialog)) == 1

    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    window.actions_by_id["user_guide"].trigger()
    assert len(opened) == 1
    assert opened[0].isLocalFile()
    assert opened[0].toLocalFile() == str(REPO_ROOT / "README.md")
    assert opened[0].fragment() == about_info.user_guide_location()[1] != ""


def test_user_guide_that_cannot_open_says_so(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)
    assert about_dialog.open_user_guide(None) is None
    box = next(w for w in QApplication.topLevelWidgets()
               if isinstance(w, QMessageBox) and w.isVisible())
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert "README.md" in box.text()
    box.close()
