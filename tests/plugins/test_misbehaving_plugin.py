"""A plugin whose network crashes its process: the caller (the viewer) gets a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume
from interval.plugins import discover_plugins
from tests.plugins.conftest import manifest, write_plugin

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
    model = {
        "format": 1, "name": "crashing-model", "version": "1.0.0", "task": "segmentation",
        "labels": [{"value": 1, "name": "x"}], "patch_size": [4, 8, 8],
        "network": {"type": "plugin", "entry": "crash_net:build",
                    "weights": "weights.safetensors"},
        "output": {"activation": "sigmoid", "channels": 1},
    }
    folder = write_plugin(root, "crashing", manifest(
        "org.test.crashing", contributes={"segmentation_models": ["models/m"]}),
        {"models/m": model})
    (folder / "crash_net.py").write_text(CRASHING_NETWORK)
    from safetensors.numpy import save_file

    save_file({"conv.weight": np.ones((1, 1, 1, 1, 1), np.float32),
               "conv.bias": np.zeros(1, np.float32)},
              str(folder / "models" / "m" / "weights.safetensors"))
    (folder / "models" / "m" / "model.pt").unlink()
    return folder


@pytest.mark.slow
def test_crashing_plugin_network_leaves_the_caller_running(tmp_path: Path) -> None:
    from interval.ai.runner import run_segmentation
    from interval.ai.runner_errors import ModelCrashed

    reg = discover_plugins([_crashing_plugin(tmp_path)], include_entry_points=False,
                           include_first_party=False, include_user_dir=False,
                           include_env=False)
    entry = reg.find_segmentation_model("crashing-model")  # the manifest itself is fine
    volume = Volume(np.zeros((4, 8, 8), np.int16), metadata=VolumeMetadata(modality="CT"))
    with pytest.raises(ModelCrashed) as info:
        run_segmentation(volume, entry.folder, code_path=entry.code_path, timeout=300)
    assert "viewer is unaffected" in str(info.value)
