"""Measurements panel: lists per series, deletes, exports CSV atomically, jumps to a measurement."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from interval.core.measurements import MeasurementBook, RectangleROI
from interval.core.metadata import VolumeMetadata
from interval.core.viewer_state import ViewerState
from interval.core.volume import Volume
from interval.ui.measurements_panel import MeasurementsPanel
from interval.ui.plain_text import tooltip_text

CT_UID, MR_UID = "1.2.3.4.1", "1.2.3.4.2"


def _volume(uid: str, modality: str, seed: int) -> Volume:
    arr = np.random.default_rng(seed).integers(0, 500, size=(5, 30, 40)).astype(np.int16)
    meta = VolumeMetadata(series_instance_uid=uid, modality=modality, series_description=f"{modality} series",
                          units="HU" if modality == "CT" else "")
    return Volume(arr, (0.5, 0.5, 3.0), (10.0, 20.0, 30.0), np.eye(3), meta)


@pytest.fixture
def scene(qtbot):
    state = ViewerState()
    ct, mr = _volume(CT_UID, "CT", 1), _volume(MR_UID, "MR", 2)
    state.add_volume(ct, "ct")
    state.add_volume(mr, "mr")
    book = MeasurementBook()
    panel = MeasurementsPanel(state, book)
    qtbot.addWidget(panel)
    return state, ct, mr, book, panel


def _rect(state: ViewerState, vol: Volume) -> RectangleROI:
    plane = state.plane("axial")
    # voxel columns 4..11 and rows 6..13 of the crosshair slice (corners on voxel centres)
    a = plane.to_uv(vol.index_to_lps((4, 6, 0)))
    b = plane.to_uv(vol.index_to_lps((11, 13, 0)))
    return RectangleROI(plane, tuple(a), tuple(b))


def test_lists_per_series_with_numpy_equal_statistics(scene) -> None:
    state, ct, mr, book, panel = scene
    k = state.slice_index("axial")
    roi = book.for_series(CT_UID).add_roi(ct, _rect(state, ct))
    book.for_series(CT_UID).add_ruler((0, 0, 0), (3, 4, 0))
    book.for_series(MR_UID).add_ruler((0, 0, 0), (0, 0, 10), label="=cmd")
    region = ct.array[k, 6:14, 4:12].astype(np.float64)
    s = roi.stats
    assert s.n_pixels == region.size
    assert s.mean == pytest.approx(region.mean()) and s.sd == pytest.approx(region.std())
    assert (s.min, s.max) == (region.min(), region.max())
    assert s.area_mm2 == pytest.approx(region.size * 0.25)
    rows = panel.rows()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (CT_UID, 1, "rectangle"), (CT_UID, 2, "ruler"), (MR_UID, 1, "ruler")]
    assert f"mean {region.mean():.1f} HU SD {region.std():.1f}" in rows[0][3]
    assert rows[1][3] == "5.0 mm" and rows[2][3:] == ("10.0 mm", "=cmd")
    titles = [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())]
    assert titles == ["CT CT series: 2 item(s)", "MR MR series: 1 item(s)"]


def test_delete_selected_rows_and_whole_series(scene) -> None:
    state, ct, mr, book, panel = scene
    book.for_series(CT_UID).add_ruler((0, 0, 0), (1, 0, 0))
    book.for_series(CT_UID).add_ruler((0, 0, 0), (2, 0, 0))
    book.for_series(MR_UID).add_ruler((0, 0, 0), (3, 0, 0))
    panel.item_for(CT_UID, 1).setSelected(True)
    panel.delete_selected()
    assert [m.id for m in book.for_series(CT_UID)] == [2]
    assert [(r[0], r[1]) for r in panel.rows()] == [(CT_UID, 2), (MR_UID, 1)]
    panel.tree.topLevelItem(1).setSelected(True)  # the MR series branch
    panel.delete_selected()
    assert len(book.for_series(MR_UID)) == 0 and panel.tree.topLevelItemCount() == 1


def test_delete_key_in_the_list_deletes_the_selection(scene, qtbot) -> None:
    from PySide6.QtCore import Qt

    state, ct, mr, book, panel = scene
    book.for_series(CT_UID).add_ruler((0, 0, 0), (1, 0, 0))
    book.for_series(CT_UID).add_ruler((0, 0, 0), (2, 0, 0))
    panel.show()
    qtbot.waitExposed(panel)
    panel.tree.setFocus()
    panel.tree.setCurrentItem(panel.item_for(CT_UID, 2))
    qtbot.keyClick(panel.tree, Qt.Key.Key_Delete)
    assert [m.id for m in book.for_series(CT_UID)] == [1]


def test_export_csv_writes_all_rows_atomically(scene, tmp_path: Path, monkeypatch) -> None:
    state, ct, mr, book, panel = scene
    book.for_series(CT_UID).add_roi(ct, _rect(state, ct))
    book.for_series(MR_UID).add_ruler((0, 0, 0), (6, 8, 0), label="=evil")
    target = tmp_path / "m.csv"
    with panelbot_signal(panel) as got:
        assert panel.export_csv(target) == target
    assert got == [str(target)]
    with target.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["series_uid"], r["kind"]) for r in rows] == [(CT_UID, "rectangle"), (MR_UID, "ruler")]
    assert float(rows[0]["mean"]) == pytest.approx(book.for_series(CT_UID)[1].stats.mean, abs=1e-4)
    assert rows[1]["length_mm"] == "10.0000" and rows[1]["label"] == "'=evil"
    # readable without the viewer: the series' name and the units of the statistics
    assert [(r["series"], r["units"]) for r in rows] == [
        ("CT CT series", "HU"), ("MR MR series", "")]
    with target.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header[:5] == ["id", "series_uid", "series", "units", "kind"]
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]  # no temporary file left

    # a failing write keeps the previous file whole and reports in words
    before = target.read_bytes()
    book.for_series(MR_UID).add_ruler((0, 0, 0), (1, 0, 0))

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    errors: list[str] = []
    panel.error.connect(errors.append)
    assert panel.export_csv(target) is None
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]
    assert errors and "No space left on device" in errors[0]


def test_editing_the_label_column_renames_the_measurement(scene) -> None:
    state, ct, mr, book, panel = scene
    book.for_series(CT_UID).add_ruler((0, 0, 0), (1, 0, 0))
    panel.item_for(CT_UID, 1).setText(3, "  lesion A ")
    assert book.for_series(CT_UID)[1].label == "lesion A"
    assert panel.rows()[0][4] == "lesion A"


def test_double_click_moves_the_crosshair_to_the_measurement(scene) -> None:
    state, ct, mr, book, panel = scene
    book.for_series(CT_UID).add_ruler((12.0, 24.0, 33.0), (16.0, 28.0, 33.0))
    item = panel.item_for(CT_UID, 1)
    panel.tree.itemDoubleClicked.emit(item, 0)
    assert state.crosshair == pytest.approx((14.0, 26.0, 33.0))


def test_closed_series_keep_their_name_units_and_are_not_placed_on_another(scene) -> None:
    """After its series is closed, a measurement is still listed under the series' name
    (not its UID) with its units; double-clicking it does not move the crosshair onto
    the series shown now (another scan's coordinates) but says which series it is."""
    from dataclasses import replace
    from datetime import date

    state, _ct, mr, book, panel = scene
    state.remove_volume("ct")
    base = _volume(CT_UID, "CT", 1)
    meta = replace(base.metadata, series_number=7, study_date=date(2024, 2, 29))
    ct = Volume(base.array, base.spacing, base.origin, base.direction, meta)
    state.add_volume(ct, "ct")
    state.set_active_volume("ct")
    book.for_series(CT_UID).add_roi(ct, _rect(state, ct))
    book.for_series(CT_UID).add_ruler((12.0, 24.0, 33.0), (16.0, 28.0, 33.0))
    before = panel.rows()
    state.remove_volume("ct")  # the MR is shown now
    assert state.active_volume is mr
    top = panel.tree.topLevelItem(0)
    assert top.text(0) == "CT #7 CT series (2024-02-29): 2 item(s)"
    assert CT_UID not in top.text(0) and "not shown" in top.toolTip(0)
    assert panel.rows() == before and " HU SD " in panel.rows()[0][3]
    notes: list[str] = []
    panel.message.connect(notes.append)
    crosshair = state.crosshair
    panel.tree.itemDoubleClicked.emit(panel.item_for(CT_UID, 2), 0)
    assert state.crosshair == crosshair
    assert notes and "CT #7 CT series (2024-02-29)" in notes[0] and "open that series" in notes[0]


class panelbot_signal:  # noqa: N801  (a tiny context manager collecting `exported`)
    def __init__(self, panel: MeasurementsPanel) -> None:
        self.panel, self.got = panel, []

    def __enter__(self) -> list[str]:
        self.panel.exported.connect(self.got.append)
        return self.got

    def __exit__(self, *exc: object) -> None:
        self.panel.exported.disconnect(self.got.append)


def test_export_dialog_starts_in_the_given_folder_and_rows_have_tooltips(
    scene, tmp_path, monkeypatch
) -> None:
    from interval.ui import measurements_panel as mp

    state, ct, mr, book, panel = scene
    state.set_active_volume("ct")
    book.for_series(CT_UID).add_roi(ct, _rect(state, ct))
    value_item = panel.tree.topLevelItem(0).child(0)
    assert tooltip_text(value_item.toolTip(2)) == value_item.text(2)
    assert "mean" in value_item.text(2)
    starts: list[str] = []

    def fake_dialog(parent, caption, start, filters):  # noqa: ANN001, ANN202
        starts.append(start)
        return str(tmp_path / "out.csv"), filters

    monkeypatch.setattr(mp.QFileDialog, "getSaveFileName", fake_dialog)
    panel._ask_export()
    assert Path(starts[-1]) == Path.home() / "measurements.csv"  # nothing remembered yet
    assert (tmp_path / "out.csv").is_file()
    panel.save_dir = tmp_path / "last"
    panel._ask_export()
    assert Path(starts[-1]) == tmp_path / "last" / "measurements.csv"
