"""index_folder / index_files: real data, skipped files, parallel parsing, progress, cancel."""

from __future__ import annotations

import builtins
import os
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from interval.core.errors import Cancelled, UnreadableFile
from interval.io.dicom import index as index_module
from interval.io.dicom.index import (
    NO_PIXELS_REASON,
    NO_SIZE_REASON,
    index_files,
    index_folder,
    parse_file,
    parse_files,
)
from interval.io.dicom.policy import DicomReadPolicy
from interval.io.dicom.records import DicomHeader, SkippedFile
from tests.conftest import shared
from tests.io.dicom.test_grouping import write_image

SERIAL = DicomReadPolicy(workers=1)


def series_by_number(index, manufacturer: str | None = None) -> dict[int, object]:
    out = {}
    for _p, _st, se in index.iter_series():
        first = se.stacks[0].first if se.stacks else None
        if manufacturer is None or (first is not None and manufacturer in first.manufacturer.upper()):
            out[se.series_number] = se
    return out


def indexed_paths(index) -> set[str]:
    paths = set()
    for _p, _st, se in index.iter_series():
        paths.update(f.header.path for s in se.stacks for f in s.frames)
        paths.update(o.header.path for o in se.objects + se.attached)
    return paths


# --- real data ----------------------------------------------------------------------------


def test_dcm_qa_nih_ge_fmri_series_split_into_volumes() -> None:
    index = index_folder(shared("dcm_qa_nih", "In", "20180918GE"))
    series = series_by_number(index)
    assert sorted(series) == [4, 5, 6, 7]
    for se in series.values():
        assert len(se.stacks) == 10  # 150 files = 15 slices x 10 volumes (dcm2niix: 64x64x15x10)
        assert [s.label for s in se.stacks] == [f"volume {k}" for k in range(1, 11)]
        assert all(s.n_frames == 15 for s in se.stacks)
        for stack in se.stacks:
            z = [f.info.position[2] for f in stack.frames]
            assert z == sorted(z) and len(set(z)) == 15
        # volumes follow acquisition order
        firsts = [min(f.header.instance_number for f in s.frames) for s in se.stacks]
        assert firsts == sorted(firsts)
    readmes = [s for s in index.skipped if s.path.endswith("README-Series.txt")]
    assert len(readmes) == 4
    assert all(s.reason == "not a DICOM file" for s in readmes)
    assert any(s.path.endswith("README-Study.txt") for s in index.skipped)


def test_dcm_qa_nih_siemens_mosaics_one_stack_per_file() -> None:
    index = index_folder(shared("dcm_qa_nih", "In", "20180918Si"))
    series = series_by_number(index)
    assert sorted(series) == [3, 4, 5, 6]
    for se in series.values():
        assert [s.label for s in se.stacks] == ["volume 1", "volume 2"]  # dcm2niix: 72x72x5x2
        assert all(s.n_frames == 1 and "MOSAIC" in s.frames[0].info.image_type for s in se.stacks)
        assert len({s.frames[0].header.path for s in se.stacks}) == 2


def test_dcm_qa_enh_multiframe() -> None:
    index = index_folder(shared("dcm_qa_enh", "In"))
    series = series_by_number(index)
    philips = series[801]  # magnitude + field map frames in one enhanced file (dcm2niix: e1, e2)
    assert [s.label for s in philips.stacks] == ["magnitude", "field map"]
    assert [s.n_frames for s in philips.stacks] == [32, 32]
    assert len({f.header.path for s in philips.stacks for f in s.frames}) == 1
    siemens = series[6]  # 4 enhanced files, one volume each (dcm2niix: 64x64x6x4)
    assert [s.label for s in siemens.stacks] == [f"volume {k}" for k in range(1, 5)]
    assert all(s.n_frames == 6 and len({f.header.path for f in s.frames}) == 1 for s in siemens.stacks)
    assert [s.frames[0].info.temporal_position for s in siemens.stacks] == [1, 2, 3, 4]


def test_dcm_qa_xa30_single_volume_each() -> None:
    index = index_folder(shared("dcm_qa_xa30", "In"))
    stacks = list(index.iter_stacks())
    assert [s.n_frames for s in stacks] == [96, 96]
    assert all(s.label == "" for s in stacks)


