"""Merge and split events of a synthetic patient, read off the painted lesion-id maps.

An event is what the label maps show, not what was planned: lesions ``a`` and
``b`` *merge* at scan ``k`` when their voxels touch (share a face) at ``k`` but
did not at scan ``k - 1``, where both were present; lesion ``a`` *splits* at
scan ``k`` when its voxels form two or more face-connected components at ``k``
and one at ``k - 1``.  (The generator plans them with :class:`~.groups.LesionGroup`;
on a very coarse grid a planned event may show at another scan or not at all.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from interval.io.synthetic.phantom import LesionTruth


@dataclass(frozen=True)
class LesionEvent:
    """A merge of ``lesions`` (two ids) or a split of ``lesions[0]`` into ``parts`` components,
    first seen at scan ``timepoint`` (0-based)."""

    kind: str  # "merge" or "split"
    timepoint: int
    lesions: tuple[int, ...]
    parts: int = 0  # split: the number of components at that scan

    def to_dict(self) -> dict[str, object]:
        if self.kind == "split":
            return {"kind": "split", "timepoint": self.timepoint, "lesion": self.lesions[0],
                    "parts": self.parts}
        return {"kind": self.kind, "timepoint": self.timepoint, "lesions": list(self.lesions)}

    @classmethod
    def from_dict(cls, d: dict) -> LesionEvent:
        if d["kind"] == "split":
            return cls("split", int(d["timepoint"]), (int(d["lesion"]),), int(d["parts"]))
        return cls(str(d["kind"]), int(d["timepoint"]), tuple(int(i) for i in d["lesions"]))


def lesion_events(lesions: Sequence[Sequence[LesionTruth]]) -> list[LesionEvent]:
    """The merges and splits shown by the truth of each scan (``lesions[timepoint]``),
    ordered by scan, then kind, then ids."""
    events: list[LesionEvent] = []
    for k in range(1, len(lesions)):
        before = {t.id: t for t in lesions[k - 1]}
        now = {t.id: t for t in lesions[k]}
        for lid, t in sorted(now.items()):
            prev = before.get(lid)
            if prev is None or not (t.present and prev.present):
                continue
            if t.n_components >= 2 and prev.n_components == 1:
                events.append(LesionEvent("split", k, (lid,), t.n_components))
            for other in t.touching:
                if other <= lid or other in prev.touching:
                    continue
                if before.get(other) is not None and before[other].present:
                    events.append(LesionEvent("merge", k, (lid, other)))
    events.sort(key=lambda e: (e.timepoint, e.kind, e.lesions))
    return events
