"""Models that read earlier scans (model.json "temporal"): the package, the engine, the child."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interval.ai.engine import segment
from interval.ai.errors import InvalidModelPackage
from interval.ai.model_package import load_model_spec
from interval.ai.runner import run_segmentation
from interval.core.volume import Volume
from tests.ai import _nets
from tests.ai._packages import TEST_CODE_PATH, base_json, load_spec, write_package


def _package(folder: Path, priors: int = 2) -> Path:
    data = base_json(name="new-bright", temporal={"prior_timepoints": priors})
    data["network"] = {"type": "plugin", "entry": "tests.ai._nets:build_new_bright",
                       "params": {}, "weights": "weights.safetensors"}
    return write_package(folder, data, _nets.NewBrightNet())


def _scans() -> tuple[Volume, Volume, Volume]:
    """Three scans on one grid: a spot appears at the second, another at the third."""
    base = np.zeros((16, 20, 24), np.float32)
    first, second, third = base.copy(), base.copy(), base.copy()
    second[4:8, 4:8, 4:8] = third[4:8, 4:8, 4:8] = 200.0
    third[10:13, 12:16, 16:20] = 200.0
    return tuple(Volume(a, spacing=(1.0, 1.0, 2.0), origin=(5.0, -3.0, 0.0))
                 for a in (first, second, third))  # type: ignore[return-value]


@pytest.mark.parametrize("temporal", [{"prior_timepoints": 0}, {"prior_timepoints": 9},
                                      {"prior_timepoints": 1.5}, {"prior_timepoints": True},
                                      {}, {"prior_timepoints": 1, "extra": 1}, [1]])
def test_bad_temporal_sections_are_refused(tmp_path: Path, temporal: object) -> None:
    write_package(tmp_path, base_json(temporal=temporal))
    with pytest.raises(InvalidModelPackage, match="temporal"):
        load_model_spec(tmp_path, code_path=TEST_CODE_PATH)


def test_engine_stacks_earlier_scans_oldest_first(tmp_path: Path) -> None:
    spec = load_spec(_package(tmp_path))
    assert spec.temporal is not None and spec.temporal.prior_timepoints == 2
    first, second, third = _scans()
    alone = segment(third, spec, network=_nets.NewBrightNet()).labels.array
    assert not alone.any()  # one frame: the network sees no change
    both = segment(third, spec, priors=[first, second], network=_nets.NewBrightNet())
    expected = (third.array - first.array > 50).astype(np.uint8)
    np.testing.assert_array_equal(both.labels.array, expected)  # the OLDEST is frame 0
    latest = segment(third, spec, priors=[second], network=_nets.NewBrightNet())
    np.testing.assert_array_equal(latest.labels.array,
                                  (third.array - second.array > 50).astype(np.uint8))


def test_only_the_latest_priors_are_used(tmp_path: Path) -> None:
    spec = load_spec(_package(tmp_path, priors=1))
    first, second, third = _scans()
    out = segment(third, spec, priors=[first, second], network=_nets.NewBrightNet())
    np.testing.assert_array_equal(out.labels.array,
                                  (third.array - second.array > 50).astype(np.uint8))


def test_priors_must_be_on_the_grid_and_wanted(tmp_path: Path) -> None:
    spec = load_spec(_package(tmp_path))
    first, _second, third = _scans()
    moved = Volume(first.array, spacing=first.spacing, origin=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="grid"):
        segment(third, spec, priors=[moved], network=_nets.NewBrightNet())
    single = load_spec(write_package(tmp_path / "single"))
    with pytest.raises(ValueError, match="one scan at a time"):
        segment(third, single, priors=[first])


def test_child_process_gets_the_priors(tmp_path: Path) -> None:
    folder = _package(tmp_path)
    first, _second, third = _scans()
    result = run_segmentation(third, folder, {"device": "cpu"}, priors=[first],
                              code_path=TEST_CODE_PATH, timeout=120)
    np.testing.assert_array_equal(result.labels.array,
                                  (third.array - first.array > 50).astype(np.uint8))
