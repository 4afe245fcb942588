"""Study browser over a real (generated) DICOM folder, indexed by the real background worker."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics

from interval.core.viewer_state import LabelLayer
from interval.io.synthetic.patient import SyntheticPatient, generate_patient
from interval.ui.main_window import MainWindow
from interval.ui.study_browser import KIND_ROLE, REFUSED_FLAG, UID_ROLE
from tests.conftest import shared
from tests.io._rtstruct_data import Roi, square, write_ct_series, write_rtstruct

TIMEOUT_MS = 30_000
SHAPE = (30, 96, 96)


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> SyntheticPatient:
    root = tmp_path_factory.mktemp("browser") / "patient"
    return generate_patient(root, seed=3, n_timepoints=2, shape=SHAPE, ground_truth=False,
                            keep_arrays=False)


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MainWindow:
    monkeypatch.setenv("INTERVAL_CONFIG_DIR", str(tmp_path / "config"))
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1100, 700)
    w.show()
    yield w
    w.shutdown()


def _open(qtbot, window: MainWindow, path: Path) -> None:
    window.open_path(path)
    qtbot.waitUntil(lambda: window.index_result is not None, timeout=TIMEOUT_MS)


def test_tree_shows_patient_studies_and_series(qtbot, window, patient) -> None:
    _open(qtbot, window, patient.dicom_dir)
    browser = window.browser
    patients = browser.items_of_kind("patient")
    studies = browser.items_of_kind("study")
    series = browser.items_of_kind("series")
    assert len(patients) == 1
    assert "born" in patients[0].text(1)
    # date, time and patient position: studies of one day stay apart
    for item, tp in zip(studies, patient.timepoints, strict=True):
        assert re.fullmatch(rf"{tp.study_date.isoformat()}( \d\d:\d\d)?(, [A-Z]+)?", item.text(1))
    assert len(series) == 2
    for item in series:
        assert item.text(1).split(",")[0] == "CT"
        assert item.text(3) == str(SHAPE[0])
        assert item.parent().data(0, Qt.ItemDataRole.UserRole) == "study"
    assert browser.status.text().startswith("1 patient(s), 2 study(ies), 2 series")
    # thumbnails of the middle slice arrive from the background, one per series
    qtbot.waitUntil(lambda: all(browser.has_thumbnail(u) for u, _s in browser.stacks()),
                    timeout=TIMEOUT_MS)
    assert not series[0].icon(0).isNull()
    # nothing was loaded just by indexing (two stacks: the reader chooses)
    assert window.state.active_volume is None


def test_double_click_loads_the_series_in_the_background(qtbot, window, patient) -> None:
    _open(qtbot, window, patient.dicom_dir)
    tree = window.browser.tree
    item = window.browser.items_of_kind("series")[1]
    uid = item.data(0, Qt.ItemDataRole.UserRole + 1)
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    assert rect.isValid()
    # a real double click: press/release, then the double-click event (QTest's mouseDClick
    # alone sends no press, and QTreeView only double-clicks the item it saw pressed)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    # loaded_stack_uid is set when the load ENDS (the views show its slices before)
    qtbot.waitUntil(lambda: window.loaded_stack_uid == uid, timeout=TIMEOUT_MS)
    volume = window.state.active_volume
    assert volume.array.shape == SHAPE
    assert volume.metadata.study_date == patient.timepoints[1].study_date
    assert "96 x 96 x 30 voxels" in window.message.text()
    # loading another series replaces it (one image volume open)
    window.load_stack(window.browser.stacks()[0][0])
    qtbot.waitUntil(lambda: window.loaded_stack_uid != uid, timeout=TIMEOUT_MS)
    assert len(window.state.volumes) == 1


def test_opened_folder_becomes_a_recent_folder(qtbot, window, patient) -> None:
    _open(qtbot, window, patient.dicom_dir)
    folder = str(Path(patient.dicom_dir).resolve())
    assert window.settings.recent_folders[0] == folder
    assert [a.text() for a in window.recent_menu.actions()] == [folder]


def test_problem_flags_sit_in_the_first_column_with_tooltips(qtbot, window, patient) -> None:
    _open(qtbot, window, patient.dicom_dir)
    browser = window.browser
    uid = browser.stacks()[0][0]
    item = browser.item_for(uid)
    name = item.text(0)
    assert browser.problem_of(uid) is None and not name.startswith(("⚠", REFUSED_FLAG))
    assert all(item.toolTip(c) for c in range(4) if item.text(c))  # cut texts stay readable
    browser.mark_problem(uid, ["1 slice missing between 10 mm and 20 mm"], irregular=True)
    assert item.text(0) == f"⚠ {name}" and browser.problem_of(uid) == "irregular"
    assert all("1 slice missing" in item.toolTip(c) for c in range(4))
    browser.mark_problem(uid, ["This stack holds no images."], irregular=False)
    assert item.text(0) == f"{REFUSED_FLAG} {name}" and browser.problem_of(uid) == "refused"
    # both flags are glyphs the installed fonts draw (U+26D4 showed as an empty box)
    metrics = QFontMetrics(browser.tree.font())
    assert metrics.inFontUcs4(ord(REFUSED_FLAG)) and metrics.inFontUcs4(ord("⚠"))
    # the first column starts at the left edge of the tree, so the flag is never off-screen
    browser.tree.scrollToItem(item)
    assert browser.tree.columnViewportPosition(0) == 0
    assert browser.tree.visualItemRect(item).left() < browser.tree.viewport().width()


# --- objects, focus, study time / position, DTI rows, layers kept per series -----------------


@pytest.fixture(scope="module")
def rt_folder(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two CT studies of one day (10:15 HFS, 14:30 HFDL), an RTSTRUCT on the first, and
    dcmqi's 3-slice CT with its DICOM SEG (linked, not copied)."""
    root = tmp_path_factory.mktemp("objects") / "folder"
    a = write_ct_series(root / "a", study_time="101500", patient_position="HFS",
                        series_number=1, description="Morning CT")
    b = write_ct_series(root / "b", study_time="143000", patient_position="HFDL",
                        series_number=2, description="Afternoon CT")
    body = Roi(1, "Body", (0, 200, 0), [square(0.0, 0.0, 12.0)], z=a.z[1:6])
    gtv = Roi(2, "GTV", (220, 0, 0), [square(2.0, 2.0, 4.0)], z=a.z[2:4])
    rs = root / "rs.dcm"
    write_rtstruct(rs, a, [body, gtv], label="Plan A")
    seg_dir = root / "seg"
    seg_dir.mkdir()
    src = shared("dcmqi_data", "data", "segmentations")
    for f in sorted((src / "ct-3slice").glob("*.dcm")):
        (seg_dir / f.name).symlink_to(f)
    (seg_dir / "liver.dcm").symlink_to(src / "liver.dcm")
    return {"root": root, "a": a, "b": b, "rs": rs}


