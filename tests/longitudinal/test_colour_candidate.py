"""Longitudinal tracking never picks a colour series (RGB or palette) as a timepoint's scan."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from interval.io.dicom.index import index_files
from interval.io.dicom.policy import DEFAULT_POLICY
from interval.longitudinal.timeline_series import analyse_candidate


@pytest.mark.parametrize("name", ["OBXXXX1A.dcm", "US1_UNCR.dcm", "SC_rgb.dcm"])
def test_colour_series_are_not_candidates(name) -> None:
    path = Path(get_testdata_file(name))
    index = index_files([path], root=path.parent)
    (study_patient, study, series), = list(index.iter_series())
    assert analyse_candidate(study, series, series.stacks[0], DEFAULT_POLICY) == (
        "it holds colour images"
    )
