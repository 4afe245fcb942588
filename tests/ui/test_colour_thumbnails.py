"""Thumbnails of colour images are in colour: RGB, YBR and palette images as read (RGB)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from PySide6.QtGui import QColor, QImage

from interval.io.dicom.index import index_files, index_folder
from interval.io.dicom.policy import DicomReadPolicy
from interval.ui.main_window import MainWindow
from interval.ui.workers import middle_slice_thumbnail
from tests.io.dicom.test_colour import write_rgb_capture

SERIAL = DicomReadPolicy(workers=1)
TIMEOUT_MS = 30_000
RED, BLUE = (220, 20, 30), (10, 40, 230)


def _red_blue(folder: Path) -> Path:
    """A 128 x 160 RGB secondary capture: the left half red, the right half blue."""
    rgb = np.zeros((128, 160, 3), np.uint8)
    rgb[:, :80] = RED
    rgb[:, 80:] = BLUE
    return write_rgb_capture(folder / "capture.dcm", rgb)


def test_rgb_capture_thumbnail_keeps_its_colours(tmp_path: Path) -> None:
    _red_blue(tmp_path / "sc")
    stack = next(index_folder(tmp_path / "sc", SERIAL).iter_stacks())
    thumb = middle_slice_thumbnail(stack, size=64)
    assert thumb is not None and thumb.dtype == np.uint8
    assert thumb.ndim == 3 and thumb.shape[2] == 3 and max(thumb.shape[:2]) <= 64
    h, w = thumb.shape[:2]
    assert thumb[h // 2, 2].tolist() == list(RED)
    assert thumb[h // 2, w - 3].tolist() == list(BLUE)


@pytest.mark.parametrize("name", ["SC_rgb.dcm", "SC_ybr_full_uncompressed.dcm", "OBXXXX1A.dcm"])
def test_ybr_and_palette_thumbnails_are_their_rgb_pixels(tmp_path: Path, name: str) -> None:
    src = get_testdata_file(name)
    assert src is not None, f"pydicom-data lacks {name}"
    path = Path(shutil.copy(src, tmp_path / name))
    stack = next(index_files([path], root=tmp_path, policy=SERIAL).iter_stacks())
    thumb = middle_slice_thumbnail(stack, size=64)
    assert thumb is not None and thumb.ndim == 3 and thumb.shape[2] == 3
    # not grey: the channels differ somewhere
    assert np.abs(thumb.astype(int) - thumb.astype(int).mean(axis=2, keepdims=True)).max() > 30
    # the colours pydicom gives (its pixel_array is RGB for YBR already), to rounding
    ds = pydicom.dcmread(path)
    rgb = ds.pixel_array
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        rgb = pydicom.pixels.apply_color_lut(rgb, ds)
        rgb = (rgb >> 8).astype(np.uint8) if rgb.dtype != np.uint8 else rgb
    step = max(1, int(np.ceil(max(rgb.shape[:2]) / 64)))
    expected = rgb[::step, ::step].astype(int)
    assert np.abs(thumb.astype(int) - expected).max() <= 2


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MainWindow:
    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    yield w
    w.shutdown()


def test_browser_row_icon_of_a_colour_capture_is_coloured(qtbot, window, tmp_path: Path) -> None:
    _red_blue(tmp_path / "sc")
    window.open_path(tmp_path / "sc")
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)
    browser = window.browser
    ((uid, _stack),) = browser.stacks()
    qtbot.waitUntil(lambda: browser.has_thumbnail(uid), timeout=TIMEOUT_MS)
    icon = browser.item_for(uid).icon(0)
    image = icon.pixmap(icon.availableSizes()[0]).toImage().convertToFormat(QImage.Format.Format_RGB888)
    h, w = image.height(), image.width()
    left, right = QColor(image.pixel(2, h // 2)), QColor(image.pixel(w - 3, h // 2))
    assert (left.red(), left.green(), left.blue()) == RED
    assert (right.red(), right.green(), right.blue()) == BLUE
