"""Screenshots of one VTK view or the whole window layout, saved as PNG atomically.

VTK views are read back with :func:`interval.ui.frame_capture.capture` (the
render window's own pixels; ``QWidget.grab`` cannot see an off-screen or
native GL surface).  For a layout, the Qt widgets around the views (docks,
bars) are drawn by Qt and every VTK view's frame is painted in at its place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QWidget

from interval.core.atomic import atomic_path
from interval.core.errors import IntervalError


def _vtk_widgets(root: QWidget) -> list[QWidget]:
    from interval.ui.vtk_widget import VtkWidget

    found = [w for w in root.findChildren(VtkWidget) if w.isVisible()]
    if isinstance(root, VtkWidget):
        found.insert(0, root)
    return found


def view_image(widget: QWidget) -> np.ndarray:
    """A VTK view's frame as (h, w, 3) uint8."""
    from interval.ui.frame_capture import capture

    return capture(widget.GetRenderWindow())  # type: ignore[attr-defined]


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def layout_image(root: QWidget) -> QImage:
    """``root`` (e.g. the main window) drawn by Qt with every visible VTK view painted in."""
    image = root.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    ratio = image.devicePixelRatio() or 1.0
    painter = QPainter(image)
    try:
        for widget in _vtk_widgets(root):
            frame = _qimage(view_image(widget))
            top_left = widget.mapTo(root, QPoint(0, 0)) if widget is not root else QPoint(0, 0)
            size = widget.size()
            painter.drawImage(
                top_left.x(), top_left.y(),
                frame.scaled(int(size.width() * ratio), int(size.height() * ratio)),
            )
    finally:
        painter.end()
    return image


def save_png(image: QImage | np.ndarray, path: str | Path) -> Path:
    """Write ``image`` to ``path`` as PNG (temporary file + rename); returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_suffix(".png")
    if isinstance(image, np.ndarray):
        image = _qimage(image)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            if not image.save(str(tmp), "PNG"):
                raise IntervalError("could not write the screenshot", path=path)
    except OSError as exc:
        raise IntervalError(f"could not write the screenshot ({exc.strerror or exc})", path=path) from exc
    return path


def save_view(widget: QWidget, path: str | Path) -> Path:
    """Save one VTK view (or, for a non-VTK widget, what Qt draws) as PNG."""
    views = _vtk_widgets(widget)
    if views and views[0] is widget:
        return save_png(view_image(widget), path)
    return save_png(layout_image(widget), path)


def save_layout(root: QWidget, path: str | Path) -> Path:
    """Save ``root`` with its VTK views as PNG."""
    return save_png(layout_image(root), path)
