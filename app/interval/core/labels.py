"""Label tables: what each integer of a label map means and how it is shown."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

# A qualitative palette (ITK-SNAP / Slicer-like) used when a label has no colour.
_PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
)


def default_color(value: int) -> tuple[int, int, int]:
    """A distinct colour for label ``value`` (stable across runs)."""
    return _PALETTE[(value - 1) % len(_PALETTE)]


@dataclass(frozen=True)
class LabelInfo:
    """One label: integer ``value`` (> 0), a ``name``, an RGB ``color`` (0-255), visibility."""

    value: int
    name: str
    color: tuple[int, int, int]
    visible: bool = True


class LabelTable:
    """An ordered mapping ``value -> LabelInfo``. Value 0 is always background."""

    def __init__(self, labels: list[LabelInfo] | None = None) -> None:
        self._labels: dict[int, LabelInfo] = {}
        for info in labels or []:
            self.add(info)

    @classmethod
    def from_names(cls, names: dict[int, str]) -> LabelTable:
        """Build a table from ``{value: name}`` with default colours."""
        return cls([LabelInfo(v, n, default_color(v)) for v, n in sorted(names.items())])

    @classmethod
    def for_values(cls, values: list[int]) -> LabelTable:
        """A table naming each non-zero value ``"Label N"``."""
        return cls.from_names({int(v): f"Label {int(v)}" for v in values if int(v) != 0})

    def add(self, info: LabelInfo) -> None:
        if info.value <= 0:
            raise ValueError("label values must be positive; 0 is background")
        self._labels[info.value] = info

    def set_visible(self, value: int, visible: bool) -> None:
        self._labels[value] = replace(self._labels[value], visible=visible)

    def __getitem__(self, value: int) -> LabelInfo:
        return self._labels[value]

    def get(self, value: int) -> LabelInfo | None:
        return self._labels.get(value)

    def __contains__(self, value: object) -> bool:
        return value in self._labels

    def __iter__(self) -> Iterator[LabelInfo]:
        return iter(sorted(self._labels.values(), key=lambda i: i.value))

    def __len__(self) -> int:
        return len(self._labels)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelTable) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"LabelTable({list(self)!r})"

    def to_dict(self) -> list[dict[str, object]]:
        return [
            {"value": i.value, "name": i.name, "color": list(i.color), "visible": i.visible}
            for i in self
        ]

    @classmethod
    def from_dict(cls, items: list[dict[str, object]]) -> LabelTable:
        return cls(
            [
                LabelInfo(
                    int(d["value"]),  # type: ignore[arg-type]
                    str(d["name"]),
                    tuple(int(c) for c in d["color"]),  # type: ignore[arg-type, union-attr]
                    bool(d.get("visible", True)),
                )
                for d in items
            ]
        )
