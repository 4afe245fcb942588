"""The Layers dock: every layer with visibility and opacity; a legend for label maps.

The panel is a view over :class:`~interval.core.viewer_state.ViewerState`: every edit
calls a ViewerState method (``set_layer_visible``, ``set_layer_opacity``,
``set_label_mode``, ``set_label``) and the widgets are refreshed from the state's
events, so the MPR views and this panel always agree.

Layout (top to bottom): the layer list (top layer first, a check box per layer),
then for the selected layer an opacity slider (0-100 %); for a fusion layer (PET over
CT) its colour map and colour range (the window: values below its low end are not
coloured); for a label layer a fill/outline choice and the legend: one row per label
with a colour swatch (click to pick another colour), the name and a visibility check box.

:func:`open_segmentation` loads a segmentation file (NIfTI/NRRD/MHA or DICOM SEG),
places it on the active image's grid and adds it as a label layer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from interval.core.colormaps import COLORMAP_NAMES, COLORMAP_TITLES
from interval.core.errors import IntervalError
from interval.core.viewer_state import ImageLayer, LabelLayer, ViewerState
from interval.core.volume import Volume
from interval.io.segmentation import load_segmentation_groups, place_on_grid

ColorPicker = Callable[[tuple[int, int, int], QWidget], "tuple[int, int, int] | None"]
SEGMENTATION_FILTER = (
    "Segmentations (*.dcm *.seg *.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd);;All files (*)"
)


def qt_color_picker(current: tuple[int, int, int], parent: QWidget) -> tuple[int, int, int] | None:
    """Ask the user for a colour (None when cancelled)."""
    c = QColorDialog.getColor(QColor(*current), parent, "Label colour")
    return (c.red(), c.green(), c.blue()) if c.isValid() else None


def prepare_segmentation(path: str | Path, image: Volume) -> list[Volume]:
    """Load a segmentation and place it on ``image``'s grid (no Qt, no state: safe in a
    worker thread).  Overlapping DICOM SEG segments give one label map per group."""
    return [place_on_grid(v, image) for v in load_segmentation_groups(path)]


def add_segmentation(state: ViewerState, volumes: list[Volume], name: str) -> list[str]:
    """Add prepared label maps as label layers (on the UI thread); returns the layer ids."""
    ids = []
    with state.events.batch():
        for n, vol in enumerate(volumes):
            label = name if len(volumes) == 1 else f"{name} ({n + 1}/{len(volumes)})"
            ids.append(state.add_volume(vol, name=label))
    return ids


def open_segmentation(state: ViewerState, path: str | Path, *, name: str = "") -> list[str]:
    """Load a segmentation, place it on the active image by geometry, add it as layer(s).

    Overlapping DICOM SEG segments become several layers (one per non-overlapping
    group).  Returns the new layer ids; raises :class:`IntervalError` in words.
    """
    image = state.active_volume
    if image is None:
        raise IntervalError("open an image before its segmentation")
    return add_segmentation(state, prepare_segmentation(path, image), name or Path(path).name)


def _swatch(color: tuple[int, int, int], size: int = 14) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(QColor(*color))
    return QIcon(pix)


def layer_title(state: ViewerState, layer: ImageLayer | LabelLayer) -> str:
    """A layer's display name: its name, else the series description, else its id."""
    if layer.name:
        return layer.name
    try:
        meta = state.volume(layer.volume_id).metadata
    except KeyError:
        return layer.id
    return meta.series_description or layer.id


