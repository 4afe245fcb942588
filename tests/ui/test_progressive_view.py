"""The main window shows a series while it loads: the middle slice first, the rest as it
arrives; cancel or a failure mid-way puts back what was shown before."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from PySide6.QtCore import Qt

from interval.io.dicom import load as load_module
from interval.ui.main_window import MainWindow
from interval.ui.progressive_load import ProgressiveLoad
from interval.ui.workers import PartialVolume

TIMEOUT_MS = 30_000
N, SIZE = 60, 48
INNER = slice(12, 36)  # the bright square of every slice (rows and columns)
MID = (N - 1) // 2


def _write(folder: Path, base_hu: int, modality: str = "CT") -> list[Path]:
    """A CT series: slice k holds ``base_hu + k`` HU in a square, ``-700`` HU around it.

    ``"MR"``: no window tags and no rescale; the square holds ``base_hu + k``, 100 around it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for k in range(N):
        hu = np.full((SIZE, SIZE), -700 if modality == "CT" else 100 - 1024, np.int32)
        hu[INNER, INNER] = base_hu + k
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = (
            "1.2.840.10008.5.1.4.1.1.2" if modality == "CT" else "1.2.840.10008.5.1.4.1.1.4"
        )
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.Modality, ds.PatientID, ds.PatientName = modality, "PV01", "PROGRESSIVE^VIEW"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SeriesNumber, ds.SeriesDescription = 1, f"base {base_hu}"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = ["-12", "-12", f"{2.0 * k:.1f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.PixelSpacing = ["0.5", "0.5"]
        ds.SliceThickness = "2"
        ds.Rows = ds.Columns = SIZE
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        if modality == "CT":
            ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
            ds.WindowCenter, ds.WindowWidth = "0", "1000"
        ds.PixelData = (hu + 1024).astype("<u2").tobytes()
        path = folder / f"f{(k * 37) % N:03d}.dcm"  # names not in slice order
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def grey(hu: float) -> float:
    """The DICOM linear window (c 0, w 1000) of ``hu``."""
    return float(np.clip(((hu + 0.5) / 999 + 0.5) * 255, 0, 255))


class Gate:
    """Replaces load_stack: holds the loader inside its first on_partial until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, on_first=None, hold_at: int = 1) -> None:
        self.real = load_module.load_stack
        self.release = threading.Event()
        self.first = threading.Event()  # set when the loader is held
        self.on_first = on_first
        self.hold_at = hold_at  # hold in this call of on_partial (1: the middle slice)
        self.calls = 0
        monkeypatch.setattr(load_module, "load_stack", self.gated)

    def gated(self, stack, policy, *, progress=None, cancel=None, on_partial=None):
        def hold(volume, filled) -> None:
            on_partial(volume, filled)
            self.calls += 1
            if self.first.is_set() or self.calls < self.hold_at:
                return
            self.held = filled.copy()  # reported final before the hold
            self.first.set()
            if self.on_first is not None:
                self.on_first()
            deadline = time.monotonic() + 30
            while not self.release.is_set() and not cancel() and time.monotonic() < deadline:
                time.sleep(0.005)

        assert on_partial is not None, "the viewer's load job should ask for partial volumes"
        return self.real(stack, policy, progress=progress, cancel=cancel, on_partial=hold)


def _grey_at(window: MainWindow, view_id: str, ijk: tuple[int, int, int]) -> float:
    """The image's grey at voxel ``ijk`` in a view (on-image text and letters hidden: on
    this narrow, tall series they cover the top of the coronal view)."""
    view = window.views.views[view_id]
    view.set_annotations_visible(False)
    volume = window.state.active_volume
    lps = volume.index_to_lps(np.asarray(ijk, dtype=np.float64))
    x, row = view.lps_to_display(lps)
    frame = view.capture()
    return float(frame[int(row), int(x), 0])


def _index(qtbot, window: MainWindow, folder: Path) -> dict[str, str]:
    window.open_path(folder)
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)
    return {window._stack_title(uid): uid for uid, _s in window.browser.stacks()}


@pytest.fixture
def two_series(tmp_path: Path) -> tuple[Path, list[Path], list[Path]]:
    root = tmp_path / "two"
    a = _write(root / "a", 300)
    b = _write(root / "b", -300)
    return root, a, b


def test_middle_slice_shown_before_the_rest_is_read(qtbot, window, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "one"
    _write(folder, 300)
    gate = Gate(monkeypatch)
    partials: list[PartialVolume] = []
    real_on_partial = ProgressiveLoad.on_partial
    monkeypatch.setattr(
        ProgressiveLoad, "on_partial", lambda self, p: (partials.append(p), real_on_partial(self, p))
    )
    window.open_path(folder)  # one series: loaded as soon as it is indexed
    qtbot.waitUntil(lambda: window.state.active_volume is not None, timeout=TIMEOUT_MS)
    job = window.load_job
    assert gate.first.is_set() and not job.done.is_set()  # the loader is still held
    volume = window.state.active_volume
    assert partials and int(partials[-1].filled.sum()) == 1 and partials[-1].filled[MID]
    assert window.state.slice_index("axial") == MID  # the crosshair sits on the read slice
    # the axial view shows the middle slice's real pixels ...
    assert _grey_at(window, "axial", (17, 17, MID)) == pytest.approx(grey(300 + MID), abs=3)
    assert _grey_at(window, "axial", (4, 17, MID)) == pytest.approx(grey(-700), abs=3)
    # ... while a far slice, not read yet, is still empty (0 HU) in the coronal view
    assert _grey_at(window, "coronal", (17, MID, 5)) == pytest.approx(grey(0), abs=3)

    gate.release.set()
    qtbot.waitUntil(lambda: job.state == "finished", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window._progressive is None, timeout=TIMEOUT_MS)
    assert window.state.active_volume is volume  # the same volume, now complete
    assert partials[-1].complete
    assert _grey_at(window, "coronal", (17, MID, 5)) == pytest.approx(grey(300 + 5), abs=3)
    assert _grey_at(window, "coronal", (17, MID, N - 3)) == pytest.approx(grey(300 + N - 3), abs=3)
    assert _grey_at(window, "axial", (17, 17, MID)) == pytest.approx(grey(300 + MID), abs=3)
    expected = np.full((N, SIZE, SIZE), -700, np.int16)
    expected[:, INNER, INNER] = (300 + np.arange(N))[:, None, None]
    np.testing.assert_array_equal(volume.array, expected)
    assert "60 voxels" in window.message.text() or f"x {N} voxels" in window.message.text()


def test_cancel_mid_load_restores_the_previous_series(qtbot, window, two_series, monkeypatch):
    root, _a, _b = two_series
    uids = _index(qtbot, window, root)
    first_job = window.load_stack(uids["#1 base 300"])
    qtbot.waitUntil(lambda: first_job.state == "finished", timeout=TIMEOUT_MS)
    previous = window.state.active_volume
    vid = window.state.active_volume_id
    window.state.set_window(vid, 100.0, 700.0, "mine")

    gate = Gate(monkeypatch)
    job = window.load_stack(uids["#1 base -300"])
    qtbot.waitUntil(lambda: window.state.active_volume is not previous, timeout=TIMEOUT_MS)
    assert window.state.active_volume is not None and previous not in window.state.volumes.values()
    assert _grey_at(window, "axial", (17, 17, MID)) == pytest.approx(grey(-300 + MID), abs=3)

    qtbot.mouseClick(window.progress.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.state == "cancelled", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "cancelled" in window.message.text(), timeout=TIMEOUT_MS)
    assert "previous series is shown again" in window.message.text()
    assert list(window.state.volumes.values()) == [previous]
    assert window.state.active_volume is previous
    assert window.state.window(vid).center == 100.0 and window.state.window(vid).width == 700.0
    assert window.problems.entries() == []  # a cancel is not an error
    gate.release.set()


def test_cancel_with_nothing_before_leaves_nothing(qtbot, window, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "one"
    _write(folder, 300)
    Gate(monkeypatch)
    window.open_path(folder)
    qtbot.waitUntil(lambda: window.state.active_volume is not None, timeout=TIMEOUT_MS)
    job = window.load_job
    job.cancel()
    qtbot.waitUntil(lambda: job.state == "cancelled", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "cancelled" in window.message.text(), timeout=TIMEOUT_MS)
    assert window.state.volumes == {} and window.state.active_volume is None
    assert "closed" in window.message.text()


def test_file_failing_mid_load_restores_and_reports(qtbot, window, two_series, monkeypatch):
    root, _a, b = two_series
    uids = _index(qtbot, window, root)
    first_job = window.load_stack(uids["#1 base 300"])
    qtbot.waitUntil(lambda: first_job.state == "finished", timeout=TIMEOUT_MS)
    previous = window.state.active_volume

    victim = b[0]  # slice 0: read last, long after the middle one is shown
    gate = Gate(monkeypatch, on_first=victim.unlink)
    job = window.load_stack(uids["#1 base -300"])
    qtbot.waitUntil(lambda: window.state.active_volume is not previous, timeout=TIMEOUT_MS)
    gate.release.set()
    qtbot.waitUntil(lambda: job.state == "failed", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.state.active_volume is previous, timeout=TIMEOUT_MS)
    assert list(window.state.volumes.values()) == [previous]
    texts = " ".join(str(e) for e in window.problems.entries())
    assert "not found" in texts or "could not be read" in texts
    assert window.problems.isVisible()


def test_slices_read_later_appear_before_completion(qtbot, window, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "one"
    _write(folder, 300)
    gate = Gate(monkeypatch, hold_at=2)  # held after the second batch of slices
    window.open_path(folder)
    qtbot.waitUntil(gate.first.is_set, timeout=TIMEOUT_MS)
    shown = window._progressive
    qtbot.waitUntil(lambda: shown.filled > 1, timeout=TIMEOUT_MS)
    qtbot.wait(250)  # more than one refresh interval: the views were told about the new slices
    job = window.load_job
    assert not job.done.is_set()
    later = int(next(k for k in np.flatnonzero(gate.held) if k != MID))
    assert _grey_at(window, "coronal", (17, MID, later)) == pytest.approx(grey(300 + later), abs=3)
    gate.release.set()
    qtbot.waitUntil(lambda: window._progressive is None and job.state == "finished",
                    timeout=TIMEOUT_MS)


def test_automatic_window_recomputed_on_the_complete_volume(qtbot, window, tmp_path, monkeypatch):
    from interval.core.window_presets import initial_window

    folder = tmp_path / "mr"
    _write(folder, 1000, modality="MR")
    gate = Gate(monkeypatch)
    window.open_path(folder)
    qtbot.waitUntil(lambda: window.state.active_volume is not None, timeout=TIMEOUT_MS)
    vid = window.state.active_volume_id
    partial_window = window.state.window(vid)
    gate.release.set()
    job = window.load_job
    qtbot.waitUntil(lambda: window._progressive is None and job.state == "finished",
                    timeout=TIMEOUT_MS)
    final = initial_window(window.state.active_volume)  # the body's window, as on Reset
    got = window.state.window(vid)
    assert (got.center, got.width) == pytest.approx((final.center, final.width))
    assert (got.center, got.width) != pytest.approx((partial_window.center, partial_window.width))


def test_new_load_replaces_a_partial_one(qtbot, window, two_series, monkeypatch) -> None:
    root, _a, _b = two_series
    uids = _index(qtbot, window, root)
    gate = Gate(monkeypatch)  # holds the first load only
    first = window.load_stack(uids["#1 base 300"])
    qtbot.waitUntil(lambda: window.state.active_volume is not None, timeout=TIMEOUT_MS)
    partial = window.state.active_volume
    second = window.load_stack(uids["#1 base -300"])  # cancels the first
    qtbot.waitUntil(lambda: first.state == "cancelled" and second.state == "finished",
                    timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window._progressive is None, timeout=TIMEOUT_MS)
    qtbot.wait(50)  # any late signal of the first load has been delivered
    volumes = list(window.state.volumes.values())
    assert len(volumes) == 1 and volumes[0] is not partial
    assert int(volumes[0].array[MID, 20, 20]) == -300 + MID
    assert "base -300" in window.message.text()
    gate.release.set()


def test_nothing_reads_placeholder_slices_while_loading(qtbot, window, tmp_path, monkeypatch):
    """While the series loads, a voxel on a slice not read yet is "not loaded yet" in the
    status bar (not the placeholder 0 HU), an ROI is refused (its statistics would be
    computed on placeholders and never updated) and the AI dock waits; a ruler (geometry
    only) works.  Once loaded, all of them read the real values."""
    folder = tmp_path / "one"
    _write(folder, 300)
    gate = Gate(monkeypatch)
    window.open_path(folder)
    qtbot.waitUntil(lambda: window.state.active_volume is not None, timeout=TIMEOUT_MS)
    job = window.load_job
    volume = window.state.active_volume
    read = window.slices_still_loading()
    assert read is not None and read[MID] and not read[5]

    def lps(ijk: tuple[int, int, int]) -> np.ndarray:
        return volume.index_to_lps(np.asarray(ijk, dtype=np.float64))

    window._show_cursor_info("coronal", lps((17, MID, 5)))
    assert "not loaded yet" in window.cursor_info.text()
    assert " HU" not in window.cursor_info.text().split("|")[2]
    window._show_cursor_info("axial", lps((17, 17, MID)))
    assert f"{300 + MID} HU" in window.cursor_info.text()

    tool = window.measure_tool
    a, b = lps((14, 14, MID)), lps((33, 33, MID))
    window.select_tool("ellipse")
    assert tool.finish("axial", a, b) is None
    assert len(window.book) == 0 and "still loading" in window.message.text()
    assert tool.mode == "ellipse"  # still on: draw it again once loaded
    window.select_tool("ruler")
    ruler = tool.finish("axial", a, b)
    assert ruler is not None and ruler.shape.length_mm == pytest.approx(19 * 0.5 * 2**0.5)
    assert not window.ai_panel.widget().isEnabled()

    gate.release.set()
    qtbot.waitUntil(lambda: job.state == "finished", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window._progressive is None, timeout=TIMEOUT_MS)
    assert window.slices_still_loading() is None
    assert window.ai_panel.widget().isEnabled()
    window._show_cursor_info("coronal", lps((17, MID, 5)))
    assert f"{300 + 5} HU" in window.cursor_info.text()
    window.select_tool("ellipse")
    roi = tool.finish("axial", a, b)
    assert roi is not None and roi.stats.mean == pytest.approx(300 + MID)
