"""Opening any path: classification, stack selection, loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interval.core.errors import NotAnImage, UnreadableFile
from interval.core.volume import Volume
from interval.io.image_files import write_image
from interval.io.open_path import (
    AmbiguousSeries,
    SeriesNotFound,
    classify_path,
    index_path,
    open_volume,
    select_stack,
    stack_choices,
    stack_files,
)
from tests.cli.dicom_factory import write_ct_series, write_junk
from tests.conftest import shared


def test_classify(tmp_path: Path) -> None:
    assert classify_path(tmp_path) == "dicom-folder"
    (tmp_path / "a.nii.gz").write_bytes(b"x")
    (tmp_path / "IM0001").write_bytes(b"x")
    assert classify_path(tmp_path / "a.nii.gz") == "image-file"
    assert classify_path(tmp_path / "IM0001") == "dicom-file"
    with pytest.raises(UnreadableFile):
        classify_path(tmp_path / "nothing")


def test_select_by_number_uid_and_stack_uid(tmp_path: Path) -> None:
    a = write_ct_series(tmp_path / "a", n=3, series_number=2, description="A")
    b = write_ct_series(tmp_path / "b", n=4, series_number=5, description="B", seed=3)
    index = index_path(tmp_path)
    with pytest.raises(AmbiguousSeries) as err:
        select_stack(index)
    assert len(err.value.choices) == 2
    assert {c.dimensions for c in err.value.choices} == {(10, 8, 3), (10, 8, 4)}
    assert select_stack(index, "5").n_frames == 4
    assert select_stack(index, a.series_uid).n_frames == 3
    stack = select_stack(index, b.series_uid)
    assert select_stack(index, stack.uid) is stack
    assert stack_files(stack) == set(b.paths)
    with pytest.raises(SeriesNotFound):
        select_stack(index, "7")
    assert sorted(c.series_number for c in stack_choices(index)) == [2, 5]


def test_open_volume_from_dicom_and_image_files(tmp_path: Path) -> None:
    ct = write_ct_series(tmp_path / "ct", n=4)
    vol = open_volume(tmp_path / "ct")
    np.testing.assert_array_equal(vol.array, ct.array)
    one = open_volume(ct.paths[0])
    assert one.shape[0] == 1
    path = write_image(Volume(np.ones((2, 3, 4), dtype=np.int16)), tmp_path / "v.mha")
    assert open_volume(path).shape == (2, 3, 4)
    with pytest.raises(SeriesNotFound):
        open_volume(path, "3")


def test_no_images(tmp_path: Path) -> None:
    write_junk(tmp_path, ["a.txt"])
    with pytest.raises(NotAnImage, match="no DICOM image"):
        select_stack(index_path(tmp_path))


def test_mosaic_choices_count_tiles() -> None:
    index = index_path(shared("dcm_qa_nih", "In", "20180918Si", "mr_0003"))
    dims = {c.dimensions for c in stack_choices(index)}
    assert dims == {(72, 72, 5)}
