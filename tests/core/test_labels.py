"""Label tables and default label colours."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from interval.core.labels import (
    _PALETTE,
    MIN_DELTA_E,
    LabelInfo,
    LabelTable,
    default_color,
    srgb_to_lab,
)


def _pairwise_delta_e(colors: list[tuple[int, int, int]]) -> np.ndarray:
    lab = srgb_to_lab(colors)
    d = np.linalg.norm(lab[:, None] - lab[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return d


def test_lab_conversion_known_values() -> None:
    np.testing.assert_allclose(srgb_to_lab((255, 255, 255)), (100.0, 0.0, 0.0), atol=0.01)
    np.testing.assert_allclose(srgb_to_lab((0, 0, 0)), (0.0, 0.0, 0.0), atol=0.01)
    # sRGB red in CIELab D65 (published value 53.24, 80.09, 67.20)
    np.testing.assert_allclose(srgb_to_lab((255, 0, 0)), (53.24, 80.09, 67.20), atol=0.05)


def test_first_twenty_colours_are_the_fixed_palette() -> None:
    assert [default_color(v) for v in range(1, 21)] == list(_PALETTE)
    assert default_color(1) == (230, 25, 75)


def test_255_labels_get_255_colours_at_least_delta_e_12_apart() -> None:
    colors = [default_color(v) for v in range(1, 256)]
    assert len(set(colors)) == 255
    d = _pairwise_delta_e(colors)
    assert MIN_DELTA_E == 12.0
    assert d.min() >= MIN_DELTA_E  # CIE76 distance; the fixed palette itself is >= 17.7
    # the colours that used to repeat (1/101, 6/86 with a 20-colour cycle) now differ clearly
    assert d[0, 100] >= MIN_DELTA_E and d[5, 85] >= MIN_DELTA_E


def test_generated_colours_are_neither_dark_nor_grey() -> None:
    lab = srgb_to_lab([default_color(v) for v in range(21, 256)])
    assert lab[:, 0].min() >= 30.0
    assert np.hypot(lab[:, 1], lab[:, 2]).min() >= 20.0


def test_colours_are_stable_across_processes() -> None:
    code = ("from interval.core.labels import default_color;"
            "print([default_color(v) for v in (300, 117, 21)])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    here = [default_color(v) for v in (300, 117, 21)]  # other order: lazily built in both
    assert out == repr(here)


def test_large_label_values_still_get_a_colour() -> None:
    for v in (256, 1000, 5000, 65535):
        c = default_color(v)
        assert len(c) == 3 and all(0 <= x <= 255 for x in c)


def test_totalsegmentator_sized_table_has_no_repeated_colour() -> None:
    table = LabelTable.for_values(list(range(1, 118)))
    colors = [i.color for i in table]
    assert len(set(colors)) == 117
    assert table[101].name == "Label 101" and table[1].color != table[101].color


def test_table_basics_and_round_trip() -> None:
    table = LabelTable.from_names({2: "kidney", 1: "liver"})
    assert [i.value for i in table] == [1, 2] and table[1].name == "liver"
    table.set_visible(2, False)
    assert not table[2].visible
    assert LabelTable.from_dict(table.to_dict()) == table
    with pytest.raises(ValueError):
        table.add(LabelInfo(0, "background", (0, 0, 0)))
