"""Tests of the growth-forecast plugin: its code folder goes on sys.path (as the host does)."""

from __future__ import annotations

import sys

from tests.conftest import REPO_ROOT

PLUGIN_DIR = REPO_ROOT / "plugins" / "growth_forecast"
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))
