"""What a 2-D view draws over its image besides the crosshair: orientation letters on
the four edges, the four corner texts, the image's warning and a scale bar.

:class:`ViewOverlays` holds those VTK actors for one renderer and lays them out at
each render so that no two overlap: a right-hand corner text goes below (above) the
left-hand one when they would touch, the warning below the top texts, the scale bar
above the bottom ones, and the top and bottom letters clear of every text block.
Every text sits on a dark box, so lines (the crosshair) pass under it, and is drawn as
plain text (see :func:`vtk_plain`).  What the texts say is decided elsewhere
(:mod:`interval.core.overlay_text`).
"""

from __future__ import annotations

import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text rendering)
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor2D,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkTextActor,
)

from interval.core.overlay_text import CornerTexts, scale_bar_label, scale_bar_mm

MARKER_COLOUR = (1.0, 0.85, 0.3)
TEXT_COLOUR = (0.9, 0.9, 0.9)
WARNING_COLOUR = (1.0, 0.45, 0.1)
TEXT_BACKGROUND_OPACITY = 0.6  # the dark box behind every text (lines pass under it)
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
SCALE_BAR_MAX_FRACTION = 0.25  # of the view's width
SCALE_BAR_MAX_PX = 150
MARKER_MARGIN_PX = 4  # space kept between an orientation letter and a corner text
_MARGIN_PX = 6.0
_TICK_PX = 4.0
_MARKER_LIMIT = 0.4  # the top / bottom letter stays in the top / bottom 40 % of the view

Box = tuple[float, float, float, float]  # x min, x max, y min, y max: display pixels (y up)


def vtk_plain(text: str) -> str:
    """``text`` for a vtkTextActor, drawn as it is: VTK draws a ``$...$`` span as a
    formula when its MathText module is loaded (a plugin may load it), unless each "$"
    is escaped; FreeType then shows the "$" alone."""
    return text.replace("$", "\\$")


def _shown(text: str) -> str:
    return text.replace("\\$", "$")


def _across(blocks: tuple[Box | None, ...], x0: float, x1: float) -> list[Box]:
    """The blocks that overlap the columns ``x0`` to ``x1``."""
    return [b for b in blocks if b is not None and b[0] < x1 and b[1] > x0]


def _text_actor(x: float, y: float, h: str, v: str, size: int, colour: tuple,
                *, bold: bool = True) -> vtkTextActor:
    """A plain-text actor anchored at normalised viewport ``(x, y)``, on a dark box."""
    actor = vtkTextActor()
    coord = actor.GetPositionCoordinate()
    coord.SetCoordinateSystemToNormalizedViewport()
    coord.SetValue(x, y)
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(*colour)
    prop.SetBold(bold)
    prop.ShadowOn()
    prop.SetBackgroundColor(0.0, 0.0, 0.0)
    prop.SetBackgroundOpacity(TEXT_BACKGROUND_OPACITY)
    getattr(prop, f"SetJustificationTo{h}")()
    getattr(prop, f"SetVerticalJustificationTo{v}")()
    return actor


def _scale_bar_actor() -> tuple[vtkPoints, vtkActor2D]:
    """A bar with end ticks (4 points, one polyline) in display pixels."""
    pts = vtkPoints()
    pts.SetNumberOfPoints(4)
    cells = vtkCellArray()
    cells.InsertNextCell(4)
    for i in range(4):
        cells.InsertCellPoint(i)
    poly = vtkPolyData()
    poly.SetPoints(pts)
    poly.SetLines(cells)
    mapper = vtkPolyDataMapper2D()
    mapper.SetInputData(poly)
    actor = vtkActor2D()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*TEXT_COLOUR)
    actor.GetProperty().SetLineWidth(2.0)
    actor.PickableOff()
    actor.VisibilityOff()
    return pts, actor


def _move(actor: vtkTextActor, x: float, y: float) -> None:
    coord = actor.GetPositionCoordinate()
    old = coord.GetValue()
    if abs(old[0] - x) > 1e-9 or abs(old[1] - y) > 1e-9:
        coord.SetValue(x, y)