def _double_click(qtbot, tree, item) -> None:
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _series_item(browser, uid: str):
    return next(i for i in browser.items_of_kind("series") if i.data(0, UID_ROLE) == uid)


def _label_layers(window: MainWindow) -> list:
    return [layer for layer in window.state.layers if isinstance(layer, LabelLayer)]


def _views_have_focus(window: MainWindow) -> bool:
    focus = window.focusWidget()
    return any(focus is getattr(v, "vtk", None) for v in window.views.views.values())


def test_study_time_and_patient_position_tell_studies_apart(qtbot, window, rt_folder) -> None:
    _open(qtbot, window, rt_folder["root"])
    browser = window.browser
    texts = sorted(s.text(1) for s in browser.items_of_kind("study"))
    assert "2024-03-05 10:15, HFS" in texts and "2024-03-05 14:30, HFDL" in texts
    assert _series_item(browser, rt_folder["a"].series_uid).text(1) == "CT, HFS"
    assert _series_item(browser, rt_folder["b"].series_uid).text(1) == "CT, HFDL"


def test_rtstruct_row_opens_its_series_with_named_coloured_layers(qtbot, window, rt_folder) -> None:
    _open(qtbot, window, rt_folder["root"])
    browser, a = window.browser, rt_folder["a"]
    series = _series_item(browser, a.series_uid)
    objects = [series.child(i) for i in range(series.childCount())
               if series.child(i).data(0, KIND_ROLE) == "object"]
    assert [o.text(0) for o in objects] == ["RTSTRUCT: Plan A"]
    assert window.state.active_volume is None
    _double_click(qtbot, browser.tree, objects[0])
    # the series it is drawn on loads first, then the contours become label layers
    qtbot.waitUntil(lambda: len(_label_layers(window)) == 2, timeout=TIMEOUT_MS)
    assert window.loaded_stack_uid == a.series_uid
    layers = _label_layers(window)
    assert [layer.name for layer in layers] == ["Plan A (1/2)", "Plan A (2/2)"]
    labels = {v.value: (v.name, v.color) for layer in layers for v in layer.labels}
    assert labels == {1: ("Body", (0, 200, 0)), 2: ("GTV", (220, 0, 0))}
    body = window.state.volume(layers[0].volume_id)
    assert body.same_grid(window.state.active_volume)
    assert [bool((body.array[k] == 1).any()) for k in range(8)] == [False] + [True] * 5 + [False] * 2
    # the keyboard is in the image view, not in the browser
    qtbot.waitUntil(lambda: _views_have_focus(window), timeout=TIMEOUT_MS)


