"""The AI panel in the main window: models that fit the series, Run with progress and Cancel,
the result as a label layer drawn in the views, saving it, and misbehaving models (crash,
exception, hang) that leave the viewer running with a clear message - never a dialog."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import VolumeMetadata
from interval.core.viewer_state import LabelLayer
from interval.core.volume import Volume
from interval.ui.main_window import MainWindow

TIMEOUT_MS = 60_000
PLUGIN_ID = "org.test.ai-panel"
GREEN = (0, 255, 0)
NETS = "ai_panel_nets"  # tests/ui/_ai_nets.py, copied into the plugin (its own code)
SHAPE = (10, 24, 24)


def _model(name: str, entry: str, *, modality: list[str] | None = None,
           params: dict[str, Any] | None = None, patch: list[int] | None = None) -> dict:
    return {
        "format": 1, "name": name, "version": "1.0.0", "task": "segmentation",
        "description": f"test model {name}",
        "modality": ["CT"] if modality is None else modality,
        "labels": [{"value": 1, "name": "bright", "color": list(GREEN)}],
        "target_spacing": None, "orientation": None,
        "patch_size": patch or [8, 16, 16],
        "normalization": {"scheme": "none"},
        "network": {"type": "plugin", "entry": entry, "params": params or {},
                    "weights": "weights.safetensors"},
        "output": {"activation": "softmax", "channels": 2},
        "inference": {"overlap": 0.25, "batch_size": 1, "mirror_tta": False,
                      "blend": "gaussian"},
    }


MODELS = {
    "threshold": _model("tiny-threshold", f"{NETS}:build_threshold",
                        params={"threshold": 50.0}),
    "slow": _model("slow-threshold", f"{NETS}:build_slow",
                   params={"threshold": 50.0, "delay": 0.25}, patch=[2, 4, 4]),
    "hang": _model("hanging-model", f"{NETS}:build_slow",
                   params={"threshold": 50.0, "delay": 60.0}),
    "crash": _model("crashing-model", f"{NETS}:build_segfault"),
    "broken": _model("broken-model", f"{NETS}:build_broken"),
    "mr": _model("mr-only", f"{NETS}:build_threshold", modality=["MR"]),
}


def _write_plugins(root: Path) -> Path:
    """A plugin folder with the test models (weights written without torch) and a
    plugin whose manifest asks for an API this build does not have."""
    from safetensors.numpy import save_file

    plugin = root / "ai-panel-plugin"
    plugin.mkdir(parents=True)
    shutil.copyfile(Path(__file__).with_name("_ai_nets.py"), plugin / f"{NETS}.py")
    for key, model in MODELS.items():
        folder = plugin / "models" / key
        folder.mkdir(parents=True)
        (folder / "model.json").write_text(json.dumps(model), encoding="utf-8")
        save_file({"conv.weight": np.ones((1, 1, 1, 1, 1), np.float32),
                   "conv.bias": np.full(1, -50.0, np.float32)},
                  str(folder / "weights.safetensors"))
    manifest = {
        "id": PLUGIN_ID, "name": "AI panel test models", "version": "1.0.0",
        "interval_api": ">=1.0,<2",
        "contributes": {"segmentation_models": [f"models/{k}" for k in MODELS]},
    }
    (plugin / "interval-plugin.json").write_text(json.dumps(manifest), encoding="utf-8")
    future = root / "future-plugin"
    future.mkdir()
    (future / "interval-plugin.json").write_text(json.dumps({
        "id": "org.test.future", "name": "From the future", "version": "3.0.0",
        "interval_api": ">=9.0", "contributes": {"segmentation_models": []},
    }), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def plugin_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_plugins(tmp_path_factory.mktemp("aipanel") / "plugins")


def _image(modality: str = "CT") -> Volume:
    array = np.zeros(SHAPE, np.int16)
    array[2:8, 5:19, 6:16] = 100
    array[4, 10:12, 2:4] = 80  # a small second bright spot
    return Volume(array, spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0),
                  metadata=VolumeMetadata(modality=modality, series_description="phantom"))


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, plugin_root) -> MainWindow:
    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("INTERVAL_PLUGIN_PATH", str(plugin_root))
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1200, 760)
    w.show()
    qtbot.waitUntil(lambda: w.ai_panel.registry is not None, timeout=TIMEOUT_MS)
    yield w
    w.shutdown()


def _no_dialogs() -> bool:
    return not any(
        isinstance(w, QDialog | QMessageBox) and w.isVisible()
        for w in QApplication.topLevelWidgets()
    )


def _label_layers(window: MainWindow) -> list[LabelLayer]:
    return [la for la in window.state.layers if isinstance(la, LabelLayer)]


def _green(frame: np.ndarray) -> int:
    rgb = frame[..., :3].astype(int)
    return int(((rgb[..., 1] - rgb[..., 0] > 60) & (rgb[..., 1] - rgb[..., 2] > 60)).sum())


def _run(qtbot, window: MainWindow, model: str):
    panel = window.ai_panel
    assert panel.select_model(model)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    job = panel.job
    assert job is not None and not panel.run_button.isEnabled()
    return job


class _TorchWatch:
    """A meta-path finder recording (and refusing) every attempt to import torch."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "torch" or name.startswith("torch."):
            self.attempts.append(name)
            raise ModuleNotFoundError(f"torch is blocked in this test ({name})")
        return None


