"""Layers panel: layer list and legend drive the ViewerState, and the rendered overlay follows."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import VolumeMetadata
from interval.core.viewer_state import LabelLayer, ViewerState
from interval.core.volume import Volume
from interval.io.dicom.load import load_dicom
from interval.ui.layers_panel import LayersPanel
from tests.conftest import shared

from ._hosts import SliceHost

SEGS = ("dcmqi_data", "data", "segmentations")
GREY = 40  # HU of the image: mid grey under the default window below


def _image() -> Volume:
    arr = np.full((6, 40, 50), GREY, np.int16)
    meta = VolumeMetadata(modality="CT", series_description="phantom")
    return Volume(arr, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3), meta)


def _labels(image: Volume) -> Volume:
    arr = np.zeros(image.shape, np.uint8)
    arr[:, 5:15, 5:15] = 1
    arr[:, 20:30, 25:40] = 2
    table = LabelTable([LabelInfo(1, "liver", (200, 40, 40)), LabelInfo(2, "spleen", (40, 200, 40))])
    return image.with_array(arr, labels=table)


@pytest.fixture
def scene(qtbot):
    state = ViewerState()
    image = _image()
    state.add_volume(image, "ct")
    state.set_window("ct", 40, 400)
    labels = _labels(image)
    state.add_volume(labels, "seg", name="organs")
    panel = LayersPanel(state, color_picker=lambda current, parent: (10, 20, 250))
    qtbot.addWidget(panel)
    panel.show()
    host = SliceHost(state)
    qtbot.addWidget(host)
    host.resize(240, 200)
    host.show()
    qtbot.waitUntil(lambda: tuple(host.vtk.GetRenderWindow().GetSize()) == (240, 200))
    yield state, image, labels, panel, host
    host.vtk.Finalize()


def _pixel(host: SliceHost, frame: np.ndarray, volume: Volume, ijk) -> tuple[int, ...]:
    x, row = host.lps_to_display(volume.index_to_lps(ijk))
    return tuple(int(c) for c in frame[int(row), int(x)])


def test_layers_listed_top_first_with_legend_of_the_label_layer(scene) -> None:
    state, image, labels, panel, host = scene
    assert panel.layer_ids() == ["seg", "ct"]
    assert panel.layer_list.item(0).text() == "organs"
    assert panel.selected_layer_id() == "seg"
    assert panel.legend_rows() == [(1, "liver", (200, 40, 40), True), (2, "spleen", (40, 200, 40), True)]
    panel.select_layer("ct")
    assert panel.legend.topLevelItemCount() == 0 and not panel.mode.isEnabled()


def test_opacity_mode_and_layer_visibility_go_through_the_state(scene) -> None:
    state, image, labels, panel, host = scene
    panel.opacity.setValue(80)
    assert state.layer("seg").opacity == pytest.approx(0.8)
    panel.mode.setCurrentIndex(panel.mode.findData("outline"))
    assert state.layer("seg").mode == "outline"
    panel.layer_list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert state.layer("seg").visible is False
    # and the other way: a state change updates the panel
    state.set_layer_visible("seg", True)
    assert panel.layer_list.item(0).checkState() == Qt.CheckState.Checked
    state.set_layer_opacity("seg", 0.25)
    assert panel.opacity.value() == 25


def test_legend_visibility_and_colour_change_state_and_rendered_pixels(scene) -> None:
    state, image, labels, panel, host = scene
    panel.opacity.setValue(100)  # labelled pixels show the pure label colour
    liver, spleen = (2, 10, 10), (3, 25, 30)  # (k, j, i) inside each label
    k = state.slice_index("axial")
    liver_ijk, spleen_ijk = (liver[2], liver[1], k), (spleen[2], spleen[1], k)
    frame = host.capture()
    assert _pixel(host, frame, image, liver_ijk) == (200, 40, 40)
    assert _pixel(host, frame, image, spleen_ijk) == (40, 200, 40)

    panel.set_label_visible(1, False)  # untick "liver" in the legend
    layer = state.layer("seg")
    assert isinstance(layer, LabelLayer) and layer.labels[1].visible is False
    frame = host.capture()
    grey = _pixel(host, frame, image, liver_ijk)
    assert grey[0] == grey[1] == grey[2] and abs(grey[0] - 128) <= 1  # the image shows through
    assert _pixel(host, frame, image, spleen_ijk) == (40, 200, 40)

    panel.choose_color(2)  # the colour picker answers (10, 20, 250)
    assert state.layer("seg").labels[2].color == (10, 20, 250)
    assert panel.legend_rows()[1][2] == (10, 20, 250)  # the swatch follows
    assert _pixel(host, host.capture(), image, spleen_ijk) == (10, 20, 250)


def test_click_in_the_colour_column_opens_the_picker(scene) -> None:
    state, image, labels, panel, host = scene
    panel.legend.itemClicked.emit(panel.legend_item(1), 1)
    assert state.layer("seg").labels[1].color == (10, 20, 250)
    panel.legend.itemClicked.emit(panel.legend_item(2), 2)  # the name column: no picker
    assert state.layer("seg").labels[2].color == (40, 200, 40)


def test_open_dicom_seg_over_its_ct_adds_a_named_coloured_layer(qtbot) -> None:
    state = ViewerState()
    ct = load_dicom(shared(*SEGS, "ct-3slice"))
    state.add_volume(ct, "ct")
    panel = LayersPanel(state)
    qtbot.addWidget(panel)
    ids = panel.load_segmentation(shared(*SEGS, "liver.dcm"))
    assert len(ids) == 1 and panel.layer_ids()[0] == ids[0]
    placed = state.volume(ids[0])
    assert placed.same_grid(ct) and np.count_nonzero(placed.array) > 1000
    assert panel.legend_rows() == [(1, "Liver", (221, 130, 101), True)]


def test_overlapping_seg_opens_as_several_layers(qtbot) -> None:
    state = ViewerState()
    state.add_volume(load_dicom(shared(*SEGS, "ct-3slice")), "ct")
    panel = LayersPanel(state)
    qtbot.addWidget(panel)
    ids = panel.load_segmentation(shared(*SEGS, "partial_overlaps.dcm"))
    assert len(ids) >= 2
    names = sorted(i.name for lid in ids for i in state.layer(lid).labels)
    assert names == ["DARK_BLUE", "GREEN", "LIGHT_BLUE", "ORANGE", "PURPLE"]


def test_segmentation_of_another_scan_reports_an_error_in_words(qtbot) -> None:
    state = ViewerState()
    state.add_volume(load_dicom(shared(*SEGS, "ct-3slice")), "ct")
    panel = LayersPanel(state)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.error) as blocker:
        assert panel.load_segmentation(shared(*SEGS, "24x38x3", "seg", "label.seg")) == []
    assert "different scan" in blocker.args[0]
    assert panel.layer_ids() == ["ct"]


def test_move_and_close_layers(scene) -> None:
    state, image, labels, panel, host = scene
    panel.select_layer("seg")
    panel.move_selected(-1)
    assert [layer.id for layer in state.layers] == ["seg", "ct"]  # bottom to top
    assert panel.layer_ids() == ["ct", "seg"] and panel.selected_layer_id() == "seg"
    panel.move_selected(+1)
    assert [layer.id for layer in state.layers] == ["ct", "seg"]
    panel.remove_selected()
    assert "seg" not in state.volumes and panel.layer_ids() == ["ct"]
    assert panel.legend.topLevelItemCount() == 0

