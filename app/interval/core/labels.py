"""Label tables: what each integer of a label map means and how it is shown.

Default colours (:func:`default_color`): labels 1-20 take a fixed qualitative
palette (ITK-SNAP / Slicer-like); later labels take generated colours, each as
far as possible (CIE L*a*b* distance, Delta E 1976) from every colour before it
(Glasbey's farthest-point method over a 16-level RGB grid, dark and grey
candidates excluded).  The first 255 labels all differ by at least
``MIN_DELTA_E`` (12) from each other, so a 117-label TotalSegmentator map never
shows two labels in the same colour.  Colours are stable across runs.  After the
~3,500 candidates are used up (label values above ~3,470) the sequence repeats.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

# A qualitative palette (ITK-SNAP / Slicer-like) used when a label has no colour.
_PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
)
MIN_DELTA_E = 12.0  # guaranteed CIE76 distance between any two of the first 255 defaults
_GRID_STEP = 17  # candidate RGB levels 0, 17, ..., 255 (16 per channel)
_MIN_LIGHTNESS = 30.0  # candidates darker than this vanish on a dark CT background
_MIN_CHROMA = 20.0  # greyish candidates vanish on a grey-scale image


def srgb_to_lab(rgb: object) -> np.ndarray:
    """CIE L*a*b* (D65) of sRGB colours given as 0-255 values, shape ``(..., 3)``."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    e = 6.0 / 29.0
    f = np.where(xyz > e**3, np.cbrt(xyz), xyz / (3 * e * e) + 4.0 / 29.0)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


class _ColorSequence:
    """The default colours in label order, generated lazily (farthest point first)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._colors: list[tuple[int, int, int]] = list(_PALETTE)
        self._cand: np.ndarray | None = None
        self._lab: np.ndarray | None = None
        self._dmin: np.ndarray | None = None

    def _start(self) -> None:
        levels = np.arange(0, 256, _GRID_STEP)
        r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
        cand = np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)
        lab = srgb_to_lab(cand)
        keep = (lab[:, 0] >= _MIN_LIGHTNESS) & (np.hypot(lab[:, 1], lab[:, 2]) >= _MIN_CHROMA)
        self._cand, self._lab = cand[keep], lab[keep]
        base = srgb_to_lab(_PALETTE)
        self._dmin = np.min(np.linalg.norm(self._lab[:, None] - base[None], axis=-1), axis=1)

    def color(self, index: int) -> tuple[int, int, int]:
        """The colour of 0-based ``index`` (label value - 1)."""
        if index < len(self._colors):
            return self._colors[index]
        with self._lock:
            if self._dmin is None:
                self._start()
            assert self._cand is not None and self._lab is not None and self._dmin is not None
            limit = len(_PALETTE) + len(self._cand)
            while len(self._colors) <= min(index, limit - 1):
                best = int(np.argmax(self._dmin))
                r, g, b = (int(v) for v in self._cand[best])
                self._colors.append((r, g, b))
                np.minimum(self._dmin, np.linalg.norm(self._lab - self._lab[best], axis=1),
                           out=self._dmin)
                self._dmin[best] = -1.0  # never chosen twice
        return self._colors[index % len(self._colors)]


_SEQUENCE = _ColorSequence()


def default_color(value: int) -> tuple[int, int, int]:
    """A distinct colour for label ``value`` (stable across runs); see the module notes."""
    return _SEQUENCE.color(max(int(value), 1) - 1)


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