def test_lists_fitting_models_without_importing_torch(qtbot, tmp_path, monkeypatch,
                                                      plugin_root) -> None:
    # hide torch (other tests may have imported it) and record any attempt to import it
    for name in [n for n in sys.modules if n == "torch" or n.startswith("torch.")]:
        monkeypatch.delitem(sys.modules, name)
    watch = _TorchWatch()
    monkeypatch.setattr(sys, "meta_path", [watch, *sys.meta_path])
    from interval.plugins import discovery

    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    # what `interval view --plugins-dir DIR` does before the window opens
    monkeypatch.setattr(discovery, "_session_dirs", [])
    discovery.set_session_plugin_dirs([plugin_root])
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    try:
        panel = w.ai_panel
        assert panel is not None and w.findChild(type(panel), "aiPanel") is panel
        qtbot.waitUntil(lambda: panel.registry is not None, timeout=TIMEOUT_MS)
        w.state.add_volume(_image("CT"), name="phantom")
        names = panel.model_names(enabled_only=True)
        assert {"tiny-threshold", "crashing-model", "broken-model"} <= set(names)
        assert "mr-only" not in panel.model_names()  # hidden: made for MR
        assert "do not fit" in panel.hidden_label.text()
        assert "phantom (CT)" in panel.series_label.text()
        # "Show all": listed, greyed, with the reason
        panel.show_all.setChecked(True)
        item = panel.item_for("mr-only")
        assert item is not None and not item.flags() & Qt.ItemFlag.ItemIsEnabled
        assert "for MR images; this series is CT" in item.toolTip()
        assert "mr-only" not in panel.model_names(enabled_only=True)
        # the selected model's details: plugin, labels with colour swatches, spacing
        assert panel.select_model("tiny-threshold")
        assert PLUGIN_ID in panel.details.text() and "native" in panel.details.text()
        assert panel.label_list.count() == 1
        label = panel.label_list.item(0)
        assert label.text() == "1: bright" and label.data(Qt.ItemDataRole.UserRole) == GREEN
        swatch = label.icon().pixmap(8, 8).toImage().pixelColor(4, 4)
        assert (swatch.red(), swatch.green(), swatch.blue()) == GREEN
        assert panel.overlap.value() == pytest.approx(0.25)  # model.json's default
        assert w._dicom_sources(w.state.active_volume) is None  # not read from DICOM
        devices = [panel.device.itemData(i) for i in range(panel.device.count())]
        assert devices[:2] == ["auto", "cpu"]
        assert panel.run_button.isEnabled()
        # the user's options survive a change of the open volumes, and go to the run
        panel.overlap.setValue(0.5)
        panel.mirror.setChecked(True)
        panel.device.setCurrentIndex(1)
        w.state.add_volume(_image("CT"), name="second")
        opts = panel.options()
        assert (opts.device, opts.overlap, opts.mirror_tta) == ("cpu", 0.5, True)
        assert opts.confidence is False  # the panel shows labels only: no map computed
        # an MR image: the MR model fits, the CT ones do not
        w.state.add_volume(_image("MR"), name="mr")
        w.state.set_active_volume(w.state.layers[-1].volume_id)
        ours = {m["name"] for m in MODELS.values()}
        assert [n for n in panel.model_names(enabled_only=True) if n in ours] == ["mr-only"]
        # the refused plugin is named, and listed with its reason in the Plugin Manager
        assert "refused" in panel.status.text()
        dialog = w.show_plugin_manager()
        assert dialog is not None and dialog.isVisible() and not dialog.isModal()
        rows = {dialog.table.item(r, 1).text(): dialog.status_of(r)
                for r in range(dialog.table.rowCount())}
        assert rows[PLUGIN_ID] == "Loaded" and rows["org.test.future"] == "Refused"
        refused = next(r for r in dialog.registry.refused if r.plugin_id == "org.test.future")
        assert "9.0" in refused.reason
        dialog.close()
        assert watch.attempts == []
        assert "torch" not in sys.modules
    finally:
        w.shutdown()


