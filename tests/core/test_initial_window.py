"""The window a series opens with: the DICOM window when it shows the body, else one
computed from the voxels in the body (``Auto``), e.g. for a decubitus MR whose
tags came from a slice outside the head."""

from __future__ import annotations

import numpy as np
import pytest

from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.volume import Volume
from interval.core.window_presets import (
    DEFAULT_CT_WINDOW,
    apply_window,
    body_values,
    body_window,
    image_window,
    initial_window,
    window_is_plausible,
)
from tests.io.dicom.hfdl_mr import EDGE_WINDOW, N_SLICES, head_volume

MID = N_SLICES // 2


def _mr(window: WindowLevel | None) -> Volume:
    return Volume(head_volume(), metadata=VolumeMetadata(modality="MR", default_window=window))


def shows_anatomy(volume: Volume, wl: WindowLevel) -> bool:
    """The middle slice's head through ``wl``: under 5 % white, under 5 % black, and a
    spread of greys (not a white or black blob)."""
    middle = volume.array[MID]
    head = middle[middle > 100]
    grey = apply_window(head, wl.center, wl.width)
    return (
        float(np.mean(grey == 255)) < 0.05
        and float(np.mean(grey == 0)) < 0.05
        and float(np.std(grey.astype(float))) > 20
    )


def test_edge_slice_window_is_rejected_for_the_body_window() -> None:
    volume = _mr(WindowLevel(*EDGE_WINDOW))
    edge = volume.metadata.default_window
    assert edge is not None and not shows_anatomy(volume, edge)  # the white blob
    wl = initial_window(volume)
    assert wl.name == "Auto (DICOM window implausible)"
    assert shows_anatomy(volume, wl)
    # the same window as the explicit Auto entry computes (without the reason)
    auto = image_window(volume)
    assert (auto.center, auto.width, auto.name) == (wl.center, wl.width, "Auto")


def test_plausible_mr_window_is_kept_and_no_window_gives_auto() -> None:
    scanner = WindowLevel(610.0, 1220.0)
    assert initial_window(_mr(scanner)) == scanner
    untagged = _mr(None)
    wl = initial_window(untagged)
    assert wl.name == "Auto" and shows_anatomy(untagged, wl)


@pytest.mark.parametrize(
    ("center", "width", "plausible"),
    [
        (4.0, 8.0, False),  # noise-only slice: the whole head is above it
        (5000.0, 1000.0, False),  # above the head
        (600.0, 5.0, False),  # inside the head's range but grades almost nothing
        (600.0, 1200.0, True),
        (200.0, 400.0, True),  # dark, but CSF and brain are graded
        (1100.0, 600.0, True),
    ],
)
def test_plausibility_against_the_head(center: float, width: float, plausible: bool) -> None:
    assert window_is_plausible(WindowLevel(center, width), head_volume()) is plausible


def test_body_excludes_noise_background() -> None:
    vol = head_volume()
    body = body_values(vol)
    head = vol[vol > 100]
    assert body.min() > 100  # the noise (0..~20) is not body
    assert body.size == pytest.approx(head.size, rel=0.02)
    wl = body_window(vol)
    lo, hi = np.percentile(head, [1, 99])
    assert wl.low == pytest.approx(lo, abs=15) and wl.high == pytest.approx(hi, abs=15)
    # auto_window would count the noise: its low end sits far below the head
    assert wl.low > 200


def test_no_body_to_judge_by_keeps_the_dicom_window() -> None:
    blank = Volume(np.zeros((4, 8, 8), np.uint16),
                   metadata=VolumeMetadata(modality="MR", default_window=WindowLevel(4, 8)))
    assert initial_window(blank) == WindowLevel(4, 8)
    assert not window_is_plausible(WindowLevel(0, 0), head_volume())
    assert not window_is_plausible(WindowLevel(float("nan"), 10), head_volume())


def test_ct_window_trusted_unless_it_shows_nothing() -> None:
    rng = np.random.default_rng(3)
    hu = np.full((10, 40, 40), -1000, np.int16)  # air
    hu[:, 8:32, 8:32] = rng.normal(40, 15, (10, 24, 24)).astype(np.int16)  # soft tissue
    hu[:, 8:32, 8:10] = 1200  # bone
    for wl in (WindowLevel(40, 80), WindowLevel(-600, 1500), WindowLevel(32, 8),
               WindowLevel(400, 1800)):
        ct = Volume(hu, metadata=VolumeMetadata(modality="CT", units="HU", default_window=wl))
        assert initial_window(ct) == wl, wl  # brain, lung, narrow stroke, bone: all kept
    bad = Volume(hu, metadata=VolumeMetadata(modality="CT", units="HU",
                                             default_window=WindowLevel(30000, 10)))
    wl = initial_window(bad)
    assert (wl.center, wl.width) == (DEFAULT_CT_WINDOW.center, DEFAULT_CT_WINDOW.width)
    assert wl.name == "Abdomen (DICOM window implausible)"


def test_fast_on_a_large_volume() -> None:
    import time

    big = np.random.default_rng(4).integers(0, 2000, size=(200, 512, 512)).astype(np.int16)
    volume = Volume(big, metadata=VolumeMetadata(modality="MR", default_window=WindowLevel(4, 8)))
    start = time.perf_counter()
    wl = initial_window(volume)
    assert time.perf_counter() - start < 2.0  # strided subsample: ~0.05 s here
    assert wl.name.startswith("Auto")
