"""Segmentation models refuse colour images (they need grey values), in plain words."""

from __future__ import annotations

import numpy as np
import pytest

from interval.ai.engine import segment
from interval.core.errors import UnsupportedData
from interval.core.volume import Volume
from interval.ui.ai_panel import fit_reason
from tests.ai._packages import load_spec, write_package


def test_segment_refuses_a_colour_image(tmp_path) -> None:
    spec = load_spec(write_package(tmp_path / "p"))
    rgb = Volume(np.zeros((4, 8, 8, 3), np.uint8))
    with pytest.raises(UnsupportedData, match="needs a greyscale image"):
        segment(rgb, spec)
    assert fit_reason(spec, rgb) == "this model needs a greyscale image; this is a colour image"