def test_run_adds_a_label_layer_drawn_in_the_views_and_saves_it(qtbot, window,
                                                                  tmp_path) -> None:
    """Run on a CT series read from DICOM: progress, a label layer with the model's labels
    drawn over the image, a timing line; saved as NIfTI (+ labels sidecar) and as a DICOM
    SEG referencing the source images (what PACS and other viewers need)."""
    import pydicom

    from interval.io.image_files import read_image
    from interval.io.label_tables import json_sidecar_path, read_label_json
    from interval.io.synthetic.patient import generate_patient

    patient = generate_patient(tmp_path / "patient", seed=3, n_timepoints=1, shape=(8, 32, 32),
                               ground_truth=False, keep_arrays=False)
    window.open_path(patient.dicom_dir)
    qtbot.waitUntil(lambda: window.loaded_stack_uid is not None, timeout=TIMEOUT_MS)
    image = window.state.active_volume
    assert image.metadata.modality == "CT"
    axial = window.views.views["axial"]
    axial.set_crosshair_visible(False)
    assert _green(axial.capture()) == 0
    panel = window.ai_panel
    assert "tiny-threshold" in panel.model_names(enabled_only=True)
    reports: list[tuple[int, int]] = []
    job = _run(qtbot, window, "tiny-threshold")
    job.signals.progress.connect(lambda d, t: reports.append((d, t)))
    assert panel.progress.isVisible() and panel.cancel_button.isEnabled()
    with qtbot.waitSignal(panel.result_added, timeout=TIMEOUT_MS) as blocker:
        pass
    layer = window.state.layer(blocker.args[0])
    assert isinstance(layer, LabelLayer) and layer.name == "AI: tiny-threshold"
    info = layer.labels[1]
    assert (info.name, tuple(info.color)) == ("bright", GREEN)
    labels = window.state.volume(layer.volume_id)
    expected = (image.array > 50).astype(np.uint8)
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(labels.array, expected)
    assert labels.same_grid(image)
    assert window.state.active_volume is image  # the image stays the active one
    assert reports and reports[-1][0] == reports[-1][1] > 0
    assert panel.status.text().startswith("Done in ") and panel.status.text().endswith(" on CPU.")
    assert "done in" in window.message.text()
    assert not panel.progress.isVisible() and panel.run_button.isEnabled()
    # the overlay is drawn in the axial view
    qtbot.waitUntil(lambda: _green(axial.capture()) > 20, timeout=TIMEOUT_MS)
    # NIfTI + labels sidecar
    assert panel.save_button.isEnabled()
    out = tmp_path / "tiny.nii.gz"
    with qtbot.waitSignal(panel.saved, timeout=TIMEOUT_MS):
        panel.save(out)
    saved = read_image(out)
    np.testing.assert_array_equal(saved.array, labels.array)
    assert saved.same_grid(image)
    table = read_label_json(json_sidecar_path(out))
    assert table[1].name == "bright" and tuple(table[1].color) == GREEN
    # DICOM SEG referencing every source image
    sources = panel.dicom_sources()
    assert sources is not None and len(sources) == image.array.shape[0]
    seg_path = tmp_path / "tiny-seg.dcm"
    with qtbot.waitSignal(panel.saved, timeout=TIMEOUT_MS):
        panel.save(seg_path)
    seg = pydicom.dcmread(seg_path)
    assert seg.Modality == "SEG"
    assert seg.SegmentSequence[0].SegmentLabel == "bright"
    assert seg.SegmentSequence[0].SegmentAlgorithmName == "tiny-threshold"
    referenced = {
        item.ReferencedSOPInstanceUID
        for series in seg.ReferencedSeriesSequence
        for item in series.ReferencedInstanceSequence
    }
    assert referenced == set(image.metadata.sop_instance_uids)
    assert _no_dialogs()


