"""Text from plugins, files and DICOM headers is shown as plain text everywhere in the UI.

A hostile plugin (HTML in its name, description, model labels and error message), a
plugin refused for an id and a folder name made of HTML, a DICOM series whose patient
name and descriptions are HTML, a file whose name is HTML and a label map whose label
names are HTML are all put before the window; then every widget is walked: no label,
message box, tooltip, item tooltip or text document may render the hostile markup.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLabel,
    QMessageBox,
    QTextEdit,
)

from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume
from interval.ui.plain_text import plain_label, plain_tooltip, set_plain_tooltip, tooltip_text

TIMEOUT_MS = 60_000
HOSTILE = '<img src="/etc/x.png"><b>BIG</b>'
HOSTILE_NAME = '<img src="x.png"><b>BIG<b>'  # no "/": usable as a file or folder name
MARKERS = ("<img", "<b>big")  # hostile markup left unescaped (lower-cased text)
SERIES_UID = "1.2.826.0.1.3680043.2.1125.99.1"


def _unescaped(text: str) -> bool:
    low = text.lower()
    return any(m in low for m in MARKERS)


# --- the helper itself ------------------------------------------------------------------


def test_plain_tooltip_escapes_and_round_trips() -> None:
    tip = plain_tooltip(HOSTILE + "\nsecond  line & more")
    assert "<img" not in tip and "&lt;img" in tip and "&amp; more" in tip
    assert tooltip_text(tip) == HOSTILE + "\nsecond  line & more"
    assert plain_tooltip("") == "" and tooltip_text("plain") == "plain"


def test_plain_label_and_item_tooltips(qtbot) -> None:
    from PySide6.QtWidgets import QTreeWidgetItem

    label = plain_label(HOSTILE)
    qtbot.addWidget(label)
    label.setText(HOSTILE)  # later texts stay plain too
    assert label.textFormat() == Qt.TextFormat.PlainText and label.text() == HOSTILE
    item = QTreeWidgetItem(["a", "b"])
    set_plain_tooltip(item, HOSTILE, 1)
    assert tooltip_text(item.toolTip(1)) == HOSTILE and not _unescaped(item.toolTip(1))


# --- hostile data ---------------------------------------------------------------------------


def _write_hostile_plugins(root: Path) -> Path:
    """A loaded plugin full of HTML and a refused one (HTML id, HTML folder name)."""
    from safetensors.numpy import save_file

    plugin = root / "hostile"
    model = plugin / "models" / "evil"
    model.mkdir(parents=True)
    (plugin / "hostile_net.py").write_text(  # the plugin's own network code: it raises HTML
        "def build(**params):\n"
        f"    raise RuntimeError({HOSTILE + ' model error'!r})\n",
        encoding="utf-8",
    )
    (model / "model.json").write_text(json.dumps({
        "format": 1, "name": "evil", "version": "1.0.0", "task": "segmentation",
        "description": HOSTILE, "modality": ["CT"],
        "labels": [{"value": 1, "name": HOSTILE, "color": [0, 255, 0]}],
        "target_spacing": None, "orientation": None, "patch_size": [4, 8, 8],
        "normalization": {"scheme": "none"},
        "network": {"type": "plugin", "entry": "hostile_net:build", "params": {},
                    "weights": "weights.safetensors"},
        "output": {"activation": "softmax", "channels": 2},
        "inference": {"overlap": 0.25, "batch_size": 1, "mirror_tta": False,
                      "blend": "gaussian"},
    }), encoding="utf-8")
    save_file({"w": np.ones(1, np.float32)}, str(model / "weights.safetensors"))
    (plugin / "interval-plugin.json").write_text(json.dumps({
        "id": "org.test.hostile", "name": HOSTILE, "version": "1.0.0",
        "description": HOSTILE, "author": HOSTILE, "interval_api": ">=1.0,<2",
        "contributes": {"segmentation_models": ["models/evil"]},
    }), encoding="utf-8")
    refused = root / HOSTILE_NAME
    refused.mkdir()
    (refused / "interval-plugin.json").write_text(json.dumps({
        "id": HOSTILE, "name": HOSTILE, "version": "1.0.0", "interval_api": ">=1.0,<2",
        "contributes": {"segmentation_models": []},
    }), encoding="utf-8")
    return root


def _write_hostile_series(folder: Path) -> Path:
    """A 4-slice CT series whose patient name and descriptions are HTML."""
    from interval.io.synthetic.dicom_writer import SeriesTags, write_ct_series
    from interval.io.synthetic.grid import Grid

    grid = Grid((4, 16, 16), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))
    tags = SeriesTags(
        patient_name=HOSTILE_NAME, patient_id="HOSTILE1", patient_birth_date=date(1970, 1, 1),
        patient_sex="O", study_instance_uid="1.2.826.0.1.3680043.2.1125.99.2",
        study_date=date(2020, 1, 2), study_time="101010", study_id="1",
        study_description=HOSTILE, accession_number="A1",
        series_instance_uid="1.2.826.0.1.3680043.2.1125.99.3", series_number=3,
        series_description=HOSTILE, frame_of_reference_uid="1.2.826.0.1.3680043.2.1125.99.4",
    )
    write_ct_series(np.zeros(grid.shape, np.int16), grid, folder, tags)
    return folder


def _image() -> Volume:
    array = np.zeros((6, 16, 16), np.int16)
    array[2:4, 4:12, 4:12] = 100
    meta = VolumeMetadata(modality="CT", series_description=HOSTILE,
                          series_instance_uid=SERIES_UID)
    return Volume(array, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), metadata=meta)


# --- the walk -------------------------------------------------------------------------------


def _model_leaks(view: QAbstractItemView, where: str) -> list[str]:
    model = view.model()
    out: list[str] = []
    if model is None:
        return out

    def columns(parent: QModelIndex) -> int:
        try:
            return model.columnCount(parent)
        except TypeError:  # a list model: one column (columnCount is private there)
            return 1

    def walk(parent: QModelIndex, depth: int) -> None:
        for row in range(model.rowCount(parent)):
            for col in range(columns(parent)):
                index = model.index(row, col, parent)
                for role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.WhatsThisRole):
                    value = model.data(index, role)
                    if isinstance(value, str) and _unescaped(value):
                        out.append(f"{where} item ({row}, {col}) {role.name}: {value!r}")
            if depth < 8:
                walk(model.index(row, 0, parent), depth + 1)

    walk(QModelIndex(), 0)
    return out


def rich_text_leaks() -> list[str]:
    """Every place a widget would render the hostile markup as rich text."""
    out: list[str] = []
    for w in QApplication.allWidgets():
        where = f"{type(w).__name__} {w.objectName()!r}"
        if isinstance(w, QLabel | QMessageBox) and w.textFormat() != Qt.TextFormat.PlainText:
            texts = [w.text()]
            if isinstance(w, QMessageBox):
                texts.append(w.informativeText())
            out += [f"{where} text: {t!r}" for t in texts if _unescaped(t)]
        for name in ("toolTip", "whatsThis"):
            text = getattr(w, name)()
            if _unescaped(text):
                out.append(f"{where} {name}: {text!r}")
        if isinstance(w, QTextEdit) and "<img" in w.toHtml().lower():
            out.append(f"{where} document holds an image")
        if isinstance(w, QAbstractItemView) and not isinstance(w, QHeaderView):
            out += _model_leaks(w, where)
        for action in w.actions():
            if isinstance(action, QAction) and _unescaped(action.toolTip()) and (
                    action.toolTip() != action.text().replace("&", "")):
                out.append(f"{where} action tooltip: {action.toolTip()!r}")
    return out


def _all_text() -> str:
    """Everything the widgets show, as plain text (to check the hostile data got there)."""
    parts: list[str] = []
    for w in QApplication.allWidgets():
        if isinstance(w, QLabel):
            parts.append(w.text())
        if isinstance(w, QTextEdit):
            parts.append(w.toPlainText())
        if isinstance(w, QAbstractItemView) and w.model() is not None:
            model = w.model()
            try:
                n_cols = model.columnCount()
            except TypeError:
                n_cols = 1
            for row in range(model.rowCount()):
                for col in range(n_cols):
                    parts.append(str(model.data(model.index(row, col)) or ""))
    return "\n".join(parts)


@pytest.fixture
def hostile_root(tmp_path: Path) -> Path:
    return _write_hostile_plugins(tmp_path / "plugins")


def test_no_widget_renders_hostile_text_as_html(qtbot, tmp_path, monkeypatch,
                                                 hostile_root) -> None:
    from interval.ui.main_window import MainWindow

    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("INTERVAL_PLUGIN_PATH", str(hostile_root))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))  # no user plugins
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1200, 760)
    w.show()
    try:
        panel = w.ai_panel
        qtbot.waitUntil(lambda: panel.registry is not None, timeout=TIMEOUT_MS)
        # "N plugin(s) refused (names)": the refused plugin is named by its HTML
        status = panel.status.text()
        assert "plugin(s) refused" in status and (HOSTILE_NAME in status or HOSTILE in status)
        assert not (leaks := rich_text_leaks()), "\n".join(leaks)
        # a DICOM folder whose patient name and descriptions are HTML
        series = _write_hostile_series(tmp_path / HOSTILE_NAME)
        w.open_path(series)
        qtbot.waitUntil(lambda: w.index_result is not None, timeout=TIMEOUT_MS)
        qtbot.waitUntil(lambda: w.load_job is None or w.load_job.done.is_set(),
                        timeout=TIMEOUT_MS)
        # an image file whose name is HTML (and which cannot be read)
        bad = tmp_path / f"{HOSTILE_NAME}.nii.gz"
        bad.write_bytes(b"not a nifti file")
        w.open_path(bad)
        qtbot.waitUntil(lambda: any(HOSTILE_NAME in e[2] or HOSTILE_NAME in e[1]
                                    for e in w.problems.entries()), timeout=TIMEOUT_MS)
        # an image with an HTML series description, a label map with HTML label names,
        # a measurement labelled with HTML
        image = _image()
        w.state.add_volume(image, name=HOSTILE)
        labels = image.with_array((image.array > 50).astype(np.uint8),
                                  labels=LabelTable([LabelInfo(1, HOSTILE, (0, 255, 0))]))
        w.state.add_volume(labels, name=HOSTILE)
        w.book.for_series(SERIES_UID).add_ruler((0, 0, 0), (3, 4, 0), label=HOSTILE)
        # the hostile model: listed, selected, run in its process; its error is HTML
        panel.show_all.setChecked(True)
        assert panel.select_model("evil")
        panel.run()
        qtbot.waitUntil(lambda: panel.job is None, timeout=TIMEOUT_MS)
        assert "BIG</b> model error" in panel.status.text()
        # the status bar, cut short (its tooltip then holds the whole text)
        w.message.resize(60, 20)
        w._set_message(HOSTILE)
        # the Plugin Manager, each row's details shown
        dialog = w.show_plugin_manager()
        qtbot.waitUntil(lambda: dialog.table.rowCount() >= 2, timeout=TIMEOUT_MS)
        for row in range(dialog.table.rowCount()):
            dialog.table.selectRow(row)
            assert not (leaks := rich_text_leaks()), "\n".join(leaks)
        # the hostile text did reach the widgets (shown literally)
        shown = _all_text()
        for where in (HOSTILE, HOSTILE_NAME, HOSTILE + " model error"):
            assert where in shown
        assert "refused" in dialog.summary.text()
        assert not (leaks := rich_text_leaks()), "\n".join(leaks)
    finally:
        w.shutdown()

