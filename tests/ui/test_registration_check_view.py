"""The registration check view (offscreen) on a real ``interval track`` output folder (a tiny
generated patient tracked with its truth label maps): the fused picture shows both scans,
the checkerboard alternates them, the verdict is the report's, the slice follows the
workspace's point, and a re-run registration is saved and used by the workspace."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from interval.longitudinal import registration_check as rc
from interval.longitudinal import registration_rerun as rr
from interval.longitudinal.workspace import LongitudinalWorkspace
from interval.ui.longitudinal.registration_check_view import RegistrationCheckView
from tests.longitudinal._tracked_patient import track_tiny_patient


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reg-check-view")
    return track_tiny_patient(root, 3, 2).out


@pytest.fixture
def out_copy(tracked: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tracked, tmp_path / "out"))


def _open(qtbot, out: Path) -> tuple[LongitudinalWorkspace, RegistrationCheckView]:
    ws = LongitudinalWorkspace.open(out)
    view = RegistrationCheckView(ws)
    qtbot.addWidget(view)
    view.resize(520, 640)
    view.show()
    assert view.wait_loaded(60), view.note.text()
    return ws, view


def _grab(view: RegistrationCheckView) -> np.ndarray:
    """The picture as drawn on screen (RGB), inside its image rectangle."""
    from PySide6.QtGui import QImage

    image = view.image.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    data = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(h, image.bytesPerLine())
    rgb = data[:, : 3 * w].reshape(h, w, 3)
    r = view.image.image_rect()
    dpr = image.devicePixelRatio()
    return rgb[int(r.top() * dpr) + 1: int(r.bottom() * dpr) - 1,
               int(r.left() * dpr) + 1: int(r.right() * dpr) - 1]


def test_fused_view_shows_both_scans_on_screen(qtbot, tracked: Path) -> None:
    _ws, view = _open(qtbot, tracked)
    assert view.mode == "fused"
    shown = _grab(view)
    both = (shown[..., 0] > 60) & (shown[..., 1] > 60)  # grey: both scans have tissue
    assert both.sum() > 500
    assert np.array_equal(shown[..., 0], shown[..., 2])  # follow-up is magenta (R = B)
    view.blend_slider.setValue(0)  # baseline only: no follow-up colour left
    shown = _grab(view)
    assert shown[..., 0].max() == 0 and (shown[..., 1] > 60).sum() > 500
    view.blend_slider.setValue(100)  # follow-up only
    shown = _grab(view)
    assert shown[..., 1].max() == 0 and (shown[..., 0] > 60).sum() > 500


def test_checkerboard_alternates_baseline_and_follow_up(qtbot, tracked: Path) -> None:
    _ws, view = _open(qtbot, tracked)
    view.set_mode("checkerboard")
    view.tile_spin.setValue(10)
    pair, rgb = view.pair, view.rgb
    window = rc.default_window(view._volumes[view.baseline])
    mask = rc.checker_mask(pair.baseline.shape, 10)
    base = np.rint(rc.to_grey(pair.baseline, window) * 255).astype(np.uint8)
    follow = np.rint(np.where(pair.inside, rc.to_grey(pair.follow_up, window), 0) * 255)
    assert np.array_equal(rgb[..., 1][~mask], base[~mask])
    assert np.array_equal(rgb[..., 1][mask], follow.astype(np.uint8)[mask])
    assert not view.blend_slider.isEnabled() and view.tile_spin.isEnabled()


def test_verdict_is_the_reports_metric(qtbot, tracked: Path) -> None:
    _ws, view = _open(qtbot, tracked)
    data = json.loads((tracked / "report.json").read_text())
    saved = next(r for r in data["registrations"] if r["timepoint"] == view.follow_up)
    text = view.verdict_text()
    assert f"Mattes mutual information {saved['metric']:.4f}" in text
    assert f"body overlap {saved['body_overlap']:.3f}" in text
    assert saved["message"] in text


def test_slice_follows_a_point_picked_at_the_follow_up(qtbot, tracked: Path) -> None:
    ws, view = _open(qtbot, tracked)
    base = view._volumes[view.baseline]
    m = max((m for m in ws.report.measurements if m.timepoint == 1),
            key=lambda m: m.voxel_count)
    view.set_point(m.centroid_lps, 1)
    expected = int(np.rint(base.lps_to_index(np.asarray(m.centroid_baseline_lps))[2]))
    assert view.slice_slider.value() == expected
    assert view.pair.k == expected
    view.slab_spin.setValue(3)
    assert view.pair.thickness == min(3, base.shape[0] - expected)


def test_point_given_while_loading_is_shown_once_loaded(qtbot, tracked: Path) -> None:
    ws = LongitudinalWorkspace.open(tracked)
    view = RegistrationCheckView(ws)
    qtbot.addWidget(view)
    m = min((m for m in ws.report.measurements if m.timepoint == 1),
            key=lambda m: m.centroid_lps[2])
    view.set_point(m.centroid_lps, 1)  # before the scans are in
    assert view.wait_loaded(60)
    base = view._volumes[view.baseline]
    expected = int(np.rint(base.lps_to_index(np.asarray(m.centroid_baseline_lps))[2]))
    assert view.pair.k == expected == view.slice_slider.value()


def test_rerun_saves_the_transform_and_the_mapping_follows(qtbot, out_copy: Path) -> None:
    ws, view = _open(qtbot, out_copy)
    old = view.registration(1)
    view.set_follow_up(1)
    points = [m.centroid_lps for m in ws.report.measurements if m.timepoint == 0]
    before = np.array([ws.point_in(1, p) for p in points])
    changes = []
    ws.subscribe(changes.append)
    with qtbot.waitSignal(view.registrationChanged, timeout=60000) as signal:
        action = next(a for a in view.rerun_menu.actions() if a.objectName() == "rerun_affine")
        action.trigger()
        assert view.rerun_job is not None and not view.rerun_button.isEnabled()
    assert signal.args == [1]
    new = view.registration(1)
    assert new is not old and new.transform_file == old.transform_file
    assert (out_copy / (old.transform_file + ".bak")).is_file()
    assert (out_copy / rr.RERUN_JSON).is_file()
    tx = sitk.ReadTransform(str(out_copy / new.transform_file))
    after = np.array([ws.point_in(1, p) for p in points])
    expected = np.array([tx.TransformPoint(tuple(p)) for p in points])
    assert after == pytest.approx(expected, abs=1e-6)
    # the same anatomy as the tracking's rigid registration, within one voxel (4 mm)
    assert np.linalg.norm(after - before, axis=1).max() < 4.0
    assert [c.kind for c in changes] == ["registration"]
    assert "in use" in view.note.text()
    # the affine stage gains nothing on this patient: the rigid result is kept and said so
    assert new.method == "rigid" and "affine stage" in view.verdict_text()
    # then the matching and RECIST are made again with it, in the background
    assert view.retrack_job is not None and not view.rerun_button.isEnabled()
    with qtbot.waitSignal(view.retracked, timeout=120000) as done:
        pass
    result = done.args[0]
    assert result.out_dir == out_copy
    saved = json.loads((out_copy / "report.json").read_text())
    assert saved["created"] == result.report.created
    assert saved["registrations"][1]["message"] == new.message
    assert saved["registrations"][1]["matrix"] == [list(r) for r in new.matrix]
    assert not view.retrack_button.isEnabled() and view.rerun_button.isEnabled()
    assert "made again" in view.note.text()


def test_window_links_positions_with_a_saved_rerun(qtbot, out_copy: Path) -> None:
    """A deformable re-run (``.h5``, in place of the tracking's ``.tfm``) saved 6 mm away
    from the tracking's registration is used when the window opens the folder again."""
    from tests.longitudinal.test_registration_check import shifted_registration

    ws = LongitudinalWorkspace.open(out_copy)
    old = next(r for r in ws.report.registrations if r.timepoint == 1)
    points = [m.centroid_lps for m in ws.report.measurements if m.timepoint == 0]
    before = np.array([ws.point_in(1, p) for p in points])
    rr.save_rerun(out_copy, shifted_registration(out_copy, old, (0.0, 6.0, 0.0), deformable=True), old)
    win = _window(qtbot, out_copy)
    assert not (out_copy / old.transform_file).exists()  # kept as .bak only
    after = np.array([win.workspace.point_in(1, p) for p in points])
    assert after - before == pytest.approx(np.tile([0.0, 6.0, 0.0], (len(points), 1)),
                                           abs=1e-6)
    win.close()


def test_cancelled_rerun_keeps_the_registration(qtbot, out_copy: Path) -> None:
    _ws, view = _open(qtbot, out_copy)
    old = view.registration(1)
    old_bytes = (out_copy / old.transform_file).read_bytes()
    job = view.rerun("deformable")
    assert job is not None
    view.progress.cancel_button.click()
    qtbot.waitUntil(lambda: view.rerun_job is None, timeout=60000)
    assert "Cancelled" in view.note.text()
    assert view.registration(1) is old
    assert (out_copy / old.transform_file).read_bytes() == old_bytes
    assert not (out_copy / rr.RERUN_JSON).exists()
    assert view.rerun_button.isEnabled()


def _window(qtbot, out: Path):
    from PySide6.QtWidgets import QLabel

    import interval.ui.longitudinal.workspace_window as ww

    # the side-by-side views are another test's subject: a placeholder keeps this one fast
    original = ww.make_views
    ww.make_views = lambda _ws, parent: QLabel("views", parent)
    try:
        win = ww.LongitudinalWorkspaceWindow(LongitudinalWorkspace.open(out))
    finally:
        ww.make_views = original
    qtbot.addWidget(win)
    win.show()
    return win


def test_window_view_menu_toggles_the_check_dock(qtbot, tracked: Path) -> None:
    win = _window(qtbot, tracked)
    action = win.actions_by_id["registration_check"]
    assert not action.isChecked() and win.registration_check is None
    action.trigger()
    qtbot.waitUntil(lambda: win.registration_check is not None, timeout=5000)
    check = win.registration_check
    assert win.registration_dock.widget() is check and action.isChecked()
    assert check.wait_loaded(60)
    action.trigger()
    assert not win.registration_dock.isVisible()
    win.workspace.save_session = lambda _s: None  # the shared folder stays as it was
    win.close()


def _saved_rerun(out: Path) -> None:
    """A re-run of follow-up 1 (the tracking's registration moved by 2 mm) saved as the
    check view saves one."""
    from interval.longitudinal.report_json import read_report
    from tests.longitudinal.test_retrack import shifted_rerun

    old = read_report(out / "report.json").registrations[1]
    rr.save_rerun(out, shifted_rerun(out, old, (0.0, 2.0, 0.0)), old)


def test_update_button_is_off_while_the_report_uses_the_registrations(qtbot, tracked: Path
                                                                       ) -> None:
    _ws, view = _open(qtbot, tracked)
    assert not view.needs_retrack and not view.retrack_button.isEnabled()
    assert view.retrack_button.text() == "Update matching and RECIST"


def test_update_button_makes_matching_and_recist_again(qtbot, out_copy: Path) -> None:
    from tests.longitudinal.test_retrack import _next_second

    _saved_rerun(out_copy)
    before = json.loads((out_copy / "report.json").read_text())
    _ws, view = _open(qtbot, out_copy)
    assert view.needs_retrack and view.retrack_button.isEnabled()
    reg = view.registration(1)
    assert reg.method == "affine" and "re-run by the reader" in reg.message
    _next_second(before["created"])
    steps: list[str] = []
    with qtbot.waitSignal(view.retracked, timeout=120000) as done:
        view.retrack_button.click()
        assert view.retrack_job is not None and not view.retrack_button.isEnabled()
        assert not view.rerun_button.isEnabled() and view.retrack_progress.isVisible()
        view.retrack_job.signals.partial.connect(steps.append)
    result = done.args[0]
    after = json.loads((out_copy / "report.json").read_text())
    assert after["created"] == result.report.created > before["created"]
    assert after["registrations"][1]["method"] == "affine"
    assert after["registrations"][1]["transform_file"] == reg.transform_file
    assert [t["members"] for t in after["tracks"]] == [t["members"] for t in before["tracks"]]
    assert view.registration(1) == result.report.registrations[1]
    assert not view.needs_retrack and not view.retrack_button.isEnabled()
    assert any("Writing reports" in s for s in steps)
    qtbot.waitUntil(lambda: not view.retrack_progress.isVisible(), timeout=5000)


def test_cancelled_update_keeps_the_report(qtbot, out_copy: Path) -> None:
    _saved_rerun(out_copy)
    report = (out_copy / "report.json").read_bytes()
    _ws, view = _open(qtbot, out_copy)
    job = view.retrack()
    assert job is not None and view.retrack() is None  # one at a time
    view.retrack_progress.cancel_button.click()
    qtbot.waitUntil(lambda: view.retrack_job is None, timeout=60000)
    assert job.state == "cancelled" and "Cancelled" in view.note.text()
    assert (out_copy / "report.json").read_bytes() == report
    assert view.retrack_button.isEnabled() and view.rerun_button.isEnabled()


def test_update_refused_when_corrections_are_not_saved(qtbot, out_copy: Path) -> None:
    _saved_rerun(out_copy)
    ws, view = _open(qtbot, out_copy)
    ws.rename(ws.report.tracks[0].lesion_id, "renamed")
    (out_copy / "corrections.json").unlink()
    report = (out_copy / "report.json").read_bytes()
    assert view.retrack() is None
    assert "not all saved" in view.note.text()
    assert (out_copy / "report.json").read_bytes() == report