def test_cancel_during_a_slow_model_adds_nothing(qtbot, window) -> None:
    window.state.add_volume(_image("CT"), name="phantom")
    panel = window.ai_panel
    job = _run(qtbot, window, "slow-threshold")
    qtbot.waitUntil(lambda: panel.progress.maximum() > 0, timeout=TIMEOUT_MS)  # it reports
    t0 = time.monotonic()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.job is None, timeout=TIMEOUT_MS)
    assert time.monotonic() - t0 < 8.0  # asked to stop; stopped by force after 5 s at most
    assert job.state == "cancelled"
    assert "cancelled" in panel.status.text() and "cancelled" in window.message.text()
    assert _label_layers(window) == []
    assert window.problems.entries() == []  # a cancel is not a problem
    assert panel.run_button.isEnabled() and not panel.progress.isVisible()


@pytest.mark.parametrize(
    ("model", "expected"),
    [("crashing-model", "stopped unexpectedly (signal 11"),
     ("broken-model", "deliberately broken plugin")],
)
def test_misbehaving_model_leaves_the_viewer_running(qtbot, window, model, expected) -> None:
    image = _image("CT")
    window.state.add_volume(image, name="phantom")
    panel = window.ai_panel
    job = _run(qtbot, window, model)
    qtbot.waitUntil(lambda: panel.job is None, timeout=TIMEOUT_MS)
    assert job.state == "failed"
    entries = window.problems.entries()
    found = [e for e in entries if expected in e[2]]
    assert found, entries
    assert found[0][1] == f"AI: {model}" and "viewer is unaffected" in found[0][2]
    assert window.problems.isVisible() and expected in window.message.text()
    assert expected in panel.status.text()
    assert _label_layers(window) == [] and _no_dialogs()
    # the viewer still works: step a slice, add a layer, the views draw it
    before = window.state.slice_index("axial")
    window.state.step_slice("axial", 1)
    assert window.state.slice_index("axial") == before + 1
    window.state.step_slice("axial", -1)
    mask = image.with_array((image.array > 50).astype(np.uint8),
                            labels=LabelTable([LabelInfo(1, "manual", GREEN)]))
    window.state.add_volume(mask, name="manual")
    axial = window.views.views["axial"]
    axial.set_crosshair_visible(False)
    qtbot.waitUntil(lambda: _green(axial.capture()) > 50, timeout=TIMEOUT_MS)
    assert panel.run_button.isEnabled()


def test_hanging_model_is_stopped_after_the_time_limit(qtbot, window) -> None:
    window.state.add_volume(_image("CT"), name="phantom")
    panel = window.ai_panel
    panel.timeout_s = 2.0
    _run(qtbot, window, "hanging-model")
    qtbot.waitUntil(lambda: panel.job is None, timeout=TIMEOUT_MS)
    assert any("did not finish within 2 s" in e[2] for e in window.problems.entries())
    assert _label_layers(window) == [] and _no_dialogs()