def test_dcmqi_seg_attached_to_ct() -> None:
    index = index_folder(shared("dcmqi_data", "data", "segmentations"))
    by_desc = {se.series_description: se for _p, _st, se in index.iter_series()}
    ct = by_desc["6.9 Colonoscopy"]
    assert ct.modality == "CT" and ct.stacks[0].n_frames == 3
    names = sorted(Path(o.header.path).name for o in ct.attached)
    assert names == ["liver.dcm", "partial_overlaps.dcm"]
    assert all(o.kind == "seg" for o in ct.attached)
    small = by_desc["Image 24x38x3"]
    assert {Path(o.header.path).name for o in small.attached} >= {"label.seg"}
    # the SEGs' own series are not listed separately once attached
    assert not any(se.modality == "SEG" for se in by_desc.values())
    nrrd = [s for s in index.skipped if s.path.endswith(".nrrd")]
    assert nrrd and all(s.reason == "not a DICOM file" for s in nrrd)


def test_highdicom_seg_attached_to_ct_image() -> None:
    index = index_folder(shared("highdicom_test_files", "data", "test_files"))
    ct = next(se for _p, _st, se in index.iter_series() if se.modality == "CT")
    attached = {Path(o.header.path).name: o.kind for o in ct.attached}
    # the other ct SEGs reference pydicom's CT_small series, which is not in this folder
    assert attached == {
        "seg_image_ct_binary_single_frame.dcm": "seg",
        "sr_document_with_multiple_groups.dcm": "sr",
    }
    # an SR stored in the CT's own series stays among its objects, without a warning
    assert [Path(o.header.path).name for o in ct.objects] == ["sr_document.dcm"]
    assert ct.warnings == []
    unresolved = [se for _p, _st, se in index.iter_series() if se.modality == "SEG"]
    assert len(unresolved) == 5 and all("not in this folder" in se.warnings[0] for se in unresolved)


def test_dicom2nifti_failing_sets_index_without_crashing() -> None:
    root = shared("dicom2nifti_testdata", "tests", "data", "failing")
    index = index_folder(root)
    assert index.patients
    orient = index_folder(root / "sliceorientation")
    labels = [s.label for s in orient.iter_stacks()]
    assert labels == ["orientation 1 (sagittal)", "orientation 2 (axial)"]
    notavolume = list(index_folder(root / "notavolume").iter_stacks())
    assert [s.n_frames for s in notavolume] == [4]  # one position: one time series
    gantry = list(index_folder(root / "gantrytilting").iter_stacks())
    assert len(gantry) == 1  # a tilted series is one stack; the loader judges its geometry


def test_totalsegmentator_ct_without_uids_is_one_stack() -> None:
    index = index_folder(shared("totalsegmentator_ref"))
    stacks = list(index.iter_stacks())
    assert len(stacks) == 1 and stacks[0].n_frames == 20
    se = next(se for _p, _st, se in index.iter_series())
    assert "no Series Instance UID" in se.warnings[0]
    assert index.find_stack(stacks[0].uid) is stacks[0]


def test_every_file_is_indexed_or_skipped_exactly_once() -> None:
    root = shared("dicom2nifti_testdata")
    index = index_folder(root)
    all_files = {str(p) for p in root.rglob("*") if p.is_file()}
    indexed = indexed_paths(index)
    skipped = {s.path for s in index.skipped}
    assert indexed | skipped == all_files
    assert not indexed & skipped


# --- odd files, errors ------------------------------------------------------------------------


def test_non_dicom_files_in_series_folder_are_skipped(tmp_path: Path) -> None:
    uid = generate_uid()
    for i in range(2):
        write_image(tmp_path / "series" / f"{i}.dcm", series_uid=uid, instance=i + 1, position=(0, 0, float(i)))
    (tmp_path / "series" / "README.txt").write_text("Series notes\n")
    (tmp_path / "series" / "info.json").write_text('{"a": 1}')
    nii = shutil.copy(shared("dcm_qa_nih", "Ref", "EPI_PE=AP_3.nii"), tmp_path / "series" / "vol.nii")
    (tmp_path / "series" / "empty.dcm").write_bytes(b"")
    index = index_folder(tmp_path, SERIAL)
    reasons = {Path(s.path).name: s.reason for s in index.skipped}
    assert reasons == {
        "README.txt": "not a DICOM file",
        "info.json": "not a DICOM file",
        Path(nii).name: "not a DICOM file",
        "empty.dcm": "empty file",
    }
    assert list(index.iter_stacks())[0].n_frames == 2


