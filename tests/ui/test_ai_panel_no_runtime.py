"""The AI dock of the viewer-only edition (no torch): it says so and offers no Run."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from interval.ai import model_runtime
from interval.ai.model_runtime import NO_MODEL_RUNTIME
from interval.core.viewer_state import ViewerState


def test_dock_says_this_edition_has_no_model_runtime(qtbot, no_torch):
    from interval.ui.ai_panel import AiPanel

    panel = AiPanel(ViewerState())
    qtbot.addWidget(panel)
    label = panel.findChild(QLabel, "aiNoRuntime")
    assert label is not None and NO_MODEL_RUNTIME[1:] in label.text()
    assert not panel.run_button.isEnabled()
    messages = []
    panel.message.connect(messages.append)
    assert panel.run() is None
    assert messages and "no model runtime (PyTorch)" in messages[0]


def test_dock_has_no_such_note_with_torch(qtbot):
    from interval.ui.ai_panel import AiPanel

    model_runtime.model_runtime_available.cache_clear()
    panel = AiPanel(ViewerState())
    qtbot.addWidget(panel)
    assert panel.findChild(QLabel, "aiNoRuntime") is None