def test_seg_row_opens_as_a_label_layer_on_the_shown_series(qtbot, window, rt_folder) -> None:
    _open(qtbot, window, rt_folder["root"])
    browser = window.browser
    seg_rows = [i for i in browser.items_of_kind("object") if i.text(1) == "SEG"]
    assert [i.text(0) for i in seg_rows] == ["SEG: Liver"]
    ct_uid = seg_rows[0].parent().data(0, UID_ROLE)
    window.load_stack(ct_uid)
    qtbot.waitUntil(lambda: window.loaded_stack_uid == ct_uid, timeout=TIMEOUT_MS)
    image = window.state.active_volume
    _double_click(qtbot, browser.tree, seg_rows[0])
    qtbot.waitUntil(lambda: len(_label_layers(window)) == 1, timeout=TIMEOUT_MS)
    assert window.state.active_volume is image  # not loaded again
    layer = _label_layers(window)[0]
    assert layer.name == "Liver"
    assert [v.name for v in layer.labels] == ["Liver"]
    assert window.state.volume(layer.volume_id).array.any()


def test_focus_goes_to_the_view_after_double_click(qtbot, window, rt_folder) -> None:
    _open(qtbot, window, rt_folder["root"])
    browser, uid = window.browser, rt_folder["b"].series_uid
    item = _series_item(browser, uid)
    _double_click(qtbot, browser.tree, item)
    qtbot.waitUntil(lambda: window.loaded_stack_uid == uid, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: _views_have_focus(window), timeout=TIMEOUT_MS)
    assert not browser.tree.hasFocus()
    # arrow keys now page the view: the browser's highlighted row stays the series shown
    qtbot.keyClick(window.focusWidget(), Qt.Key.Key_Down)
    assert browser.tree.currentItem() is item