def test_truncated_image_is_skipped(tmp_path: Path) -> None:
    path = write_image(tmp_path / "t.dcm", series_uid=generate_uid(), rows=64, cols=64)
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    result = parse_file(str(path))
    assert isinstance(result, SkippedFile) and result.reason.startswith("truncated")
    for n in (150, 300, 400):  # ends inside the file meta or the data set
        cut = tmp_path / f"cut{n}.dcm"
        cut.write_bytes(data[:n])
        assert parse_file(str(cut)) == SkippedFile(str(cut), "truncated: the file ends inside its header")


def test_image_cut_before_its_pixel_data_is_skipped(tmp_path: Path) -> None:
    path = write_image(tmp_path / "t.dcm", series_uid=generate_uid(), rows=8, cols=8)
    header = parse_file(str(path))
    assert isinstance(header, DicomHeader)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(path.read_bytes()[: header.pixel_data_offset - 12])  # ends between elements
    assert parse_file(str(cut)) == SkippedFile(str(cut), NO_PIXELS_REASON)


def test_image_without_size_is_skipped(tmp_path: Path) -> None:
    path = write_image(tmp_path / "t.dcm", series_uid=generate_uid(), rows=8, cols=8)
    ds = pydicom.dcmread(path)
    ds.Rows = 0
    ds.save_as(path)
    assert parse_file(str(path)) == SkippedFile(str(path), NO_SIZE_REASON)


def test_big_endian_truncated_header_is_skipped(tmp_path: Path) -> None:
    source = Path(get_testdata_file("MR_small_bigendian.dcm", read=False))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(source.read_bytes()[:1220])  # inside the ImageOrientationPatient value
    assert parse_file(str(cut)) == SkippedFile(str(cut), "truncated: the file ends inside its header")


def test_implausible_frame_counts_are_skipped_quickly(tmp_path: Path) -> None:
    native = write_image(tmp_path / "native.dcm", series_uid=generate_uid(), NumberOfFrames=1_000_000)
    result = parse_file(str(native))
    assert result == SkippedFile(str(native), "damaged: the file holds image data for 1 of its 1000000 frames")
    enhanced = pydicom.dcmread(shared("dcm_qa_enh", "In", "Siemens", "XA10", "6_1.dcm"))
    enhanced.NumberOfFrames = 1_000_000
    enhanced.save_as(tmp_path / "enhanced.dcm")
    result = parse_file(str(tmp_path / "enhanced.dcm"))
    assert isinstance(result, SkippedFile)
    assert "NumberOfFrames is 1000000 but only 6 frames are described" in result.reason
    huge = write_image(tmp_path / "huge.dcm", series_uid=generate_uid(), NumberOfFrames=2**31 - 1)
    assert "not plausible" in parse_file(str(huge)).reason


def test_no_permission_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_image(tmp_path / "locked.dcm", series_uid=generate_uid())
    real_open = builtins.open

    def fake_open(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    result = parse_file(str(path))
    assert result == SkippedFile(str(path), "no permission to read this file")


def test_links_loops_and_special_files(tmp_path: Path) -> None:
    write_image(tmp_path / "a" / "1.dcm", series_uid=generate_uid())
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "a" / "dangling.dcm").symlink_to(tmp_path / "nowhere.dcm")
    os.mkfifo(tmp_path / "a" / "pipe")  # opening it would block: never opened
    index = index_folder(tmp_path, SERIAL)
    assert [s.n_frames for s in index.iter_stacks()] == [1]
    reasons = {Path(s.path).name: s.reason for s in index.skipped}
    assert reasons == {
        "dangling.dcm": "broken link (the file it points to is missing)",
        "pipe": "not a regular file",
    }


