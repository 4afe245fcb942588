"""The PACS search form without Qt: fields to a :class:`StudyQuery`, hits to table rows.

:func:`build_query` checks what a person typed (dates ``YYYY-MM-DD``, *from* not after
*to*, a modality of letters and digits) and says what is wrong in a sentence
(:class:`InvalidQuery`).  :func:`study_row` and :func:`series_row` give the text of one
row of the dialog's tables: dates as ``YYYY-MM-DD``, person names without DICOM's ``^``,
counts as numbers ("" when the server did not say).  The texts come from DICOM headers:
the dialog shows them as plain text only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from interval.core.errors import IntervalError
from interval.net.model import SeriesHit, StudyHit, StudyQuery

# the modality combo's entries ("" = any modality)
MODALITIES = ("", "CT", "MR", "PT", "NM", "US", "CR", "DX", "MG", "XA", "RF", "OT", "SEG", "SR")
STUDY_COLUMNS = ("Date", "Time", "Patient", "Patient ID", "Description", "Accession",
                 "Modalities", "Series", "Images")
SERIES_COLUMNS = ("Number", "Modality", "Description", "Images")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MODALITY = re.compile(r"^[A-Z0-9]{1,16}$")


class InvalidQuery(IntervalError):
    """A search field holds something the search cannot use (the message says which)."""


@dataclass(frozen=True)
class QueryFields:
    """The search form as typed (dates ``YYYY-MM-DD`` or "" for any)."""

    patient_id: str = ""
    patient_name: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = ""
    accession_number: str = ""


def parse_form_date(text: str, which: str) -> date | None:
    """``YYYY-MM-DD`` as a date (None for ""); :class:`InvalidQuery` says what is wrong.
    ``which`` names the field in the message ("From", "To")."""
    text = text.strip()
    if not text:
        return None
    if not _DATE.match(text):
        raise InvalidQuery(f"The {which!r} date {text!r} is not a date: write it as "
                           "YYYY-MM-DD, for example 2024-03-15.")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidQuery(f"The {which!r} date {text!r} does not exist in the calendar."
                           ) from None


def build_query(fields: QueryFields, *, limit: int = 200) -> StudyQuery:
    """The :class:`StudyQuery` of the form; raises :class:`InvalidQuery` with a sentence
    when a field is wrong or when every field is empty (that would list the whole PACS)."""
    date_from = parse_form_date(fields.date_from, "From")
    date_to = parse_form_date(fields.date_to, "To")
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidQuery(f"The 'From' date ({date_from.isoformat()}) is after the 'To' "
                           f"date ({date_to.isoformat()}).")
    modality = fields.modality.strip().upper()
    if modality and not _MODALITY.match(modality):
        raise InvalidQuery(f"{fields.modality.strip()!r} is not a modality (letters such as "
                           "CT, MR or PT).")
    query = StudyQuery(
        patient_id=fields.patient_id.strip(),
        patient_name=fields.patient_name.strip(),
        date_from=date_from,
        date_to=date_to,
        modality=modality,
        accession_number=fields.accession_number.strip(),
        limit=limit,
    )
    if not any((query.patient_id, query.patient_name, date_from, date_to, modality,
                query.accession_number)):
        raise InvalidQuery("Fill in at least one field (patient ID, name, dates, modality "
                           "or accession number): an empty search would list the whole PACS.")
    return query


def format_dicom_date(text: str) -> str:
    """``YYYYMMDD`` as ``YYYY-MM-DD``; anything else (or "") as it is, stripped."""
    text = (text or "").strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def format_dicom_time(text: str) -> str:
    """``HHMMSS.ffff`` as ``HH:MM`` (``HH:MM:SS`` when seconds are given); else as it is."""
    text = (text or "").strip()
    digits = text.split(".")[0]
    if len(digits) >= 4 and digits.isdigit():
        return ":".join(digits[i:i + 2] for i in range(0, min(len(digits), 6), 2))
    return text


def format_person_name(text: str) -> str:
    """A DICOM person name (``Doe^John^^Dr``) as ``Doe John Dr`` (ideographic parts after
    ``=`` are dropped)."""
    first = (text or "").split("=")[0]
    return " ".join(part for part in first.replace("^", " ").split() if part)


def _count(value: int | None) -> str:
    return "" if value is None else str(int(value))


@dataclass(frozen=True)
class StudyRow:
    """The texts of one study row (in :data:`STUDY_COLUMNS` order by :meth:`cells`)."""

    date: str
    time: str
    patient: str
    patient_id: str
    description: str
    accession: str
    modalities: str
    series: str
    images: str

    def cells(self) -> tuple[str, ...]:
        return (self.date, self.time, self.patient, self.patient_id, self.description,
                self.accession, self.modalities, self.series, self.images)


@dataclass(frozen=True)
class SeriesRow:
    """The texts of one series row (in :data:`SERIES_COLUMNS` order by :meth:`cells`)."""

    number: str
    modality: str
    description: str
    images: str

    def cells(self) -> tuple[str, ...]:
        return (self.number, self.modality, self.description, self.images)


def study_row(hit: StudyHit) -> StudyRow:
    """What the studies table shows for ``hit``."""
    return StudyRow(
        date=format_dicom_date(hit.study_date),
        time=format_dicom_time(hit.study_time),
        patient=format_person_name(hit.patient_name),
        patient_id=hit.patient_id.strip(),
        description=hit.description.strip(),
        accession=hit.accession_number.strip(),
        modalities=", ".join(m for m in hit.modalities if m),
        series=_count(hit.n_series),
        images=_count(hit.n_instances),
    )


def series_row(hit: SeriesHit) -> SeriesRow:
    """What the series table shows for ``hit``."""
    return SeriesRow(
        number=_count(hit.number),
        modality=hit.modality.strip(),
        description=hit.description.strip(),
        images=_count(hit.n_instances),
    )


def sort_series(hits: list[SeriesHit]) -> list[SeriesHit]:
    """Series by number (series without a number last), then description."""
    return sorted(hits, key=lambda h: (h.number is None, h.number or 0, h.description,
                                       h.series_uid))


def study_summary(hit: StudyHit) -> str:
    """One line for messages: ``2024-03-15 CT Thorax (3 series)`` (no patient data)."""
    row = study_row(hit)
    parts = [row.date or "undated", row.modalities, row.description]
    text = " ".join(p for p in parts if p)
    return f"{text} ({row.series} series)" if row.series else text