def test_hand_added_layers_come_back_with_their_series(qtbot, window, rt_folder) -> None:
    _open(qtbot, window, rt_folder["root"])
    a, b = rt_folder["a"].series_uid, rt_folder["b"].series_uid
    window.load_stack(a)
    qtbot.waitUntil(lambda: window.loaded_stack_uid == a, timeout=TIMEOUT_MS)
    window.open_segmentation(rt_folder["rs"])  # File > Open segmentation, by hand
    qtbot.waitUntil(lambda: len(_label_layers(window)) == 2, timeout=TIMEOUT_MS)
    first = _label_layers(window)[0]
    window.state.set_layer_opacity(first.id, 0.8)
    window.state.set_label(first.id, 1, visible=False)
    window.load_stack(b)
    qtbot.waitUntil(lambda: window.loaded_stack_uid == b, timeout=TIMEOUT_MS)
    assert _label_layers(window) == []
    window.load_stack(a)
    qtbot.waitUntil(lambda: window.loaded_stack_uid == a, timeout=TIMEOUT_MS)
    back = _label_layers(window)
    assert [layer.name for layer in back] == ["rs.dcm (1/2)", "rs.dcm (2/2)"]
    assert back[0].opacity == pytest.approx(0.8)
    assert not back[0].labels[1].visible
    assert window.state.volume(back[0].volume_id).same_grid(window.state.active_volume)


def _dti_direction(k: int, n_dirs: int) -> tuple[float, float, float]:
    """The k-th of ``n_dirs`` unit gradient directions spread over a half sphere."""
    z = 1.0 - (k + 0.5) / n_dirs
    r, phi = math.sqrt(1.0 - z * z), k * math.pi * (3.0 - math.sqrt(5.0))
    return (r * math.cos(phi), r * math.sin(phi), z)


def _write_dti(folder: Path, n_dirs: int = 16, n_slices: int = 2, *, directions: bool = False) -> str:
    """An MR DWI series: one b=0 volume and ``n_dirs`` b=2000 volumes (single-frame files),
    with DiffusionGradientOrientation on the b=2000 files when ``directions``."""
    folder.mkdir(parents=True)
    study, series, for_uid = generate_uid(), generate_uid(), generate_uid()
    n = 0
    for vol in range(n_dirs + 1):
        for k in range(n_slices):
            n += 1
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            meta.MediaStorageSOPInstanceUID = sop = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.PatientName, ds.PatientID, ds.Modality = "Dti^Test", "DTI1", "MR"
            ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, for_uid
            ds.StudyDate, ds.StudyTime, ds.PatientPosition = "20240305", "090000", "HFS"
            ds.SeriesNumber, ds.SeriesDescription, ds.InstanceNumber = 7, "DTI", n
            ds.DiffusionBValue = 0 if vol == 0 else 2000
            if directions and vol > 0:
                ds.DiffusionGradientOrientation = list(_dti_direction(vol - 1, n_dirs))
            ds.ImagePositionPatient = [0, 0, 3.0 * k]
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.PixelSpacing, ds.SliceThickness = [2, 2], 3
            ds.Rows = ds.Columns = 8
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated = ds.BitsStored = 16
            ds.HighBit, ds.PixelRepresentation = 15, 0
            ds.PixelData = bytes(8 * 8 * 2)
            ds.save_as(folder / f"dwi_{n:03d}.dcm", enforce_file_format=True)
    return series


def test_dti_direction_rows_read_differently(qtbot, window, tmp_path: Path) -> None:
    series_uid = _write_dti(tmp_path / "dti")
    _open(qtbot, window, tmp_path / "dti")
    item = _series_item(window.browser, series_uid)
    rows = [item.child(i) for i in range(item.childCount())
            if item.child(i).data(0, KIND_ROLE) == "stack"]
    assert len(rows) == 17
    texts = [r.text(0) for r in rows]
    assert len(set(texts)) == 17
    # what sets a row apart comes first, so rows cut off by a narrow column ("volume 3 …")
    # still differ (they all read "b=2000, …" before)
    assert len({t[:10] for t in texts}) == 17
    assert texts[0] == "b=0" and texts[1].endswith("b=2000")
    assert all("b=2000" in r.toolTip(0) for r in rows[1:])
    # diffusion volumes differ in gradient, not in time: never one "volumes in time" row
    assert not any("in time" in t for t in texts)
    assert all(window.browser.time_series_count(r.data(0, UID_ROLE)) == 1 for r in rows)


