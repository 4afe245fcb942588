"""Small helpers on tracks shared by the matcher and the reader's corrections.

Lesion ids are ``L1``, ``L2``, ...; a DICOM tracking UID is derived from a seed (the
pipeline passes the baseline StudyInstanceUID) and the lesion id as a ``2.25``
UID of a name-based (SHA-1, version 5) UUID, as ISO/IEC 9834-8 allows: the same seed
and id always give the same UID, different patients different ones.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping

from interval.longitudinal.model import LesionMeasurement, Track

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://interval.invalid/lesion-tracking")
_ID = re.compile(r"^L(\d+)$")

MeasurementIndex = Mapping[tuple[int, int], LesionMeasurement]


def tracking_uid(seed: str, lesion_id: str) -> str:
    """Deterministic DICOM UID (``2.25.<uuid>``) of ``lesion_id`` in the analysis ``seed``."""
    name = seed + "\x1f" + lesion_id
    return f"2.25.{uuid.uuid5(_NAMESPACE, name).int}"


def lesion_number(lesion_id: str) -> int | None:
    """3 for "L3"; None for an id not of that form."""
    m = _ID.match(lesion_id)
    return int(m.group(1)) if m else None


def next_lesion_id(tracks: Iterable[Track]) -> str:
    """The id after the highest ``L<n>`` in use."""
    numbers = [n for t in tracks if (n := lesion_number(t.lesion_id)) is not None]
    return f"L{max(numbers, default=0) + 1}"


def default_name(lesion_id: str, organ: str) -> str:
    return f"{lesion_id} {organ}"


def seen_timepoints(track: Track) -> list[int]:
    """Timepoints where the track has at least one component, in order."""
    return sorted(t for t, comps in track.members.items() if comps)


def refresh_track(track: Track, index: MeasurementIndex) -> None:
    """Recompute ``first_seen``, organ and node flag from the members (largest first
    component); keeps a reader-given name, renames a default one."""
    seen = seen_timepoints(track)
    if not seen:
        return
    track.first_seen = seen[0]
    first = [index[(seen[0], c)] for c in track.members[seen[0]] if (seen[0], c) in index]
    if first:
        big = max(first, key=lambda m: (m.volume_ml, -m.component))
        was_default = track.name == default_name(track.lesion_id, track.organ)
        track.organ, track.is_lymph_node = big.organ, big.is_lymph_node
        if was_default or not track.name:
            track.name = default_name(track.lesion_id, track.organ)


def new_track(lesion_id: str, seed: str, members: dict[int, list[int]],
              index: MeasurementIndex) -> Track:
    """A track with default name, organ and uid for ``members``."""
    track = Track(lesion_id=lesion_id, tracking_uid=tracking_uid(seed, lesion_id), name="",
                  organ="unknown", is_lymph_node=False,
                  members={t: sorted(c) for t, c in members.items()})
    refresh_track(track, index)
    if not track.name:
        track.name = default_name(lesion_id, track.organ)
    return track


def volume_at(track: Track, timepoint: int, index: MeasurementIndex) -> float:
    """Total volume (mL) of the track's components at ``timepoint``."""
    return sum(index[(timepoint, c)].volume_ml for c in track.components_at(timepoint)
               if (timepoint, c) in index)