class ViewOverlays:
    """The letters, corner texts, warning and scale bar of one view's ``renderer``.

    ``annotations_visible`` shows or hides all of them; ``text_visible`` the corner
    texts and the scale bar only (the "On-image text" toggle).  Call :meth:`layout`
    at the start of each render.
    """

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self.annotations_visible = True
        self.text_visible = True
        self.length_unit = "mm"  # "px" on an image without a pixel spacing (scale bar label)
        self.markers = {
            "left": _text_actor(0.01, 0.5, "Left", "Centered", 16, MARKER_COLOUR),
            "right": _text_actor(0.99, 0.5, "Right", "Centered", 16, MARKER_COLOUR),
            "top": _text_actor(0.5, 0.99, "Centered", "Top", 16, MARKER_COLOUR),
            "bottom": _text_actor(0.5, 0.01, "Centered", "Bottom", 16, MARKER_COLOUR),
        }
        self.corners = {
            "top_left": _text_actor(0.01, 0.99, "Left", "Top", 12, TEXT_COLOUR, bold=False),
            "top_right": _text_actor(0.99, 0.99, "Right", "Top", 12, TEXT_COLOUR, bold=False),
            "bottom_left": _text_actor(0.01, 0.01, "Left", "Bottom", 12, TEXT_COLOUR, bold=False),
            "bottom_right": _text_actor(0.99, 0.01, "Right", "Bottom", 12, TEXT_COLOUR,
                                        bold=False),
        }
        # below the top texts (placed at each render): the image's own warning
        self.warning = _text_actor(0.01, 0.99, "Left", "Top", 12, WARNING_COLOUR, bold=False)
        self._scale_points, self._scale_bar = _scale_bar_actor()
        self._scale_label = _text_actor(0.9, 0.1, "Right", "Centered", 12, TEXT_COLOUR,
                                        bold=False)
        self._scale_mm: float | None = None
        for actor in (*self.corners.values(), self.warning, self._scale_bar,
                      self._scale_label, *self.markers.values()):  # the letters on top
            renderer.AddViewProp(actor)
        self.apply_visibility()

    # --- content ------------------------------------------------------------------------
    def set_letters(self, letters: dict[str, str]) -> None:
        """The edge letters (a missing edge, or an empty dict, draws none)."""
        for edge, actor in self.markers.items():
            actor.SetInput(letters.get(edge, ""))
        self.apply_visibility()

    def letters(self) -> dict[str, str]:
        return {edge: actor.GetInput() for edge, actor in self.markers.items()}

    def set_texts(self, texts: CornerTexts, warning: str) -> None:
        """The four corner texts and the warning ("" for none)."""
        for key, text in texts.as_dict().items():
            self.corners[key].SetInput(vtk_plain(text))
        self.warning.SetInput(vtk_plain(warning))
        self.apply_visibility()

    def apply_visibility(self) -> None:
        shown = self.annotations_visible
        text = shown and self.text_visible
        for actor in self.markers.values():
            actor.SetVisibility(shown and bool(actor.GetInput()))
        for actor in self.corners.values():
            actor.SetVisibility(text and bool(actor.GetInput()))
        self.warning.SetVisibility(shown and bool(self.warning.GetInput()))
        self._set_scale_bar(self._scale_mm if text else None)

    def shown_texts(self) -> list[str]:
        """Every text the renderer draws now (its visible text actors, this class's or
        not), e.g. to check that a screenshot holds no patient name."""
        texts: list[str] = []
        props = self.renderer.GetViewProps()
        props.InitTraversal()
        for _ in range(props.GetNumberOfItems()):
            actor = props.GetNextProp()
            if isinstance(actor, vtkTextActor) and actor.GetVisibility() and actor.GetInput():
                texts.append(_shown(actor.GetInput()))
        return texts

    # --- where things are -----------------------------------------------------------------
    def box(self, actor: vtkTextActor, at: tuple[float, float] | None = None) -> Box | None:
        """Where a shown text actor is drawn (display pixels), or would be if anchored at
        normalised viewport ``at``; None when it is not shown."""
        if not (actor.GetVisibility() and actor.GetInput()):
            return None
        box = [0.0, 0.0, 0.0, 0.0]
        actor.GetBoundingBox(self.renderer, box)  # from the anchor point
        if box[1] <= box[0]:
            return None
        if at is None:
            ax, ay = actor.GetPositionCoordinate().GetComputedDisplayValue(self.renderer)
        else:
            w, h = self.renderer.GetSize()
            ax, ay = at[0] * w, at[1] * h
        return ax + box[0], ax + box[1], ay + box[2], ay + box[3]

    def marker_position(self, edge: str) -> tuple[float, float]:
        """Where the ``edge`` letter is anchored (normalised viewport)."""
        x, y, _ = self.markers[edge].GetPositionCoordinate().GetValue()
        return float(x), float(y)

    def scale_bar(self) -> tuple[float, float] | None:
        """``(mm, pixels)`` of the scale bar shown (render-window pixels); None if none."""
        if not self._scale_bar.GetVisibility() or self._scale_mm is None:
            return None
        x0 = self._scale_points.GetPoint(1)[0]
        x1 = self._scale_points.GetPoint(2)[0]
        return self._scale_mm, float(x1 - x0)

    # --- layout ---------------------------------------------------------------------------
    def layout(self, mm_per_pixel: float | None) -> None:
        """Place what depends on the view's size and the texts' extents, so that no two
        texts overlap (see the module's docstring); a text there is no room for in a tiny
        view is left out.  ``mm_per_pixel`` (render-window pixels) sizes the scale bar;
        None: no image, no bar."""
        w, h = (int(v) for v in self.renderer.GetSize())
        if w <= 0 or h <= 0:
            return
        self.apply_visibility()  # what an earlier, smaller layout left out comes back
        c = self.corners
        for left, right, top in (("top_left", "top_right", True),
                                 ("bottom_left", "bottom_right", False)):
            y = 0.99 if top else 0.01
            lb, rb = self.box(c[left]), self.box(c[right], (0.99, y))
            if lb is not None and rb is not None and lb[1] + _MARGIN_PX > rb[0]:
                y = (lb[2] - 2.0) / h if top else (lb[3] + 2.0) / h
                height = rb[3] - rb[2]
                if top:
                    no_room = lb[2] - height < h * (1.0 - _MARKER_LIMIT)
                else:
                    no_room = lb[3] + height > h * _MARKER_LIMIT
                if no_room:
                    c[right].VisibilityOff()
            _move(c[right], 0.99, y)
        boxes = {key: self.box(actor) for key, actor in c.items()}
        tops = (boxes["top_left"], boxes["top_right"])
        warning = self.box(self.warning, (0.01, 0.99))
        y = 0.99
        if warning is not None:
            y = min([h - 1.0, *(b[2] - 2.0 for b in _across(tops, warning[0], warning[1]))]) / h
        _move(self.warning, 0.01, y)
        bottoms = (boxes["bottom_left"], boxes["bottom_right"])
        crowded = boxes["bottom_right"] is None and bool(c["bottom_right"].GetInput())
        scale = self._place_scale_bar(w, h, bottoms, None if crowded else mm_per_pixel)
        self._place_marker("top", w, h, (*tops, self.box(self.warning)))
        self._place_marker("bottom", w, h, (*bottoms, *scale))

    def _set_scale_bar(self, mm: float | None) -> None:
        self._scale_mm = mm
        self._scale_bar.SetVisibility(mm is not None)
        self._scale_label.SetVisibility(mm is not None)

    def _place_scale_bar(self, w: int, h: int, bottoms: tuple[Box | None, ...],
                         mm_per_pixel: float | None) -> tuple[Box | None, ...]:
        """A bar of a round length in mm (its label on its left) at the right edge, just
        above the bottom texts; returns its and its label's boxes."""
        mm = None
        if self.annotations_visible and self.text_visible and mm_per_pixel:
            mm = scale_bar_mm(mm_per_pixel, min(w * SCALE_BAR_MAX_FRACTION, SCALE_BAR_MAX_PX))
        self._set_scale_bar(mm)
        if mm is None or not mm_per_pixel:
            return ()
        x1 = w - _MARGIN_PX
        x0 = x1 - mm / mm_per_pixel
        self._scale_label.SetInput(scale_bar_label(mm, self.length_unit))
        label_x = (x0 - _MARGIN_PX) / w
        label = self.box(self._scale_label, (label_x, 0.5))
        left = label[0] if label is not None else x0
        y = max([0.0, *(b[3] for b in _across(bottoms, left, x1))]) + _MARGIN_PX
        if y + _TICK_PX > h * _MARKER_LIMIT:  # no room left in a tiny view
            self._set_scale_bar(None)
            return ()
        for i, (x, yy) in enumerate(((x0, y + _TICK_PX), (x0, y), (x1, y), (x1, y + _TICK_PX))):
            self._scale_points.SetPoint(i, x, yy, 0.0)
        self._scale_points.Modified()
        _move(self._scale_label, label_x, (y + _TICK_PX / 2.0) / h)
        return (x0, x1, y, y + _TICK_PX), self.box(self._scale_label)

    def _place_marker(self, edge: str, w: int, h: int, blocks: tuple[Box | None, ...]) -> None:
        """The ``edge`` letter below (above) the blocks that reach the middle, but within
        the top (bottom) part of the view; a corner text it would still cover (a tiny
        view) is left out."""
        marker = self.markers[edge]
        y = 0.99 if edge == "top" else 0.01
        own = self.box(marker)
        if own is not None:
            half = (own[1] - own[0]) / 2.0 + MARKER_MARGIN_PX
            hits = _across(blocks, w / 2.0 - half, w / 2.0 + half)
            if hits and edge == "top":  # below them, but in the top part of the view
                y = max(min(b[2] for b in hits) - 2.0, h * (1.0 - _MARKER_LIMIT)) / h
            elif hits:
                y = min(max(b[3] for b in hits) + 2.0, h * _MARKER_LIMIT) / h
        _move(marker, 0.5, y)
        own = self.box(marker)
        if own is None:
            return
        for actor in self.corners.values():
            box = self.box(actor)
            if box is not None and _across((box,), own[0], own[1]) \
                    and box[2] < own[3] and box[3] > own[2]:
                actor.VisibilityOff()