def test_nonexistent_path_raises() -> None:
    with pytest.raises(UnreadableFile, match="folder not found"):
        index_folder("/nonexistent/interval/folder")


def test_empty_folder_gives_index_with_warning(tmp_path: Path) -> None:
    index = index_folder(tmp_path)
    assert index.patients == [] and index.skipped == []
    assert index.warnings == ["The folder is empty."]


def test_folder_without_dicom_warns_and_lists_skipped(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Notes about this exam.\n")
    index = index_folder(tmp_path)
    assert index.patients == []
    assert "No DICOM images" in index.warnings[0]
    assert [s.reason for s in index.skipped] == ["not a DICOM file"]


def test_single_file_path_is_indexed(tmp_path: Path) -> None:
    path = write_image(tmp_path / "one.dcm", series_uid=generate_uid())
    index = index_folder(path)
    assert [s.n_frames for s in index.iter_stacks()] == [1]
    assert index.root == str(tmp_path)


def test_index_files_mixes_files_folders_and_missing(tmp_path: Path) -> None:
    uid = generate_uid()
    a = write_image(tmp_path / "a" / "1.dcm", series_uid=uid, instance=1, position=(0, 0, 0))
    write_image(tmp_path / "b" / "2.dcm", series_uid=uid, instance=2, position=(0, 0, 1))
    index = index_files([a, tmp_path / "b", tmp_path / "missing.dcm"], policy=SERIAL)
    assert [s.n_frames for s in index.iter_stacks()] == [2]
    assert [s.reason for s in index.skipped] == ["file not found (moved or deleted?)"]
    assert index.root == str(tmp_path)


def test_implicit_vr_files_index_like_explicit(tmp_path: Path) -> None:
    uid = generate_uid()
    for i in range(3):
        write_image(tmp_path / f"{i}.dcm", series_uid=uid, instance=i + 1, position=(0, 0, float(i)), implicit=True)
    stacks = list(index_folder(tmp_path, SERIAL).iter_stacks())
    assert len(stacks) == 1 and stacks[0].n_frames == 3
    assert stacks[0].first.pixel_data_offset is not None


# --- parallel parsing, progress and cancel ------------------------------------------------------


@pytest.fixture
def many_files(tmp_path: Path) -> list[str]:
    uid = generate_uid()
    paths = [
        str(write_image(tmp_path / f"{i:03d}.dcm", series_uid=uid, instance=i + 1, position=(0, 0, float(i))))
        for i in range(40)
    ]
    (tmp_path / "zz_readme.txt").write_text("not dicom")
    return [*paths, str(tmp_path / "zz_readme.txt")]


@pytest.fixture
def force_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use helper processes even for a few files (and wait until they run)."""
    monkeypatch.setattr(index_module, "PARALLEL_MIN_FILES", 0)
    monkeypatch.setattr(index_module, "MIN_FILES_PER_WORKER", 1)
    monkeypatch.setattr(index_module, "_CHUNK_MIN", 4)
    index_module.start_workers(DicomReadPolicy(workers=2), wait=True)


def test_parallel_parse_equals_serial(
    many_files: list[str], force_parallel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = parse_files(many_files, SERIAL)

    def no_serial(*args: object, **kwargs: object) -> None:
        raise AssertionError("the worker pool was not used")

    monkeypatch.setattr(index_module, "_parse_serial", no_serial)
    parallel = parse_files(many_files, DicomReadPolicy(workers=2))
    assert parallel == serial
    assert sum(isinstance(r, DicomHeader) for r in parallel) == 40
    assert isinstance(parallel[-1], SkippedFile)
    # what a helper process sends back is what this process would make
    helper = index_module._ready_pool(1).submit(index_module._parse_chunk, many_files, True)
    assert helper.result(timeout=60) == serial


def test_parallel_index_reports_progress(many_files: list[str], force_parallel: None) -> None:
    calls: list[tuple[int, int]] = []
    index = index_files(many_files, policy=DicomReadPolicy(workers=2), progress=lambda d, t: calls.append((d, t)))
    assert list(index.iter_stacks())[0].n_frames == 40
    assert calls[0] == (0, 41) and calls[-1] == (41, 41)
    assert [d for d, _t in calls] == sorted(d for d, _t in calls)
    assert len(calls) > 2


def test_serial_progress_and_cancel(many_files: list[str]) -> None:
    calls: list[tuple[int, int]] = []
    parse_files(many_files, SERIAL, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 41) and calls[-1] == (41, 41)
    seen = []

    def cancel() -> bool:
        seen.append(1)
        return len(seen) > 3

    with pytest.raises(Cancelled):
        parse_files(many_files, SERIAL, cancel=cancel)


def test_parallel_cancel(many_files: list[str], force_parallel: None) -> None:
    with pytest.raises(Cancelled):
        parse_files(many_files, DicomReadPolicy(workers=2), cancel=lambda: True)
    # the kept pool still works afterwards
    assert len(parse_files(many_files, DicomReadPolicy(workers=2))) == 41


def test_index_folder_cancel_before_parsing(tmp_path: Path) -> None:
    write_image(tmp_path / "a.dcm", series_uid=generate_uid())
    with pytest.raises(Cancelled):
        index_folder(tmp_path, cancel=lambda: True)


def test_helpers_restart_after_shutdown(many_files: list[str], force_parallel: None) -> None:
    index_module.shutdown_workers()
    assert index_module._pool is None
    assert len(parse_files(many_files, DicomReadPolicy(workers=2))) == 41  # serial or not: complete
    index_module.start_workers(DicomReadPolicy(workers=2), wait=True)
    assert index_module._ready_pool(1) is not None


def test_worker_count_rules() -> None:
    count = index_module._worker_count
    assert count(DicomReadPolicy(workers=1), 10_000) == 1
    assert count(DicomReadPolicy(workers=4), 10) == 1  # small job: no pool
    assert count(DicomReadPolicy(workers=2), 5_000) == 2
    assert count(DicomReadPolicy(workers=8), index_module.PARALLEL_MIN_FILES) >= 1


def test_series_with_unreadable_files_says_it_is_incomplete(tmp_path: Path) -> None:
    """Truncated slices are skipped; the series and the loaded volume must say images are missing."""
    from interval.io.dicom.load import load_stack
    from tests.cli.dicom_factory import write_ct_series

    write_ct_series(tmp_path / "ct", n=8, rows=16, cols=16)
    files = sorted((tmp_path / "ct").iterdir())
    for victim in files[:3]:  # cut inside the pixel data: the header still names the series
        data = victim.read_bytes()
        victim.write_bytes(data[: len(data) - 100])
    index = index_folder(tmp_path / "ct")
    assert len([s for s in index.skipped if s.reason.startswith("truncated")]) == 3
    (_p, _st, series), = list(index.iter_series())
    assert any("3 file(s) of this series could not be read" in w for w in series.warnings)
    stack = series.stacks[0]
    assert stack.n_frames == 5
    volume = load_stack(stack, DicomReadPolicy(irregular="as-is"))
    assert any("could not be read" in w for w in volume.metadata.warnings)


def test_helper_processes_end_when_interval_ends_without_shutting_them_down(tmp_path) -> None:
    """A process that started the index helpers and then ended abruptly (``os._exit``, a
    crash) leaves none behind: they would hold its standard output open for ever."""
    import subprocess
    import sys
    import time

    import psutil

    pids_file = tmp_path / "pids"
    script = (
        "import os, psutil\n"
        "from interval.io.dicom.index import start_workers\n"
        "from interval.io.dicom.policy import DicomReadPolicy\n"
        "start_workers(DicomReadPolicy(workers=3), wait=True)\n"
        "me = psutil.Process()\n"
        f"open({str(pids_file)!r}, 'w').write(' '.join(str(c.pid) for c in "
        "me.children(recursive=True)))\n"
        "os._exit(0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, timeout=60, check=True)
    assert proc.returncode == 0  # run() returned: nothing held its output open for long
    pids = [int(p) for p in pids_file.read_text().split()]
    assert pids, "no helper process was started"
    end = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < end:
        alive = [p for p in pids if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.1)
    assert alive == []
