"""The example plugin really runs through the segmentation engine: as a folder plugin
(in-process engine) and pip-installed by entry point (in a child process, via the runner)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume
from interval.plugins import discover_plugins
from tests.plugins.conftest import EXAMPLE_ID, EXAMPLE_MODEL


def _ct() -> Volume:
    rng = np.random.default_rng(7)
    array = rng.integers(-1000, 1500, size=(12, 40, 36)).astype(np.int16)
    array[0, 0, :4] = [299, 300, 301, 302]
    return Volume(array, spacing=(0.7, 0.7, 2.5), origin=(-10.0, 5.0, 30.0),
                  metadata=VolumeMetadata(modality="CT"))


@pytest.fixture
def clean_modules() -> Iterator[None]:
    path = list(sys.path)
    yield
    sys.path[:] = path
    for name in [m for m in sys.modules if m.startswith("interval_example_threshold")]:
        del sys.modules[name]


def test_folder_plugin_segments_through_the_engine(clean_modules: None) -> None:
    from interval.ai.engine import segment

    reg = discover_plugins(include_entry_points=False, include_user_dir=False,
                           include_env=False)
    entry = reg.find_segmentation_model(EXAMPLE_MODEL)
    assert entry.plugin_id == EXAMPLE_ID and entry.accepts_modality("CT")
    assert not entry.accepts_modality("MR")
    sys.path.insert(0, str(entry.code_path))  # what the model's process does
    volume = _ct()
    result = segment(volume, entry.spec)
    assert result.labels.array.shape == volume.shape
    assert np.array_equal(result.labels.array, (volume.array > 300).astype(np.uint8))
    assert result.labels.spacing == volume.spacing and result.labels.origin == volume.origin
    assert [lab.name for lab in result.labels.labels] == ["bone (> 300 HU)"]
    assert result.warnings == []


@pytest.mark.slow
def test_entry_point_plugin_runs_in_a_child_process(installed_example: Path) -> None:
    from interval.ai.runner import run_segmentation

    reg = discover_plugins(entry_point_paths=[installed_example], include_first_party=False,
                           include_user_dir=False, include_env=False)
    entry = reg.find_segmentation_model(EXAMPLE_MODEL)
    assert reg.get(EXAMPLE_ID).source.kind == "entry point"  # type: ignore[union-attr]
    assert str(installed_example) not in sys.path  # only the child gets the code path
    volume = _ct()
    result = run_segmentation(volume, entry.folder, code_path=entry.code_path, timeout=300)
    assert np.array_equal(result.labels.array, (volume.array > 300).astype(np.uint8))
    assert "interval_example_threshold" not in sys.modules
