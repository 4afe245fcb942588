"""The keyboard and mouse bindings: one table, shown in Help and used to build QActions."""

from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    """One binding.  ``action`` names the QAction built from it ("" for view bindings
    handled by the views themselves, listed for Help only)."""

    keys: str
    description: str
    category: str
    action: str = ""


SHORTCUTS: tuple[Shortcut, ...] = (
    # File
    Shortcut("Ctrl+O", "Open a folder of DICOM files", "File", "open_folder"),
    Shortcut("Ctrl+Shift+O", "Open a file (DICOM, NIfTI, NRRD, MHA)", "File", "open_file"),
    Shortcut("Ctrl+S", "Save a screenshot of the focused view", "File", "screenshot_view"),
    Shortcut("Ctrl+Shift+S", "Save a screenshot of the whole layout", "File", "screenshot_layout"),
    Shortcut("Ctrl+Q", "Quit", "File", "quit"),
    # View
    Shortcut("1", "Layout: one view", "View", "layout_1x1"),
    Shortcut("3", "Layout: axial, coronal, sagittal", "View", "layout_1x3"),
    Shortcut("4", "Layout: 2 x 2 with 3-D", "View", "layout_2x2"),
    Shortcut("C", "Start / stop cine in the focused view", "View", "cine"),
    Shortcut("Ctrl+R", "Reset zoom, pan and window of every view", "View", "reset"),
    Shortcut("T", "Show / hide the on-image text (patient, series, slice, W/L, scale bar)",
             "View", "overlay_text"),
    Shortcut("F1", "Show these shortcuts", "Help", "shortcuts"),
    # Tools (the toolbar's exclusive group; the active one is checked and named in the
    # status bar).  A tool turns itself off after one measurement unless it is locked.
    Shortcut("N", "Navigate: left-drag window / level, click the crosshair", "Tools", "tool_none"),
    Shortcut("M", "Ruler: distance in mm (drag, or click both ends)", "Tools", "tool_ruler"),
    Shortcut("E", "Ellipse ROI: mean, SD, min, max, area", "Tools", "tool_ellipse"),
    Shortcut("B", "Rectangle (box) ROI: mean, SD, min, max, area", "Tools", "tool_rectangle"),
    Shortcut("L", "Lock the tool: keep it on after each measurement", "Tools", "tool_lock"),
    Shortcut("Esc", "Cancel the measurement being drawn and go back to Navigate", "Tools"),
    Shortcut("Double-click a tool button", "Select that tool locked", "Tools"),
    Shortcut("Delete / Backspace", "Delete the measurements selected in the Measurements list",
             "Tools"),
    Shortcut("Left drag (tool on)", "Draw the measurement; right / middle drag and the wheel "
             "still zoom, pan and scroll", "Tools"),
    # Views (handled inside the slice views)
    Shortcut("Wheel / Up / Down", "Previous / next slice", "Views"),
    Shortcut("Page Up / Page Down", "A tenth of the slices back / forward", "Views"),
    Shortcut("Home / End", "First / last slice", "Views"),
    Shortcut("R", "Reset this view", "Views"),
    Shortcut("I", "Invert grey levels", "Views"),
    Shortcut("Left drag", "Window / level (Navigate tool)", "Views"),
    Shortcut("Right drag", "Zoom (with any tool)", "Views"),
    Shortcut("Middle drag", "Pan (with any tool)", "Views"),
    Shortcut("Click", "Set the crosshair, all views follow (Navigate tool)", "Views"),
    Shortcut("Double-click", "Maximise / restore a view (the crosshair stays)", "Views"),
)

# The W/L presets of core.window_presets get F2, F3, ... in their order.
PRESET_KEYS: tuple[str, ...] = tuple(f"F{n}" for n in range(2, 11))


def by_action(action: str) -> Shortcut:
    """The shortcut for ``action``; KeyError when there is none."""
    for s in SHORTCUTS:
        if s.action == action:
            return s
    raise KeyError(action)


def keys_for(action: str) -> str:
    """The key sequence text for ``action`` ("" when it has none)."""
    try:
        return by_action(action).keys
    except KeyError:
        return ""


def as_html(extra: tuple[Shortcut, ...] = ()) -> str:
    """The table as HTML for the Help dialog, grouped by category (texts escaped)."""
    e = html.escape
    rows: list[str] = []
    category = None
    for s in (*SHORTCUTS, *extra):
        if s.category != category:
            category = s.category
            rows.append(f"<tr><td colspan='2'><b>{e(category)}</b></td></tr>")
        rows.append(
            f"<tr><td style='padding-right:16px'>{e(s.keys)}</td><td>{e(s.description)}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"
