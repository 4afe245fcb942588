"""The main window's View, screenshot and Help actions: layouts, window presets,
invert, cine, reset, screenshots of a view or the layout, shortcuts and About."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QInputDialog,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from interval.core.errors import IntervalError
from interval.core.viewer_state import VIEW_IDS, CineChanged, ImageLayer, LayoutChanged
from interval.core.window_presets import CT_PRESETS, image_window, initial_window
from interval.ui import shortcuts
from interval.ui.settings import WindowPreset, save_dir

log = logging.getLogger(__name__)


class ViewActionsMixin:
    """Methods of :class:`~interval.ui.main_window.MainWindow` (a mixin; not used alone)."""

    def set_layout(self, layout: str) -> None:
        self.state.set_layout(layout)

    def _on_layout_changed(self, event: LayoutChanged) -> None:
        action = self.actions_by_id.get(f"layout_{event.layout}")
        if action is not None:
            action.setChecked(True)
        two_d = self.state.two_d_mode  # a clip / 2-D image: one view, no MPR or 3-D
        for name in ("layout_1x3", "layout_2x2"):
            other = self.actions_by_id.get(name)
            if other is not None:
                other.setEnabled(not two_d)
        if not two_d:  # 2-D mode's 1x1 is not the user's choice of layout
            self.settings.layout = event.layout

    def _active_image_layer(self) -> ImageLayer | None:
        vid = self.state.active_volume_id
        if vid is None:
            return None
        for layer in self.state.layers:
            if isinstance(layer, ImageLayer) and layer.volume_id == vid:
                return layer
        return None

    def _sync_presets(self, _event: object = None) -> None:
        """The CT presets are in Hounsfield units: offered for a CT (or an image that does
        not say what it is, e.g. a NIfTI file), not for MR or PET, where they would give a
        meaningless near-black or white image."""
        from interval.ui.status_info import may_be_hu

        volume = self.state.active_volume
        hu = may_be_hu(volume)
        for action in getattr(self, "_ct_preset_actions", []):
            action.setEnabled(hu)
            action.setToolTip("" if hu or volume is None else "CT presets need an image in HU.")
        for name in ("_default_preset_action", "_auto_preset_action"):
            action = getattr(self, name, None)
            if action is not None:
                action.setEnabled(volume is not None)

    def apply_default_window(self) -> None:
        """Back to the series' own window: its DICOM default, else the automatic one."""
        layer = self._active_image_layer()
        if layer is not None:
            wl = initial_window(self.state.volume(layer.volume_id))
            self.apply_window(wl.center, wl.width, wl.name or "default")

    def apply_auto_window(self) -> None:
        """The image-based window: percentiles of the voxels in the body (any modality)."""
        layer = self._active_image_layer()
        if layer is not None:
            wl = image_window(self.state.volume(layer.volume_id))
            self.apply_window(wl.center, wl.width, wl.name)

    def apply_window(self, center: float, width: float, name: str = "") -> None:
        layer = self._active_image_layer()
        if layer is not None and self.state.volume(layer.volume_id).is_rgb:
            from interval.ui.status_info import COLOUR_NO_WINDOW

            self._set_message(COLOUR_NO_WINDOW[:1].upper() + COLOUR_NO_WINDOW[1:] + ".")
            return
        if layer is not None:
            self.state.set_window(layer.id, center, width, name)
            from interval.ui.status_info import window_text

            text = window_text(self.state.volume(layer.volume_id), width, center)
            self._set_message(f"Window {name} {text}" if name else f"Window {text}")

    def _ask_save_preset(self) -> None:
        layer = self._active_image_layer()
        if layer is None:
            self._set_message("Open an image first.")
            return
        name, ok = QInputDialog.getText(self, "Save window preset", "Name:")
        if ok and name.strip():
            self.save_window_preset(name.strip())

    def save_window_preset(self, name: str) -> WindowPreset | None:
        """Remember the active image's window as a named preset (kept in the settings)."""
        layer = self._active_image_layer()
        if layer is None:
            return None
        preset = WindowPreset(name, layer.window.center, layer.window.width)
        self.settings.window_presets = [
            *(p for p in self.settings.window_presets if p.name != name), preset
        ]
        self._save_settings()
        self._rebuild_presets_menu()
        self._set_message(f"Saved window preset {name}")
        return preset

    def toggle_invert(self) -> None:
        layer = self._active_image_layer()
        if layer is not None:
            self.state.set_invert(layer.id, not layer.invert)
        self._sync_invert_action()

    def _sync_invert_action(self) -> None:
        layer = self._active_image_layer()
        self.actions_by_id["invert"].setChecked(bool(layer is not None and layer.invert))

    def toggle_cine(self) -> None:
        """Play or stop cine in the focused 2-D view."""
        playing = not self.state.cine.playing
        view_id = self.state.focused_view if self.state.focused_view != "3d" else "axial"
        if self.state.active_volume is None:
            playing = False
        self.state.set_cine(playing=playing, view_id=view_id)
        self.actions_by_id["cine"].setChecked(self.state.cine.playing)

    def _on_cine_changed(self, event: CineChanged) -> None:
        self.actions_by_id["cine"].setChecked(event.cine.playing)

    def reset_view(self) -> None:
        with self.state.events.batch():
            for view_id in VIEW_IDS:
                self.state.reset_view(view_id)
            layer = self._active_image_layer()
            if layer is not None:
                wl = initial_window(self.state.volume(layer.volume_id))
                self.state.set_window(layer.id, wl.center, wl.width, wl.name)

    def _focused_view_widget(self) -> QWidget:
        """The VTK view to save: the layout's own answer when it has one, else the first."""
        finder = getattr(self.views, "widget", None)
        if callable(finder):
            try:
                widget = finder(self.state.focused_view)
            except (KeyError, ValueError):
                widget = None
            if widget is not None:
                return widget
        from interval.ui.vtk_widget import VtkWidget

        views = [w for w in self.views.findChildren(VtkWidget) if w.isVisible()]
        focused = next((w for w in views if w.hasFocus()), None)
        return focused or (views[0] if views else self.views)

    def save_view_screenshot(self, path: str | Path) -> Path:
        from interval.ui.screenshot import save_view

        return save_view(self._focused_view_widget(), path)

    def save_layout_screenshot(self, path: str | Path) -> Path:
        from interval.ui.screenshot import save_layout

        return save_layout(self, path)

    def _ask_screenshot(self, which: str) -> None:
        start = save_dir(self.settings) / f"interval-{which}.png"
        path, _ = QFileDialog.getSaveFileName(
            self, f"Save screenshot of {which}", str(start), "PNG (*.png)"
        )
        if not path:
            return
        try:
            saved = (self.save_view_screenshot if which == "view" else self.save_layout_screenshot)(path)
        except IntervalError as exc:
            self._show_error("Screenshot", exc)
        else:
            self._on_saved(str(saved))

    def _on_saved(self, path: str) -> None:
        """A file was saved (CSV, screenshot): say so, and start the next save dialog in
        its folder (kept in the settings)."""
        self._set_message(f"Saved {path}")
        self.settings.last_save_dir = str(Path(path).resolve().parent)
        if self.measurements_panel is not None:
            self.measurements_panel.save_dir = self.settings.last_save_dir
        self._save_settings()

    def _ask_screenshot_view(self) -> None:
        self._ask_screenshot("view")

    def _ask_screenshot_layout(self) -> None:
        self._ask_screenshot("layout")

    def show_shortcuts(self) -> QDialog:
        """The shortcut table (non-modal)."""
        if self._help_dialog is None:
            dialog = QDialog(self)
            dialog.setObjectName("shortcutsDialog")
            dialog.setWindowTitle("Keyboard shortcuts")
            lay = QVBoxLayout(dialog)
            preset_rows = tuple(
                shortcuts.Shortcut(key, f"Window preset: {wl.name}", "Window presets")
                for key, wl in zip(shortcuts.PRESET_KEYS, CT_PRESETS, strict=False)
            )
            label = QLabel(shortcuts.as_html(preset_rows))
            label.setTextFormat(Qt.TextFormat.RichText)
            lay.addWidget(label)
            self._help_dialog = dialog
        self._help_dialog.show()
        self._help_dialog.raise_()
        return self._help_dialog