def test_dti_rows_name_the_gradient_direction(qtbot, window, tmp_path: Path) -> None:
    """With DiffusionGradientOrientation each b=2000 row names its direction, in
    acquisition order ("b=2000 dir 3 (x, y, z)"), not just a volume number."""
    series_uid = _write_dti(tmp_path / "dti", directions=True)
    _open(qtbot, window, tmp_path / "dti")
    item = _series_item(window.browser, series_uid)
    rows = [item.child(i) for i in range(item.childCount())
            if item.child(i).data(0, KIND_ROLE) == "stack"]
    assert len(rows) == 17
    texts = [r.text(0) for r in rows]
    assert texts[0] == "b=0"
    assert len(set(texts)) == 17
    for k, text in enumerate(texts[1:], 1):
        x, y, z = (round(c, 2) + 0.0 for c in _dti_direction(k - 1, 16))
        assert text == f"b=2000 dir {k} ({x:.2f}, {y:.2f}, {z:.2f})"  # the commas inside stay one part
        assert "volume" not in text
    # the direction number is within the first 13 characters, so a narrow column still tells rows apart
    assert len({t[:13] for t in texts[1:]}) == 16
    assert all(t in r.toolTip(0) for r, t in zip(rows[1:], texts[1:], strict=True))  # the full label
    assert not any("in time" in t for t in texts) and window.browser.items_of_kind("volume") == []


# --- 3-D + time: the volumes of one series share a row -----------------------------------------


def _write_fmri(folder: Path, n_volumes: int = 4, n_slices: int = 5,
                echo_times: tuple[float, ...] = ()) -> str:
    """An fMRI-like series "fMRI BOLD": ``n_volumes`` volumes of ``n_slices`` axial slices at
    the same positions, 2 s apart (TemporalPositionIdentifier, AcquisitionTime); with
    ``echo_times`` each volume is acquired at every echo."""
    from tests.io.dicom.test_grouping import write_image

    uid = generate_uid()
    instance = 1
    for v in range(n_volumes):
        for e, te in enumerate(echo_times or (None,)):
            echo = {"EchoNumbers": e + 1, "EchoTime": te} if te is not None else {}
            for z in range(n_slices):
                seconds = 10 * 3600 + 2 * v
                write_image(
                    folder / f"v{v}_e{e}_z{z}.dcm", series_uid=uid, instance=instance,
                    position=(0.0, 0.0, 3.0 * z), rows=8, cols=8, SeriesDescription="fMRI BOLD",
                    TemporalPositionIdentifier=v + 1, NumberOfTemporalPositions=n_volumes,
                    AcquisitionTime=f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}",
                    **echo,
                )
                instance += 1
    return uid


def _children(item, kind: str) -> list:
    return [item.child(i) for i in range(item.childCount()) if item.child(i).data(0, KIND_ROLE) == kind]


