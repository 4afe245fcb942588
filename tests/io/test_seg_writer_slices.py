"""write_dicom_seg_slices: a label map given per slice, saved as DICOM SEG and read back."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from interval.core.errors import UnsupportedData
from interval.io.seg_writer import write_dicom_seg_slices
from interval.io.segmentation import load_segmentation, place_on_grid
from tests.io.test_seg_writer import TABLE, _labels, series  # noqa: F401 - fixture


def test_slices_variant_writes_only_given_slices_and_reads_back(series, tmp_path):  # noqa: F811
    """write_dicom_seg_slices: labels given per slice, sources only of those slices."""
    files, volume = series
    full = _labels(volume, TABLE).array
    slices = {k: full[k].copy() for k in range(volume.shape[0]) if full[k].any()}
    assert 0 not in slices  # slice 0 is empty: its source image is not needed
    uid_of = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID): f for f in files}
    wanted = [uid_of[volume.metadata.sop_instance_uids[k]] for k in slices]
    grid = volume.with_array(np.broadcast_to(np.zeros((), np.uint8), volume.shape))
    out = tmp_path / "slices.dcm"
    written = write_dicom_seg_slices(grid, slices, TABLE, out, wanted[::-1])
    assert len(written.referenced_sop_instance_uids) == len(slices)
    back = place_on_grid(load_segmentation(out), volume)
    np.testing.assert_array_equal(back.array, full)
    with pytest.raises(UnsupportedData, match="no source image"):
        write_dicom_seg_slices(grid, slices, TABLE, tmp_path / "x.dcm", wanted[1:])
    assert not (tmp_path / "x.dcm").exists()
