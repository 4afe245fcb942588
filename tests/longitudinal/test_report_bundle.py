"""write_reports: every output in OUT, recorded in report.outputs, partial inputs give
warnings instead of failures, cancel stops cleanly."""

from __future__ import annotations

import pytest

from interval.core.errors import Cancelled
from interval.longitudinal.report_bundle import write_reports
from interval.longitudinal.report_common import ReportError, shown_tracks
from interval.longitudinal.report_json import read_report
from tests.longitudinal._report_fixture import (
    fresh_report,
    report_inputs,
    require_tool,
    shared_case,
)


@pytest.fixture(scope="module")
def case():
    return shared_case()


def _temporaries(folder):
    return [p for p in folder.rglob("*") if ".tmp" in p.name]


def test_everything_is_written_and_recorded(case, tmp_path):
    report = fresh_report(case)
    warnings_before = list(report.warnings)
    calls: list[tuple[int, int]] = []
    timings: dict[str, float] = {}
    written = write_reports(report, tmp_path, **report_inputs(case),
                            progress=lambda d, t: calls.append((d, t)), timings=timings)
    n_tp = len(report.timeline.timepoints)
    n_tiles = len(shown_tracks(report)) * n_tp
    expected = {"report_json", "lesions_csv", "report_html", "report_pdf"}
    expected |= {f"{k}_tp{t}" for k in ("seg", "sr") for t in range(1, n_tp + 1)}
    assert expected <= set(written)
    assert len([k for k in written if k.startswith("key_image_")]) == n_tiles
    for key, path in written.items():
        assert path.is_file() and path.stat().st_size > 0, key
        assert tmp_path in path.parents
        assert report.outputs[key] == path.relative_to(tmp_path).as_posix()
    assert not _temporaries(tmp_path)
    assert report.warnings == warnings_before  # nothing went wrong
    assert calls[-1][0] == calls[-1][1] and [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert {"report:dicom", "report:key_images", "report:charts", "report:pdf"} <= set(timings)
    back = read_report(tmp_path / "report.json")
    assert back.outputs == report.outputs
    assert (tmp_path / "key_images" / f"{shown_tracks(report)[0].lesion_id}_tp1.png").is_file()


def test_missing_inputs_give_warnings_not_failures(case, tmp_path):
    report = fresh_report(case)
    inputs = report_inputs(case)
    inputs["series_files"] = [case.series_files[0], [], case.series_files[2]]
    inputs["volumes"] = [case.volumes[0], case.volumes[1], None]
    bad = case.component_maps[0][:, :10]  # not on its grid
    inputs["component_maps"] = [bad, case.component_maps[1], case.component_maps[2]]
    written = write_reports(report, tmp_path, **inputs)
    assert not any(k.endswith(("_tp1", "_tp2", "_tp3")) and k.startswith(("seg", "sr"))
                   for k in written)
    text = " ".join(report.warnings)
    assert "lesion map of timepoint 1 does not match its image grid" in text
    assert "No DICOM SEG/SR for follow-up 1: its DICOM files are not known" in text
    assert "No DICOM SEG/SR for follow-up 2: its image was not kept" in text
    for key in ("report_html", "report_pdf", "lesions_csv", "report_json"):
        assert written[key].is_file()
    html = written["report_html"].read_text(encoding="utf-8")
    assert "its DICOM files are not known" in html  # the warnings reach the reports
    assert "no image for this timepoint" in html


def test_cancel_stops_and_leaves_no_temporary_file(case, tmp_path):
    report = fresh_report(case)
    calls = [0]

    def cancel() -> bool:
        calls[0] += 1
        return calls[0] > 3

    with pytest.raises(Cancelled):
        write_reports(report, tmp_path, **report_inputs(case), cancel=cancel)
    assert not _temporaries(tmp_path)
    assert not (tmp_path / "report.json").exists()


def test_output_folder_must_exist(case, tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        write_reports(fresh_report(case), tmp_path / "nope", **report_inputs(case))


def test_a_missing_tool_fails_instead_of_skipping():
    with pytest.raises(pytest.fail.Exception, match="install it-is-not-there"):
        require_tool("no-such-validator-here", "install it-is-not-there")


def test_no_lesion_and_single_timepoint(case, tmp_path):
    """Nothing to track still gives readable reports (and says why there is no SEG/SR)."""
    report = fresh_report(case)
    report.tracks, report.measurements, report.events = [], [], []
    report.recist = report.recist[:1]
    report.timeline.timepoints = report.timeline.timepoints[:1]
    empty = [case.component_maps[0] * 0]
    written = write_reports(report, tmp_path, volumes=case.volumes[:1], component_maps=empty,
                            series_files=case.series_files[:1],
                            label_volumes=case.label_volumes[:1])
    assert {"report_json", "lesions_csv", "report_html", "report_pdf"} <= set(written)
    assert not any(k.startswith(("seg_", "sr_", "key_image_")) for k in written)
    assert "no tracked lesion is present there" in " ".join(report.warnings)
    assert written["lesions_csv"].read_text().count("\n") == 1  # the header only
    assert read_report(written["report_json"]).tracks == []
