"""The side-by-side timepoint views on a real ``interval track`` output folder (a tiny
generated patient tracked with its truth label maps): lesion centres and the linked
crosshair are checked against the generator's truth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from interval.io.image_files import read_image
from interval.io.synthetic.deformation import true_point_mapping
from interval.longitudinal.key_images import LONG_AXIS, SHORT_AXIS
from interval.longitudinal.workspace import LongitudinalWorkspace
from interval.ui.longitudinal.axis_drag import GRAB_RADIUS_PX
from interval.ui.longitudinal.timepoint_images import default_timepoints
from interval.ui.longitudinal.timepoint_views import TimepointViews
from tests.longitudinal._tracked_patient import track_tiny_patient


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """(the generated patient, the output folder of ``interval track`` on it)."""
    root = tmp_path_factory.mktemp("tp-views")
    run = track_tiny_patient(root, 3)
    return run.patient, run.out


@pytest.fixture
def out_copy(tracked, tmp_path) -> Path:
    """A copy of the output folder (tests that change it do not touch the others')."""
    return Path(shutil.copytree(tracked[1], tmp_path / "out"))


def _open_views(qtbot, out: Path, **kw) -> tuple[LongitudinalWorkspace, TimepointViews]:
    ws = LongitudinalWorkspace.open(out)
    views = TimepointViews(ws, **kw)
    qtbot.addWidget(views)
    views.resize(900, 340)
    views.show()
    return ws, views


@pytest.fixture
def opened(qtbot, tracked):
    ws, views = _open_views(qtbot, tracked[1])
    assert views.wait_loaded(60)
    yield ws, views
    views.close_views()


def _volume(views: TimepointViews, t: int):
    return views.view(t).slice_view.volume


def _truth_centres(patient) -> list[dict[int, np.ndarray]]:
    """Per timepoint: true lesion id -> centre (LPS) of its voxels in the truth map."""
    out = []
    for tp in patient.timepoints:
        ids = read_image(tp.lesion_ids_path)
        centres = {}
        for lid in (int(v) for v in np.unique(ids.array) if v > 0):
            k, j, i = np.nonzero(ids.array == lid)
            centres[lid] = ids.index_to_lps(np.array([i.mean(), j.mean(), k.mean()]))
        out.append(centres)
    return out


def _true_id(patient, lps) -> int:
    ids = read_image(patient.timepoints[0].lesion_ids_path)
    i, j, k = np.rint(ids.lps_to_index(lps)).astype(int)
    return int(ids.array[k, j, i])


def test_default_timepoints_are_the_baseline_and_the_two_latest() -> None:
    def report(n: int) -> SimpleNamespace:
        tps = [SimpleNamespace(index=i) for i in range(n)]
        return SimpleNamespace(timeline=SimpleNamespace(timepoints=tps))

    assert default_timepoints(report(2)) == [0, 1]
    assert default_timepoints(report(3)) == [0, 1, 2]
    assert default_timepoints(report(5)) == [0, 3, 4]


def test_columns_show_each_timepoint_with_its_lesion_outlines(opened) -> None:
    ws, views = opened
    assert views.timepoints == (0, 1, 2)
    for tp in ws.report.timeline.timepoints:
        col = views.findChild(object, f"timepoint-column-{tp.index}")
        assert tp.label in col.title.text() and tp.study_date.isoformat() in col.title.text()
        state = views.column_state(tp.index)
        assert state["loaded"] and state["message"] == ""
        view = views.view(tp.index)
        assert view.slice_view.volume.shape == (40, 80, 80)
        overlay = view.slice_view.label_overlay("labels")
        assert overlay is not None and overlay.mode == "outline"
        shown = {info.name for info in view.state.layer("labels").labels if info.visible}
        assert shown and all("lesion" in n or "node" in n or "lymph" in n for n in shown), shown


def test_show_lesion_puts_every_timepoint_on_the_true_lesion_centre(opened, tracked) -> None:
    ws, views = opened
    patient = tracked[0]
    truth = _truth_centres(patient)
    # a region where two true lesions merged has its centre between them: not compared
    merged = {c.merged_into for r in ws.rows() for c in r.cells if c.merged_into}
    checked = 0
    for row in ws.rows():
        base = row.cell(0)
        if base.centroid_lps is None or row.lesion_id in merged:
            continue
        lid = _true_id(patient, base.centroid_lps)
        seen_everywhere = all(lid in truth[t] for t in range(3))
        own_everywhere = all(row.cell(t).centroid_lps is not None for t in range(3))
        if not (lid and seen_everywhere and own_everywhere):
            continue
        views.show_lesion(row.lesion_id)
        for t in range(3):
            want = _volume(views, t).lps_to_index(truth[t][lid])[::-1]  # (k, j, i)
            got = np.asarray(views.column_state(t)["center_voxel"])
            assert np.all(np.abs(got - want) <= 1.0), (row.lesion_id, t, got, want)
        checked += 1
    assert checked >= 3


def test_a_lesion_not_seen_at_a_timepoint_is_placed_where_it_would_be(opened) -> None:
    ws, views = opened
    new = next(r for r in ws.rows() if r.cell(0).centroid_lps is None
               and r.cell(1).centroid_lps is not None)
    views.show_lesion(new.lesion_id)
    state = views.column_state(0)
    assert "not seen here" in state["message"]
    mapped = ws.point_in(0, new.cell(1).centroid_lps, from_timepoint=1)
    assert state["center_lps"] == pytest.approx(mapped, abs=1e-6)
    assert views.column_state(1)["message"] == ""


def test_go_to_from_baseline_lands_on_the_same_anatomy(opened, tracked) -> None:
    ws, views = opened
    patient = tracked[0]
    errors = []
    for row in ws.rows():
        p = row.cell(0).centroid_lps
        if p is None:
            continue
        views.go_to(0, p)
        assert views.column_state(0)["center_lps"] == pytest.approx(p, abs=1e-9)
        for t in (1, 2):
            got = np.asarray(views.column_state(t)["center_lps"])
            assert got == pytest.approx(ws.point_in(t, p, from_timepoint=0), abs=1e-6)
            errors.append(float(np.linalg.norm(got - true_point_mapping(patient, t, [p])[0])))
    # the pipeline's rigid registration against the truth (pose and breathing)
    assert len(errors) >= 10
    assert float(np.median(errors)) <= 2.0, errors
    assert max(errors) <= 5.0, errors


def test_click_scroll_zoom_and_window_follow_in_every_column(opened, qtbot) -> None:
    ws, views = opened
    row = next(r for r in ws.rows() if r.is_target)
    views.show_lesion(row.lesion_id)
    # laid out first (before that a few mm are a pixel or two), and clicked away from the
    # RECIST axes' end points (a press there grabs the end point instead of clicking)
    qtbot.waitUntil(lambda: all(c.sized for c in views._columns.values()), timeout=5000)
    base = views.view(0)
    base.render_now()
    ends = [np.asarray(base.lps_to_display(np.asarray(e)))
            for m in views._columns[0].grabbable_marks() for e in (m.start_lps, m.end_lps)]
    centre = np.asarray(row.cell(0).centroid_lps)
    offsets = [np.array([dx, dy, 0.0]) for d in (20.0, 30.0, 40.0)
               for dx, dy in ((d, 0.0), (-d, 0.0), (0.0, d), (0.0, -d))]
    target = next(centre + o for o in offsets
                  if all(np.hypot(*(np.asarray(base.lps_to_display(centre + o)) - e))
                         > 2 * GRAB_RADIUS_PX for e in ends))
    x, y = base.lps_to_display(target)
    with qtbot.waitSignal(views.pointPicked, timeout=2000) as picked:
        qtbot.mouseClick(base.vtk, Qt.MouseButton.LeftButton, pos=QPoint(int(x), int(y)))
    t, p = picked.args
    assert t == 0
    mm = views.column_state(0)["mm_per_pixel"]
    assert np.linalg.norm(np.asarray(p)[:2] - target[:2]) <= 2 * mm
    for t in (1, 2):
        assert views.column_state(t)["center_lps"] == pytest.approx(
            ws.point_in(t, p, from_timepoint=0), abs=1e-6)

    k = views.column_state(0)["slice_index"]
    base.interaction.wheel(-120)  # one slice
    after = views.column_state(0)
    assert abs(after["slice_index"] - k) == 1
    for t in (1, 2):
        assert views.column_state(t)["center_lps"] == pytest.approx(
            ws.point_in(t, after["center_lps"], from_timepoint=0), abs=1e-6)

    base.state.set_zoom("axial", 2.0 * base.state.view("axial").zoom)
    mm = views.column_state(0)["mm_per_pixel"]
    for t in (1, 2):
        assert views.column_state(t)["mm_per_pixel"] == pytest.approx(mm, rel=1e-9)
        views.view(t).render_now()
        assert views.view(t).slice_view.mm_per_pixel == pytest.approx(mm, rel=1e-6)

    views.view(2).state.set_window("scan", 55.0, 333.0)
    for t in (0, 1):
        assert views.column_state(t)["window"] == (55.0, 333.0)


def _colour_pixels(frame: np.ndarray, colour: tuple[int, int, int], tol: int = 30) -> int:
    return int((np.abs(frame.astype(int) - np.asarray(colour)) <= tol).all(axis=-1).sum())


def test_recist_axes_are_drawn_and_follow_the_workspace(qtbot, out_copy) -> None:
    ws, views = _open_views(qtbot, out_copy)
    try:
        assert views.wait_loaded(60)
        row = next(r for r in ws.rows() if r.is_target and not r.is_lymph_node)
        views.show_lesion(row.lesion_id)
        for t in range(3):
            cell = row.cell(t)
            # on the slice the long axis was measured on, both axes are solid
            views.go_to(t, cell.long_axis.start_lps)
            axes = [a for a in views.column_state(t)["axes"] if a["lesion_id"] == row.lesion_id]
            assert {a["which"] for a in axes if a["visible"] and a["solid"]} == {"long", "short"}
            frame = views.view(t).capture()
            assert _colour_pixels(frame, LONG_AXIS) >= 5
            assert _colour_pixels(frame, SHORT_AXIS) >= 5
        # far from every lesion no axis is drawn (the coloured pixels were the axes)
        vol = _volume(views, 0)
        views.go_to(0, vol.index_to_lps(np.array([40.0, 40.0, 39.0])))
        assert not any(a["visible"] for a in views.column_state(0)["axes"])
        assert _colour_pixels(views.view(0).capture(), SHORT_AXIS) == 0
        # the reader lengthens the long axis: the drawn axis follows (workspace subscription)
        ax = row.cell(0).long_axis
        a, b = np.asarray(ax.start_lps), np.asarray(ax.end_lps)
        ws.adjust_axis(row.lesion_id, 0, "long", a, a + 1.2 * (b - a))
        long_axis = next(x for x in views.column_state(0)["axes"]
                         if x["lesion_id"] == row.lesion_id and x["which"] == "long")
        assert long_axis["length_mm"] == pytest.approx(1.2 * ax.length_mm, rel=1e-3)
    finally:
        views.close_views()


def test_a_scan_that_cannot_be_read_shows_why_in_its_column(qtbot, out_copy) -> None:
    report = json.loads((out_copy / "report.json").read_text())
    tps = report["timeline"]["timepoints"]
    tps[1]["source"] = str(out_copy / "moved-away")
    tps[2]["series"]["stack_uid"] = "1.2.3.4"
    tps[2]["series"]["series_instance_uid"] = "1.2.3.5"
    for seg in report["segmentations"]:  # the baseline's label map is gone too
        if seg["timepoint"] == 0:
            seg["path"] = str(out_copy / "gone.nii.gz")
    (out_copy / "report.json").write_text(json.dumps(report))
    ws, views = _open_views(qtbot, out_copy)
    try:
        assert views.wait_loaded(60) is False
        base = views.column_state(0)
        assert base["loaded"] and "No label map of baseline" in base["message"]
        assert views.view(0).slice_view.label_overlay("labels") is None
        missing, wrong = views.column_state(1), views.column_state(2)
        assert not missing["loaded"] and "not found" in missing["message"]
        assert not wrong["loaded"] and "follow-up 2 cannot be shown" in wrong["message"]
        assert "1.2.3.4" in wrong["message"]
        col = views.findChild(object, "timepoint-column-1")
        assert col.message.isVisible() and col.message.textFormat() == Qt.TextFormat.PlainText
        row = next(r for r in ws.rows() if r.is_target)
        views.show_lesion(row.lesion_id)  # the loaded column still works
        views.go_to(1, row.cell(1).centroid_lps)
        assert views.column_state(0)["center_lps"] == pytest.approx(
            ws.point_in(0, row.cell(1).centroid_lps, from_timepoint=1), abs=1e-6)
    finally:
        views.close_views()


def test_set_timepoints_keeps_loaded_columns(opened) -> None:
    ws, views = opened
    kept = views.view(2)
    views.set_timepoints([2, 0])
    assert views.timepoints == (0, 2) and views.view(2) is kept
    assert views.wait_loaded(10)
    row = next(r for r in ws.rows() if r.is_target)
    views.show_lesion(row.lesion_id)
    views.set_timepoints([0, 1, 2])
    assert not views.column_state(1)["loaded"]  # it loads in the background
    assert views.wait_loaded(30) and views.column_state(1)["loaded"]
    # a column that arrives later goes to the lesion shown
    assert views.column_state(1)["center_lps"] == pytest.approx(row.cell(1).centroid_lps)
    with pytest.raises(ValueError, match="no timepoint 9"):
        views.set_timepoints([0, 8])


def test_a_column_shows_the_selected_lesion_before_its_scan_is_read_whole(
        qtbot, tracked, monkeypatch) -> None:
    """The slice of the lesion selected when the workspace opens is read first and shown
    at once; the rest of the scan arrives after, and the column ends with the whole scan."""
    from interval.ui.longitudinal.timepoint_images import PartialImages

    seen: dict[int, list[np.ndarray]] = {}
    real_partial = TimepointViews._partial

    def spy(self, col, item):
        if isinstance(item, PartialImages):
            seen.setdefault(col.timepoint, []).append(item.filled.copy())
        return real_partial(self, col, item)

    monkeypatch.setattr(TimepointViews, "_partial", spy)
    ws = LongitudinalWorkspace.open(tracked[1])
    row = next(r for r in ws.rows() if all(r.cell(t) is not None and r.cell(t).centroid_lps
                                           is not None for t in default_timepoints(ws.report)))
    views = TimepointViews(ws)
    qtbot.addWidget(views)
    views.resize(900, 340)
    views.show_lesion(row.lesion_id)  # before any scan is read, as the window does
    views.show()
    try:
        assert views.wait_first_frames(60)
        for t in views.timepoints:
            state = views.column_state(t)
            assert state["loaded"]
            k = state["slice_index"]
            first = seen[t][0]
            assert first[k], f"timepoint {t + 1}: the lesion's slice {k} was not read first"
            assert first.sum() < first.size  # the view came before the whole scan
        assert views.wait_loaded(60)
        for t in views.timepoints:
            assert seen[t][-1].all()
            array = views.view(t).slice_view.volume.array
            assert float(array[0].std()) > 0 and float(array[-1].std()) > 0  # read, not zeros
    finally:
        views.close_views()


def test_every_column_switches_plane_and_stays_on_the_lesion(opened) -> None:
    ws, views = opened
    row = next(r for r in ws.rows() if all(r.cell(t) is not None and r.cell(t).centroid_lps
                                           is not None for t in views.timepoints))
    views.show_lesion(row.lesion_id)
    axial_normal = np.abs(views.view(views.timepoints[0]).slice_view.normal)
    with pytest.raises(ValueError, match="unknown plane"):
        views.set_plane("oblique")
    for plane in ("coronal", "sagittal", "axial"):
        views.set_plane(plane)
        normals = set()
        for t in views.timepoints:
            state = views.column_state(t)
            assert state["plane"] == plane
            view = views.view(t)
            normals.add(tuple(np.round(np.abs(view.slice_view.normal), 3)))
            volume = view.slice_view.volume
            where = volume.lps_to_index(np.asarray(row.cell(t).centroid_lps))
            shown = volume.lps_to_index(np.asarray(state["center_lps"]))
            assert np.all(np.abs(where - shown) <= 1.0), (plane, t, where, shown)
            axes = [a for a in state["axes"] if a["lesion_id"] == row.lesion_id]
            assert axes  # the marks are kept ...
            if plane == "axial":  # ... and drawn on the axial slice they were measured on
                assert any(a["visible"] for a in axes)
            else:
                assert not any(a["visible"] for a in state["axes"])
            assert float(view.capture().std()) > 5.0  # an image, not a blank view
        assert len(normals) == 1  # every column in the same plane
        normal = np.array(next(iter(normals)))
        assert (plane == "axial") == bool(np.allclose(normal, axial_normal, atol=1e-3))