def test_volumes_in_time_share_one_row_that_opens_with_the_time_bar(qtbot, window, tmp_path) -> None:
    uid = _write_fmri(tmp_path / "fmri")
    _open(qtbot, window, tmp_path / "fmri")
    browser = window.browser
    (row,) = browser.items_of_kind("series")
    assert row.text(0) == "#1 fMRI BOLD — 4 volumes in time"
    assert row.text(3) == "20"  # every image of the series
    assert row.data(0, UID_ROLE) == f"{uid}#vol1"  # it opens the first volume
    assert browser.items_of_kind("stack") == []  # not four rows "volume 1", "volume 2"...
    assert browser.time_series_count(f"{uid}#vol3") == 4
    # expandable to the volumes, with their times; collapsed at first
    volumes = _children(row, "volume")
    assert [v.text(0) for v in volumes] == ["volume 1", "volume 2", "volume 3", "volume 4"]
    assert [v.text(2) for v in volumes] == ["t = 0.0 s", "t = 2.0 s", "t = 4.0 s", "t = 6.0 s"]
    assert [v.text(3) for v in volumes] == ["5"] * 4
    assert not row.isExpanded()
    # one thumbnail for the row, not one per volume
    assert [u for u, _s in browser.thumbnail_stacks()] == [f"{uid}#vol1"]
    qtbot.waitUntil(lambda: browser.has_thumbnail(f"{uid}#vol1"), timeout=TIMEOUT_MS)
    assert not row.icon(0).isNull() and browser.has_thumbnail(f"{uid}#vol4")
    # every volume stays loadable by uid (the Time bar reads them)
    assert len(browser.stacks()) == 4
    # a double-click opens the first volume, the Time bar steps through the four
    _double_click(qtbot, browser.tree, row)
    qtbot.waitUntil(lambda: window.loaded_stack_uid == f"{uid}#vol1", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: getattr(window, "time_bar", None) is not None, timeout=TIMEOUT_MS)
    axis = window.state.time_axis
    assert axis is not None and axis.count == 4 and axis.index == 0
    assert window.time_bar.slider.maximum() == 3
    assert axis.text() == "Volume 1/4  t = 0.0 s"
    qtbot.waitUntil(lambda: _views_have_focus(window), timeout=TIMEOUT_MS)
    # a volume's own row opens that volume, the Time bar then starts there
    row.setExpanded(True)
    _double_click(qtbot, browser.tree, volumes[2])
    qtbot.waitUntil(lambda: window.loaded_stack_uid == f"{uid}#vol3", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.state.time_axis is not None
                    and window.state.time_axis.index == 2, timeout=TIMEOUT_MS)
    assert int(window.state.active_volume.array[0, 0, 0]) == 11  # volume 3, slice 1


def test_problem_flags_of_volumes_in_time(qtbot, window, tmp_path) -> None:
    uid = _write_fmri(tmp_path / "fmri", n_volumes=3, n_slices=2)
    _open(qtbot, window, tmp_path / "fmri")
    browser = window.browser
    (row,) = browser.items_of_kind("series")
    name = row.text(0)
    browser.mark_problem(f"{uid}#vol1", ["This stack holds no images."], irregular=False)
    assert row.text(0) == f"{REFUSED_FLAG} {name}" and browser.problem_of(f"{uid}#vol1") == "refused"
    # a later volume's flag sits on its own row, which comes into view
    assert not row.isExpanded()
    browser.mark_problem(f"{uid}#vol3", ["1 slice missing"], irregular=True)
    assert browser.problem_of(f"{uid}#vol3") == "irregular"
    assert browser.item_for(f"{uid}#vol3").text(0) == "⚠ volume 3"
    assert row.isExpanded()
    # flags the indexer found are set on the same rows
    browser.set_index(window.index_result.index, {f"{uid}#vol2": ["1 slice missing"]},
                      {f"{uid}#vol1": "This stack holds no images."})
    (row,) = browser.items_of_kind("series")
    assert row.text(0) == f"{REFUSED_FLAG} {name}"
    assert browser.item_for(f"{uid}#vol2").text(0) == "⚠ volume 2" and row.isExpanded()
    assert browser.problem_of(f"{uid}#vol3") is None


def test_echoes_of_a_time_series_keep_a_row_each(qtbot, window, tmp_path) -> None:
    uid = _write_fmri(tmp_path / "me", n_volumes=3, n_slices=2, echo_times=(15.0, 40.0))
    _open(qtbot, window, tmp_path / "me")
    browser = window.browser
    (series,) = browser.items_of_kind("series")
    rows = _children(series, "stack")
    assert [r.text(0) for r in rows] == ["echo 1 (TE 15 ms) — 3 volumes in time",
                                         "echo 2 (TE 40 ms) — 3 volumes in time"]
    assert [r.text(3) for r in rows] == ["6", "6"]
    assert [len(_children(r, "volume")) for r in rows] == [3, 3]
    assert rows[1].data(0, UID_ROLE) == f"{uid}#echo2-vol1"
    assert series.isExpanded() and not rows[0].isExpanded()
