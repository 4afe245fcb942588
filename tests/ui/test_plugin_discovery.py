"""Plugin discovery never runs on the UI thread: the window appears and stays responsive
while a slow discovery looks, the AI dock and the Plugin Manager say so and fill in when
it ends, and a Plugin Manager rescan refreshes the AI dock's models."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume
from interval.plugins import PluginRegistry
from interval.ui.plugin_discovery import LOOKING_TEXT
from tests.plugins.conftest import MODEL_JSON, manifest, write_plugin

TIMEOUT_MS = 30_000
DELAY_S = 1.0


def _plugin(root: Path, folder: str, pid: str, model: str) -> None:
    write_plugin(root, folder, manifest(pid, contributes={"segmentation_models": ["models/m"]}),
                 {"models/m": {**MODEL_JSON, "name": model}})


@pytest.fixture
def slow_discovery(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """discover_plugins replaced by one that takes DELAY_S over the test's plugin folder;
    returns the list of threads it ran on."""
    import interval.plugins as plugins

    root = tmp_path / "plugins"
    root.mkdir()
    _plugin(root, "first", "org.test.first", "first-model")
    real = plugins.discover_plugins
    threads: list[threading.Thread] = []

    def slow(*_args, **_kwargs) -> PluginRegistry:  # noqa: ANN002, ANN003
        threads.append(threading.current_thread())
        time.sleep(DELAY_S)
        return real([root], include_entry_points=False, include_first_party=False,
                    include_user_dir=False, include_env=False, include_session=False)

    monkeypatch.setattr(plugins, "discover_plugins", slow)
    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    return root, threads


def _mr_image() -> Volume:
    return Volume(np.zeros((4, 8, 8), np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0),
                  metadata=VolumeMetadata(modality="MR"))


def test_window_appears_and_responds_while_plugins_are_looked_for(qtbot, slow_discovery) -> None:
    from interval.ui.main_window import MainWindow

    root, threads = slow_discovery
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    try:
        panel = w.ai_panel
        ticks: list[tuple[bool, object]] = []
        t0 = time.perf_counter()
        QTimer.singleShot(0, lambda: ticks.append((w.plugin_discovery.looking, panel.registry)))
        qtbot.waitUntil(lambda: bool(ticks), timeout=TIMEOUT_MS)
        # the event loop ran while the discovery was still sleeping in its thread
        assert time.perf_counter() - t0 < DELAY_S
        assert ticks[0] == (True, None)
        assert panel.status.text() == LOOKING_TEXT
        # the Plugin Manager opened meanwhile: no second scan, it waits for this one
        t0 = time.perf_counter()
        dialog = w.show_plugin_manager()
        assert time.perf_counter() - t0 < 0.5
        assert dialog.looking and dialog.summary.text() == LOOKING_TEXT
        qtbot.waitUntil(lambda: panel.registry is not None, timeout=TIMEOUT_MS)
        qtbot.waitUntil(lambda: dialog.column("ID") == ["org.test.first"], timeout=TIMEOUT_MS)
        assert len(threads) == 1 and threading.main_thread() not in threads
        assert panel.status.text() == ""
        w.state.add_volume(_mr_image(), name="mr")
        assert panel.model_names() == ["first-model"]
        # a rescan in the Plugin Manager returns at once and refreshes the AI dock
        _plugin(root, "second", "org.test.second", "second-model")
        t0 = time.perf_counter()
        job = dialog.rescan()
        assert job is not None and time.perf_counter() - t0 < 0.1
        assert panel.status.text() == LOOKING_TEXT and not dialog.rescan_button.isEnabled()
        assert panel.model_names() == ["first-model"]  # until the rescan ends
        qtbot.waitUntil(lambda: len(panel.model_names()) == 2, timeout=TIMEOUT_MS)
        assert sorted(panel.model_names()) == ["first-model", "second-model"]
        assert dialog.column("ID") == ["org.test.first", "org.test.second"]
        assert threading.main_thread() not in threads
    finally:
        w.shutdown()


def test_closing_the_window_while_looking_drops_the_result(qtbot, slow_discovery) -> None:
    from interval.ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.plugin_discovery.looking, timeout=TIMEOUT_MS)
    t0 = time.perf_counter()
    w.shutdown()  # waits for the thread (at most the discovery's time), drops its result
    assert time.perf_counter() - t0 < DELAY_S + 5
    qtbot.wait(50)
    assert w.ai_panel.registry is None
