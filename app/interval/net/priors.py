"""A patient's other studies on a PACS: the priors the longitudinal timeline may add."""

from __future__ import annotations

from collections.abc import Iterable

from interval.net.model import PacsClient, StudyHit, StudyQuery
from interval.net.query_form import InvalidQuery

NO_ID = "(no patient ID)"  # as interval.longitudinal.timeline names a missing ID
_WILDCARDS = ("*", "?")


def priors_for(client: PacsClient, patient_id: str, known_study_uids: Iterable[str], *,
               limit: int = 500) -> list[StudyHit]:
    """The studies of ``patient_id`` on the PACS that are not among ``known_study_uids``,
    newest first (undated ones last).

    Only hits whose Patient ID is exactly ``patient_id`` are kept (a server matching
    loosely never brings in another patient).  Raises :class:`InvalidQuery` when the
    patient has no usable ID, and the client's :class:`~interval.net.errors.PacsError`.
    """
    patient_id = (patient_id or "").strip()
    if not patient_id or patient_id == NO_ID:
        raise InvalidQuery("This patient has no Patient ID, so their other studies cannot "
                           "be looked for on the PACS.")
    if any(w in patient_id for w in _WILDCARDS):
        raise InvalidQuery("This Patient ID holds * or ?, which a PACS reads as a wildcard: "
                           "look for the priors in Query PACS instead.")
    known = set(known_study_uids)
    hits = client.find_studies(StudyQuery(patient_id=patient_id, limit=limit))
    seen: set[str] = set()
    priors: list[StudyHit] = []
    for hit in hits:
        if hit.patient_id.strip() != patient_id or hit.study_uid in known:
            continue
        if hit.study_uid in seen:
            continue
        seen.add(hit.study_uid)
        priors.append(hit)
    dated = sorted((h for h in priors if h.study_date),
                   key=lambda h: (h.study_date, h.study_time), reverse=True)
    return dated + [h for h in priors if not h.study_date]
