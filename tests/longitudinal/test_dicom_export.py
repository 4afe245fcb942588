"""The SEG and SR written in the writer's process: the same objects as written here, the
process's failures fall back to writing here, its answers are checked, cancel stops it."""

from __future__ import annotations

import logging

import numpy as np
import psutil
import pydicom
import pytest

from interval.core.errors import Cancelled
from interval.longitudinal import dicom_export
from interval.longitudinal.dicom_export_child import DicomJob, JobResult
from interval.longitudinal.report_bundle import start_dicom_export, write_reports
from tests.longitudinal._report_fixture import fresh_report, report_inputs, shared_case

TARGETS = "tests.longitudinal._dicom_export_targets"


@pytest.fixture(scope="module")
def case():
    return shared_case()


def _comparable(ds: pydicom.Dataset) -> list:
    """The dataset's elements with UIDs, dates and times masked (they differ per run)."""
    out = []
    for elem in ds:
        if elem.VR == "SQ":
            out.append((elem.tag, [_comparable(item) for item in elem.value]))
        elif elem.VR in ("UI", "DA", "TM", "DT") or elem.tag == (0x7FE0, 0x0010):
            out.append((elem.tag, "masked"))
        else:
            out.append((elem.tag, str(elem.value)))
    return out


def _no_inline_writing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the objects were written in the test's process")

    monkeypatch.setattr(dicom_export, "write_jobs", refuse)


def test_the_process_writes_what_writing_here_writes(case, tmp_path, monkeypatch):
    inline_dir, process_dir = tmp_path / "inline", tmp_path / "process"
    inline_dir.mkdir()
    process_dir.mkdir()
    inline = write_reports(fresh_report(case), inline_dir, **report_inputs(case),
                           writer_process=False)
    _no_inline_writing(monkeypatch)
    report = fresh_report(case)
    before = list(report.warnings)
    spawned = write_reports(report, process_dir, **report_inputs(case))
    assert report.warnings == before
    keys = sorted(k for k in inline if k.startswith(("seg_", "sr_")))
    assert keys and keys == sorted(k for k in spawned if k.startswith(("seg_", "sr_")))
    for key in keys:
        a, b = pydicom.dcmread(inline[key]), pydicom.dcmread(spawned[key])
        assert _comparable(a) == _comparable(b), key
        if key.startswith("seg_"):
            assert np.array_equal(a.pixel_array, b.pixel_array)
            assert ([f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
                     for f in a.PerFrameFunctionalGroupsSequence]
                    == [f.DerivationImageSequence[0].SourceImageSequence[0]
                        .ReferencedSOPInstanceUID for f in b.PerFrameFunctionalGroupsSequence])


def test_a_crashed_writer_process_falls_back_to_writing_here(case, tmp_path, monkeypatch,
                                                             caplog):
    monkeypatch.setattr(dicom_export, "CHILD_TARGET", f"{TARGETS}:crash")
    report = fresh_report(case)
    before = {c.pid for c in psutil.Process().children()}
    with caplog.at_level(logging.WARNING, logger="interval.longitudinal.dicom_export"):
        written = write_reports(report, tmp_path, **report_inputs(case))
    n = len(report.timeline.timepoints)
    assert {f"{k}_tp{t}" for k in ("seg", "sr") for t in range(1, n + 1)} <= set(written)
    assert all(written[f"sr_tp{t}"].stat().st_size > 0 for t in range(1, n + 1))
    assert "writing here" in caplog.text
    assert {c.pid for c in psutil.Process().children()} <= before  # the process is gone


@pytest.mark.parametrize("target", ["claim_everything", "malformed"])
def test_the_process_answer_is_not_taken_on_trust(case, tmp_path, monkeypatch, target):
    """A claim of files that do not exist, or an answer of the wrong shape: the objects are
    written here instead, and only files that exist are recorded."""
    monkeypatch.setattr(dicom_export, "CHILD_TARGET", f"{TARGETS}:{target}")
    report = fresh_report(case)
    written = write_reports(report, tmp_path, **report_inputs(case))
    seg_sr = [k for k in written if k.startswith(("seg_", "sr_"))]
    if target == "malformed":  # rejected: written here
        assert len(seg_sr) == 2 * len(report.timeline.timepoints)
    else:  # believed, but nothing recorded that is not there
        assert seg_sr == []
    for key in seg_sr:
        assert written[key].is_file()


def test_cancel_while_the_process_writes_stops_it(case, tmp_path):
    report = fresh_report(case)
    started = []
    real_start = dicom_export.start_dicom_writer

    def start():
        started.append(real_start())
        return started[-1]

    asked = [False]

    def cancel() -> bool:
        return asked[0]

    export = start_dicom_export(report, tmp_path, images=case.volumes,
                                component_maps=case.component_maps,
                                series_files=case.series_files,
                                label_volumes=case.label_volumes, cancel=cancel,
                                dicom_writer=start())
    asked[0] = True
    with export, pytest.raises(Cancelled):
        export.result()
    pid = started[0].pid
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not list(tmp_path.rglob("*.dcm"))


def test_a_job_travels_as_plain_data(case, tmp_path):
    report = fresh_report(case)
    comps = case.component_maps
    jobs, warnings = dicom_export.plan_jobs(
        report, tmp_path, case.volumes,
        [case.label_volumes[t].with_array(np.asarray(comps[t])) for t in range(len(comps))],
        case.series_files)
    assert jobs and not warnings
    job = jobs[0]
    back = DicomJob.from_plain(job.plain(), job.stack)
    assert back.grid.same_grid(job.grid)
    assert back.grid.array.strides == (0, 0, 0)  # geometry only, no voxels
    assert back.grid.metadata.sop_instance_uids == job.grid.metadata.sop_instance_uids
    assert sorted(back.frames) == sorted(job.frames)
    assert all(np.array_equal(back.frames[k], job.frames[k]) for k in job.frames)
    assert back.values == job.values and back.files == job.files
    assert [(i.value, i.name, i.color) for i in back.table] == \
        [(i.value, i.name, tuple(i.color)) for i in job.table]


def test_checked_answers():
    jobs = [DicomJob(0, "baseline", [], None, {}, None, None, [], None, None),  # type: ignore[arg-type]
            DicomJob(2, "follow-up", [], None, {}, None, None, [], None, None)]  # type: ignore[arg-type]
    good = {"results": [JobResult(0, True, True).plain(),
                        JobResult(2, False, False, "x" * 5000).plain()]}
    results = dicom_export._checked(good, jobs)
    assert [r.timepoint for r in results] == [0, 2]
    assert len(results[1].warning) <= 500
    for bad in ({"results": good["results"][:1]},
                {"results": [good["results"][1], good["results"][0]]},
                {"results": [{**good["results"][0], "seg": "yes"}, good["results"][1]]},
                {"results": [{**good["results"][0], "warning": 3}, good["results"][1]]},
                {}, []):
        with pytest.raises(ValueError):
            dicom_export._checked(bad, jobs)
