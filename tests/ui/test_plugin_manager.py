"""The Plugin Manager dialog: loaded and refused rows, details, plugin folder, rescan."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from interval.plugins import discover_plugins
from interval.ui.plugin_manager import COLUMNS, STATUS_LOADED, STATUS_REFUSED, PluginManagerDialog
from tests.plugins.conftest import manifest, model_plugin, write_plugin


def _dialog(qtbot, root: Path, opened: list[Path] | None = None) -> PluginManagerDialog:
    dialog = PluginManagerDialog(
        discover=lambda: discover_plugins(
            [root], include_entry_points=False, include_first_party=False,
            include_user_dir=False, include_env=False, include_session=False),
        plugin_dir=root.parent / "user-plugins",
        open_folder=lambda p: (opened.append(p) if opened is not None else None) or True,
    )
    qtbot.addWidget(dialog)
    return dialog


def _column(dialog: PluginManagerDialog, name: str) -> list[str]:
    col = COLUMNS.index(name)
    return [dialog.table.item(r, col).text() for r in range(dialog.table.rowCount())]


def test_loaded_and_refused_rows_with_the_reason(qtbot, tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    model_plugin(root, "good", "org.test.good", "tiny-model")
    write_plugin(root, "old", manifest("org.test.old", interval_api="<1"))
    dialog = _dialog(qtbot, root)
    assert _column(dialog, "ID") == ["org.test.good", "org.test.old"]
    assert _column(dialog, "Status") == [STATUS_LOADED, STATUS_REFUSED]
    assert _column(dialog, "Contributions") == ["1 segmentation model", ""]
    assert _column(dialog, "Source") == ["--plugins-dir", "--plugins-dir"]
    # a refused plugin is still named by what its manifest says
    assert _column(dialog, "Name") == ["Plugin org.test.good", "Plugin org.test.old"]
    assert _column(dialog, "Version") == ["1.0.0", "1.0.0"]
    assert "tiny-model" in dialog.details.toPlainText()  # first row selected
    assert "brain" in dialog.details.toPlainText()
    dialog.table.selectRow(1)
    text = dialog.details.toPlainText()
    assert "refused" in text and "requires Interval API <1 but this is 1.0" in text
    assert dialog.summary.text().startswith("1 loaded, 1 refused")


def test_rescan_picks_up_a_new_plugin(qtbot, tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    root.mkdir()
    dialog = _dialog(qtbot, root)
    assert dialog.table.rowCount() == 0
    assert "No plugins found" in dialog.details.toPlainText()
    model_plugin(root, "new", "org.test.new")
    qtbot.mouseClick(dialog.rescan_button, Qt.MouseButton.LeftButton)
    assert _column(dialog, "ID") == ["org.test.new"]


def test_open_plugin_folder_creates_and_opens_it(qtbot, tmp_path: Path) -> None:
    opened: list[Path] = []
    root = tmp_path / "plugins"
    root.mkdir()
    dialog = _dialog(qtbot, root, opened)
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert opened == [tmp_path / "user-plugins"]
    assert (tmp_path / "user-plugins").is_dir()

