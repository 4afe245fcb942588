"""The main window's on-image text actions: View > On-image text (show / hide the
corner texts and scale bar of every 2-D view) and File > Save anonymised screenshot
(the patient's name, ID and study date left out of the views while it is taken)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from interval.core.errors import IntervalError
from interval.ui.settings import save_dir

ANONYMISED_ACTIONS = {
    "view": ("screenshot_view_anonymised", "Save anonymised screenshot of view…"),
    "layout": ("screenshot_layout_anonymised", "Save anonymised screenshot of the views…"),
}


def mpr_views(window: Any) -> list[QWidget]:
    """The window's 2-D views (none while its view area is a placeholder)."""
    return list((getattr(window.views, "views", None) or {}).values())


def set_overlay_text_visible(window: Any, visible: bool) -> None:
    """Show or hide the on-image text of every 2-D view of ``window``."""
    for view in mpr_views(window):
        view.set_overlay_text_visible(visible)
    action = window.actions_by_id.get("overlay_text")
    if action is not None and action.isChecked() != bool(visible):
        action.setChecked(bool(visible))


def save_anonymised_screenshot(window: Any, which: str, path: str | Path) -> Path:
    """Save the focused view (``which`` "view") or the view area ("layout": the views
    only, not the docks, whose lists name the patient) without the patient's text."""
    from interval.ui.screenshot import save_layout, save_view

    if which == "view":
        return save_view(window._focused_view_widget(), path, anonymised=True)
    return save_layout(window.views, path, anonymised=True)


def ask_anonymised_screenshot(window: Any, which: str) -> None:
    start = save_dir(window.settings) / f"interval-{which}-anonymised.png"
    path, _ = QFileDialog.getSaveFileName(
        window, f"Save anonymised screenshot of {which}", str(start), "PNG (*.png)"
    )
    if not path:
        return
    try:
        saved = save_anonymised_screenshot(window, which, path)
    except IntervalError as exc:
        window._show_error("Screenshot", exc)
    else:
        window._on_saved(str(saved))


def add_overlay_actions(window: Any, file_menu: QMenu, view_menu: QMenu) -> None:
    """Add View > On-image text (checked: shown) and the two anonymised screenshot
    actions (in the File menu, after the other screenshots) to ``window``."""
    text = window._action(
        "overlay_text", "On-image text",
        lambda checked=False: set_overlay_text_visible(window, bool(checked)), checkable=True,
    )
    text.setChecked(True)
    view_menu.addAction(text)
    actions = file_menu.actions()
    after = window.actions_by_id.get("screenshot_layout")
    at = actions.index(after) + 1 if after in actions else len(actions)
    before: QAction | None = actions[at] if at < len(actions) else None
    for which, (action_id, label) in ANONYMISED_ACTIONS.items():
        action = window._action(
            action_id, label, lambda _=False, w=which: ask_anonymised_screenshot(window, w)
        )
        if before is None:
            file_menu.addAction(action)
        else:
            file_menu.insertAction(before, action)
