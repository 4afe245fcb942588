"""Geometry behind the measurement tools: ROIs from a drag, outlines, plane membership, the book."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interval.core.measurements import (
    EllipseROI,
    MeasurementBook,
    RectangleROI,
    Ruler,
    lies_on_plane,
    outline_lps,
    roi_from_drag,
    roi_stats,
)
from interval.core.planes import view_plane
from interval.core.volume import Volume


def test_rectangle_from_drag_on_a_coronal_plane() -> None:
    plane = view_plane("coronal", (0.0, 40.0, 0.0))  # right = +x (L), down = -z (I)
    roi = roi_from_drag("rectangle", plane, (-5.0, 40.0, 10.0), (15.0, 40.0, -2.0))
    assert isinstance(roi, RectangleROI)
    assert roi.bounds() == pytest.approx((-5.0, 15.0, -10.0, 2.0))
    assert roi.shape_area_mm2 == pytest.approx(20.0 * 12.0)


def test_ellipse_from_drag_is_inscribed_in_the_dragged_box() -> None:
    plane = view_plane("axial", (0.0, 0.0, 7.0))
    roi = roi_from_drag("ellipse", plane, (10.0, 20.0, 7.0), (2.0, 26.0, 7.0))
    assert isinstance(roi, EllipseROI)
    assert roi.center == pytest.approx((6.0, 23.0)) and roi.radii == pytest.approx((4.0, 3.0))
    ring = outline_lps(roi)
    assert np.allclose(ring[0], ring[-1])
    assert ring[:, 0].min() == pytest.approx(2.0) and ring[:, 0].max() == pytest.approx(10.0)
    assert np.allclose(ring[:, 2], 7.0)
    with pytest.raises(ValueError):
        roi_from_drag("polygon", plane, (0, 0, 7), (1, 1, 7))


def test_measurements_belong_to_their_plane_only() -> None:
    axial = view_plane("axial", (0.0, 0.0, 10.0))
    ruler = Ruler((0.0, 0.0, 10.4), (5.0, 5.0, 9.7))
    assert lies_on_plane(ruler, axial, 0.5)
    assert not lies_on_plane(ruler, axial.shifted(2.0), 0.5)
    roi = roi_from_drag("rectangle", axial, (0, 0, 10), (5, 5, 10))
    assert lies_on_plane(roi, axial.through((3.0, 3.0, 10.2)), 0.5)
    assert not lies_on_plane(roi, view_plane("coronal", (0.0, 0.0, 10.0)), 0.5)


def test_book_keeps_one_list_per_series_and_exports_all(tmp_path: Path) -> None:
    vol = Volume(np.arange(4 * 10 * 10, dtype=np.int16).reshape(4, 10, 10))
    book = MeasurementBook()
    events = []
    book.changed.connect(events.append)
    book.for_series("a").add_ruler((0, 0, 0), (0, 3, 4))
    roi = roi_from_drag("rectangle", view_plane("axial", (0, 0, 2)), (1, 1, 2), (3, 4, 2))
    m = book.for_series("b").add_roi(vol, roi)
    assert m.stats == roi_stats(vol, roi)
    assert m.stats.mean == pytest.approx(vol.array[2, 1:5, 1:4].mean())
    assert book.series() == ["a", "b"] and len(book) == 2
    assert [e.series_uid for e in events] == ["a", "b"]
    path = book.to_csv(tmp_path / "all.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and lines[1].split(",")[1:3] == ["a", "ruler"]
    assert lines[2].split(",")[1:3] == ["b", "rectangle"]
