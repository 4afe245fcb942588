"""Screenshots of one VTK view or the whole window layout, saved as PNG atomically.

VTK views are read back with :func:`interval.ui.frame_capture.capture` (the
render window's own pixels; ``QWidget.grab`` cannot see an off-screen or
native GL surface).  For a layout, the Qt widgets around the views (docks,
bars) are drawn by Qt and every VTK view's frame is painted in at its place.

An *anonymised* screenshot has the views leave the patient's name and ID and the
study date out of their on-image text while it is taken (:func:`anonymised_views`),
and puts it back after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
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


def _anonymisable(root: QWidget) -> list[QWidget]:
    """The views in ``root``, or around it (a view's own VTK widget), that can leave the
    patient's text out: those with ``set_anonymised``."""
    found: list[QWidget] = []
    parent = root.parentWidget()
    while parent is not None:
        if callable(getattr(parent, "set_anonymised", None)):
            found.append(parent)
        parent = parent.parentWidget()
    for widget in (root, *root.findChildren(QWidget)):
        if callable(getattr(widget, "set_anonymised", None)) and widget not in found:
            found.append(widget)
    return found


@contextmanager
def anonymised_views(root: QWidget) -> Iterator[list[QWidget]]:
    """While inside, every view in or around ``root`` leaves the patient's name, ID and
    study date out of its on-image text; each is put back as it was after (also when
    the capture fails).  Yields the views."""
    views = _anonymisable(root)
    before = [(view, bool(getattr(view, "anonymised", False))) for view in views]
    try:
        for view in views:
            view.set_anonymised(True)  # type: ignore[attr-defined]
        yield views
    finally:
        for view, was in before:
            view.set_anonymised(was)  # type: ignore[attr-defined]


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


def save_view(widget: QWidget, path: str | Path, *, anonymised: bool = False) -> Path:
    """Save one VTK view (or, for a non-VTK widget, what Qt draws) as PNG; ``anonymised``:
    without the patient's name, ID and study date on the image."""
    with anonymised_views(widget) if anonymised else nullcontext():
        views = _vtk_widgets(widget)
        if views and views[0] is widget:
            image: QImage | np.ndarray = view_image(widget)
        else:
            image = layout_image(widget)
    return save_png(image, path)


def save_layout(root: QWidget, path: str | Path, *, anonymised: bool = False) -> Path:
    """Save ``root`` with its VTK views as PNG.  ``anonymised`` takes the patient text
    off the views only: Qt widgets inside ``root`` (a study browser listing names) are
    drawn as they are, so pass the view area, not the whole window."""
    with anonymised_views(root) if anonymised else nullcontext():
        image = layout_image(root)
    return save_png(image, path)
