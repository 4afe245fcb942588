"""The view area: MPR views (and the 3-D view) arranged 1x1, 1x3 or 2x2 from the state.

The layout follows ``state.layout`` / ``state.focused_view``; double-clicking a view
maximises it (layout ``1x1``) and double-clicking again restores the previous layout.
The 3-D slot holds :class:`interval.ui.view_3d.View3D` when that module can be
imported (created only when first shown), else a placeholder labelled "3-D view".
"""

from __future__ import annotations

import importlib
import logging

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from interval.core.viewer_state import LayoutChanged, ViewerState
from interval.ui.mpr_view import MprView

log = logging.getLogger(__name__)

MPR_VIEWS = ("axial", "coronal", "sagittal")
# (row, column) of each view in a layout
POSITIONS: dict[str, dict[str, tuple[int, int]]] = {
    "1x3": {"axial": (0, 0), "coronal": (0, 1), "sagittal": (0, 2)},
    "2x2": {"axial": (0, 0), "coronal": (0, 1), "sagittal": (1, 0), "3d": (1, 1)},
}
_SPACING_PX = 2


def _placeholder_3d() -> QWidget:
    label = QLabel("3-D view")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("background: black; color: #aaa;")
    label.setObjectName("view-3d-placeholder")
    return label


class ViewLayout(QWidget):
    """All views of ``state``, arranged as its layout says."""

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setObjectName("view-layout")
        self.setStyleSheet("#view-layout { background: #202020; }")
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(_SPACING_PX)
        self.views: dict[str, MprView] = {}
        for vid in MPR_VIEWS:
            view = MprView(state, vid, self)
            view.maximise_requested.connect(self.toggle_maximise)
            view.hide()
            self.views[vid] = view
        self._view_3d: QWidget | None = None
        self._restore_layout = "1x3" if state.layout == "1x1" else state.layout
        state.events.layout.connect(self._on_layout)
        self._arrange()

    # --- views ---------------------------------------------------------------------------
    @property
    def view_3d(self) -> QWidget:
        """The 3-D view (or its placeholder), created on first use."""
        if self._view_3d is None:
            self._view_3d = self._make_3d()
            self._view_3d.setParent(self)
            self._view_3d.hide()
            getattr(self._view_3d, "vtk", self._view_3d).installEventFilter(self)
        return self._view_3d

    def _make_3d(self) -> QWidget:
        try:
            module = importlib.import_module("interval.ui.view_3d")
            return module.View3D(self.state)
        except ImportError:
            log.info("no 3-D view module; showing a placeholder")
            return _placeholder_3d()

    def widget(self, view_id: str) -> QWidget:
        """The widget showing ``view_id``."""
        return self.view_3d if view_id == "3d" else self.views[view_id]

    def visible_view_ids(self) -> tuple[str, ...]:
        return self.state.visible_views()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802  (Qt override)
        """Double-click on the 3-D view maximises/restores it (its own camera keeps the rest)."""
        if (
            event.type() == QEvent.Type.MouseButtonDblClick
            and event.button() == Qt.MouseButton.LeftButton  # type: ignore[attr-defined]
        ):
            self.toggle_maximise("3d")
        return False

    # --- layout --------------------------------------------------------------------------
    def _on_layout(self, event: LayoutChanged) -> None:
        if event.layout != "1x1":
            self._restore_layout = event.layout
        self._arrange()

    def _arrange(self) -> None:
        layout = self.state.layout
        wanted = self.state.visible_views()
        while self._grid.count():
            self._grid.takeAt(0)
        for vid in ("axial", "coronal", "sagittal", "3d"):
            if vid == "3d" and vid not in wanted and self._view_3d is None:
                continue
            w = self.widget(vid)
            if vid not in wanted:
                w.hide()
        for r in range(3):
            self._grid.setRowStretch(r, 0)
            self._grid.setColumnStretch(r, 0)
        places = {wanted[0]: (0, 0)} if layout == "1x1" else POSITIONS[layout]
        for vid, (row, col) in places.items():
            w = self.widget(vid)
            self._grid.addWidget(w, row, col)
            self._grid.setRowStretch(row, 1)
            self._grid.setColumnStretch(col, 1)
            w.show()

    def set_layout(self, layout: str) -> None:
        """Switch to ``"1x1"``, ``"1x3"`` or ``"2x2"`` (through the state)."""
        self.state.set_layout(layout)

    def toggle_maximise(self, view_id: str) -> None:
        """Maximise ``view_id`` (1x1), or restore the previous layout if it already is."""
        if self.state.layout == "1x1":
            self.state.set_layout(self._restore_layout, view_id)
        else:
            self.state.set_layout("1x1", view_id)

    # --- pictures ------------------------------------------------------------------------
    def capture(self) -> np.ndarray:
        """The whole view area as ``(h, w, 3)`` uint8, composed from each view's frame."""
        h, w = max(self.height(), 1), max(self.width(), 1)
        out = np.full((h, w, 3), 0x20, np.uint8)
        for vid in self.state.visible_views():
            widget = self.widget(vid)
            frame = widget.capture() if hasattr(widget, "capture") else None
            g = widget.geometry()
            if frame is None:
                out[g.y() : g.y() + g.height(), g.x() : g.x() + g.width()] = 0
                continue
            fh = min(frame.shape[0], h - g.y())
            fw = min(frame.shape[1], w - g.x())
            out[g.y() : g.y() + fh, g.x() : g.x() + fw] = frame[:fh, :fw]
        return out

    def close_views(self) -> None:
        """Stop observing the state (call before discarding the layout)."""
        self.state.events.layout.disconnect(self._on_layout)
        for view in self.views.values():
            view.close_view()
        if self._view_3d is not None and hasattr(self._view_3d, "close_view"):
            self._view_3d.close_view()
