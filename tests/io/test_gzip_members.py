"""Parallel gzip members: standard readers see one stream; .nii.gz written this way."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from interval.core.errors import IntervalError
from interval.core.labels import LabelTable
from interval.core.volume import Volume
from interval.io import image_files
from interval.io.gzip_members import gzip_stream
from interval.io.image_files import read_image, write_image


@pytest.mark.parametrize("size", [0, 1, 999, 4096, 10_000])
def test_members_decompress_to_the_input(size: int) -> None:
    data = np.random.default_rng(size).integers(0, 4, size, dtype=np.uint8).tobytes()
    out = io.BytesIO()
    gzip_stream(io.BytesIO(data), out, threads=3, chunk_bytes=1000)
    raw = out.getvalue()
    assert gzip.decompress(raw) == data
    members = raw.count(b"\x1f\x8b\x08")  # one gzip header per chunk (at least)
    assert members >= max(1, -(-size // 1000))


def test_nifti_gz_is_multi_member_and_read_back_by_itk(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (40, 300, 300), dtype=np.uint8)  # 3.6 MB: several members
    vol = Volume(labels, (0.7, 0.8, 2.5), (10.0, -20.0, 30.0), labels=LabelTable.for_values([1, 2]))
    path = write_image(vol, tmp_path / "seg.nii.gz")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    image = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(image), labels)
    np.testing.assert_allclose(image.GetSpacing(), (0.7, 0.8, 2.5), rtol=1e-6)
    back = read_image(path)
    np.testing.assert_array_equal(back.array, labels)
    np.testing.assert_allclose(back.origin, (10.0, -20.0, 30.0), atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.nii.gz"]  # no temporary files


def test_nifti_gz_compression_failure_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "v.nii.gz"
    vol = Volume(np.ones((3, 4, 5), np.int16))
    write_image(vol, target)
    before = target.read_bytes()

    def full_disk(src, dst, **kwargs):  # type: ignore[no-untyped-def]
        dst.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(image_files, "gzip_stream", full_disk)
    with pytest.raises(IntervalError, match="could not write the file"):
        write_image(Volume(np.zeros((3, 4, 5), np.int16)), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["v.nii.gz"]
