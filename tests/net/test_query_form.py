"""The PACS search form without Qt: validation in words, rows as the tables show them."""

from __future__ import annotations

from datetime import date

import pytest

from interval.net.model import SeriesHit, StudyHit
from interval.net.query_form import (
    InvalidQuery,
    QueryFields,
    build_query,
    format_dicom_date,
    format_dicom_time,
    format_person_name,
    series_row,
    sort_series,
    study_row,
    study_summary,
)


def test_fields_become_a_query_stripped_and_upper_cased() -> None:
    query = build_query(QueryFields(patient_id=" 123 ", patient_name="Doe*",
                                    date_from="2024-01-02", date_to="2024-03-04",
                                    modality=" ct", accession_number=" A7 "), limit=50)
    assert query.patient_id == "123"
    assert query.patient_name == "Doe*"
    assert query.date_from == date(2024, 1, 2)
    assert query.date_to == date(2024, 3, 4)
    assert query.modality == "CT"
    assert query.accession_number == "A7"
    assert query.limit == 50


def test_one_date_alone_is_an_open_range() -> None:
    query = build_query(QueryFields(date_from="2024-02-29"))
    assert query.date_from == date(2024, 2, 29)
    assert query.date_to is None


@pytest.mark.parametrize("text", ["15.03.2024", "2024/03/15", "20240315", "yesterday"])
def test_a_date_not_written_yyyy_mm_dd_is_refused_in_words(text: str) -> None:
    with pytest.raises(InvalidQuery, match="YYYY-MM-DD") as info:
        build_query(QueryFields(patient_id="1", date_from=text))
    assert "'From'" in str(info.value) and text in str(info.value)


def test_a_date_that_does_not_exist_is_refused() -> None:
    with pytest.raises(InvalidQuery, match="does not exist"):
        build_query(QueryFields(patient_id="1", date_to="2023-02-29"))


def test_from_after_to_is_refused() -> None:
    with pytest.raises(InvalidQuery, match=r"'From' date \(2024-05-01\) is after the 'To'"):
        build_query(QueryFields(date_from="2024-05-01", date_to="2024-04-01"))


def test_same_day_range_is_fine() -> None:
    query = build_query(QueryFields(date_from="2024-05-01", date_to="2024-05-01"))
    assert query.date_from == query.date_to == date(2024, 5, 1)


def test_an_empty_form_is_refused() -> None:
    with pytest.raises(InvalidQuery, match="at least one field"):
        build_query(QueryFields(patient_id="  "))


def test_a_modality_with_odd_characters_is_refused() -> None:
    with pytest.raises(InvalidQuery, match="not a modality"):
        build_query(QueryFields(modality="C T"))


def test_study_row_formats_dates_names_and_counts() -> None:
    hit = StudyHit(study_uid="1.2", patient_id="P1", patient_name="Doe^John^^Dr",
                   study_date="20240315", study_time="143005.123", description="<b>Thorax</b>",
                   accession_number="ACC1", modalities=("CT", "SEG"), n_series=3,
                   n_instances=120)
    row = study_row(hit)
    assert row.cells() == ("2024-03-15", "14:30:05", "Doe John Dr", "P1", "<b>Thorax</b>",
                           "ACC1", "CT, SEG", "3", "120")
    assert study_summary(hit) == "2024-03-15 CT, SEG <b>Thorax</b> (3 series)"


def test_study_row_leaves_unknowns_empty() -> None:
    row = study_row(StudyHit(study_uid="1.2"))
    assert row.cells() == ("",) * 9
    assert study_summary(StudyHit(study_uid="1.2")) == "undated"


def test_odd_dates_and_times_are_shown_as_they_are() -> None:
    assert format_dicom_date("2024-3-1") == "2024-3-1"
    assert format_dicom_time("1430") == "14:30"
    assert format_dicom_time("14") == "14"
    assert format_person_name("Yamada^Tarou=山田^太郎") == "Yamada Tarou"


def test_series_rows_and_their_order() -> None:
    hits = [SeriesHit("s", "3", "CT", None, "scout"), SeriesHit("s", "2", "CT", 5, "late", 40),
            SeriesHit("s", "1", "CT", 2, "early", 100)]
    ordered = sort_series(hits)
    assert [h.series_uid for h in ordered] == ["1", "2", "3"]
    assert series_row(ordered[0]).cells() == ("2", "CT", "early", "100")
    assert series_row(ordered[2]).cells() == ("", "CT", "scout", "")
