"""The installed Qt binding keeps Python's reference counts right.

PySide6 6.12.0 on Python 3.11 drops one reference to ``None`` on every call of a Qt
method returning nothing; after a few thousand calls the interpreter aborts with
"none_dealloc".  pyproject.toml excludes it; this test catches a binding that does it.
"""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel


def test_void_qt_calls_keep_the_none_refcount(qapp) -> None:
    label = QLabel("x")
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.update()
        label.setText("y")
    leaked = before - sys.getrefcount(None)
    assert leaked < 100, f"the Qt binding leaked {leaked} references to None"