def test_results_are_named_apart_warned_about_and_dropped_when_the_image_closed(
        qtbot, window, monkeypatch) -> None:
    """Panel logic with the model process replaced by a stand-in (no child process)."""
    import threading

    from interval.ai import runner
    from interval.ai.options import SegmentationResult

    gate = threading.Event()
    calls: list[dict[str, Any]] = []

    def fake(volume, model_dir, options, *, progress, cancel, timeout, code_path,  # noqa: ANN001, ANN202
             memory_limit_bytes):
        calls.append({"folder": Path(model_dir), "options": options,
                      "memory_limit_bytes": memory_limit_bytes})
        assert gate.wait(30)
        progress(1, 1)
        table = LabelTable([LabelInfo(1, "bright", GREEN)])
        labels = volume.with_array((volume.array > 50).astype(np.uint8), labels=table)
        return SegmentationResult(labels, {"network": 0.5}, "cpu", ["resampled for the model"])

    monkeypatch.setattr(runner, "run_segmentation", fake)
    image = _image("CT")
    vid = window.state.add_volume(image, name="phantom")
    panel = window.ai_panel
    for _ in range(2):
        gate.set()
        _run(qtbot, window, "tiny-threshold")
        qtbot.waitUntil(lambda: panel.job is None, timeout=TIMEOUT_MS)
    assert calls[0]["folder"].name == "threshold"
    assert calls[0]["memory_limit_bytes"] is None  # "Automatic": the runner's own limit
    assert [la.name for la in _label_layers(window)] == ["AI: tiny-threshold", "AI: tiny-threshold (2)"]
    warned = [e for e in window.problems.entries() if e[1] == "AI: tiny-threshold"]
    assert len(warned) == 2 and warned[0][2] == "resampled for the model"
    assert "network: 0.50 s" in panel.status.toolTip()
    # the image is closed while the model runs: its result is dropped, in words
    gate.clear()
    _run(qtbot, window, "tiny-threshold")
    window.state.remove_volume(vid)
    gate.set()
    qtbot.waitUntil(lambda: panel.job is None, timeout=TIMEOUT_MS)
    assert len(_label_layers(window)) == 2  # the two earlier results only
    assert "dropped" in panel.status.text()
    assert not panel.run_button.isEnabled()  # nothing to run on


def test_memory_limit_is_remembered_and_given_to_the_model_process(
        qtbot, tmp_path, monkeypatch, plugin_root) -> None:
    """"Memory limit for models": Automatic (None) or GiB, kept in the settings between
    sessions and handed to run_segmentation as memory_limit_bytes."""
    from interval.ai import runner
    from interval.core.errors import IntervalError
    from interval.ui.settings import load_settings

    seen: list[int | None] = []

    def fake(volume, model_dir, options, **kwargs):  # noqa: ANN001, ANN003, ANN202
        seen.append(kwargs["memory_limit_bytes"])
        raise IntervalError("stand-in: no model run")

    monkeypatch.setattr(runner, "run_segmentation", fake)
    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("INTERVAL_PLUGIN_PATH", str(plugin_root))
    first = MainWindow()
    qtbot.addWidget(first)
    panel = first.ai_panel
    assert panel.memory_limit_gib() is None and panel.memory_limit.text() == "Automatic"
    qtbot.waitUntil(lambda: panel.registry is not None, timeout=TIMEOUT_MS)
    first.state.add_volume(_image("CT"), name="phantom")
    for value, expected in ((0.0, None), (6.5, int(6.5 * 2**30))):
        panel.memory_limit.setValue(value)
        _run(qtbot, first, "tiny-threshold")
        qtbot.waitUntil(lambda: panel.job is None, timeout=TIMEOUT_MS)
        assert seen[-1] == expected
    first.shutdown()
    assert load_settings().model_memory_limit_gib == 6.5
    second = MainWindow()  # the next session starts with the user's limit
    qtbot.addWidget(second)
    try:
        assert second.ai_panel.memory_limit_gib() == 6.5
        assert second.ai_panel.memory_limit_bytes() == int(6.5 * 2**30)
    finally:
        second.shutdown()
