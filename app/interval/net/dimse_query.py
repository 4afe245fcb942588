"""C-FIND identifiers for a :class:`StudyQuery` and hits from the responses (no I/O here).

Study Root queries: STUDY level with the matching keys the query holds and the return
keys a :class:`StudyHit` shows; SERIES level for one study; IMAGE level for the SOP
classes and instances of one series (what a retrieval needs to propose).
"""

from __future__ import annotations

from datetime import date

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from interval.net.model import SeriesHit, StudyHit, StudyQuery

UTF8 = "ISO_IR 192"


def date_range(date_from: date | None, date_to: date | None) -> str:
    """``YYYYMMDD-YYYYMMDD``, open ended on a missing side; '' when both are missing."""
    if date_from is None and date_to is None:
        return ""
    if date_from is not None and date_from == date_to:
        return date_from.strftime("%Y%m%d")
    left = date_from.strftime("%Y%m%d") if date_from else ""
    right = date_to.strftime("%Y%m%d") if date_to else ""
    return f"{left}-{right}"


def _charset(ds: Dataset, *values: str) -> None:
    """Declare UTF-8 when a matching key is not plain ASCII."""
    if any(not v.isascii() for v in values):
        ds.SpecificCharacterSet = UTF8


def study_identifier(query: StudyQuery) -> Dataset:
    """The STUDY-level identifier for ``query`` (empty return keys for every hit field)."""
    ds = Dataset()
    _charset(ds, query.patient_name, query.patient_id, query.accession_number)
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = query.study_uid.strip()
    ds.PatientID = query.patient_id.strip()
    ds.PatientName = query.patient_name.strip()
    ds.PatientBirthDate = ""
    ds.StudyDate = date_range(query.date_from, query.date_to)
    ds.StudyTime = ""
    ds.StudyDescription = ""
    ds.AccessionNumber = query.accession_number.strip()
    ds.ModalitiesInStudy = query.modality.strip().upper()
    ds.NumberOfStudyRelatedSeries = None
    ds.NumberOfStudyRelatedInstances = None
    return ds


def series_identifier(study_uid: str) -> Dataset:
    """The SERIES-level identifier for the series of one study."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = ""
    ds.Modality = ""
    ds.SeriesNumber = None
    ds.SeriesDescription = ""
    ds.NumberOfSeriesRelatedInstances = None
    return ds


def image_identifier(study_uid: str, series_uid: str) -> Dataset:
    """The IMAGE-level identifier listing a series' instances and their SOP classes."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "IMAGE"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.SOPInstanceUID = ""
    ds.SOPClassUID = ""
    return ds


def retrieve_identifier(study_uid: str, series_uid: str) -> Dataset:
    """The SERIES-level identifier of a C-GET or C-MOVE."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    return ds


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _count(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _values(ds: Dataset, keyword: str) -> tuple[str, ...]:
    value = ds.get(keyword)
    if value is None or value == "":
        return ()
    items = value if not isinstance(value, str) else value.split("\\")
    return tuple(str(v).strip() for v in items if str(v).strip())


def study_hit(ds: Dataset) -> StudyHit | None:
    """A :class:`StudyHit` from one C-FIND response (None without a Study Instance UID)."""
    uid = _text(ds, "StudyInstanceUID")
    if not uid:
        return None
    return StudyHit(
        study_uid=uid,
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        birth_date=_text(ds, "PatientBirthDate"),
        study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"),
        description=_text(ds, "StudyDescription"),
        accession_number=_text(ds, "AccessionNumber"),
        modalities=_values(ds, "ModalitiesInStudy"),
        n_series=_count(ds, "NumberOfStudyRelatedSeries"),
        n_instances=_count(ds, "NumberOfStudyRelatedInstances"),
    )


def series_hit(ds: Dataset, study_uid: str) -> SeriesHit | None:
    """A :class:`SeriesHit` from one C-FIND response (None without a Series Instance UID)."""
    uid = _text(ds, "SeriesInstanceUID")
    if not uid:
        return None
    return SeriesHit(
        study_uid=_text(ds, "StudyInstanceUID") or study_uid,
        series_uid=uid,
        modality=_text(ds, "Modality"),
        number=_count(ds, "SeriesNumber"),
        description=_text(ds, "SeriesDescription"),
        n_instances=_count(ds, "NumberOfSeriesRelatedInstances"),
    )


def series_order(hit: SeriesHit) -> tuple[bool, int, str]:
    """Sort key: by series number, series without one last."""
    return (hit.number is None, hit.number or 0, hit.series_uid)
