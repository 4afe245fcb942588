"""The corner texts of a 2-D view, built from metadata without Qt."""

from __future__ import annotations

import datetime

import pytest

from interval.core.metadata import VolumeMetadata
from interval.core.overlay_text import (
    MAX_LINE_CHARS,
    SliceInfo,
    corner_texts,
    identifying_values,
    orientation_is_anatomical,
    patient_name_text,
    plain_line,
    scale_bar_label,
    scale_bar_mm,
    slice_position,
)

MD = VolumeMetadata(
    patient_name="Doe^John^Quincy^Dr",
    patient_id="PID-4711",
    study_date=datetime.date(2024, 3, 5),
    study_time="143012.123",
    study_description="CT CHEST W CONTRAST",
    series_number=3,
    series_description="AX 2.5mm",
    modality="CT",
)
SLICE = SliceInfo(12, 40, "k", "Z", 12.5, 2.5, "Thick")


def test_four_corners_with_patient_series_slice_and_window() -> None:
    texts = corner_texts(MD, "Axial", SLICE, window="W/L 400/40", zoom=1.5)
    assert texts.top_left.splitlines() == [
        "Doe, Dr John Quincy", "ID: PID-4711", "2024-03-05 14:30", "CT CHEST W CONTRAST",
    ]
    assert texts.top_right.splitlines() == ["Series 3: AX 2.5mm", "CT"]
    assert texts.bottom_left.splitlines() == ["Axial  12/40  (k 11)", "Z: 12.5 mm", "Thick: 2.5 mm"]
    assert texts.bottom_right.splitlines() == ["W/L 400/40", "Zoom 1.50x"]


def test_anonymised_has_no_patient_name_id_or_date() -> None:
    normal = corner_texts(MD, "Axial", SLICE, window="W/L 400/40", zoom=1.0)
    anon = corner_texts(MD, "Axial", SLICE, window="W/L 400/40", zoom=1.0, anonymised=True)
    everything = "\n".join(anon.as_dict().values())
    for value in ("Doe", "John", "PID-4711", "2024", "14:30"):
        assert value not in everything
    for value in identifying_values(MD):
        assert value in normal.top_left and value not in everything
    assert anon.top_left == "CT CHEST W CONTRAST"  # what was studied stays
    # only the patient corner differs
    assert {k for k, v in anon.as_dict().items() if v != normal.as_dict()[k]} == {"top_left"}


def test_no_volume_shows_only_the_view_name() -> None:
    texts = corner_texts(None, "Sagittal")
    assert texts.as_dict() == {"top_left": "", "top_right": "", "bottom_left": "Sagittal",
                               "bottom_right": ""}


def test_missing_fields_leave_no_empty_lines_or_labels() -> None:
    md = VolumeMetadata(series_description="T1 MPRAGE")
    texts = corner_texts(md, "Coronal", SliceInfo(1, 1, None, "Pos", -3.0, None), zoom=None)
    assert texts.top_left == "" and texts.top_right == "T1 MPRAGE"
    assert texts.bottom_left.splitlines() == ["Coronal  1/1", "Pos: -3 mm"]
    assert texts.bottom_right == ""
    only_number = corner_texts(VolumeMetadata(series_number=7), "Axial", SLICE)
    assert only_number.top_right == "Series 7"


def test_header_text_is_one_plain_line() -> None:
    hostile = "A\nB\r\tC\x1b[31m\u202eD\x00E"  # line breaks, an escape, a bidi override, NUL
    line = plain_line(hostile)
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line and "\x00" not in line
    assert line == "A B C [31m D E"
    md = VolumeMetadata(patient_name="Evil\nName^X", study_description="<b>bold</b>\nsecond")
    texts = corner_texts(md, "Axial", SLICE)
    assert texts.top_left.splitlines() == ["Evil Name, X", "<b>bold</b> second"]
    long = plain_line("x" * 200)
    assert len(long) == MAX_LINE_CHARS and long.endswith("...")


@pytest.mark.parametrize(
    ("name", "shown"),
    [("Doe^John", "Doe, John"), ("Doe", "Doe"), ("^John", "John"), ("", ""),
     ("Yamada^Tarou=山田^太郎", "Yamada, Tarou"), ("=山田^太郎", "山田, 太郎")],
)
def test_person_names(name: str, shown: str) -> None:
    assert patient_name_text(name) == shown


def test_slice_position_along_the_view_normal() -> None:
    assert slice_position((0, 0, 1), (3.0, -4.0, 12.5)) == ("Z", 12.5)
    assert slice_position((0, 0, -1), (3.0, -4.0, 12.5)) == ("Z", 12.5)  # either way
    assert slice_position((0, 1, 0), (3.0, -4.0, 12.5)) == ("Y", -4.0)
    assert slice_position((-1, 0, 0), (3.0, -4.0, 12.5)) == ("X", 3.0)
    label, mm = slice_position((0.6, 0.0, 0.8), (10.0, 0.0, 10.0))
    assert label == "Pos" and mm == pytest.approx(14.0)


def test_scale_bar_is_a_round_length_that_fits() -> None:
    assert scale_bar_mm(0.5, 100) == 50.0  # 100 px
    assert scale_bar_mm(0.7, 100) == 50.0  # 71 px
    assert scale_bar_mm(1.2, 100) == 100.0  # 83 px
    assert scale_bar_mm(0.05, 100) == 5.0  # zoomed in: 100 px
    assert scale_bar_mm(0.5, 10) is None  # nothing long enough to read fits
    assert scale_bar_mm(0.0, 100) is None
    for mm_px in (0.013, 0.1, 0.37, 0.9, 2.2, 4.9):
        mm = scale_bar_mm(mm_px, 120)
        assert mm is not None and 12 <= mm / mm_px <= 120
    assert scale_bar_label(10.0) == "10 mm" and scale_bar_label(0.5) == "0.5 mm"


def test_nominal_placement_is_not_anatomical() -> None:
    assert orientation_is_anatomical(MD)
    assert not orientation_is_anatomical(None)
    nominal = MD.with_warnings(
        "This image has no position in the patient (e.g. a projection X-ray); it is shown "
        "with a nominal placement, so positions and directions are not anatomical."
    )
    assert not orientation_is_anatomical(nominal)
