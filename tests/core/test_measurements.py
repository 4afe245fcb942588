"""Rulers, ROI statistics against numpy, measurement lists and atomic CSV export."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest

from interval.core.measurements import (
    EllipseROI,
    MeasurementList,
    MeasurementsChanged,
    RectangleROI,
    Ruler,
    distance_mm,
    roi_stats,
)
from interval.core.planes import view_plane
from interval.core.volume import Volume

HFP = np.array([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])


def volume(direction: np.ndarray | None = None, spacing=(0.5, 0.5, 2.0)) -> Volume:
    rng = np.random.default_rng(3)
    arr = rng.integers(-200, 200, size=(6, 30, 40)).astype(np.int16)
    return Volume(arr, spacing, (100.0, -50.0, 20.0), np.eye(3) if direction is None else direction)


def test_ruler_length_in_mm() -> None:
    assert distance_mm((0, 0, 0), (3, 4, 12)) == pytest.approx(13.0)
    assert Ruler((1.0, 1.0, 1.0), (1.0, 1.0, -4.0)).length_mm == pytest.approx(5.0)


def test_rectangle_stats_equal_numpy_on_the_voxels() -> None:
    vol = volume()
    k = 3
    plane = view_plane("axial", vol.index_to_lps((0, 0, k)))
    # voxel columns 5..14 and rows 8..19: corners at voxel centres (screen u = x, v = y)
    c1 = plane.to_uv(vol.index_to_lps((5, 8, k)))
    c2 = plane.to_uv(vol.index_to_lps((14, 19, k)))
    stats = roi_stats(vol, RectangleROI(plane, tuple(c1), tuple(c2)))
    region = vol.array[k, 8:20, 5:15].astype(float)
    assert stats.n_pixels == region.size == 120
    assert stats.mean == pytest.approx(region.mean())
    assert stats.sd == pytest.approx(region.std())
    assert (stats.min, stats.max) == (region.min(), region.max())
    assert stats.area_mm2 == pytest.approx(120 * 0.25)


def test_ellipse_stats_equal_numpy_on_the_voxels_inside() -> None:
    vol = volume()
    k = 2
    centre = vol.index_to_lps((20, 15, k))
    plane = view_plane("axial", centre)
    roi = EllipseROI(plane, (0.0, 0.0), (4.0, 2.5))  # mm: 8 voxels by 5 voxels radii
    stats = roi_stats(vol, roi)
    j, i = np.indices(vol.shape[1:])
    inside = ((i - 20) * 0.5 / 4.0) ** 2 + ((j - 15) * 0.5 / 2.5) ** 2 <= 1.0
    values = vol.array[k][inside].astype(float)
    assert stats.n_pixels == values.size
    assert stats.mean == pytest.approx(values.mean())
    assert stats.sd == pytest.approx(values.std())
    assert stats.area_mm2 == pytest.approx(values.size * 0.25)
    assert stats.area_mm2 == pytest.approx(roi.shape_area_mm2, rel=0.08)


def test_coronal_roi_counts_each_anisotropic_voxel_once() -> None:
    vol = volume()
    j = 10
    plane = view_plane("coronal", vol.index_to_lps((0, j, 0)))
    c1 = plane.to_uv(vol.index_to_lps((3, j, 1)))
    c2 = plane.to_uv(vol.index_to_lps((12, j, 4)))
    stats = roi_stats(vol, RectangleROI(plane, tuple(c1), tuple(c2)))
    region = vol.array[1:5, j, 3:13].astype(float)
    assert stats.n_pixels == region.size == 40
    assert stats.mean == pytest.approx(region.mean())
    assert stats.area_mm2 == pytest.approx(40 * 0.5 * 2.0)


def test_prone_volume_roi_selects_voxels_by_patient_position() -> None:
    vol = volume(HFP)
    k = 1
    plane = view_plane("axial", vol.index_to_lps((0, 0, k)))
    c1 = plane.to_uv(vol.index_to_lps((5, 8, k)))
    c2 = plane.to_uv(vol.index_to_lps((14, 19, k)))
    stats = roi_stats(vol, RectangleROI(plane, tuple(c1), tuple(c2)))
    region = vol.array[k, 8:20, 5:15].astype(float)
    assert stats.n_pixels == 120
    assert stats.mean == pytest.approx(region.mean())


def test_roi_outside_the_volume_is_empty() -> None:
    vol = volume()
    plane = view_plane("axial", vol.index_to_lps((0, 0, 0)))
    stats = roi_stats(vol, RectangleROI(plane, (-500.0, -500.0), (-400.0, -400.0)))
    assert stats.n_pixels == 0 and math.isnan(stats.mean) and stats.area_mm2 == 0.0


def test_measurement_list_add_remove_notify() -> None:
    vol = volume()
    ml = MeasurementList("1.2.3")
    seen: list[MeasurementsChanged] = []
    ml.changed.connect(seen.append)
    r = ml.add_ruler((0, 0, 0), (0, 30, 40), label="diameter")
    plane = view_plane("axial", vol.index_to_lps((20, 15, 2)))
    e = ml.add_roi(vol, EllipseROI(plane, (0.0, 0.0), (3.0, 3.0)), label="lesion")
    assert (r.id, r.kind, e.id, e.kind) == (1, "ruler", 2, "ellipse")
    assert e.stats is not None and e.stats.n_pixels > 100
    ml.remove(r.id)
    assert [m.id for m in ml] == [2] and len(ml) == 1
    with pytest.raises(KeyError):
        ml.remove(r.id)
    assert len(seen) == 3 and seen[0] == MeasurementsChanged("1.2.3")
    ml.clear()
    assert len(ml) == 0 and len(seen) == 4


def test_csv_export_is_atomic_and_readable(tmp_path: Path) -> None:
    vol = volume()
    ml = MeasurementList("1.2.3")
    ml.add_ruler((0, 0, 0), (0, 30, 40), label="=HYPERLINK()")
    plane = view_plane("axial", vol.index_to_lps((0, 0, 3)))
    ml.add_roi(vol, RectangleROI(plane, (2.5, 4.0), (7.0, 9.5)))
    out = tmp_path / "measurements.csv"
    out.write_text("old contents")
    ml.to_csv(out)
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["kind"] for r in rows] == ["ruler", "rectangle"]
    assert rows[0]["length_mm"] == "50.0000"
    assert rows[0]["label"] == "'=HYPERLINK()"  # no spreadsheet formula injection
    assert rows[0]["area_mm2"] == ""
    stats = ml[2].stats
    assert stats is not None and float(rows[1]["mean"]) == pytest.approx(stats.mean, abs=1e-4)
    assert int(rows[1]["n_pixels"]) == stats.n_pixels == 10 * 12
    assert [float(rows[1][c]) for c in ("x1", "y1", "z1")] == pytest.approx(plane.to_lps(2.5, 4.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["measurements.csv"]


def test_csv_export_failure_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ml = MeasurementList("1.2.3")
    ml.add_ruler((0, 0, 0), (1, 0, 0))
    out = tmp_path / "m.csv"
    out.write_text("old contents")

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        ml.to_csv(out)
    assert out.read_text() == "old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]
