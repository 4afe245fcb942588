"""The Plugin Manager dialog: loaded and refused rows, details, source and real path, plugin
folder, rescan in the background."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer

from interval.plugins import PluginRegistry, discover_plugins
from interval.ui.plain_text import tooltip_text
from interval.ui.plugin_discovery import LOOKING_TEXT, PluginDiscovery
from interval.ui.plugin_manager import COLUMNS, STATUS_LOADED, STATUS_REFUSED, PluginManagerDialog
from interval.ui.plugin_sources import plugin_location, source_text
from tests.plugins.conftest import manifest, model_plugin, write_plugin

TIMEOUT_MS = 30_000


def _discover(root: Path):
    return lambda: discover_plugins(
        [root], include_entry_points=False, include_first_party=False,
        include_user_dir=False, include_env=False, include_session=False)


def _dialog(qtbot, root: Path, opened: list[Path] | None = None, *,
            discover=None) -> PluginManagerDialog:
    dialog = PluginManagerDialog(
        discover=discover or _discover(root),
        plugin_dir=root.parent / "user-plugins",
        open_folder=lambda p: (opened.append(p) if opened is not None else None) or True,
    )
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.discovery.registry is not None, timeout=TIMEOUT_MS)
    return dialog


def test_loaded_and_refused_rows_with_the_reason(qtbot, tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    model_plugin(root, "good", "org.test.good", "tiny-model")
    write_plugin(root, "old", manifest("org.test.old", interval_api="<1"))
    dialog = _dialog(qtbot, root)
    assert dialog.column("ID") == ["org.test.good", "org.test.old"]
    assert dialog.column("Status") == [STATUS_LOADED, STATUS_REFUSED]
    assert dialog.column("Contributions") == ["1 segmentation model", ""]
    assert dialog.column("Source") == ["--plugins-dir", "--plugins-dir"]
    # a refused plugin is still named by what its manifest says
    assert dialog.column("Name") == ["Plugin org.test.good", "Plugin org.test.old"]
    assert dialog.column("Version") == ["1.0.0", "1.0.0"]
    assert dialog.column("Location") == [str((root / "good").resolve()),
                                         str((root / "old").resolve())]
    assert "tiny-model" in dialog.details.toPlainText()  # first row selected
    assert "brain" in dialog.details.toPlainText()
    dialog.table.selectRow(1)
    text = dialog.details.toPlainText()
    assert "refused" in text and "requires Interval API <1 but this is 1.1" in text
    reason_tip = dialog.table.item(1, COLUMNS.index("Status")).toolTip()
    assert "requires Interval API <1" in tooltip_text(reason_tip)
    assert dialog.summary.text().startswith("1 loaded, 1 refused")


def test_source_version_and_real_path_of_a_linked_plugin(qtbot, tmp_path: Path) -> None:
    """A plugin reached through a symbolic link shows where its files really are."""
    real = model_plugin(tmp_path / "elsewhere", "real-plugin", "org.test.linked")
    root = tmp_path / "plugins"
    root.mkdir()
    (root / "linked").symlink_to(real, target_is_directory=True)
    dialog = _dialog(qtbot, root)
    assert dialog.column("ID") == ["org.test.linked"]
    assert dialog.column("Location") == [os.path.realpath(real)]
    details = dialog.details.toPlainText()
    assert "Source: --plugins-dir" in details and "Version: 1.0.0" in details
    assert f"Real path: {os.path.realpath(real)}" in details
    assert f"Found in: {root}" in details


def test_an_id_collision_names_both_locations(qtbot, tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    model_plugin(root, "a", "org.test.dup")
    model_plugin(root, "b", "org.test.dup")
    dialog = _dialog(qtbot, root)
    assert dialog.column("Status") == [STATUS_LOADED, STATUS_REFUSED]
    assert dialog.column("Location") == [str((root / "a").resolve()), str((root / "b").resolve())]
    dialog.table.selectRow(1)
    details = dialog.details.toPlainText()
    assert f"Real path: {(root / 'b').resolve()}" in details
    assert f"Plugin kept instead: {(root / 'a').resolve()}" in details


def test_source_words_and_locations() -> None:
    class Src:
        def __init__(self, kind: str, location: str = "") -> None:
            self.kind, self.location = kind, location

    assert source_text(Src("built-in")) == "bundled"
    assert source_text(Src("INTERVAL_PLUGIN_PATH")) == "environment (INTERVAL_PLUGIN_PATH)"
    assert source_text(Src("entry point")) == "entry point"
    assert source_text(Src("user folder")) == "user folder"
    assert source_text(Src("something new")) == "something new"  # shown as it is

    class Refused:
        manifest_path = None
        source = Src("entry point", "demo = demo_pkg (demo 1.0)")

    assert plugin_location(Refused()) == ""  # an entry point's words are not a path


def test_rescan_picks_up_a_new_plugin(qtbot, tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    root.mkdir()
    dialog = _dialog(qtbot, root)
    assert dialog.table.rowCount() == 0
    assert "No plugins found" in dialog.details.toPlainText()
    model_plugin(root, "new", "org.test.new")
    with qtbot.waitSignal(dialog.discovery.found, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.rescan_button, Qt.MouseButton.LeftButton)
    assert dialog.column("ID") == ["org.test.new"]
    assert dialog.rescan_button.isEnabled()


def test_open_plugin_folder_creates_and_opens_it(qtbot, tmp_path: Path) -> None:
    opened: list[Path] = []
    root = tmp_path / "plugins"
    root.mkdir()
    dialog = _dialog(qtbot, root, opened)
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert opened == [tmp_path / "user-plugins"]
    assert (tmp_path / "user-plugins").is_dir()


def test_a_slow_rescan_never_holds_up_the_ui(qtbot, tmp_path: Path) -> None:
    """Discovery taking a second: the dialog opens and Rescan returns at once, the event
    loop keeps running while it looks ("Looking for plugins…"), the result comes later."""
    root = tmp_path / "plugins"
    model_plugin(root, "good", "org.test.good")
    fast = _discover(root)
    threads: list[str] = []

    def slow() -> PluginRegistry:
        threads.append(threading.current_thread().name)
        time.sleep(1.0)
        return fast()

    t0 = time.perf_counter()
    dialog = PluginManagerDialog(discover=slow, plugin_dir=tmp_path / "user")
    qtbot.addWidget(dialog)
    dialog.show()
    opened_s = time.perf_counter() - t0
    assert opened_s < 0.5, opened_s  # a synchronous discovery alone would take 1 s
    assert dialog.looking and dialog.summary.text() == LOOKING_TEXT
    qtbot.waitUntil(lambda: dialog.column("ID") == ["org.test.good"], timeout=TIMEOUT_MS)

    ticks: list[tuple[float, bool]] = []
    t0 = time.perf_counter()
    job = dialog.rescan()
    call_s = time.perf_counter() - t0
    assert job is not None and call_s < 0.1, call_s
    assert not dialog.rescan_button.isEnabled() and dialog.summary.text() == LOOKING_TEXT
    assert dialog.rescan() is job  # a second rescan joins the one running
    # the event loop runs while the discovery sleeps: a timer fires before the result
    QTimer.singleShot(0, lambda: ticks.append((time.perf_counter() - t0, dialog.looking)))
    with qtbot.waitSignal(dialog.discovery.found, timeout=TIMEOUT_MS):
        pass
    assert ticks and ticks[0][1], ticks  # the tick came while it was still looking
    assert ticks[0][0] < 0.5, ticks
    assert dialog.column("ID") == ["org.test.good"] and dialog.rescan_button.isEnabled()
    assert threading.main_thread().name not in threads  # never on the UI thread


def test_failing_discovery_is_said_in_words(qtbot, tmp_path: Path) -> None:
    def broken() -> PluginRegistry:
        raise OSError("disk unreadable")

    dialog = PluginManagerDialog(discover=broken, plugin_dir=tmp_path / "user")
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "failed" in dialog.summary.text(), timeout=TIMEOUT_MS)
    assert "disk unreadable" in dialog.details.toPlainText()
    assert dialog.rescan_button.isEnabled()


def test_shared_discovery_feeds_every_view(qtbot, tmp_path: Path) -> None:
    """The window's discovery: a dialog opened while it looks waits for it (no second
    scan); a rescan in the dialog reaches everyone listening."""
    root = tmp_path / "plugins"
    model_plugin(root, "good", "org.test.good")
    calls: list[int] = []
    gate = threading.Event()

    def gated() -> PluginRegistry:
        calls.append(1)
        assert gate.wait(30)
        return _discover(root)()

    discovery = PluginDiscovery(gated)
    found: list[object] = []
    discovery.found.connect(found.append)
    discovery.start()
    dialog = PluginManagerDialog(discovery=discovery, plugin_dir=tmp_path / "user")
    qtbot.addWidget(dialog)
    assert dialog.looking and dialog.table.rowCount() == 0
    gate.set()
    qtbot.waitUntil(lambda: dialog.column("ID") == ["org.test.good"], timeout=TIMEOUT_MS)
    assert len(calls) == 1 and len(found) == 1
    with qtbot.waitSignal(discovery.found, timeout=TIMEOUT_MS):
        dialog.rescan()
    assert len(calls) == 2 and len(found) == 2
    discovery.shutdown()


@pytest.fixture(autouse=True)
def _no_user_plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
