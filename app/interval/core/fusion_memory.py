"""PET fusion kept across a series switch: what comes back, and what is offered, without Qt.

When the reader opens another series, the fusion layers shown over the loaded one (a PET
in colour over its CT) are remembered under that CT's stack uid with their display
settings (:class:`KeptFusion`); opening that CT again puts them back as they were.  The
PET volumes themselves are held by :class:`FusionMemory`: the ``pinned`` most recently
remembered PET series strongly (put back at once, no reload), the others weakly -- they
are reused while something else still holds them, else reloaded from their stack.

Opening a *different* CT while a PET is fused over the shown one is never fused silently:
:func:`fusion_to_offer` says which fused PET may be offered over it (a CT of the PET's
study in the same frame of reference, see :mod:`interval.core.fusion_rule`).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from interval.core.fusion_rule import SeriesFacts, ct_first, fusion_refusal, is_pet_ct_pair
from interval.core.metadata import WindowLevel
from interval.core.viewer_state import ImageLayer
from interval.core.volume import Volume

PINNED_PETS = 1  # PET volumes kept in memory for a later switch back (the most recent ones)


@dataclass(frozen=True)
class KeptFusion:
    """A fusion layer as it was shown: the PET's stack (to reload it) and its settings."""

    pet_stack_uid: str
    name: str
    colormap: str
    window: WindowLevel
    opacity: float
    visible: bool

    @classmethod
    def of_layer(cls, layer: ImageLayer, pet_stack_uid: str) -> KeptFusion:
        """The settings of fusion layer ``layer`` showing the PET of ``pet_stack_uid``."""
        return cls(pet_stack_uid, layer.name, layer.colormap, layer.window, layer.opacity,
                   layer.visible)


class FusionMemory:
    """Fusion layers kept per base series (stack uid) and the PET volumes they show."""

    def __init__(self, pinned: int = PINNED_PETS) -> None:
        self.pinned = max(int(pinned), 0)
        self._kept: dict[str, tuple[KeptFusion, ...]] = {}
        self._refs: dict[str, weakref.ref[Volume]] = {}  # PET stack uid -> its volume
        self._held: OrderedDict[str, Volume] = OrderedDict()  # strong refs, oldest first

    def remember(self, base_key: str, fusions: Sequence[tuple[KeptFusion, Volume]]) -> None:
        """Keep ``fusions`` (settings, PET volume) for series ``base_key``; none: forget it."""
        if not fusions:
            self._kept.pop(base_key, None)
            return
        self._kept[base_key] = tuple(kept for kept, _v in fusions)
        for kept, volume in fusions:
            self._refs[kept.pet_stack_uid] = weakref.ref(volume)
            self._held.pop(kept.pet_stack_uid, None)
            self._held[kept.pet_stack_uid] = volume
        while len(self._held) > self.pinned:
            self._held.popitem(last=False)

    def has(self, base_key: str) -> bool:
        """Whether fusion layers are kept for series ``base_key``."""
        return base_key in self._kept

    def take(self, base_key: str) -> list[tuple[KeptFusion, Volume | None]]:
        """The fusion layers kept for ``base_key`` (forgotten here: they are shown again),
        each with its PET volume, or None when it was released and must be reloaded."""
        return [(kept, self.volume(kept.pet_stack_uid)) for kept in self._kept.pop(base_key, ())]

    def volume(self, pet_stack_uid: str) -> Volume | None:
        """The PET volume of ``pet_stack_uid`` if it is still in memory."""
        ref = self._refs.get(pet_stack_uid)
        volume = ref() if ref is not None else None
        if volume is None:
            self._refs.pop(pet_stack_uid, None)
        return volume

    def release(self) -> None:
        """Stop holding the PET volumes (they are reloaded when needed, unless something
        else still holds them); the kept settings stay."""
        self._held.clear()

    def clear(self) -> None:
        """Forget everything (another folder: its stack uids are other series)."""
        self._kept.clear()
        self._refs.clear()
        self._held.clear()


def fusion_to_offer(opening: SeriesFacts, fused: Sequence[SeriesFacts]) -> int | None:
    """Index in ``fused`` (PETs fused over the shown image) of the one to offer over the
    series being opened -- a CT of that PET's study in the same frame of reference;
    None when none qualifies (the series then opens alone)."""
    for n, pet in enumerate(fused):
        if (is_pet_ct_pair(opening, pet) and ct_first(opening, pet)
                and not fusion_refusal(opening, pet)):
            return n
    return None
