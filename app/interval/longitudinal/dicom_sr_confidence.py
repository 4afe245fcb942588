"""The detection score and the RECIST new-lesion status of a lesion in the DICOM SR.

Two content items that :mod:`.dicom_sr` adds to a lesion's measurement group (TID 1411),
so that a PACS reading the SR sees how sure the segmentation was and whether a new lesion
was held *equivocal* (RECIST 1.1: it does not make progressive disease until confirmed):

* **Score** (only when known: a model's segmentation, not a label file): a measurement
  (TID 300) of (111012, DCM, "Certainty of Finding"), the concept DICOM's CAD reports
  (CID 6048) use for how likely a detected finding is to be real, in UCUM ("1", "no
  units"): the score as a fraction 0..1, rounded to 0.001
  (:meth:`~interval.longitudinal.model.LongitudinalReport.score_of`).  Not (111047, DCM,
  "Probability of cancer"): the model says "lesion", not "cancer".
* **New-lesion status** (only for a new lesion that RECIST held equivocal or counted as
  confirmed at this timepoint): a qualitative evaluation named (NEWLESION, 99ITV,
  "RECIST 1.1 new lesion") -- no standard concept names this, so it is a local code of
  the private coding scheme ``99ITV``, declared in the SR's Coding Scheme Identification
  Sequence (:func:`coding_scheme_item`) -- whose value is a standard SNOMED CT qualifier:

  =====================================  =============================================
  value                                  when
  =====================================  =============================================
  (42425007, SCT, "Equivocal")           held equivocal here (``equivocal_new_lesions``
                                         of the timepoint's RECIST row): no PD from it
  (410605003, SCT, "Confirmed present")  counted here confirming an earlier equivocal
                                         finding (``confirmed_new_lesions``), or counted
                                         here as a new lesion the reader confirmed
  =====================================  =============================================

  A new lesion counted without doubt, and every other lesion, has no such item.  Each
  SR says what RECIST made of the lesion at its own timepoint: one held equivocal at
  follow-up 1 and confirmed at follow-up 2 is "Equivocal" in the first SR and "Confirmed
  present" in the second (the same Tracking Unique Identifier ties them).
"""

from __future__ import annotations

import math
from typing import Any

from interval.longitudinal.model import ROLE_NEW, LongitudinalReport, Track
from interval.longitudinal.report_text import (
    NEW_CONFIRMED,
    NEW_COUNTED,
    NEW_EQUIVOCAL,
    new_lesion_state,
)

LOCAL_SCHEME = "99ITV"  # Interval's private coding scheme (PS3.16 "99" prefix)
SCORE_CODE = ("111012", "DCM", "Certainty of Finding")
SCORE_UNIT = ("1", "UCUM", "no units")
NEW_LESION_CODE = ("NEWLESION", LOCAL_SCHEME, "RECIST 1.1 new lesion")
EQUIVOCAL_CODE = ("42425007", "SCT", "Equivocal")
CONFIRMED_CODE = ("410605003", "SCT", "Confirmed present")
STATUS_EQUIVOCAL = "equivocal"
STATUS_CONFIRMED = "confirmed"


def score_measurement(hd: Any, report: LongitudinalReport, track: Track,
                      timepoint: int) -> tuple[Any, float] | None:
    """The score of ``track`` at ``timepoint`` as a measurement and the value written, or
    None when the score is unknown."""
    score = report.score_of(track, timepoint)
    if score is None or not math.isfinite(score):
        return None
    value = round(min(max(float(score), 0.0), 1.0), 3)
    measurement = hd.sr.Measurement(name=hd.sr.CodedConcept(*SCORE_CODE), value=value,
                                    unit=hd.sr.CodedConcept(*SCORE_UNIT))
    return measurement, value


def new_lesion_status(report: LongitudinalReport, track: Track, timepoint: int) -> str:
    """:data:`STATUS_EQUIVOCAL`, :data:`STATUS_CONFIRMED` or "" (see the module notes)."""
    state = new_lesion_state(report, track.lesion_id, timepoint)
    if state == NEW_EQUIVOCAL:
        return STATUS_EQUIVOCAL
    reader = track.role == ROLE_NEW and track.role_source == "reader"
    if state == NEW_CONFIRMED or (state == NEW_COUNTED and reader):
        return STATUS_CONFIRMED
    return ""


def new_lesion_evaluation(hd: Any, status: str) -> Any | None:
    """The qualitative evaluation of a :func:`new_lesion_status` (None for "")."""
    if not status:
        return None
    value = EQUIVOCAL_CODE if status == STATUS_EQUIVOCAL else CONFIRMED_CODE
    return hd.sr.QualitativeEvaluation(name=hd.sr.CodedConcept(*NEW_LESION_CODE),
                                       value=hd.sr.CodedConcept(*value))


def coding_scheme_item() -> Any:
    """The Coding Scheme Identification Sequence item declaring :data:`LOCAL_SCHEME`."""
    from pydicom.dataset import Dataset  # noqa: PLC0415

    item = Dataset()
    item.CodingSchemeDesignator = LOCAL_SCHEME
    item.CodingSchemeName = "Interval local codes"
    item.CodingSchemeResponsibleOrganization = "Interval"
    return item
