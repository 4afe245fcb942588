"""Hostile stand-ins for the segmentation child (tests/ai/test_runner_hostile.py): each
returns a well-formed label map and a confidence map that breaks a rule."""

from __future__ import annotations

import numpy as np


def _labels(arrays) -> np.ndarray:
    return np.zeros(arrays["image"].shape, np.uint8)


def confidence_wrong_shape(arrays, **_kwargs):
    z, y, x = arrays["image"].shape
    return {"labels": _labels(arrays), "confidence": np.zeros((z, y, x + 1), np.uint8)}, {}


def confidence_flat(arrays, **_kwargs):
    return {"labels": _labels(arrays),
            "confidence": np.zeros(arrays["image"].size, np.uint8)}, {}


def confidence_float(arrays, **_kwargs):
    return {"labels": _labels(arrays),
            "confidence": np.full(arrays["image"].shape, 0.5, np.float32)}, {}


def confidence_int16(arrays, **_kwargs):
    return {"labels": _labels(arrays),
            "confidence": np.full(arrays["image"].shape, 300, np.int16)}, {}


def confidence_uint8(arrays, **_kwargs):
    """A well-formed map: refused only when the model declares none or it was not asked."""
    return {"labels": _labels(arrays),
            "confidence": np.full(arrays["image"].shape, 200, np.uint8)}, {}
