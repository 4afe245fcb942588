"""When a PET series may be fused over a CT: the rule, without Qt.

A PET/CT pair is one PT and one CT series of the same study.  They are fused (PET in
colour over the grey CT) only when both carry the same, non-empty Frame of Reference
UID: their patient coordinates then agree, so placing one on the other by geometry is
right.  Otherwise fusing them needs a registration, which this viewer does not do here.

Both :class:`~interval.core.metadata.VolumeMetadata` and a DICOM header record carry
the three attributes used (``modality``, ``study_instance_uid``,
``frame_of_reference_uid``).
"""

from __future__ import annotations

from typing import Protocol

NOT_SAME_FRAME = (
    "These series are not in the same frame of reference; fusing them needs a registration."
)
FUSION_MODALITIES = frozenset({"CT", "PT"})


class SeriesFacts(Protocol):
    """What the rule reads of a series (a volume's metadata or a DICOM header)."""

    modality: str
    study_instance_uid: str
    frame_of_reference_uid: str


def is_pet_ct_pair(a: SeriesFacts, b: SeriesFacts) -> bool:
    """Whether ``a`` and ``b`` are a CT and a PT (either way round) of the same study."""
    mods = {a.modality.upper(), b.modality.upper()}
    same_study = bool(a.study_instance_uid) and a.study_instance_uid == b.study_instance_uid
    return mods == FUSION_MODALITIES and same_study


def fusion_refusal(base: SeriesFacts, overlay: SeriesFacts) -> str:
    """Why ``overlay`` cannot be fused over ``base`` by geometry alone; "" when it can
    (both share a non-empty Frame of Reference UID)."""
    a, b = base.frame_of_reference_uid.strip(), overlay.frame_of_reference_uid.strip()
    if not a or not b or a != b:
        return NOT_SAME_FRAME
    return ""


def ct_first(a: SeriesFacts, b: SeriesFacts) -> bool:
    """Whether ``a`` is the CT of a PET/CT pair (it stays the grey, active image)."""
    return a.modality.upper() == "CT" and b.modality.upper() == "PT"
