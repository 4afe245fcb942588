"""A plugin whose network crashes its process: the caller (the viewer) gets a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume
from interval.plugins import discover_plugins
from tests.plugins.conftest import network_plugin

CRASHING_NETWORK = '''
import os
from torch import nn


class Crash(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 1, 1)

    def forward(self, x):
        os.abort()  # what a segfaulting extension looks like from outside


def build(**params):
    return Crash()
'''


def _crashing_plugin(root: Path) -> Path:
    return network_plugin(root, "crashing", "org.test.crashing", "crashing-model", "crash_net",
                          CRASHING_NETWORK)


@pytest.mark.slow
def test_crashing_plugin_network_leaves_the_caller_running(tmp_path: Path) -> None:
    from interval.ai.runner import run_segmentation
    from interval.ai.runner_errors import ModelCrashed, viewer_text

    reg = discover_plugins([_crashing_plugin(tmp_path)], include_entry_points=False,
                           include_first_party=False, include_user_dir=False,
                           include_env=False)
    entry = reg.find_segmentation_model("crashing-model")  # the manifest itself is fine
    volume = Volume(np.zeros((4, 8, 8), np.int16), metadata=VolumeMetadata(modality="CT"))
    with pytest.raises(ModelCrashed) as info:
        run_segmentation(volume, entry.folder, code_path=entry.code_path, timeout=300)
    # the runner's words hold for any caller (the CLI has no viewer); the viewer adds its note
    assert str(info.value) == "The model stopped unexpectedly (signal 6, aborted)."
    assert "viewer" not in str(info.value)
    assert viewer_text(info.value) == f"{info.value} The viewer is unaffected."


NAN_NETWORK = '''
import torch
from torch import nn


class NaNs(nn.Module):
    """Logits that are NaN on the slices where the image is bright, finite elsewhere."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 1, 1)

    def forward(self, x):
        y = self.conv(x)
        return torch.where(x > 50, torch.full_like(y, float("nan")), y)


def build(**params):
    return NaNs()
'''


@pytest.mark.slow
def test_nan_output_reaches_the_caller_as_invalid_values(tmp_path: Path) -> None:
    """Through the real runner: the child's InvalidModelOutput comes back as itself (one of
    Interval's known errors, by name) with the engine's words, never as an empty "done"."""
    from interval.ai.errors import InvalidModelOutput
    from interval.ai.runner import run_segmentation

    network_plugin(tmp_path, "nans", "org.test.nans", "nan-model", "nan_net", NAN_NETWORK)
    reg = discover_plugins([tmp_path], include_entry_points=False, include_first_party=False,
                           include_user_dir=False, include_env=False)
    entry = reg.find_segmentation_model("nan-model")
    image = np.zeros((4, 8, 8), np.int16)
    image[0] = 100  # one slice of four: a quarter of the image
    volume = Volume(image, metadata=VolumeMetadata(modality="CT"))
    with pytest.raises(InvalidModelOutput) as info:
        run_segmentation(volume, entry.folder, code_path=entry.code_path, timeout=300)
    assert str(info.value) == ("The model produced invalid values (NaN) in 25% of the image "
                               "(64 of 256 voxels at the model's resolution); no result was "
                               "produced.")
