"""load_stack(on_partial=...): the middle slice first, every reported slice final, refusals first."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from interval.core.errors import Cancelled, IrregularGeometry, UnreadableFile
from interval.io.dicom import _native_read
from interval.io.dicom.load import load_stack
from interval.io.dicom.pixels import read_pixels
from interval.io.dicom.policy import DicomReadPolicy
from tests.io.dicom.test_load import stack_of, write_series, zs

N = 40  # >= PARALLEL_MIN_FILES: the threaded reader


class Recorder:
    """An on_partial that checks, at each call, that every reported slice is final."""

    def __init__(self, reference: np.ndarray) -> None:
        self.reference = reference
        self.calls: list[tuple[object, np.ndarray]] = []
        self.bad: list[int] = []

    def __call__(self, volume, filled: np.ndarray) -> None:
        self.calls.append((volume, filled))
        for k in np.flatnonzero(filled):
            if not np.array_equal(volume.array[k], self.reference[k]):
                self.bad.append(int(k))


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("progressive")
    # files written in reverse slice order: the loader must sort them, not trust names
    paths, _stored, _uids = write_series(folder, zs(*[2.5 * k for k in range(N)]), rows=20, cols=16)
    return paths


def test_middle_slice_first_then_every_reported_slab_final(series) -> None:
    reference = load_stack(stack_of(series))
    rec = Recorder(reference.array)
    vol = load_stack(stack_of(series), on_partial=rec)

    assert rec.calls, "on_partial was never called"
    first_volume, first = rec.calls[0]
    assert np.flatnonzero(first).tolist() == [(N - 1) // 2]  # the crosshair's slice, alone
    # the geometry and metadata are final from the first call on
    assert first_volume.spacing == reference.spacing and first_volume.origin == reference.origin
    np.testing.assert_array_equal(first_volume.direction, reference.direction)
    assert first_volume.metadata.sop_instance_uids == reference.metadata.sop_instance_uids
    assert first_volume.array.shape == reference.array.shape
    assert first_volume.array.dtype == reference.array.dtype
    # one volume throughout, returned at the end; masks only grow, and end complete
    assert all(v is vol for v, _f in rec.calls)
    for (_v, before), (_w, after) in zip(rec.calls, rec.calls[1:], strict=False):
        assert np.all(after[before]) and after.sum() > before.sum()
    assert rec.calls[-1][1].all()
    assert rec.bad == []
    np.testing.assert_array_equal(vol.array, reference.array)


def test_sequential_reader_fills_outwards(series, monkeypatch) -> None:
    monkeypatch.setattr(_native_read, "PARALLEL_MIN_FILES", 10_000)  # one thread, file by file
    reference = load_stack(stack_of(series))
    rec = Recorder(reference.array)
    load_stack(stack_of(series), on_partial=rec)
    assert len(rec.calls) == N and rec.bad == []
    order = [
        int(np.flatnonzero(f & ~p)[0])
        for (_v, p), (_w, f) in zip([(None, np.zeros(N, bool))] + rec.calls, rec.calls, strict=False)
    ]
    distances = [abs(k - (N - 1) // 2) for k in order]
    assert distances == sorted(distances)  # nearest to the middle first
    assert sorted(order) == list(range(N))


def test_unread_slices_are_zero_while_loading(series) -> None:
    seen: list[bool] = []

    def check(volume, filled) -> None:
        if not seen:  # the first call: only the middle slice was read
            seen.append(bool(np.all(volume.array[~filled] == 0)))

    load_stack(stack_of(series), on_partial=check)
    assert seen == [True]


def test_irregular_series_refused_before_any_callback(tmp_path) -> None:
    z = [0.0, 2.5, 5.0, 12.5, 15.0]  # a gap: irregular
    paths, _s, _u = write_series(tmp_path, zs(*z))
    calls: list[object] = []
    with pytest.raises(IrregularGeometry):
        load_stack(stack_of(paths), on_partial=lambda v, f: calls.append(f))
    assert calls == []
    # resampled onto a grid: not progressive (the array is interpolated afterwards)
    vol = load_stack(
        stack_of(paths), DicomReadPolicy(irregular="resample"),
        on_partial=lambda v, f: calls.append(f),
    )
    assert calls == [] and vol.array.shape[0] > len(z)
    # loaded as-is: progressive like any regular stack
    load_stack(stack_of(paths), DicomReadPolicy(irregular="as-is"),
               on_partial=lambda v, f: calls.append(f))
    assert calls and calls[-1].all()


def test_cancel_after_the_first_slice(series) -> None:
    stop = threading.Event()
    calls: list[np.ndarray] = []

    def first_then_cancel(volume, filled) -> None:
        calls.append(filled)
        stop.set()

    with pytest.raises(Cancelled):
        load_stack(stack_of(series), on_partial=first_then_cancel, cancel=stop.is_set)
    assert calls and not calls[-1].all()


def test_file_gone_mid_load_raises_after_partial_reports(series, tmp_path) -> None:
    copies = []
    for p in series:
        q = tmp_path / p.name
        q.write_bytes(p.read_bytes())
        copies.append(q)
    stack = stack_of(copies)
    victim = copies[0]  # the slice farthest from the middle (files are in reverse order)
    calls: list[np.ndarray] = []

    def remove_after_first(volume, filled) -> None:
        calls.append(filled)
        if victim.exists():
            victim.unlink()

    with pytest.raises(UnreadableFile):
        load_stack(stack, on_partial=remove_after_first)
    assert calls and not calls[-1].all()


def _signed_ct(folder, values: list[int]) -> list:
    """Signed 16-bit CT, intercept -1024 (GE style): int16 unless a value is below -31744."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for k, v in enumerate(values):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.Modality = "CT"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = ["0", "0", f"{2.0 * k}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.PixelSpacing = ["0.5", "0.5"]
        ds.Rows = ds.Columns = 4
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
        ds.PixelData = np.full((4, 4), v, dtype="<i2").tobytes()
        path = folder / f"s{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def test_wider_type_fallback_reports_a_new_volume(tmp_path) -> None:
    values = [0] * 9
    values[0] = -32000  # -33024 HU does not fit int16: read again as int32
    paths = _signed_ct(tmp_path / "ge", values)
    seen: list[tuple[object, np.ndarray]] = []
    vol = load_stack(stack_of(paths), on_partial=lambda v, f: seen.append((v, f)))
    assert vol.array.dtype == np.int32 and int(vol.array.min()) == -33024
    assert seen[0][0].array.dtype == np.int16  # the optimistic first try was shown...
    assert seen[-1][0] is vol and seen[-1][1].all()  # ...then replaced by the wider volume
    restarted = [n for n, (v, _f) in enumerate(seen) if v is vol]
    assert np.flatnonzero(seen[restarted[0]][1]).tolist() == [4]  # again the middle first