class LayersPanel(QDockWidget):
    """Dock listing the layers of ``state`` with their display settings."""

    error = Signal(str)  # a message in words (e.g. a segmentation that cannot be placed)

    def __init__(self, state: ViewerState, parent: QWidget | None = None,
                 color_picker: ColorPicker = qt_color_picker) -> None:
        super().__init__("Layers", parent)
        self.setObjectName("layers-panel")
        self.state = state
        self.color_picker = color_picker
        self._updating = False

        body = QWidget(self)
        box = QVBoxLayout(body)
        box.setContentsMargins(4, 4, 4, 4)
        self.layer_list = QListWidget(body)
        self.layer_list.setObjectName("layer-list")
        box.addWidget(self.layer_list, 2)
        buttons = QHBoxLayout()
        self.up_button = QPushButton("Up", body)
        self.down_button = QPushButton("Down", body)
        self.remove_button = QPushButton("Close", body)
        self.remove_button.setToolTip("close the selected layer's volume")
        for b in (self.up_button, self.down_button, self.remove_button):
            buttons.addWidget(b)
        box.addLayout(buttons)

        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity", body))
        self.opacity = QSlider(Qt.Orientation.Horizontal, body)
        self.opacity.setRange(0, 100)
        row.addWidget(self.opacity, 1)
        self.mode = QComboBox(body)
        self.mode.addItem("Fill", "fill")
        self.mode.addItem("Outline", "outline")
        row.addWidget(self.mode)
        box.addLayout(row)
        box.addLayout(self._build_fusion_row(body))

        self.legend = QTreeWidget(body)
        self.legend.setObjectName("legend")
        self.legend.setHeaderLabels(["Show", "Colour", "Label", "Value"])
        self.legend.setColumnWidth(0, 44)
        self.legend.setColumnWidth(1, 48)
        self.legend.setRootIsDecorated(False)
        box.addWidget(self.legend, 3)

        self.open_button = QPushButton("Open segmentation…", body)
        box.addWidget(self.open_button)
        self.setWidget(body)

        self.layer_list.currentItemChanged.connect(lambda *_: self._show_selected())
        self.layer_list.itemChanged.connect(self._on_layer_item)
        self.opacity.valueChanged.connect(self._on_opacity)
        self.mode.currentIndexChanged.connect(self._on_mode)
        self.colormap.currentIndexChanged.connect(self._on_colormap)
        self.range_low.valueChanged.connect(self._on_range)
        self.range_high.valueChanged.connect(self._on_range)
        self.legend.itemChanged.connect(self._on_legend_item)
        self.legend.itemClicked.connect(self._on_legend_click)
        self.open_button.clicked.connect(self._ask_segmentation)
        self.up_button.clicked.connect(lambda: self.move_selected(+1))
        self.down_button.clicked.connect(lambda: self.move_selected(-1))
        self.remove_button.clicked.connect(self.remove_selected)

        ev = state.events
        ev.layers.connect(self._on_layers)
        ev.layer.connect(self._on_layer)
        self.refresh()

    def _build_fusion_row(self, body: QWidget) -> QHBoxLayout:
        """Colour map and colour range (low, high) of a fusion layer."""
        row = QHBoxLayout()
        self.colormap = QComboBox(body)
        self.colormap.setObjectName("colormap")
        self.colormap.setToolTip("colour map of a fusion layer (PET over CT)")
        for name in COLORMAP_NAMES:
            self.colormap.addItem(COLORMAP_TITLES.get(name, name), name)
        row.addWidget(self.colormap)
        self.range_low, self.range_high = QDoubleSpinBox(body), QDoubleSpinBox(body)
        for spin, tip in ((self.range_low, "values up to this are not coloured"),
                          (self.range_high, "values from this up take the top colour")):
            spin.setRange(-1e7, 1e7)
            spin.setDecimals(2)
            spin.setSingleStep(0.5)
            spin.setKeyboardTracking(False)
            spin.setToolTip(tip)
            row.addWidget(spin)
        return row

    # --- state -> widgets ---------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild the layer list (top layer first), keeping the selection."""
        current = self.selected_layer_id()
        before = set(self.layer_ids())
        self._updating = True
        try:
            self.layer_list.clear()
            for layer in reversed(self.state.layers):
                item = QListWidgetItem(layer_title(self.state, layer))
                item.setData(Qt.ItemDataRole.UserRole, layer.id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if layer.visible else Qt.CheckState.Unchecked)
                item.setToolTip("label map" if isinstance(layer, LabelLayer) else
                                "fusion: in colour over the active image"
                                if layer.fusion else "image")
                self.layer_list.addItem(item)
            ids = self.layer_ids()
            if ids:
                # a newly added layer is selected, so a new legend shows at once
                added = [lid for lid in ids if lid not in before]
                pick = added[0] if added and before else current if current in ids else ids[0]
                self.layer_list.setCurrentRow(ids.index(pick))
        finally:
            self._updating = False
        self._show_selected()

    def layer_ids(self) -> list[str]:
        """Layer ids in list order (top layer first)."""
        return [self.layer_list.item(r).data(Qt.ItemDataRole.UserRole)
                for r in range(self.layer_list.count())]

    def selected_layer_id(self) -> str | None:
        item = self.layer_list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def select_layer(self, layer_id: str) -> None:
        self.layer_list.setCurrentRow(self.layer_ids().index(layer_id))

    def _selected_layer(self) -> ImageLayer | LabelLayer | None:
        lid = self.selected_layer_id()
        try:
            return None if lid is None else self.state.layer(lid)
        except KeyError:
            return None

    def _show_selected(self) -> None:
        layer = self._selected_layer()
        self._updating = True
        try:
            self.opacity.setEnabled(layer is not None)
            if layer is not None:
                self.opacity.setValue(round(layer.opacity * 100))
            is_label = isinstance(layer, LabelLayer)
            self.mode.setEnabled(is_label)
            fused = isinstance(layer, ImageLayer) and layer.fusion
            for widget in (self.colormap, self.range_low, self.range_high):
                widget.setEnabled(fused)
            if isinstance(layer, ImageLayer):
                self.colormap.setCurrentIndex(self.colormap.findData(layer.colormap))
                self.range_low.setValue(layer.window.low)
                self.range_high.setValue(layer.window.high)
            if is_label:
                self.mode.setCurrentIndex(self.mode.findData(layer.mode))  # type: ignore[union-attr]
            infos = list(layer.labels) if is_label else []  # type: ignore[union-attr]
            shown = [int(self.legend.topLevelItem(r).data(0, Qt.ItemDataRole.UserRole))
                     for r in range(self.legend.topLevelItemCount())]
            if shown != [info.value for info in infos]:
                # rebuild only when labels come or go; edits update rows in place, because
                # an edit usually starts from a legend item's own signal and deleting that
                # item while Qt is still inside its setCheckState() crashes
                self.legend.clear()
                for info in infos:
                    item = QTreeWidgetItem(["", "", "", str(info.value)])
                    item.setData(0, Qt.ItemDataRole.UserRole, info.value)
                    item.setToolTip(1, "click to change the colour")
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    self.legend.addTopLevelItem(item)
            for r, info in enumerate(infos):
                item = self.legend.topLevelItem(r)
                item.setText(2, info.name)
                item.setIcon(1, _swatch(info.color))
                state = Qt.CheckState.Checked if info.visible else Qt.CheckState.Unchecked
                if item.checkState(0) != state:
                    item.setCheckState(0, state)
            self.legend.setEnabled(is_label)
        finally:
            self._updating = False

    def _on_layers(self, _event: object) -> None:
        self.refresh()

    def _on_layer(self, event: object) -> None:
        lid = event.layer_id  # type: ignore[attr-defined]
        ids = self.layer_ids()
        if lid in ids:
            item = self.layer_list.item(ids.index(lid))
            self._updating = True
            try:
                item.setCheckState(Qt.CheckState.Checked if event.layer.visible  # type: ignore[attr-defined]
                                   else Qt.CheckState.Unchecked)
            finally:
                self._updating = False
        if lid == self.selected_layer_id():
            self._show_selected()

    # --- widgets -> state ---------------------------------------------------------------------
    def _on_layer_item(self, item: QListWidgetItem) -> None:
        if self._updating:
            return
        visible = item.checkState() == Qt.CheckState.Checked
        self.state.set_layer_visible(item.data(Qt.ItemDataRole.UserRole), visible)

    def _on_opacity(self, value: int) -> None:
        lid = self.selected_layer_id()
        if not self._updating and lid is not None:
            self.state.set_layer_opacity(lid, value / 100.0)

    def _on_mode(self, _index: int) -> None:
        layer = self._selected_layer()
        if not self._updating and isinstance(layer, LabelLayer):
            self.state.set_label_mode(layer.id, self.mode.currentData())

    def _on_colormap(self, _index: int) -> None:
        layer = self._selected_layer()
        if not self._updating and isinstance(layer, ImageLayer):
            self.state.set_layer_colormap(layer.id, self.colormap.currentData())

    def _on_range(self, _value: float) -> None:
        """A new colour range for the selected fusion layer (ignored while low >= high)."""
        layer = self._selected_layer()
        low, high = self.range_low.value(), self.range_high.value()
        if not self._updating and isinstance(layer, ImageLayer) and layer.fusion and high > low:
            self.state.set_window(layer.id, (low + high) / 2.0, high - low, "Custom")

    def _on_legend_item(self, item: QTreeWidgetItem, column: int) -> None:
        layer = self._selected_layer()
        if self._updating or not isinstance(layer, LabelLayer) or column != 0:
            return
        value = int(item.data(0, Qt.ItemDataRole.UserRole))
        self.state.set_label(layer.id, value, visible=item.checkState(0) == Qt.CheckState.Checked)

    def _on_legend_click(self, item: QTreeWidgetItem, column: int) -> None:
        """A click in the colour column opens the colour picker."""
        if column == 1:
            self.choose_color(int(item.data(0, Qt.ItemDataRole.UserRole)))

    def choose_color(self, value: int) -> None:
        """Pick a new colour for label ``value`` of the selected label layer."""
        layer = self._selected_layer()
        if not isinstance(layer, LabelLayer):
            return
        color = self.color_picker(layer.labels[value].color, self)
        if color is not None:
            self.state.set_label(layer.id, value, color=color)

    def set_label_visible(self, value: int, visible: bool) -> None:
        """Tick or untick a legend row (as a click on its check box does)."""
        item = self.legend_item(value)
        item.setCheckState(0, Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)

    def legend_item(self, value: int) -> QTreeWidgetItem:
        for r in range(self.legend.topLevelItemCount()):
            item = self.legend.topLevelItem(r)
            if int(item.data(0, Qt.ItemDataRole.UserRole)) == value:
                return item
        raise KeyError(value)

    def legend_rows(self) -> list[tuple[int, str, tuple[int, int, int], bool]]:
        """``(value, name, swatch colour, visible)`` per legend row, as shown."""
        rows = []
        for r in range(self.legend.topLevelItemCount()):
            item = self.legend.topLevelItem(r)
            img = item.icon(1).pixmap(14, 14).toImage()
            c = img.pixelColor(7, 7)
            rows.append((int(item.data(0, Qt.ItemDataRole.UserRole)), item.text(2),
                         (c.red(), c.green(), c.blue()),
                         item.checkState(0) == Qt.CheckState.Checked))
        return rows

    def move_selected(self, step: int) -> None:
        """Move the selected layer ``step`` places up (towards the top) or down."""
        lid = self.selected_layer_id()
        if lid is None:
            return
        order = [layer.id for layer in self.state.layers]  # bottom to top
        index = min(max(order.index(lid) + step, 0), len(order) - 1)
        self.state.move_layer(lid, index)
        self.select_layer(lid)

    def remove_selected(self) -> None:
        """Close the selected layer's volume."""
        layer = self._selected_layer()
        if layer is not None:
            self.state.remove_volume(layer.volume_id)

    # --- segmentation -------------------------------------------------------------------------
    def _ask_segmentation(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open segmentation", "", SEGMENTATION_FILTER)
        if path:
            self.load_segmentation(path)

    def load_segmentation(self, path: str | Path) -> list[str]:
        """Open a segmentation over the active image; errors go to :attr:`error` in words."""
        try:
            return open_segmentation(self.state, path)
        except IntervalError as exc:
            self.error.emit(f"{Path(path).name}: {exc}")
        except (OSError, ValueError) as exc:
            self.error.emit(f"{Path(path).name} could not be opened as a segmentation: {exc}")
        return []