def test_read_pixels_first_index_and_batches(series) -> None:
    frames = stack_of(series).frames  # file order, not slice order: fine for read_pixels
    plain = read_pixels(frames)
    batches: list[list[int]] = []
    out = read_pixels(frames, on_filled=lambda a, idx: batches.append(sorted(idx)), first=3)
    assert batches[0] == [3]
    assert sorted(k for b in batches for k in b) == list(range(len(frames)))
    np.testing.assert_array_equal(out, plain)


def test_native_multiframe_file_fills_in_pieces_middle_first(tmp_path) -> None:
    from interval.io.dicom.header import read_header
    from interval.io.dicom.records import FrameRef

    n = 30
    stored = np.random.default_rng(1).integers(0, 4000, size=(n, 6, 5)).astype("<u2")
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "OT"
    ds.NumberOfFrames = n
    ds.Rows, ds.Columns = 6, 5
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = stored.tobytes()
    path = tmp_path / "multi.dcm"
    ds.save_as(path, enforce_file_format=True)
    header = read_header(path)
    frames = [FrameRef(header, f) for f in range(n)]
    batches: list[list[int]] = []
    out = read_pixels(frames, on_filled=lambda a, idx: batches.append(sorted(idx)))
    np.testing.assert_array_equal(out, stored)
    assert batches[0] == [(n - 1) // 2]  # one file, yet the middle frame comes first
    assert len(batches) > 2 and sorted(k for b in batches for k in b) == list(range(n))


@pytest.mark.parametrize(("k", "offset_mm"), [(3, 0.0), (33, 0.9), (0, -1.0)])
def test_the_slice_holding_first_point_is_read_first(series, k, offset_mm) -> None:
    reference = load_stack(stack_of(series))
    point = reference.index_to_lps(np.array([5.0, 7.0, k + offset_mm / 2.5]))
    asked: list[int] = []

    def first_point():
        asked.append(1)
        return tuple(point)

    rec = Recorder(reference.array)
    vol = load_stack(stack_of(series), on_partial=rec, first_point=first_point)
    assert asked == [1]  # asked once, when the geometry is known
    assert np.flatnonzero(rec.calls[0][1]).tolist() == [k]
    assert rec.calls[-1][1].all() and rec.bad == []
    np.testing.assert_array_equal(vol.array, reference.array)


@pytest.mark.parametrize("point", [None, (1e9, 0.0, 1e9), (float("nan"), 0.0, 0.0)])
def test_no_usable_first_point_reads_the_middle_or_the_nearest_end(series, point) -> None:
    reference = load_stack(stack_of(series))
    rec = Recorder(reference.array)
    load_stack(stack_of(series), on_partial=rec, first_point=lambda: point)
    first = np.flatnonzero(rec.calls[0][1]).tolist()
    if point is not None and np.isfinite(point[0]):  # far outside: the nearest end slice
        assert first in ([0], [N - 1])
    else:
        assert first == [(N - 1) // 2]
    assert rec.bad == []
